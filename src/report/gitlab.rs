use std::io::{self, Write};

use serde_json::{json as value, Value};

use super::locate::{fingerprints, Locator};
use super::{finding_position, write_json, Checked, Streamed};
use crate::rules::{Area, Severity};

/// GitLab Code Quality (`artifacts:reports:codequality`): a JSON array of issues, each with
/// `description`, `check_name` (the rule), `fingerprint` (as SARIF's: rule, file, service and
/// message, unique in the report), `severity` (`critical` for security errors, `major` for other
/// errors, `minor` for warnings, `info`) and `location` (`path` relative to the repository
/// holding the stack, `lines.begin`).
pub fn gitlab(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let locator = Locator::new(checked);
    let prints = fingerprints(checked, &locator);
    let issues = Streamed(|| {
        Checked::all(checked).zip(&prints).map(|((stack, f), print)| {
            let p = finding_position(stack, f);
            let security = crate::rules::by_id(f.rule).is_some_and(|r| r.meta().area == Area::Security);
            let severity = match f.severity {
                Severity::Error if security => "critical",
                Severity::Error => "major",
                Severity::Warning => "minor",
                Severity::Info => "info",
            };
            let mut description = f.message.clone();
            if let Some(help) = &f.help {
                description.push_str(" (");
                description.push_str(help);
                description.push(')');
            }
            let issue: Value = value!({
                "description": description,
                "check_name": f.rule,
                "fingerprint": print,
                "severity": severity,
                "location": {"path": locator.path(&stack.file(f.file).path), "lines": {"begin": p.line}},
            });
            issue
        })
    });
    write_json(out, &issues)
}
