//! Batch parsing and validation: the bytes of a request body to a validated domain `Batch`,
//! exactly as `POST /v1/batches` does it on the blocking pool (`body::parse_json`, then
//! `batches::validate`: every field rule, base64 decoding of attachments).

use std::hint::black_box;
use std::time::Duration;

use berichtenbox::http::{batches, body};
use berichtenbox_bench::{OIN, batch_json, fixture_now, text_batch_json};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse_and_validate(json: &[u8]) -> berichtenbox_actors::core::model::Batch {
    let parsed: batches::BatchJson = body::parse_json(json).expect("the fixture is valid JSON");
    batches::validate(parsed, OIN, fixture_now()).expect("the fixture is a valid batch")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_parse_validate");
    let cases = [
        ("text/1", text_batch_json(1), 1),
        ("text/100", text_batch_json(100), 100),
        ("text/1000", text_batch_json(1000), 1000),
        ("pdf_2x100KB/10", batch_json(10, 2, 100_000), 10),
    ];
    for (name, json, berichten) in &cases {
        // Checked once, outside the measurement: the fixture is what the name says.
        assert_eq!(parse_and_validate(json).len(), *berichten);
        group.throughput(Throughput::ElementsAndBytes {
            elements: *berichten as u64,
            bytes: json.len() as u64,
        });
        // Dropping the batch is measured too: the engine frees it after parking.
        group.bench_function(*name, |b| b.iter(|| parse_and_validate(black_box(json))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
