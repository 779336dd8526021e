//! Crash test of processing in the real `berichtenbox` binary: whatever moment a SIGKILL hits,
//! every parked bericht is decided exactly once, lands in at most one box, and yields at most
//! (and, when due, exactly) one notification.
//!
//! Set-up, once, on one data directory: two afnemers with a rate that never throttles, each with
//! berichttype `AANSLAG`; thirty citizens, of whom some have a box with an e-mail address and
//! notifications on, some a box with an e-mail address and notifications off, some a box without
//! an e-mail address, and some no box at all.
//!
//! Then, for a dozen rounds: a few client threads deliver batches of 1 to 50 berichten to random
//! citizens for a random 100-700 ms while the engine processes what is parked, and the engine is
//! SIGKILLed while they are still sending. About one batch in five re-uses some berichtIds (with
//! their recipients) of an earlier batch of the same afnemer, a quarter of the time one of the
//! latest (likely still in flight, so both copies are processed side by side); one in twenty
//! carries one or two of eight "hot" berichtIds of its afnemer, so copies of one id are parked in
//! several shards at once. After each kill the store is opened directly, only to count how much
//! work the kill interrupted (batches still parked, and berichten already in a box whose batch
//! was not settled yet: the kill fell between `deliver` and `complete`); then the engine is
//! started again and every batch of the round that got no 202 is delivered again, which must
//! answer 202, or 200 when it had been parked, never 409. Meanwhile one thread per afnemer
//! follows its receipt feed live, across the kills, from the last `volgende` it was given.
//!
//! After the last round, once every batch is `verwerkt` (polled, with a deadline):
//!
//! - each receipt (`GET /v1/batches/{id}`) lists every berichtId of its batch exactly once, with
//!   a code and stadium that fit its recipient (no box: `NietActiefOfGeabonneerd`; a box:
//!   `Verwerkt` or `BerichtBestaatAl`), and its counts agree with its list;
//! - of all copies of one berichtId of one afnemer to a citizen with a box, exactly one is
//!   `Verwerkt` and every other is `BerichtBestaatAl` (which copy is not asserted; how often the
//!   delivered copy was received after a refused one is only reported);
//! - the citizens' boxes (`GET /v1/account/berichten`, paged with `volgende`) hold exactly the
//!   `Verwerkt` copies, each once, in the right box, and their number is the sum of the
//!   receipts' `aantalSuccesvolVerwerkt`; a citizen without a box has none (404);
//! - `GET /v1/verwerkingsberichten`, paged with `volgende`, yields every receipt of the afnemer
//!   exactly once, equal to the batch's own, in order of `verwerktOp`;
//! - the outbox folder `<data_dir>/outbox` comes to hold exactly one `<box id>.eml` per box entry
//!   of a citizen with an e-mail address and notifications on, addressed to him, and nothing
//!   else; after a SIGTERM (which must succeed) the store holds no parked bericht and no pending
//!   notification other than for those entries, and the outbox is still exactly that;
//! - last, the live followers were shown every receipt of their afnemer: none became ready
//!   behind a cursor already handed out.

use crate::support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{EngineBuilder, Process as Engine};
use base64::Engine as _;
use berichtenbox_actors::store::Store;
use rand::Rng as _;
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use serde_json::{Value, json};

const ROUNDS: usize = 12;
const CLIENTS: usize = 3;
const AFNEMERS: usize = 2;
const CITIZENS: usize = 30;
const MAX_BERICHTEN: usize = 50;
/// Percentage of batches that re-use berichtIds of an earlier batch.
const REUSE_PERCENT: u32 = 20;
/// Percentage of batches that carry one or two of their afnemer's hot berichten.
const HOT_PERCENT: u32 = 5;
/// Hot berichten per afnemer.
const HOT: usize = 8;
/// A re-using batch takes, this percentage of the time, one of the [`RECENT`] latest batches of
/// its afnemer (else any earlier one).
const RECENT_PERCENT: u32 = 25;
const RECENT: usize = 6;
/// How long the clients send before the kill, in milliseconds.
const SEND_MS: std::ops::RangeInclusive<u64> = 100..=700;
/// How long all batches may take to be processed after the last restart.
const PROCESSED_DEADLINE: Duration = Duration::from_secs(60);
/// How long the notifications may take to reach the outbox once everything is processed.
const OUTBOX_DEADLINE: Duration = Duration::from_secs(60);
/// The engine's shard count (the default; the store is opened directly with it).
const SHARDS: usize = 4;

// ---------------------------------------------------------------------------------------------
// Citizens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A box, an e-mail address, notifications on.
    Notified,
    /// A box and an e-mail address, notifications turned off.
    Quiet,
    /// A box without an e-mail address.
    NoEmail,
    /// No box at all.
    NoAccount,
}

#[derive(Debug, Clone)]
struct Citizen {
    bsn: String,
    role: Role,
    email: Option<String>,
    token: String,
}

fn citizens() -> Vec<Citizen> {
    let list: Vec<Citizen> = (0..CITIZENS)
        .map(|i| {
            let bsn = support::bsn(50_000 + 100 * i as u32);
            let role = match i % 5 {
                0 => Role::Notified,
                1 | 2 => Role::Quiet,
                3 => Role::NoEmail,
                _ => Role::NoAccount,
            };
            let email = matches!(role, Role::Notified | Role::Quiet)
                .then(|| format!("burger{i}@voorbeeld.nl"));
            Citizen {
                token: support::burger_token(&bsn),
                bsn,
                role,
                email,
            }
        })
        .collect();
    let distinct: HashSet<&str> = list.iter().map(|c| c.bsn.as_str()).collect();
    assert_eq!(distinct.len(), list.len(), "the test's BSNs must differ");
    list
}

fn open_boxes(engine: &Engine, citizens: &[Citizen]) {
    for citizen in citizens {
        if citizen.role == Role::NoAccount {
            continue;
        }
        let body = match &citizen.email {
            Some(email) => json!({ "email": email }),
            None => json!({}),
        };
        let response = engine
            .client
            .post(engine.url("/v1/account"))
            .bearer_auth(&citizen.token)
            .json(&body)
            .send()
            .expect("post account");
        assert_eq!(response.status(), 201, "open box of {}", citizen.bsn);
        if citizen.role == Role::Quiet {
            let response = engine
                .client
                .patch(engine.url("/v1/account"))
                .bearer_auth(&citizen.token)
                .json(&json!({ "notificaties": false }))
                .send()
                .expect("patch account");
            assert_eq!(
                response.status(),
                200,
                "notifications off for {}",
                citizen.bsn
            );
            let account: Value = response.json().expect("account json");
            assert_eq!(account["notificaties"], false, "{account}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batches and clients
// ---------------------------------------------------------------------------------------------

/// A batch as a client sent it.
#[derive(Debug, Clone)]
struct Sent {
    batch_no: u32,
    afnemer: usize,
    body: Value,
    /// (berichtId, ontvanger) in the batch's order.
    berichten: Vec<(String, String)>,
}

impl Sent {
    fn batch_id(&self) -> &str {
        self.body["batchId"].as_str().expect("batchId")
    }
}

/// A bericht's subject: its berichtId and the number of the batch that carried this copy, so a
/// box entry names the copy that was delivered. At most 43 characters (the limit is 50).
fn onderwerp(bericht_id: &str, batch_no: u32) -> String {
    format!("{bericht_id} b{batch_no}")
}

/// Parses [`onderwerp`] back.
fn parse_onderwerp(onderwerp: &str) -> Option<(String, u32)> {
    let (id, batch) = onderwerp.split_once(" b")?;
    Some((id.to_owned(), batch.parse().ok()?))
}

/// An afnemer's few "hot" berichten (id and recipient, who has a box), which many batches
/// carry: copies of one berichtId parked in several shards at once.
fn hot_berichten(afnemer: usize, citizens: &[Citizen]) -> Vec<(String, String)> {
    let with_box: Vec<&Citizen> = citizens
        .iter()
        .filter(|c| c.role != Role::NoAccount)
        .collect();
    (0..HOT)
        .map(|h| {
            (
                support::guid(0xff00_0000 | afnemer as u32, h as u32),
                with_box[h % with_box.len()].bsn.clone(),
            )
        })
        .collect()
}

/// A fresh batch for `afnemer`; sometimes with some of its hot berichten, sometimes re-using
/// berichten (ids and recipients) of an earlier batch of the same afnemer from `earlier`.
fn make_batch(
    batch_no: u32,
    afnemer: usize,
    citizens: &[Citizen],
    earlier: &[Sent],
    rng: &mut impl rand::Rng,
) -> Sent {
    let n = rng.random_range(1..=MAX_BERICHTEN);
    let mut berichten: Vec<(String, String)> = Vec::with_capacity(n);
    if rng.random_ratio(HOT_PERCENT, 100) {
        let hot = hot_berichten(afnemer, citizens);
        let h = rng.random_range(1..=n.min(2));
        berichten.extend(hot.choose_multiple(rng, h).cloned());
    }
    if rng.random_ratio(REUSE_PERCENT, 100) && berichten.len() < n {
        let candidates: Vec<&Sent> = earlier.iter().filter(|s| s.afnemer == afnemer).collect();
        // Now and then one of the latest: likely still on its way, so the two copies are parked
        // and processed side by side, in any order.
        let candidates = if rng.random_ratio(RECENT_PERCENT, 100) {
            &candidates[candidates.len().saturating_sub(RECENT)..]
        } else {
            &candidates[..]
        };
        if let Some(original) = candidates.choose(rng) {
            let k = rng.random_range(1..=(n - berichten.len()).min(original.berichten.len()));
            let taken: Vec<(String, String)> = original
                .berichten
                .choose_multiple(rng, k)
                .filter(|b| !berichten.contains(b))
                .cloned()
                .collect();
            berichten.extend(taken);
        }
    }
    let fresh = n - berichten.len();
    for i in 0..fresh {
        let ontvanger = citizens.choose(rng).expect("citizens").bsn.clone();
        berichten.push((support::guid(batch_no, i as u32), ontvanger));
    }
    berichten.shuffle(rng);

    let aanmaak = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let json_berichten: Vec<Value> = berichten
        .iter()
        .enumerate()
        .map(|(i, (id, ontvanger))| {
            let mut bericht = json!({
                "berichtId": id,
                "berichtType": "AANSLAG",
                "ontvanger": ontvanger,
                "onderwerp": onderwerp(id, batch_no),
                "tekst": format!("Tekst van {id} in batch {batch_no}."),
            });
            if i % 3 == 0 {
                let inhoud = base64::engine::general_purpose::STANDARD
                    .encode(format!("%PDF-1.4 {id} {batch_no}").repeat(4));
                bericht["bijlagen"] = json!([
                    { "omschrijving": "Brief", "mediatype": "application/pdf", "inhoud": inhoud }
                ]);
            }
            bericht
        })
        .collect();
    Sent {
        batch_no,
        afnemer,
        body: json!({
            "batchId": support::guid(batch_no, 0xffff_ffff),
            "aanmaakDatum": aanmaak,
            "berichten": json_berichten,
        }),
        berichten,
    }
}

/// What a client heard back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accepted,
    /// No status line: refused, reset or closed by the kill.
    Unanswered,
    Other(u16),
}

/// What the client threads share over all rounds.
#[derive(Clone)]
struct Shared {
    keys: Arc<Vec<String>>,
    citizens: Arc<Vec<Citizen>>,
    next_batch_no: Arc<AtomicU32>,
    /// Every batch ever sent, for re-use of berichtIds.
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// One client thread: delivers batches to `base` until told to stop.
fn client(shared: Shared, base: String, stop: Arc<AtomicBool>) -> Vec<(Sent, Answer)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut rng = rand::rng();
    let mut deliveries = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let batch_no = shared.next_batch_no.fetch_add(1, Ordering::SeqCst);
        let afnemer = rng.random_range(0..AFNEMERS);
        let sent = {
            let mut all = shared.sent.lock().expect("sent");
            let sent = make_batch(batch_no, afnemer, &shared.citizens, &all, &mut rng);
            all.push(sent.clone());
            sent
        };
        let answer = match http
            .post(format!("{base}/v1/batches"))
            .bearer_auth(&shared.keys[afnemer])
            .json(&sent.body)
            .send()
        {
            Ok(response) if response.status() == 202 => Answer::Accepted,
            Ok(response) => Answer::Other(response.status().as_u16()),
            Err(_) => Answer::Unanswered,
        };
        deliveries.push((sent, answer));
    }
    deliveries
}

/// Page size of the feed's live followers: small, so their cursor moves often.
const FOLLOW_LIMIT: usize = 1;

/// An afnemer reading its feed while it fills, across the kills, as an afnemer would: it keeps
/// the last `volgende` it was given and reads on from there (every page carries the cursor
/// after its last receipt, an empty one the cursor it was asked with), so it is shown each
/// receipt exactly once: a receipt shown twice fails the test. Ends at the first empty page
/// that it asked for after `finish` was set. Answers every batchId it was shown.
fn follow(base: Arc<Mutex<String>>, key: String, finish: Arc<AtomicBool>) -> HashSet<String> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    loop {
        let finishing = finish.load(Ordering::SeqCst);
        let base = base.lock().expect("base").clone();
        let url = match &cursor {
            Some(na) => format!("{base}/v1/verwerkingsberichten?limit={FOLLOW_LIMIT}&na={na}"),
            None => format!("{base}/v1/verwerkingsberichten?limit={FOLLOW_LIMIT}"),
        };
        let page: Value = match http.get(&url).bearer_auth(&key).send() {
            Ok(response) => {
                let status = response.status();
                match response.json::<Value>() {
                    Ok(page) => {
                        assert_eq!(status, 200, "follower: GET {url}: {page}");
                        page
                    }
                    // The body was cut off by a kill.
                    Err(_) => continue,
                }
            }
            // The engine is down or restarting.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let receipts = page["verwerkingsberichten"]
            .as_array()
            .expect("verwerkingsberichten");
        for receipt in receipts {
            let batch_id = receipt["batchId"].as_str().expect("batchId").to_owned();
            assert!(
                seen.insert(batch_id.clone()),
                "follower: receipt {batch_id} shown twice"
            );
        }
        if let Some(next) = page["volgende"].as_str() {
            cursor = Some(next.to_owned());
        }
        if receipts.is_empty() {
            if finishing {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The store, read directly while the engine is down
// ---------------------------------------------------------------------------------------------

fn open_store(data_dir: &Path) -> Arc<dyn Store> {
    options(data_dir).open_store()
}

/// What a kill left unfinished.
#[derive(Debug, Default)]
struct Interrupted {
    parked_batches: usize,
    parked_berichten: usize,
    /// Berichten already in a box whose batch is still parked.
    delivered_unsettled: usize,
}

fn interrupted(data_dir: &Path, citizens: &[Citizen]) -> Interrupted {
    let store = open_store(data_dir);
    let mut found = Interrupted::default();
    let mut parked: HashSet<(String, String)> = HashSet::new();
    for shard in 0..store.shard_count() {
        for batch in store
            .parked_batches(shard, usize::MAX)
            .expect("parked_batches")
        {
            found.parked_batches += 1;
            found.parked_berichten += batch.berichten.len();
            parked.insert((batch.record.oin, batch.record.batch_id));
        }
    }
    for citizen in citizens.iter().filter(|c| c.role != Role::NoAccount) {
        for entry in store
            .box_entries(&citizen.bsn, None, usize::MAX)
            .expect("box_entries")
        {
            if parked.contains(&(entry.oin, entry.batch_id)) {
                found.delivered_unsettled += 1;
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

fn options(data_dir: &Path) -> EngineBuilder {
    EngineBuilder::new(data_dir).configure(|c| {
        c.store.shards = SHARDS;
        // Smaller rounds than the default, so a kill finds more of them under way; and the test
        // must not depend on the free space of the machine it runs on.
        c.store.min_free_disk_bytes = 0;
        c.processing.round_berichten = 256;
    })
}

fn get_json(engine: &Engine, token: &str, path: &str) -> (u16, Value) {
    let response = engine
        .client
        .get(engine.url(path))
        .bearer_auth(token)
        .send()
        .unwrap_or_else(|error| panic!("GET {path}: {error}"));
    let status = response.status().as_u16();
    let body = response.json().unwrap_or(Value::Null);
    (status, body)
}

/// Delivers again every batch of a round that got no 202: 202, or 200 when it was parked
/// already, never 409. Answers how many were parked already.
fn redeliver(engine: &Engine, keys: &[String], round: usize, unsettled: &[Sent]) -> usize {
    let mut parked_already = 0;
    for sent in unsettled {
        let response = engine.deliver(&keys[sent.afnemer], &sent.body);
        let code = response.status().as_u16();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(
            code == 202 || code == 200,
            "round {round}: redelivering batch {} (no 202 before) answered {code}: {body}",
            sent.batch_no
        );
        assert_eq!(
            body["aantalBerichten"].as_u64(),
            Some(sent.berichten.len() as u64),
            "round {round}: redelivery of batch {}: {body}",
            sent.batch_no
        );
        if code == 200 {
            parked_already += 1;
        }
    }
    parked_already
}

/// Every item of a citizen's box, paging with `volgende`.
fn box_items(engine: &Engine, citizen: &Citizen) -> Vec<Value> {
    engine.burger(&citizen.bsn).box_all()
}

/// Every receipt in an afnemer's feed, paging with `volgende`.
fn feed(engine: &Engine, key: &str) -> Vec<Value> {
    engine.receipts_all(key)
}

/// The `<id>.eml` names in the outbox (ids without the extension), and every other file.
fn outbox(dir: &Path) -> (HashSet<String>, Vec<String>) {
    let mut emls = HashSet::new();
    let mut others = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (emls, others);
    };
    for entry in entries {
        let name = entry.expect("outbox entry").file_name();
        let name = name.to_string_lossy().into_owned();
        match name.strip_suffix(".eml") {
            Some(id) if !id.starts_with('.') => {
                emls.insert(id.to_owned());
            }
            _ => others.push(name),
        }
    }
    (emls, others)
}

/// The outbox holds exactly one `.eml` per expected id, each to the expected address, and no
/// other file.
fn check_outbox(dir: &Path, expected: &HashMap<String, String>, when: &str) {
    let (emls, others) = outbox(dir);
    let missing: Vec<_> = expected.keys().filter(|id| !emls.contains(*id)).collect();
    let extra: Vec<_> = emls
        .iter()
        .filter(|id| !expected.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && others.is_empty(),
        "{when}: the outbox holds {} .eml files for {} notified box entries; missing (first 10 \
         of {}): {:?}; not due (first 10 of {}): {:?}; other files: {others:?}",
        emls.len(),
        expected.len(),
        missing.len(),
        missing.iter().take(10).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(10).collect::<Vec<_>>(),
    );
    for (id, email) in expected {
        let path = dir.join(format!("{id}.eml"));
        let text = std::fs::read_to_string(&path).expect("read .eml");
        let to = text
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with("to:"))
            .unwrap_or_else(|| panic!("{}: no To header", path.display()));
        assert!(
            to.contains(email.as_str()),
            "{when}: {} is addressed {to:?}, not to {email}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/// A bericht copy's decision as its batch's receipt states it.
#[derive(Debug, Clone)]
struct Decision {
    batch_no: u32,
    code: String,
    /// The batch's `ontvangenOp`.
    ontvangen_op: jiff::Timestamp,
}

#[test]
fn sigkill_during_processing_decides_every_bericht_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let options = options(&data_dir);
    let citizens = Arc::new(citizens());
    let by_bsn: HashMap<&str, &Citizen> = citizens.iter().map(|c| (c.bsn.as_str(), c)).collect();

    let mut engine = options.clone().spawn();
    let keys: Arc<Vec<String>> = Arc::new(
        (1..=AFNEMERS)
            .map(|n| {
                let key = engine.afnemer(
                    &support::oin(n as u32),
                    json!({
                        "naam": format!("afnemer {n}"),
                        "berichtenPerSeconde": 100_000,
                        "burst": 100_000
                    }),
                );
                engine.berichttype(&key, "AANSLAG", true);
                key
            })
            .collect(),
    );
    open_boxes(&engine, &citizens);

    let shared = Shared {
        keys: keys.clone(),
        citizens: citizens.clone(),
        next_batch_no: Arc::new(AtomicU32::new(1)),
        sent: Arc::new(Mutex::new(Vec::new())),
    };
    let follow_base = Arc::new(Mutex::new(engine.base.clone()));
    let finish = Arc::new(AtomicBool::new(false));
    let followers: Vec<JoinHandle<HashSet<String>>> = keys
        .iter()
        .map(|key| {
            let (base, key, finish) = (follow_base.clone(), key.clone(), finish.clone());
            std::thread::spawn(move || follow(base, key, finish))
        })
        .collect();
    // Every batch known to be parked, by batch number.
    let mut parked: BTreeMap<u32, Sent> = BTreeMap::new();
    let mut rng = rand::rng();
    let mut totals = Interrupted::default();
    let mut kills_mid_round = 0;

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<JoinHandle<Vec<(Sent, Answer)>>> = (0..CLIENTS)
            .map(|_| {
                let (shared, base, stop) = (shared.clone(), engine.base.clone(), stop.clone());
                std::thread::spawn(move || client(shared, base, stop))
            })
            .collect();
        let delay = Duration::from_millis(rng.random_range(SEND_MS));
        std::thread::sleep(delay);
        engine.kill();
        stop.store(true, Ordering::SeqCst);
        let mut deliveries = Vec::new();
        for thread in clients {
            deliveries.extend(thread.join().expect("client thread"));
        }

        let others: Vec<_> = deliveries
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
        let mut unsettled = Vec::new();
        let (mut accepted, mut unanswered) = (0, 0);
        for (sent, answer) in deliveries {
            match answer {
                Answer::Accepted => {
                    accepted += 1;
                    parked.insert(sent.batch_no, sent);
                }
                Answer::Unanswered | Answer::Other(_) => {
                    unanswered += 1;
                    unsettled.push(sent);
                }
            }
        }

        let cut = interrupted(&data_dir, &citizens);
        if cut.delivered_unsettled > 0 {
            kills_mid_round += 1;
        }
        totals.parked_batches += cut.parked_batches;
        totals.parked_berichten += cut.parked_berichten;
        totals.delivered_unsettled += cut.delivered_unsettled;

        engine = options.clone().spawn();
        *follow_base.lock().expect("base") = engine.base.clone();
        let parked_already = redeliver(&engine, &keys, round, &unsettled);
        for sent in unsettled {
            parked.insert(sent.batch_no, sent);
        }
        eprintln!(
            "round {round}: killed after {delay:?}: {accepted} answered 202, {unanswered} not \
             ({parked_already} of them parked already); at the kill {} batches ({} berichten) \
             parked, {} berichten delivered of unsettled batches; {} batches in all, {:.1?}",
            cut.parked_batches,
            cut.parked_berichten,
            cut.delivered_unsettled,
            parked.len(),
            started.elapsed()
        );
    }

    // ---- every batch processed ----------------------------------------------------------
    let until = Instant::now() + PROCESSED_DEADLINE;
    let mut receipts: HashMap<u32, Value> = HashMap::new();
    for sent in parked.values() {
        let left = until.saturating_duration_since(Instant::now());
        let reply = engine.wait_processed(&keys[sent.afnemer], sent.batch_id(), left);
        receipts.insert(sent.batch_no, reply["verwerkingsbericht"].clone());
    }
    eprintln!(
        "all {} batches processed at {:.1?}",
        parked.len(),
        started.elapsed()
    );

    // ---- receipts --------------------------------------------------------------------------
    // (afnemer, berichtId) -> every copy's decision
    let mut copies: HashMap<(usize, String), Vec<Decision>> = HashMap::new();
    // (afnemer, berichtId) -> its recipient
    let mut recipient: HashMap<(usize, String), String> = HashMap::new();
    let mut sum_verwerkt = 0u64;
    for sent in parked.values() {
        let receipt = &receipts[&sent.batch_no];
        let context = format!("batch {} ({})", sent.batch_no, sent.batch_id());
        assert_eq!(receipt["batchId"], sent.batch_id(), "{context}: {receipt}");
        let n = sent.berichten.len();
        assert_eq!(
            receipt["totaalAantalOntvangenBerichten"].as_u64(),
            Some(n as u64),
            "{context}: {receipt}"
        );
        let ontvangen_op: jiff::Timestamp = receipt["ontvangenOp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{context}: ontvangenOp: {receipt}"));
        let lines = receipt["berichten"].as_array().expect("receipt berichten");
        let by_id: HashMap<&str, &(String, String)> =
            sent.berichten.iter().map(|b| (b.0.as_str(), b)).collect();
        let mut listed: HashSet<&str> = HashSet::new();
        let mut verwerkt = 0u64;
        let mut per_code: BTreeMap<String, u64> = BTreeMap::new();
        for line in lines {
            let id = line["berichtId"].as_str().expect("berichtId");
            let code = line["verwerkingsCode"].as_str().expect("verwerkingsCode");
            let stadium = line["stadium"].as_str().expect("stadium");
            assert!(
                listed.insert(id),
                "{context}: berichtId {id} listed twice in {receipt}"
            );
            let Some((_, ontvanger)) = by_id.get(id) else {
                panic!("{context}: receipt lists berichtId {id} that the batch does not hold");
            };
            let has_box = by_bsn[ontvanger.as_str()].role != Role::NoAccount;
            let fits = if has_box {
                matches!(
                    (code, stadium),
                    ("Verwerkt", "NA") | ("BerichtBestaatAl", "StoreMessage")
                )
            } else {
                (code, stadium) == ("NietActiefOfGeabonneerd", "ValidatieGebruiker")
            };
            assert!(
                fits,
                "{context}: bericht {id} to {ontvanger} (box: {has_box}) got {code}/{stadium}"
            );
            if code == "Verwerkt" {
                verwerkt += 1;
            } else {
                *per_code.entry(code.to_owned()).or_default() += 1;
            }
            let key = (sent.afnemer, id.to_owned());
            copies.entry(key.clone()).or_default().push(Decision {
                batch_no: sent.batch_no,
                code: code.to_owned(),
                ontvangen_op,
            });
            recipient.insert(key, ontvanger.clone());
        }
        assert_eq!(
            listed.len(),
            n,
            "{context}: the receipt lists {} of {n} berichten: {receipt}",
            listed.len()
        );
        assert_eq!(
            receipt["aantalSuccesvolVerwerkt"].as_u64(),
            Some(verwerkt),
            "{context}: {receipt}"
        );
        let stated: BTreeMap<String, u64> =
            serde_json::from_value(receipt["aantalPerVerwerkingsCode"].clone())
                .unwrap_or_else(|e| panic!("{context}: aantalPerVerwerkingsCode: {e}"));
        assert_eq!(stated, per_code, "{context}: {receipt}");
        sum_verwerkt += verwerkt;
    }

    // ---- exactly one copy of each berichtId delivered --------------------------------------
    // (afnemer, berichtId) -> the batch whose copy was delivered
    let mut delivered: HashMap<(usize, String), u32> = HashMap::new();
    let mut reused = 0;
    // berichtIds whose delivered copy arrived after a copy answered BerichtBestaatAl.
    let mut against_arrival = 0;
    for (key, decisions) in &copies {
        if decisions.len() > 1 {
            reused += 1;
        }
        if by_bsn[recipient[key].as_str()].role == Role::NoAccount {
            continue;
        }
        let verwerkt: Vec<u32> = decisions
            .iter()
            .filter(|d| d.code == "Verwerkt")
            .map(|d| d.batch_no)
            .collect();
        assert!(
            verwerkt.len() == 1
                && decisions
                    .iter()
                    .all(|d| d.code == "Verwerkt" || d.code == "BerichtBestaatAl"),
            "afnemer {} berichtId {}: copies decided {decisions:?}, want one Verwerkt and the \
             rest BerichtBestaatAl",
            key.0,
            key.1
        );
        delivered.insert(key.clone(), verwerkt[0]);
        // Not asserted (which copy wins may depend on processing order), only reported.
        let winner = decisions.iter().find(|d| d.code == "Verwerkt");
        if winner.is_some_and(|w| decisions.iter().any(|d| d.ontvangen_op < w.ontvangen_op)) {
            against_arrival += 1;
        }
    }
    assert!(
        reused > 0,
        "no berichtId was sent twice: BerichtBestaatAl was not exercised"
    );

    // ---- boxes -------------------------------------------------------------------------------
    let oins: Vec<String> = (1..=AFNEMERS).map(|n| support::oin(n as u32)).collect();
    let mut in_boxes: HashSet<(usize, String)> = HashSet::new();
    let mut box_ids: HashSet<String> = HashSet::new();
    // box id -> the e-mail address a notification is due to
    let mut due: HashMap<String, String> = HashMap::new();
    let mut box_count = 0u64;
    for citizen in citizens.iter() {
        if citizen.role == Role::NoAccount {
            let (status, body) = get_json(&engine, &citizen.token, "/v1/account/berichten");
            assert_eq!(status, 404, "citizen {} has no box: {body}", citizen.bsn);
            continue;
        }
        for item in box_items(&engine, citizen) {
            box_count += 1;
            let id = item["id"].as_str().expect("box id").to_owned();
            assert!(
                box_ids.insert(id.clone()),
                "box id {id} listed twice: {item}"
            );
            let oin = item["afzender"]["oin"].as_str().expect("afzender.oin");
            let afnemer = oins
                .iter()
                .position(|o| o == oin)
                .unwrap_or_else(|| panic!("box entry from unknown afnemer: {item}"));
            let (bericht_id, batch_no) = parse_onderwerp(item["onderwerp"].as_str().unwrap_or(""))
                .unwrap_or_else(|| panic!("box entry with a foreign onderwerp: {item}"));
            let key = (afnemer, bericht_id.clone());
            assert!(
                in_boxes.insert(key.clone()),
                "berichtId {bericht_id} of afnemer {afnemer} is in a box twice (now in {}'s, \
                 copy of batch {batch_no})",
                citizen.bsn
            );
            assert_eq!(
                recipient.get(&key).map(String::as_str),
                Some(citizen.bsn.as_str()),
                "berichtId {bericht_id} is in the box of {}",
                citizen.bsn
            );
            assert_eq!(
                delivered.get(&key),
                Some(&batch_no),
                "berichtId {bericht_id} of afnemer {afnemer}: the box holds the copy of batch \
                 {batch_no}, the receipts say Verwerkt for {:?}",
                delivered.get(&key)
            );
            if citizen.role == Role::Notified {
                due.insert(id, citizen.email.clone().expect("email"));
            }
        }
    }
    assert_eq!(
        box_count, sum_verwerkt,
        "the boxes hold {box_count} berichten, the receipts count {sum_verwerkt} Verwerkt"
    );
    let lost: Vec<_> = delivered
        .keys()
        .filter(|k| !in_boxes.contains(*k))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "Verwerkt but in no box (first 10): {lost:?}"
    );

    // ---- the receipts' feed ----------------------------------------------------------------
    let mut feed_count = 0;
    for (afnemer, key) in keys.iter().enumerate() {
        let expected: HashMap<&str, &Sent> = parked
            .values()
            .filter(|s| s.afnemer == afnemer)
            .map(|s| (s.batch_id(), s))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut previous: Option<jiff::Timestamp> = None;
        for receipt in feed(&engine, key) {
            let batch_id = receipt["batchId"].as_str().expect("batchId").to_owned();
            let Some(sent) = expected.get(batch_id.as_str()) else {
                panic!("afnemer {afnemer}'s feed holds a receipt of another batch: {batch_id}");
            };
            assert_eq!(
                receipt, receipts[&sent.batch_no],
                "afnemer {afnemer}: the feed's receipt of batch {batch_id} differs from the batch's"
            );
            let verwerkt_op: jiff::Timestamp = receipt["verwerktOp"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("verwerktOp");
            assert!(
                previous.is_none_or(|p| p <= verwerkt_op),
                "afnemer {afnemer}: the feed goes back in time at batch {batch_id}"
            );
            previous = Some(verwerkt_op);
            assert!(
                seen.insert(batch_id.clone()),
                "afnemer {afnemer}: the feed holds batch {batch_id} twice"
            );
        }
        let missing: Vec<_> = expected
            .keys()
            .filter(|id| !seen.contains(**id))
            .take(10)
            .collect();
        assert!(
            missing.is_empty(),
            "afnemer {afnemer}: the feed lacks receipts (first 10 of {}): {missing:?}",
            expected.len() - seen.len()
        );
        feed_count += seen.len();
    }

    // ---- the feed as live followers saw it (asserted last, after every other check) -----
    finish.store(true, Ordering::SeqCst);
    let mut missed_by_followers: Vec<(usize, Vec<(u32, String)>)> = Vec::new();
    for (afnemer, follower) in followers.into_iter().enumerate() {
        let seen = follower.join().expect("follower thread");
        let missed: Vec<(u32, String)> = parked
            .values()
            .filter(|s| s.afnemer == afnemer && !seen.contains(s.batch_id()))
            .map(|s| (s.batch_no, s.batch_id().to_owned()))
            .collect();
        missed_by_followers.push((afnemer, missed));
    }

    // ---- notifications ---------------------------------------------------------------------
    let outbox_dir: PathBuf = data_dir.join("outbox");
    // check_outbox reports what is missing after the deadline.
    support::poll_until(OUTBOX_DEADLINE, || {
        let (emls, _) = outbox(&outbox_dir);
        due.keys().all(|id| emls.contains(id))
    });
    check_outbox(&outbox_dir, &due, "running engine");

    let exit = engine.terminate();
    assert!(exit.success(), "the engine did not stop cleanly: {exit}");
    {
        let store = open_store(&data_dir);
        for shard in 0..store.shard_count() {
            let left = store
                .parked_batches(shard, usize::MAX)
                .expect("parked_batches");
            assert!(
                left.is_empty(),
                "shard {shard} still has {} parked batches",
                left.len()
            );
            for pending in store
                .queued_notifications(shard, usize::MAX)
                .expect("queued_notifications")
            {
                assert!(
                    due.contains_key(&pending.id.to_hex()),
                    "shard {shard} holds a pending notification for a box entry that is due \
                     none: {pending:?}"
                );
            }
        }
    }
    check_outbox(&outbox_dir, &due, "after SIGTERM");

    eprintln!(
        "{} batches, {} berichten ({} berichtIds sent more than once), {} in boxes, {} \
         notifications, {} receipts in the feeds; over the kills {} batches / {} berichten were \
         parked and {} delivered of unsettled batches ({kills_mid_round} of {ROUNDS} kills \
         between deliver and complete); live feed followers missed {:?} receipts; \
         {against_arrival} berichtIds delivered from a later-received copy than one answered \
         BerichtBestaatAl; {:.1?}",
        parked.len(),
        parked.values().map(|s| s.berichten.len()).sum::<usize>(),
        reused,
        box_count,
        due.len(),
        feed_count,
        totals.parked_batches,
        totals.parked_berichten,
        totals.delivered_unsettled,
        missed_by_followers
            .iter()
            .map(|(_, missed)| missed.len())
            .collect::<Vec<_>>(),
        started.elapsed()
    );
    for (afnemer, missed) in &missed_by_followers {
        assert!(
            missed.is_empty(),
            "afnemer {afnemer}: following the feed (limit {FOLLOW_LIMIT}) from its last \
             `volgende` while batches were processed, it was never shown {} receipts that a \
             fresh read of the feed does hold: they became ready behind the cursor it had \
             already been given (first 10: {:?})",
            missed.len(),
            missed.iter().take(10).collect::<Vec<_>>()
        );
    }
}
