//! The Abonnementservice end to end over real sockets (API.md, "Abonnementservice"), on the
//! engine's manual clock:
//!
//! - a verzoek waits `ingepland` for the first night window that opens after it was made (on
//!   the Amsterdam clock, winter and summer), and the runner runs it once the clock is in that
//!   window; a `volledig` lists every actief citizen, a `bsn-lijst` each given BSN in order, a
//!   `mutaties` each citizen whose status for the afnemer changed since `mutatieDatum`;
//! - the result is `409` until `gereed`, then NDJSON, gzip when asked; it is forgotten after
//!   `resultaat_bewaren_dagen`;
//! - the nights' quotas are shared by all afnemers, kept in the store (a restart does not reset
//!   them) and per night, with `Retry-After` until the night's window opens; 225 `volledig` by
//!   default, all run in one night; the Validatieservice's hour likewise survives a restart;
//! - the same `verzoekId` again is idempotent per afnemer;
//! - the field rules answer 400 with `invalidParams`;
//! - a SIGTERM and then a SIGKILL of the binary while a verzoek is `bezig` cost nothing but
//!   time: it ends `gereed` with its whole result;
//! - no afnemer sees another's verzoeken or results, and each one's voorkeuren count for it
//!   alone.
//!
//! Citizens are made through the citizen API (`POST /v1/account`, `PUT
//! /v1/account/voorkeuren/{oin}`, `DELETE /v1/account`). The runner looks at the clock on a
//! real-time beat (`abonnementen.ronde_seconden`, 1 s here): after moving the clock into the
//! window a test polls for `gereed`; "still `ingepland`" is checked after two beats have had
//! time to pass (a negative check has no state to poll for). The crash test runs the real
//! binary, which runs on the system clock: its window is configured to be open now, and its
//! verzoek is made beforehand by an engine in this process on a manual clock set before that
//! window opened.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berichtenbox::config::Config;
use berichtenbox_actors::core::bsn::is_valid_bsn;
use berichtenbox_actors::core::clock::Clock as _;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::support::clients::Afnemer;
use crate::support::sandbox::SandboxClock;
use crate::support::{
    Api, Engine, EngineBuilder, Reply, assert_problem, bsn, guid, invalid_names, oin, ok_json,
    send, wait_for, wait_until,
};

/// How long a night's work of these small tests may take once its window is open.
const DEADLINE: Duration = Duration::from_secs(60);
const PATH: &str = "/v1/abonnementsverzoeken";

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

fn amsterdam() -> TimeZone {
    TimeZone::get("Europe/Amsterdam").expect("Europe/Amsterdam")
}

/// `date` (`2026-12-14`) at `time` (`22:00`) on the Amsterdam clock.
fn ams(date: &str, time: &str) -> Timestamp {
    let date: Date = date.parse().expect("date");
    let time: Time = time.parse().expect("time");
    date.to_datetime(time)
        .to_zoned(amsterdam())
        .expect("an Amsterdam time")
        .timestamp()
}

/// A winter Monday: 23:00 in Amsterdam is 22:00 UTC.
const D: &str = "2026-12-14";
const D1: &str = "2026-12-15";
/// A summer Monday: 23:00 in Amsterdam is 21:00 UTC.
const ZOMER: &str = "2027-07-05";

/// An engine on a manual clock set at `at`, whose runner looks at the clock every second.
fn engine_at(data_dir: &Path, at: Timestamp, change: impl FnOnce(&mut Config)) -> Engine {
    Engine::builder(data_dir)
        .clock(Arc::new(SandboxClock::at(at)))
        .configure(|config| {
            config.abonnementen.ronde_seconden = 1;
            change(config);
        })
        .start()
}

/// Registers afnemer `n` (`oin(n)`) as "Afnemer {letter}"; answers it with its key.
fn afnemer(engine: &Engine, n: u32, letter: &str) -> Afnemer {
    engine
        .beheer()
        .register(&oin(n), json!({ "naam": format!("Afnemer {letter}") }))
}

/// Moves the engine's clock forward to `to`.
fn move_to(engine: &Engine, to: Timestamp) {
    let now = engine.clock.now();
    let by = to.duration_since(now);
    assert!(
        by > SignedDuration::ZERO,
        "the clock moves forward only: {now} to {to}"
    );
    engine.advance(Duration::try_from(by).expect("a positive duration"));
}

/// Gives the runner two beats (`ronde_seconden = 1`): what did not happen in them was not due.
/// (A negative check: no state to poll for.)
fn two_beats() {
    std::thread::sleep(Duration::from_millis(2500));
}

#[track_caller]
fn timestamp(value: &Value) -> Timestamp {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 timestamp: {value}"))
}

// ---------------------------------------------------------------------------------------------
// Citizens, through the citizen API
// ---------------------------------------------------------------------------------------------

/// Opens (or reopens) the citizen's box.
fn open(api: &Api, bsn: &str) {
    api.open_box(bsn);
}

/// Closes the citizen's box (`DELETE /v1/account`).
fn sluit(api: &Api, bsn: &str) {
    let burger = api.burger(bsn);
    let reply = send(
        api.client
            .delete(api.url("/v1/account"))
            .bearer_auth(&burger.token),
    );
    assert_eq!(reply.status, 204, "close {bsn}: {}", reply.text());
}

/// Sets the citizen's berichtenvoorkeur for afnemer `oin`.
fn voorkeur(api: &Api, bsn: &str, oin: &str, digitaal: bool) {
    let burger = api.burger(bsn);
    let reply = send(
        api.client
            .put(api.url(&format!("/v1/account/voorkeuren/{oin}")))
            .bearer_auth(&burger.token)
            .json(&json!({ "digitaal": digitaal })),
    );
    ok_json(&reply, 200, &format!("voorkeur of {bsn} for {oin}"));
}

/// Changes the citizen's e-mail address and notifications: no change of his status.
fn wijzig_email(api: &Api, bsn: &str) {
    let burger = api.burger(bsn);
    let reply = send(
        api.client
            .patch(api.url("/v1/account"))
            .bearer_auth(&burger.token)
            .json(&json!({ "email": format!("nieuw-{bsn}@voorbeeld.nl"), "notificaties": false })),
    );
    ok_json(&reply, 200, &format!("patch {bsn}"));
}

/// The `n`th valid BSN that begins with a 0 (the store keeps BSNs as numbers in places).
fn bsn_met_voorloopnul(n: usize) -> String {
    (12_345_600u32..)
        .map(|number| format!("{number:09}"))
        .filter(|digits| is_valid_bsn(digits))
        .nth(n)
        .expect("a valid BSN")
}

// ---------------------------------------------------------------------------------------------
// The Abonnementservice's calls
// ---------------------------------------------------------------------------------------------

fn volledig(id: &str) -> Value {
    json!({ "verzoekId": id, "soort": "volledig" })
}

fn bsn_lijst(id: &str, bsns: &[String]) -> Value {
    json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": bsns })
}

fn mutaties(id: &str, sinds: Timestamp) -> Value {
    json!({ "verzoekId": id, "soort": "mutaties", "mutatieDatum": sinds.to_string() })
}

/// `POST /v1/abonnementsverzoeken` with the afnemer's key.
fn vraag(afnemer: &Afnemer, body: &Value) -> Reply {
    send(
        afnemer
            .api
            .client
            .post(afnemer.api.url(PATH))
            .bearer_auth(&afnemer.key)
            .json(body),
    )
}

/// A `POST` that must be accepted (202): answers its body, after checking what every accepted
/// verzoek says.
#[track_caller]
fn ingepland(afnemer: &Afnemer, body: &Value) -> Value {
    let reply = vraag(afnemer, body);
    let id = body["verzoekId"].as_str().expect("verzoekId");
    let view = ok_json(&reply, 202, &format!("verzoek {id}"));
    assert_eq!(
        reply.header("Location"),
        Some(format!("{PATH}/{id}").as_str()),
        "Location of {id}"
    );
    assert_eq!(view["verzoekId"], id, "{view}");
    assert_eq!(view["soort"], body["soort"], "{view}");
    assert_eq!(view["status"], "ingepland", "{view}");
    let opent = timestamp(&view["ingeplandOp"]);
    assert_eq!(
        timestamp(&view["uiterlijkGereedOp"]),
        opent + SignedDuration::from_hours(4),
        "gereed within 4 hours of the window's opening: {view}"
    );
    assert!(timestamp(&view["aangevraagdOp"]) < opent, "{view}");
    view
}

/// `GET /v1/abonnementsverzoeken/{id}` with the afnemer's key.
fn verzoek(afnemer: &Afnemer, id: &str) -> Reply {
    afnemer.get(&format!("{PATH}/{id}"))
}

#[track_caller]
fn status(afnemer: &Afnemer, id: &str) -> String {
    let view = ok_json(&verzoek(afnemer, id), 200, &format!("status of {id}"));
    view["status"].as_str().expect("status").to_owned()
}

/// Polls until the verzoek is `gereed`; answers its status body.
#[track_caller]
fn wait_gereed(afnemer: &Afnemer, id: &str, deadline: Duration) -> Value {
    wait_for(&format!("verzoek {id} gereed"), deadline, || {
        let view = ok_json(&verzoek(afnemer, id), 200, &format!("status of {id}"));
        (view["status"] == "gereed").then_some(view)
    })
}

/// `GET .../resultaat`, with `Accept-Encoding` when given.
fn resultaat(api: &Api, key: &str, id: &str, accept_encoding: Option<&str>) -> Reply {
    let mut request = api
        .client
        .get(api.url(&format!("{PATH}/{id}/resultaat")))
        .bearer_auth(key);
    if let Some(encoding) = accept_encoding {
        request = request.header("Accept-Encoding", encoding);
    }
    send(request)
}

/// One result line: the BSN and its status.
type Regel = (String, String);

/// The lines of NDJSON: each a JSON object of exactly `bsn` and `status`, each ended by `\n`.
#[track_caller]
fn ndjson(body: &[u8]) -> Vec<Regel> {
    let text = std::str::from_utf8(body).expect("NDJSON is UTF-8");
    if text.is_empty() {
        return Vec::new();
    }
    let text = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("the last line has no newline: {text:?}"));
    text.split('\n')
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line:?}"));
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            assert_eq!(object.len(), 2, "exactly bsn and status: {line}");
            let field = |name: &str| {
                object[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {name}: {line}"))
                    .to_owned()
            };
            let status = field("status");
            assert!(
                status == "actief" || status == "inactief",
                "status {status:?}: {line}"
            );
            (field("bsn"), status)
        })
        .collect()
}

/// The verzoek's result, plain: asserts 200 and the NDJSON media type without a content
/// coding; answers the raw body.
#[track_caller]
fn resultaat_plain(afnemer: &Afnemer, id: &str) -> Vec<u8> {
    let reply = resultaat(&afnemer.api, &afnemer.key, id, None);
    assert_eq!(reply.status, 200, "resultaat of {id}: {}", reply.text());
    assert_eq!(
        reply.content_type().split(';').next().map(str::trim),
        Some("application/x-ndjson"),
        "resultaat of {id}"
    );
    assert_eq!(
        reply.header("Content-Encoding"),
        None,
        "no gzip unless asked"
    );
    reply.body
}

#[track_caller]
fn regels(afnemer: &Afnemer, id: &str) -> Vec<Regel> {
    ndjson(&resultaat_plain(afnemer, id))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// Lines as a set, asserting that no line occurs twice.
#[track_caller]
fn as_set(lines: Vec<Regel>, context: &str) -> BTreeSet<Regel> {
    let n = lines.len();
    let set: BTreeSet<Regel> = lines.into_iter().collect();
    assert_eq!(set.len(), n, "{context}: a citizen listed twice");
    set
}

fn lines_of(entries: &[(&str, &str)]) -> BTreeSet<Regel> {
    entries
        .iter()
        .map(|(bsn, status)| ((*bsn).to_owned(), (*status).to_owned()))
        .collect()
}

#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After: {}", reply.text()))
        .parse()
        .expect("Retry-After in seconds")
}

/// A 429 problem whose `Retry-After` lies in `seconds`.
#[track_caller]
fn assert_429(reply: &Reply, seconds: std::ops::RangeInclusive<u64>, context: &str) {
    assert_problem(reply, 429, context);
    let wait = retry_after(reply);
    assert!(
        seconds.contains(&wait),
        "{context}: Retry-After {wait}, expected {seconds:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. The night, and what each soort lists
// ---------------------------------------------------------------------------------------------

#[test]
fn verzoeken_wait_for_the_window_and_each_soort_lists_exactly_its_citizens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "20:00"), |_| {});
    let a = afnemer(&engine, 5_100_001, "A");
    let b = afnemer(&engine, 5_100_002, "B");
    let c = |n: u32| bsn(5_100_000 + n);
    let (nul, nul2) = (bsn_met_voorloopnul(0), bsn_met_voorloopnul(1));

    // Before mutatieDatum.
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 10, 11] {
        open(&engine, &c(n));
    }
    open(&engine, &nul);
    voorkeur(&engine, &c(2), &a.oin, false);
    sluit(&engine, &c(3));
    voorkeur(&engine, &c(4), &a.oin, true);
    voorkeur(&engine, &c(5), &b.oin, false);
    voorkeur(&engine, &c(10), &a.oin, false);
    sluit(&engine, &c(11));
    // c(6) never opens a box.

    let sinds = ams(D, "20:30");
    move_to(&engine, ams(D, "20:31"));
    // After mutatieDatum: these change their status for A...
    open(&engine, &c(12));
    open(&engine, &nul2);
    voorkeur(&engine, &c(7), &a.oin, false);
    sluit(&engine, &c(8));
    voorkeur(&engine, &c(10), &a.oin, true);
    open(&engine, &c(11));
    // ...and these change nothing of it: a voorkeur for another afnemer, the same voorkeur
    // again, an e-mail address.
    voorkeur(&engine, &c(9), &b.oin, false);
    voorkeur(&engine, &c(4), &a.oin, true);
    wijzig_email(&engine, &c(1));

    move_to(&engine, ams(D, "22:00"));
    let (id_volledig, id_lijst, id_mutaties) = (guid(5101, 1), guid(5101, 2), guid(5101, 3));
    let lijst = [c(6), c(3), c(1), c(2), nul.clone(), c(12), c(7), c(4), c(9)];
    let views = [
        ingepland(&a, &volledig(&id_volledig)),
        ingepland(&a, &bsn_lijst(&id_lijst, &lijst)),
        ingepland(&a, &mutaties(&id_mutaties, sinds)),
    ];
    for view in &views {
        assert_eq!(
            timestamp(&view["ingeplandOp"]),
            "2026-12-14T22:00:00Z"
                .parse::<Timestamp>()
                .expect("timestamp"),
            "made at 22:00, run at 23:00 Amsterdam time (UTC+1 in winter): {view}"
        );
    }
    assert_eq!(views[1]["aantalBsns"], 9, "{}", views[1]);
    assert_eq!(timestamp(&views[2]["mutatieDatum"]), sinds, "{}", views[2]);
    let ids = [&id_volledig, &id_lijst, &id_mutaties];
    for (id, view) in ids.iter().zip(&views) {
        assert_eq!(
            &ok_json(&verzoek(&a, id), 200, "status"),
            view,
            "GET answers what the POST did"
        );
        assert_problem(
            &resultaat(&engine, &a.key, id, None),
            409,
            "resultaat while ingepland",
        );
    }

    // A minute before the window: nothing runs.
    move_to(&engine, ams(D, "22:59"));
    two_beats();
    for id in ids {
        assert_eq!(status(&a, id), "ingepland", "{id} at 22:59");
    }

    // The window opens: the runner runs all three.
    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    for id in ids {
        let view = wait_gereed(&a, id, DEADLINE);
        let gestart = timestamp(&view["gestartOp"]);
        assert!(gestart >= ams(D, "23:00"), "{view}");
        assert!(timestamp(&view["gereedOp"]) >= gestart, "{view}");
        assert_eq!(
            view["resultaat"],
            format!("{PATH}/{id}/resultaat"),
            "{view}"
        );
    }

    // volledig: every actief citizen of A (an open box, and A not refused), once each.
    let got = regels(&a, &id_volledig);
    assert_eq!(
        ok_json(&verzoek(&a, &id_volledig), 200, "status")["aantalRegels"],
        got.len()
    );
    let expected: BTreeSet<Regel> = [
        c(1),
        c(4),
        c(5),
        c(9),
        c(10),
        c(11),
        c(12),
        nul.clone(),
        nul2.clone(),
    ]
    .into_iter()
    .map(|bsn| (bsn, "actief".to_owned()))
    .collect();
    assert_eq!(as_set(got, "volledig"), expected, "volledig");

    // bsn-lijst: each given BSN, in the order given, with its status.
    let got = regels(&a, &id_lijst);
    let statuses = [
        "inactief", "inactief", "actief", "inactief", "actief", "actief", "inactief", "actief",
        "actief",
    ];
    let expected: Vec<Regel> = lijst
        .iter()
        .zip(statuses)
        .map(|(bsn, status)| (bsn.clone(), status.to_owned()))
        .collect();
    assert_eq!(got, expected, "bsn-lijst");
    assert_eq!(
        ok_json(&verzoek(&a, &id_lijst), 200, "status")["aantalRegels"],
        9
    );

    // mutaties: who changed for A since mutatieDatum, with the status now.
    let got = regels(&a, &id_mutaties);
    let expected = lines_of(&[
        (&c(7), "inactief"),
        (&c(8), "inactief"),
        (&c(10), "actief"),
        (&c(11), "actief"),
        (&c(12), "actief"),
        (&nul2, "actief"),
    ]);
    assert_eq!(as_set(got, "mutaties"), expected, "mutaties");

    // The same verzoek again, once gereed: 200 with what it is now.
    for (id, body) in [
        (&id_volledig, volledig(&id_volledig)),
        (&id_lijst, bsn_lijst(&id_lijst, &lijst)),
        (&id_mutaties, mutaties(&id_mutaties, sinds)),
    ] {
        let again = ok_json(&vraag(&a, &body), 200, "the same verzoek again");
        assert_eq!(again["status"], "gereed", "{again}");
        assert_eq!(again, ok_json(&verzoek(&a, id), 200, "status"));
    }
    engine.shutdown().expect("stop");
}

// ---------------------------------------------------------------------------------------------
// 2. The result's encodings
// ---------------------------------------------------------------------------------------------

#[test]
fn a_resultaat_is_409_until_gereed_then_ndjson_gzipped_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "22:30"), |_| {});
    let a = afnemer(&engine, 5_200_001, "A");
    let c = |n: u32| bsn(5_200_000 + n);
    for n in 1..=40 {
        open(&engine, &c(n));
    }
    for n in (1..=40).step_by(3) {
        voorkeur(&engine, &c(n), &a.oin, false);
    }
    let lijst: Vec<String> = (1..=60).rev().map(c).collect();
    let id = guid(5201, 1);
    ingepland(&a, &bsn_lijst(&id, &lijst));

    for encoding in [None, Some("gzip")] {
        let reply = resultaat(&engine, &a.key, &id, encoding);
        let problem = assert_problem(&reply, 409, "resultaat while ingepland");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("ingepland")),
            "{problem}"
        );
    }

    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    wait_gereed(&a, &id, DEADLINE);

    let plain = resultaat_plain(&a, &id);
    let expected: Vec<Regel> = (1..=60u32)
        .rev()
        .map(|n| {
            let actief = n <= 40 && n % 3 != 1;
            (c(n), if actief { "actief" } else { "inactief" }.to_owned())
        })
        .collect();
    assert_eq!(ndjson(&plain), expected);

    for encoding in ["gzip", "br, gzip;q=0.8"] {
        let reply = resultaat(&engine, &a.key, &id, Some(encoding));
        assert_eq!(reply.status, 200, "{encoding}: {}", reply.text());
        assert_eq!(reply.header("Content-Encoding"), Some("gzip"), "{encoding}");
        assert_eq!(
            reply.content_type().split(';').next().map(str::trim),
            Some("application/x-ndjson"),
            "{encoding}"
        );
        assert_eq!(
            reply.body.get(..2),
            Some(&[0x1f, 0x8b][..]),
            "{encoding}: a gzip stream"
        );
        assert_eq!(
            gunzip(&reply.body),
            plain,
            "{encoding}: the same NDJSON gzipped"
        );
    }
    for encoding in ["identity", "gzip;q=0", "br"] {
        let reply = resultaat(&engine, &a.key, &id, Some(encoding));
        assert_eq!(reply.status, 200, "{encoding}");
        assert_eq!(reply.header("Content-Encoding"), None, "{encoding}");
        assert_eq!(reply.body, plain, "{encoding}: plain NDJSON");
    }
    engine.shutdown().expect("stop");
}

#[test]
fn a_resultaat_is_kept_for_its_days_and_then_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "22:00"), |config| {
        config.abonnementen.resultaat_bewaren_dagen = 2;
    });
    let a = afnemer(&engine, 5_250_001, "A");
    let x = bsn(5_250_001);
    open(&engine, &x);
    let id = guid(5251, 1);
    ingepland(&a, &volledig(&id));
    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    let gereed_op = timestamp(&wait_gereed(&a, &id, DEADLINE)["gereedOp"]);
    assert_eq!(regels(&a, &id), vec![(x, "actief".to_owned())]);

    // Outside the window, an hour before its 2 days are over: still there.
    move_to(&engine, gereed_op + SignedDuration::from_hours(47));
    two_beats();
    assert_eq!(status(&a, &id), "gereed");
    assert_eq!(regels(&a, &id).len(), 1);
    // Once they are (the clean-up runs outside the window: at 08:00 the morning after), the
    // verzoek and its result are gone.
    move_to(&engine, gereed_op + SignedDuration::from_hours(57));
    wait_until("the verzoek forgotten", DEADLINE, || {
        verzoek(&a, &id).status == 404
    });
    assert_problem(
        &resultaat(&engine, &a.key, &id, None),
        404,
        "a forgotten resultaat",
    );
    engine.shutdown().expect("stop");
}

// ---------------------------------------------------------------------------------------------
// 3. Quotas
// ---------------------------------------------------------------------------------------------

#[test]
fn a_nights_quotas_are_shared_survive_a_restart_and_the_next_night_has_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "22:10"), |config| {
        config.abonnementen.per_nacht_volledig = 3;
        config.abonnementen.per_nacht_bsn_lijst = 2;
        config.abonnementen.per_nacht_mutaties = 1;
    });
    let a = afnemer(&engine, 5_300_001, "A");
    let b = afnemer(&engine, 5_300_002, "B");
    let sinds = ams(D, "12:00");
    let lijst = [bsn(5_300_001)];
    // 22:10 to the window's opening at 23:00.
    let tot_vanavond = 2990..=3000;

    // volledig: 3 a night for A and B together.
    ingepland(&a, &volledig(&guid(5301, 1)));
    ingepland(&b, &volledig(&guid(5301, 2)));
    ingepland(&a, &volledig(&guid(5301, 3)));
    // Over the quota: B's and A's 4th volledig, A's 3rd bsn-lijst, A's 2nd mutaties.
    let over_b = volledig(&guid(5301, 4));
    let over_a = volledig(&guid(5301, 5));
    let over_lijst = bsn_lijst(&guid(5302, 3), &lijst);
    let over_mutaties = mutaties(&guid(5303, 2), sinds);
    let refused = |a: &Afnemer, b: &Afnemer, context: &str| {
        assert_429(
            &vraag(b, &over_b),
            tot_vanavond.clone(),
            &format!("the 4th volledig {context}"),
        );
        assert_429(
            &vraag(a, &over_a),
            tot_vanavond.clone(),
            &format!("the 4th volledig {context}"),
        );
        assert_429(
            &vraag(a, &over_lijst),
            tot_vanavond.clone(),
            &format!("the 3rd bsn-lijst {context}"),
        );
        assert_429(
            &vraag(a, &over_mutaties),
            tot_vanavond.clone(),
            &format!("the 2nd mutaties {context}"),
        );
    };
    // bsn-lijst and mutaties have their own quotas.
    ingepland(&b, &bsn_lijst(&guid(5302, 1), &lijst));
    ingepland(&a, &bsn_lijst(&guid(5302, 2), &lijst));
    ingepland(&b, &mutaties(&guid(5303, 1), sinds));
    refused(&a, &b, "of tonight");
    // A refused verzoek was not stored.
    assert_problem(&verzoek(&b, &guid(5301, 4)), 404, "a refused verzoek");

    // A restart on the same data, at the same time: the night's quotas are what they were.
    let engine = engine.restart();
    let a = Afnemer {
        api: (*engine).clone(),
        ..a
    };
    let b = Afnemer {
        api: (*engine).clone(),
        ..b
    };
    refused(&a, &b, "after a restart");
    assert_eq!(status(&a, &guid(5301, 1)), "ingepland");

    // The window opens: from now on verzoeken are for the next night, which has its quotas.
    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    for (afnemer, body) in [
        (&b, &over_b),
        (&a, &over_a),
        (&b, &volledig(&guid(5301, 6))),
        (&a, &over_lijst),
        (&a, &over_mutaties),
    ] {
        let view = ingepland(afnemer, body);
        assert_eq!(timestamp(&view["ingeplandOp"]), ams(D1, "23:00"), "{view}");
    }
    // And that night's quotas hold too, until its window opens (a day less a second).
    let tot_morgen = 86_390..=86_399;
    assert_429(
        &vraag(&a, &volledig(&guid(5301, 7))),
        tot_morgen.clone(),
        "the 4th volledig of the next night",
    );
    assert_429(
        &vraag(&b, &mutaties(&guid(5303, 3), sinds)),
        tot_morgen,
        "the 2nd mutaties of the next night",
    );
    // Tonight's verzoeken run tonight; the next night's wait.
    wait_gereed(&a, &guid(5301, 1), DEADLINE);
    wait_gereed(&b, &guid(5303, 1), DEADLINE);
    two_beats();
    for (afnemer, id) in [
        (&b, guid(5301, 4)),
        (&a, guid(5301, 5)),
        (&b, guid(5301, 6)),
        (&a, guid(5302, 3)),
        (&a, guid(5303, 2)),
    ] {
        assert_eq!(
            status(afnemer, &id),
            "ingepland",
            "{id} waits for the next night"
        );
    }
    // ...which they run in.
    move_to(&engine, ams(D1, "23:00") + SignedDuration::from_secs(1));
    wait_gereed(&b, &guid(5301, 4), DEADLINE);
    wait_gereed(&a, &guid(5303, 2), DEADLINE);
    engine.shutdown().expect("stop");
}

#[test]
fn by_default_the_226th_volledig_of_a_night_is_refused_and_the_225_run_in_one_night() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "12:00"), |_| {});
    assert_eq!(engine.config.abonnementen.per_nacht_volledig, 225);
    let a = afnemer(&engine, 5_400_001, "A");
    let b = afnemer(&engine, 5_400_002, "B");
    for n in 0..225 {
        let afnemer = if n % 2 == 0 { &a } else { &b };
        let reply = vraag(afnemer, &volledig(&guid(5401, n)));
        assert_eq!(reply.status, 202, "volledig {}: {}", n + 1, reply.text());
    }
    // 12:00 to 23:00.
    let wait = 39_590..=39_600;
    assert_429(
        &vraag(&a, &volledig(&guid(5401, 225))),
        wait.clone(),
        "the 226th volledig",
    );
    assert_429(
        &vraag(&b, &volledig(&guid(5401, 226))),
        wait,
        "the 226th volledig, by another afnemer",
    );
    // A bsn-lijst still fits in its own quota.
    ingepland(&a, &bsn_lijst(&guid(5402, 1), &[bsn(5_400_001)]));

    // The night runs all 225 (in one pass over the accounts), each with its afnemer's
    // voorkeuren.
    let (x, y, z) = (bsn(5_400_001), bsn(5_400_002), bsn(5_400_003));
    for citizen in [&x, &y, &z] {
        open(&engine, citizen);
    }
    voorkeur(&engine, &y, &a.oin, false);
    voorkeur(&engine, &z, &b.oin, false);
    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    let for_a = lines_of(&[(&x, "actief"), (&z, "actief")]);
    let for_b = lines_of(&[(&x, "actief"), (&y, "actief")]);
    for n in 0..225 {
        let (afnemer, expected) = if n % 2 == 0 {
            (&a, &for_a)
        } else {
            (&b, &for_b)
        };
        let id = guid(5401, n);
        wait_gereed(afnemer, &id, DEADLINE);
        assert_eq!(
            &as_set(regels(afnemer, &id), &id),
            expected,
            "volledig {id}"
        );
    }
    engine.shutdown().expect("stop");
}

#[test]
fn the_validatieservice_hour_survives_a_restart_and_the_next_hour_is_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start: Timestamp = "2026-12-14T10:20:00Z".parse().expect("timestamp");
    let engine = engine_at(&dir.path().join("data"), start, |config| {
        config.validaties.per_uur = 2;
    });
    let a = engine
        .beheer()
        .afnemer_with_aanslag(&oin(5_500_001), json!({ "naam": "Afnemer A" }));
    let b = engine
        .beheer()
        .afnemer_with_aanslag(&oin(5_500_002), json!({ "naam": "Afnemer B" }));
    let x = bsn(5_500_001);
    open(&engine, &x);
    let valideer = |afnemer: &Afnemer| {
        send(
            afnemer
                .api
                .client
                .post(afnemer.api.url("/v1/validaties"))
                .bearer_auth(&afnemer.key)
                .json(&json!({ "berichtType": "AANSLAG", "bsns": [x] })),
        )
    };
    let ok = |afnemer: &Afnemer| {
        let body = ok_json(&valideer(afnemer), 200, "validatie");
        assert_eq!(
            body,
            json!({ "resultaten": [{ "bsn": x, "berichtSturen": true }] })
        );
    };
    // 10:20 to 11:00.
    let tot_het_uur = 2390..=2400;

    ok(&a);
    ok(&b);
    assert_429(&valideer(&a), tot_het_uur.clone(), "the hour's 3rd");
    assert_429(&valideer(&b), tot_het_uur.clone(), "the hour's 3rd, by B");

    let engine = engine.restart();
    let a = Afnemer {
        api: (*engine).clone(),
        ..a
    };
    let b = Afnemer {
        api: (*engine).clone(),
        ..b
    };
    assert_429(&valideer(&a), tot_het_uur.clone(), "after a restart");
    assert_429(&valideer(&b), tot_het_uur, "after a restart, by B");

    move_to(&engine, "2026-12-14T11:00:01Z".parse().expect("timestamp"));
    ok(&b);
    ok(&a);
    assert_429(&valideer(&a), 3590..=3599, "the next hour's 3rd");
    engine.shutdown().expect("stop");
}

// ---------------------------------------------------------------------------------------------
// 4. Idempotency, per afnemer
// ---------------------------------------------------------------------------------------------

#[test]
fn the_same_verzoek_id_is_idempotent_per_afnemer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(ZOMER, "21:00"), |config| {
        config.abonnementen.per_nacht_volledig = 1;
        config.abonnementen.per_nacht_bsn_lijst = 2;
    });
    let a = afnemer(&engine, 5_600_001, "A");
    let b = afnemer(&engine, 5_600_002, "B");
    let c = |n: u32| bsn(5_600_000 + n);
    for n in 1..=3 {
        open(&engine, &c(n));
    }
    let x = guid(5601, 1);
    let lijst_a = [c(1), c(2), c(4)];
    let first = ingepland(&a, &bsn_lijst(&x, &lijst_a));
    assert_eq!(
        timestamp(&first["ingeplandOp"]),
        "2027-07-05T21:00:00Z"
            .parse::<Timestamp>()
            .expect("timestamp"),
        "23:00 Amsterdam time is UTC+2 in summer: {first}"
    );

    // Again, as it was: 200 with the same status, and no quota taken.
    for _ in 0..3 {
        let reply = vraag(&a, &bsn_lijst(&x, &lijst_a));
        assert_eq!(ok_json(&reply, 200, "the same again"), first);
        assert_eq!(
            reply.header("Location"),
            Some(format!("{PATH}/{x}").as_str())
        );
    }
    // The same id with the GUID in capitals is the same id.
    let reply = vraag(&a, &bsn_lijst(&x.to_uppercase(), &lijst_a));
    assert_eq!(ok_json(&reply, 200, "the same id in capitals"), first);

    // The same id with other content: 409, and the stored verzoek is unchanged.
    for other in [
        bsn_lijst(&x, &[c(2), c(1), c(4)]),
        bsn_lijst(&x, &[c(1), c(2)]),
        volledig(&x),
        mutaties(&x, ams(ZOMER, "12:00")),
    ] {
        assert_problem(&vraag(&a, &other), 409, &format!("other content: {other}"));
    }
    assert_eq!(ok_json(&verzoek(&a, &x), 200, "status"), first);

    // Another afnemer does not see it...
    assert_problem(&verzoek(&b, &x), 404, "B's GET of A's verzoek");
    assert_problem(
        &resultaat(&engine, &b.key, &x, None),
        404,
        "B's GET of A's resultaat",
    );
    // ...and may use the id for its own, with its own content.
    let lijst_b = [c(3)];
    let own = ingepland(&b, &bsn_lijst(&x, &lijst_b));
    assert_eq!(own["aantalBsns"], 1, "{own}");
    assert_eq!(ok_json(&verzoek(&a, &x), 200, "A's")["aantalBsns"], 3);
    assert_eq!(
        ok_json(&vraag(&b, &bsn_lijst(&x, &lijst_b)), 200, "B again"),
        own
    );
    assert_problem(
        &vraag(&b, &bsn_lijst(&x, &lijst_a)),
        409,
        "B with A's content",
    );

    // The bsn-lijst quota (2) is full now, yet the same again is still 200, not 429.
    assert_429(
        &vraag(&a, &bsn_lijst(&guid(5601, 2), &lijst_a)),
        7190..=7200,
        "a 3rd bsn-lijst",
    );
    assert_eq!(vraag(&a, &bsn_lijst(&x, &lijst_a)).status, 200);
    let y = guid(5601, 3);
    let volledig_y = ingepland(&a, &volledig(&y));
    assert_eq!(
        ok_json(&vraag(&a, &volledig(&y)), 200, "volledig again"),
        volledig_y
    );
    assert_problem(
        &vraag(&a, &bsn_lijst(&y, &lijst_a)),
        409,
        "other soort, same id",
    );

    // Each runs with its own content.
    move_to(&engine, ams(ZOMER, "23:00") + SignedDuration::from_secs(1));
    wait_gereed(&a, &x, DEADLINE);
    wait_gereed(&b, &x, DEADLINE);
    assert_eq!(
        regels(&a, &x),
        vec![
            (c(1), "actief".to_owned()),
            (c(2), "actief".to_owned()),
            (c(4), "inactief".to_owned()),
        ]
    );
    assert_eq!(regels(&b, &x), vec![(c(3), "actief".to_owned())]);
    engine.shutdown().expect("stop");
}

// ---------------------------------------------------------------------------------------------
// 5. Field rules
// ---------------------------------------------------------------------------------------------

/// A `POST` with a body of bytes (a body too large to build as a `Value` cheaply).
fn vraag_bytes(afnemer: &Afnemer, body: Vec<u8>) -> Reply {
    send(
        afnemer
            .api
            .client
            .post(afnemer.api.url(PATH))
            .bearer_auth(&afnemer.key)
            .header("Content-Type", "application/json")
            .body(body),
    )
}

/// A `bsn-lijst` body of `n` times the same valid BSN.
fn long_list(id: &str, n: usize) -> Vec<u8> {
    let element = b"\"999993653\",";
    let mut body = Vec::with_capacity(n * element.len() + 100);
    body.extend_from_slice(
        format!(r#"{{"verzoekId":"{id}","soort":"bsn-lijst","bsns":["#).as_bytes(),
    );
    for _ in 0..n {
        body.extend_from_slice(element);
    }
    body.pop();
    body.extend_from_slice(b"]}");
    body
}

#[test]
fn a_verzoek_that_breaks_a_field_rule_is_400_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "14:00"), |config| {
        config.abonnementen.per_nacht_bsn_lijst = 1;
        config.abonnementen.per_nacht_mutaties = 1;
        config.abonnementen.per_nacht_volledig = 1;
    });
    let a = afnemer(&engine, 5_700_001, "A");
    let id = guid(5701, 1);
    let goed = [bsn(5_700_001), bsn(5_700_002)];
    let morgen = (ams(D, "14:00") + SignedDuration::from_hours(24)).to_string();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({ "verzoekId": "niet-een-guid", "soort": "volledig" }),
            vec!["verzoekId"],
        ),
        (
            json!({ "verzoekId": "8c1f6c4e-0000-4000-8000-00000000000", "soort": "volledig" }),
            vec!["verzoekId"],
        ),
        (json!({ "soort": "volledig" }), vec!["verzoekId"]),
        (json!({ "verzoekId": id, "soort": "alles" }), vec!["soort"]),
        (json!({ "verzoekId": id }), vec!["soort"]),
        (
            json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": [goed[0], goed[1], "123456789", "12345678"] }),
            vec!["bsns[2]", "bsns[3]"],
        ),
        (
            json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": [] }),
            vec!["bsns"],
        ),
        (
            json!({ "verzoekId": id, "soort": "bsn-lijst" }),
            vec!["bsns"],
        ),
        (
            json!({ "verzoekId": id, "soort": "mutaties", "mutatieDatum": morgen }),
            vec!["mutatieDatum"],
        ),
        (
            json!({ "verzoekId": id, "soort": "mutaties", "mutatieDatum": "gisteren" }),
            vec!["mutatieDatum"],
        ),
        (
            json!({ "verzoekId": id, "soort": "mutaties" }),
            vec!["mutatieDatum"],
        ),
        (
            json!({ "verzoekId": id, "soort": "volledig", "bsns": goed }),
            vec!["bsns"],
        ),
        (
            json!({ "verzoekId": id, "soort": "volledig", "mutatieDatum": ams(D, "12:00").to_string() }),
            vec!["mutatieDatum"],
        ),
        // A null is not "left out" (the document makes neither field nullable).
        (
            json!({ "verzoekId": id, "soort": "volledig", "bsns": null }),
            vec!["bsns"],
        ),
        (
            json!({ "verzoekId": id, "soort": "volledig", "mutatieDatum": null }),
            vec!["mutatieDatum"],
        ),
        (
            json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": null }),
            vec!["bsns"],
        ),
        (
            json!({ "verzoekId": id, "soort": "mutaties", "mutatieDatum": null }),
            vec!["mutatieDatum"],
        ),
    ];
    for (body, names) in &cases {
        let problem = assert_problem(&vraag(&a, body), 400, &body.to_string());
        assert_eq!(&invalid_names(&problem), names, "{body}: {problem}");
    }

    // A list of one more than 1,000,000.
    let problem = assert_problem(
        &vraag_bytes(&a, long_list(&id, 1_000_001)),
        400,
        "1,000,001 BSNs",
    );
    assert_eq!(invalid_names(&problem), ["bsns"], "{problem}");

    // Nothing was stored and no quota was taken: each soort's only verzoek of the night is
    // still accepted.
    assert_problem(&verzoek(&a, &id), 404, "a refused verzoek is not stored");
    ingepland(&a, &volledig(&guid(5701, 2)));
    ingepland(&a, &bsn_lijst(&guid(5701, 3), &goed));
    ingepland(&a, &mutaties(&guid(5701, 4), ams(D, "12:00")));
    engine.shutdown().expect("stop");
}

// ---------------------------------------------------------------------------------------------
// 6. A SIGKILL while a verzoek is bezig
// ---------------------------------------------------------------------------------------------

/// The BSNs of the crash test's list, in the order given: a permutation of `bsn(0..N)`.
const CRASH_BSNS: u32 = 1_000_000;

#[test]
fn a_verzoek_killed_while_bezig_runs_again_after_a_restart_to_a_complete_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    // The binary runs on the system clock: its window opened an hour ago and is open for 11
    // hours more.
    let now = Timestamp::now();
    let local = now.to_zoned(amsterdam());
    let hhmm = |at: jiff::Zoned| at.strftime("%H:%M").to_string();
    let begin = hhmm(
        local
            .checked_sub(SignedDuration::from_hours(1))
            .expect("time"),
    );
    let eind = hhmm(
        local
            .checked_add(SignedDuration::from_hours(11))
            .expect("time"),
    );
    let builder = EngineBuilder::new(&data_dir).configure(|config| {
        config.abonnementen.venster_begin = begin;
        config.abonnementen.venster_eind = eind;
        config.abonnementen.ronde_seconden = 1;
    });

    // Made two hours ago (on a manual clock; the window had not opened), the verzoek is planned
    // for the night whose window is open now.
    let engine = builder
        .clone()
        .clock(Arc::new(SandboxClock::at(
            now - SignedDuration::from_hours(2),
        )))
        .start();
    let a = afnemer(&engine, 5_800_001, "A");
    let lijst: Vec<String> = (0..u64::from(CRASH_BSNS))
        .map(|i| bsn(u32::try_from(i * 7919 % u64::from(CRASH_BSNS)).expect("u32")))
        .collect();
    // Citizens spread over the list: a third actief, a third refusing A, a third closed.
    let mut actief = BTreeMap::new();
    for j in 0..30u32 {
        let citizen = bsn(j * 33_331);
        open(&engine, &citizen);
        match j % 3 {
            0 => {}
            1 => voorkeur(&engine, &citizen, &a.oin, false),
            _ => sluit(&engine, &citizen),
        }
        actief.insert(citizen, j % 3 == 0);
    }
    let id = guid(5801, 1);
    let view = ingepland(&a, &bsn_lijst(&id, &lijst));
    assert!(
        timestamp(&view["ingeplandOp"]) <= Timestamp::now(),
        "planned for the window open now: {view}"
    );
    engine.shutdown().expect("stop");

    // The binary runs it, and is stopped twice while it writes the result: first with SIGTERM
    // (the runner ends its run between two pages, and the engine exits cleanly), then with
    // SIGKILL. Each time the run is well into the result (about 5 MB of gzip in all, written
    // through a 64 KiB buffer to a temporary file that a new run truncates): the stop lands in
    // the middle of a run, not at its start.
    let resultaten = data_dir.join("abonnementen");
    let tijdelijk = resultaten.join(format!("{}-{id}.ndjson.gz.tmp", a.oin));
    let klaar = resultaten.join(format!("{}-{id}.ndjson.gz", a.oin));
    let halfway = |since: std::time::SystemTime| {
        wait_until("1 MiB of the result written by this run", DEADLINE, || {
            std::fs::metadata(&tijdelijk).is_ok_and(|file| {
                file.len() >= 1 << 20 && file.modified().is_ok_and(|at| at > since)
            })
        });
    };
    let mut gestart = Vec::new();
    let mut since = std::time::SystemTime::now();
    let mut process = builder.clone().spawn();
    for signal in ["TERM", "KILL"] {
        let a = Afnemer {
            api: (*process).clone(),
            ..a.clone()
        };
        // Bezig in this engine's run: after a restart the stored state says `bezig` (with the
        // last run's gestartOp) until this engine's runner has begun the run again.
        let last = gestart.last().copied();
        let view = wait_for("the verzoek bezig in this run", DEADLINE, || {
            let view = ok_json(&verzoek(&a, &id), 200, "status");
            let this_run = last.is_none_or(|last| timestamp(&view["gestartOp"]) > last);
            (view["status"] == "bezig" && this_run).then_some(view)
        });
        gestart.push(timestamp(&view["gestartOp"]));
        halfway(since);
        if signal == "TERM" {
            let stopping = std::time::Instant::now();
            assert!(
                process.terminate().success(),
                "a clean stop in the middle of a run"
            );
            assert!(
                stopping.elapsed() < Duration::from_secs(8),
                "the run held up the stop for {:?}",
                stopping.elapsed()
            );
        } else {
            process.kill();
        }
        assert!(
            !klaar.exists(),
            "the result was complete before SIG{signal}: the run was too quick to interrupt"
        );
        // After the restart it is still bezig (the stop left it so), without a result, and
        // the runner runs it again from the start.
        since = std::time::SystemTime::now();
        process = builder.clone().spawn();
        let a = Afnemer {
            api: (*process).clone(),
            ..a.clone()
        };
        assert_eq!(status(&a, &id), "bezig", "the state SIG{signal} left");
        assert_problem(
            &resultaat(&process, &a.key, &id, None),
            409,
            "resultaat while bezig",
        );
    }
    let a = Afnemer {
        api: (*process).clone(),
        ..a
    };
    let view = wait_gereed(&a, &id, Duration::from_secs(180));
    assert_eq!(view["aantalRegels"], CRASH_BSNS, "{view}");
    assert!(
        timestamp(&view["gestartOp"]) > gestart[1] && gestart[1] > gestart[0],
        "each engine ran it from its start: {view}, {gestart:?}"
    );
    assert!(!tijdelijk.exists(), "no half result left behind");

    let got = regels(&a, &id);
    assert_eq!(got.len(), lijst.len(), "one line per BSN");
    for (i, ((bsn, status), given)) in got.iter().zip(&lijst).enumerate() {
        assert_eq!(bsn, given, "line {i}: the BSNs in the order given");
        let expected = if actief.get(bsn).copied().unwrap_or(false) {
            "actief"
        } else {
            "inactief"
        };
        assert_eq!(status, expected, "line {i}: {bsn}");
    }
    assert_eq!(
        got.iter().filter(|(_, status)| status == "actief").count(),
        10,
        "the actief citizens"
    );
    assert!(process.terminate().success(), "a clean stop");
}

// ---------------------------------------------------------------------------------------------
// 7. Isolation between afnemers
// ---------------------------------------------------------------------------------------------

#[test]
fn each_afnemer_sees_only_its_own_verzoeken_and_results_and_its_own_voorkeuren_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_at(&dir.path().join("data"), ams(D, "21:00"), |_| {});
    let a = afnemer(&engine, 5_900_001, "A");
    let b = afnemer(&engine, 5_900_002, "B");
    let (p, q, r, s, t) = (
        bsn(5_900_001),
        bsn(5_900_002),
        bsn(5_900_003),
        bsn(5_900_004),
        bsn(5_900_005),
    );
    let sinds = ams(D, "21:00");
    move_to(&engine, ams(D, "21:01"));
    for citizen in [&p, &q, &r, &s, &t] {
        open(&engine, citizen);
    }
    voorkeur(&engine, &p, &a.oin, false);
    voorkeur(&engine, &q, &b.oin, false);
    sluit(&engine, &s);
    voorkeur(&engine, &t, &a.oin, true);
    voorkeur(&engine, &t, &b.oin, false);

    move_to(&engine, ams(D, "22:00"));
    let (a_volledig, a_mutaties) = (guid(5901, 1), guid(5901, 2));
    let (b_volledig, b_mutaties) = (guid(5902, 1), guid(5902, 2));
    ingepland(&a, &volledig(&a_volledig));
    ingepland(&a, &mutaties(&a_mutaties, sinds));
    ingepland(&b, &volledig(&b_volledig));
    ingepland(&b, &mutaties(&b_mutaties, sinds));

    let neither_sees_the_other = || {
        for (afnemer, others) in [
            (&a, [&b_volledig, &b_mutaties]),
            (&b, [&a_volledig, &a_mutaties]),
        ] {
            for id in others {
                assert_problem(&verzoek(afnemer, id), 404, "another's verzoek");
                assert_problem(
                    &resultaat(&engine, &afnemer.key, id, None),
                    404,
                    "another's resultaat",
                );
            }
        }
    };
    neither_sees_the_other();

    move_to(&engine, ams(D, "23:00") + SignedDuration::from_secs(1));
    for (afnemer, id) in [
        (&a, &a_volledig),
        (&a, &a_mutaties),
        (&b, &b_volledig),
        (&b, &b_mutaties),
    ] {
        wait_gereed(afnemer, id, DEADLINE);
    }
    neither_sees_the_other();

    assert_eq!(
        as_set(regels(&a, &a_volledig), "A's volledig"),
        lines_of(&[(&q, "actief"), (&r, "actief"), (&t, "actief")]),
        "A's volledig leaves out who refused A"
    );
    assert_eq!(
        as_set(regels(&b, &b_volledig), "B's volledig"),
        lines_of(&[(&p, "actief"), (&r, "actief")]),
        "B's volledig leaves out who refused B"
    );
    // Every box opened since mutatieDatum counts for both; the status is each afnemer's own.
    assert_eq!(
        as_set(regels(&a, &a_mutaties), "A's mutaties"),
        lines_of(&[
            (&p, "inactief"),
            (&q, "actief"),
            (&r, "actief"),
            (&s, "inactief"),
            (&t, "actief"),
        ]),
        "A's mutaties"
    );
    assert_eq!(
        as_set(regels(&b, &b_mutaties), "B's mutaties"),
        lines_of(&[
            (&p, "actief"),
            (&q, "inactief"),
            (&r, "actief"),
            (&s, "inactief"),
            (&t, "inactief"),
        ]),
        "B's mutaties"
    );
    engine.shutdown().expect("stop");
}
