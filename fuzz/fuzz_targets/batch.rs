//! A POST /v1/batches body: parsed and validated as the handler does.
//! The body, with its invariants, is `berichtenbox::fuzzing::batch`, which the engine's tests
//! also replay over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berichtenbox::fuzzing::batch(data));
