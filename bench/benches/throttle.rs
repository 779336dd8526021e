//! The rate decision: `Throttle::admit`, the per-afnemer GCRA (governor) that every batch
//! passes in its afnemer's actor before it is parked.
//!
//! On the crate's `ManualClock` (moved forward by exactly one emission interval per decision,
//! so each one admits: an afnemer sending at exactly its rate) and on the system clock (with a
//! rate that never limits, as in the ingest benchmark), for one afnemer and for 400 afnemers
//! each with its own throttle, as 400 actors have. The refused path (bucket empty, the wait
//! until there is room computed) is measured too.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use berichtenbox_actors::core::clock::{ManualClock, SharedClock};
use berichtenbox_actors::core::throttle::{Admission, Throttle};
use berichtenbox_bench::{default_rate, emission_interval, unlimited_rate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const AFNEMERS: usize = 400;
const ONE: NonZeroU32 = NonZeroU32::MIN;

fn manual() -> (Arc<ManualClock>, SharedClock) {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
    let shared = SharedClock::new(clock.clone());
    (clock, shared)
}

/// Spends the burst, so that from then on only the refill admits.
fn drained(rate_clock: &SharedClock) -> Throttle {
    let throttle = Throttle::new(default_rate(), rate_clock.clone());
    while throttle.admit(ONE) == Admission::Admitted {}
    throttle
}

fn one_afnemer(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate/one_afnemer");
    group.throughput(Throughput::Elements(1));
    let step = emission_interval(default_rate());

    let (clock, shared) = manual();
    let throttle = drained(&shared);
    group.bench_function("manual_clock/admitted", |b| {
        b.iter(|| {
            clock.advance(step);
            let admission = throttle.admit(black_box(ONE));
            debug_assert_eq!(admission, Admission::Admitted);
            admission
        });
    });

    let (_clock, shared) = manual();
    let throttle = drained(&shared);
    group.bench_function("manual_clock/refused", |b| {
        b.iter(|| {
            let admission = throttle.admit(black_box(ONE));
            debug_assert!(matches!(admission, Admission::NotBefore(_)));
            admission
        });
    });

    let throttle = Throttle::new(unlimited_rate(), SharedClock::system());
    group.bench_function("system_clock/admitted", |b| {
        b.iter(|| throttle.admit(black_box(ONE)));
    });
    group.finish();
}

fn many_afnemers(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate/400_afnemers");
    // One iteration is one decision for each of the 400 afnemers, round-robin.
    group.throughput(Throughput::Elements(AFNEMERS as u64));
    let step = emission_interval(default_rate());

    let (clock, shared) = manual();
    let throttles: Vec<Throttle> = (0..AFNEMERS).map(|_| drained(&shared)).collect();
    group.bench_function("manual_clock/admitted", |b| {
        b.iter(|| {
            clock.advance(step);
            for throttle in &throttles {
                let admission = throttle.admit(black_box(ONE));
                debug_assert_eq!(admission, Admission::Admitted);
                black_box(admission);
            }
        });
    });

    let system = SharedClock::system();
    let throttles: Vec<Throttle> = (0..AFNEMERS)
        .map(|_| Throttle::new(unlimited_rate(), system.clone()))
        .collect();
    group.bench_function("system_clock/admitted", |b| {
        b.iter(|| {
            for throttle in &throttles {
                black_box(throttle.admit(black_box(ONE)));
            }
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = one_afnemer, many_afnemers
}
criterion_main!(benches);
