//! The store's group commit: N concurrent parkers, each parking single-bericht batches into an
//! `EmbeddedStore` one at a time and awaiting each receipt (which is answered only after the
//! fsync that covers it), as N HTTP requests in flight do.
//!
//! One iteration is one park, durable. `iter_custom` spreads the iterations of a sample over N
//! threads and reports the wall time of them all, so the time shown is the wall time per park
//! and the throughput is parks per second across all N. With one parker every park waits for
//! its own fsync; with N, a shard's writer takes what has queued while it synced and covers the
//! whole group with one fsync: the ratio between N and 1 is what grouping buys.
//!
//! Disk-bound: few samples, short measurement. Run on one shard (grouping alone) and on the
//! engine's default of four shards (four writers, four journals).
//!
//! Timings of fsyncs on a shared machine are noisy, so each case also prints what the store's
//! writers themselves reported through the engine's metrics (`berichtenbox_park_group_batches`,
//! `berichtenbox_park_sync_seconds`): how many group commits (one fsync each) the case made,
//! how many batches each covered, and how long a commit (write + sync) took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use berichtenbox_actors::store::embedded::{EmbeddedConfig, EmbeddedStore};
use berichtenbox_actors::store::{Admin, ParkOutcome, ParkRequest, Parking};
use berichtenbox_bench::{single_bericht_park, valid_bsns};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

const WRITERS: [usize; 5] = [1, 2, 4, 8, 16];

/// A count and a sum of what a histogram was given (the sum scaled to an integer).
#[derive(Debug)]
struct Tally {
    scale: f64,
    count: AtomicU64,
    sum: AtomicU64,
}

impl Tally {
    fn new(scale: f64) -> Arc<Self> {
        Arc::new(Self {
            scale,
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        })
    }

    fn snapshot(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
        )
    }
}

impl metrics::HistogramFn for Tally {
    fn record(&self, value: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum
            .fetch_add((value * self.scale).round() as u64, Ordering::Relaxed);
    }
}

/// Batches per group commit, and commit (write + sync) time in nanoseconds.
static GROUP_BATCHES: LazyLock<Arc<Tally>> = LazyLock::new(|| Tally::new(1.0));
static SYNC_NANOS: LazyLock<Arc<Tally>> = LazyLock::new(|| Tally::new(1e9));

/// Listens to the two histograms of the park writers; everything else goes nowhere.
#[derive(Debug)]
struct GroupRecorder;

impl Recorder for GroupRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match key.name() {
            berichtenbox_actors::telemetry::PARK_GROUP_BATCHES => {
                Histogram::from_arc(GROUP_BATCHES.clone())
            }
            berichtenbox_actors::telemetry::PARK_SYNC => Histogram::from_arc(SYNC_NANOS.clone()),
            _ => Histogram::noop(),
        }
    }
}

/// What the writers reported between two snapshots, as one line.
fn group_report(
    name: &str,
    before: ((u64, u64), (u64, u64)),
    after: ((u64, u64), (u64, u64)),
) -> String {
    let groups = after.0.0 - before.0.0;
    let batches = after.0.1 - before.0.1;
    let sync_nanos = after.1.1 - before.1.1;
    let per_group = batches as f64 / groups.max(1) as f64;
    let commit_us = sync_nanos as f64 / groups.max(1) as f64 / 1000.0;
    format!(
        "{name}: {batches} parks in {groups} group commits (fsyncs): \
         {per_group:.2} batches per group commit, {commit_us:.0} µs per commit (write + sync)"
    )
}

fn open(dir: &std::path::Path, shards: usize) -> EmbeddedStore {
    EmbeddedStore::open(EmbeddedConfig {
        // The engine's block cache, less: the benchmark reads nothing back.
        cache_bytes_per_shard: 8 << 20,
        ..EmbeddedConfig::scratch(dir, shards)
    })
    .expect("open the store in a temporary directory")
}

/// Parks `iters` batches with `writers` parkers at once; answers the wall time of them all.
fn park_concurrently(
    store: &EmbeddedStore,
    writers: usize,
    iters: u64,
    next: &AtomicU64,
    bsns: &[String],
) -> Duration {
    // The requests are built before the clock starts: this measures the store, not the digest.
    let mut per_writer: Vec<Vec<ParkRequest>> = (0..writers)
        .map(|w| {
            let share = iters / writers as u64 + u64::from((w as u64) < iters % writers as u64);
            (0..share)
                .map(|_| {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    single_bericht_park(n, &bsns[n as usize % bsns.len()])
                })
                .collect()
        })
        .collect();
    let start = Arc::new(Barrier::new(writers + 1));
    std::thread::scope(|scope| {
        for requests in per_writer.drain(..) {
            let start = start.clone();
            scope.spawn(move || {
                start.wait();
                for request in requests {
                    let receipt = store
                        .submit_park(request)
                        .expect("the park queue takes at most 16 waiting batches");
                    let outcome = receipt
                        .blocking_recv()
                        .expect("the writer answers every park")
                        .expect("the park is committed");
                    assert!(matches!(outcome, ParkOutcome::Parked(_)), "{outcome:?}");
                }
            });
        }
        start.wait();
        let began = Instant::now();
        // Leaving the scope joins every parker.
        began
    })
    .elapsed()
}

fn bench(c: &mut Criterion) {
    // Another recorder already installed would only mean no group figures: not fatal.
    if metrics::set_global_recorder(GroupRecorder).is_err() {
        eprintln!("a metrics recorder was already installed: no group commit figures");
    }
    let snapshot = || (GROUP_BATCHES.snapshot(), SYNC_NANOS.snapshot());
    let bsns = valid_bsns(997);
    let next = AtomicU64::new(0);
    for shards in [1, 4] {
        let name = if shards == 1 { "1_shard" } else { "4_shards" };
        let mut group = c.benchmark_group(format!("group_commit/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(1));
        // One store for all writer counts: creating one costs hundreds of fsyncs (a fjall
        // database per shard and for the catalog, each with its keyspaces), which would make
        // the test-mode run of this bench (one park per case) slow.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(dir.path(), shards);
        for writers in WRITERS {
            let before = snapshot();
            group.bench_with_input(BenchmarkId::new("writers", writers), &writers, |b, &w| {
                b.iter_custom(|iters| park_concurrently(&store, w, iters, &next, &bsns));
            });
            let case = format!("group_commit/{name}/writers/{writers}");
            println!("{}", group_report(&case, before, snapshot()));
        }
        group.finish();
        store.close().expect("close the store");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
