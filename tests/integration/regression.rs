//! Inputs the fuzzers found (`fuzz/regressions/`), replayed through the same invariant checks as
//! the fuzz targets: the located tree, the patch engine, the whole check + fix pipeline and
//! edits through anchors.

use crate::common::repo;

#[test]
fn fuzz_regressions() {
    let dir = repo().join("fuzz/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = std::panic::catch_unwind(|| {
            stackfix::fuzzing::tree(&data);
            stackfix::fuzzing::patch(&data);
            stackfix::fuzzing::pipeline(&data);
            let _ = stackfix::fuzzing::anchors(&data);
        });
        assert!(result.is_ok(), "{name} breaks an invariant again");
    }
}

/// The `anchors` fuzz target on inputs from a fixed generator (so CI covers edits through anchors
/// without cargo-fuzz), with compose itself as a second judge: on every stack that was fixed, the
/// real `compose config --format json` changes only in the fields the applied rules write.
#[test]
fn edits_through_anchors_keep_what_every_service_gets() {
    let compose = crate::validators::compose();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut fixed, mut refused, mut judged) = (0, 0, 0);
    for case in 0..64 {
        let data: Vec<u8> = (0..48)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let result = std::panic::catch_unwind(|| stackfix::fuzzing::anchors(&data));
        let run = match result {
            Ok(Some(run)) => run,
            Ok(None) => {
                refused += 1;
                continue;
            }
            Err(_) => panic!("case {case} ({data:?}) breaks an invariant"),
        };
        if run.before == run.after {
            continue;
        }
        fixed += 1;
        let Some(compose) = &compose else { continue };
        // One directory for both, so the project name is the same.
        let dir = tempfile::tempdir().unwrap();
        let model = |text: &str| {
            std::fs::write(dir.path().join("docker-compose.yml"), text).unwrap();
            let files = [dir.path().join("docker-compose.yml")];
            crate::validators::compose_json(compose, dir.path(), &files)
        };
        let Ok(before) = model(&run.before) else { continue };
        let after =
            model(&run.after).unwrap_or_else(|e| panic!("case {case}: compose refuses the fix: {e}\n{}", run.after));
        let rules: Vec<&str> = run.rules.iter().map(String::as_str).collect();
        let mut changed = Vec::new();
        stackfix::fuzzing::model_changes(&before, &after, "", &mut changed);
        for path in changed {
            assert!(
                stackfix::fuzzing::drift_allowed(&path, &before, &rules),
                "case {case}: `{path}` changed in compose's model, which no applied rule ({rules:?}) writes:\n{}\n---- fixed:\n{}",
                run.before,
                run.after
            );
        }
        judged += 1;
    }
    println!("anchored stacks: {fixed} fixed, {refused} refused, {judged} judged by compose");
    assert!(fixed > 40, "only {fixed} of 64 anchored stacks were fixed");
}
