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

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use berichtenbox_actors::store::Store;
use berichtenbox_actors::store::embedded::{EmbeddedConfig, EmbeddedStore};
use common::{Engine, Options};
use rand::Rng as _;
use serde_json::{Value, json};

const ROUNDS: usize = 12;
const CLIENTS: usize = 6;
const AFNEMERS: usize = 2;
const MAX_BERICHTEN: u32 = 50;

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
    /// No status line: connection refused, reset or closed by the kill.
    Unanswered,
    /// Any other status (none is expected from valid batches at this rate).
    Other(u16),
}

fn options() -> Options {
    Options {
        server: "shutdown_timeout_seconds = 10".to_owned(),
        // The test must not depend on the free space of the machine it runs on.
        sections: "[store]\nmin_free_disk_bytes = 0\n".to_owned(),
    }
}

/// One client thread: delivers fresh batches until told to stop.
fn client(
    base: String,
    keys: Arc<Vec<String>>,
    next_batch_no: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
) -> Vec<(Sent, Answer)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut rng = rand::rng();
    let mut sent = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let batch_no = next_batch_no.fetch_add(1, Ordering::SeqCst);
        let berichten = rng.random_range(1..=MAX_BERICHTEN);
        let afnemer = rng.random_range(0..AFNEMERS);
        let body = common::batch(batch_no, berichten);
        let answer = match http
            .post(format!("{base}/v1/batches"))
            .bearer_auth(&keys[afnemer])
            .json(&body)
            .send()
        {
            Ok(response) if response.status() == 202 => Answer::Accepted,
            Ok(response) => Answer::Other(response.status().as_u16()),
            Err(_) => Answer::Unanswered,
        };
        sent.push((
            Sent {
                batch_no,
                afnemer,
                berichten,
                body,
            },
            answer,
        ));
    }
    sent
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

#[test]
fn every_202_survives_sigkill_and_redelivery_parks_nothing_twice() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let options = options();

    let mut engine = Engine::start_with(&data_dir, &options);
    let keys: Arc<Vec<String>> = Arc::new(
        (1..=AFNEMERS)
            .map(|n| {
                engine.afnemer(
                    &common::oin(n as u32),
                    json!({ "naam": format!("afnemer {n}"), "berichtenPerSeconde": 100_000, "burst": 100_000 }),
                )
            })
            .collect(),
    );
    let next_batch_no = Arc::new(AtomicU32::new(1));
    // Every batch known to be parked, by batch number.
    let mut accepted: HashMap<u32, Sent> = HashMap::new();
    let mut rng = rand::rng();

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (base, keys, next, stop) = (
                    engine.base.clone(),
                    keys.clone(),
                    next_batch_no.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || client(base, keys, next, stop))
            })
            .collect();
        let delay = Duration::from_millis(rng.random_range(50..=600));
        std::thread::sleep(delay);
        engine.kill();
        stop.store(true, Ordering::SeqCst);
        let mut answers: Vec<(Sent, Answer)> = Vec::new();
        for thread in clients {
            answers.extend(thread.join().expect("client thread"));
        }

        let others: Vec<_> = answers
            .iter()
            .filter_map(|(sent, answer)| match answer {
                Answer::Other(code) => Some((sent.batch_no, *code)),
                _ => None,
            })
            .collect();
        assert!(
            others.iter().all(|(_, code)| *code == 503),
            "round {round}: valid batches answered other than 202/503: {others:?}"
        );
        let mut unanswered = Vec::new();
        let mut accepted_now = 0;
        for (sent, answer) in answers {
            if answer == Answer::Accepted {
                accepted_now += 1;
                accepted.insert(sent.batch_no, sent);
            } else {
                unanswered.push(sent);
            }
        }

        engine = Engine::start_with(&data_dir, &options);

        // Every 202 of every round so far is there, whole.
        for sent in accepted.values() {
            let (code, count) = status(&engine, &keys[sent.afnemer], &sent.batch_id());
            assert_eq!(
                (code, count),
                (200, Some(u64::from(sent.berichten))),
                "round {round}: batch {} was answered 202 but after the crash it is not there whole",
                sent.batch_no
            );
        }
        // Every unanswered batch is wholly there or not at all, and redelivery parks it once.
        let mut lost_answers = 0;
        for sent in unanswered {
            let key = &keys[sent.afnemer];
            let (code, count) = status(&engine, key, &sent.batch_id());
            assert!(
                code == 404 || (code == 200 && count == Some(u64::from(sent.berichten))),
                "round {round}: unanswered batch {} of {} berichten is half there: {code} {count:?}",
                sent.batch_no,
                sent.berichten
            );
            let response = engine.deliver(key, &sent.body);
            let code = response.status().as_u16();
            let body: Value = response.json().expect("redelivery json");
            assert!(
                code == 202 || code == 200,
                "round {round}: redelivering unanswered batch {} answered {code}: {body}",
                sent.batch_no
            );
            assert_eq!(
                body["aantalBerichten"].as_u64(),
                Some(u64::from(sent.berichten)),
                "round {round}: redelivery of batch {}: {body}",
                sent.batch_no
            );
            if code == 200 {
                lost_answers += 1;
            }
            accepted.insert(sent.batch_no, sent);
        }
        eprintln!(
            "round {round}: killed after {delay:?}, {accepted_now} batches answered 202, \
             {lost_answers} parked with their answer lost, {} known parked, {:.1?} since start",
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
    (1..=AFNEMERS).map(|n| common::oin(n as u32)).collect()
}

/// Reads the stopped engine's store directly and compares it with what was accepted.
fn check_store(data_dir: &Path, oins: &[String], accepted: &HashMap<u32, Sent>) {
    let store = EmbeddedStore::open(EmbeddedConfig {
        data_dir: data_dir.to_owned(),
        shards: 4,
        queue_capacity: 16,
        max_group_messages: 1000,
        min_free_disk_bytes: 0,
        cache_bytes_per_shard: 8 << 20,
    })
    .expect("open the engine's store");

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
                .parked_messages(shard, after, 500)
                .expect("parked_messages");
            for message in &page {
                assert!(
                    after.is_none_or(|previous| previous < message.seq),
                    "shard {shard}: seq {} after {after:?}",
                    message.seq
                );
                after = Some(message.seq);
                assert!(
                    seen.insert(message.bericht_id.clone()),
                    "bericht {} is parked twice (second time in shard {shard} at seq {})",
                    message.bericht_id,
                    message.seq
                );
                let Some(&(sent, index)) = expected.get(&message.bericht_id) else {
                    panic!("shard {shard} holds a bericht never accepted: {message:?}");
                };
                let bericht = &sent.body["berichten"][index];
                assert_eq!(message.oin, oins[sent.afnemer]);
                assert_eq!(message.batch_id, sent.batch_id());
                assert_eq!(message.index as usize, index);
                assert_eq!(message.bericht_type, bericht["berichtType"]);
                assert_eq!(message.ontvanger, bericht["ontvanger"]);
                assert_eq!(message.onderwerp, bericht["onderwerp"]);
                assert_eq!(message.tekst, bericht["tekst"]);
                let bijlagen = bericht["bijlagen"]
                    .as_array()
                    .map_or(&[][..], |b| b.as_slice());
                assert_eq!(
                    message.bijlagen.len(),
                    bijlagen.len(),
                    "bericht {}",
                    message.bericht_id
                );
                for (reference, bijlage) in message.bijlagen.iter().zip(bijlagen) {
                    assert_eq!(reference.omschrijving, bijlage["omschrijving"]);
                    assert_eq!(reference.mediatype, bijlage["mediatype"]);
                    let sent_bytes = base64
                        .decode(bijlage["inhoud"].as_str().expect("inhoud"))
                        .expect("base64 that was sent");
                    let stored = store.bijlage(reference).expect("bijlage");
                    assert!(
                        stored.as_deref() == Some(sent_bytes.as_slice()),
                        "attachment {reference:?} of bericht {} differs from what was sent",
                        message.bericht_id
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
