//! Inputs the fuzzers found (`fuzz/regressions/`), replayed through the same invariant checks as
//! the fuzz targets: the located tree, the patch engine and the whole check + fix pipeline.

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
        });
        assert!(result.is_ok(), "{name} breaks an invariant again");
    }
}
