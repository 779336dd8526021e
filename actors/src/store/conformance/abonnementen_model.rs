//! The abonnementen model: a property test of the Abonnementservice's `mutaties` and
//! `volledig` results on any backend, made by the real runner ([`Runner::run`]) and read back
//! from its gzip NDJSON files.
//!
//! For random sequences of operations on a few citizens (valid BSNs) and two or three afnemers,
//! each at a strictly increasing time (some a nanosecond apart): a box opened (a new account, or
//! one opened again, or one already open), a box closed (also one already closed, or a first
//! account that is inactive), a berichtenvoorkeur set (the same choice again, too), and
//! restarts, it proves that, for random moments `T` (before everything, at an operation, a
//! nanosecond before or after one, between two, after everything):
//!
//! - a `mutaties` verzoek of afnemer `X` since `T` lists, once each, exactly the citizens with
//!   a change at or after `T` that counts for `X`: a voorkeur of `X` set for the first time or
//!   changed, or a box opened or closed (a change of `actief`); each with its status now
//!   (`actief`: an active box and no voorkeur of `X` with `digitaal: false`);
//! - a `volledig` verzoek of `X` lists exactly the citizens `actief` for `X`, once each;
//! - the runner stores each verzoek `gereed` with the number of lines it wrote.
//!
//! The model is a pair of maps and the list of changes; the store is reached only through its
//! roles.

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;

use super::Backend;
use crate::abonnementen::{Runner, RunnerConfig, resultaat_pad};
use crate::core::clock::{ManualClock, SharedClock};
use crate::core::nacht::NachtVenster;
use crate::store::{
    Abonnementen, AccountRecord, Citizens, Soort, Store, VerzoekRecord, VerzoekStatus,
    VoorkeurRecord,
};

const OINS: [&str; 3] = [
    "00000001000000000001",
    "00000001000000000002",
    "00000001000000000003",
];

/// Valid BSNs (the elfproef), two with a leading zero.
const BSNS: [&str; 5] = [
    "011111112",
    "042424240",
    "123456782",
    "555444338",
    "999993653",
];

#[derive(Debug, Clone)]
pub enum Op {
    /// `put_account` with `actief: true` (a new account, or an existing one opened again or
    /// written again while open), with a changed e-mail address or notifications flag or not.
    Open { bsn: usize, notificaties: bool },
    /// `put_account` with `actief: false` (an account that is not there yet included).
    Close { bsn: usize },
    /// `put_voorkeur`.
    Voorkeur {
        bsn: usize,
        oin: usize,
        digitaal: bool,
    },
    /// Close the store and open it again on the same data.
    Restart,
}

/// An operation and how long after the previous one it happens (at least a nanosecond).
#[derive(Debug, Clone)]
pub struct Step {
    gap_nanos: i64,
    op: Op,
}

/// A moment `T` for a `mutaties` extract.
#[derive(Debug, Clone)]
pub enum Moment {
    BeforeAll,
    AfterAll,
    /// An operation's time, moved by -1, 0 or +1 nanoseconds.
    Around(Index, i64),
    /// Halfway between an operation and the next.
    Between(Index),
}

fn op() -> impl Strategy<Value = Op> {
    let bsn = 0..BSNS.len();
    prop_oneof![
        3 => (bsn.clone(), any::<bool>())
            .prop_map(|(bsn, notificaties)| Op::Open { bsn, notificaties }),
        2 => bsn.clone().prop_map(|bsn| Op::Close { bsn }),
        4 => (bsn, 0..OINS.len(), any::<bool>())
            .prop_map(|(bsn, oin, digitaal)| Op::Voorkeur { bsn, oin, digitaal }),
        1 => Just(Op::Restart),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let gap = prop_oneof![
        Just(1i64),
        2i64..1_000,
        1_000_000i64..1_000_000_000,
        1_000_000_000i64..86_400_000_000_000,
    ];
    (gap, op()).prop_map(|(gap_nanos, op)| Step { gap_nanos, op })
}

fn moment() -> impl Strategy<Value = Moment> {
    prop_oneof![
        1 => Just(Moment::BeforeAll),
        1 => Just(Moment::AfterAll),
        4 => (any::<Index>(), -1i64..=1).prop_map(|(i, by)| Moment::Around(i, by)),
        2 => any::<Index>().prop_map(Moment::Between),
    ]
}

/// What the citizens' state is, and every change that counts for the Abonnementservice.
#[derive(Debug, Default)]
struct Model {
    /// By BSN: the account as last written.
    accounts: HashMap<usize, AccountRecord>,
    /// By (BSN, afnemer): `digitaal`.
    voorkeuren: HashMap<(usize, usize), bool>,
    /// Every change: when, for whom (an afnemer, or `None`: a box, for every afnemer), whose.
    changes: Vec<(Timestamp, Option<usize>, usize)>,
    /// The times of the operations on the store, in order.
    times: Vec<Timestamp>,
}

impl Model {
    fn actief(&self, bsn: usize, oin: usize) -> bool {
        self.accounts
            .get(&bsn)
            .is_some_and(|account| account.actief)
            && self.voorkeuren.get(&(bsn, oin)) != Some(&false)
    }

    fn status(&self, bsn: usize, oin: usize) -> &'static str {
        if self.actief(bsn, oin) {
            "actief"
        } else {
            "inactief"
        }
    }

    /// A `mutaties` result of `oin` since `sinds`, by BSN.
    fn mutaties(&self, oin: usize, sinds: Timestamp) -> BTreeMap<String, &'static str> {
        self.changes
            .iter()
            .filter(|(at, scope, _)| *at >= sinds && scope.is_none_or(|scope| scope == oin))
            .map(|&(_, _, bsn)| (BSNS[bsn].to_owned(), self.status(bsn, oin)))
            .collect()
    }

    /// A `volledig` result of `oin`, by BSN.
    fn volledig(&self, oin: usize) -> BTreeMap<String, &'static str> {
        (0..BSNS.len())
            .filter(|&bsn| self.actief(bsn, oin))
            .map(|bsn| (BSNS[bsn].to_owned(), "actief"))
            .collect()
    }

    fn moment(&self, moment: &Moment, start: Timestamp, end: Timestamp) -> Timestamp {
        if self.times.is_empty() {
            return start;
        }
        match moment {
            Moment::BeforeAll => start,
            Moment::AfterAll => end,
            Moment::Around(i, by) => {
                self.times[i.index(self.times.len())] + SignedDuration::from_nanos(*by)
            }
            Moment::Between(i) => {
                let i = i.index(self.times.len());
                let next = self.times.get(i + 1).copied().unwrap_or(end);
                let half = next.duration_since(self.times[i]) / 2;
                self.times[i] + half
            }
        }
    }
}

fn fail<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> TestCaseError {
    move |error| TestCaseError::fail(format!("{what}: {error}"))
}

/// Does `op` on the store at `at` and in the model.
fn apply(
    store: &dyn Store,
    model: &mut Model,
    op: &Op,
    at: Timestamp,
) -> Result<(), TestCaseError> {
    match *op {
        Op::Open { bsn, notificaties } => {
            let before = model.accounts.get(&bsn).cloned();
            let account = AccountRecord {
                bsn: BSNS[bsn].to_owned(),
                email: notificaties.then(|| format!("burger{bsn}@example.nl")),
                notificaties,
                actief: true,
                geopend_op: before.as_ref().map_or(at, |account| account.geopend_op),
                gewijzigd_op: at,
            };
            store.put_account(&account).map_err(fail("put_account"))?;
            if !before.is_some_and(|account| account.actief) {
                model.changes.push((at, None, bsn));
            }
            model.accounts.insert(bsn, account);
        }
        Op::Close { bsn } => {
            let before = model.accounts.get(&bsn).cloned();
            let account = AccountRecord {
                actief: false,
                gewijzigd_op: at,
                ..before.clone().unwrap_or(AccountRecord {
                    bsn: BSNS[bsn].to_owned(),
                    email: None,
                    notificaties: false,
                    actief: false,
                    geopend_op: at,
                    gewijzigd_op: at,
                })
            };
            store.put_account(&account).map_err(fail("put_account"))?;
            if before.is_some_and(|account| account.actief) {
                model.changes.push((at, None, bsn));
            }
            model.accounts.insert(bsn, account);
        }
        Op::Voorkeur { bsn, oin, digitaal } => {
            store
                .put_voorkeur(&VoorkeurRecord {
                    bsn: BSNS[bsn].to_owned(),
                    oin: OINS[oin].to_owned(),
                    digitaal,
                    gewijzigd_op: at,
                })
                .map_err(fail("put_voorkeur"))?;
            if model.voorkeuren.insert((bsn, oin), digitaal) != Some(digitaal) {
                model.changes.push((at, Some(oin), bsn));
            }
        }
        Op::Restart => unreachable!("a restart is the caller's"),
    }
    model.times.push(at);
    Ok(())
}

/// One line of a result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Regel {
    bsn: String,
    status: String,
}

/// A result file read back: its lines by BSN, each BSN at most once.
fn read_result(path: &std::path::Path) -> Result<(BTreeMap<String, String>, u64), TestCaseError> {
    let file = std::fs::File::open(path).map_err(fail("open a result"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(fail("gunzip a result"))?;
    let mut lines = BTreeMap::new();
    let mut n = 0;
    for line in text.lines() {
        let regel: Regel = serde_json::from_str(line).map_err(fail("a result line"))?;
        prop_assert!(
            regel.status == "actief" || regel.status == "inactief",
            "status {:?}",
            regel.status
        );
        let bsn = regel.bsn.clone();
        prop_assert!(
            lines.insert(regel.bsn, regel.status).is_none(),
            "{} listed twice in {}",
            bsn,
            path.display()
        );
        n += 1;
    }
    prop_assert!(
        text.is_empty() || text.ends_with('\n'),
        "lines end with a newline"
    );
    Ok((lines, n))
}

fn verzoek(oin: usize, no: u64, soort: Soort, mutatie_datum: Option<Timestamp>) -> VerzoekRecord {
    VerzoekRecord {
        mutatie_datum,
        ..VerzoekRecord::ingepland(
            OINS[oin],
            &super::guid(0xab0_0000, no),
            soort,
            jiff::civil::date(2026, 11, 2),
            Timestamp::UNIX_EPOCH,
        )
    }
}

/// Runs `steps` on a fresh store of `shards` shards with `afnemers` afnemers, then one run of
/// the runner: a `volledig` for every afnemer, and a `mutaties` for every afnemer since every
/// moment; checks every result against the model.
pub fn run(
    backend: &mut dyn Backend,
    shards: usize,
    afnemers: usize,
    steps: &[Step],
    moments: &[Moment],
) -> Result<(), TestCaseError> {
    let start: Timestamp = "2026-11-02T08:00:00Z".parse().map_err(fail("a time"))?;
    let mut model = Model::default();
    let mut store = backend.open(shards);
    let mut at = start;
    for step in steps {
        at += SignedDuration::from_nanos(step.gap_nanos);
        match &step.op {
            Op::Restart => store = backend.reopen(store),
            op => apply(&*store, &mut model, op, at)?,
        }
    }
    let end = at + SignedDuration::from_nanos(1);

    let mut verzoeken = Vec::new();
    let mut expected = Vec::new();
    for oin in 0..afnemers {
        verzoeken.push(verzoek(oin, verzoeken.len() as u64, Soort::Volledig, None));
        expected.push(model.volledig(oin));
        for moment in moments {
            let sinds = model.moment(moment, start, end);
            verzoeken.push(verzoek(
                oin,
                verzoeken.len() as u64,
                Soort::Mutaties,
                Some(sinds),
            ));
            expected.push(model.mutaties(oin, sinds));
        }
    }

    let resultaten = tempfile::tempdir().map_err(fail("a results directory"))?;
    let clock = SharedClock::new(Arc::new(ManualClock::new(
        end + SignedDuration::from_hours(1),
    )));
    let runner = Runner::new(
        store.clone() as Arc<dyn Abonnementen>,
        store.clone() as Arc<dyn Citizens>,
        clock,
        RunnerConfig {
            venster: NachtVenster {
                begin: jiff::civil::time(23, 0, 0, 0),
                eind: jiff::civil::time(7, 0, 0, 0),
                zone: jiff::tz::TimeZone::UTC,
            },
            resultaten: resultaten.path().to_owned(),
            bewaren: SignedDuration::from_hours(24),
        },
        Arc::new(AtomicBool::new(false)),
    );
    let done = runner.run(verzoeken.clone()).map_err(fail("the runner"))?;
    prop_assert_eq!(done, verzoeken.len());
    drop(runner);

    for (verzoek, want) in verzoeken.iter().zip(&expected) {
        let path = resultaat_pad(resultaten.path(), &verzoek.oin, &verzoek.verzoek_id);
        let (got, lines) = read_result(&path)?;
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(bsn, status)| (bsn.clone(), (*status).to_owned()))
            .collect();
        prop_assert_eq!(
            &got,
            &want,
            "{:?} of {} since {:?}",
            verzoek.soort,
            verzoek.oin,
            verzoek.mutatie_datum
        );
        let stored = store
            .verzoek(&verzoek.oin, &verzoek.verzoek_id)
            .map_err(fail("verzoek"))?
            .ok_or_else(|| TestCaseError::fail("the verzoek is stored"))?;
        prop_assert_eq!(stored.status, VerzoekStatus::Gereed);
        prop_assert_eq!(stored.regels, lines);
    }
    Ok(())
}

/// The model's property on `backend`: 24 random runs on 1 to 3 shards with 2 or 3 afnemers.
pub fn abonnementen_model(backend: &mut dyn Backend) {
    let mut runner = super::model_runner();
    let strategy = (
        1usize..=3,
        2usize..=3,
        prop::collection::vec(step(), 1..32),
        prop::collection::vec(moment(), 1..6),
    );
    let backend = std::cell::RefCell::new(backend);
    let result = runner.run(&strategy, |(shards, afnemers, steps, moments)| {
        run(
            &mut **backend.borrow_mut(),
            shards,
            afnemers,
            &steps,
            &moments,
        )
    });
    if let Err(failure) = result {
        panic!("the abonnementen model fails: {failure}");
    }
}
