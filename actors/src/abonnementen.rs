//! The Abonnementservice's runner: the actor that makes the night's extracts, on a thread of
//! its own (a `SyncArbiter`) at a lower scheduling priority than the rest of the engine
//! (nice 10), driven by a pacemaker of its own.
//!
//! On each beat it reads the injected clock once. While a night window is open it runs every
//! verzoek planned for that night (or an earlier one) that is not `gereed`: all `volledig`
//! verzoeken together in one pass over the accounts, then each `bsn-lijst`, then each
//! `mutaties`. A result is written as gzip-compressed NDJSON to a temporary file, synced and
//! renamed into place before the verzoek is stored `gereed`: a result is never served
//! half-written. A crash or a stop leaves the verzoek `bezig` with at most a temporary file;
//! the next beat in the window deletes that file and runs the verzoek again from its start.
//! Outside the windows it forgets results older than their retention and expired quotas.
//!
//! Every read goes through the store's paged calls ([`Abonnementen::actieve_accounts`],
//! [`Abonnementen::mutaties`], [`Abonnementen::verzoek_bsns`]), so memory stays bounded by a
//! page and the writers' buffers, whatever the number of accounts; only a `mutaties` extract
//! keeps the set of one shard's changed BSNs (4 bytes each) to list each once.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use actix::{Actor, ActorContext, Handler, SyncArbiter, SyncContext};
use flate2::Compression;
use flate2::write::GzEncoder;
use jiff::{SignedDuration, Timestamp};

use crate::core::clock::SharedClock;
use crate::core::nacht::NachtVenster;
use crate::pacemaker::{Drain, Pacemaker};
use crate::store::{
    Abonnementen, Citizens, Soort, StoreError, VerzoekRecord, VerzoekStatus, wil_digitaal,
};

/// The real time a night's verzoeken may take by the runner's estimate: 90% of the 4 hours,
/// the rest a margin for what the estimate misses. A verzoek that would take a night over it
/// is refused when it is made.
pub const NACHT_BUDGET: std::time::Duration = std::time::Duration::from_secs(4 * 3600 * 9 / 10);

/// Accounts, mutaties or BSNs read per store call.
const PAGE: usize = 10_000;

/// The file name a verzoek's result has in the results directory.
pub fn resultaat_pad(dir: &Path, oin: &str, verzoek_id: &str) -> PathBuf {
    dir.join(format!("{oin}-{verzoek_id}.ndjson.gz"))
}

fn tijdelijk_pad(dir: &Path, oin: &str, verzoek_id: &str) -> PathBuf {
    dir.join(format!("{oin}-{verzoek_id}.ndjson.gz.tmp"))
}

/// What the runner needs to know.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub venster: NachtVenster,
    /// Where results are written (`DATA_DIR/abonnementen`); it must exist.
    pub resultaten: PathBuf,
    /// How long a `gereed` verzoek and its result are kept after it is done.
    pub bewaren: SignedDuration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("result file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the engine is stopping")]
    Stopping,
}

/// The runner. Public for the benchmark, which runs a night's work without the actor.
#[derive(Clone)]
pub struct Runner {
    verzoeken: Arc<dyn Abonnementen>,
    citizens: Arc<dyn Citizens>,
    clock: SharedClock,
    config: RunnerConfig,
    stopping: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("resultaten", &self.config.resultaten)
            .finish_non_exhaustive()
    }
}

/// A result being written: gzip into a temporary file, renamed into place when finished.
///
/// The lines go through a buffer in front of the encoder, so the encoder is handed 64 KiB at a
/// time: each write into flate2's encoder runs the compressor, which (with the miniz_oxide
/// backend) first zeroes the free part of its 32 KiB output buffer, and a line written straight
/// into it was six small writes. Unbuffered, that zeroing was 60% of a `volledig`'s CPU.
///
/// Every [`SYNC_EVERY`] bytes of lines a result's file is synced: a night's results are
/// gigabytes, and left to the kernel they pile up as dirty pages that are then written out in
/// a burst, in front of the shards' journal syncs that parking waits for. Per file, so with
/// 225 results open the runner may still leave about a gigabyte dirty (BENCHMARKS.md,
/// "Abonnementservice"); a bound over all of them would take 225 syncs each time it is
/// reached, which was not measured.
struct Resultaat {
    tijdelijk: PathBuf,
    pad: PathBuf,
    out: BufWriter<GzEncoder<File>>,
    regels: u64,
    /// Bytes of lines since the file was last synced.
    ongesynct: usize,
}

/// Bytes of lines (before compression, so some 6 MiB of file) between two syncs of a result.
const SYNC_EVERY: usize = 64 << 20;

/// One line of a result: `{"bsn":"...","status":"actief"}` (or `inactief`) and a newline.
fn regel(bsn: &str, actief: bool) -> String {
    let status = if actief { "actief" } else { "inactief" };
    format!("{{\"bsn\":\"{bsn}\",\"status\":\"{status}\"}}\n")
}

impl Resultaat {
    fn create(dir: &Path, verzoek: &VerzoekRecord) -> std::io::Result<Self> {
        let tijdelijk = tijdelijk_pad(dir, &verzoek.oin, &verzoek.verzoek_id);
        let file = File::create(&tijdelijk)?;
        Ok(Self {
            pad: resultaat_pad(dir, &verzoek.oin, &verzoek.verzoek_id),
            tijdelijk,
            out: BufWriter::with_capacity(64 << 10, GzEncoder::new(file, Compression::fast())),
            regels: 0,
            ongesynct: 0,
        })
    }

    fn line(&mut self, bsn: &str, actief: bool) -> std::io::Result<()> {
        self.push(regel(bsn, actief).as_bytes())
    }

    /// Adds a line made by [`regel`].
    fn push(&mut self, regel: &[u8]) -> std::io::Result<()> {
        self.out.write_all(regel)?;
        self.regels += 1;
        self.ongesynct += regel.len();
        if self.ongesynct >= SYNC_EVERY {
            // What the encoder has written so far; what it and the buffer hold follows later.
            self.out.get_ref().get_ref().sync_data()?;
            self.ongesynct = 0;
        }
        Ok(())
    }

    /// Syncs the file and renames it into place (and syncs the directory): from here on the
    /// whole result is there, or, after a crash before, none of it.
    fn finish(self, dir: &Path) -> std::io::Result<u64> {
        let file = self
            .out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .finish()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tijdelijk, &self.pad)?;
        File::open(dir)?.sync_all()?;
        Ok(self.regels)
    }
}

impl Runner {
    pub fn new(
        verzoeken: Arc<dyn Abonnementen>,
        citizens: Arc<dyn Citizens>,
        clock: SharedClock,
        config: RunnerConfig,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        Self {
            verzoeken,
            citizens,
            clock,
            config,
            stopping,
        }
    }

    fn check_stopping(&self) -> Result<(), RunError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(RunError::Stopping);
        }
        Ok(())
    }

    /// One beat: the open night's verzoeken, or else the clean-up. Answers how many verzoeken
    /// it finished.
    pub fn beat(&self) -> Result<usize, RunError> {
        let now = self.clock.now();
        let Some(nacht) = self.config.venster.open(now) else {
            self.forget(now)?;
            return Ok(0);
        };
        let due: Vec<VerzoekRecord> = self
            .verzoeken
            .verzoeken()?
            .into_iter()
            .filter(|verzoek| verzoek.nacht <= nacht.datum)
            .filter(|verzoek| verzoek.status != VerzoekStatus::Gereed || !self.has_result(verzoek))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        self.run(due)
    }

    fn has_result(&self, verzoek: &VerzoekRecord) -> bool {
        resultaat_pad(&self.config.resultaten, &verzoek.oin, &verzoek.verzoek_id).exists()
    }

    /// Runs `due` to the end: `volledig` together, then the others one by one.
    pub fn run(&self, mut due: Vec<VerzoekRecord>) -> Result<usize, RunError> {
        let started = self.clock.now();
        for verzoek in &mut due {
            verzoek.status = VerzoekStatus::Bezig;
            verzoek.gestart_op = Some(started);
            verzoek.gereed_op = None;
            verzoek.regels = 0;
            verzoek.duur_ms = 0;
            verzoek.scan_ms = 0;
            self.verzoeken.put_verzoek(verzoek)?;
        }
        let (volledig, others): (Vec<_>, Vec<_>) = due
            .into_iter()
            .partition(|verzoek| verzoek.soort == Soort::Volledig);
        let mut done = 0;
        if !volledig.is_empty() {
            done += self.volledig(volledig)?;
        }
        for mut verzoek in others {
            let began = Instant::now();
            let mut resultaat = Resultaat::create(&self.config.resultaten, &verzoek)?;
            match verzoek.soort {
                Soort::BsnLijst => self.bsn_lijst(&verzoek, &mut resultaat)?,
                Soort::Mutaties => self.mutaties(&verzoek, &mut resultaat)?,
                Soort::Volledig => unreachable!("partitioned out above"),
            }
            verzoek.duur_ms = millis(began.elapsed());
            self.gereed(verzoek, resultaat)?;
            done += 1;
        }
        Ok(done)
    }

    fn gereed(&self, mut verzoek: VerzoekRecord, resultaat: Resultaat) -> Result<(), RunError> {
        verzoek.regels = resultaat.finish(&self.config.resultaten)?;
        let now = self.clock.now();
        verzoek.status = VerzoekStatus::Gereed;
        verzoek.gereed_op = Some(now);
        self.verzoeken.put_verzoek(&verzoek)?;
        let soort = verzoek.soort.as_str();
        metrics::counter!(crate::telemetry::ABONNEMENTEN_GEREED, "abonnement" => soort)
            .increment(1);
        let opent = self.config.venster.nacht(verzoek.nacht).opent;
        metrics::histogram!(crate::telemetry::ABONNEMENTEN_DOORLOOPTIJD, "abonnement" => soort)
            .record(now.duration_since(opent).as_secs_f64().max(0.0));
        tracing::info!(
            oin = verzoek.oin,
            verzoek_id = verzoek.verzoek_id,
            soort,
            regels = verzoek.regels,
            "abonnementsverzoek gereed"
        );
        Ok(())
    }

    /// Every `volledig` of the night in one pass over each shard's accounts: an active
    /// account is a line in the result of each afnemer it did not refuse. Measures the pass's
    /// reading apart from its writing: the first is shared, the second each result's own.
    fn volledig(&self, mut verzoeken: Vec<VerzoekRecord>) -> Result<usize, RunError> {
        let began = Instant::now();
        let mut reading = std::time::Duration::ZERO;
        let mut resultaten = verzoeken
            .iter()
            .map(|verzoek| Resultaat::create(&self.config.resultaten, verzoek))
            .collect::<Result<Vec<_>, _>>()?;
        for shard in 0..self.verzoeken.shard_count() {
            let mut na: Option<String> = None;
            loop {
                self.check_stopping()?;
                let read = Instant::now();
                let page = self
                    .verzoeken
                    .actieve_accounts(shard, na.as_deref(), PAGE)?;
                reading += read.elapsed();
                for account in &page {
                    // The same line for every afnemer: made once.
                    let line = regel(&account.bsn, true);
                    for (verzoek, resultaat) in verzoeken.iter().zip(&mut resultaten) {
                        if !account.geweigerd.contains(&verzoek.oin) {
                            resultaat.push(line.as_bytes())?;
                        }
                    }
                }
                if page.len() < PAGE {
                    break;
                }
                na = page.last().map(|account| account.bsn.clone());
            }
        }
        let n = verzoeken.len();
        let writing = began.elapsed().saturating_sub(reading);
        for verzoek in &mut verzoeken {
            verzoek.duur_ms = millis(writing) / n as u64;
            verzoek.scan_ms = millis(reading);
        }
        for (verzoek, resultaat) in verzoeken.into_iter().zip(resultaten) {
            self.gereed(verzoek, resultaat)?;
        }
        Ok(n)
    }

    /// Each BSN of the list, in the order given, with its status.
    fn bsn_lijst(&self, verzoek: &VerzoekRecord, out: &mut Resultaat) -> Result<(), RunError> {
        let mut vanaf = 0u64;
        loop {
            self.check_stopping()?;
            let page =
                self.verzoeken
                    .verzoek_bsns(&verzoek.oin, &verzoek.verzoek_id, vanaf, PAGE)?;
            for bsn in &page {
                let bsn = format!("{bsn:09}");
                out.line(&bsn, self.actief(&bsn, &verzoek.oin)?)?;
            }
            if page.len() < PAGE {
                return Ok(());
            }
            vanaf += PAGE as u64;
        }
    }

    /// Each citizen with a mutatie for this afnemer (its voorkeur, or his box opened or
    /// closed) at or after `mutatieDatum`, once, with his status now; shard by shard, in BSN
    /// order within a shard.
    fn mutaties(&self, verzoek: &VerzoekRecord, out: &mut Resultaat) -> Result<(), RunError> {
        let sinds = verzoek.mutatie_datum.unwrap_or(Timestamp::UNIX_EPOCH);
        for shard in 0..self.verzoeken.shard_count() {
            let mut bsns: Vec<u32> = Vec::new();
            for scope in [Some(verzoek.oin.as_str()), None] {
                let mut na = None;
                loop {
                    self.check_stopping()?;
                    let page = self
                        .verzoeken
                        .mutaties(shard, scope, sinds, na.as_ref(), PAGE)?;
                    bsns.extend(page.iter().filter_map(|plek| plek.bsn.parse::<u32>().ok()));
                    if page.len() < PAGE {
                        break;
                    }
                    na = page.last().cloned();
                }
            }
            bsns.sort_unstable();
            bsns.dedup();
            for bsn in bsns {
                let bsn = format!("{bsn:09}");
                out.line(&bsn, self.actief(&bsn, &verzoek.oin)?)?;
            }
        }
        Ok(())
    }

    /// `actief` as API.md means it: an active box, and digital mail from this afnemer wanted.
    fn actief(&self, bsn: &str, oin: &str) -> Result<bool, StoreError> {
        let account = self.citizens.account(bsn)?;
        wil_digitaal(&*self.citizens, account.as_ref(), oin)
    }

    /// Deletes the verzoeken `gereed` longer ago than their retention, with their results,
    /// what an interrupted run left behind, and the quotas that have expired.
    fn forget(&self, now: Timestamp) -> Result<(), RunError> {
        let horizon = now
            .checked_sub(self.config.bewaren)
            .unwrap_or(Timestamp::MIN);
        for verzoek in self.verzoeken.verzoeken()? {
            let dir = &self.config.resultaten;
            if verzoek.status != VerzoekStatus::Gereed {
                remove_if_there(&tijdelijk_pad(dir, &verzoek.oin, &verzoek.verzoek_id))?;
                continue;
            }
            if verzoek.gereed_op.is_some_and(|op| op < horizon) {
                remove_if_there(&resultaat_pad(dir, &verzoek.oin, &verzoek.verzoek_id))?;
                self.verzoeken
                    .delete_verzoek(&verzoek.oin, &verzoek.verzoek_id)?;
            }
        }
        self.verzoeken.expire_quota(now)?;
        Ok(())
    }
}

fn millis(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// What the runner can do in a night, from what it measured on the verzoeken still kept (the
/// last `resultaat_bewaren_dagen`): the slowest it made each soort, per verzoek (`volledig`,
/// `mutaties`) or per BSN (`bsn-lijst`), and the slowest pass over the accounts, which a
/// night's `volledig` verzoeken share (so 225 of them cost one pass and 225 results, not 225
/// passes). With nothing measured yet it knows nothing and estimates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tempo {
    pass_ms: Option<f64>,
    volledig_ms: Option<f64>,
    bsn_ms: Option<f64>,
    mutaties_ms: Option<f64>,
}

impl Tempo {
    pub fn measured<'a>(verzoeken: impl IntoIterator<Item = &'a VerzoekRecord>) -> Self {
        let mut tempo = Self::default();
        let slowest = |slot: &mut Option<f64>, value: f64| {
            *slot = Some(slot.map_or(value, |known| known.max(value)));
        };
        for verzoek in verzoeken {
            if verzoek.status != VerzoekStatus::Gereed {
                continue;
            }
            let ms = verzoek.duur_ms as f64;
            match verzoek.soort {
                Soort::Volledig => {
                    slowest(&mut tempo.volledig_ms, ms);
                    slowest(&mut tempo.pass_ms, verzoek.scan_ms as f64);
                }
                Soort::BsnLijst => {
                    slowest(
                        &mut tempo.bsn_ms,
                        ms / f64::from(verzoek.aantal_bsns.max(1)),
                    );
                }
                Soort::Mutaties => slowest(&mut tempo.mutaties_ms, ms),
            }
        }
        tempo
    }

    /// The estimated real time of one verzoek, in milliseconds (0 where nothing is known); for
    /// a `volledig`, without the pass it shares with the night's others.
    pub fn estimate_ms(&self, soort: Soort, aantal_bsns: u32) -> f64 {
        match soort {
            Soort::Volledig => self.volledig_ms.unwrap_or(0.0),
            Soort::BsnLijst => self.bsn_ms.unwrap_or(0.0) * f64::from(aantal_bsns),
            Soort::Mutaties => self.mutaties_ms.unwrap_or(0.0),
        }
    }

    /// Whether `extra` still fits in a night that holds `planned`: their estimates together,
    /// with one pass over the accounts if any is a `volledig`, within `budget` (the 4 hours
    /// of a night, less a margin the caller chose).
    pub fn fits<'a>(
        &self,
        planned: impl IntoIterator<Item = &'a VerzoekRecord>,
        extra: (Soort, u32),
        budget: std::time::Duration,
    ) -> bool {
        let mut volledig = extra.0 == Soort::Volledig;
        let mut total = self.estimate_ms(extra.0, extra.1);
        for verzoek in planned {
            volledig |= verzoek.soort == Soort::Volledig;
            total += self.estimate_ms(verzoek.soort, verzoek.aantal_bsns);
        }
        if volledig {
            total += self.pass_ms.unwrap_or(0.0);
        }
        total <= budget.as_secs_f64() * 1000.0
    }
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The runner as an actor.
struct RunnerActor {
    runner: Runner,
    drain_queued: Arc<AtomicBool>,
}

impl Actor for RunnerActor {
    type Context = SyncContext<Self>;
}

impl Handler<Drain> for RunnerActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut SyncContext<Self>) {
        self.drain_queued.store(false, Ordering::SeqCst);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runner.beat())) {
            Ok(Ok(_) | Err(RunError::Stopping)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "abonnementen: a run failed, retrying on the next beat");
            }
            Err(_) => {
                tracing::error!("abonnementen: a run panicked, restarting the runner");
                metrics::counter!(crate::telemetry::ACTOR_RESTARTS, "actor" => crate::telemetry::ACTOR_ABONNEMENTEN)
                    .increment(1);
                ctx.stop();
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority to nice 10, so parking and processing
/// come first when the cores are busy. A refusal (a sandbox without the right) is logged and
/// otherwise ignored: the runner then competes as an equal.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(tid), 10) {
        tracing::warn!(%error, "abonnementen: cannot lower the runner's priority");
    }
}

/// Starts the runner on its own thread and has `pacemaker` drive it. The runner's `stopping`,
/// once set, ends a run between two pages (the verzoek stays `bezig` and runs again after a
/// restart).
pub fn start(pacemaker: &mut Pacemaker, runner: Runner) {
    let drain_queued = Arc::new(AtomicBool::new(false));
    let flag = drain_queued.clone();
    let addr = SyncArbiter::start(1, move || {
        lower_priority();
        RunnerActor {
            runner: runner.clone(),
            drain_queued: flag.clone(),
        }
    });
    pacemaker.drive(addr.recipient(), drain_queued);
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn verzoek(
        soort: Soort,
        aantal_bsns: u32,
        (duur_ms, scan_ms): (u64, u64),
        status: VerzoekStatus,
    ) -> VerzoekRecord {
        VerzoekRecord {
            aantal_bsns,
            status,
            duur_ms,
            scan_ms,
            ..VerzoekRecord::ingepland(
                "00000001234567890000",
                "0b9d1a2e-5f3c-4c1e-9a7b-2d3e4f5a6b7c",
                soort,
                jiff::civil::date(2026, 12, 7),
                Timestamp::UNIX_EPOCH,
            )
        }
    }

    #[test]
    fn the_tempo_is_the_slowest_measured_and_nothing_without_a_measure() {
        let hour = std::time::Duration::from_secs(3600);
        let unknown = Tempo::measured(&[]);
        assert!(unknown.fits(&[], (Soort::BsnLijst, 1_000_000), hour));
        assert_eq!(unknown.estimate_ms(Soort::Volledig, 0), 0.0);

        let kept = [
            // Two nights' volledig: a pass of 10 and of 12 minutes, a result of 1 and 1.5 s.
            verzoek(Soort::Volledig, 0, (1_000, 600_000), VerzoekStatus::Gereed),
            verzoek(Soort::Volledig, 0, (1_500, 720_000), VerzoekStatus::Gereed),
            verzoek(Soort::BsnLijst, 1_000, (100, 0), VerzoekStatus::Gereed),
            verzoek(Soort::BsnLijst, 1_000, (300, 0), VerzoekStatus::Gereed),
            // Not gereed: not measured.
            verzoek(Soort::Mutaties, 0, (999_999, 0), VerzoekStatus::Bezig),
        ];
        let tempo = Tempo::measured(&kept);
        assert_eq!(tempo.estimate_ms(Soort::Volledig, 0), 1_500.0);
        assert!((tempo.estimate_ms(Soort::BsnLijst, 1_000_000) - 300_000.0).abs() < 1e-6);
        assert_eq!(tempo.estimate_ms(Soort::Mutaties, 0), 0.0);

        // The night's volledig share one pass: an hour holds the 12-minute pass and 1,920
        // results of 1.5 s, not 1,921.
        let ingepland = |n: usize| -> Vec<VerzoekRecord> {
            (0..n)
                .map(|_| verzoek(Soort::Volledig, 0, (0, 0), VerzoekStatus::Ingepland))
                .collect()
        };
        assert!(tempo.fits(&ingepland(1_919), (Soort::Volledig, 0), hour));
        assert!(!tempo.fits(&ingepland(1_920), (Soort::Volledig, 0), hour));
        // A list of 12,000,000 BSNs at 0.3 ms is an hour; with a volledig planned, the pass
        // and its result come on top.
        assert!(tempo.fits(&[], (Soort::BsnLijst, 12_000_000), hour));
        assert!(!tempo.fits(&[], (Soort::BsnLijst, 12_000_001), hour));
        assert!(!tempo.fits(&ingepland(1), (Soort::BsnLijst, 12_000_000), hour));
        assert!(tempo.fits(&ingepland(1), (Soort::BsnLijst, 9_595_000), hour));
    }

    /// A result is gzip of exactly its lines, renamed into place with no temporary file left,
    /// however many lines pass through the buffer in front of the encoder.
    #[test]
    fn a_result_is_gzip_ndjson_of_its_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let now = Timestamp::from_second(1_796_000_000).expect("time");
        let verzoek = VerzoekRecord {
            status: VerzoekStatus::Bezig,
            gestart_op: Some(now),
            ..VerzoekRecord::ingepland(
                "00000001234567890000",
                "3f2a7c1e-0000-4000-8000-000000000001",
                Soort::Volledig,
                now.to_zoned(jiff::tz::TimeZone::UTC).date(),
                now,
            )
        };
        let mut resultaat = Resultaat::create(dir.path(), &verzoek).expect("create");
        let mut expected = String::new();
        for i in 0..20_000u32 {
            let bsn = format!("{:09}", 100_000_000 + i);
            let actief = i % 7 != 0;
            if actief && i % 2 == 0 {
                resultaat.push(regel(&bsn, true).as_bytes()).expect("push");
            } else {
                resultaat.line(&bsn, actief).expect("line");
            }
            let status = if actief { "actief" } else { "inactief" };
            expected.push_str(&format!("{{\"bsn\":\"{bsn}\",\"status\":\"{status}\"}}\n"));
        }
        assert_eq!(resultaat.finish(dir.path()).expect("finish"), 20_000);
        let pad = resultaat_pad(dir.path(), &verzoek.oin, &verzoek.verzoek_id);
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&pad).expect("result"))
            .read_to_string(&mut text)
            .expect("gzip");
        assert_eq!(text, expected);
        assert!(!tijdelijk_pad(dir.path(), &verzoek.oin, &verzoek.verzoek_id).exists());
    }
}
