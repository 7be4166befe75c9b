#![no_main]
//! Fuzz target: see `stackfix::fuzzing::tree` for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stackfix::fuzzing::tree(data);
});
