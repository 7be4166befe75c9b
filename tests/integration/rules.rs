//! Every case under `fixtures/<rule-id>/{bad,good}/<case>/`: bad cases report the rule (the text
//! report is snapshotted), good cases do not.

use crate::common::{assert_snapshot, check_json, fixtures, repo, stackfix, stdout, subdirs};
use stackfix::rules::REGISTRY;

#[test]
fn bad_cases_report_their_rule() {
    for rule in REGISTRY {
        let id = rule.meta().id;
        for case in subdirs(&fixtures().join(id).join("bad")) {
            let (code, json) = check_json(&case, &["--select", id]);
            let findings = json["findings"].as_array().unwrap();
            assert_eq!(code, 1, "{}: exit code", case.display());
            assert!(!findings.is_empty(), "{}: no `{id}` finding", case.display());
            assert!(findings.iter().all(|f| f["rule"] == id), "{}: other rules reported", case.display());
            for f in findings {
                assert!(f["line"].as_u64().unwrap() >= 1 && f["column"].as_u64().unwrap() >= 1);
                assert!(f["message"].as_str().unwrap().len() > 10);
            }
            let out = stackfix(&case, &["check", ".", "--select", id, "--color", "never"]);
            let name = case.file_name().unwrap().to_string_lossy();
            assert_snapshot(
                &repo().join("tests/integration/snapshots").join(format!("{id}__{name}.snap")),
                &stdout(&out),
            );
        }
    }
}

#[test]
fn good_cases_are_clean() {
    for rule in REGISTRY {
        let id = rule.meta().id;
        for case in subdirs(&fixtures().join(id).join("good")) {
            let (code, json) = check_json(&case, &["--select", id]);
            assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{}: {json:#}", case.display());
            assert_eq!(code, 0, "{}", case.display());
        }
    }
}
