//! The notification dispatcher (`notifier`) end to end inside the actors crate: an
//! `EmbeddedStore` on a temporary folder, a `Catalog` with afnemers' names, a `ManualClock`, a
//! real SMTP server (Python's aiosmtpd on 127.0.0.1, started by each test, as in
//! `mail_smtp.rs`) and the dispatcher started with `notifier::start` under its own actix
//! `System`, driven by a `Pacemaker` on a short real-time beat.
//!
//! Covers: arrival order across shards and exactly one e-mail per notification; the hourly cap
//! (the rest waits for the next hour, and the Date header shows the hour each went in); the
//! stored cap window surviving a restart of the dispatcher and a reopening of the store; a
//! relay that is down (nothing lost, the pause grows, everything arrives once and in order
//! when it comes up); and notifications that wait for their `publicatieDatum`.
//!
//! Time in the engine is the `ManualClock` only (counting its readings). Wall time is used for
//! polling deadlines only; [`quiet`], which gives the dispatcher rounds to do what it must
//! not, waits until the clock's readings show three more of them, not for a time. It must not skip
//! without python3 and aiosmtpd (it fails and says how to install them), nor talk to any
//! address but 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use actix::Actor as _;
use berichtenbox_actors::catalog::Catalog;
use berichtenbox_actors::core::caps::{Caps, amsterdam};
use berichtenbox_actors::core::clock::{Clock, ManualClock, SharedClock};
use berichtenbox_actors::core::routing::shard_of_citizen;
use berichtenbox_actors::notifier::{self, NotifierConfig};
use berichtenbox_actors::notify::{MailTransportConfig, Mailer, SmtpRelay, SmtpTls};
use berichtenbox_actors::pacemaker::Pacemaker;
use berichtenbox_actors::store::embedded::{EmbeddedConfig, EmbeddedStore};
use berichtenbox_actors::store::{
    Admin, AfnemerRecord, BerichtInhoud, BoxEntry, BoxId, Delivery, Notifications, Processing,
    Sharded, Store,
};
use jiff::{SignedDuration, Timestamp};
use support::smtp::{Sink, free_port, text};
use support::wait::{poll_until, wait_until};

const FROM: &str = "MijnOverheid <noreply@mijnoverheid.nl>";
const DOMAIN: &str = "mijnoverheid.nl";

/// The pacemaker's real-time beat: how often the dispatcher is asked to look for work.
const BEAT: Duration = Duration::from_millis(10);

/// How long to wait for something that must happen (a polling deadline, not an expectation).
const DEADLINE: Duration = Duration::from_secs(20);

const SHARDS: usize = 4;

const BELASTINGDIENST: &str = "00000001003214345000";
const GEMEENTE: &str = "00000001001234567000";

// ---------------------------------------------------------------------------------------------
// The dispatcher's log: the pauses it announces
// ---------------------------------------------------------------------------------------------

/// Every `pause_seconds` the dispatcher logged with "notification not sent, pausing", in order.
/// Only the relay-down test makes the relay fail, so the list is that test's.
static PAUSES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// A minimal tracing subscriber that records the dispatcher's pauses and nothing else.
struct PauseRecorder;

struct PauseVisitor {
    pause_seconds: Option<u64>,
    pausing: bool,
}

impl tracing::field::Visit for PauseVisitor {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "pause_seconds" {
            self.pause_seconds = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}").contains("pausing") {
            self.pausing = true;
        }
    }
}

impl tracing::Subscriber for PauseRecorder {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata
            .target()
            .starts_with("berichtenbox_actors::notifier")
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut visitor = PauseVisitor {
            pause_seconds: None,
            pausing: false,
        };
        event.record(&mut visitor);
        if let (true, Some(seconds)) = (visitor.pausing, visitor.pause_seconds) {
            PAUSES.lock().expect("pauses lock").push(seconds);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

fn record_pauses() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(PauseRecorder).expect("install the subscriber");
    });
}

fn pauses() -> Vec<u64> {
    PAUSES.lock().expect("pauses lock").clone()
}

fn wait_for_pauses(n: usize, context: &str) -> Vec<u64> {
    let announced = poll_until(DEADLINE, || pauses().len() >= n);
    let pauses = pauses();
    assert!(
        announced,
        "{context}: the dispatcher announced {} of {n} pauses within {DEADLINE:?} (its \
         log line \"notification not sent, pausing\" with pause_seconds may have changed)",
        pauses.len()
    );
    pauses
}

// ---------------------------------------------------------------------------------------------
// The store, the catalog, the clock and the dispatcher
// ---------------------------------------------------------------------------------------------

fn open_store(dir: &Path, shards: usize) -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::open(EmbeddedConfig::scratch(dir, shards)).expect("open the store"))
}

fn catalog(store: &Arc<EmbeddedStore>) -> Arc<Catalog> {
    let store: Arc<dyn Store> = store.clone();
    let catalog = Catalog::load(store).expect("load the catalog");
    for (oin, naam) in [
        (BELASTINGDIENST, "Belastingdienst"),
        (GEMEENTE, "Gemeente Súdwest-Fryslân"),
    ] {
        catalog
            .put_afnemer(AfnemerRecord {
                oin: oin.to_owned(),
                naam: naam.to_owned(),
                berichten_per_seconde: 45,
                burst: 1000,
                webhook_url: None,
                actief: true,
            })
            .expect("put afnemer");
    }
    Arc::new(catalog)
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

/// A `ManualClock` that counts how often it is read: the dispatcher reads it twice in each
/// `Drain` it takes while it has nothing to send (at the start of its round, and for the cap
/// window after it), so the count shows its rounds (see [`quiet`]).
#[derive(Debug)]
struct CountingClock {
    manual: ManualClock,
    reads: AtomicU64,
}

impl CountingClock {
    fn advance(&self, by: Duration) {
        self.manual.advance(by);
    }

    fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Clock for CountingClock {
    fn now(&self) -> Timestamp {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.manual.now()
    }

    fn monotonic_nanos(&self) -> u64 {
        self.manual.monotonic_nanos()
    }
}

fn clock(at: &str) -> (Arc<CountingClock>, SharedClock) {
    let manual = Arc::new(CountingClock {
        manual: ManualClock::new(ts(at)),
        reads: AtomicU64::new(0),
    });
    let shared = SharedClock::new(manual.clone());
    (manual, shared)
}

fn smtp_mailer(port: u16, clock: &SharedClock) -> Mailer {
    let mut relay = SmtpRelay::new("127.0.0.1", port, SmtpTls::None);
    relay.timeout = Duration::from_secs(10);
    Mailer::new(FROM, &MailTransportConfig::Smtp(relay), clock.clone()).expect("smtp mailer")
}

/// The SLA's caps, a grace of one second, rounds as the server makes them.
fn config() -> NotifierConfig {
    NotifierConfig {
        caps: Caps::sla().expect("sla caps"),
        max_per_round: 1000,
        grace: Duration::from_secs(1),
    }
}

/// A dispatcher running under its own actix `System` on a thread of the test's.
struct Running {
    system: actix_rt::System,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// `notifier::start` with a pacemaker on [`BEAT`].
    fn start(
        store: &Arc<EmbeddedStore>,
        catalog: &Arc<Catalog>,
        clock: &SharedClock,
        mailer: Mailer,
        config: NotifierConfig,
    ) -> Self {
        let store: Arc<dyn Store> = store.clone();
        let (catalog, clock) = (catalog.clone(), clock.clone());
        let (started, system) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runner = actix_rt::System::new();
            let pacemaker = runner.block_on(async move {
                let mut pacemaker = Pacemaker::new(BEAT);
                notifier::start(
                    &mut pacemaker,
                    store.clone(),
                    store,
                    catalog,
                    clock,
                    mailer,
                    config,
                );
                pacemaker.start()
            });
            started
                .send(actix_rt::System::current())
                .expect("report the system");
            runner.run().expect("run the system");
            drop(pacemaker);
        });
        let system = system.recv().expect("the dispatcher's system started");
        Self {
            system,
            thread: Some(thread),
        }
    }

    /// Stops the system and waits until the dispatcher has let go of `store` (its thread ends
    /// once its mailbox is gone and the `Drain` in hand, if any, is done).
    fn stop(mut self, store: &Arc<EmbeddedStore>, others: usize) {
        self.halt();
        wait_until("the dispatcher lets go of the store", DEADLINE, || {
            Arc::strong_count(store) <= 1 + others
        });
    }

    fn halt(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.system.stop();
            thread.join().expect("the dispatcher's system thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Waits until the dispatcher has taken three more `Drain`s, each a whole round over the
/// store as it is now, in which to do something it must not. Only used before asserting that
/// nothing happened. An idle `Drain` reads the clock twice, so eight more reads hold at least
/// three whole ones after the one that may be under way (a `Drain` that sends reads it more,
/// and ends the wait sooner: the assertion after it then sees what it sent, or the next check
/// does).
fn quiet(clock: &CountingClock) {
    let mark = clock.reads();
    wait_until("the dispatcher takes three more Drains", DEADLINE, || {
        clock.reads() >= mark + 8
    });
}

/// How many notifications wait in the store, all shards together.
/// Notifications still queued, in both queues (arrival order, and published later).
fn queued(store: &Arc<EmbeddedStore>) -> usize {
    (0..store.shard_count())
        .map(|shard| {
            let in_order = store
                .queued_notifications(shard, usize::MAX)
                .expect("queued notifications");
            let later = store
                .due_later_notifications(shard, jiff::Timestamp::MAX, usize::MAX)
                .expect("notifications published later");
            in_order.len() + later.len()
        })
        .sum()
}

fn wait_until_none_queued(store: &Arc<EmbeddedStore>, context: &str) {
    let sent = poll_until(DEADLINE, || queued(store) == 0);
    assert!(
        sent,
        "{context}: {} notifications still queued after {DEADLINE:?}",
        queued(store)
    );
}

/// BSNs (passing the elfproef) from `n` upward; the store does not check them, but real ones
/// keep the data honest.
fn bsn(n: u32) -> String {
    let mut candidate = 100_000_000 + u64::from(n) * 10;
    loop {
        let digits = format!("{candidate:09}");
        let sum: i64 = digits
            .bytes()
            .enumerate()
            .map(|(i, b)| i64::from(b - b'0') * if i == 8 { -1 } else { 9 - i as i64 })
            .sum();
        if sum.rem_euclid(11) == 0 {
            return digits;
        }
        candidate += 1;
    }
}

/// `count` distinct BSNs, from `from` upward, whose boxes live in `shard` of `n_shards`.
fn bsns_in_shard(shard: usize, n_shards: usize, from: u32, count: usize) -> Vec<String> {
    let mut found = Vec::with_capacity(count);
    let mut n = from;
    while found.len() < count {
        let candidate = bsn(n);
        if shard_of_citizen(&candidate, n_shards) == shard && !found.contains(&candidate) {
            found.push(candidate);
        }
        n += 1;
    }
    found
}

/// A notification to queue: arrival time, recipient, afnemer, publication date.
struct Spec {
    at: Timestamp,
    bsn: String,
    oin: &'static str,
    publicatie: Option<Timestamp>,
}

impl Spec {
    fn new(at: Timestamp, bsn: String, oin: &'static str) -> Self {
        Self {
            at,
            bsn,
            oin,
            publicatie: None,
        }
    }

    fn id(&self, seq: u64) -> BoxId {
        // The parked shard in the id is the batch's home shard, not the citizen's: any will do.
        BoxId::new(self.at, (seq % 3) as u16, seq)
    }

    fn email(&self) -> String {
        format!("burger{}@example.nl", self.bsn)
    }

    fn message_id(&self, seq: u64) -> String {
        format!("<{}@{DOMAIN}>", self.id(seq).to_hex())
    }
}

/// Puts each spec's bericht in its box with a notification; `seq` is the spec's index.
fn deliver(store: &Arc<EmbeddedStore>, specs: &[Spec], indexes: &[usize]) {
    let deliveries: Vec<Delivery> = indexes
        .iter()
        .map(|&index| {
            let spec = &specs[index];
            let seq = index as u64;
            Delivery {
                entry: BoxEntry {
                    id: spec.id(seq),
                    bsn: spec.bsn.clone(),
                    oin: spec.oin.to_owned(),
                    batch_id: format!("batch-{index}"),
                    ontvangen_op: spec.at,
                    inhoud: BerichtInhoud {
                        bericht_id: format!("bericht-{index}"),
                        bericht_type: "AANSLAG".to_owned(),
                        onderwerp: format!("Geheim onderwerp {index}"),
                        tekst: format!("Geheime tekst {index}"),
                        referentie: None,
                        publicatie_datum: spec.publicatie,
                        bijlagen: Vec::new(),
                    },
                    gelezen: false,
                },
                notify: Some(spec.email()),
            }
        })
        .collect();
    store.deliver(&deliveries).expect("deliver");
}

fn message_ids(specs: &[Spec], indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .map(|&index| specs[index].message_id(index as u64))
        .collect()
}

fn seconds(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn notifications_arrive_in_order_of_arrival_across_shards_each_once() {
    let dir = tempfile::tempdir().expect("data dir");
    let store = open_store(dir.path(), SHARDS);
    let catalog = catalog(&store);
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let sink = Sink::start(0);

    // Five arrivals a few seconds (and some nanoseconds) apart, for citizens in three shards,
    // queued in another order than they arrived and in several writes.
    let base = ts("2026-11-03T13:00:00Z");
    let bsns: Vec<String> = [0, 2, 1, 0, 2]
        .iter()
        .enumerate()
        .map(|(i, &shard)| bsns_in_shard(shard, SHARDS, 100 * (i as u32 + 1), 1).remove(0))
        .collect();
    let specs: Vec<Spec> = bsns
        .into_iter()
        .enumerate()
        .map(|(i, bsn)| {
            let at = base + seconds(i as i64 * 3) + SignedDuration::from_nanos(7 - i as i64);
            let oin = if i % 2 == 0 {
                BELASTINGDIENST
            } else {
                GEMEENTE
            };
            Spec::new(at, bsn, oin)
        })
        .collect();
    deliver(&store, &specs, &[3, 0]);
    deliver(&store, &specs, &[4]);
    deliver(&store, &specs, &[2, 1]);
    let shards_used: BTreeSet<usize> = (0..SHARDS)
        .filter(|&shard| {
            !store
                .queued_notifications(shard, 10)
                .expect("queued")
                .is_empty()
        })
        .collect();
    assert_eq!(shards_used.len(), 3, "the merge across shards is exercised");

    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(sink.port, &clock),
        config(),
    );
    let messages = sink.wait_for(5, "all five");
    wait_until_none_queued(&store, "all five sent");
    quiet(&manual);
    assert_eq!(
        sink.message_ids(),
        message_ids(&specs, &[0, 1, 2, 3, 4]),
        "in order of arrival, each exactly once"
    );
    let zone = amsterdam().expect("zone");
    for (spec, message) in specs.iter().zip(&messages) {
        assert_eq!(message["rcpt_tos"], serde_json::json!([spec.email()]));
        let naam = catalog.afnemer(spec.oin).expect("afnemer").naam;
        let body = text(message, "body").replace("\r\n", "\n");
        assert!(
            body.contains(&format!("nieuw bericht van {naam}")),
            "{body}"
        );
        let local = spec.at.to_zoned(zone.clone());
        assert!(
            body.contains(&format!("{:02}:{:02}", local.hour(), local.minute())),
            "{body}"
        );
        assert!(
            !body.contains("Geheim"),
            "no content of the message: {body}"
        );
        assert_eq!(
            message["date_epoch"],
            serde_json::json!(ts("2026-11-03T13:10:00Z").as_second()),
            "the Date header comes from the injected clock: {}",
            text(message, "date")
        );
    }
    running.stop(&store, 1);
}

#[test]
fn the_hourly_cap_holds_the_rest_for_the_next_hour_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut store = open_store(dir.path(), SHARDS);
    let mut catalog = catalog(&store);
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let sink = Sink::start(0);
    let caps = || NotifierConfig {
        caps: Caps::new(3, 100, amsterdam().expect("zone")).expect("caps"),
        ..config()
    };

    let base = ts("2026-11-03T13:00:00Z");
    let specs: Vec<Spec> = (0..7)
        .map(|i| {
            Spec::new(
                base + seconds(i),
                bsn(1_000 + i as u32 * 7),
                BELASTINGDIENST,
            )
        })
        .collect();
    deliver(&store, &specs, &[6, 5, 4, 3, 2, 1, 0]);
    let all = message_ids(&specs, &[0, 1, 2, 3, 4, 5, 6]);

    // 14:10 Amsterdam: three go, the other four wait.
    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(sink.port, &clock),
        caps(),
    );
    sink.wait_for(3, "the first hour's three");
    quiet(&manual);
    assert_eq!(sink.message_ids(), all[..3], "only three in the first hour");
    assert_eq!(queued(&store), 4);
    // Later in the same hour: still nothing.
    manual.advance(Duration::from_secs(40 * 60));
    quiet(&manual);
    assert_eq!(sink.messages().len(), 3, "the hour is spent at 13:50 UTC");

    // A restart of the dispatcher, with the store closed and opened again: the spent hour is
    // in the store.
    running.stop(&store, 1);
    drop(catalog);
    let window = store
        .notification_window()
        .expect("read the window")
        .expect("a stored window");
    assert_eq!(window.hour_start, ts("2026-11-03T13:00:00Z"));
    assert_eq!(window.sent_this_hour, 3);
    assert_eq!(window.sent_today, 3);
    store.close().expect("close the store");
    drop(store);
    store = open_store(dir.path(), SHARDS);
    catalog = self::catalog(&store);
    manual.advance(Duration::from_secs(5 * 60));
    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(sink.port, &clock),
        caps(),
    );
    quiet(&manual);
    assert_eq!(
        sink.messages().len(),
        3,
        "a restart at 13:55 UTC must not reopen the spent hour"
    );
    assert_eq!(queued(&store), 4);

    // The next hour: three more, in order.
    manual.advance(Duration::from_secs(5 * 60 + 30));
    sink.wait_for(6, "the second hour's three");
    quiet(&manual);
    assert_eq!(
        sink.message_ids(),
        all[..6],
        "three more in the second hour"
    );

    // The hour after: the last.
    manual.advance(Duration::from_secs(3_600));
    let messages = sink.wait_for(7, "the last");
    wait_until_none_queued(&store, "all seven sent");
    quiet(&manual);
    assert_eq!(sink.message_ids(), all, "all seven, in order, each once");

    let hours: Vec<i64> = messages
        .iter()
        .map(|message| {
            message["date_epoch"]
                .as_i64()
                .expect("a Date header")
                .div_euclid(3_600)
        })
        .collect();
    let hour = |text: &str| ts(text).as_second() / 3_600;
    let first = hour("2026-11-03T13:00:00Z");
    assert_eq!(
        hours,
        [
            first,
            first,
            first,
            first + 1,
            first + 1,
            first + 1,
            first + 2
        ],
        "each Date header shows the hour its notification went in"
    );
    running.stop(&store, 1);
}

#[test]
fn a_relay_that_is_down_loses_nothing_and_the_pause_grows() {
    record_pauses();
    let dir = tempfile::tempdir().expect("data dir");
    let store = open_store(dir.path(), SHARDS);
    let catalog = catalog(&store);
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let port = free_port();

    let base = ts("2026-11-03T13:00:00Z");
    let specs: Vec<Spec> = (0..4)
        .map(|i| Spec::new(base + seconds(i), bsn(2_000 + i as u32 * 13), GEMEENTE))
        .collect();
    deliver(&store, &specs, &[2, 0, 3, 1]);

    // Nobody listens on the relay's port.
    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(port, &clock),
        config(),
    );
    let first = wait_for_pauses(1, "the first failure")[0];
    assert!(first >= 1, "a pause of at least a second, got {first}");
    quiet(&manual);
    assert_eq!(pauses().len(), 1, "no retry while the clock stands still");

    // Each pause is kept to the second, and the next is longer.
    let mut last = first;
    for round in 2..=3 {
        manual.advance(Duration::from_secs(last - 1));
        quiet(&manual);
        assert_eq!(
            pauses().len(),
            round - 1,
            "no retry a second before the pause of {last} s ends"
        );
        manual.advance(Duration::from_secs(1));
        let next = wait_for_pauses(round, "the next failure")[round - 1];
        assert!(next > last, "the pause grows: {:?}", pauses());
        last = next;
    }
    assert_eq!(queued(&store), 4, "nothing dropped while the relay is down");

    // The relay comes up; the pause still holds until it ends.
    let sink = Sink::start(port);
    quiet(&manual);
    assert!(
        sink.messages().is_empty(),
        "nothing before the pause of {last} s ends"
    );
    manual.advance(Duration::from_secs(last));
    sink.wait_for(4, "after the relay came up");
    wait_until_none_queued(&store, "all four sent");
    quiet(&manual);
    assert_eq!(
        sink.message_ids(),
        message_ids(&specs, &[0, 1, 2, 3]),
        "all four, in order of arrival, each exactly once"
    );
    assert_eq!(pauses().len(), 3, "no failure once the relay is up");
    running.stop(&store, 1);
}

#[test]
fn a_notification_waits_for_its_publicatie_datum_and_holds_no_other_back() {
    let dir = tempfile::tempdir().expect("data dir");
    let store = open_store(dir.path(), SHARDS);
    let catalog = catalog(&store);
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let sink = Sink::start(0);

    let base = ts("2026-11-03T13:00:00Z");
    let publicatie = ts("2026-11-03T15:00:00Z");
    let mut specs: Vec<Spec> = (0..4)
        .map(|i| {
            Spec::new(
                base + seconds(i),
                bsn(3_000 + i as u32 * 11),
                BELASTINGDIENST,
            )
        })
        .collect();
    // The first arrival is published at 15:00 UTC; the third was published at 13:05 (passed).
    specs[0].publicatie = Some(publicatie);
    specs[2].publicatie = Some(ts("2026-11-03T13:05:00Z"));
    deliver(&store, &specs, &[0, 1, 2, 3]);

    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(sink.port, &clock),
        config(),
    );
    sink.wait_for(3, "the published ones");
    quiet(&manual);
    assert_eq!(
        sink.message_ids(),
        message_ids(&specs, &[1, 2, 3]),
        "the unpublished one waits; the others go, in order"
    );

    // A second before publication: still waiting.
    let ahead = clock.now().duration_until(publicatie) - seconds(1);
    manual.advance(ahead.unsigned_abs());
    quiet(&manual);
    assert_eq!(sink.messages().len(), 3, "not before its publicatieDatum");
    assert_eq!(queued(&store), 1);

    manual.advance(Duration::from_secs(1));
    let messages = sink.wait_for(4, "once published");
    wait_until_none_queued(&store, "the held one sent");
    quiet(&manual);
    assert_eq!(sink.message_ids(), message_ids(&specs, &[1, 2, 3, 0]));
    assert_eq!(
        messages[3]["date_epoch"],
        serde_json::json!(publicatie.as_second()),
        "sent when the clock reached its publicatieDatum"
    );
    running.stop(&store, 1);
}

/// The dispatcher looks at the first `2 × count` notifications of each shard, where `count` is
/// the round's allowance (at most `max_per_round`, 1000 in the server). When that many
/// unpublished notifications head one shard (an afnemer announcing a run of aanslagen for next
/// week), a published one behind them must still go, and before one that arrived after it in
/// another shard.
#[test]
fn unpublished_notifications_at_the_head_of_a_shard_do_not_hold_back_published_ones() {
    let dir = tempfile::tempdir().expect("data dir");
    let store = open_store(dir.path(), SHARDS);
    let catalog = catalog(&store);
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let sink = Sink::start(0);
    let config = config();

    let base = ts("2026-11-03T12:00:00Z");
    let publicatie = ts("2026-11-10T07:00:00Z");
    let held = 2 * config.max_per_round;
    let mut bsns = bsns_in_shard(0, SHARDS, 10_000, held + 1).into_iter();
    let mut specs: Vec<Spec> = Vec::with_capacity(held + 2);
    for i in 0..held {
        let mut spec = Spec::new(
            base + SignedDuration::from_millis(i as i64),
            bsns.next().expect("bsn"),
            BELASTINGDIENST,
        );
        spec.publicatie = Some(publicatie);
        specs.push(spec);
    }
    // Published (no date) and behind them in shard 0; then one in shard 1, a minute later.
    specs.push(Spec::new(
        ts("2026-11-03T13:00:00Z"),
        bsns.next().expect("bsn"),
        GEMEENTE,
    ));
    specs.push(Spec::new(
        ts("2026-11-03T13:01:00Z"),
        bsns_in_shard(1, SHARDS, 90_000, 1).remove(0),
        GEMEENTE,
    ));
    let indexes: Vec<usize> = (0..specs.len()).collect();
    deliver(&store, &specs, &indexes);

    let running = Running::start(
        &store,
        &catalog,
        &clock,
        smtp_mailer(sink.port, &clock),
        config,
    );
    // The assertion below says what arrived.
    poll_until(DEADLINE, || sink.messages().len() >= 2);
    quiet(&manual);
    assert_eq!(
        sink.message_ids(),
        message_ids(&specs, &[held, held + 1]),
        "both published notifications, in order of arrival (13:00 before 13:01), while the \
         {held} unpublished ones wait"
    );
    running.stop(&store, 1);
}
