//! The one list of every metric the engine exports: its name (a constant every call site
//! uses), kind, unit, labels, help text and, for a histogram, its buckets.
//!
//! Both crates emit metrics, so the list lives here, below them both. The server builds its
//! recorder's histogram buckets from it and `describe` hands the recorder its help texts; the
//! README's "Metrics" table is checked against it; [`register_at_zero`] makes the series a
//! dashboard reads exist before their first event. This module records nothing itself but
//! those zeros, and it owns no values: whoever emits a metric owns what it says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use metrics::Unit;

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of the list.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<Unit>,
    /// Its label names (a histogram's `le` not included).
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// A histogram's bucket bounds (ascending); empty for counters and gauges.
    pub buckets: &'static [f64],
    /// Whether 0 is its true value until something happens, so that it may be registered at 0
    /// at start-up (every counter and histogram; gauges only where 0 is true: a gauge that
    /// its owner sets from state is left to its owner).
    pub zero_at_start: bool,
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        unit: Some(Unit::Count),
        labels,
        help,
        buckets: &[],
        zero_at_start: true,
    }
}

const fn histogram(
    name: &'static str,
    unit: Unit,
    buckets: &'static [f64],
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        unit: Some(unit),
        labels,
        help,
        buckets,
        zero_at_start: true,
    }
}

/// The buckets of a duration, from half a millisecond (a group commit on a fast disk) to
/// 2.5 seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5,
];

/// A gauge its owner sets from state (at each scrape, on each beat).
const fn gauge(
    name: &'static str,
    unit: Option<Unit>,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        unit,
        labels,
        help,
        buckets: &[],
        zero_at_start: false,
    }
}

/// A gauge whose value is 0 until its owner first sets it (an empty queue).
const fn gauge_from_zero(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        zero_at_start: true,
        ..gauge(name, Some(Unit::Count), labels, help)
    }
}

/// A gauge without labels in `unit` whose value is 0 until its owner first sets it.
const fn gauge_from_zero_in(name: &'static str, unit: Unit, help: &'static str) -> Metric {
    Metric {
        zero_at_start: true,
        ..gauge(name, Some(unit), &[], help)
    }
}

/// Declares each metric's name constant and [`METRICS`] from one list, so neither can lack
/// the other.
macro_rules! metric_list {
    ($($(#[$doc:meta])* $constant:ident = $make:ident($name:literal $(, $arg:expr)* $(,)?);)*) => {
        $($(#[$doc])* pub const $constant: &str = $name;)*

        /// Every metric the engine exports, in the README's order.
        pub const METRICS: &[Metric] = &[$($make($name $(, $arg)*)),*];
    };
}

metric_list! {
    // Ingest.
    BERICHTEN_AANGEBODEN = counter(
        "berichtenbox_berichten_aangeboden_total",
        &["afnemer"],
        "Berichten in valid batches offered to POST /v1/batches, per afnemer.",
    );
    BERICHTEN_GEPARKEERD = counter(
        "berichtenbox_berichten_geparkeerd_total",
        &["afnemer"],
        "Berichten parked durably (answered 202), per afnemer.",
    );
    BERICHTEN_GEDROSSELD = counter(
        "berichtenbox_berichten_gedrosseld_total",
        &["afnemer"],
        "Berichten refused with 429 by the afnemer's rate, per afnemer.",
    );
    BATCH_BERICHTEN = histogram(
        "berichtenbox_batch_berichten",
        Unit::Count,
        &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0],
        &[],
        "Berichten per parked batch.",
    );
    ACCEPT_DURATION = histogram(
        "berichtenbox_accept_duration_seconds",
        Unit::Seconds,
        SECONDS_BUCKETS,
        &[],
        "POST /v1/batches from the request's start to its 202 (after the sync).",
    );
    // Group commit.
    PARK_SYNC = histogram(
        "berichtenbox_park_sync_seconds",
        Unit::Seconds,
        SECONDS_BUCKETS,
        &[],
        "One group commit of a shard: its write batch and its sync.",
    );
    PARK_GROUP_BATCHES = histogram(
        "berichtenbox_park_group_batches",
        Unit::Count,
        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
        &[],
        "Batches per group commit (per sync).",
    );
    PARK_GROUP_MESSAGES = histogram(
        "berichtenbox_park_group_messages",
        Unit::Count,
        &[1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0],
        &[],
        "Berichten per group commit (per sync).",
    );
    PARK_QUEUE_DEPTH = gauge_from_zero(
        "berichtenbox_park_queue_depth",
        &["shard"],
        "Batches waiting for a shard's writer.",
    );
    // Retention.
    RETENTION_DELETED = counter(
        "berichtenbox_bewaren_verwijderd_total",
        &["soort"],
        "Records deleted because their retention period ([bewaren]) passed, per kind.",
    );
    RETENTION_LAST_PASS = gauge_from_zero_in(
        "berichtenbox_bewaren_laatste_ronde_timestamp_seconds",
        Unit::Seconds,
        "Unix time (the engine's clock) at which the last completed retention pass began (0: none yet).",
    );
    // The Abonnementservice.
    ABONNEMENTEN_VERZOEKEN = counter(
        "berichtenbox_abonnementen_verzoeken_total",
        &["abonnement"],
        "Abonnementservice verzoeken accepted and planned for a night, per soort.",
    );
    ABONNEMENTEN_GEREED = counter(
        "berichtenbox_abonnementen_gereed_total",
        &["abonnement"],
        "Abonnementservice verzoeken whose result is written (gereed), per soort.",
    );
    ABONNEMENTEN_DOORLOOPTIJD = histogram(
        "berichtenbox_abonnementen_doorlooptijd_seconds",
        Unit::Seconds,
        &[60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 14400.0, 21600.0],
        &["abonnement"],
        "From the opening of its night window until a verzoek is gereed (the norm: 4 hours), per soort.",
    );
    // Processing.
    BERICHTEN_BESLOTEN = counter(
        "berichtenbox_berichten_besloten_total",
        &["afnemer", "verwerkingscode"],
        "Berichten decided, per afnemer and verwerkingscode.",
    );
    PROCESSING_DELAY = histogram(
        "berichtenbox_processing_delay_seconds",
        Unit::Seconds,
        // Processing is allowed 24 hours; its delay is seen from milliseconds to a day.
        &[
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            21600.0, 86400.0,
        ],
        &[],
        "From a bericht's arrival (ontvangenOp) to its decision.",
    );
    GEPARKEERD_BERICHTEN = gauge(
        "berichtenbox_geparkeerd_berichten",
        Some(Unit::Count),
        &["shard"],
        "Berichten parked and not yet decided, per shard: the processing backlog.",
    );
    OUDSTE_GEPARKEERD = gauge(
        "berichtenbox_oudste_geparkeerd_seconds",
        Some(Unit::Seconds),
        &["shard"],
        "Age of the oldest bericht still parked, per shard (0 with none): against the 24-hour norm.",
    );
    ACTOR_RESTARTS = counter(
        "berichtenbox_actor_restarts_total",
        &["actor"],
        "Restarts of supervised actors, per kind of actor.",
    );
    // Receipts and webhooks.
    WEBHOOK_WACHTEND = gauge(
        "berichtenbox_webhook_wachtend",
        Some(Unit::Count),
        &["shard"],
        "Receipts in the webhook outbox, not yet delivered, per shard.",
    );
    WEBHOOK_IN_BACKOFF = gauge_from_zero(
        "berichtenbox_webhook_in_backoff",
        &[],
        "Afnemers whose webhook failed and waits for a retry.",
    );
    WEBHOOK_AFGELEVERD = counter(
        "berichtenbox_webhook_afgeleverd_total",
        &["afnemer"],
        "Receipts delivered to an afnemer's webhook (2xx), per afnemer.",
    );
    WEBHOOK_MISLUKT = counter(
        "berichtenbox_webhook_mislukt_total",
        &["afnemer"],
        "Failed webhook deliveries (to be retried), per afnemer.",
    );
    WEBHOOK_OPGEGEVEN = counter(
        "berichtenbox_webhook_opgegeven_total",
        &["afnemer"],
        "Receipts whose webhook was given up after 6 days, per afnemer.",
    );
    // Notifications.
    NOTIFICATIES_VERZONDEN = counter(
        "berichtenbox_notificaties_verzonden_total",
        &[],
        "Notification e-mails sent.",
    );
    NOTIFICATIES_AFGEWEZEN = counter(
        "berichtenbox_notificaties_afgewezen_total",
        &["reden"],
        "Notification e-mails refused for good, per reason.",
    );
    NOTIFICATIES_WACHTEND = gauge(
        "berichtenbox_notificaties_wachtend",
        Some(Unit::Count),
        &["shard"],
        "Notifications queued and not yet sent, per shard: the notification backlog.",
    );
    NOTIFICATIES_VERZONDEN_UUR = gauge(
        "berichtenbox_notificaties_verzonden_uur",
        Some(Unit::Count),
        &[],
        "Notifications sent in the current clock hour (Europe/Amsterdam).",
    );
    NOTIFICATIES_VERZONDEN_DAG = gauge(
        "berichtenbox_notificaties_verzonden_dag",
        Some(Unit::Count),
        &[],
        "Notifications sent in the current calendar day (Europe/Amsterdam).",
    );
    NOTIFICATIES_LIMIET = gauge(
        "berichtenbox_notificaties_limiet",
        Some(Unit::Count),
        &["periode"],
        "The configured notification caps, per period (uur, dag).",
    );
    // HTTP.
    HTTP_REQUESTS = counter(
        "berichtenbox_http_requests_total",
        &["route", "method", "status"],
        "HTTP requests answered, per route pattern (`unmatched` for a path no route matches), method (`other` for a method outside the nine standard ones) and status.",
    );
    HTTP_REQUEST_DURATION = histogram(
        "berichtenbox_http_request_duration_seconds",
        Unit::Seconds,
        SECONDS_BUCKETS,
        &["api"],
        "HTTP request durations, per API (afnemer, burger, beheer, ops, portaal).",
    );
    // Forecast and capacity.
    PROGNOSE_BERICHTEN = gauge(
        "berichtenbox_prognose_berichten",
        Some(Unit::Count),
        &["afnemer"],
        "The afnemer's forecast of berichten for the current month.",
    );
    BERICHTEN_MAAND = gauge(
        "berichtenbox_berichten_maand",
        Some(Unit::Count),
        &["afnemer"],
        "Berichten the afnemer had parked this calendar month so far.",
    );
    PROGNOSE_AFWIJKING = gauge(
        "berichtenbox_prognose_afwijking_ratio",
        None,
        &["afnemer"],
        "The month's projected total against the afnemer's forecast: (projected - forecast) / forecast; NaN without a forecast.",
    );
    PROGNOSE_BERICHTEN_TOTAAL = gauge(
        "berichtenbox_prognose_berichten_totaal",
        Some(Unit::Count),
        &[],
        "All afnemers' forecasts for the current month together.",
    );
    MAAND_VOORTGANG = gauge(
        "berichtenbox_maand_voortgang_ratio",
        None,
        &[],
        "The share of the current calendar month (Europe/Amsterdam) that has passed.",
    );
    DAGEN_IN_MAAND = gauge(
        "berichtenbox_dagen_in_maand",
        Some(Unit::Count),
        &[],
        "Days in the current calendar month.",
    );
    CAPACITEIT = gauge(
        "berichtenbox_capaciteit",
        Some(Unit::Count),
        &["norm"],
        "The capacity norms the forecasts are held against, per norm.",
    );
    // Maintenance and availability.
    ONDERHOUDSVENSTER_ACTIEF = gauge(
        "berichtenbox_onderhoudsvenster_actief",
        None,
        &["venster"],
        "1 while the maintenance window is on, else 0, per window.",
    );
    ONDERHOUD_ACTIEF = gauge(
        "berichtenbox_onderhoud_actief",
        None,
        &[],
        "1 while any maintenance window is on, else 0.",
    );
    BESCHIKBAARHEID_MAAND = gauge(
        "berichtenbox_beschikbaarheid_maand_ratio",
        None,
        &[],
        "The engine's availability this month outside maintenance windows with downtime, from its recorded runs.",
    );
    BUILD_INFO = gauge(
        "berichtenbox_build_info",
        None,
        &["version"],
        "Always 1; the engine's version as a label.",
    );
    // Backups.
    BACKUP_LAATSTE = gauge_from_zero_in(
        "berichtenbox_backup_laatste_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the cut of the last backup that completed since start (0: none yet).",
    );
    BACKUP_DUUR = gauge_from_zero_in(
        "berichtenbox_backup_duur_seconds",
        Unit::Seconds,
        "How long the last completed backup took, from its cut to its manifest.",
    );
    BACKUP_BYTES = gauge_from_zero_in(
        "berichtenbox_backup_bytes",
        Unit::Bytes,
        "Bytes of the data files of the last completed backup.",
    );
    BACKUP_MISLUKT = counter(
        "berichtenbox_backup_mislukt_total",
        &[],
        "Backups that failed, scheduled or asked for.",
    );
}

/// The metric of that name, if the list has it.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// The `actor` label of [`ACTOR_RESTARTS`]: the afnemer actor.
pub const ACTOR_AFNEMER: &str = "afnemer";
/// The `actor` label of [`ACTOR_RESTARTS`]: a shard's processor.
pub const ACTOR_PROCESSOR: &str = "processor";
/// The `actor` label of [`ACTOR_RESTARTS`]: the expirer.
pub const ACTOR_EXPIRER: &str = "expirer";
/// The `actor` label of [`ACTOR_RESTARTS`]: the Abonnementservice's runner.
pub const ACTOR_ABONNEMENTEN: &str = "abonnementen";
/// The `soort` of [`RETENTION_DELETED`] for day counters and runs; the other values are the
/// retention index's kinds (`store::Expiring::as_str`) and [`RETENTION_SESSIE`].
pub const RETENTION_TELLING: &str = "telling";
/// The `soort` of [`RETENTION_DELETED`] for the Leveranciersportaal's expired sessions.
pub const RETENTION_SESSIE: &str = "sessie";
/// Every value of `actor` in [`ACTOR_RESTARTS`].
pub const ACTORS: [&str; 4] = [
    ACTOR_AFNEMER,
    ACTOR_PROCESSOR,
    ACTOR_EXPIRER,
    ACTOR_ABONNEMENTEN,
];

/// Hands every metric's help text and unit to the installed recorder (Prometheus' `# HELP`).
pub fn describe() {
    for metric in METRICS {
        let (name, help) = (metric.name, metric.help);
        match (metric.kind, metric.unit) {
            (Kind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(unit)) => metrics::describe_histogram!(name, unit, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

/// The label values registered at zero so far, by label name; see [`register_at_zero`].
static REGISTERED: Mutex<BTreeMap<&'static str, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

/// Registers at zero, with the installed recorder, every series of a metric that may start at
/// zero ([`Metric::zero_at_start`]) whose labels all have known values: `values(label)` gives
/// a label's values known now (the afnemers in the catalog, the shards, ...), `None` when they
/// are not known beforehand (a route's status). Registering never changes a series that
/// exists. Cheap when called again with the same values: it only registers again when a label
/// gained values (an afnemer registered since).
pub fn register_at_zero(values: &dyn Fn(&str) -> Option<Vec<String>>) {
    let labels: BTreeSet<&'static str> = METRICS
        .iter()
        .filter(|m| m.zero_at_start)
        .flat_map(|m| m.labels.iter().copied())
        .collect();
    let known: BTreeMap<&'static str, BTreeSet<String>> = labels
        .into_iter()
        .filter_map(|label| Some((label, values(label)?.into_iter().collect())))
        .collect();
    let mut registered = REGISTERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !registered.is_empty() && *registered == known {
        return;
    }
    for metric in METRICS.iter().filter(|m| m.zero_at_start) {
        let Some(series) = series_of(metric, &known) else {
            continue;
        };
        for labels in series {
            match metric.kind {
                Kind::Counter => drop(metrics::counter!(metric.name, &labels)),
                Kind::Gauge => drop(metrics::gauge!(metric.name, &labels)),
                Kind::Histogram => drop(metrics::histogram!(metric.name, &labels)),
            }
        }
    }
    *registered = known;
}

/// Every label set of `metric` over the known values (one empty set for a metric without
/// labels); `None` when a label's values are not known.
fn series_of(
    metric: &Metric,
    known: &BTreeMap<&'static str, BTreeSet<String>>,
) -> Option<Vec<Vec<(&'static str, String)>>> {
    let mut series: Vec<Vec<(&'static str, String)>> = vec![Vec::new()];
    for label in metric.labels {
        let values = known.get(label)?;
        series = series
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |value| {
                    let mut next = set.clone();
                    next.push((*label, value.clone()));
                    next
                })
            })
            .collect();
    }
    Some(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_namespaced_and_follow_the_conventions() {
        let mut seen = BTreeSet::new();
        for metric in METRICS {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(metric.name.starts_with("berichtenbox_"), "{}", metric.name);
            assert_eq!(
                metric.kind == Kind::Counter,
                metric.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                metric.name
            );
            if metric.name.ends_with("_seconds") {
                assert_eq!(metric.unit, Some(Unit::Seconds), "{}", metric.name);
            }
            assert!(!metric.help.is_empty(), "{}", metric.name);
            assert_eq!(
                metric.kind == Kind::Histogram,
                !metric.buckets.is_empty(),
                "{}: histograms, and only histograms, have buckets",
                metric.name
            );
            assert!(
                metric.buckets.windows(2).all(|pair| pair[0] < pair[1]),
                "{}: buckets ascend",
                metric.name
            );
        }
        assert_eq!(metric(BERICHTEN_BESLOTEN).map(|m| m.labels.len()), Some(2));
    }

    #[test]
    fn series_are_the_cross_product_of_known_values() {
        let known: BTreeMap<&str, BTreeSet<String>> = [
            ("afnemer", ["a", "b"].map(String::from).into()),
            ("verwerkingscode", ["X", "Y", "Z"].map(String::from).into()),
        ]
        .into();
        let besloten = metric(BERICHTEN_BESLOTEN).expect("listed");
        assert_eq!(series_of(besloten, &known).map(|s| s.len()), Some(6));
        let verzonden = metric(NOTIFICATIES_VERZONDEN).expect("listed");
        assert_eq!(series_of(verzonden, &known), Some(vec![Vec::new()]));
        let requests = metric(HTTP_REQUESTS).expect("listed");
        assert_eq!(series_of(requests, &known), None, "status is not known");
    }
}
