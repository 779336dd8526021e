//! A citizen's bearer token, through the verifiers of HS256, ES256 and RS256.
//! The body, with its invariants, is `berichtenbox::fuzzing::burger_jwt`, which the engine's tests
//! also replay over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berichtenbox::fuzzing::burger_jwt(data));
