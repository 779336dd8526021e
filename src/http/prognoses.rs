//! The rolling forecast: `PUT /v1/prognoses/{maand}` and `GET /v1/prognoses`.
//!
//! An afnemer forecasts its berichten per month for the current month and the 17 after it
//! (`core::prognose`); a forecast can be changed until its month is over. The list shows each
//! forecast with what the afnemer actually delivered in that month so far.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::prognose::{self, Maand};
use berichtenbox_actors::store::{PrognoseRecord, Reports};
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

/// The largest average size a forecast may state: a bericht's attachments are at most
/// 500 KB, its text a few KB more.
const MAX_GEMIDDELDE_GROOTTE_KB: i64 = 1024;
/// The largest forecast: 2^53 - 1, the largest integer every JSON parser holds exactly (a
/// double's), far beyond any month's capacity.
const MAX_AANTAL_BERICHTEN: i64 = (1 << 53) - 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrognoseJson {
    aantal_berichten: Option<i64>,
    gemiddelde_grootte_kb: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrognoseView {
    maand: String,
    aantal_berichten: u64,
    gemiddelde_grootte_kb: u64,
    bijgewerkt_op: jiff::Timestamp,
    /// Berichten parked in the month so far: for the current month and those before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    werkelijk_aantal_berichten: Option<u64>,
}

#[derive(Debug, Serialize)]
struct PrognosesView {
    prognoses: Vec<PrognoseView>,
}

pub async fn put(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let json: PrognoseJson = body::small_json(&request, payload, &state).await?;
    let now = state.clock.now();

    let mut invalid = Vec::new();
    let maand = match Maand::parse(&path.into_inner()) {
        None => {
            invalid.push(InvalidParam::new("maand", "is geen maand als JJJJ-MM"));
            None
        }
        Some(maand) if !prognose::in_horizon(maand, now, &state.zone) => {
            let eerste = Maand::of(now, &state.zone);
            let laatste = eerste.plus(prognose::HORIZON_MONTHS - 1).unwrap_or(eerste);
            invalid.push(InvalidParam::new(
                "maand",
                format!("ligt buiten de prognoseperiode {eerste} tot en met {laatste}"),
            ));
            None
        }
        Some(maand) => Some(maand),
    };
    let mut count = |name: &str, value: Option<i64>, max: i64| match value {
        None => {
            invalid.push(InvalidParam::new(name, "is verplicht"));
            0
        }
        Some(n) if n < 0 => {
            invalid.push(InvalidParam::new(name, "mag niet negatief zijn"));
            0
        }
        Some(n) if n > max => {
            invalid.push(InvalidParam::new(name, format!("is groter dan {max}")));
            0
        }
        Some(n) => n.unsigned_abs(),
    };
    let aantal = count(
        "aantalBerichten",
        json.aantal_berichten,
        MAX_AANTAL_BERICHTEN,
    );
    let grootte = count(
        "gemiddeldeGrootteKb",
        json.gemiddelde_grootte_kb,
        MAX_GEMIDDELDE_GROOTTE_KB,
    );
    let Some(maand) = maand.filter(|_| invalid.is_empty()) else {
        return Err(ApiError::invalid(invalid));
    };

    let record = PrognoseRecord {
        oin: afnemer.oin,
        maand: maand.to_string(),
        aantal_berichten: aantal,
        gemiddelde_grootte_kb: grootte,
        bijgewerkt_op: now,
    };
    let store: Arc<dyn Reports> = state.store.clone();
    let stored = record.clone();
    let created = web::block(move || store.put_prognose(&stored)).await??;
    let view = PrognoseView {
        maand: record.maand,
        aantal_berichten: record.aantal_berichten,
        gemiddelde_grootte_kb: record.gemiddelde_grootte_kb,
        bijgewerkt_op: record.bijgewerkt_op,
        werkelijk_aantal_berichten: None,
    };
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(view))
}

pub async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let now = state.clock.now();
    let huidige = Maand::of(now, &state.zone);
    let store: Arc<dyn Reports> = state.store.clone();
    let prognoses = web::block(move || -> Result<Vec<PrognoseView>, ApiError> {
        let mine = store.prognoses(Some(&afnemer.oin))?;
        // What was delivered in each listed month up to this one: one range of counters.
        let earliest = mine.iter().filter_map(|p| Maand::parse(&p.maand)).min();
        let mut actual = std::collections::HashMap::new();
        if let Some(earliest) = earliest.filter(|m| *m <= huidige) {
            for ((datum, oin), telling) in
                store.tellingen(earliest.first_day(), huidige.last_day())?
            {
                if oin == afnemer.oin {
                    let maand = format!("{:04}-{:02}", datum.year(), datum.month());
                    *actual.entry(maand).or_insert(0u64) += telling.aangeboden;
                }
            }
        }
        Ok(mine
            .into_iter()
            .map(|p| {
                let past_or_current = Maand::parse(&p.maand).is_some_and(|m| m <= huidige);
                PrognoseView {
                    werkelijk_aantal_berichten: past_or_current
                        .then(|| actual.get(&p.maand).copied().unwrap_or(0)),
                    maand: p.maand,
                    aantal_berichten: p.aantal_berichten,
                    gemiddelde_grootte_kb: p.gemiddelde_grootte_kb,
                    bijgewerkt_op: p.bijgewerkt_op,
                }
            })
            .collect())
    })
    .await??;
    Ok(HttpResponse::Ok().json(PrognosesView { prognoses }))
}
