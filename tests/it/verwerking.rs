//! Processing over real sockets: every `verwerkingsCode` an afnemer can provoke from outside,
//! with its `stadium`, in the receipt of `GET /v1/batches/{batchId}` and in the feed
//! `GET /v1/verwerkingsberichten`; what lands in (and stays out of) citizens' boxes; and that a
//! restart keeps receipts and boxes and processes nothing twice.
//!
//! The scenario: afnemer A has berichttypen `AANSLAG` (active) and `OUD` (inactive); citizen X
//! has an active box, Y none, Z a closed one, W one that refuses A's digital mail, V an active
//! box for afnemer B. Batches are delivered one after another, each waited for until processed
//! (processing is asynchronous: a pacemaker every 100 ms), so the feed's order is known.
//!
//! `TechnischProbleem` is not covered: it answers a failure inside the engine (storage), which
//! a client cannot provoke over HTTP, and faking one would test the fake, not the engine.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use crate::support::{
    Engine, assert_problem, bsn, burger_token, guid, invalid_names, oin, ok_json, send,
};
use berichtenbox_actors::core::routing::home_shard_of_batch;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// How long a batch may take to be processed before a test gives up.
const DEADLINE: Duration = Duration::from_secs(20);

/// The shard count the engines here run with (pinned, so marker batches can cover every shard).
const SHARDS: usize = 4;

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

/// An engine with [`SHARDS`] shards.
fn start(data: &Path) -> Engine {
    Engine::builder(data)
        .configure(|c| c.store.shards = SHARDS)
        .start()
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn bericht(id: &str, soort: &str, ontvanger: &str, onderwerp: &str) -> Value {
    json!({
        "berichtId": id,
        "berichtType": soort,
        "ontvanger": ontvanger,
        "onderwerp": onderwerp,
        "tekst": format!("De tekst van {onderwerp}."),
    })
}

fn with_publicatie(mut bericht: Value, at: Timestamp) -> Value {
    bericht["publicatieDatum"] = json!(at.to_string());
    bericht
}

fn batch_of(batch_id: &str, aanmaak: Timestamp, berichten: Vec<Value>) -> Value {
    json!({
        "batchId": batch_id,
        "aanmaakDatum": aanmaak.to_string(),
        "berichten": berichten,
    })
}

fn put_berichttype(engine: &Engine, key: &str, code: &str, actief: bool) {
    engine.berichttype(key, code, actief);
}

/// One bericht's expected line in a receipt.
struct Expect {
    id: String,
    code: &'static str,
    stadium: &'static str,
}

fn expect(id: &str, code: &'static str) -> Expect {
    let stadium = match code {
        "Verwerkt"
        | "AanmaakDatumLigtTeVerInHetVerleden"
        | "PublicatieDatumLigtTeVerInDeToekomst" => "NA",
        "BerichtTypeNietOndersteund" => "ValidatieBerichtType",
        "NietActiefOfGeabonneerd" => "ValidatieGebruiker",
        "BerichtBestaatAl" => "StoreMessage",
        other => panic!("no stadium known for {other}"),
    };
    Expect {
        id: id.to_owned(),
        code,
        stadium,
    }
}

/// A delivered batch: what was sent, the 202 reply and, once processed, the batch's status.
struct Delivered {
    batch_id: String,
    ontvangen_op: String,
    expected: Vec<Expect>,
    status: Value,
}

impl Delivered {
    fn receipt(&self) -> &Value {
        &self.status["verwerkingsbericht"]
    }
}

/// Delivers a batch (202), waits until it is processed, and checks its receipt line by line.
fn deliver_and_check(
    engine: &Engine,
    key: &str,
    batch: &Value,
    expected: Vec<Expect>,
) -> Delivered {
    let batch_id = batch["batchId"].as_str().expect("batchId").to_owned();
    let parked = ok_json(&engine.post_batch(key, batch), 202, "deliver");
    assert_eq!(parked["status"], "geparkeerd");
    let ontvangen_op = parked["ontvangenOp"]
        .as_str()
        .expect("ontvangenOp")
        .to_owned();
    let status = engine.wait_processed(key, &batch_id, DEADLINE);
    let delivered = Delivered {
        batch_id,
        ontvangen_op,
        expected,
        status,
    };
    check_receipt(&delivered, batch);
    delivered
}

/// The receipt says, in batch order, each bericht's code and stadium, and counts them right.
#[track_caller]
fn check_receipt(delivered: &Delivered, batch: &Value) {
    let status = &delivered.status;
    let context = format!("batch {}", delivered.batch_id);
    assert_eq!(status["batchId"], delivered.batch_id.as_str(), "{context}");
    assert_eq!(status["status"], "verwerkt", "{context}");
    let receipt = delivered.receipt();
    assert!(
        receipt.is_object(),
        "{context}: no verwerkingsbericht: {status}"
    );
    assert_eq!(receipt["batchId"], delivered.batch_id.as_str(), "{context}");
    assert_eq!(
        receipt["ontvangenOp"],
        delivered.ontvangen_op.as_str(),
        "{context}: ontvangenOp is the 202's"
    );
    let ontvangen: Timestamp = delivered
        .ontvangen_op
        .parse()
        .expect("ontvangenOp rfc 3339");
    let verwerkt: Timestamp = receipt["verwerktOp"]
        .as_str()
        .expect("verwerktOp")
        .parse()
        .expect("verwerktOp rfc 3339");
    assert!(
        verwerkt >= ontvangen,
        "{context}: verwerkt before ontvangen"
    );

    let sent = batch["berichten"].as_array().expect("berichten");
    assert_eq!(
        sent.len(),
        delivered.expected.len(),
        "{context}: test setup"
    );
    assert_eq!(
        receipt["totaalAantalOntvangenBerichten"],
        sent.len(),
        "{context}"
    );
    let lines: Vec<Value> = delivered
        .expected
        .iter()
        .map(|e| json!({ "berichtId": e.id, "verwerkingsCode": e.code, "stadium": e.stadium }))
        .collect();
    assert_eq!(receipt["berichten"], json!(lines), "{context}: berichten");
    for (line, sent) in delivered.expected.iter().zip(sent) {
        assert_eq!(sent["berichtId"], line.id.as_str(), "{context}: test setup");
    }

    let verwerkt = delivered
        .expected
        .iter()
        .filter(|e| e.code == "Verwerkt")
        .count();
    assert_eq!(receipt["aantalSuccesvolVerwerkt"], verwerkt, "{context}");
    let mut per_code: HashMap<&str, u32> = HashMap::new();
    for e in delivered.expected.iter().filter(|e| e.code != "Verwerkt") {
        *per_code.entry(e.code).or_default() += 1;
    }
    assert_eq!(
        receipt["aantalPerVerwerkingsCode"],
        json!(per_code),
        "{context}: aantalPerVerwerkingsCode counts the codes other than Verwerkt"
    );
}

struct Scenario {
    key_a: String,
    key_b: String,
    /// A's batches in the order they were delivered (and processed).
    a: Vec<Delivered>,
    /// B's one batch.
    b: Delivered,
    x: String,
    y: String,
    z: String,
    w: String,
    v: String,
}

/// Sets up afnemers, berichttypen and citizens, then delivers A's three batches and B's one,
/// checking each receipt.
fn scenario(engine: &Engine) -> Scenario {
    let oin_a = oin(1);
    let key_a = engine.afnemer(&oin_a, json!({ "naam": "Belastingdienst" }));
    let key_b = engine.afnemer(&oin(2), json!({ "naam": "Gemeente B" }));
    put_berichttype(engine, &key_a, "AANSLAG", true);
    put_berichttype(engine, &key_a, "OUD", false);
    put_berichttype(engine, &key_b, "AANSLAG", true);

    let [x, y, z, w, v] = [0, 1, 2, 3, 4].map(|i| bsn(710_000 + 100 * i));
    let distinct: BTreeSet<&String> = [&x, &y, &z, &w, &v].into_iter().collect();
    assert_eq!(distinct.len(), 5, "test setup: distinct citizens");

    engine.open_box(&x);
    engine.open_box(&z);
    let reply = send(
        engine
            .client
            .delete(engine.url("/v1/account"))
            .bearer_auth(burger_token(&z)),
    );
    assert_eq!(reply.status, 204, "close Z's box");
    engine.open_box(&w);
    let reply = send(
        engine
            .client
            .put(engine.url(&format!("/v1/account/voorkeuren/{oin_a}")))
            .bearer_auth(burger_token(&w))
            .json(&json!({ "digitaal": false })),
    );
    ok_json(&reply, 200, "W refuses A");
    engine.open_box(&v);

    let now = Timestamp::now();
    let id = |n: u32| guid(1, n);

    // Batch 1: everything that a fresh batch can earn.
    let batch1 = batch_of(
        &guid(1, 0xffff),
        now,
        vec![
            bericht(&id(0), "AANSLAG", &x, "V1"),
            bericht(&id(1), "AANSLAG", &y, "N-Y"),
            bericht(&id(2), "AANSLAG", &z, "N-Z"),
            bericht(&id(3), "AANSLAG", &w, "N-W"),
            bericht(&id(4), "ONBEKEND", &x, "T-ONBEKEND"),
            bericht(&id(5), "OUD", &x, "T-OUD"),
            // The berichttype is checked before the recipient.
            bericht(&id(6), "ONBEKEND", &y, "T-voor-ontvanger"),
            with_publicatie(bericht(&id(7), "AANSLAG", &x, "P-14"), now + days(14)),
            // The dates are checked before the berichttype.
            with_publicatie(
                bericht(&id(8), "ONBEKEND", &y, "P-voor-type"),
                now + days(14),
            ),
            // Just inside the 13 days: delivered, though not yet visible.
            with_publicatie(
                bericht(&id(9), "AANSLAG", &x, "P-13"),
                now + days(13) - SignedDuration::from_hours(1),
            ),
        ],
    );
    let expected1 = vec![
        expect(&id(0), "Verwerkt"),
        expect(&id(1), "NietActiefOfGeabonneerd"),
        expect(&id(2), "NietActiefOfGeabonneerd"),
        expect(&id(3), "NietActiefOfGeabonneerd"),
        expect(&id(4), "BerichtTypeNietOndersteund"),
        expect(&id(5), "BerichtTypeNietOndersteund"),
        expect(&id(6), "BerichtTypeNietOndersteund"),
        expect(&id(7), "PublicatieDatumLigtTeVerInDeToekomst"),
        expect(&id(8), "PublicatieDatumLigtTeVerInDeToekomst"),
        expect(&id(9), "Verwerkt"),
    ];
    let b1 = deliver_and_check(engine, &key_a, &batch1, expected1);

    // Batch 2: aanmaakDatum is batch-level, so the too-old date needs a batch of its own. The
    // date is checked before anything else: before the berichttype, and before storage (the
    // berichtId that batch 1 delivered is not BerichtBestaatAl here).
    let old = now - days(14);
    let batch2 = batch_of(
        &guid(2, 0xffff),
        old,
        vec![
            bericht(&id(0), "AANSLAG", &x, "A-V1-oud"),
            with_publicatie(
                bericht(&guid(2, 1), "ONBEKEND", &y, "A-oud"),
                old + days(30),
            ),
        ],
    );
    let expected2 = vec![
        expect(&id(0), "AanmaakDatumLigtTeVerInHetVerleden"),
        expect(&guid(2, 1), "AanmaakDatumLigtTeVerInHetVerleden"),
    ];
    let b2 = deliver_and_check(engine, &key_a, &batch2, expected2);

    // Batch 3: berichtIds of batch 1 offered again. Those that were delivered are
    // BerichtBestaatAl (batch 2's rejection of one of them did not free it); those that were
    // rejected are delivered now.
    let batch3 = batch_of(
        &guid(3, 0xffff),
        Timestamp::now(),
        vec![
            bericht(&id(0), "AANSLAG", &x, "V1-opnieuw"),
            bericht(&id(1), "AANSLAG", &x, "N-Y-opnieuw"),
            bericht(&id(5), "AANSLAG", &x, "T-OUD-opnieuw"),
            bericht(&id(9), "AANSLAG", &x, "P-13-opnieuw"),
        ],
    );
    let expected3 = vec![
        expect(&id(0), "BerichtBestaatAl"),
        expect(&id(1), "Verwerkt"),
        expect(&id(5), "Verwerkt"),
        expect(&id(9), "BerichtBestaatAl"),
    ];
    let b3 = deliver_and_check(engine, &key_a, &batch3, expected3);

    // Batch 4, of afnemer B: a berichtId is unique per afnemer, so A's is free for B.
    let batch4 = batch_of(
        &guid(4, 0xffff),
        Timestamp::now(),
        vec![bericht(&id(0), "AANSLAG", &v, "B-V1")],
    );
    let b = deliver_and_check(engine, &key_b, &batch4, vec![expect(&id(0), "Verwerkt")]);

    Scenario {
        key_a,
        key_b,
        a: vec![b1, b2, b3],
        b,
        x,
        y,
        z,
        w,
        v,
    }
}

/// Walks the feed with `limit=1`, following `volgende`, and answers every receipt on the way.
fn walk_feed(engine: &Engine, key: &str) -> Vec<Value> {
    engine.all_pages(
        key,
        "/v1/verwerkingsberichten?limit=1",
        "verwerkingsberichten",
    )
}

/// The citizen's visible berichten (all pages), or `None` when he has no box (404).
fn box_of(engine: &Engine, bsn: &str) -> Option<Vec<Value>> {
    let burger = engine.burger(bsn);
    let reply = burger.get("/v1/account/berichten?limit=1");
    if reply.status == 404 {
        assert_problem(&reply, 404, "box of a citizen without one");
        return None;
    }
    Some(burger.box_all())
}

fn onderwerpen(berichten: &[Value]) -> Vec<&str> {
    berichten
        .iter()
        .map(|b| b["onderwerp"].as_str().expect("onderwerp"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_verwerkingscode_lands_in_the_receipt_and_only_verwerkt_in_a_box() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    // The receipts themselves are checked line by line inside `scenario`.
    let s = scenario(&engine);

    // X's box: what was Verwerkt, newest first, each exactly once; P-13 is delivered but its
    // publicatieDatum is still ahead, so it is not shown yet.
    let x_box = box_of(&engine, &s.x).expect("X has a box");
    assert_eq!(
        onderwerpen(&x_box),
        ["T-OUD-opnieuw", "N-Y-opnieuw", "V1"],
        "X's box"
    );
    for entry in &x_box {
        assert_eq!(entry["afzender"]["oin"], oin(1), "{entry}");
        assert_eq!(entry["afzender"]["naam"], "Belastingdienst", "{entry}");
        assert_eq!(entry["berichtType"], "AANSLAG", "{entry}");
    }
    // Nothing for the citizen without a box, with a closed box, or refusing A.
    assert_eq!(box_of(&engine, &s.y), None, "Y has no box");
    assert_eq!(box_of(&engine, &s.z), Some(vec![]), "Z's closed box");
    assert_eq!(box_of(&engine, &s.w), Some(vec![]), "W refuses A");
    // B's bericht with A's berichtId reached V.
    let v_box = box_of(&engine, &s.v).expect("V has a box");
    assert_eq!(onderwerpen(&v_box), ["B-V1"]);
    assert_eq!(v_box[0]["afzender"]["oin"], oin(2));
}

#[test]
fn the_receipt_feed_pages_in_order_each_receipt_once_and_only_the_afnemers_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    let s = scenario(&engine);
    let receipts_a: Vec<Value> = s.a.iter().map(|d| d.receipt().clone()).collect();

    // limit=1 with the cursor walks through all, in the order they became ready, each once.
    assert_eq!(walk_feed(&engine, &s.key_a), receipts_a, "A's feed");
    assert_eq!(
        walk_feed(&engine, &s.key_b),
        [s.b.receipt().clone()],
        "B's feed"
    );

    // Without a limit: all on one page, with the cursor after the last; that cursor reads an
    // empty page (and is given back), until more receipts come.
    let page = ok_json(
        &engine.get(&s.key_a, "/v1/verwerkingsberichten"),
        200,
        "page",
    );
    assert_eq!(page["verwerkingsberichten"], json!(receipts_a));
    let end = page["volgende"].as_str().expect("volgende after the last");
    let page = ok_json(
        &engine.get(&s.key_a, &format!("/v1/verwerkingsberichten?na={end}")),
        200,
        "the end",
    );
    assert_eq!(page, json!({ "verwerkingsberichten": [], "volgende": end }));
    // limit=2: two, then the third.
    let page = ok_json(
        &engine.get(&s.key_a, "/v1/verwerkingsberichten?limit=2"),
        200,
        "limit=2",
    );
    assert_eq!(page["verwerkingsberichten"], json!(receipts_a[..2]));
    let cursor = page["volgende"]
        .as_str()
        .expect("volgende after a full page");
    let page = ok_json(
        &engine.get(
            &s.key_a,
            &format!("/v1/verwerkingsberichten?limit=2&na={cursor}"),
        ),
        200,
        "second page",
    );
    assert_eq!(page["verwerkingsberichten"], json!(receipts_a[2..]));
    assert_eq!(
        page["volgende"],
        json!(end),
        "the last page ends where the feed ends"
    );

    // Bad paging parameters are 400 problems naming the parameter.
    for (query, name) in [
        ("na=geen-cursor", "na"),
        ("na=", "na"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=veel", "limit"),
        ("limit=-1", "limit"),
    ] {
        let reply = engine.get(&s.key_a, &format!("/v1/verwerkingsberichten?{query}"));
        let problem = assert_problem(&reply, 400, query);
        assert_eq!(invalid_names(&problem), [name], "{query}: {problem}");
    }

    // Another afnemer sees none of A's receipts, and not A's batches either.
    let key_c = engine.afnemer(&oin(3), json!({ "naam": "Gemeente C" }));
    let page = ok_json(&engine.get(&key_c, "/v1/verwerkingsberichten"), 200, "C");
    assert_eq!(page["verwerkingsberichten"], json!([]), "C's feed");
    assert!(page.get("volgende").is_none(), "{page}");
    // Not even with A's cursor in hand.
    let a_first = ok_json(
        &engine.get(&s.key_a, "/v1/verwerkingsberichten?limit=1"),
        200,
        "A's first page",
    );
    let a_cursor = a_first["volgende"].as_str().expect("cursor");
    for key in [&s.key_b, &key_c] {
        let page = ok_json(
            &engine.get(key, &format!("/v1/verwerkingsberichten?na={a_cursor}")),
            200,
            "A's cursor in other hands",
        );
        for receipt in page["verwerkingsberichten"].as_array().expect("array") {
            for delivered in &s.a {
                assert_ne!(receipt["batchId"], delivered.batch_id.as_str(), "{receipt}");
            }
        }
        for delivered in &s.a {
            let reply = engine.get(key, &format!("/v1/batches/{}", delivered.batch_id));
            assert_problem(&reply, 404, "another afnemer's batch");
        }
    }

    // The feed is for afnemers only.
    let reply = send(engine.client.get(engine.url("/v1/verwerkingsberichten")));
    assert_problem(&reply, 401, "no credentials");
    let reply = engine.get(&burger_token(&s.x), "/v1/verwerkingsberichten");
    assert_problem(&reply, 401, "a citizen's token");
}

/// A page of the feed carries at most `MAX_BERICHTEN_PER_PAGE` bericht outcomes whatever its
/// `limit`: it stops before the receipt that would take it over, and `volgende` continues
/// after the last receipt it carries, so following it yields every receipt once, in order.
/// Batches of 1,000 and 700 berichten (berichttype not registered: each is rejected, which is
/// an outcome like any other and spares the boxes).
#[test]
fn a_feed_page_carries_at_most_its_bound_of_outcomes_and_the_cursor_loses_none() {
    use berichtenbox::http::receipts::MAX_BERICHTEN_PER_PAGE;

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    let key = engine.afnemer(
        &oin(10),
        json!({ "naam": "Gemeente Groot", "berichtenPerSeconde": 100000, "burst": 100000 }),
    );
    let sizes: Vec<u32> = (0..13)
        .map(|i| if i % 2 == 0 { 1000 } else { 700 })
        .collect();
    let total: u32 = sizes.iter().sum();
    assert!(
        total as usize > MAX_BERICHTEN_PER_PAGE,
        "more than one page of outcomes"
    );
    let mut batch_ids = Vec::new();
    for (no, &n) in (1000..).zip(&sizes) {
        let batch = crate::support::batch(no, n);
        let reply = engine.post_batch(&key, &batch);
        assert_eq!(reply.status, 202, "batch {no}: {}", reply.text());
        batch_ids.push(batch["batchId"].as_str().expect("batchId").to_owned());
    }
    for batch_id in &batch_ids {
        engine.wait_processed(&key, batch_id, Duration::from_secs(180));
    }

    // One receipt a page: the feed's order, each receipt once.
    let one_by_one = walk_feed(&engine, &key);
    assert_eq!(one_by_one.len(), sizes.len());
    let ids: BTreeSet<&str> = one_by_one
        .iter()
        .map(|r| r["batchId"].as_str().expect("batchId"))
        .collect();
    assert_eq!(
        ids,
        batch_ids.iter().map(String::as_str).collect(),
        "every batch once"
    );

    // The document names the bound the engine holds to.
    let bound = format!(
        "{},{:03} bericht outcomes",
        MAX_BERICHTEN_PER_PAGE / 1000,
        MAX_BERICHTEN_PER_PAGE % 1000
    );
    assert!(
        include_str!("../../openapi.json").contains(&bound),
        "openapi.json does not name the bound ({bound})"
    );

    let outcomes = |receipt: &Value| receipt["berichten"].as_array().expect("berichten").len();
    for limit in [1000, 100, 5] {
        let path = format!("/v1/verwerkingsberichten?limit={limit}");
        let pages = engine.pages(&key, &path, "verwerkingsberichten");
        let mut cut_by_outcomes = 0;
        for (index, page) in pages.iter().enumerate() {
            let carried: usize = page.iter().map(outcomes).sum();
            assert!(
                carried <= MAX_BERICHTEN_PER_PAGE,
                "{path}: page {index} carries {carried} outcomes"
            );
            // A page short of its limit with more after it stopped only because the next
            // receipt would not fit.
            if let Some(next) = pages.get(index + 1).and_then(|p| p.first())
                && page.len() < limit
            {
                assert!(
                    carried + outcomes(next) > MAX_BERICHTEN_PER_PAGE,
                    "{path}: page {index} stopped early at {carried} outcomes"
                );
                cut_by_outcomes += 1;
            }
        }
        if limit > 11 {
            assert!(
                cut_by_outcomes > 0,
                "{path}: no page was cut by its outcomes"
            );
        }
        assert_eq!(
            pages.concat(),
            one_by_one,
            "{path}: following volgende yields every receipt once, in order"
        );
    }
}

/// Marker batches of A to Y (no box, so no box changes), one in each shard, so that every
/// shard's processor is seen to have run a round after the restart.
fn marker_batches(oin_a: &str, y: &str) -> Vec<Value> {
    let mut shards_covered = BTreeSet::new();
    let mut batches = Vec::new();
    for n in 0..1000u32 {
        let batch_id = guid(9, n);
        if shards_covered.insert(home_shard_of_batch(oin_a, &batch_id, SHARDS)) {
            batches.push(batch_of(
                &batch_id,
                Timestamp::now(),
                vec![bericht(&guid(9, 10_000 + n), "AANSLAG", y, "Marker")],
            ));
        }
        if shards_covered.len() == SHARDS {
            return batches;
        }
    }
    panic!("no batch ids found for every shard");
}

/// Everything a restart must keep: each batch's status with its receipt, both feeds, the boxes.
fn snapshot(engine: &Engine, s: &Scenario) -> Value {
    let batch = |key: &str, d: &Delivered| {
        ok_json(
            &engine.get(key, &format!("/v1/batches/{}", d.batch_id)),
            200,
            "batch",
        )
    };
    let boxes: Vec<Option<Vec<Value>>> = [&s.x, &s.y, &s.z, &s.w, &s.v]
        .into_iter()
        .map(|bsn| box_of(engine, bsn))
        .collect();
    json!({
        "batches_a": s.a.iter().map(|d| batch(&s.key_a, d)).collect::<Vec<_>>(),
        "batch_b": batch(&s.key_b, &s.b),
        "feed_a": walk_feed(engine, &s.key_a),
        "feed_b": walk_feed(engine, &s.key_b),
        "boxes": boxes,
    })
}

#[test]
fn a_restart_keeps_receipts_and_boxes_and_processes_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let engine = start(&data);
    let s = scenario(&engine);
    let before = snapshot(&engine, &s);
    // Sanity: the snapshot holds what the scenario made.
    assert_eq!(before["feed_a"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        before["batches_a"][0], s.a[0].status,
        "status unchanged while running"
    );

    // The graceful stop (SIGTERM's path), then a start on the same data and clock.
    let engine = engine.restart();

    assert_eq!(snapshot(&engine, &s), before, "right after the restart");

    // Let every shard's processor show it has run since the restart: a marker batch in each
    // shard, processed after whatever might (wrongly) still have been parked there.
    let markers = marker_batches(&oin(1), &s.y);
    for marker in &markers {
        assert_eq!(engine.post_batch(&s.key_a, marker).status, 202, "marker");
    }
    let mut marker_receipts = BTreeSet::new();
    for marker in &markers {
        let batch_id = marker["batchId"].as_str().expect("batchId");
        let status = engine.wait_processed(&s.key_a, batch_id, DEADLINE);
        assert_eq!(
            status["verwerkingsbericht"]["berichten"][0]["verwerkingsCode"],
            "NietActiefOfGeabonneerd"
        );
        marker_receipts.insert(status["verwerkingsbericht"].to_string());
    }

    let after = snapshot(&engine, &s);
    // The feed is the old one followed by the markers, each once: nothing was processed again.
    let feed_after = after["feed_a"].as_array().expect("feed").clone();
    assert_eq!(
        feed_after.len(),
        3 + markers.len(),
        "A's feed after the markers"
    );
    assert_eq!(json!(feed_after[..3]), before["feed_a"], "the old receipts");
    let new: BTreeSet<String> = feed_after[3..].iter().map(Value::to_string).collect();
    assert_eq!(new, marker_receipts, "only the markers are new");
    let mut after_without_markers = after.clone();
    after_without_markers["feed_a"] = before["feed_a"].clone();
    // Same receipts (same verwerktOp: none was made again), same boxes, same B.
    assert_eq!(after_without_markers, before, "after the markers");
}

/// A receipt line: (verwerkingsCode, stadium).
type Line = (String, String);

/// Two batches racing for one berichtId: their batch ids and the bericht's onderwerp.
struct Race {
    first: String,
    second: String,
    onderwerp: String,
}

/// Delivers six pairs of batches, each pair in two different shards (so two processors race
/// for the berichtId) and back to back without waiting, all to X; answers X's box once
/// everything is processed, and per pair the receipt lines of the first and the second batch.
fn race(engine: &Engine) -> (Vec<Value>, Vec<(Race, [Line; 2])>) {
    let oin_a = oin(1);
    let key = engine.afnemer(&oin_a, json!({ "naam": "Belastingdienst" }));
    put_berichttype(engine, &key, "AANSLAG", true);
    let x = bsn(720_000);
    engine.open_box(&x);

    let mut races = Vec::new();
    let mut n = 0u32;
    while races.len() < 6 {
        let first = guid(20, 2 * n);
        let second = guid(20, 2 * n + 1);
        n += 1;
        let (shard_1, shard_2) = (
            home_shard_of_batch(&oin_a, &first, SHARDS),
            home_shard_of_batch(&oin_a, &second, SHARDS),
        );
        // Different shards, the first batch's shard alternately the higher and the lower.
        if shard_1 == shard_2 || (shard_1 > shard_2) != (races.len() % 2 == 0) {
            continue;
        }
        let bericht_id = guid(21, n);
        let onderwerp = format!("Race {n}");
        for batch_id in [&first, &second] {
            let batch = batch_of(
                batch_id,
                Timestamp::now(),
                vec![bericht(&bericht_id, "AANSLAG", &x, &onderwerp)],
            );
            // The second is parked only after the first's 202: the first is accepted first, and
            // time passes between the two (the engine's clock is a ManualClock).
            assert_eq!(engine.post_batch(&key, &batch).status, 202);
            engine.advance(Duration::from_millis(1));
        }
        races.push(Race {
            first,
            second,
            onderwerp,
        });
    }

    let line = |batch_id: &str| {
        let status = engine.wait_processed(&key, batch_id, DEADLINE);
        let line = &status["verwerkingsbericht"]["berichten"][0];
        (
            line["verwerkingsCode"].as_str().unwrap_or("").to_owned(),
            line["stadium"].as_str().unwrap_or("").to_owned(),
        )
    };
    let outcomes: Vec<_> = races
        .into_iter()
        .map(|race| {
            let lines = [line(&race.first), line(&race.second)];
            (race, lines)
        })
        .collect();
    (box_of(engine, &x).expect("X has a box"), outcomes)
}

fn verwerkt() -> Line {
    ("Verwerkt".to_owned(), "NA".to_owned())
}

fn bestaat_al() -> Line {
    ("BerichtBestaatAl".to_owned(), "StoreMessage".to_owned())
}

#[test]
fn one_bericht_id_in_two_batches_at_once_is_delivered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    let (x_box, outcomes) = race(&engine);
    for (race, lines) in &outcomes {
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [bestaat_al(), verwerkt()],
            "{}: one delivered, the other BerichtBestaatAl",
            race.onderwerp
        );
        let copies = onderwerpen(&x_box)
            .into_iter()
            .filter(|o| *o == race.onderwerp)
            .count();
        assert_eq!(copies, 1, "{} in X's box", race.onderwerp);
    }
}

/// API.md: `BerichtBestaatAl` means "this berichtId was accepted before in another batch". Of
/// two batches with one berichtId, the one accepted (answered 202) first therefore keeps it,
/// even when both wait for processing at the same time in different shards.
#[test]
fn of_two_batches_with_one_bericht_id_the_one_accepted_first_is_verwerkt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    let (_, outcomes) = race(&engine);
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, lines)| *lines != [verwerkt(), bestaat_al()])
        .map(|(race, lines)| {
            format!(
                "{} (first {:?}, second {:?})",
                race.onderwerp, lines[0], lines[1]
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the batch accepted second won the berichtId: {}",
        wrong.join("; ")
    );
}

/// A client that follows the feed's cursor while batches are being processed (the way an
/// afnemer polls) gets every receipt exactly once: a receipt must not become ready behind a
/// cursor that was already handed out.
#[test]
fn a_client_following_the_cursor_during_processing_misses_no_receipt() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start(&dir.path().join("data"));
    let key = engine.afnemer(&oin(1), json!({ "naam": "Belastingdienst" }));
    put_berichttype(&engine, &key, "AANSLAG", true);
    let x = bsn(730_000);
    engine.open_box(&x);

    let all_processed = Arc::new(AtomicBool::new(false));
    let follower = {
        let (base, key, all_processed) = (engine.base.clone(), key.clone(), all_processed.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            let mut cursor: Option<String> = None;
            let mut seen = Vec::new();
            loop {
                // Read before the request: an empty page after every batch was processed
                // means the follower has caught up.
                let done = all_processed.load(Ordering::SeqCst);
                let na = cursor
                    .as_ref()
                    .map_or(String::new(), |c| format!("&na={c}"));
                let page: Value = client
                    .get(format!("{base}/v1/verwerkingsberichten?limit=1{na}"))
                    .bearer_auth(&key)
                    .send()
                    .expect("feed")
                    .json()
                    .expect("feed json");
                match page["verwerkingsberichten"][0]["batchId"].as_str() {
                    Some(batch_id) => {
                        seen.push(batch_id.to_owned());
                        cursor = Some(page["volgende"].as_str().expect("volgende").to_owned());
                    }
                    None if done => return seen,
                    None => {}
                }
            }
        })
    };

    let batch_ids: Vec<String> = (0..300)
        .map(|n| {
            let batch_id = guid(30, n);
            let batch = batch_of(
                &batch_id,
                Timestamp::now(),
                vec![bericht(&guid(31, n), "AANSLAG", &x, "Volgen")],
            );
            assert_eq!(engine.post_batch(&key, &batch).status, 202);
            batch_id
        })
        .collect();
    for batch_id in &batch_ids {
        engine.wait_processed(&key, batch_id, DEADLINE);
    }
    all_processed.store(true, Ordering::SeqCst);
    let seen = follower.join().expect("follower");

    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a receipt was seen twice");
    let expected: BTreeSet<&String> = batch_ids.iter().collect();
    let missed = expected.difference(&unique).count();
    assert_eq!(
        missed,
        0,
        "the follower missed {missed} of {} receipts (a walk from the start afterwards finds {})",
        batch_ids.len(),
        walk_feed(&engine, &key).len()
    );
}

/// Many batches sent at once, sharing a few berichtIds, land in every shard. Each shard waits
/// for earlier-accepted copies parked in other shards; those waits must never form a cycle, so
/// every batch is processed, and each berichtId is delivered exactly once. (Arrival stamps
/// taken before the shard writer once let storage order run against arrival order, and four
/// shards waited on each other for ever.)
#[test]
fn batches_sharing_bericht_ids_across_shards_are_all_processed() {
    let dir = tempfile::tempdir().expect("data dir");
    let engine = start(dir.path());
    let oin_a = oin(61);
    let key = engine.afnemer(
        &oin_a,
        json!({ "naam": "Gedeelde ids", "berichtenPerSeconde": 100000, "burst": 100000 }),
    );
    put_berichttype(&engine, &key, "AANSLAG", true);
    let ontvangers: Vec<String> = (0..5).map(|i| bsn(6101 + 97 * i)).collect();
    for ontvanger in &ontvangers {
        engine.open_box(ontvanger);
    }

    let pool: Vec<String> = (0..24).map(|i| guid(0x6100, i)).collect();
    let aanmaak = Timestamp::now();
    let mut sent: Vec<(String, Vec<String>)> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u32)
            .map(|thread| {
                let (engine, key, pool, ontvangers) = (&engine, &key, &pool, &ontvangers);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for n in 0..100u32 {
                        let batch_id = guid(0x6200 + thread, n);
                        // One to three distinct ids from the pool, different per batch.
                        let ids: Vec<String> = (0..(n % 3 + 1))
                            .map(|k| pool[((thread * 7 + n * 5 + k * 11) % 24) as usize].clone())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect();
                        let berichten = ids
                            .iter()
                            .map(|id| {
                                let ontvanger = ontvanger_of(ontvangers, id);
                                bericht(id, "AANSLAG", &ontvanger, &format!("batch {thread}-{n}"))
                            })
                            .collect();
                        let reply =
                            engine.post_batch(key, &batch_of(&batch_id, aanmaak, berichten));
                        assert_eq!(reply.status, 202, "deliver {batch_id}");
                        mine.push((batch_id, ids));
                    }
                    mine
                })
            })
            .collect();
        for handle in handles {
            sent.extend(handle.join().expect("sender"));
        }
    });

    let mut verwerkt: HashMap<String, usize> = HashMap::new();
    for (batch_id, ids) in &sent {
        let batch = engine.wait_processed(&key, batch_id, Duration::from_secs(60));
        let uitkomsten = batch["verwerkingsbericht"]["berichten"]
            .as_array()
            .expect("berichten");
        assert_eq!(uitkomsten.len(), ids.len(), "{batch_id}");
        for uitkomst in uitkomsten {
            let code = uitkomst["verwerkingsCode"].as_str().expect("code");
            assert!(
                code == "Verwerkt" || code == "BerichtBestaatAl",
                "{batch_id}: {code}"
            );
            if code == "Verwerkt" {
                *verwerkt
                    .entry(uitkomst["berichtId"].as_str().expect("id").to_owned())
                    .or_default() += 1;
            }
        }
    }
    let used: BTreeSet<&String> = sent.iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(verwerkt.len(), used.len(), "every berichtId delivered once");
    assert!(
        verwerkt.values().all(|n| *n == 1),
        "no berichtId delivered twice: {verwerkt:?}"
    );
    let in_boxes: usize = ontvangers
        .iter()
        .map(|o| box_of(&engine, o).expect("box").len())
        .sum();
    assert_eq!(in_boxes, used.len());
}

/// A berichtId always goes to the same recipient, so its copies compete for one box.
fn ontvanger_of(ontvangers: &[String], id: &str) -> String {
    let spread: usize = id.bytes().map(usize::from).sum();
    ontvangers[spread % ontvangers.len()].clone()
}
