//! A query string, through the parser of each GET endpoint that reads one.
//! The body, with its invariants, is `berichtenbox::fuzzing::query`, which the engine's tests
//! also replay over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berichtenbox::fuzzing::query(data));
