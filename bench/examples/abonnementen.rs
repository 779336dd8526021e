//! The Abonnementservice's extracts measured (issue 12): a `volledig` over millions of
//! accounts (alone, and several run together as the runner runs a night's `volledig`
//! verzoeken: in one pass), a `bsn-lijst` of a million BSNs and a `mutaties` extract after a
//! day of changes, each by the engine's own runner
//! (`berichtenbox_actors::abonnementen::Runner`) on the embedded store, in this process.
//!
//! ```sh
//! cargo build --release -p berichtenbox-bench --example abonnementen
//! B=target/release/examples/abonnementen
//! $B load --data-dir /tmp/abo-data --accounts 10000000   # the accounts (bulk loader)
//! $B dag --data-dir /tmp/abo-data --accounts 10000000    # a day of changes (citizen API)
//! $B run --data-dir /tmp/abo-data --accounts 10000000 --out /tmp/abo-out
//! ```
//!
//! - `load` fills a fresh data directory with `--accounts` citizens through
//!   `EmbeddedStore::load_citizens`, the bulk loader for benchmarks (the same keys and records
//!   as the citizen API's writes, in large unsynced batches with one sync at the end). The
//!   citizens follow from their index (see [`citizen`]): BSNs from 100000000 up that pass the
//!   elfproef, 97% with an active box, 85% with an e-mail address, opened 2 to 80 days ago,
//!   and 10% with berichtenvoorkeuren for 1 to 3 of 20 afnemers (70% of those refusing
//!   digital mail), among them the 10 afnemers that make the verzoeken here.
//! - `dag` makes a day of changes through the store's citizen calls, one synced write each
//!   (`put_voorkeur`, `put_account`), timed over the last 23 hours: 1% of the accounts change
//!   a voorkeur for one of the 10 afnemers (a tenth each), 0.05% close their box, and 0.1%
//!   new citizens open one.
//! - `run` runs, one after the other: `--rounds` (2) times 1 `volledig` and then
//!   `--volledig-samen` (10) together (the first round also warms the caches), a `bsn-lijst`
//!   of `--bsns` (1,000,000: 95% accounts in a scattered order, 5% BSNs without one) and a
//!   `mutaties` since `--mutatie-datum` (24 hours ago); for each the wall time, the process's
//!   CPU, its peak RSS (`VmHWM`, reset before each case through `/proc/self/clear_refs`) and
//!   the result's size. The peer, in the same run: the system's `gzip -1` compressing the last
//!   round's single `volledig`'s own NDJSON.
//! - `verzoek-body` writes the JSON body of the same `bsn-lijst` verzoek, for the API.

use berichtenbox_bench::du;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use berichtenbox_actors::abonnementen::{Runner, RunnerConfig, resultaat_pad};
use berichtenbox_actors::core::bsn::is_valid_bsn;
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::core::nacht::NachtVenster;
use berichtenbox_actors::store::embedded::{EmbeddedConfig, EmbeddedStore};
use berichtenbox_actors::store::{Aanvraag, Abonnementen as _};
use berichtenbox_actors::store::{
    AccountRecord, Admin as _, Citizens as _, Soort, VerzoekRecord, VerzoekStatus, VoorkeurRecord,
};
use berichtenbox_loadtest::ids::mix64;
use berichtenbox_loadtest::procfs;
use clap::{Parser, Subcommand};
use jiff::{SignedDuration, Timestamp};

const SEED: u64 = 20_261_207;
/// The 8-digit prefix of the loaded citizens' BSNs: 100000000 and up, apart from the load
/// harness's (300000000 and 700000000 up). 10 million need about 11 million prefixes.
const FIRST_PREFIX: u32 = 10_000_000;
/// The prefix of the citizens who open a box on the day of changes.
const NEW_PREFIX: u32 = 25_000_000;
/// The prefix of the BSNs without an account in the `bsn-lijst`.
const NO_ACCOUNT_PREFIX: u32 = 80_000_000;
/// Afnemers with voorkeuren; the first [`VERZOEKERS`] make the verzoeken.
const VOORKEUR_AFNEMERS: u64 = 20;
const VERZOEKERS: usize = 10;
const DAY: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fills a fresh data directory with citizens (bulk loader).
    Load {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        accounts: usize,
        /// Loading threads, each with every `threads`-th citizen.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// A day of changes through the citizen calls (synced writes).
    Dag {
        #[arg(long)]
        data_dir: PathBuf,
        /// The accounts `load` made.
        #[arg(long)]
        accounts: usize,
        #[arg(long, default_value_t = 4)]
        threads: usize,
    },
    /// The extracts, each timed.
    Run {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        accounts: usize,
        /// Where figures.md goes (results are written in the data directory and deleted).
        #[arg(long)]
        out: PathBuf,
        /// `volledig` verzoeken run together in the second case (0: skip it).
        #[arg(long, default_value_t = 10)]
        volledig_samen: usize,
        /// BSNs in the `bsn-lijst` (0: skip it).
        #[arg(long, default_value_t = 1_000_000)]
        bsns: usize,
        /// The `mutaties` extract's `mutatieDatum` (default: 24 hours ago).
        #[arg(long)]
        mutatie_datum: Option<Timestamp>,
        /// Skip the `gzip -1` peer.
        #[arg(long)]
        no_peer: bool,
        /// Rounds of the two `volledig` cases (the first round also warms the caches).
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// Writes the `bsn-lijst` verzoek's JSON body (the same BSNs as `run`'s).
    VerzoekBody {
        #[arg(long)]
        accounts: usize,
        #[arg(long, default_value_t = 1_000_000)]
        bsns: usize,
        #[arg(long)]
        verzoek_id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Load {
            data_dir,
            accounts,
            threads,
        } => load(&data_dir, accounts, threads),
        Command::Dag {
            data_dir,
            accounts,
            threads,
        } => dag(&data_dir, accounts, threads),
        Command::Run {
            data_dir,
            accounts,
            out,
            volledig_samen,
            bsns,
            mutatie_datum,
            no_peer,
            rounds,
        } => run(&RunArgs {
            data_dir,
            accounts,
            out,
            volledig_samen,
            bsns,
            mutatie_datum: mutatie_datum.unwrap_or_else(|| Timestamp::now() - DAY),
            peer: !no_peer,
            rounds: rounds.max(1),
        }),
        Command::VerzoekBody {
            accounts,
            bsns,
            verzoek_id,
            out,
        } => verzoek_body(accounts, bsns, &verzoek_id, &out),
    }
}

/// The engine's store configuration (4 shards, its caches and memtables) on `data_dir`.
fn open(data_dir: &Path) -> anyhow::Result<Arc<EmbeddedStore>> {
    let config = EmbeddedConfig {
        data_dir: data_dir.to_owned(),
        ..EmbeddedConfig::default()
    };
    Ok(Arc::new(EmbeddedStore::open(config).with_context(
        || format!("open the store in {}", data_dir.display()),
    )?))
}

/// Valid BSNs (as numbers) from the 8-digit `prefix` on: each prefix with the check digit
/// that makes the elfproef hold, if it is a digit and the weighted sum is not 0.
fn bsns_from(prefix: u32) -> impl Iterator<Item = u32> {
    (prefix..100_000_000).filter_map(|prefix| {
        let mut rest = prefix;
        let mut sum = 0;
        for weight in 2..=9 {
            sum += weight * (rest % 10);
            rest /= 10;
        }
        let check = sum % 11;
        // A weighted sum of 0 fails the elfproef too (as 000000000 does).
        (check < 10 && sum != check).then_some(prefix * 10 + check)
    })
}

fn bsn_text(bsn: u32) -> String {
    format!("{bsn:09}")
}

/// The OIN of afnemer `index` of this benchmark: 20 digits, `00000008` then the index.
fn oin(index: u64) -> String {
    format!("00000008{index:012}")
}

/// Citizen `index` of the load: his account and voorkeuren, a function of the index.
fn citizen(index: u64, bsn: u32, now: Timestamp) -> (AccountRecord, Vec<VoorkeurRecord>) {
    let h = mix64(SEED ^ index);
    let bsn = bsn_text(bsn);
    let email = (h >> 8) % 100 < 85;
    let age_seconds = 2 * 86_400 + ((h >> 16) % (78 * 86_400)) as i64;
    let geopend_op = now - SignedDuration::from_secs(age_seconds);
    let voorkeuren = if (h >> 40).is_multiple_of(10) {
        (0..1 + (h >> 44) % 3)
            .map(|k| VoorkeurRecord {
                bsn: bsn.clone(),
                oin: oin(((h >> 48) + k * 7) % VOORKEUR_AFNEMERS),
                digitaal: ((h >> 56) + k) % 10 >= 7,
                gewijzigd_op: geopend_op + SignedDuration::from_hours(k as i64 + 1),
            })
            .collect()
    } else {
        Vec::new()
    };
    let account = AccountRecord {
        email: email.then(|| format!("b{bsn}@voorbeeld.nl")),
        bsn,
        notificaties: email && !(h >> 32).is_multiple_of(10),
        actief: h % 100 >= 3,
        geopend_op,
        gewijzigd_op: geopend_op,
    };
    (account, voorkeuren)
}

fn load(data_dir: &Path, accounts: usize, threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        !data_dir.exists() || std::fs::read_dir(data_dir)?.next().is_none(),
        "{} is not empty: load into a fresh data directory",
        data_dir.display()
    );
    // The BSNs pass the elfproef and stay below those the day of changes opens boxes for.
    let last = bsns_from(FIRST_PREFIX)
        .take(accounts)
        .inspect(|bsn| assert!(is_valid_bsn(&bsn_text(*bsn)), "{bsn}"))
        .last()
        .unwrap_or(0);
    anyhow::ensure!(
        last < NEW_PREFIX * 10,
        "too many accounts for the BSN ranges"
    );
    let store = open(data_dir)?;
    let now = Timestamp::now();
    let began = Instant::now();
    let threads = threads.max(1);
    let chunk = 1_000_000usize;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let store = &store;
                scope.spawn(move || -> anyhow::Result<u64> {
                    let mut loaded = 0;
                    let mut mine = bsns_from(FIRST_PREFIX)
                        .take(accounts)
                        .enumerate()
                        .filter(|(index, _)| index % threads == t)
                        .map(|(index, bsn)| citizen(index as u64, bsn, now))
                        .peekable();
                    while mine.peek().is_some() {
                        loaded += store.load_citizens(mine.by_ref().take(chunk / threads))?;
                        if t == 0 {
                            eprintln!(
                                "load: about {} accounts in {:.0} s",
                                loaded * threads as u64,
                                began.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(loaded)
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker
                .join()
                .map_err(|_| anyhow::anyhow!("a loader panicked"))??;
        }
        anyhow::ensure!(total == accounts as u64, "loaded {total} of {accounts}");
        Ok(())
    })?;
    let loaded_s = began.elapsed().as_secs_f64();
    store.close()?;
    drop(store);
    let closed_s = began.elapsed().as_secs_f64();
    println!(
        "loaded {accounts} citizens with {threads} threads in {loaded_s:.1} s (closed at \
         {closed_s:.1} s): {:.0} accounts/s; data directory {} bytes; peak RSS {} MB",
        accounts as f64 / closed_s,
        du(data_dir)?,
        hwm_bytes().unwrap_or(0) >> 20,
    );
    Ok(())
}

/// Every loaded BSN, by citizen index.
fn loaded_bsns(accounts: usize) -> Vec<u32> {
    bsns_from(FIRST_PREFIX).take(accounts).collect()
}

fn dag(data_dir: &Path, accounts: usize, threads: usize) -> anyhow::Result<()> {
    let store = open(data_dir)?;
    let bsns = loaded_bsns(accounts);
    let now = Timestamp::now();
    let begin = now - SignedDuration::from_hours(23);
    let span = SignedDuration::from_hours(22).as_nanos();
    let voorkeuren = accounts / 100;
    let gesloten = accounts / 2000;
    let geopend = accounts / 1000;
    let nieuw: Vec<u32> = bsns_from(NEW_PREFIX).take(geopend).collect();
    // Change `j` of `n` of a kind: when it is made (spread over the day).
    let op = |j: usize, n: usize| {
        begin + SignedDuration::from_nanos((span * j as i128 / n.max(1) as i128) as i64)
    };
    let threads = threads.max(1);
    let began = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (store, bsns, nieuw) = (&store, &bsns, &nieuw);
                scope.spawn(move || -> anyhow::Result<()> {
                    for j in (t..voorkeuren).step_by(threads) {
                        let index = mix64(SEED ^ 0x766b ^ j as u64) % bsns.len() as u64;
                        let bsn = bsn_text(bsns[index as usize]);
                        let oin = oin((j % VERZOEKERS) as u64);
                        let digitaal = store.voorkeur(&bsn, &oin)?.is_some_and(|v| !v.digitaal);
                        store.put_voorkeur(&VoorkeurRecord {
                            bsn,
                            oin,
                            digitaal,
                            gewijzigd_op: op(j, voorkeuren),
                        })?;
                    }
                    for j in (t..gesloten).step_by(threads) {
                        let index = mix64(SEED ^ 0x6763 ^ j as u64) % bsns.len() as u64;
                        let bsn = bsn_text(bsns[index as usize]);
                        if let Some(mut account) = store.account(&bsn)?
                            && account.actief
                        {
                            account.actief = false;
                            account.gewijzigd_op = op(j, gesloten);
                            store.put_account(&account)?;
                        }
                    }
                    for j in (t..geopend).step_by(threads) {
                        let at = op(j, geopend);
                        store.put_account(&AccountRecord {
                            bsn: bsn_text(nieuw[j]),
                            email: None,
                            notificaties: false,
                            actief: true,
                            geopend_op: at,
                            gewijzigd_op: at,
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })?;
    let seconds = began.elapsed().as_secs_f64();
    store.close()?;
    let writes = voorkeuren + gesloten + geopend;
    println!(
        "a day of changes: {voorkeuren} voorkeuren changed (for {VERZOEKERS} afnemers), up to \
         {gesloten} boxes closed, {geopend} opened, between {begin} and {}; {writes} synced \
         writes from {threads} threads in {seconds:.1} s ({:.0}/s); data directory {} bytes",
        op(voorkeuren, voorkeuren),
        writes as f64 / seconds,
        du(data_dir)?
    );
    Ok(())
}

/// The `bsn-lijst`: 95% loaded citizens in a scattered order (a stride through the
/// indexes), 5% BSNs that have no account.
fn bsn_lijst(accounts: usize, n: usize) -> Vec<u32> {
    let bsns = loaded_bsns(accounts);
    let len = bsns.len() as u64;
    let mut stride = 7_368_787u64;
    while gcd(stride, len) != 1 {
        stride += 2;
    }
    let mut without = bsns_from(NO_ACCOUNT_PREFIX);
    (0..n as u64)
        .map(|j| {
            if j % 20 == 19 {
                without.next().unwrap_or(999_999_990)
            } else {
                bsns[((j * stride + 12_345) % len) as usize]
            }
        })
        .collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn verzoek_body(accounts: usize, n: usize, verzoek_id: &str, out: &Path) -> anyhow::Result<()> {
    let list = bsn_lijst(accounts, n);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    write!(
        file,
        "{{\"verzoekId\":\"{verzoek_id}\",\"soort\":\"bsn-lijst\",\"bsns\":["
    )?;
    for (i, bsn) in list.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(file, "{sep}\"{bsn:09}\"")?;
    }
    writeln!(file, "]}}")?;
    file.flush()?;
    Ok(())
}

#[derive(Debug)]
struct RunArgs {
    data_dir: PathBuf,
    accounts: usize,
    out: PathBuf,
    volledig_samen: usize,
    bsns: usize,
    mutatie_datum: Timestamp,
    peer: bool,
    rounds: usize,
}

/// One case's figures.
#[derive(Debug)]
struct Figures {
    case: String,
    seconds: f64,
    cpu_seconds: f64,
    rss_before: u64,
    peak_rss: u64,
    /// Per result: lines, gzip bytes.
    results: Vec<(u64, u64)>,
    /// The first result's NDJSON bytes, decompressed.
    ndjson_bytes: u64,
    load_average: String,
}

fn status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn hwm_bytes() -> Option<u64> {
    status_kb("VmHWM").map(|kb| kb * 1024)
}

fn rss_bytes() -> Option<u64> {
    status_kb("VmRSS").map(|kb| kb * 1024)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

struct Bench {
    store: Arc<EmbeddedStore>,
    runner: Runner,
    resultaten: PathBuf,
    nonce: u64,
    made: u64,
}

impl Bench {
    fn verzoek(
        &mut self,
        afnemer: usize,
        soort: Soort,
        bsns: &[u32],
        mutatie_datum: Option<Timestamp>,
    ) -> anyhow::Result<VerzoekRecord> {
        self.made += 1;
        let now = Timestamp::now();
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.nonce, self.made);
        let nacht = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let record = VerzoekRecord {
            mutatie_datum,
            aantal_bsns: bsns.len() as u32,
            ..VerzoekRecord::ingepland(&oin(afnemer as u64), &id, soort, nacht, now)
        };
        let quotum = format!("bench/{:08x}/{}", self.nonce, soort.as_str());
        match self
            .store
            .vraag_aan(&record, bsns, &quotum, u32::MAX, now + DAY)?
        {
            Aanvraag::Ingepland => Ok(record),
            other => anyhow::bail!("verzoek not planned: {other:?}"),
        }
    }

    /// Runs `verzoeken` together as the runner does, timed.
    fn case(&self, case: String, verzoeken: Vec<VerzoekRecord>) -> anyhow::Result<Figures> {
        let rss_before = rss_bytes().unwrap_or(0);
        // Resets VmHWM to the current RSS (Linux: "5" > clear_refs).
        std::fs::write("/proc/self/clear_refs", "5").context("reset VmHWM")?;
        let load_average = load_average();
        let cpu = procfs::cpu_seconds("self").unwrap_or(0.0);
        let began = Instant::now();
        let done = self.runner.run(verzoeken.clone())?;
        let seconds = began.elapsed().as_secs_f64();
        let cpu_seconds = procfs::cpu_seconds("self").unwrap_or(0.0) - cpu;
        let peak_rss = hwm_bytes().unwrap_or(0);
        anyhow::ensure!(
            done == verzoeken.len(),
            "{done} of {} gereed",
            verzoeken.len()
        );
        let mut results = Vec::new();
        for verzoek in &verzoeken {
            let stored = self
                .store
                .verzoek(&verzoek.oin, &verzoek.verzoek_id)?
                .context("verzoek gone")?;
            anyhow::ensure!(stored.status == VerzoekStatus::Gereed, "not gereed");
            let path = resultaat_pad(&self.resultaten, &verzoek.oin, &verzoek.verzoek_id);
            results.push((stored.regels, std::fs::metadata(&path)?.len()));
        }
        let first = resultaat_pad(
            &self.resultaten,
            &verzoeken[0].oin,
            &verzoeken[0].verzoek_id,
        );
        let (lines, ndjson_bytes) = ndjson_size(&first)?;
        anyhow::ensure!(
            lines == results[0].0,
            "{lines} lines, {} stored",
            results[0].0
        );
        let figures = Figures {
            case,
            seconds,
            cpu_seconds,
            rss_before,
            peak_rss,
            results,
            ndjson_bytes,
            load_average,
        };
        eprintln!("{figures:?}");
        Ok(figures)
    }

    fn forget(&self, verzoeken: &[VerzoekRecord]) -> anyhow::Result<()> {
        for verzoek in verzoeken {
            std::fs::remove_file(resultaat_pad(
                &self.resultaten,
                &verzoek.oin,
                &verzoek.verzoek_id,
            ))?;
            self.store
                .delete_verzoek(&verzoek.oin, &verzoek.verzoek_id)?;
        }
        Ok(())
    }
}

/// Lines and bytes of a gzip NDJSON result, decompressed.
fn ndjson_size(path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut reader = std::io::BufReader::with_capacity(
        1 << 20,
        flate2::read::GzDecoder::new(std::fs::File::open(path)?),
    );
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        lines += buffer.iter().filter(|b| **b == b'\n').count() as u64;
        bytes += buffer.len() as u64;
        let n = buffer.len();
        reader.consume(n);
    }
    Ok((lines, bytes))
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let opening = Instant::now();
    let store = open(&args.data_dir)?;
    let opened_s = opening.elapsed().as_secs_f64();
    let resultaten = args.data_dir.join("abonnementen");
    std::fs::create_dir_all(&resultaten)?;
    let venster = NachtVenster {
        begin: jiff::civil::time(23, 0, 0, 0),
        eind: jiff::civil::time(7, 0, 0, 0),
        zone: berichtenbox_actors::core::caps::amsterdam()?,
    };
    let runner = Runner::new(
        store.clone(),
        store.clone(),
        SharedClock::system(),
        RunnerConfig {
            venster,
            resultaten: resultaten.clone(),
            bewaren: DAY,
        },
        Arc::new(AtomicBool::new(false)),
    );
    let mut bench = Bench {
        store: store.clone(),
        runner,
        resultaten,
        nonce: Timestamp::now().as_second() as u64 & 0xffff_ffff,
        made: 0,
    };
    let mut figures = Vec::new();

    let mut peer = None;
    for round in 1..=args.rounds {
        // 1. One volledig.
        let een = vec![bench.verzoek(0, Soort::Volledig, &[], None)?];
        figures.push(bench.case(format!("{round}: volledig × 1"), een.clone())?);
        if args.peer && round == args.rounds {
            peer = Some(gzip_peer(
                &resultaat_pad(&bench.resultaten, &een[0].oin, &een[0].verzoek_id),
                &args.out,
            )?);
        }
        bench.forget(&een)?;

        // 2. Several volledig together (one pass), each for another afnemer.
        if args.volledig_samen > 0 {
            let samen = (0..args.volledig_samen)
                .map(|afnemer| bench.verzoek(afnemer % VERZOEKERS, Soort::Volledig, &[], None))
                .collect::<anyhow::Result<Vec<_>>>()?;
            figures.push(bench.case(
                format!("{round}: volledig × {} together", samen.len()),
                samen.clone(),
            )?);
            bench.forget(&samen)?;
        }
    }

    // 3. A bsn-lijst.
    if args.bsns > 0 {
        let list = bsn_lijst(args.accounts, args.bsns);
        let verzoek = vec![bench.verzoek(0, Soort::BsnLijst, &list, None)?];
        drop(list);
        figures.push(bench.case(format!("bsn-lijst of {}", args.bsns), verzoek.clone())?);
        bench.forget(&verzoek)?;
    }

    // 4. The mutaties of the last day, for one afnemer.
    let verzoek = vec![bench.verzoek(0, Soort::Mutaties, &[], Some(args.mutatie_datum))?];
    figures.push(bench.case(
        format!("mutaties since {}", args.mutatie_datum),
        verzoek.clone(),
    )?);
    bench.forget(&verzoek)?;

    store.close()?;
    let report = report(args, opened_s, &figures, peer.as_ref());
    print!("{report}");
    std::fs::write(args.out.join("figures.md"), report)?;
    Ok(())
}

/// The peer: the system's `gzip -1` (zlib, one thread) compressing the same NDJSON the
/// runner wrote, from a file in the page cache to /dev/null.
#[derive(Debug)]
struct Peer {
    ndjson_bytes: u64,
    seconds: f64,
    gzip_bytes: u64,
    load_average: String,
}

fn gzip_peer(result: &Path, out: &Path) -> anyhow::Result<Peer> {
    let plain = out.join("peer.ndjson");
    {
        let mut reader = flate2::read::GzDecoder::new(std::fs::File::open(result)?);
        let mut writer = std::io::BufWriter::new(std::fs::File::create(&plain)?);
        std::io::copy(&mut reader, &mut writer)?;
        writer.flush()?;
    }
    let ndjson_bytes = std::fs::metadata(&plain)?.len();
    // Read once so both sides start from the page cache.
    std::io::copy(&mut std::fs::File::open(&plain)?, &mut std::io::sink())?;
    let load_average = load_average();
    let began = Instant::now();
    let output = std::process::Command::new("gzip")
        .args(["-1", "-c"])
        .stdin(std::fs::File::open(&plain)?)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdout = output.stdout.context("gzip stdout")?;
    let gzip_bytes = std::io::copy(&mut stdout, &mut std::io::sink())?;
    let seconds = began.elapsed().as_secs_f64();
    std::fs::remove_file(&plain)?;
    let peer = Peer {
        ndjson_bytes,
        seconds,
        gzip_bytes,
        load_average,
    };
    eprintln!("{peer:?}");
    Ok(peer)
}

fn report(args: &RunArgs, opened_s: f64, figures: &[Figures], peer: Option<&Peer>) -> String {
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let mut out = String::new();
    out.push_str(&format!(
        "{} accounts loaded; store opened in {opened_s:.1} s\n\n\
         | case | wall | CPU | wall per account (volledig), BSN (bsn-lijst), line (mutaties) | peak RSS (RSS before) | lines | result (gzip) | NDJSON | load avg |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        args.accounts
    ));
    for f in figures {
        let lines: u64 = f.results.iter().map(|r| r.0).sum();
        let bytes: u64 = f.results.iter().map(|r| r.1).sum();
        let per_result = if f.results.len() > 1 {
            format!(
                " ({} results, {:.1} MB each)",
                f.results.len(),
                mb(bytes) / f.results.len() as f64
            )
        } else {
            String::new()
        };
        let per = if f.case.contains("volledig") {
            args.accounts as u64
        } else if f.case.contains("bsn-lijst") {
            args.bsns as u64
        } else {
            lines
        }
        .max(1);
        out.push_str(&format!(
            "| {} | {:.1} s | {:.1} s | {:.2} µs | {:.0} MB ({:.0} MB) | {lines} | {:.1} MB{per_result} | {:.1} MB (first) | {} |\n",
            f.case,
            f.seconds,
            f.cpu_seconds,
            f.seconds * 1e6 / per as f64,
            mb(f.peak_rss),
            mb(f.rss_before),
            mb(bytes),
            mb(f.ndjson_bytes),
            f.load_average,
        ));
    }
    if let Some(peer) = peer {
        out.push_str(&format!(
            "\npeer: gzip -1 of the last round's volledig × 1 NDJSON ({:.1} MB → {:.1} MB) in \
             {:.2} s (load avg {})\n",
            mb(peer.ndjson_bytes),
            mb(peer.gzip_bytes),
            peer.seconds,
            peer.load_average,
        ));
    }
    let volledig: Vec<&Figures> = figures
        .iter()
        .filter(|f| f.case.contains("volledig"))
        .collect();
    if let [.., een, samen] = volledig.as_slice()
        && samen.results.len() > 1
    {
        let n = samen.results.len() as f64;
        let marginal = (samen.seconds - een.seconds) / (n - 1.0);
        out.push_str(&format!(
            "\neach volledig beyond the first adds {marginal:.1} s; 225 together would take \
             about {:.0} s ({:.1} h) by that line\n",
            een.seconds + 224.0 * marginal,
            (een.seconds + 224.0 * marginal) / 3600.0
        ));
    }
    out
}
