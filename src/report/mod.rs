//! Findings → text, JSON, SARIF or GitHub annotations. Pure functions from a loaded stack and its
//! findings to strings; printing is the CLI's business.

mod github;
mod json;
mod sarif;
mod text;

pub use github::github;
pub use json::json;
pub use sarif::sarif;
pub use text::text;

use crate::rules::Finding;
use crate::stack::Stack;

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
