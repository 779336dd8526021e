//! Waiting on a condition with a deadline: the one way the actors crate's integration tests
//! wait for an effect (never a fixed sleep).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(10);

/// Polls `done` until it answers true; panics with `what` once `deadline` has passed.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, done: impl FnMut() -> bool) {
    assert!(
        poll_until(deadline, done),
        "not within {deadline:?}: {what}"
    );
}

/// Polls `done` until it answers true (then true) or `deadline` has passed (then false), for a
/// test that reports a missed deadline itself.
pub fn poll_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(POLL);
    }
}
