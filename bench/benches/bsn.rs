//! The BSN check (elfproef) on one number: valid, a wrong check digit, the wrong length,
//! and a letter in it. Every bericht's `ontvanger` and every citizen token's `sub` pass it.

use std::hint::black_box;
use std::time::Duration;

use berichtenbox_actors::core::bsn::is_valid_bsn;
use berichtenbox_bench::valid_bsns;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bsn");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("valid", "999993653", true),
        ("invalid_check_digit", "999993654", false),
        ("invalid_length", "12345678", false),
        ("invalid_letter", "12345678a", false),
    ];
    for (name, bsn, valid) in cases {
        assert_eq!(is_valid_bsn(bsn), valid, "{bsn}");
        group.bench_function(name, |b| b.iter(|| is_valid_bsn(black_box(bsn))));
    }
    // A thousand different valid numbers, as in a batch of 1000: no branch learns one number.
    let many = valid_bsns(1000);
    group.throughput(Throughput::Elements(many.len() as u64));
    group.bench_function("valid_1000_distinct", |b| {
        b.iter(|| {
            black_box(&many)
                .iter()
                .filter(|bsn| is_valid_bsn(bsn))
                .count()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
