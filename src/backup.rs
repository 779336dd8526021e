//! Backups of a serving engine: the control socket that takes one on request of
//! `berichtenbox backup`, the schedule of `[backup]` with its pruning, the metrics of the
//! last backup, and the command line's client of that socket.
//!
//! The store does the backup itself (`berichtenbox_actors::store::embedded::backup`); this
//! module decides when, and where, and answers. Backups run on the blocking pool, one at a
//! time, never on an event loop. The control socket (`DATA_DIR/beheer.sock`, mode 0600) is a
//! Unix domain socket: whoever may open it may ask for a backup, so the file's permissions
//! are its authentication. Its errors are problem+json like the API's, mapped here (it is not
//! part of the API).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::store::embedded::EmbeddedStore;
use berichtenbox_actors::store::embedded::backup::{
    BackupError, MANIFEST_FILE, Manifest, read_manifest,
};
use berichtenbox_actors::telemetry;
use serde::{Deserialize, Serialize};

use crate::config::BackupConfig;

/// The control socket's file name in the data directory.
pub const SOCKET_FILE: &str = "beheer.sock";

/// The prefix of a scheduled backup's directory name; the rest is its UTC time.
const SCHEDULED_PREFIX: &str = "berichtenbox-";
/// The time format after the prefix: `YYYYMMDDTHHMMSSZ`.
const SCHEDULED_TIME: &str = "%Y%m%dT%H%M%SZ";
/// How often the schedule looks at the engine's clock.
const SCHEDULE_LOOK: Duration = Duration::from_millis(200);
/// After a failed scheduled backup, the next try is this much later on the engine's clock.
const RETRY_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// `POST /backup`'s body.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupRequest {
    /// A new or empty directory, as an absolute path (the engine's working directory is not
    /// the caller's).
    pub naar: PathBuf,
}

/// What a backup holds, as the control socket answers it and the command line prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSummary {
    pub map: PathBuf,
    pub aangemaakt_op: jiff::Timestamp,
    pub shards: usize,
    pub bestanden: usize,
    pub bytes: u64,
    pub entries: u64,
    pub duur_ms: u64,
    /// Entries per `catalog/NAME` and `shard/NAME` keyspace, shards added up.
    pub keyspaces: std::collections::BTreeMap<String, u64>,
}

impl BackupSummary {
    pub fn of(map: &Path, manifest: &Manifest) -> Self {
        Self {
            map: map.to_path_buf(),
            aangemaakt_op: manifest.aangemaakt_op,
            shards: manifest.shards,
            bestanden: manifest.bestanden.len(),
            bytes: manifest.bytes(),
            entries: manifest.entries(),
            duur_ms: manifest.duur_ms,
            keyspaces: manifest.entries_per_keyspace(),
        }
    }

    /// The lines the command line prints.
    pub fn report(&self) -> String {
        let mut out = format!(
            "backup in {}\n  cut at {}, {} shards, {} files, {} bytes ({:.1} MiB), {} entries, took {:.3} s\n",
            self.map.display(),
            self.aangemaakt_op,
            self.shards,
            self.bestanden,
            self.bytes,
            self.bytes as f64 / f64::from(1 << 20),
            self.entries,
            self.duur_ms as f64 / 1000.0
        );
        for (keyspace, entries) in &self.keyspaces {
            out.push_str(&format!("  {keyspace}: {entries}\n"));
        }
        out
    }
}

/// The engine's backups: one at a time, each recorded in the metrics.
#[derive(Debug)]
pub struct Backups {
    store: Arc<EmbeddedStore>,
    clock: SharedClock,
    config: BackupConfig,
    one_at_a_time: Mutex<()>,
}

impl Backups {
    pub fn new(store: Arc<EmbeddedStore>, clock: SharedClock, config: BackupConfig) -> Self {
        Self {
            store,
            clock,
            config,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// Takes a backup into `naar`. Blocking: call it on the blocking pool or a thread.
    pub fn take(&self, naar: &Path) -> Result<Manifest, BackupError> {
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken = self.store.backup(naar, &self.clock);
        match &taken {
            Ok(manifest) => {
                metrics::gauge!(telemetry::BACKUP_LAATSTE)
                    .set(manifest.aangemaakt_op.as_millisecond() as f64 / 1000.0);
                metrics::gauge!(telemetry::BACKUP_DUUR).set(manifest.duur_ms as f64 / 1000.0);
                metrics::gauge!(telemetry::BACKUP_BYTES).set(manifest.bytes() as f64);
                tracing::info!(
                    naar = %naar.display(),
                    bytes = manifest.bytes(),
                    entries = manifest.entries(),
                    duur_ms = manifest.duur_ms,
                    "backup taken"
                );
            }
            Err(error) => {
                metrics::counter!(telemetry::BACKUP_MISLUKT).increment(1);
                tracing::error!(naar = %naar.display(), %error, "backup failed");
            }
        }
        taken
    }

    /// One look of the schedule: when `due` has come, a backup into the map and the pruning
    /// of old ones. Answers when the next is due. Blocking.
    pub fn scheduled(&self, due: jiff::Timestamp) -> jiff::Timestamp {
        let now = self.clock.now();
        if now < due {
            return due;
        }
        let map = &self.config.map;
        let naar = map.join(scheduled_name(now));
        let interval = jiff::SignedDuration::from_hours(i64::from(self.config.interval_uren));
        let next = match std::fs::create_dir_all(map)
            .map_err(|source| BackupError::Io {
                path: map.clone(),
                source,
            })
            .and_then(|()| self.take(&naar))
        {
            Ok(manifest) => manifest
                .aangemaakt_op
                .saturating_add(interval)
                .unwrap_or(now),
            Err(error) => {
                tracing::error!(%error, "the scheduled backup failed; trying again later");
                now.saturating_add(RETRY_AFTER.min(interval)).unwrap_or(now)
            }
        };
        let keep = jiff::SignedDuration::from_hours(24 * i64::from(self.config.bewaar_dagen));
        for removed in prune(map, self.clock.now(), keep) {
            tracing::info!(removed = %removed.display(), "old backup deleted");
        }
        next
    }

    /// When the first scheduled backup is due: the newest in the map plus the interval, or
    /// at once when the map holds none.
    fn first_due(&self) -> jiff::Timestamp {
        let interval = jiff::SignedDuration::from_hours(i64::from(self.config.interval_uren));
        let now = self.clock.now();
        scheduled_backups(&self.config.map)
            .into_iter()
            .filter_map(|(_, created, complete)| complete.then_some(created))
            .max()
            .and_then(|newest| newest.saturating_add(interval).ok())
            .unwrap_or(now)
    }
}

/// The name of a scheduled backup taken at `at`.
pub fn scheduled_name(at: jiff::Timestamp) -> String {
    format!("{SCHEDULED_PREFIX}{}", at.strftime(SCHEDULED_TIME))
}

/// The scheduled backups in `map`: directories named as ours, with their time (the manifest's
/// cut, else the name's) and whether they are complete (a manifest).
fn scheduled_backups(map: &Path) -> Vec<(PathBuf, jiff::Timestamp, bool)> {
    let Ok(entries) = std::fs::read_dir(map) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stamp) = name.strip_prefix(SCHEDULED_PREFIX) else {
            continue;
        };
        let Ok(named) = jiff::fmt::strtime::parse(SCHEDULED_TIME, stamp)
            .and_then(|parsed| parsed.to_datetime())
            .and_then(|datetime| datetime.to_zoned(jiff::tz::TimeZone::UTC))
            .map(|zoned| zoned.timestamp())
        else {
            continue;
        };
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match read_manifest(&path) {
            Ok(manifest) => out.push((path, manifest.aangemaakt_op, true)),
            // Of another build, or damaged: its time from the manifest if it has one.
            Err(_) if path.join(MANIFEST_FILE).exists() => {
                let created = std::fs::read(path.join(MANIFEST_FILE))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                    .and_then(|json| json.get("aangemaakt_op")?.as_str()?.parse().ok())
                    .unwrap_or(named);
                out.push((path, created, true));
            }
            // Incomplete: ours only if it holds nothing but what a backup writes.
            Err(_) if only_backup_files(&path) => out.push((path, named, false)),
            Err(_) => {}
        }
    }
    out
}

/// Whether a directory holds only files a backup writes (data files, a manifest's temp).
fn only_backup_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).all(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            entry.file_type().is_ok_and(|t| t.is_file())
                && (name == "catalog.bin"
                    || (name.starts_with("shard-") && name.ends_with(".bin"))
                    || name == format!("{MANIFEST_FILE}.tmp"))
        })
    })
}

/// Deletes the scheduled backups in `map` older than `keep` at `now` (complete or not);
/// answers what it deleted. Directories it cannot identify as its own backups stay.
pub fn prune(map: &Path, now: jiff::Timestamp, keep: jiff::SignedDuration) -> Vec<PathBuf> {
    let Ok(oldest_kept) = now.checked_sub(keep) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for (path, created, _) in scheduled_backups(map) {
        if created < oldest_kept {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed.push(path),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot delete an old backup");
                }
            }
        }
    }
    removed
}

/// Runs the schedule until the task is dropped: looks at the engine's clock every
/// [`SCHEDULE_LOOK`], and takes the backup on the blocking pool when it is due.
pub async fn schedule(backups: Arc<Backups>) {
    let mut due = {
        let backups = backups.clone();
        match web::block(move || backups.first_due()).await {
            Ok(due) => due,
            Err(_) => return,
        }
    };
    let mut look = tokio::time::interval(SCHEDULE_LOOK);
    loop {
        look.tick().await;
        if backups.clock.now() < due {
            continue;
        }
        let taking = backups.clone();
        match web::block(move || taking.scheduled(due)).await {
            Ok(next) => due = next,
            Err(_) => return,
        }
    }
}

/// The control server on `DATA_DIR/beheer.sock`: one worker, `POST /backup`. A socket left by
/// an engine that was killed is replaced (this engine holds the data directory's lock).
pub fn control_server(
    backups: Arc<Backups>,
    socket: &Path,
    shutdown_timeout: u64,
) -> anyhow::Result<actix_web::dev::Server> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot replace {}", socket.display()));
        }
    }
    let data = web::Data::from(backups);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .route("/backup", web::post().to(backup))
    })
    .workers(1)
    .shutdown_timeout(shutdown_timeout)
    .disable_signals()
    .bind_uds(socket)
    .with_context(|| format!("cannot listen on the control socket {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", socket.display()))?;
    Ok(server.run())
}

/// `POST /backup {"naar": DIR}`: takes a backup, answers its summary.
async fn backup(backups: web::Data<Backups>, request: web::Json<BackupRequest>) -> HttpResponse {
    let naar = request.into_inner().naar;
    if !naar.is_absolute() {
        return problem(400, "naar must be an absolute path".into());
    }
    let backups = backups.into_inner();
    let into = naar.clone();
    match web::block(move || backups.take(&into)).await {
        Ok(Ok(manifest)) => HttpResponse::Ok().json(BackupSummary::of(&naar, &manifest)),
        Ok(Err(error @ BackupError::NotEmpty { .. })) => problem(409, error.to_string()),
        Ok(Err(error)) => problem(500, error.to_string()),
        Err(error) => problem(500, error.to_string()),
    }
}

fn problem(status: u16, detail: String) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        }))
}

/// The command line's side: asks the engine serving from `data_dir` for a backup into `naar`
/// through its control socket. Blocking.
pub fn request_backup(data_dir: &Path, naar: &Path) -> anyhow::Result<BackupSummary> {
    let socket = data_dir.join(SOCKET_FILE);
    let client = reqwest::blocking::Client::builder()
        .unix_socket(socket.as_path())
        .timeout(None)
        .build()
        .context("cannot build the control socket's client")?;
    let response = client
        .post("http://engine/backup")
        .json(&BackupRequest {
            naar: naar.to_path_buf(),
        })
        .send()
        .with_context(|| {
            format!(
                "an engine serves from {} but its control socket {} does not answer",
                data_dir.display(),
                socket.display()
            )
        })?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .context("the engine's answer is not a backup summary");
    }
    let detail = response
        .json::<serde_json::Value>()
        .ok()
        .and_then(|problem| Some(problem.get("detail")?.as_str()?.to_owned()))
        .unwrap_or_default();
    anyhow::bail!("the engine refused the backup ({status}): {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn scheduled_names_read_back_as_their_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let at = ts("2026-12-07T15:04:05Z");
        let name = scheduled_name(at);
        assert_eq!(name, "berichtenbox-20261207T150405Z");
        std::fs::create_dir(dir.path().join(&name)).expect("mkdir");
        let found = scheduled_backups(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, at);
        assert!(!found[0].2, "no manifest: incomplete");
    }

    #[test]
    fn pruning_deletes_only_old_backups_of_ours() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = ts("2026-12-20T00:00:00Z");
        let old = dir.path().join(scheduled_name(ts("2026-12-01T00:00:00Z")));
        let recent = dir.path().join(scheduled_name(ts("2026-12-18T00:00:00Z")));
        let foreign = dir.path().join(scheduled_name(ts("2026-11-01T00:00:00Z")));
        let other = dir.path().join("berichtenbox-handmatig");
        for path in [&old, &recent, &foreign, &other] {
            std::fs::create_dir(path).expect("mkdir");
        }
        std::fs::write(old.join("catalog.bin"), b"x").expect("write");
        std::fs::write(foreign.join("notities.txt"), b"van iemand anders").expect("write");
        let removed = prune(dir.path(), now, jiff::SignedDuration::from_hours(7 * 24));
        assert_eq!(removed, vec![old.clone()]);
        assert!(recent.exists() && foreign.exists() && other.exists());
    }
}
