//! The YAML engine: located trees over yaml-rust2 events, with exact byte spans for every node.
//! It knows nothing about compose, Prometheus or any other consumer of the files.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod emit;
pub mod patch;
pub mod reparse;
pub mod route;
pub mod source;
pub mod tree;

pub use patch::{apply, apply_all, splice_text, splices, Op, Patch, PatchError, Splice};
pub use reparse::TextEdit;
pub use route::{Route, Segment};
pub use source::{LineEnding, Source};
pub use tree::{Entry, Node, NodeId, NodeKind, ParseError, ScalarStyle, Span, SpanSet, Tree};
