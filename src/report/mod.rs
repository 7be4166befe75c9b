//! Findings → text, JSON, SARIF or GitHub annotations, written to any `io::Write` one finding at a
//! time: a report of a hundred thousand findings is never held in memory whole.

mod github;
mod json;
mod sarif;
mod text;

pub use github::github;
pub use json::{finding_json, json};
pub use sarif::sarif;
pub use text::text;

use serde::{Serialize, Serializer};

use crate::rules::Finding;
use crate::stack::Stack;

/// Serializes what `items` yields, one item at a time.
pub(crate) struct Streamed<F>(pub F);

impl<F, I> Serialize for Streamed<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// Pretty-printed JSON followed by a newline.
pub(crate) fn write_json(out: &mut dyn std::io::Write, doc: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    out.write_all(b"\n")
}

/// A finding's position for display: path, 1-based start and end line and column.
pub(crate) struct Position {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

pub(crate) fn position(stack: &Stack, file: usize, span: crate::yaml::Span) -> Position {
    let (line, column) = stack.line_col(file, span.start);
    let (end_line, end_column) = stack.line_col(file, span.end.max(span.start));
    Position { path: stack.file(file).display.clone(), line, column, end_line, end_column }
}

pub(crate) fn finding_position(stack: &Stack, f: &Finding) -> Position {
    position(stack, f.file, f.span)
}
