use std::io::{self, Write};

use serde_json::{json as value, Value};

use super::{counts, finding_position, position, write_json, Checked, Streamed};
use crate::rules::Finding;
use crate::stack::Stack;

/// Keys in the order `serde_json::Map` sorts them, as in every other object of the report.
#[derive(serde::Serialize)]
#[serde(bound(serialize = "Streamed<F>: serde::Serialize"))]
struct Report<F> {
    errors: Vec<Value>,
    findings: Streamed<F>,
    notes: Vec<Value>,
    version: &'static str,
}

/// An object with a `findings` array (and `errors`, `notes`), stable for scripts: the stacks'
/// findings one after the other, as their errors and notes.
pub fn json(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let errors: Vec<Value> = checked
        .iter()
        .flat_map(|c| &c.stack.errors)
        .map(|e| value!({"file": e.path, "line": e.position.map(|p| p.0), "column": e.position.map(|p| p.1), "message": e.message, "hint": e.hint}))
        .collect();
    let notes: Vec<Value> = checked
        .iter()
        .flat_map(|c| c.stack.notes.iter().map(move |n| (c.stack, n)))
        .map(|(stack, n)| match n.at {
            Some(loc) => {
                let p = position(stack, loc.file, loc.primary());
                value!({"file": p.path, "line": p.line, "column": p.column, "message": n.message})
            }
            None => value!({"file": null, "line": null, "column": null, "message": n.message}),
        })
        .collect();
    let report = Report {
        errors,
        findings: Streamed(|| Checked::all(checked).map(|(stack, f)| finding_json(stack, f))),
        notes,
        version: env!("CARGO_PKG_VERSION"),
    };
    write_json(out, &report)
}

/// One finding as the JSON report writes it.
pub fn finding_json(stack: &Stack, f: &Finding) -> Value {
    let p = finding_position(stack, f);
    value!({
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "file": p.path,
        "line": p.line,
        "column": p.column,
        "end_line": p.end_line,
        "end_column": p.end_column,
        "service": f.service,
        "message": f.message,
        "help": f.help,
        "url": format!("{}/{}.md", super::sarif::RULE_DOCS, f.rule),
        "related": f.related.iter().map(|r| {
            let rp = position(stack, r.file, r.span);
            value!({"file": rp.path, "line": rp.line, "column": rp.column, "message": r.message})
        }).collect::<Vec<_>>(),
        "fix": {
            "available": f.fix.is_some(),
            // Only a fix that exists has an applicability (a rule's usual one says nothing here).
            "applicability": f.fix.as_ref().map(|t| t.applicability.as_str()),
            "title": f.fix.as_ref().map(|t| t.title.as_str()),
            "file": f.fix.as_ref().and_then(|t| t.file).map(|file| stack.file(file).display.as_str()),
        },
    })
}

/// `--statistics --format json`: an array of `{rule, severity, count, fixable, unsafe_fixable}`,
/// most findings first; `severity` is the highest among the rule's findings, `fixable` how many
/// have a safe fix, `unsafe_fixable` how many more an unsafe one.
pub fn statistics_json(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let rows: Vec<Value> = counts(checked)
        .into_iter()
        .map(|c| {
            value!({"rule": c.rule, "severity": c.severity.as_str(), "count": c.count, "fixable": c.safe, "unsafe_fixable": c.unsafe_})
        })
        .collect();
    write_json(out, &rows)
}
