#![no_main]
//! Fuzz target: see `stackfix::fuzzing::anchors` for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stackfix::fuzzing::anchors(data);
});
