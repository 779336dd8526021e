//! The engine's one typed configuration: read from TOML, overridden by the environment and the
//! command line, validated once at start-up, then passed explicitly.
//!
//! [`DEFAULT_CONFIG_TOML`] is the documented default file (`berichtenbox config` prints it); a
//! test keeps it equal to [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use berichtenbox_actors::core::nacht::NachtVenster;
use berichtenbox_actors::core::onderhoud::Venster;
use berichtenbox_actors::store::Soort;
use berichtenbox_actors::store::embedded::EmbeddedConfig;
use serde::{Deserialize, Serialize};

/// The default configuration, every field with its meaning. Parsing it yields `Config::default()`.
pub const DEFAULT_CONFIG_TOML: &str = r#"# Berichtenbox engine configuration. Every field is optional; shown are the defaults.

[server]
# Address and port to listen on.
listen = "127.0.0.1:8080"
# Address and port of the operations listener: GET /metrics (only here), /health/live and
# /health/ready (also on the API listener).
ops_listen = "127.0.0.1:9464"
# HTTP worker threads; 0 means one per CPU core.
workers = 0
# Largest request body accepted, in bytes (a larger one is answered 413).
max_body_bytes = 67108864
# Memory reserved for request bodies in flight, all requests together, in bytes. A body
# reserves 3 times its size (itself and what is parsed from it), at most all of it. A request
# that finds no room is answered 503 with Retry-After before its body is read.
in_flight_bytes = 536870912
# One afnemer's share of that memory, in percent; at least what one body of max_body_bytes
# reserves. An afnemer over its share is answered 503 with Retry-After before its body is
# read, while others still have room.
in_flight_afnemer_percent = 25
# A request body must arrive in time: after a grace period, in seconds, it must keep at least
# this average rate, in bytes per second, counted from the start of the body; a body that falls
# behind is answered 408 and its memory released. Measured in real (wall-clock) time: these are
# about the network, not about the engine's clock.
body_grace_seconds = 10
body_min_bytes_per_second = 65536
# Connections: at most this many open per HTTP worker (actix-web's max_connections; the
# total is this times the workers), and per client address (IPv6 by its /64). A connection
# over its address's cap is accepted, but each request on it is answered 429 with
# Retry-After and the connection is closed. An idle keep-alive connection is closed after
# keep_alive_seconds.
max_connections_per_worker = 25000
max_connections_per_address = 1024
keep_alive_seconds = 5
# On SIGTERM or SIGINT the engine first stops accepting connections and, for
# shutdown_drain_ms, goes on serving the ones it has (every response then says
# `Connection: close`), so that a connection accepted just before the stop has its request
# answered rather than reset. Under socket activation new connections meanwhile wait in the
# socket's queue for the next engine. Then it stops: idle connections are closed and requests
# in flight may take shutdown_timeout_seconds to finish.
shutdown_drain_ms = 500
shutdown_timeout_seconds = 30

[tls]
# With cert_file and key_file (PEM: the certificate chain, end-entity first, and its private
# key) the API listener speaks HTTPS only; without them, plain HTTP (for development). The
# operations listener stays plain HTTP: keep it on a private address.
cert_file = ""
key_file = ""
# PEM bundle of the CAs whose client certificates are accepted (the PKIoverheid private
# services CA chain). With it, the listener asks every client for a certificate and verifies
# one that is offered (one of another CA ends the handshake); a verified certificate whose
# subject serialNumber is an afnemer's OIN signs that afnemer in without an API key. Clients
# without a certificate (API keys, citizens' portal, operators) still connect.
client_ca_file = ""
# false: afnemers must sign in with a client certificate; API keys are refused (401).
# Needs client_ca_file.
api_keys = true
# All three files are read again on SIGHUP: new connections get the new certificate and CAs,
# open connections keep theirs. A file that does not load leaves the old ones in use.

[store]
# Where the embedded store keeps its data.
data_dir = "./data"
# Number of shards; each is its own database with its own journal and writer thread. It is
# fixed when the data directory is first created.
shards = 4
# Batches that may wait for one shard's writer; beyond, parking is refused with 503.
queue_capacity = 512
# The most berichten one group commit (one sync) takes.
max_group_messages = 16384
# Parking is refused (503) while the data directory's file system has less free space, in bytes.
min_free_disk_bytes = 268435456
# Block cache of each shard, in bytes.
cache_bytes_per_shard = 33554432
# The largest memtable (write buffer) of one keyspace of a shard, in bytes, before it is
# flushed to disk. With about eight busy keyspaces per shard, this bounds the store's memory
# under load to roughly shards x 8 x this. Fixed when a keyspace is first created.
memtable_bytes = 16777216
# Berichten that may wait for processing, all shards together; beyond, parking is refused
# (503 with Retry-After) until processing has caught up. Bounds how long a parked bericht
# waits: at 20,000 decided a second, 5,000,000 is about four minutes of work.
max_parked_berichten = 5000000

[backup]
# Where the engine puts its scheduled backups, each in a directory of its own
# (berichtenbox-YYYYMMDDTHHMMSSZ); empty: no schedule. `berichtenbox backup` works without it.
map = ""
# Hours between scheduled backups (the first is taken at start when the map holds none newer).
interval_uren = 24
# Days a scheduled backup is kept; older ones in the map are deleted after each new backup.
bewaar_dagen = 7

[bewaren]
# How long the engine keeps what it may forget; expired records are deleted in the background
# and their disk space reclaimed by compaction.
# Receipts in GET /v1/verwerkingsberichten and the webhook outbox, from when they were first
# offered: the SLA's 6 days ("verwerkingsberichten can be offered again up to 6 days"). The
# Leveranciersportaal lists the rejected berichten (afwijzingen) of these receipts as long.
verwerkingsberichten_dagen = 6
# Processed batches' records (a redelivery answers 200 with the first delivery's receipt, and
# GET /v1/batches/{id} answers) and their berichtIds' claims (BerichtBestaatAl), from
# processing. The SLA asks for redelivery within 24 hours; 7 days gives a wide margin and
# outlives the receipts, which are read from these records. After it, a batch or berichtId
# delivered again is treated as new.
batches_dagen = 7
# Voorkeur changes for the Abonnementservice's "mutaties" requests: a request may reach this
# far back.
mutaties_dagen = 90
# Day counters for the daily and monthly reports, and the engine's runs (availability): whole
# calendar months before the current one.
tellingen_maanden = 13
# Berichten in citizens' boxes, from their arrival; 0 keeps them until the citizen deletes them
# (else at least 2).
berichten_dagen = 0
# Seconds between retention passes, and the most records one step deletes at once.
ronde_seconden = 60
stap = 10000

[afnemers]
# Rate of an afnemer registered without one: berichten per second, sustained.
berichten_per_seconde = 45
# Burst of an afnemer registered without one: berichten at once.
burst = 1000
# Batches that may wait in one afnemer actor's mailbox; beyond, 503 with Retry-After.
mailbox_capacity = 256

[auth]
# The operator's bearer token for /v1/beheer, at least 32 bytes; empty disables those
# endpoints (401).
# Environment: BERICHTENBOX_BEHEER_TOKEN.
beheer_token = ""
# Citizens' tokens: the portal calls with `Authorization: Bearer <JWT>` whose `sub` is the
# citizen's BSN. With neither a secret nor a public key, citizens' endpoints answer 401.
# HS256 secret of citizens' tokens, at least 32 bytes.
# Environment: BERICHTENBOX_BURGER_JWT_SECRET.
burger_jwt_secret = ""
# PEM file with the public key of citizens' tokens; when set it is used instead of the
# secret. Its type fixes the one algorithm accepted: RSA (2048 to 4096 bits) means RS256,
# EC P-256 means ES256. A file that is missing or does not parse stops the start.
burger_jwt_public_key_file = ""
# The `iss` citizens' tokens must carry; empty means not checked.
burger_jwt_issuer = ""
# The `aud` citizens' tokens must carry; empty means not checked.
burger_jwt_audience = ""
# Clock skew allowed on a token's `exp` and `nbf`, in seconds (at most 300).
burger_jwt_leeway_seconds = 30
# Failed authentication per client address (an IPv4 address, or the /64 of an IPv6 one):
# an unknown API key, a wrong beheer token, or a citizen's token that is not a JWT or whose
# signature does not hold. failures_burst may fail at once, then one more every
# 60 / failures_per_minute seconds; beyond, every request of that address that carries a
# bearer token is answered 429 with Retry-After before it is checked (also a valid one, so a
# guess there tells nothing). Valid credentials never count, and other addresses are never
# slowed. A token that is signed but expired (or otherwise refused by its claims) is no guess
# and does not count: the portal calls for every citizen from one address.
failures_burst = 20
failures_per_minute = 10
# The most client addresses whose failures are kept in memory at once.
failures_max_addresses = 100000

[burgers]
# Each citizen's calls to /v1/account..., counted by the BSN of his token: this many a second
# sustained, and this burst at once; beyond, 429 with Retry-After. No citizen slows another.
verzoeken_per_seconde = 20
burst = 100
# The most citizens whose rate is kept in memory at once; when full, those whose burst has
# refilled are forgotten first.
max_burgers = 100000

[processing]
# The most berichten one processing round of a shard takes (beyond its first batch).
round_berichten = 1024
# How often processing and notifications look for work, in milliseconds (webhooks: at
# most once a second).
beat_ms = 100

[notifications]
# Notifications per clock hour and per calendar day (Europe/Amsterdam); what is over waits,
# in order of arrival, for the next hour or day.
per_hour = 125000
per_day = 3000000
# The sender of the notification e-mails.
from = "MijnOverheid <noreply@mijnoverheid.nl>"
# Without an SMTP relay, notifications are written as .eml files into this folder; empty means
# "outbox" inside store.data_dir.
outbox_dir = ""
# An SMTP relay: when smtp_host is set, notifications go there instead of the outbox folder.
smtp_host = ""
smtp_port = 25
# "none", "starttls" or "tls" (TLS from the first byte).
smtp_tls = "none"
smtp_username = ""
smtp_password = ""
# How long after its arrival a bericht may still be on its way to a shard, in milliseconds;
# notifications wait that long so none overtakes an earlier bericht's.
arrival_grace_ms = 2000

[webhooks]
# Timeouts of one push of a receipt to an afnemer's webhookUrl, in seconds.
connect_timeout_seconds = 5
request_timeout_seconds = 30
# Allow a webhookUrl over http, and hosts that are (or resolve to) loopback, private or other
# non-public addresses. For test set-ups only.
allow_private_addresses = false

[capaciteit]
# The capacity norms the afnemers' forecasts are held against (exported as
# berichtenbox_capaciteit); the notification norms are [notifications] per_hour and per_day.
berichten_per_dag = 2500000
berichten_per_uur = 150000

[validaties]
# Validatieservice requests per clock hour, all afnemers together; beyond, 429. Counted in the
# store: a restart does not begin the hour anew.
per_uur = 1000

[abonnementen]
# The Abonnementservice's night window (Europe/Amsterdam; an end at or before the beginning is
# the next morning). A verzoek runs in the first window that opens after it was made, and is
# gereed at most 4 hours after that window opens.
venster_begin = "23:00"
venster_eind = "07:00"
# Verzoeken per night, all afnemers together (counted in the store); beyond, 429.
per_nacht_volledig = 225
per_nacht_bsn_lijst = 150
per_nacht_mutaties = 150
# Days a result (and its verzoek) is kept after it is gereed.
resultaat_bewaren_dagen = 7
# Seconds between the runner's looks at the clock.
ronde_seconden = 5

[portaal]
# The Leveranciersportaal (/leveranciersportaal). A session ends after this many minutes
# without a request, and at the latest this many hours after signing in. Sessions are kept in
# the store: a restart keeps them.
inactief_minuten = 30
max_uren = 12

[onderhoud]
# Planned maintenance windows, on the Europe/Amsterdam clock, each on the n-th weekday
# (week = 1 to 5) of every month. Windows with downtime = true do not count against
# availability; the others are shown but count.
vensters = [
    { naam = "technisch-portaal", weekdag = "woensdag", week = 2, begin = "00:00", eind = "06:00", downtime = true },
    { naam = "functioneel-portaal", weekdag = "woensdag", week = 4, begin = "00:00", eind = "06:00", downtime = true },
    { naam = "berichtenbox", weekdag = "dinsdag", week = 2, begin = "09:00", eind = "15:00", downtime = false },
]
"#;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    /// The embedded store's own configuration type: `[store]` is deserialised into it.
    pub store: EmbeddedConfig,
    pub afnemers: AfnemersConfig,
    pub auth: AuthConfig,
    pub burgers: BurgersConfig,
    pub processing: ProcessingConfig,
    pub notifications: NotificationsConfig,
    pub webhooks: WebhooksConfig,
    pub capaciteit: CapaciteitConfig,
    pub validaties: ValidatiesConfig,
    pub abonnementen: AbonnementenConfig,
    pub portaal: PortaalConfig,
    pub onderhoud: OnderhoudConfig,
    pub backup: BackupConfig,
    pub bewaren: BewarenConfig,
}

/// `[bewaren]`: the retention periods, and the pace of the passes that apply them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BewarenConfig {
    pub verwerkingsberichten_dagen: u32,
    pub batches_dagen: u32,
    pub mutaties_dagen: u32,
    pub tellingen_maanden: u32,
    pub berichten_dagen: u32,
    pub ronde_seconden: u64,
    pub stap: usize,
}

impl Default for BewarenConfig {
    fn default() -> Self {
        Self {
            verwerkingsberichten_dagen: 6,
            batches_dagen: 7,
            mutaties_dagen: 90,
            tellingen_maanden: 13,
            berichten_dagen: 0,
            ronde_seconden: 60,
            stap: 10_000,
        }
    }
}

impl BewarenConfig {
    /// The periods, as the store applies them.
    pub fn periods(&self) -> berichtenbox_actors::store::RetentionPeriods {
        let days = |n: u32| jiff::SignedDuration::from_hours(24 * i64::from(n));
        berichtenbox_actors::store::RetentionPeriods {
            receipts: days(self.verwerkingsberichten_dagen),
            batches: days(self.batches_dagen),
            mutaties: days(self.mutaties_dagen),
            berichten: (self.berichten_dagen > 0).then(|| days(self.berichten_dagen)),
            tellingen_maanden: self.tellingen_maanden,
        }
    }
}

/// `[backup]`: the engine's own backup schedule; an empty `map` means none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    pub map: PathBuf,
    pub interval_uren: u32,
    pub bewaar_dagen: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            map: PathBuf::new(),
            interval_uren: 24,
            bewaar_dagen: 7,
        }
    }
}

impl BackupConfig {
    /// Whether the engine takes backups on its own.
    pub fn scheduled(&self) -> bool {
        !self.map.as_os_str().is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapaciteitConfig {
    pub berichten_per_dag: u64,
    pub berichten_per_uur: u64,
}

impl Default for CapaciteitConfig {
    fn default() -> Self {
        Self {
            berichten_per_dag: 2_500_000,
            berichten_per_uur: 150_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidatiesConfig {
    pub per_uur: u32,
}

impl Default for ValidatiesConfig {
    fn default() -> Self {
        Self { per_uur: 1000 }
    }
}

/// `[portaal]`: the Leveranciersportaal's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortaalConfig {
    pub inactief_minuten: u32,
    pub max_uren: u32,
}

impl Default for PortaalConfig {
    fn default() -> Self {
        Self {
            inactief_minuten: 30,
            max_uren: 12,
        }
    }
}

impl PortaalConfig {
    /// How long a session lasts without a request.
    pub fn inactief(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(i64::from(self.inactief_minuten))
    }

    /// How long a session lasts at most, used or not.
    pub fn max(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(i64::from(self.max_uren))
    }
}

/// `[abonnementen]`: the Abonnementservice's night window, quotas and results.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbonnementenConfig {
    pub venster_begin: String,
    pub venster_eind: String,
    pub per_nacht_volledig: u32,
    pub per_nacht_bsn_lijst: u32,
    pub per_nacht_mutaties: u32,
    pub resultaat_bewaren_dagen: u32,
    pub ronde_seconden: u64,
}

impl Default for AbonnementenConfig {
    fn default() -> Self {
        Self {
            venster_begin: "23:00".into(),
            venster_eind: "07:00".into(),
            per_nacht_volledig: 225,
            per_nacht_bsn_lijst: 150,
            per_nacht_mutaties: 150,
            resultaat_bewaren_dagen: 7,
            ronde_seconden: 5,
        }
    }
}

impl AbonnementenConfig {
    /// The night window on the Amsterdam clock, checked.
    pub fn venster(&self) -> Result<NachtVenster, ConfigError> {
        let time = |name: &str, text: &str| {
            jiff::civil::Time::strptime("%H:%M", text).map_err(|_| {
                ConfigError::Invalid(format!(
                    "abonnementen.{name} must be a time of day as HH:MM, not {text:?}"
                ))
            })
        };
        let begin = time("venster_begin", &self.venster_begin)?;
        let eind = time("venster_eind", &self.venster_eind)?;
        let zone = berichtenbox_actors::core::caps::amsterdam()
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        let venster = NachtVenster { begin, eind, zone };
        let nacht = venster.ingepland(jiff::Timestamp::UNIX_EPOCH);
        if nacht.sluit.duration_since(nacht.opent) < jiff::SignedDuration::from_hours(4) {
            return Err(ConfigError::Invalid(
                "abonnementen: the night window must be at least 4 hours long (verzoeken are \
                 gereed within 4 hours of its opening)"
                    .into(),
            ));
        }
        Ok(venster)
    }

    /// The directory of the results, in the data directory.
    pub fn resultaten(&self, data_dir: &Path) -> PathBuf {
        data_dir.join("abonnementen")
    }

    /// The night's quota of a soort.
    pub fn per_nacht(&self, soort: Soort) -> u32 {
        match soort {
            Soort::Volledig => self.per_nacht_volledig,
            Soort::BsnLijst => self.per_nacht_bsn_lijst,
            Soort::Mutaties => self.per_nacht_mutaties,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnderhoudConfig {
    pub vensters: Vec<VensterConfig>,
}

/// One maintenance window as configured; [`VensterConfig::venster`] checks and converts it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VensterConfig {
    pub naam: String,
    pub weekdag: String,
    pub week: i8,
    pub begin: String,
    pub eind: String,
    #[serde(default)]
    pub downtime: bool,
}

impl Default for OnderhoudConfig {
    fn default() -> Self {
        let venster =
            |naam: &str, weekdag: &str, week, begin: &str, eind: &str, downtime| VensterConfig {
                naam: naam.into(),
                weekdag: weekdag.into(),
                week,
                begin: begin.into(),
                eind: eind.into(),
                downtime,
            };
        Self {
            vensters: vec![
                venster("technisch-portaal", "woensdag", 2, "00:00", "06:00", true),
                venster("functioneel-portaal", "woensdag", 4, "00:00", "06:00", true),
                venster("berichtenbox", "dinsdag", 2, "09:00", "15:00", false),
            ],
        }
    }
}

impl OnderhoudConfig {
    /// The windows, checked: a known weekday, week 1 to 5, times as `HH:MM`, a unique name.
    pub fn vensters(&self) -> Result<Vec<Venster>, ConfigError> {
        let mut out: Vec<Venster> = Vec::with_capacity(self.vensters.len());
        for config in &self.vensters {
            let venster = config.venster()?;
            if out.iter().any(|v| v.naam == venster.naam) {
                return Err(ConfigError::Invalid(format!(
                    "onderhoud.vensters: the name {:?} is used twice",
                    venster.naam
                )));
            }
            out.push(venster);
        }
        Ok(out)
    }
}

impl VensterConfig {
    pub fn venster(&self) -> Result<Venster, ConfigError> {
        use jiff::civil::Weekday;
        let fail = |what: &str| {
            Err(ConfigError::Invalid(format!(
                "onderhoud.vensters {:?}: {what}",
                self.naam
            )))
        };
        let weekdag = match self.weekdag.to_lowercase().as_str() {
            "maandag" => Weekday::Monday,
            "dinsdag" => Weekday::Tuesday,
            "woensdag" => Weekday::Wednesday,
            "donderdag" => Weekday::Thursday,
            "vrijdag" => Weekday::Friday,
            "zaterdag" => Weekday::Saturday,
            "zondag" => Weekday::Sunday,
            _ => return fail("weekdag must be maandag to zondag"),
        };
        if !(1..=5).contains(&self.week) {
            return fail("week must be 1 to 5");
        }
        if self.naam.is_empty()
            || !self
                .naam
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return fail("naam must be letters, digits, - or _");
        }
        let time = |text: &str| jiff::civil::Time::strptime("%H:%M", text).ok();
        let (Some(begin), Some(eind)) = (time(&self.begin), time(&self.eind)) else {
            return fail("begin and eind must be times as HH:MM");
        };
        Ok(Venster {
            naam: self.naam.clone(),
            weekdag,
            week: self.week,
            begin,
            eind,
            downtime: self.downtime,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    pub round_berichten: usize,
    pub beat_ms: u64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            round_berichten: 1024,
            beat_ms: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    pub per_hour: u64,
    pub per_day: u64,
    pub from: String,
    pub outbox_dir: PathBuf,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTlsMode,
    pub smtp_username: String,
    /// Never written out: a secret.
    #[serde(skip_serializing)]
    pub smtp_password: String,
    pub arrival_grace_ms: u64,
}

impl std::fmt::Debug for NotificationsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationsConfig")
            .field("per_hour", &self.per_hour)
            .field("per_day", &self.per_day)
            .field("from", &self.from)
            .field("outbox_dir", &self.outbox_dir)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &redacted(&self.smtp_password))
            .field("arrival_grace_ms", &self.arrival_grace_ms)
            .finish()
    }
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            per_hour: 125_000,
            per_day: 3_000_000,
            from: "MijnOverheid <noreply@mijnoverheid.nl>".into(),
            outbox_dir: PathBuf::new(),
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_tls: SmtpTlsMode::None,
            smtp_username: String::new(),
            smtp_password: String::new(),
            arrival_grace_ms: 2000,
        }
    }
}

impl NotificationsConfig {
    /// The outbox folder: the configured one, or `outbox` in the data directory.
    pub fn outbox(&self, data_dir: &Path) -> PathBuf {
        if self.outbox_dir.as_os_str().is_empty() {
            data_dir.join("outbox")
        } else {
            self.outbox_dir.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub connect_timeout_seconds: u64,
    pub request_timeout_seconds: u64,
    pub allow_private_addresses: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            connect_timeout_seconds: 5,
            request_timeout_seconds: 30,
            allow_private_addresses: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub ops_listen: SocketAddr,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub in_flight_bytes: usize,
    pub in_flight_afnemer_percent: u32,
    pub body_grace_seconds: u64,
    pub body_min_bytes_per_second: u64,
    pub max_connections_per_worker: usize,
    pub max_connections_per_address: usize,
    pub keep_alive_seconds: u64,
    pub shutdown_drain_ms: u64,
    pub shutdown_timeout_seconds: u64,
}

/// `[tls]`: empty paths mean none. Relative paths are taken from the working directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: PathBuf,
    pub api_keys: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client_ca_file: PathBuf::new(),
            api_keys: true,
        }
    }
}

impl TlsConfig {
    /// Whether the API listener speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.as_os_str().is_empty()
    }

    /// Whether client certificates are asked for and verified.
    pub fn client_certificates(&self) -> bool {
        self.enabled() && !self.client_ca_file.as_os_str().is_empty()
    }

    fn validate(&self) -> Result<(), &'static str> {
        if self.cert_file.as_os_str().is_empty() != self.key_file.as_os_str().is_empty() {
            return Err("tls.cert_file and tls.key_file go together");
        }
        if !self.client_ca_file.as_os_str().is_empty() && !self.enabled() {
            return Err("tls.client_ca_file needs tls.cert_file and tls.key_file");
        }
        if !self.api_keys && !self.client_certificates() {
            return Err(
                "tls.api_keys = false needs tls.client_ca_file (else no afnemer can sign in)",
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AfnemersConfig {
    pub berichten_per_seconde: u32,
    pub burst: u32,
    pub mailbox_capacity: usize,
}

#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Never written out: a secret.
    #[serde(skip_serializing)]
    pub beheer_token: String,
    /// Never written out: a secret.
    #[serde(skip_serializing)]
    pub burger_jwt_secret: String,
    /// Empty: none. Relative paths are taken from the working directory.
    pub burger_jwt_public_key_file: PathBuf,
    pub burger_jwt_issuer: String,
    pub burger_jwt_audience: String,
    pub burger_jwt_leeway_seconds: u64,
    pub failures_burst: u32,
    pub failures_per_minute: u32,
    pub failures_max_addresses: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BurgersConfig {
    pub verzoeken_per_seconde: u32,
    pub burst: u32,
    pub max_burgers: usize,
}

impl Default for BurgersConfig {
    fn default() -> Self {
        Self {
            verzoeken_per_seconde: 20,
            burst: 100,
            max_burgers: 100_000,
        }
    }
}

/// The shortest HS256 secret accepted: RFC 7518 §3.2 asks for at least the hash's 256 bits.
pub const MIN_BURGER_JWT_SECRET_BYTES: usize = 32;

/// The shortest operator's token accepted (API.md "Operators"): 256 bits, like the HS256 secret.
pub const MIN_BEHEER_TOKEN_BYTES: usize = 32;

/// The largest clock skew allowed on citizens' tokens, in seconds.
pub const MAX_BURGER_JWT_LEEWAY_SECONDS: u64 = 300;

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            beheer_token: String::new(),
            burger_jwt_secret: String::new(),
            burger_jwt_public_key_file: PathBuf::new(),
            burger_jwt_issuer: String::new(),
            burger_jwt_audience: String::new(),
            burger_jwt_leeway_seconds: 30,
            failures_burst: 20,
            failures_per_minute: 10,
            failures_max_addresses: 100_000,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("beheer_token", &redacted(&self.beheer_token))
            .field("burger_jwt_secret", &redacted(&self.burger_jwt_secret))
            .field(
                "burger_jwt_public_key_file",
                &self.burger_jwt_public_key_file,
            )
            .field("burger_jwt_issuer", &self.burger_jwt_issuer)
            .field("burger_jwt_audience", &self.burger_jwt_audience)
            .field("burger_jwt_leeway_seconds", &self.burger_jwt_leeway_seconds)
            .field("failures_burst", &self.failures_burst)
            .field("failures_per_minute", &self.failures_per_minute)
            .field("failures_max_addresses", &self.failures_max_addresses)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<set>"
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            workers: 0,
            max_body_bytes: 64 << 20,
            in_flight_bytes: 512 << 20,
            in_flight_afnemer_percent: 25,
            body_grace_seconds: 10,
            body_min_bytes_per_second: 64 << 10,
            max_connections_per_worker: 25_000,
            max_connections_per_address: 1024,
            keep_alive_seconds: 5,
            shutdown_drain_ms: 500,
            shutdown_timeout_seconds: 30,
        }
    }
}

impl Default for AfnemersConfig {
    fn default() -> Self {
        Self {
            berichten_per_seconde: 45,
            burst: 1000,
            mailbox_capacity: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values the command line and environment put over the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub ops_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub beheer_token: Option<String>,
    pub burger_jwt_secret: Option<String>,
}

impl Config {
    /// Reads the file if given (else the defaults), applies the overrides and validates.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => Self::default(),
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(ops_listen) = overrides.ops_listen {
            config.server.ops_listen = ops_listen;
        }
        if let Some(data_dir) = overrides.data_dir {
            config.store.data_dir = data_dir;
        }
        if let Some(token) = overrides.beheer_token {
            config.auth.beheer_token = token;
        }
        if let Some(secret) = overrides.burger_jwt_secret {
            config.auth.burger_jwt_secret = secret;
        }
        config.validate()?;
        // The checks that need I/O: the citizens' public key file must exist and parse. The
        // server builds its own verifier from the same configuration.
        crate::http::burger::BurgerVerifier::from_config(&config.auth)?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The configuration as a TOML file that [`Config::parse`] reads back, less its secrets
    /// (the beheer token, the citizens' HS256 secret, the SMTP password), which are never
    /// written out: they come from the environment or the operator's own file.
    pub fn to_toml(&self) -> String {
        // Plain structs of strings, numbers, paths, addresses and lists: serialising them into
        // a string cannot fail (a path that is not UTF-8 would, and none comes from a file
        // that was itself TOML).
        toml::to_string(self).unwrap_or_default()
    }

    /// The checks that need no I/O; [`Config::load`] also reads the citizens' public key file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        self.store
            .validate()
            .map_err(|error| ConfigError::Invalid(format!("store.{error}")))?;
        if self.afnemers.mailbox_capacity == 0 {
            return fail("afnemers.mailbox_capacity must be at least 1");
        }
        if self.processing.round_berichten == 0 || self.processing.beat_ms == 0 {
            return fail("processing.round_berichten and processing.beat_ms must be at least 1");
        }
        if self.notifications.per_hour == 0 || self.notifications.per_day == 0 {
            return fail("notifications.per_hour and notifications.per_day must be at least 1");
        }
        if self.webhooks.connect_timeout_seconds == 0 || self.webhooks.request_timeout_seconds == 0
        {
            return fail("webhooks timeouts must be at least 1 second");
        }
        if self.afnemers.berichten_per_seconde == 0 || self.afnemers.burst == 0 {
            return fail("afnemers.berichten_per_seconde and afnemers.burst must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes must be at least 1024");
        }
        if self.server.in_flight_bytes < self.server.max_body_bytes {
            return fail("server.in_flight_bytes must be at least server.max_body_bytes");
        }
        if !(1..=100).contains(&self.server.in_flight_afnemer_percent) {
            return fail("server.in_flight_afnemer_percent must be from 1 to 100");
        }
        if self.server.max_connections_per_worker == 0
            || self.server.max_connections_per_address == 0
        {
            return fail("server.max_connections_per_worker and _per_address must be at least 1");
        }
        if self.server.body_min_bytes_per_second == 0 {
            return fail("server.body_min_bytes_per_second must be at least 1");
        }
        if self.server.in_flight_bytes / 1024 > tokio::sync::Semaphore::MAX_PERMITS {
            return fail("server.in_flight_bytes is too large");
        }
        self.tls.validate().or_else(&fail)?;
        let token = &self.auth.beheer_token;
        if !token.is_empty() && token.len() < MIN_BEHEER_TOKEN_BYTES {
            return fail("auth.beheer_token must be at least 32 bytes");
        }
        let secret = &self.auth.burger_jwt_secret;
        if !secret.is_empty() && secret.len() < MIN_BURGER_JWT_SECRET_BYTES {
            return fail("auth.burger_jwt_secret must be at least 32 bytes");
        }
        if self.auth.burger_jwt_leeway_seconds > MAX_BURGER_JWT_LEEWAY_SECONDS {
            return fail("auth.burger_jwt_leeway_seconds must be at most 300");
        }
        if self.auth.failures_burst == 0
            || self.auth.failures_per_minute == 0
            || self.auth.failures_max_addresses == 0
        {
            return fail(
                "auth.failures_burst, failures_per_minute and failures_max_addresses must be at least 1",
            );
        }
        if self.burgers.verzoeken_per_seconde == 0
            || self.burgers.burst == 0
            || self.burgers.max_burgers == 0
        {
            return fail("burgers.verzoeken_per_seconde, burst and max_burgers must be at least 1");
        }
        if self.capaciteit.berichten_per_dag == 0 || self.capaciteit.berichten_per_uur == 0 {
            return fail("capaciteit norms must be at least 1");
        }
        if self.validaties.per_uur == 0 {
            return fail("validaties.per_uur must be at least 1");
        }
        self.onderhoud.vensters()?;
        self.abonnementen.venster()?;
        let abonnementen = &self.abonnementen;
        if Soort::ALL
            .iter()
            .any(|soort| abonnementen.per_nacht(*soort) == 0)
            || abonnementen.resultaat_bewaren_dagen == 0
            || abonnementen.ronde_seconden == 0
        {
            return fail(
                "abonnementen.per_nacht_*, resultaat_bewaren_dagen and ronde_seconden must be at \
                 least 1",
            );
        }
        let portaal = &self.portaal;
        if portaal.inactief_minuten == 0 || portaal.max_uren == 0 {
            return fail("portaal.inactief_minuten and portaal.max_uren must be at least 1");
        }
        if u64::from(portaal.inactief_minuten) > 60 * u64::from(portaal.max_uren)
            || portaal.max_uren > 24 * 31
        {
            return fail(
                "portaal.inactief_minuten must not exceed max_uren, and max_uren must be at most \
                 31 days",
            );
        }
        if abonnementen.resultaat_bewaren_dagen > 36_500 {
            return fail("abonnementen.resultaat_bewaren_dagen must be at most 100 years");
        }
        let bewaren = &self.bewaren;
        if bewaren.verwerkingsberichten_dagen < 6 {
            return fail(
                "bewaren.verwerkingsberichten_dagen must be at least 6: the SLA offers receipts \
                 again for 6 days",
            );
        }
        if bewaren.batches_dagen < 2 || bewaren.batches_dagen < bewaren.verwerkingsberichten_dagen {
            return fail(
                "bewaren.batches_dagen must be at least 2 (a day's redelivery with a margin) and \
                 at least bewaren.verwerkingsberichten_dagen (receipts are read from the batches)",
            );
        }
        if bewaren.berichten_dagen == 1 {
            return fail(
                "bewaren.berichten_dagen must be 0 (kept until deleted) or at least 2: a bericht \
                 may reach its box a day after it arrived",
            );
        }
        if bewaren.mutaties_dagen == 0 || bewaren.tellingen_maanden == 0 {
            return fail("bewaren.mutaties_dagen and bewaren.tellingen_maanden must be at least 1");
        }
        if bewaren.ronde_seconden == 0 || bewaren.stap == 0 {
            return fail("bewaren.ronde_seconden and bewaren.stap must be at least 1");
        }
        if [
            bewaren.verwerkingsberichten_dagen,
            bewaren.batches_dagen,
            bewaren.mutaties_dagen,
            bewaren.berichten_dagen,
        ]
        .iter()
        .any(|days| *days > 36_500)
            || bewaren.tellingen_maanden > 1200
        {
            return fail("a [bewaren] period must be at most 100 years");
        }
        if self.backup.interval_uren == 0 || self.backup.bewaar_dagen == 0 {
            return fail("backup.interval_uren and backup.bewaar_dagen must be at least 1");
        }
        if self.backup.scheduled() && self.backup.map.starts_with(&self.store.data_dir) {
            return fail("backup.map must not be inside store.data_dir");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_are_the_defaults() {
        assert_eq!(
            Config::parse(DEFAULT_CONFIG_TOML).expect("parses"),
            Config::default()
        );
        Config::default().validate().expect("defaults are valid");
    }

    #[test]
    fn written_out_it_reads_back_the_same_less_its_secrets() {
        let mut config =
            Config::parse("[store]\nshards = 8\n[processing]\nbeat_ms = 7\n").expect("parses");
        config.auth.beheer_token = "geheim".into();
        config.auth.burger_jwt_secret = "ook-geheim".into();
        config.notifications.smtp_password = "wachtwoord".into();
        let text = config.to_toml();
        for secret in ["geheim", "wachtwoord"] {
            assert!(!text.contains(secret), "a secret written out: {text}");
        }
        let mut read = Config::parse(&text).expect("reads back");
        read.auth.beheer_token = config.auth.beheer_token.clone();
        read.auth.burger_jwt_secret = config.auth.burger_jwt_secret.clone();
        read.notifications.smtp_password = config.notifications.smtp_password.clone();
        assert_eq!(read, config);
    }

    #[test]
    fn readme_shows_the_documented_defaults() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(DEFAULT_CONFIG_TOML),
            "README.md's configuration block differs from DEFAULT_CONFIG_TOML"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = Config::parse("[server]\nlisten_on = \"127.0.0.1:1\"\n").expect_err("refused");
        assert!(error.to_string().contains("listen_on"), "{error}");
        let error = Config::parse("[store]\nshard = 3\n").expect_err("refused");
        assert!(error.to_string().contains("shard"), "{error}");
    }

    #[test]
    fn store_section_is_the_stores_own_config() {
        let config = Config::parse("[store]\nshards = 8\nqueue_capacity = 3\n").expect("parses");
        assert_eq!(
            config.store,
            EmbeddedConfig {
                shards: 8,
                queue_capacity: 3,
                ..EmbeddedConfig::default()
            }
        );
        let mut bad = Config::default();
        bad.store.shards = 0;
        let error = bad.validate().expect_err("no shards");
        assert!(error.to_string().contains("store.shards"), "{error}");
    }

    #[test]
    fn overrides_win_and_validation_runs() {
        let overrides = Overrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
            ops_listen: Some(SocketAddr::from(([127, 0, 0, 1], 10))),
            beheer_token: Some("t".repeat(MIN_BEHEER_TOKEN_BYTES)),
            ..Overrides::default()
        };
        let config = Config::load(None, overrides).expect("valid");
        assert_eq!(config.server.listen.port(), 9);
        assert_eq!(config.server.ops_listen.port(), 10);
        assert_eq!(config.auth.beheer_token, "t".repeat(MIN_BEHEER_TOKEN_BYTES));
        let mut bad = Config::default();
        bad.server.in_flight_bytes = 1;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn a_short_beheer_token_refuses_to_start() {
        let mut config = Config::default();
        config
            .validate()
            .expect("no token: the beheer endpoints are off");
        config.auth.beheer_token = "x".repeat(MIN_BEHEER_TOKEN_BYTES - 1);
        let error = config.validate().expect_err("31 bytes");
        assert!(error.to_string().contains("auth.beheer_token"), "{error}");
        config.auth.beheer_token = "x".repeat(MIN_BEHEER_TOKEN_BYTES);
        config.validate().expect("32 bytes will do");
        let overrides = Overrides {
            beheer_token: Some("geheim".into()),
            ..Overrides::default()
        };
        let error = Config::load(None, overrides).expect_err("the old README's token");
        assert!(error.to_string().contains("auth.beheer_token"), "{error}");
    }

    #[test]
    fn citizen_auth_is_validated() {
        let mut config = Config::default();
        config.auth.burger_jwt_secret = "kort".into();
        assert!(config.validate().is_err(), "a secret under 32 bytes");
        config.auth.burger_jwt_secret = "x".repeat(MIN_BURGER_JWT_SECRET_BYTES);
        config.validate().expect("32 bytes will do");
        config.auth.burger_jwt_leeway_seconds = MAX_BURGER_JWT_LEEWAY_SECONDS + 1;
        assert!(config.validate().is_err(), "too much leeway");
        config.auth.burger_jwt_leeway_seconds = 30;
        config.auth.failures_burst = 0;
        assert!(config.validate().is_err(), "no failures allowed at all");
        config.auth.failures_burst = 1;
        config.burgers.verzoeken_per_seconde = 0;
        assert!(config.validate().is_err(), "citizens without a rate");
    }

    #[test]
    fn load_refuses_a_public_key_file_that_is_missing_or_broken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "geen sleutel").expect("write");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/burger_jwt/ec-p256-public.pem");
        let load = |key_file: &Path| {
            let file = dir.path().join("config.toml");
            let text = format!(
                "[auth]\nburger_jwt_public_key_file = {:?}\n",
                key_file.display().to_string()
            );
            std::fs::write(&file, text).expect("write");
            Config::load(Some(&file), Overrides::default())
        };
        assert!(matches!(
            load(&dir.path().join("missing.pem")),
            Err(ConfigError::Read { .. })
        ));
        assert!(matches!(load(&broken), Err(ConfigError::Invalid(_))));
        let config = load(&fixture).expect("a P-256 public key");
        assert_eq!(config.auth.burger_jwt_public_key_file, fixture);
    }
}
