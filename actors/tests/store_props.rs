//! The parking model (`store::conformance::park_model`) on the embedded store, across the
//! group-commit sizes that only it has: a group of one bericht (every park its own sync), a
//! few dozen (groups cut inside bursts), and a thousand (a burst in one group, duplicates of
//! each other included). Bijlagen of 0 bytes to a few KB fall on both sides of fjall's
//! key-value separation threshold (1 KiB). The properties themselves (whole, once, in order,
//! `Duplicate`/`Conflict` with the first record, across restarts) are the conformance suite's,
//! which also runs them with the default group size on every backend.

use berichtenbox_actors::store::conformance::park_model;
use berichtenbox_actors::store::embedded::temp_backend::TempBackend;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn parked_batches_survive_restarts_whole_once_and_in_order(
        shards in 2usize..=3,
        max_group_messages in prop_oneof![Just(1usize), 10usize..60, Just(1000usize)],
        page in prop_oneof![Just(1usize), 2usize..16, Just(1000usize)],
        ops in prop::collection::vec(park_model::op(), 1..30),
    ) {
        let mut backend = TempBackend::with_group(max_group_messages);
        park_model::run(&mut backend, shards, page, &ops)?;
    }
}
