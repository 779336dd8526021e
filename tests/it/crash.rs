//! Crash test of the real `berichtenbox` binary: a 202 means durably parked, whatever happens
//! to the process afterwards.
//!
//! On one data directory, for a dozen rounds: start the engine, let several client threads
//! deliver valid batches (1 to 50 berichten, unique ids over the whole test) as fast as they
//! can, and SIGKILL the engine after a random 50-600 ms while they are still sending. After
//! each kill the engine is started again, and through the API
//!
//! - every batch ever answered 202 (in any round) is there, with its number of berichten;
//! - every batch of this round that got no answer is either wholly there or not at all, and
//!   delivering it again answers 202, or 200 when it had been parked (its answer lost), never
//!   409.
//!
//! At the end the engine is stopped with SIGTERM (it must exit successfully), and the store is
//! opened directly and read shard by shard: every bericht of every accepted batch is there
//! exactly once, with the content that was sent (attachment bytes included), no bericht id
//! occurs twice over all shards, nothing else is there, and within each shard the sequence
//! numbers strictly increase.
//!
//! A second test does the same with SIGTERM instead of SIGKILL, for a few rounds on a fresh
//! data directory: the engine must exit successfully within its shutdown timeout (plus a
//! margin) while the clients are still sending (each client stops at its first request without
//! an answer). Every request that got an answer got 202 or 503 (no other status, so no 5xx but
//! 503); every request without one failed on its connection: refused once the listener is
//! closed, or closed by the draining server as the request arrived on an idle keep-alive
//! connection; none hung until the client's timeout. No batch answered 503 or not at all was
//! parked: a graceful stop answers every request it took in, and a 503 stores nothing. After a
//! restart the same checks as above hold, and at the end the same store check.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{EngineBuilder, Process as Engine};
use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};

const ROUNDS: usize = 12;
const CLIENTS: usize = 6;
const AFNEMERS: usize = 2;
const MAX_BERICHTEN: u32 = 50;
/// Rounds of the SIGTERM test.
const SIGTERM_ROUNDS: usize = 3;
/// The engine's `server.shutdown_timeout_seconds` in these tests.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How much longer than its shutdown timeout a SIGTERMed engine may take to exit.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// A batch as a client sent it.
#[derive(Debug, Clone)]
struct Sent {
    batch_no: u32,
    afnemer: usize,
    berichten: u32,
    body: Value,
}

impl Sent {
    fn batch_id(&self) -> String {
        self.body["batchId"]
            .as_str()
            .expect("batchId in a sent batch")
            .to_owned()
    }
}

/// What a client heard back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accepted,
    /// No status line: connection refused, reset or closed by the kill or the shutdown.
    Unanswered(NoAnswer),
    /// Any other status (none is expected from valid batches at this rate).
    Other(u16),
}

/// Why a request got no status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoAnswer {
    /// The connection could not be made: nobody listens any more.
    Refused,
    /// The connection broke (reset or closed) before an answer came; in a graceful stop, an
    /// idle keep-alive connection closed as the next request arrived on it.
    Broken,
    /// The client's timeout passed without an answer.
    TimedOut,
}

impl NoAnswer {
    fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::TimedOut
        } else if error.is_connect() {
            Self::Refused
        } else {
            Self::Broken
        }
    }
}

/// One request of a client: the batch, what came back, and how long that took.
#[derive(Debug)]
struct Delivery {
    sent: Sent,
    answer: Answer,
    took: Duration,
}

/// How the client threads behave.
#[derive(Debug, Clone, Copy)]
struct Load {
    /// The HTTP client's timeout per request.
    timeout: Duration,
    /// Stop at the first request without an answer (the engine is going away), instead of
    /// going on until told to stop.
    stop_when_unanswered: bool,
}

/// The SIGKILL test's clients: they go on until told to stop.
const UNTIL_STOPPED: Load = Load {
    timeout: Duration::from_secs(30),
    stop_when_unanswered: false,
};

fn options(data_dir: &Path) -> EngineBuilder {
    EngineBuilder::new(data_dir).configure(|c| {
        c.server.shutdown_timeout_seconds = SHUTDOWN_TIMEOUT.as_secs();
        // The test must not depend on the free space of the machine it runs on. Processing
        // (which takes parked berichten out of the shards into boxes) is paced so it never
        // starts during the test: what is checked here is parking, and the store check reads
        // the parked berichten (processing under crashes is another test's subject).
        c.store.min_free_disk_bytes = 0;
        c.processing.beat_ms = 3_600_000;
    })
}

/// Registers the test's afnemers with a rate that never throttles, and answers their keys.
fn register_afnemers(engine: &Engine) -> Arc<Vec<String>> {
    Arc::new(
        (1..=AFNEMERS)
            .map(|n| {
                engine.afnemer(
                    &support::oin(n as u32),
                    json!({ "naam": format!("afnemer {n}"), "berichtenPerSeconde": 100_000, "burst": 100_000 }),
                )
            })
            .collect(),
    )
}

/// One client thread: delivers fresh batches until told to stop (or, if `load` says so, until
/// a request gets no answer).
fn client(
    base: String,
    keys: Arc<Vec<String>>,
    next_batch_no: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    load: Load,
) -> Vec<Delivery> {
    let http = reqwest::blocking::Client::builder()
        .timeout(load.timeout)
        .build()
        .expect("client");
    let mut rng = rand::rng();
    let mut deliveries = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let batch_no = next_batch_no.fetch_add(1, Ordering::SeqCst);
        let berichten = rng.random_range(1..=MAX_BERICHTEN);
        let afnemer = rng.random_range(0..AFNEMERS);
        let body = support::batch(batch_no, berichten);
        let started = Instant::now();
        let answer = match http
            .post(format!("{base}/v1/batches"))
            .bearer_auth(&keys[afnemer])
            .json(&body)
            .send()
        {
            Ok(response) if response.status() == 202 => Answer::Accepted,
            Ok(response) => Answer::Other(response.status().as_u16()),
            Err(error) => Answer::Unanswered(NoAnswer::of(&error)),
        };
        deliveries.push(Delivery {
            sent: Sent {
                batch_no,
                afnemer,
                berichten,
                body,
            },
            answer,
            took: started.elapsed(),
        });
        if load.stop_when_unanswered && matches!(answer, Answer::Unanswered(_)) {
            break;
        }
    }
    deliveries
}

/// Starts `CLIENTS` client threads against `base`.
fn start_clients(
    base: &str,
    keys: &Arc<Vec<String>>,
    next_batch_no: &Arc<AtomicU32>,
    stop: &Arc<AtomicBool>,
    load: Load,
) -> Vec<JoinHandle<Vec<Delivery>>> {
    (0..CLIENTS)
        .map(|_| {
            let (base, keys, next, stop) = (
                base.to_owned(),
                keys.clone(),
                next_batch_no.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || client(base, keys, next, stop, load))
        })
        .collect()
}

/// Waits for the client threads and answers all their deliveries.
fn join_clients(clients: Vec<JoinHandle<Vec<Delivery>>>) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for thread in clients {
        deliveries.extend(thread.join().expect("client thread"));
    }
    deliveries
}

/// `GET /v1/batches/{id}`: the status code and, when found, `aantalBerichten`.
fn status(engine: &Engine, key: &str, batch_id: &str) -> (u16, Option<u64>) {
    let response = engine
        .client
        .get(engine.url(&format!("/v1/batches/{batch_id}")))
        .bearer_auth(key)
        .send()
        .expect("get batch status");
    let code = response.status().as_u16();
    if code == 200 {
        let body: Value = response.json().expect("status json");
        (code, body["aantalBerichten"].as_u64())
    } else {
        (code, None)
    }
}

/// After a restart on the same data directory: every batch in `accepted` (answered 202 in any
/// round) is there with its number of berichten; every batch in `unsettled` (no 202) is either
/// wholly there or not at all, and delivering it again answers 202, or 200 when it had been
/// parked already (its answer lost), never 409. The unsettled batches then join `accepted`.
/// Answers the batch numbers of the unsettled batches that had been parked already.
fn check_after_restart(
    engine: &Engine,
    keys: &[String],
    round: usize,
    accepted: &mut HashMap<u32, Sent>,
    unsettled: Vec<Sent>,
) -> Vec<u32> {
    // Every 202 of every round so far is there, whole.
    for sent in accepted.values() {
        let (code, count) = status(engine, &keys[sent.afnemer], &sent.batch_id());
        assert_eq!(
            (code, count),
            (200, Some(u64::from(sent.berichten))),
            "round {round}: batch {} was answered 202 but after the restart it is not there whole",
            sent.batch_no
        );
    }
    // Every unsettled batch is wholly there or not at all, and redelivery parks it once.
    let mut lost_answers = Vec::new();
    for sent in unsettled {
        let key = &keys[sent.afnemer];
        let (code, count) = status(engine, key, &sent.batch_id());
        assert!(
            code == 404 || (code == 200 && count == Some(u64::from(sent.berichten))),
            "round {round}: batch {} of {} berichten, not answered 202, is half there: {code} {count:?}",
            sent.batch_no,
            sent.berichten
        );
        let response = engine.deliver(key, &sent.body);
        let code = response.status().as_u16();
        let body: Value = response.json().expect("redelivery json");
        assert!(
            code == 202 || code == 200,
            "round {round}: redelivering batch {} (not answered 202) answered {code}: {body}",
            sent.batch_no
        );
        assert_eq!(
            body["aantalBerichten"].as_u64(),
            Some(u64::from(sent.berichten)),
            "round {round}: redelivery of batch {}: {body}",
            sent.batch_no
        );
        if code == 200 {
            lost_answers.push(sent.batch_no);
        }
        accepted.insert(sent.batch_no, sent);
    }
    lost_answers
}

#[test]
fn every_202_survives_sigkill_and_redelivery_parks_nothing_twice() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let options = options(&data_dir);

    let mut engine = options.clone().spawn();
    let keys = register_afnemers(&engine);
    let next_batch_no = Arc::new(AtomicU32::new(1));
    // Every batch known to be parked, by batch number.
    let mut accepted: HashMap<u32, Sent> = HashMap::new();
    let mut rng = rand::rng();

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = start_clients(&engine.base, &keys, &next_batch_no, &stop, UNTIL_STOPPED);
        let delay = Duration::from_millis(rng.random_range(50..=600));
        std::thread::sleep(delay);
        engine.kill();
        stop.store(true, Ordering::SeqCst);
        let deliveries = join_clients(clients);

        let others: Vec<_> = deliveries
            .iter()
            .filter_map(|delivery| match delivery.answer {
                Answer::Other(code) => Some((delivery.sent.batch_no, code)),
                _ => None,
            })
            .collect();
        assert!(
            others.iter().all(|(_, code)| *code == 503),
            "round {round}: valid batches answered other than 202/503: {others:?}"
        );
        let mut unanswered = Vec::new();
        let mut accepted_now = 0;
        for Delivery { sent, answer, .. } in deliveries {
            if answer == Answer::Accepted {
                accepted_now += 1;
                accepted.insert(sent.batch_no, sent);
            } else {
                unanswered.push(sent);
            }
        }

        engine = options.clone().spawn();
        let lost_answers = check_after_restart(&engine, &keys, round, &mut accepted, unanswered);
        eprintln!(
            "round {round}: killed after {delay:?}, {accepted_now} batches answered 202, \
             {} parked with their answer lost, {} known parked, {:.1?} since start",
            lost_answers.len(),
            accepted.len(),
            started.elapsed()
        );
    }

    let exit = engine.terminate();
    assert!(exit.success(), "the engine did not stop cleanly: {exit}");

    check_store(&data_dir, &keys_oins(), &accepted);
    eprintln!(
        "{} batches, {} berichten checked in {:.1?}",
        accepted.len(),
        accepted.values().map(|s| s.berichten).sum::<u32>(),
        started.elapsed()
    );
}

#[test]
fn sigterm_under_load_ends_every_request_cleanly() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let options = options(&data_dir);
    // Long enough that only a request the engine holds past its own exit times out.
    let load = Load {
        timeout: SHUTDOWN_TIMEOUT + EXIT_MARGIN,
        stop_when_unanswered: true,
    };

    let mut engine = options.clone().spawn();
    let keys = register_afnemers(&engine);
    let next_batch_no = Arc::new(AtomicU32::new(1));
    // Every batch known to be parked, by batch number.
    let mut accepted: HashMap<u32, Sent> = HashMap::new();
    let mut rng = rand::rng();

    for round in 0..SIGTERM_ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = start_clients(&engine.base, &keys, &next_batch_no, &stop, load);
        let delay = Duration::from_millis(rng.random_range(100..=600));
        std::thread::sleep(delay);
        // The clients hold only the URL and the keys: they go on sending while the engine stops.
        // SIGINT (Ctrl-C) must be as graceful as SIGTERM: every other round uses it.
        let signal = if round % 2 == 1 { "INT" } else { "TERM" };
        let signalled = Instant::now();
        let exit = engine.stop_with(signal);
        let stopping = signalled.elapsed();
        stop.store(true, Ordering::SeqCst);
        let deliveries = join_clients(clients);

        assert!(
            exit.success(),
            "round {round}: SIG{signal} after {delay:?} under load: the engine exited with {exit}"
        );
        assert!(
            stopping <= SHUTDOWN_TIMEOUT + EXIT_MARGIN,
            "round {round}: the engine took {stopping:?} to exit after SIGTERM \
             (shutdown timeout {SHUTDOWN_TIMEOUT:?})"
        );
        let wrong: Vec<_> = deliveries
            .iter()
            .filter(|delivery| {
                matches!(
                    delivery.answer,
                    Answer::Unanswered(NoAnswer::TimedOut) | Answer::Other(_)
                ) && delivery.answer != Answer::Other(503)
            })
            .map(|delivery| (delivery.sent.batch_no, delivery.answer, delivery.took))
            .collect();
        assert!(
            wrong.is_empty(),
            "round {round}: valid batches answered other than 202/503 or not within the client's \
             timeout: {wrong:?}"
        );

        let slowest = deliveries
            .iter()
            .map(|delivery| delivery.took)
            .max()
            .unwrap_or_default();
        let mut unsettled = Vec::new();
        let mut unanswered = Vec::new();
        let (mut accepted_now, mut unavailable, mut refused, mut broken) = (0, 0, 0, 0);
        for Delivery { sent, answer, .. } in deliveries {
            match answer {
                Answer::Accepted => {
                    accepted_now += 1;
                    accepted.insert(sent.batch_no, sent);
                    continue;
                }
                Answer::Other(_) => unavailable += 1,
                Answer::Unanswered(why) => {
                    if why == NoAnswer::Refused {
                        refused += 1;
                    } else {
                        broken += 1;
                    }
                    unanswered.push((sent.batch_no, why));
                }
            }
            unsettled.push(sent);
        }

        engine = options.clone().spawn();
        let lost_answers = check_after_restart(&engine, &keys, round, &mut accepted, unsettled);
        // A graceful stop answers what it took in: nothing parked may have gone unanswered.
        let dropped: Vec<_> = unanswered
            .iter()
            .filter(|(batch_no, _)| lost_answers.contains(batch_no))
            .collect();
        assert!(
            lost_answers.is_empty(),
            "round {round}: batches parked but answered 503 or not at all during the graceful \
             stop: {lost_answers:?} (of which without an answer: {dropped:?})"
        );
        eprintln!(
            "round {round}: SIGTERM after {delay:?}, exit 0 after {stopping:.1?}; \
             {accepted_now} answered 202, {unavailable} 503, {refused} refused, {broken} broken; \
             slowest request {slowest:.1?}; {} known parked, {:.1?} since start",
            accepted.len(),
            started.elapsed()
        );
    }

    let exit = engine.terminate();
    assert!(exit.success(), "the engine did not stop cleanly: {exit}");

    check_store(&data_dir, &keys_oins(), &accepted);
    eprintln!(
        "{} batches, {} berichten checked in {:.1?}",
        accepted.len(),
        accepted.values().map(|s| s.berichten).sum::<u32>(),
        started.elapsed()
    );
}

fn keys_oins() -> Vec<String> {
    (1..=AFNEMERS).map(|n| support::oin(n as u32)).collect()
}

/// Reads the stopped engine's store directly and compares it with what was accepted.
fn check_store(data_dir: &Path, oins: &[String], accepted: &HashMap<u32, Sent>) {
    let store = options(data_dir).open_store();

    // bericht id -> (its batch, its index in the batch)
    let mut expected: HashMap<String, (&Sent, usize)> = HashMap::new();
    for sent in accepted.values() {
        let record = store
            .find_batch(&oins[sent.afnemer], &sent.batch_id())
            .expect("find_batch")
            .unwrap_or_else(|| panic!("accepted batch {} has no record", sent.batch_no));
        assert_eq!(record.aantal_berichten, sent.berichten);
        let berichten = sent.body["berichten"].as_array().expect("berichten");
        for (index, bericht) in berichten.iter().enumerate() {
            let id = bericht["berichtId"].as_str().expect("berichtId").to_owned();
            assert!(expected.insert(id, (sent, index)).is_none());
        }
    }

    let base64 = base64::engine::general_purpose::STANDARD;
    let mut seen: HashSet<String> = HashSet::new();
    for shard in 0..store.shard_count() {
        let mut after: Option<u64> = None;
        loop {
            let page = store
                .parked_berichten(shard, after, 500)
                .expect("parked_berichten");
            for message in &page {
                assert!(
                    after.is_none_or(|previous| previous < message.seq),
                    "shard {shard}: seq {} after {after:?}",
                    message.seq
                );
                after = Some(message.seq);
                assert!(
                    seen.insert(message.inhoud.bericht_id.clone()),
                    "bericht {} is parked twice (second time in shard {shard} at seq {})",
                    message.inhoud.bericht_id,
                    message.seq
                );
                let Some(&(sent, index)) = expected.get(&message.inhoud.bericht_id) else {
                    panic!("shard {shard} holds a bericht never accepted: {message:?}");
                };
                let bericht = &sent.body["berichten"][index];
                assert_eq!(message.oin, oins[sent.afnemer]);
                assert_eq!(message.batch_id, sent.batch_id());
                assert_eq!(message.index as usize, index);
                assert_eq!(message.inhoud.bericht_type, bericht["berichtType"]);
                assert_eq!(message.ontvanger, bericht["ontvanger"]);
                assert_eq!(message.inhoud.onderwerp, bericht["onderwerp"]);
                assert_eq!(message.inhoud.tekst, bericht["tekst"]);
                let bijlagen = bericht["bijlagen"]
                    .as_array()
                    .map_or(&[][..], |b| b.as_slice());
                assert_eq!(
                    message.inhoud.bijlagen.len(),
                    bijlagen.len(),
                    "bericht {}",
                    message.inhoud.bericht_id
                );
                for (reference, bijlage) in message.inhoud.bijlagen.iter().zip(bijlagen) {
                    assert_eq!(reference.omschrijving, bijlage["omschrijving"]);
                    assert_eq!(reference.mediatype, bijlage["mediatype"]);
                    let sent_bytes = base64
                        .decode(bijlage["inhoud"].as_str().expect("inhoud"))
                        .expect("base64 that was sent");
                    let stored = store.bijlage(reference).expect("bijlage");
                    assert!(
                        stored.as_deref() == Some(sent_bytes.as_slice()),
                        "attachment {reference:?} of bericht {} differs from what was sent",
                        message.inhoud.bericht_id
                    );
                }
            }
            if page.len() < 500 {
                break;
            }
        }
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|id| !seen.contains(*id))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "accepted berichten missing from the store (first 10): {missing:?}"
    );
    assert_eq!(seen.len(), expected.len());
}
