//! Findings → text, JSON, SARIF or GitHub annotations, written to any `io::Write` one finding at a
//! time: a report of a hundred thousand findings is never held in memory whole.

pub mod baseline;
mod github;
mod gitlab;
mod json;
mod locate;
mod markdown;
mod sarif;
mod text;

pub use github::github;
pub use gitlab::gitlab;
pub use json::{finding_json, json, statistics_json};
pub use markdown::{pull_request, summary};
pub use sarif::{sarif, RULE_DOCS};
pub use text::{statistics, text};

use serde::{Serialize, Serializer};

use crate::rules::{Finding, Severity};
use crate::stack::Stack;

/// One checked stack and its findings. A report covers any number of them, in the order given.
#[derive(Clone, Copy)]
pub struct Checked<'a> {
    pub stack: &'a Stack,
    pub findings: &'a [Finding],
}

impl Checked<'_> {
    /// Every finding of `checked`, with the stack it belongs to.
    fn all<'a>(checked: &'a [Checked<'a>]) -> impl Iterator<Item = (&'a Stack, &'a Finding)> + 'a {
        checked.iter().flat_map(|c| c.findings.iter().map(move |f| (c.stack, f)))
    }
}

/// The applicability of the fix `stackfix fix` would apply for `finding` now: none while a file
/// of its stack does not load (`fix` refuses such a stack), even when the rule offers one.
pub(crate) fn fix_now(stack: &Stack, finding: &Finding) -> Option<crate::rules::Applicability> {
    finding.fix.as_ref().filter(|_| stack.errors.is_empty()).map(|f| f.applicability)
}

/// Findings of one rule, for `--statistics`.
pub(crate) struct Count {
    pub rule: &'static str,
    pub count: usize,
    /// With a safe fix (`stackfix fix`).
    pub safe: usize,
    /// With an unsafe fix (`--unsafe-fixes`).
    pub unsafe_: usize,
    /// The highest severity among them.
    pub severity: Severity,
}

/// Per rule, most findings first (then by rule name).
pub(crate) fn counts<'a>(checked: &'a [Checked<'a>]) -> Vec<Count> {
    use crate::rules::Applicability;
    let mut by_rule: std::collections::BTreeMap<&'static str, Count> = std::collections::BTreeMap::new();
    for (stack, f) in Checked::all(checked) {
        let entry = by_rule.entry(f.rule).or_insert(Count {
            rule: f.rule,
            count: 0,
            safe: 0,
            unsafe_: 0,
            severity: f.severity,
        });
        entry.count += 1;
        match fix_now(stack, f) {
            Some(Applicability::Safe) => entry.safe += 1,
            Some(Applicability::Unsafe) => entry.unsafe_ += 1,
            _ => {}
        }
        entry.severity = entry.severity.max(f.severity);
    }
    let mut out: Vec<Count> = by_rule.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(b.rule)));
    out
}

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
