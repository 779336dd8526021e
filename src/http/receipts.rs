//! Verwerkingsberichten (receipts): their JSON, `GET /v1/verwerkingsberichten` and the receipt
//! inside `GET /v1/batches/{batchId}`. The webhook push sends the same JSON ([`receipt_json`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::time::unix_nanos_u64;
use berichtenbox_actors::core::verwerking::VerwerkingsCode;
use berichtenbox_actors::store::{BatchRecord, Receipt, ReceiptCursor, Receipts};
use serde::Serialize;

use super::paging::{self, Page};
use super::problem::ApiError;
use super::{AppState, auth};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The most bericht outcomes one page of `GET /v1/verwerkingsberichten` carries, whatever its
/// `limit`: a page stops before the receipt that would take it over. A batch has at most 1,000
/// berichten, so a page always holds at least one whole receipt; a receipt is never split.
pub const MAX_BERICHTEN_PER_PAGE: usize = 10_000;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptJson {
    batch_id: String,
    ontvangen_op: String,
    verwerkt_op: String,
    totaal_aantal_ontvangen_berichten: u32,
    aantal_succesvol_verwerkt: u32,
    /// Counts of the berichten that were not delivered, by code.
    aantal_per_verwerkings_code: BTreeMap<&'static str, u32>,
    berichten: Vec<BerichtUitkomstJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BerichtUitkomstJson {
    bericht_id: String,
    verwerkings_code: &'static str,
    stadium: &'static str,
}

impl ReceiptJson {
    pub fn of(record: &BatchRecord, receipt: &Receipt) -> Self {
        let mut aantal_per_verwerkings_code = BTreeMap::new();
        let mut aantal_succesvol_verwerkt = 0;
        for uitkomst in &receipt.berichten {
            if uitkomst.code == VerwerkingsCode::Verwerkt {
                aantal_succesvol_verwerkt += 1;
            } else {
                *aantal_per_verwerkings_code
                    .entry(uitkomst.code.as_str())
                    .or_insert(0) += 1;
            }
        }
        Self {
            batch_id: record.batch_id.clone(),
            ontvangen_op: record.ontvangen_op.to_string(),
            verwerkt_op: receipt.verwerkt_op.to_string(),
            totaal_aantal_ontvangen_berichten: record.aantal_berichten,
            aantal_succesvol_verwerkt,
            aantal_per_verwerkings_code,
            berichten: receipt
                .berichten
                .iter()
                .map(|u| BerichtUitkomstJson {
                    bericht_id: u.bericht_id.clone(),
                    verwerkings_code: u.code.as_str(),
                    stadium: u.stadium.as_str(),
                })
                .collect(),
        }
    }
}

/// The receipt of a processed batch as JSON bytes (for the webhook push); `None` before it is
/// processed.
pub fn receipt_json(record: &BatchRecord) -> Option<Vec<u8>> {
    let receipt = record.receipt.as_ref()?;
    serde_json::to_vec(&ReceiptJson::of(record, receipt)).ok()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptPage {
    verwerkingsberichten: Vec<ReceiptJson>,
    /// Pass as `na` for the next page: the cursor after this page's last receipt, or the one
    /// asked with when the page is empty; absent only for an empty feed read from its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    volgende: Option<String>,
}

/// The page `GET /v1/verwerkingsberichten` asks for: a feed cursor, 1 to `MAX_LIMIT`.
pub fn page(
    query: Result<web::Query<paging::PageQuery>, actix_web::Error>,
) -> Result<Page<ReceiptCursor>, ApiError> {
    paging::page(query, DEFAULT_LIMIT, MAX_LIMIT, ReceiptCursor::from_hex)
}

/// `GET /v1/verwerkingsberichten?na={cursor}&limit={n}`: the afnemer's receipts in the order
/// they became ready, at most `limit` of them and at most [`MAX_BERICHTEN_PER_PAGE`] bericht
/// outcomes together; `volgende` continues after the last receipt of the page, so a client
/// polling the end of the feed with it sees each receipt exactly once. A cursor from before the
/// retention horizon (`bewaren.verwerkingsberichten_dagen`) is answered 410: receipts after it
/// may have been deleted, and skipping them silently would look like none were there.
pub async fn list(
    request: HttpRequest,
    query: Result<web::Query<paging::PageQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let Page { after, limit } = page(query)?;
    if let Some(cursor) = after {
        let horizon = state
            .config
            .bewaren
            .periods()
            .receipt_horizon(state.clock.now());
        if cursor.ready_nanos < unix_nanos_u64(horizon) {
            return Err(ApiError::Gone(format!(
                "De cursor ligt voor de bewaartermijn van {} dagen: verwerkingsberichten daarna \
                 kunnen verwijderd zijn. Lees opnieuw vanaf het begin (zonder na).",
                state.config.bewaren.verwerkingsberichten_dagen
            )));
        }
    }
    let store: Arc<dyn Receipts> = state.store.clone();
    let clock = state.clock.clone();
    let page = web::block(move || {
        store.receipt_feed(&afnemer.oin, after, limit, MAX_BERICHTEN_PER_PAGE, &clock)
    })
    .await??;
    let volgende = page
        .receipts
        .last()
        .map(|(cursor, _)| *cursor)
        .or(after)
        .map(ReceiptCursor::to_hex);
    let verwerkingsberichten = page
        .receipts
        .iter()
        .filter_map(|(_, record)| {
            record
                .receipt
                .as_ref()
                .map(|receipt| ReceiptJson::of(record, receipt))
        })
        .collect();
    Ok(HttpResponse::Ok().json(ReceiptPage {
        verwerkingsberichten,
        volgende,
    }))
}
