use serde_json::{json as value, Value};

use super::{finding_position, position};
use crate::rules::{Finding, Severity, REGISTRY};
use crate::stack::Stack;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A SARIF 2.1.0 log with one run, for GitHub code scanning. URIs are relative to the directory
/// stackfix ran in (`%SRCROOT%`); columns count Unicode code points.
pub fn sarif(stack: &Stack, findings: &[Finding]) -> String {
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
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
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
        })
        .collect();
    let doc = value!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "stackfix",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/stackfix/stackfix",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": "file:///"}},
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn physical(path: &str, line: usize, column: usize, end_line: usize, end_column: usize) -> Value {
    let (end_line, end_column) =
        if (end_line, end_column) > (line, column) { (end_line, end_column) } else { (line, column + 1) };
    value!({
        "artifactLocation": {"uri": path.replace('\\', "/"), "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column},
    })
}
