use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json as value, Value};

use super::{finding_position, position, write_json, Checked, Streamed};
use crate::rules::{Finding, Severity, REGISTRY};
use crate::stack::Stack;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
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
    original_uri_base_ids: Value,
    results: Streamed<F>,
    tool: Value,
}

/// A SARIF 2.1.0 log with one run, for GitHub code scanning. URIs are relative to the directory
/// stackfix ran in (`%SRCROOT%`); columns count Unicode code points.
pub fn sarif(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|r| {
            let m = r.meta();
            value!({
                "id": m.id,
                "name": m.id,
                "shortDescription": {"text": m.summary},
                "fullDescription": {"text": m.summary},
                "help": {"text": m.docs, "markdown": m.docs},
                "defaultConfiguration": {"level": level(m.severity)},
                "properties": {"tags": ["docker-compose", "infrastructure"]},
            })
        })
        .collect();
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            column_kind: "unicodeCodePoints",
            original_uri_base_ids: value!({"%SRCROOT%": {"uri": "file:///"}}),
            results: Streamed(|| Checked::all(checked).map(|(stack, f)| result(stack, f))),
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

fn result(stack: &Stack, f: &Finding) -> Value {
    let p = finding_position(stack, f);
    let rule_index = REGISTRY.iter().position(|r| r.meta().id == f.rule).unwrap_or(0);
    let mut text = f.message.clone();
    if let Some(help) = &f.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let related: Vec<Value> = f
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let rp = position(stack, r.file, r.span);
                    value!({"id": i, "message": {"text": r.message}, "physicalLocation": physical(&rp.path, rp.line, rp.column, rp.end_line, rp.end_column)})
                })
                .collect();
    value!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical(&p.path, p.line, p.column, p.end_line, p.end_column)}],
        "relatedLocations": related,
        "partialFingerprints": {"stackfix/v1": format!("{}:{}:{}", f.rule, p.path, f.service.as_deref().unwrap_or(""))},
    })
}

fn physical(path: &str, line: usize, column: usize, end_line: usize, end_column: usize) -> Value {
    let (end_line, end_column) =
        if (end_line, end_column) > (line, column) { (end_line, end_column) } else { (line, column + 1) };
    value!({
        "artifactLocation": {"uri": path.replace('\\', "/"), "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column},
    })
}
