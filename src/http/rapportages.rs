//! Reports: `GET /v1/rapportages/dagelijks` (an afnemer's day) and
//! `GET /v1/beheer/rapportages/maandelijks` (the operator's month), from the store's durable
//! day counters and the engine's recorded runs, so they survive restarts.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::onderhoud;
use berichtenbox_actors::core::prognose::Maand;
use berichtenbox_actors::store::{DagTelling, Reports, RunRecord};
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagQuery {
    datum: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DagView {
    datum: String,
    aangeboden: u64,
    verwerkt: u64,
    afgewezen: u64,
}

/// An afnemer's counts of one Amsterdam calendar day (today when `datum` is absent):
/// berichten parked that day, and berichten decided that day, delivered or rejected.
pub async fn dagelijks(
    request: HttpRequest,
    query: Result<web::Query<DagQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let datum = dag(query, || {
        state.clock.now().to_zoned(state.zone.clone()).date()
    })?;
    let store: Arc<dyn Reports> = state.store.clone();
    let telling = web::block(move || store.tellingen(datum, datum))
        .await??
        .remove(&(datum, afnemer.oin))
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(DagView {
        datum: datum.to_string(),
        aangeboden: telling.aangeboden,
        verwerkt: telling.verwerkt,
        afgewezen: telling.afgewezen,
    }))
}

/// The day `GET /v1/rapportages/dagelijks` asks for: its `datum`, or `today` when absent; a 400
/// naming the broken parameter otherwise.
pub fn dag(
    query: Result<web::Query<DagQuery>, actix_web::Error>,
    today: impl FnOnce() -> jiff::civil::Date,
) -> Result<jiff::civil::Date, ApiError> {
    let query = query
        .map_err(|error| ApiError::invalid(vec![InvalidParam::new("query", error.to_string())]))?;
    match query.datum.as_deref() {
        None => Ok(today()),
        Some(text) => parse_date(text).ok_or_else(|| {
            ApiError::invalid(vec![InvalidParam::new(
                "datum",
                "is geen datum als JJJJ-MM-DD",
            )])
        }),
    }
}

/// `YYYY-MM-DD`, strictly.
pub(super) fn parse_date(text: &str) -> Option<jiff::civil::Date> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    text.parse().ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaandQuery {
    maand: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MaandView {
    maand: String,
    beschikbaarheid: BeschikbaarheidView,
    aangeboden_berichten: u64,
    verwerkte_berichten: u64,
    afgewezen_berichten: u64,
    accounts: AccountsView,
    afnemers: AfnemersView,
    onderhoudsvensters: Vec<VensterView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BeschikbaarheidView {
    /// Percentage of the measured time the engine was up, 0 to 100.
    percentage: f64,
    /// Minutes of the month so far outside maintenance windows with downtime.
    gemeten_minuten: i64,
    beschikbaar_minuten: i64,
    norm_percentage: f64,
}

#[derive(Debug, Serialize)]
struct AccountsView {
    totaal: u64,
    actief: u64,
}

#[derive(Debug, Serialize)]
struct AfnemersView {
    totaal: usize,
    actief: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VensterView {
    naam: String,
    begin: jiff::Timestamp,
    eind: jiff::Timestamp,
    downtime: bool,
}

/// The month `GET /v1/beheer/rapportages/maandelijks` asks for: its `maand`, not after
/// `huidige`, or `huidige` when absent; a 400 naming the broken parameter otherwise.
pub fn maand(
    query: Result<web::Query<MaandQuery>, actix_web::Error>,
    huidige: Maand,
) -> Result<Maand, ApiError> {
    let query = query
        .map_err(|error| ApiError::invalid(vec![InvalidParam::new("query", error.to_string())]))?;
    match query.maand.as_deref() {
        None => Ok(huidige),
        Some(text) => match Maand::parse(text) {
            Some(maand) if maand <= huidige => Ok(maand),
            Some(_) => Err(ApiError::invalid(vec![InvalidParam::new(
                "maand",
                "ligt in de toekomst",
            )])),
            None => Err(ApiError::invalid(vec![InvalidParam::new(
                "maand",
                "is geen maand als JJJJ-MM",
            )])),
        },
    }
}

/// The operator's month (the current month when `maand` is absent): availability outside
/// planned maintenance, berichten offered, delivered and rejected, accounts, afnemers.
pub async fn maandelijks(
    request: HttpRequest,
    query: Result<web::Query<MaandQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let now = state.clock.now();
    let maand = maand(query, Maand::of(now, &state.zone))?;
    let afnemers = state.catalog.afnemers();
    let afnemers = AfnemersView {
        totaal: afnemers.len(),
        actief: afnemers.iter().filter(|a| a.actief).count(),
    };
    let blocking = state.clone().into_inner();
    let view = web::block(move || -> Result<MaandView, ApiError> {
        let state = &*blocking;
        let (start, end) = maand
            .bounds(&state.zone)
            .ok_or_else(|| ApiError::Internal("month out of range".into()))?;
        let mut totaal = DagTelling::default();
        for telling in state
            .store
            .tellingen(maand.first_day(), maand.last_day())?
            .values()
        {
            totaal.aangeboden += telling.aangeboden;
            totaal.verwerkt += telling.verwerkt;
            totaal.afgewezen += telling.afgewezen;
        }
        let beschikbaarheid = availability(state, start, end.min(now))?;
        let accounts = state.store.count_accounts()?;
        let onderhoudsvensters = onderhoud::occurrences(&state.vensters, &state.zone, start, end)
            .into_iter()
            .map(|(begin, eind, venster)| VensterView {
                naam: venster.naam.clone(),
                begin,
                eind,
                downtime: venster.downtime,
            })
            .collect();
        Ok(MaandView {
            maand: maand.to_string(),
            beschikbaarheid: BeschikbaarheidView {
                percentage: (beschikbaarheid.ratio() * 100_000.0).round() / 1000.0,
                gemeten_minuten: beschikbaarheid.gemeten.as_secs() / 60,
                beschikbaar_minuten: beschikbaarheid.beschikbaar.as_secs() / 60,
                norm_percentage: 99.0,
            },
            aangeboden_berichten: totaal.aangeboden,
            verwerkte_berichten: totaal.verwerkt,
            afgewezen_berichten: totaal.afgewezen,
            accounts: AccountsView {
                totaal: accounts.total,
                actief: accounts.actief,
            },
            afnemers,
            onderhoudsvensters,
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(view))
}

/// The engine's availability over `from..until`, measured from its first recorded run on: the
/// recorded runs, this run up to now, and the maintenance windows with downtime left out.
pub fn availability(
    state: &AppState,
    from: jiff::Timestamp,
    until: jiff::Timestamp,
) -> Result<onderhoud::Beschikbaarheid, ApiError> {
    let mut runs: Vec<(jiff::Timestamp, jiff::Timestamp)> = state
        .store
        .runs()?
        .into_iter()
        .map(|run| (run.started, run.seen))
        .collect();
    runs.push((state.run.started, state.clock.now()));
    let first = runs.iter().map(|(started, _)| *started).min();
    let from = first.map_or(from, |first| from.max(first));
    Ok(onderhoud::beschikbaarheid(
        &state.vensters,
        &state.zone,
        &runs,
        from,
        until.max(from),
    ))
}

/// Records that this run is up now; the heartbeat calls it (on the blocking pool).
pub fn record_alive(store: &dyn Reports, run: RunRecord, now: jiff::Timestamp) {
    let record = RunRecord {
        started: run.started,
        seen: now,
    };
    if let Err(error) = store.record_run(&record) {
        tracing::warn!(%error, "cannot record that the engine is up");
    }
}
