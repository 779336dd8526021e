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

// One test per class of group size, eight cases each: the same 24 cases as one test of 24,
// but run side by side (each case is mostly waiting on fsyncs).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Every park its own sync.
    #[test]
    fn a_group_of_one(
        shards in 2usize..=3,
        page in prop_oneof![Just(1usize), 2usize..16, Just(1000usize)],
        ops in prop::collection::vec(park_model::op(), 1..30),
    ) {
        check(1, shards, page, &ops)?;
    }

    /// Groups cut inside bursts.
    #[test]
    fn groups_of_a_few_dozen(
        shards in 2usize..=3,
        max_group_messages in 10usize..60,
        page in prop_oneof![Just(1usize), 2usize..16, Just(1000usize)],
        ops in prop::collection::vec(park_model::op(), 1..30),
    ) {
        check(max_group_messages, shards, page, &ops)?;
    }

    /// A burst in one group, duplicates of each other included.
    #[test]
    fn a_group_of_a_thousand(
        shards in 2usize..=3,
        page in prop_oneof![Just(1usize), 2usize..16, Just(1000usize)],
        ops in prop::collection::vec(park_model::op(), 1..30),
    ) {
        check(1000, shards, page, &ops)?;
    }
}

fn check(
    max_group_messages: usize,
    shards: usize,
    page: usize,
    ops: &[park_model::Op],
) -> Result<(), TestCaseError> {
    let mut backend = TempBackend::with_group(max_group_messages);
    park_model::run(&mut backend, shards, page, ops)
}
