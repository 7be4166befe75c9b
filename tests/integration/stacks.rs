//! The stacks reconstructed from the seed audit reports: the exact set of findings in
//! `expected.tsv` (rule, file, service), and a snapshot of the text report.

use std::collections::BTreeSet;

use crate::common::{assert_snapshot, check_json, fixtures, repo, stackfix, stdout, subdirs};

fn expected(path: &std::path::Path) -> BTreeSet<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} missing", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "{}: `{l}` needs rule, file, service", path.display());
            (cols[0].to_string(), cols[1].to_string(), cols[2].to_string())
        })
        .collect()
}

#[test]
fn seed_stacks_report_exactly_what_their_audits_found() {
    let stacks = subdirs(&fixtures().join("stacks"));
    assert_eq!(stacks.len(), 5, "one stack per seed report");
    for stack in stacks {
        let dir = match std::fs::read_to_string(stack.join("args")) {
            Ok(sub) => stack.join(sub.trim()),
            Err(_) => stack.clone(),
        };
        let (code, json) = check_json(&dir, &[]);
        let prefix = dir.strip_prefix(&stack).unwrap().to_string_lossy().into_owned();
        let actual: BTreeSet<(String, String, String)> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let file = f["file"].as_str().unwrap().to_string();
                let file = if prefix.is_empty() { file } else { format!("{prefix}/{file}") };
                (f["rule"].as_str().unwrap().to_string(), file, f["service"].as_str().unwrap_or("-").to_string())
            })
            .collect();
        let want = expected(&stack.join("expected.tsv"));
        let missing: Vec<_> = want.difference(&actual).collect();
        let extra: Vec<_> = actual.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}:\nmissing {missing:#?}\nunexpected {extra:#?}",
            stack.display()
        );
        assert_eq!(code, if want.is_empty() { 0 } else { 1 });
        let name = stack.file_name().unwrap().to_string_lossy();
        let text = stdout(&stackfix(&dir, &["check", ".", "--color", "never"]));
        assert_snapshot(&repo().join("tests/integration/snapshots").join(format!("stacks__{name}.snap")), &text);
    }
}

/// Seed 003 reports "Critical Issues Found: 0": its production configuration yields no error.
/// The one warning is what the report missed: Watchtower's read-only Docker socket, which still
/// gives it the whole API; the rest are hardening notes (`info`).
#[test]
fn seed_003_production_is_clean() {
    let dir = fixtures().join("stacks/003-bookreader-ai");
    let (code, json) = check_json(&dir, &["-f", "docker-compose.production.yml"]);
    let findings: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .filter(|(_, severity)| *severity != "info")
        .collect();
    assert_eq!(findings, [("docker-socket-mount", "error")], "{json:#}");
    assert_eq!(code, 1);
    let args = ["-f", "docker-compose.production.yml", "--ignore", "docker-socket-mount", "--fail-on", "warning"];
    assert_eq!(check_json(&dir, &args).0, 0, "nothing else at warning or above");
}
