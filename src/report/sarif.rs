use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{json as value, Value};

use super::locate::{fingerprints, Locator};
use super::{finding_position, position, write_json, Checked, Streamed};
use crate::rules::{Area, Finding, RuleMeta, Severity, REGISTRY};
use crate::stack::Stack;

/// Where each rule's documentation page is (`docs/rules/<rule>.md` in the repository).
pub const RULE_DOCS: &str = "https://github.com/stackfix/stackfix/blob/main/docs/rules";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// GitHub code scanning's `security-severity` (a CVSS-like score: 9.0 and up critical, 7.0 high,
/// 4.0 medium, below low) for a security rule of this severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "8.0",
        Severity::Warning => "5.5",
        Severity::Info => "3.0",
    }
}

/// Keys in the order `serde_json::Map` sorts them, as in every other object of the log.
#[derive(Serialize)]
#[serde(bound(serialize = "Streamed<F>: Serialize"))]
struct Log<F> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<F>; 1],
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[serde(bound(serialize = "Streamed<F>: Serialize"))]
struct Run<F> {
    column_kind: &'static str,
    invocations: [Value; 1],
    original_uri_base_ids: Value,
    results: Streamed<F>,
    tool: Value,
}

/// A SARIF 2.1.0 log with one run, for GitHub code scanning.
///
/// - URIs are relative to `%SRCROOT%`, the repository holding the first stack (the enclosing git
///   work tree's top, else the stack's directory), whatever directory stackfix ran in; a file
///   outside it gets an absolute `file://` URI.
/// - Each result's `partialFingerprints["stackfix/v1"]` is a hash of its rule, file, service and
///   message (no line numbers: it survives unrelated edits), with a `:n` suffix telling apart
///   results that share all four, so no two results of a log share one.
/// - `invocations[0].executionSuccessful` is false when a file could not be read or a stack
///   could not be prepared (`failures`), each a `toolExecutionNotifications` entry: an upload of
///   a partial run must not close the alerts of the files that failed.
/// - Columns count Unicode code points.
pub fn sarif(out: &mut dyn Write, checked: &[Checked], failures: &[String]) -> io::Result<()> {
    let uris = Locator::new(checked);
    let rules: Vec<Value> = REGISTRY.iter().map(|r| descriptor(r.meta())).collect();
    let mut notifications: Vec<Value> = Vec::new();
    for c in checked {
        for e in &c.stack.errors {
            let mut text = e.message.clone();
            if let Some(hint) = &e.hint {
                text.push_str("\nhelp: ");
                text.push_str(hint);
            }
            let (line, column) = e.position.unwrap_or((1, 1));
            let location = uris.artifact(Path::new(&e.path));
            notifications.push(value!({
                "level": "error",
                "message": {"text": text},
                "locations": [{"physicalLocation": {
                    "artifactLocation": location,
                    "region": {"startLine": line, "startColumn": column},
                }}],
            }));
        }
    }
    notifications.extend(failures.iter().map(|f| value!({"level": "error", "message": {"text": f}})));
    let invocation = value!({
        "executionSuccessful": notifications.is_empty(),
        "toolExecutionNotifications": notifications,
    });
    let base_ids = match uris.root_uri() {
        Some(root) => value!({"%SRCROOT%": {"uri": root}}),
        None => value!({}),
    };
    let fingerprints = fingerprints(checked, &uris);
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            column_kind: "unicodeCodePoints",
            invocations: [invocation],
            original_uri_base_ids: base_ids,
            results: Streamed(|| {
                Checked::all(checked).zip(&fingerprints).map(|((stack, f), print)| result(stack, f, &uris, print))
            }),
            tool: value!({"driver": {
                "name": "stackfix",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/stackfix/stackfix",
                "rules": rules,
            }}),
        }],
        version: "2.1.0",
    };
    write_json(out, &log)
}

/// A rule as SARIF describes it: summary, full documentation, its page, default level, and for
/// security rules the `security-severity` GitHub ranks alerts by.
fn descriptor(m: &RuleMeta) -> Value {
    let mut properties = value!({"tags": [m.area.as_str(), "docker-compose"]});
    if m.area == Area::Security {
        properties["tags"] = value!(["security", "docker-compose"]);
        properties["security-severity"] = value!(security_severity(m.severity));
    }
    let docs = m.documentation();
    value!({
        "id": m.id,
        "name": m.id,
        "shortDescription": {"text": m.summary},
        "fullDescription": {"text": docs},
        "help": {"text": docs, "markdown": docs},
        "helpUri": format!("{RULE_DOCS}/{}.md", m.id),
        "defaultConfiguration": {"level": level(m.severity)},
        "properties": properties,
    })
}

fn result(stack: &Stack, f: &Finding, uris: &Locator, fingerprint: &str) -> Value {
    let p = finding_position(stack, f);
    let rule_index = REGISTRY.iter().position(|r| r.meta().id == f.rule).unwrap_or(0);
    let mut text = f.message.clone();
    if let Some(help) = &f.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let artifact = |file: usize| uris.artifact(&stack.file(file).path);
    let related: Vec<Value> = f
        .related
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rp = position(stack, r.file, r.span);
            value!({"id": i, "message": {"text": r.message}, "physicalLocation": physical(artifact(r.file), rp.line, rp.column, rp.end_line, rp.end_column)})
        })
        .collect();
    let mut result = value!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical(artifact(f.file), p.line, p.column, p.end_line, p.end_column)}],
        "relatedLocations": related,
        "partialFingerprints": {"stackfix/v1": fingerprint},
    });
    if let Some(fix) = f.fix.as_ref().filter(|fix| !fix.replacements.is_empty()) {
        result["fixes"] = value!([sarif_fix(fix, uris)]);
    }
    result
}

/// A fix as SARIF's `fix` object: its title and applicability, and per file the replacement of
/// the stretch it changes (an insertion has an empty `deletedRegion`).
fn sarif_fix(fix: &crate::rules::Fix, uris: &Locator) -> Value {
    let mut changes: Vec<(&Path, Vec<Value>)> = Vec::new();
    for r in &fix.replacements {
        let replacement = value!({
            "deletedRegion": {
                "startLine": r.start.0, "startColumn": r.start.1, "endLine": r.end.0, "endColumn": r.end.1,
            },
            "insertedContent": {"text": r.text},
        });
        match changes.iter_mut().find(|(path, _)| *path == r.path.as_path()) {
            Some((_, list)) => list.push(replacement),
            None => changes.push((&r.path, vec![replacement])),
        }
    }
    let changes: Vec<Value> = changes
        .into_iter()
        .map(|(path, replacements)| value!({"artifactLocation": uris.artifact(path), "replacements": replacements}))
        .collect();
    value!({
        "description": {"text": format!("{} ({})", fix.title, fix.applicability.as_str())},
        "artifactChanges": changes,
    })
}

fn physical(artifact: Value, line: usize, column: usize, end_line: usize, end_column: usize) -> Value {
    let (end_line, end_column) =
        if (end_line, end_column) > (line, column) { (end_line, end_column) } else { (line, column + 1) };
    value!({
        "artifactLocation": artifact,
        "region": {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column},
    })
}
