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

/// `check` reports through `rules::report`, which builds fixes without their edits: everything a
/// report shows must be what `rules::check` (which `fix` uses) finds.
#[test]
fn reports_show_what_check_finds_without_holding_edits() {
    use stackfix::rules::{self, RuleSettings};
    use stackfix::stack::{self, LoadOptions, Profiles};
    let (mut compared, mut with_edits) = (0, 0);
    for dir in subdirs(&fixtures().join("stacks")) {
        let stack = stack::load(&LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin()));
        if stack.configs.is_empty() {
            continue; // its compose files are named in `args`
        }
        compared += 1;
        let settings = RuleSettings::default();
        let full = rules::check(&stack, &settings);
        let reported = rules::report(&stack, &settings);
        with_edits += full.iter().filter(|f| f.fix.as_ref().is_some_and(|x| !x.edits.is_empty())).count();
        assert_eq!(full.len(), reported.len(), "{}", dir.display());
        for (a, b) in full.iter().zip(&reported) {
            assert_eq!((a.rule, a.file, a.span, &a.message, &a.help), (b.rule, b.file, b.span, &b.message, &b.help));
            let shown = |f: &rules::Finding| f.fix.as_ref().map(|x| (x.title.clone(), x.applicability, x.file));
            assert_eq!(shown(a), shown(b), "{}: {}", dir.display(), a.message);
            assert!(b.fix.as_ref().is_none_or(|x| x.edits.is_empty()));
        }
        // Building a report leaves `check` as it was.
        assert_eq!(
            rules::check(&stack, &settings).iter().map(|f| f.fix.as_ref().map_or(0, |x| x.edits.len())).sum::<usize>(),
            full.iter().map(|f| f.fix.as_ref().map_or(0, |x| x.edits.len())).sum::<usize>()
        );
    }
    assert!(compared >= 3 && with_edits > 10, "{compared} stacks, {with_edits} fixes with edits");
}
