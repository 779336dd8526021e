//! The Leveranciersportaal (`/leveranciersportaal`): server-rendered pages where an afnemer's
//! staff see their own traffic. An overview (today's and the last 30 days' counts as charts,
//! the prognose against what was sent, the rate), the recent batches with their
//! verwerkingsberichten, the afwijzingen (filtered by day and code, and as CSV) and the
//! berichttypen.
//!
//! Each page reads only the signed-in afnemer's data ([`Portaal`], its tellingen, receipts and
//! index of afwijzingen; the catalog), the same the afnemer's API answers, on the blocking pool.
//! Sign-in, sessions and CSRF are [`sessie`]'s; the HTML is [`pagina`]'s, the charts
//! [`grafiek`]'s. Errors are answered as a page with the problem's status, title and detail
//! (and its `Retry-After`), since a browser shows it to a person. Every response carries the
//! headers of [`crate::http::portaal_headers`]: no script, no framing, nothing cached.

mod grafiek;
mod pagina;
pub mod sessie;

/// A count as the pages write it (`150.000`).
pub use grafiek::getal;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use berichtenbox_actors::core::prognose::{self, Maand};
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::{
    Aanmelding, AfwijzingCursor, AfwijzingFilter, AfwijzingRecord, Portaal, ReceiptCursor,
    Receipts, Reports,
};
use futures_util::stream;
use jiff::ToSpan as _;
use jiff::civil::Date;
use maud::Markup;
use serde::Deserialize;

use self::pagina::{Kop, Menu};
use self::sessie::{
    AANMELD_COOKIE, Aangemeld, Afgemeld, CSRF_AANMELDEN, CSRF_SESSIE, SESSIE_COOKIE,
};
use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

/// Where the portal lives.
pub const PAD: &str = "/leveranciersportaal";

/// Batches on a page of recent batches.
const BATCHES_PER_PAGINA: usize = 25;
/// Afwijzingen on a page; the CSV reads them this many at a time.
const AFWIJZINGEN_PER_PAGINA: usize = 50;
const AFWIJZINGEN_PER_CSV_STUK: usize = 1000;
/// The largest form body (a sign-in: a key and a token).
const FORMULIER_BYTES: usize = 4096;

/// The stylesheet, served at `/leveranciersportaal/stijl.css`.
const STIJL: &str = include_str!("stijl.css");

/// An HTML answer, with the session's cookie when it is new.
fn html(status: StatusCode, markup: Markup, aangemeld: Option<&Aangemeld>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.content_type("text/html; charset=utf-8");
    if let Some(cookie) = aangemeld.and_then(|a| a.nieuw_cookie.clone()) {
        response.cookie(cookie);
    }
    response.body(markup.into_string())
}

/// A 303 to a page of the portal.
fn naar(pad: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, pad))
        .finish()
}

/// An error as a page: the problem's status, title and detail, and its headers (`Retry-After`,
/// `Allow`) but not its media type.
fn fout(error: ApiError, aangemeld: Option<&Aangemeld>) -> HttpResponse {
    let problem = error.error_response();
    let csrf = aangemeld.map(|a| a.token.csrf(CSRF_SESSIE));
    let kop = aangemeld.zip(csrf.as_deref()).map(|(a, csrf)| Kop {
        afnemer: &a.afnemer,
        csrf,
        menu: None,
    });
    let titel = error_title(&problem);
    let inhoud = maud::html! {
        (pagina::melding(&error.to_string(), true))
        p { a href=(PAD) { "Naar het overzicht" } }
    };
    let mut response = html(
        problem.status(),
        pagina::pagina(&titel, kop, inhoud),
        aangemeld,
    );
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = problem.headers().get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// The page title of an error: its status in words.
fn error_title(problem: &HttpResponse) -> String {
    match problem.status() {
        StatusCode::BAD_REQUEST => "Ongeldig verzoek".into(),
        StatusCode::UNAUTHORIZED => "Niet aangemeld".into(),
        StatusCode::FORBIDDEN => "Geen toegang".into(),
        StatusCode::NOT_FOUND => "Niet gevonden".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "Verzoek te groot".into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Verkeerd formaat".into(),
        StatusCode::TOO_MANY_REQUESTS => "Te veel pogingen".into(),
        StatusCode::SERVICE_UNAVAILABLE => "Even niet beschikbaar".into(),
        _ => "Er ging iets mis".into(),
    }
}

/// The signed-in afnemer of a page behind the sign-in; else the answer to give: a 303 to the
/// sign-in page, or an error page.
async fn sessie_van(request: &HttpRequest, state: &AppState) -> Result<Aangemeld, HttpResponse> {
    match sessie::aangemeld(request, state).await {
        Ok(Ok(aangemeld)) => Ok(aangemeld),
        Ok(Err(_)) => Err(naar(PAD)),
        Err(error) => Err(fout(error, None)),
    }
}

fn kop<'a>(aangemeld: &'a Aangemeld, csrf: &'a str, menu: Menu) -> Kop<'a> {
    Kop {
        afnemer: &aangemeld.afnemer,
        csrf,
        menu: Some(menu),
    }
}

/// Runs a store read on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, berichtenbox_actors::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(f).await??)
}

/// `GET /leveranciersportaal`: the overview when signed in, else the sign-in form.
pub async fn overzicht(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let aangemeld = match sessie::aangemeld(&request, &state).await {
        Ok(Ok(aangemeld)) => aangemeld,
        Ok(Err(afgemeld)) => {
            let bericht = match afgemeld {
                Afgemeld::Geen => None,
                Afgemeld::Verlopen => Some("Uw sessie is verlopen. Meld u opnieuw aan."),
                Afgemeld::Ingetrokken => Some(
                    "Uw sessie is beëindigd: de sleutel is ingetrokken of uw organisatie is niet meer actief.",
                ),
            };
            return inlogpagina(&request, &state, StatusCode::OK, bericht);
        }
        Err(error) => return fout(error, None),
    };
    match overzicht_cijfers(&state, &aangemeld).await {
        Ok(cijfers) => {
            let csrf = aangemeld.token.csrf(CSRF_SESSIE);
            let inhoud = pagina::overzicht(&cijfers);
            let markup = pagina::pagina(
                "Overzicht",
                Some(kop(&aangemeld, &csrf, Menu::Overzicht)),
                inhoud,
            );
            html(StatusCode::OK, markup, Some(&aangemeld))
        }
        Err(error) => fout(error, Some(&aangemeld)),
    }
}

/// The overview's figures: one read of the afnemer's tellingen (the last 30 days and this
/// month) and of its prognoses.
pub async fn overzicht_cijfers(
    state: &AppState,
    aangemeld: &Aangemeld,
) -> Result<pagina::Overzicht, ApiError> {
    let now = state.clock.now();
    let zone = state.zone.clone();
    let vandaag = now.to_zoned(zone.clone()).date();
    let begin = vandaag.checked_sub(29.days()).unwrap_or(vandaag);
    let maand = Maand::of(now, &zone);
    let vanaf = begin.min(maand.first_day());
    let store: Arc<dyn Portaal> = state.store.clone();
    let reports: Arc<dyn Reports> = state.store.clone();
    let oin = aangemeld.afnemer.oin.clone();
    let (tellingen, prognoses) = blocking(move || {
        Ok((
            store.afnemer_tellingen(&oin, vanaf, vandaag)?,
            reports.prognoses(Some(&oin))?,
        ))
    })
    .await?;
    let dagen: Vec<(Date, [u64; 3])> = begin
        .series(1.day())
        .take_while(|dag| *dag <= vandaag)
        .map(|dag| {
            let t = tellingen.get(&dag).cloned().unwrap_or_default();
            (dag, [t.aangeboden, t.verwerkt, t.afgewezen])
        })
        .collect();
    let deze_maand: u64 = tellingen
        .range(maand.first_day()..)
        .map(|(_, t)| t.aangeboden)
        .sum();
    let voortgang = prognose::voortgang(now, &zone);
    let prognose_van = |m: Maand| {
        let label = m.to_string();
        prognoses
            .iter()
            .find(|p| p.maand == label)
            .map(|p| p.aantal_berichten)
    };
    let maanden = (0..prognose::HORIZON_MONTHS)
        .filter_map(|ahead| maand.plus(ahead))
        .filter(|m| *m == maand || prognose_van(*m).is_some())
        .take(12)
        .map(|m| {
            let aangeboden = (m == maand).then_some(deze_maand);
            (
                m.to_string(),
                pagina::maand(m.first_day()),
                prognose_van(m),
                aangeboden,
            )
        })
        .collect();
    let forecast = prognose_van(maand).unwrap_or(0);
    let afwijking = prognose::afwijking(forecast, deze_maand, voortgang);
    Ok(pagina::Overzicht {
        vandaag,
        dagen,
        maanden,
        deze_maand,
        verwacht: afwijking.map(|_| (deze_maand as f64 / voortgang).round() as u64),
        afwijking,
        berichten_per_seconde: aangemeld.afnemer.berichten_per_seconde,
        burst: aangemeld.afnemer.burst,
    })
}

/// The sign-in page, with the sign-in form's cookie when the browser has none yet.
fn inlogpagina(
    request: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    bericht: Option<&str>,
) -> HttpResponse {
    let (token, nieuw) = sessie::aanmeld_token(request);
    let markup = pagina::inloggen(
        &token.csrf(CSRF_AANMELDEN),
        state.config.tls.api_keys,
        bericht,
    );
    let mut response = html(status, markup, None);
    if nieuw {
        let cookie = sessie::cookie(AANMELD_COOKIE, token.as_str().to_owned(), state);
        let _ = response.add_cookie(&cookie);
    }
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inlogformulier {
    sleutel: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Uitlogformulier {
    csrf: Option<String>,
}

/// A form's body: `application/x-www-form-urlencoded`, at most [`FORMULIER_BYTES`], read as
/// every body is (bounded, paced, its memory reserved).
async fn formulier<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    body::require_media_type(request, "application/x-www-form-urlencoded")?;
    let body = body::read(request, payload, state, FORMULIER_BYTES).await?;
    serde_urlencoded::from_bytes(&body.bytes).map_err(|error| ApiError::BadRequest {
        detail: format!("Het formulier is onleesbaar: {error}."),
        invalid_params: Vec::new(),
    })
}

fn formulier_verlopen() -> ApiError {
    ApiError::Forbidden(
        "Het formulier is verlopen of komt niet van deze site. Laad de pagina opnieuw en probeer het nog eens.",
    )
}

/// `POST /leveranciersportaal/inloggen`: signs in with an API key (form field `sleutel`) and
/// the sign-in form's CSRF token; a new session and a 303 to the overview. A wrong key shows
/// the form again with 401; it counts as a failed authentication of the client's address.
pub async fn inloggen(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let formulier: Inlogformulier = match formulier(&request, payload, &state).await {
        Ok(formulier) => formulier,
        Err(error) => return fout(error, None),
    };
    let csrf_klopt = sessie::bestaand_aanmeld_token(&request).is_some_and(|token| {
        token.csrf_matches(CSRF_AANMELDEN, formulier.csrf.as_deref().unwrap_or(""))
    });
    if !csrf_klopt {
        return fout(formulier_verlopen(), None);
    }
    let sleutel = formulier.sleutel.unwrap_or_default();
    let (afnemer, id) = match auth::afnemer_by_key(&request, &state, &sleutel) {
        Ok(found) => found,
        Err(ApiError::Unauthorized(reden)) => {
            return inlogpagina(&request, &state, StatusCode::UNAUTHORIZED, Some(reden));
        }
        Err(error) => return fout(error, None),
    };
    let (token, _) = match sessie::begin(afnemer.oin, Aanmelding::Sleutel { id }, &state).await {
        Ok(begun) => begun,
        Err(error) => return fout(error, None),
    };
    let mut response = naar(PAD);
    let _ = response.add_cookie(&sessie::cookie(
        SESSIE_COOKIE,
        token.as_str().to_owned(),
        &state,
    ));
    let _ = response.add_cookie(&sessie::removal(AANMELD_COOKIE, &state));
    response
}

/// `POST /leveranciersportaal/uitloggen`: ends the session (with its CSRF token) and sends
/// the browser to the sign-in page without its cookie.
pub async fn uitloggen(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let formulier: Uitlogformulier = match formulier(&request, payload, &state).await {
        Ok(formulier) => formulier,
        Err(error) => return fout(error, None),
    };
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    if !aangemeld
        .token
        .csrf_matches(CSRF_SESSIE, formulier.csrf.as_deref().unwrap_or(""))
    {
        return fout(formulier_verlopen(), Some(&aangemeld));
    }
    if let Err(error) = sessie::end(state.store.clone(), &aangemeld.token).await {
        return fout(error, Some(&aangemeld));
    }
    let mut response = naar(PAD);
    let _ = response.add_cookie(&sessie::removal(SESSIE_COOKIE, &state));
    response
}

/// A query string's parameters, or a 400 naming what is wrong.
fn query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|error| ApiError::invalid(vec![InvalidParam::new("query", error.to_string())]))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchesQuery {
    batch_id: Option<String>,
    voor: Option<String>,
}

/// `GET /leveranciersportaal/batches`: the recent batches, newest first, paged (`voor`), or
/// the batch a `batchId` names (a 303 to its page).
pub async fn batches(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    match batches_pagina(&request, &state, &aangemeld).await {
        Ok(response) => response,
        Err(error) => fout(error, Some(&aangemeld)),
    }
}

async fn batches_pagina(
    request: &HttpRequest,
    state: &AppState,
    aangemeld: &Aangemeld,
) -> Result<HttpResponse, ApiError> {
    let q: BatchesQuery = query(request)?;
    let csrf = aangemeld.token.csrf(CSRF_SESSIE);
    let mut bericht = None;
    if let Some(gezocht) = q
        .batch_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match rules::guid(gezocht) {
            Ok(id) => return Ok(naar(&format!("{PAD}/batches/{id}"))),
            Err(_) => {
                bericht = Some((
                    "Een batchId is een GUID van 36 tekens, zoals 3f2b8c1e-0a4d-4e6f-9b7a-1c2d3e4f5a6b.",
                    true,
                ))
            }
        }
    }
    let voor = match q.voor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(ReceiptCursor::from_hex(text).ok_or_else(|| {
            ApiError::invalid(vec![InvalidParam::new("voor", "is geen geldige cursor")])
        })?),
    };
    let store: Arc<dyn Portaal> = state.store.clone();
    let oin = aangemeld.afnemer.oin.clone();
    let gevonden =
        blocking(move || store.recente_batches(&oin, voor, BATCHES_PER_PAGINA + 1)).await?;
    let ouder =
        (gevonden.len() > BATCHES_PER_PAGINA).then(|| gevonden[BATCHES_PER_PAGINA - 1].0.to_hex());
    let rijen: Vec<_> = gevonden
        .into_iter()
        .take(BATCHES_PER_PAGINA)
        .map(|(_, batch)| batch)
        .collect();
    let status = if bericht.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let inhoud = pagina::batches(&state.zone, &rijen, ouder, bericht);
    let markup = pagina::pagina(
        "Batches",
        Some(kop(aangemeld, &csrf, Menu::Batches)),
        inhoud,
    );
    Ok(html(status, markup, Some(aangemeld)))
}

/// `GET /leveranciersportaal/batches/{batchId}`: one of the afnemer's batches with its
/// verwerkingsbericht; 404 for an id it did not deliver (or whose record has expired).
pub async fn batch(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    let gevonden = async {
        let id = rules::guid(&path).map_err(|reden| {
            ApiError::invalid(vec![InvalidParam::new("batchId", reden)])
        })?;
        let store: Arc<dyn Receipts> = state.store.clone();
        let oin = aangemeld.afnemer.oin.clone();
        let zoek = id.clone();
        blocking(move || store.find_batch(&oin, &zoek))
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "Er is geen batch {id} van uw organisatie (meer): batches worden {} dagen na hun verwerking vergeten.",
                    state.config.bewaren.batches_dagen
                ))
            })
    }
    .await;
    match gevonden {
        Ok(record) => {
            let csrf = aangemeld.token.csrf(CSRF_SESSIE);
            let markup = pagina::pagina(
                &format!("Batch {}", record.batch_id),
                Some(kop(&aangemeld, &csrf, Menu::Batches)),
                pagina::batch(&state.zone, &record),
            );
            html(StatusCode::OK, markup, Some(&aangemeld))
        }
        Err(error) => fout(error, Some(&aangemeld)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AfwijzingenQuery {
    dag: Option<String>,
    code: Option<String>,
    na: Option<String>,
}

/// The afwijzingen filter of a query, checked: a day still kept, a code that is an afwijzing,
/// a cursor. An empty value (a form's "all") is no filter.
struct Afwijzingenfilter {
    filter: AfwijzingFilter,
    na: Option<AfwijzingCursor>,
    dagen: Vec<Date>,
}

fn afwijzingenfilter(
    request: &HttpRequest,
    state: &AppState,
) -> Result<Afwijzingenfilter, ApiError> {
    let q: AfwijzingenQuery = query(request)?;
    let vandaag = state.clock.now().to_zoned(state.zone.clone()).date();
    let bewaard = i64::from(state.config.bewaren.verwerkingsberichten_dagen);
    let dagen: Vec<Date> = (0..=bewaard)
        .filter_map(|terug| vandaag.checked_sub(terug.days()).ok())
        .collect();
    let mut invalid = Vec::new();
    let dag = veld(
        &q.dag,
        "dag",
        "is geen dag als JJJJ-MM-DD van de dagen waarvan de afwijzingen bewaard zijn",
        &mut invalid,
        |text| super::rapportages::parse_date(text).filter(|d| dagen.contains(d)),
    );
    let code = veld(
        &q.code,
        "code",
        "is geen verwerkingsCode van een afwijzing",
        &mut invalid,
        |text| {
            pagina::AFWIJZINGSCODES
                .into_iter()
                .find(|c| c.as_str() == text)
        },
    );
    let na = veld(
        &q.na,
        "na",
        "is geen geldige cursor",
        &mut invalid,
        AfwijzingCursor::from_hex,
    );
    if !invalid.is_empty() {
        return Err(ApiError::invalid(invalid));
    }
    Ok(Afwijzingenfilter {
        filter: AfwijzingFilter { dag, code },
        na,
        dagen,
    })
}

/// A query parameter's value: `None` when absent or empty (a form's "all"); one that does not
/// `parse` is `None` too, with its name and `reason` noted in `invalid`.
fn veld<T>(
    value: &Option<String>,
    name: &str,
    reason: &str,
    invalid: &mut Vec<InvalidParam>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let text = value.as_deref().filter(|text| !text.is_empty())?;
    let parsed = parse(text);
    if parsed.is_none() {
        invalid.push(InvalidParam::new(name, reason));
    }
    parsed
}

/// The query string of a filter (with a cursor), `?` included; empty for no filter at all.
fn filter_query(filter: AfwijzingFilter, na: Option<AfwijzingCursor>) -> String {
    let mut parts = Vec::new();
    if let Some(dag) = filter.dag {
        parts.push(format!("dag={dag}"));
    }
    if let Some(code) = filter.code {
        parts.push(format!("code={}", code.as_str()));
    }
    if let Some(na) = na {
        parts.push(format!("na={}", na.to_hex()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `GET /leveranciersportaal/afwijzingen?dag=&code=&na=`: a page of the afnemer's afwijzingen.
pub async fn afwijzingen(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    let pagina = async {
        let f = afwijzingenfilter(&request, &state)?;
        let store: Arc<dyn Portaal> = state.store.clone();
        let oin = aangemeld.afnemer.oin.clone();
        let (filter, na) = (f.filter, f.na);
        let gevonden =
            blocking(move || store.afwijzingen(&oin, filter, na, AFWIJZINGEN_PER_PAGINA + 1))
                .await?;
        let volgende = (gevonden.len() > AFWIJZINGEN_PER_PAGINA)
            .then(|| filter_query(filter, Some(gevonden[AFWIJZINGEN_PER_PAGINA - 1].0)));
        let rijen: Vec<AfwijzingRecord> = gevonden
            .into_iter()
            .take(AFWIJZINGEN_PER_PAGINA)
            .map(|(_, record)| record)
            .collect();
        let csrf = aangemeld.token.csrf(CSRF_SESSIE);
        let inhoud = pagina::afwijzingen(
            &state.zone,
            &pagina::AfwijzingenWeergave {
                dagen: &f.dagen,
                dag: filter.dag,
                code: filter.code,
                rijen: &rijen,
                volgende,
                csv: filter_query(filter, None),
            },
        );
        Ok::<_, ApiError>(pagina::pagina(
            "Afwijzingen",
            Some(kop(&aangemeld, &csrf, Menu::Afwijzingen)),
            inhoud,
        ))
    }
    .await;
    match pagina {
        Ok(markup) => html(StatusCode::OK, markup, Some(&aangemeld)),
        Err(error) => fout(error, Some(&aangemeld)),
    }
}

/// `GET /leveranciersportaal/afwijzingen.csv?dag=&code=`: every afwijzing of the filter as
/// CSV (RFC 4180, UTF-8, a header line), streamed a thousand at a time, so a week of them
/// never sits in memory whole.
pub async fn afwijzingen_csv(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    let f = match afwijzingenfilter(&request, &state) {
        Ok(f) => f,
        Err(error) => return fout(error, Some(&aangemeld)),
    };
    let store: Arc<dyn Portaal> = state.store.clone();
    let oin = aangemeld.afnemer.oin.clone();
    let zone = state.zone.clone();
    let filter = f.filter;
    let naam = match filter.dag {
        Some(dag) => format!("afwijzingen-{oin}-{dag}.csv"),
        None => format!("afwijzingen-{oin}.csv"),
    };
    // (the cursor to go on after; whether the header is written; whether the end is reached)
    let begin = (f.na, false, false);
    let stukken = stream::unfold(begin, move |(na, kop_geschreven, klaar)| {
        let store = store.clone();
        let oin = oin.clone();
        let zone = zone.clone();
        async move {
            if klaar {
                return None;
            }
            let gelezen =
                blocking(move || store.afwijzingen(&oin, filter, na, AFWIJZINGEN_PER_CSV_STUK))
                    .await;
            let rijen = match gelezen {
                Ok(rijen) => rijen,
                Err(error) => {
                    tracing::warn!(%error, "afwijzingen CSV: read failed; the download ends");
                    let error: actix_web::Error = error.into();
                    return Some((Err(error), (na, true, true)));
                }
            };
            let laatste = rijen.last().map(|(cursor, _)| *cursor);
            let einde = rijen.len() < AFWIJZINGEN_PER_CSV_STUK;
            let bytes = csv_stuk(&rijen, !kop_geschreven, &zone);
            Some((Ok(web::Bytes::from(bytes)), (laatste.or(na), true, einde)))
        }
    });
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{naam}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        ));
    if let Some(cookie) = aangemeld.nieuw_cookie.clone() {
        response.cookie(cookie);
    }
    response.streaming(stukken)
}

/// Afwijzingen as CSV lines (with the header line first when asked).
fn csv_stuk(
    rijen: &[(AfwijzingCursor, AfwijzingRecord)],
    met_kop: bool,
    zone: &jiff::tz::TimeZone,
) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(rijen.len() * 128 + 96));
    // Writing into a Vec cannot fail; a failed record would only be missing from the file.
    if met_kop {
        let _ = writer.write_record([
            "berichtId",
            "verwerkingsCode",
            "stadium",
            "batchId",
            "verwerktOp",
            "verwerktOpAmsterdam",
        ]);
    }
    for (_, rij) in rijen {
        let _ = writer.write_record([
            rij.bericht_id.as_str(),
            rij.code.as_str(),
            rij.stadium.as_str(),
            rij.batch_id.as_str(),
            &rij.verwerkt_op.to_string(),
            &pagina::tijd(rij.verwerkt_op, zone),
        ]);
    }
    writer.into_inner().unwrap_or_default()
}

/// `GET /leveranciersportaal/berichttypen`: the afnemer's berichttypen.
pub async fn berichttypen(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let aangemeld = match sessie_van(&request, &state).await {
        Ok(aangemeld) => aangemeld,
        Err(response) => return response,
    };
    let typen = state.catalog.berichttypen(&aangemeld.afnemer.oin);
    let csrf = aangemeld.token.csrf(CSRF_SESSIE);
    let markup = pagina::pagina(
        "Berichttypen",
        Some(kop(&aangemeld, &csrf, Menu::Berichttypen)),
        pagina::berichttypen(&typen),
    );
    html(StatusCode::OK, markup, Some(&aangemeld))
}

/// `GET /leveranciersportaal/stijl.css`: the stylesheet (the same for everyone, so cacheable).
pub async fn stijl() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STIJL)
}

#[cfg(test)]
mod tests {
    use berichtenbox_actors::core::verwerking::VerwerkingsCode;

    use super::*;

    #[test]
    fn a_filter_is_written_back_as_its_query() {
        assert_eq!(filter_query(AfwijzingFilter::default(), None), "");
        let dag = Date::new(2026, 12, 7).expect("date");
        let filter = AfwijzingFilter {
            dag: Some(dag),
            code: Some(VerwerkingsCode::BerichtBestaatAl),
        };
        assert_eq!(
            filter_query(filter, None),
            "?dag=2026-12-07&code=BerichtBestaatAl"
        );
    }

    #[test]
    fn csv_lines_are_quoted_and_headed() {
        let zone = berichtenbox_actors::core::caps::amsterdam().expect("zone");
        let rij = AfwijzingRecord {
            batch_id: "b".into(),
            bericht_id: "id,with\"quote".into(),
            code: VerwerkingsCode::BerichtBestaatAl,
            stadium: berichtenbox_actors::core::verwerking::Stadium::ValidatieGebruiker,
            verwerkt_op: "2026-12-07T10:00:00Z".parse().expect("ts"),
        };
        let cursor = AfwijzingCursor {
            dag: Date::new(2026, 12, 7).expect("date"),
            code: rij.code,
            receipt: ReceiptCursor {
                ready_nanos: 1,
                shard: 0,
                first_seq: 0,
            },
            index: 0,
        };
        let text = String::from_utf8(csv_stuk(&[(cursor, rij)], true, &zone)).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("berichtId,verwerkingsCode,stadium,batchId,verwerktOp,verwerktOpAmsterdam")
        );
        assert_eq!(
            lines.next(),
            Some(
                "\"id,with\"\"quote\",BerichtBestaatAl,ValidatieGebruiker,b,2026-12-07T10:00:00Z,7-12-2026 11:00:00"
            )
        );
    }
}
