//! The Abonnementservice: `POST /v1/abonnementsverzoeken`, `GET /v1/abonnementsverzoeken/{id}`
//! and `GET .../resultaat` (API.md, "Abonnementservice").
//!
//! A verzoek is checked field by field, then stored in one synced write with its night's quota
//! (`Abonnementen::vraag_aan`): the same `verzoekId` again with the same content answers 200,
//! with other content 409; over the night's quota, 429 with `Retry-After` until that night's
//! window opens (verzoeken made from then on run the night after). The runner
//! (`berichtenbox_actors::abonnementen`) makes the result in the night; it is served from its
//! gzip file as it is (`Accept-Encoding: gzip`) or decompressed on the way, a piece at a time on
//! the blocking pool, so a slow client holds no thread.

use std::io::Read;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::abonnementen::{NACHT_BUDGET, Tempo, resultaat_pad};
use berichtenbox_actors::core::nacht::Nacht;
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::{Aanvraag, Abonnementen, Soort, VerzoekRecord, VerzoekStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::body::{self, BoundedVec, OverLimit};
use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth};

/// The most BSNs a `bsn-lijst` may hold (API.md).
pub const MAX_BSNS: usize = 1_000_000;
/// The largest body: a list of `MAX_BSNS` BSNs with room for spaces and the other fields.
pub const MAX_VERZOEK_BYTES: usize = 16 << 20;
/// Reasons listed for broken BSNs at most; the detail says how many there were.
const MAX_INVALID_LISTED: usize = 100;
/// Bytes of the result sent per piece.
const PIECE: usize = 64 << 10;

/// One element of `bsns`: a BSN as its number, or why the text is not one. Read without
/// keeping the text: 16 bytes an element while the list is read (a million: 16 MB, inside the
/// body's reservation of three times its 12 MB or more), 4 once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BsnVeld {
    Geldig(u32),
    Ongeldig(&'static str),
}

impl<'de> Deserialize<'de> for BsnVeld {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BsnVeld;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a BSN as a string")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<BsnVeld, E> {
                Ok(match rules::bsn(value) {
                    Ok(()) => value
                        .parse::<u32>()
                        .map_or(BsnVeld::Ongeldig("moet 9 cijfers zijn"), BsnVeld::Geldig),
                    Err(reason) => BsnVeld::Ongeldig(reason),
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerzoekJson {
    verzoek_id: Option<String>,
    soort: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    bsns: Option<BoundedVec<BsnVeld, MAX_BSNS>>,
    #[serde(default, deserialize_with = "body::present")]
    mutatie_datum: Option<String>,
}

/// A verzoek as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VerzoekView {
    verzoek_id: String,
    soort: &'static str,
    status: &'static str,
    aangevraagd_op: Timestamp,
    /// The opening of the night window it runs in.
    ingepland_op: Timestamp,
    /// The latest moment it is gereed: 4 hours after that opening.
    uiterlijk_gereed_op: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutatie_datum: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aantal_bsns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gestart_op: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gereed_op: Option<Timestamp>,
    /// Lines in the result, once gereed.
    #[serde(skip_serializing_if = "Option::is_none")]
    aantal_regels: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resultaat: Option<String>,
}

fn location(verzoek_id: &str) -> String {
    format!("/v1/abonnementsverzoeken/{verzoek_id}")
}

fn view(verzoek: &VerzoekRecord, state: &AppState) -> VerzoekView {
    let nacht = state.nachten.nacht(verzoek.nacht);
    let gereed = verzoek.status == VerzoekStatus::Gereed;
    VerzoekView {
        verzoek_id: verzoek.verzoek_id.clone(),
        soort: verzoek.soort.as_str(),
        status: verzoek.status.as_str(),
        aangevraagd_op: verzoek.aangevraagd_op,
        ingepland_op: nacht.opent,
        uiterlijk_gereed_op: nacht.uiterlijk_gereed(),
        mutatie_datum: verzoek.mutatie_datum,
        aantal_bsns: (verzoek.soort == Soort::BsnLijst).then_some(verzoek.aantal_bsns),
        gestart_op: verzoek.gestart_op,
        gereed_op: verzoek.gereed_op,
        aantal_regels: gereed.then_some(verzoek.regels),
        resultaat: gereed.then(|| format!("{}/resultaat", location(&verzoek.verzoek_id))),
    }
}

/// A checked verzoek: what is stored, and its BSNs.
struct Checked {
    verzoek_id: String,
    soort: Soort,
    bsns: Vec<u32>,
    mutatie_datum: Option<Timestamp>,
}

impl Checked {
    /// SHA-256 over what the afnemer asked: the soort, the BSNs in order and the mutatieDatum.
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.soort.as_str().as_bytes());
        hash.update((self.bsns.len() as u64).to_be_bytes());
        for bsn in &self.bsns {
            hash.update(bsn.to_be_bytes());
        }
        if let Some(datum) = self.mutatie_datum {
            hash.update(datum.as_nanosecond().to_be_bytes());
        }
        hash.finalize().into()
    }
}

fn bsns_count() -> InvalidParam {
    InvalidParam::new(
        "bsns",
        format!("moet bij soort bsn-lijst 1 tot en met {MAX_BSNS} BSN's bevatten"),
    )
}

/// More than `MAX_BSNS` BSNs: read no further than that, a 400 naming `bsns`.
fn over_limit(over: OverLimit) -> ApiError {
    over.invalid_at("bsns", bsns_count)
}

/// The field rules of API.md; `now` is the engine's clock, `horizon` the oldest
/// `mutatieDatum` the kept mutaties answer.
fn check(json: VerzoekJson, now: Timestamp, horizon: Timestamp) -> Result<Checked, ApiError> {
    let mut invalid = Vec::new();
    let verzoek_id = match json.verzoek_id.as_deref().map(rules::guid) {
        None => {
            invalid.push(InvalidParam::new("verzoekId", "is verplicht"));
            None
        }
        Some(Err(reason)) => {
            invalid.push(InvalidParam::new("verzoekId", reason));
            None
        }
        Some(Ok(id)) => Some(id),
    };
    let soort = match json.soort.as_deref() {
        None => {
            invalid.push(InvalidParam::new("soort", "is verplicht"));
            None
        }
        Some(text) => {
            let soort = Soort::parse(text);
            if soort.is_none() {
                invalid.push(InvalidParam::new(
                    "soort",
                    "moet volledig, bsn-lijst of mutaties zijn",
                ));
            }
            soort
        }
    };
    let mut bsns = Vec::new();
    match (soort, json.bsns) {
        (Some(Soort::BsnLijst), None) => invalid.push(bsns_count()),
        (Some(Soort::BsnLijst), Some(list)) => {
            let list = list.into_inner();
            if list.is_empty() {
                invalid.push(bsns_count());
            }
            bsns.reserve_exact(list.len());
            let mut broken = 0usize;
            for (index, veld) in list.into_iter().enumerate() {
                match veld {
                    BsnVeld::Geldig(bsn) => bsns.push(bsn),
                    BsnVeld::Ongeldig(reason) => {
                        broken += 1;
                        if broken <= MAX_INVALID_LISTED {
                            invalid.push(InvalidParam::new(format!("bsns[{index}]"), reason));
                        }
                    }
                }
            }
            if broken > MAX_INVALID_LISTED {
                return Err(ApiError::BadRequest {
                    detail: format!(
                        "{broken} BSN's voldoen niet aan de regels; de eerste \
                         {MAX_INVALID_LISTED} staan in invalidParams."
                    ),
                    invalid_params: invalid,
                });
            }
        }
        (Some(_), Some(_)) => invalid.push(InvalidParam::new(
            "bsns",
            "hoort alleen bij soort bsn-lijst",
        )),
        _ => {}
    }
    let mutatie_datum = match (soort, json.mutatie_datum.as_deref()) {
        (Some(Soort::Mutaties), None) => {
            invalid.push(InvalidParam::new(
                "mutatieDatum",
                "is verplicht bij soort mutaties",
            ));
            None
        }
        (Some(Soort::Mutaties), Some(text)) => match rules::rfc3339(text) {
            Err(reason) => {
                invalid.push(InvalidParam::new("mutatieDatum", reason));
                None
            }
            Ok(datum) if datum > now => {
                invalid.push(InvalidParam::new("mutatieDatum", "ligt in de toekomst"));
                None
            }
            Ok(datum) if datum < horizon => {
                invalid.push(InvalidParam::new(
                    "mutatieDatum",
                    format!(
                        "ligt verder terug dan de mutaties bewaard worden (niet voor {horizon})"
                    ),
                ));
                None
            }
            Ok(datum) => Some(datum),
        },
        (Some(_), Some(_)) => {
            invalid.push(InvalidParam::new(
                "mutatieDatum",
                "hoort alleen bij soort mutaties",
            ));
            None
        }
        _ => None,
    };
    match (verzoek_id, soort) {
        (Some(verzoek_id), Some(soort)) if invalid.is_empty() => Ok(Checked {
            verzoek_id,
            soort,
            bsns,
            mutatie_datum,
        }),
        _ => Err(ApiError::invalid(invalid)),
    }
}

/// The quota of `soort` in `nacht`: its name in the store, and when it may be forgotten.
fn quotum(nacht: &Nacht, soort: Soort) -> (String, Timestamp) {
    let vervalt = nacht
        .sluit
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap_or(Timestamp::MAX);
    (
        format!("abonnementen/{}/{}", nacht.naam(), soort.as_str()),
        vervalt,
    )
}

/// What the store said, as the handler answers it.
enum Outcome {
    Ingepland(VerzoekRecord),
    Zelfde(VerzoekRecord),
    Anders,
    Vol {
        soort: Soort,
        nacht: Nacht,
        reden: Reden,
    },
}

/// Why a night takes no more.
enum Reden {
    /// Its quota for the soort is taken.
    Quotum,
    /// What it holds, at the tempo the runner measured, would not be gereed in time.
    Tempo,
}

/// Checks a verzoek and plans it: stored for its night within the night's room and quota, or
/// the answer why not. Blocking (the store).
fn plan(state: &AppState, oin: &str, json: VerzoekJson) -> Result<Outcome, ApiError> {
    let now = state.clock.now();
    let horizon = now
        .checked_sub(state.config.bewaren.periods().mutaties)
        .unwrap_or(Timestamp::MIN);
    let checked = check(json, now, horizon)?;
    let nacht = state.nachten.ingepland(now);
    let record = VerzoekRecord {
        digest: checked.digest(),
        mutatie_datum: checked.mutatie_datum,
        aantal_bsns: u32::try_from(checked.bsns.len()).unwrap_or(u32::MAX),
        ..VerzoekRecord::ingepland(oin, &checked.verzoek_id, checked.soort, nacht.datum, now)
    };
    // The night's room, as the runner measured its earlier nights; a verzoek already made
    // is answered as it is (by `vraag_aan`, below), whatever the room.
    let kept = state.store.verzoeken()?;
    let made = kept
        .iter()
        .any(|verzoek| verzoek.oin == record.oin && verzoek.verzoek_id == record.verzoek_id);
    let planned = kept
        .iter()
        .filter(|verzoek| verzoek.nacht == nacht.datum && verzoek.status != VerzoekStatus::Gereed);
    let extra = (record.soort, record.aantal_bsns);
    if !made && !Tempo::measured(&kept).fits(planned, extra, NACHT_BUDGET) {
        return Ok(Outcome::Vol {
            soort: checked.soort,
            nacht,
            reden: Reden::Tempo,
        });
    }
    let (name, vervalt) = quotum(&nacht, checked.soort);
    let limit = state.config.abonnementen.per_nacht(checked.soort);
    Ok(
        match state
            .store
            .vraag_aan(&record, &checked.bsns, &name, limit, vervalt)?
        {
            Aanvraag::Ingepland => Outcome::Ingepland(record),
            Aanvraag::Bestaand(stored) if stored.digest == record.digest => {
                Outcome::Zelfde(*stored)
            }
            Aanvraag::Bestaand(_) => Outcome::Anders,
            Aanvraag::Vol => Outcome::Vol {
                soort: checked.soort,
                nacht,
                reden: Reden::Quotum,
            },
        },
    )
}

pub async fn vraag_aan(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    body::require_json(&request)?;
    let body =
        body::read_for_afnemer(&request, payload, &state, MAX_VERZOEK_BYTES, &afnemer.oin).await?;
    let (bytes, reservation) = body.into_parts();
    let blocking = state.clone().into_inner();
    let oin = afnemer.oin;
    let outcome = web::block(move || -> Result<Outcome, ApiError> {
        let json: VerzoekJson = body::parse_json_or(&bytes, over_limit)?;
        drop(bytes);
        plan(&blocking, &oin, json)
    })
    .await??;
    drop(reservation);
    match outcome {
        Outcome::Ingepland(record) => {
            metrics::counter!(super::telemetry::ABONNEMENTEN_VERZOEKEN, "abonnement" => record.soort.as_str())
                .increment(1);
            Ok(HttpResponse::Accepted()
                .insert_header((header::LOCATION, location(&record.verzoek_id)))
                .json(view(&record, &state)))
        }
        Outcome::Zelfde(record) => Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, location(&record.verzoek_id)))
            .json(view(&record, &state))),
        Outcome::Anders => Err(ApiError::Conflict(
            "Deze afnemer deed al een verzoek met dit verzoekId, met een andere inhoud.".into(),
        )),
        Outcome::Vol {
            soort,
            nacht,
            reden,
        } => {
            let now = state.clock.now();
            let opent_local = nacht.opent.to_zoned(state.zone.clone());
            let waarom = match reden {
                Reden::Quotum => format!(
                    "heeft geen ruimte meer voor verzoeken van de soort {}",
                    soort.as_str()
                ),
                Reden::Tempo => "kan dit verzoek er niet meer bij hebben: met wat al is \
                                 ingepland zou het niet binnen 4 uur na het openen van het \
                                 nachtvenster gereed zijn (geschat naar eerdere nachten)"
                    .to_owned(),
            };
            Err(ApiError::TooManyRequests {
                detail: format!(
                    "De nacht van {} {waarom}. Een verzoek dat vanaf {} wordt gedaan, wordt de \
                     nacht daarna uitgevoerd.",
                    nacht.naam(),
                    opent_local.strftime("%Y-%m-%d %H:%M %Z"),
                ),
                retry_after_seconds: nacht
                    .opent
                    .duration_since(now)
                    .as_secs()
                    .max(1)
                    .unsigned_abs(),
            })
        }
    }
}

/// The signed-in afnemer's verzoek named in the path, or a 404 (also for another afnemer's).
async fn find(
    request: &HttpRequest,
    path: web::Path<String>,
    state: &web::Data<AppState>,
) -> Result<VerzoekRecord, ApiError> {
    let afnemer = auth::afnemer(request, state)?;
    let not_found =
        || ApiError::NotFound("Deze afnemer heeft geen verzoek met dit verzoekId.".into());
    let verzoek_id = rules::guid(&path.into_inner()).map_err(|_| not_found())?;
    let store: Arc<dyn Abonnementen> = state.store.clone();
    web::block(move || store.verzoek(&afnemer.oin, &verzoek_id))
        .await??
        .ok_or_else(not_found)
}

pub async fn status(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let verzoek = find(&request, path, &state).await?;
    Ok(HttpResponse::Ok().json(view(&verzoek, &state)))
}

/// Whether `Accept-Encoding` takes gzip (by name or `*`, with a q above 0).
fn accepts_gzip(request: &HttpRequest) -> bool {
    let Some(value) = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|param| {
            let param = param.trim().replace(' ', "");
            param
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

pub async fn resultaat(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let verzoek = find(&request, path, &state).await?;
    let not_ready = |status: &str| {
        ApiError::Conflict(format!(
            "Het resultaat is er nog niet: het verzoek is {status}."
        ))
    };
    if verzoek.status != VerzoekStatus::Gereed {
        return Err(not_ready(verzoek.status.as_str()));
    }
    let path = resultaat_pad(&state.resultaten, &verzoek.oin, &verzoek.verzoek_id);
    let file = match web::block(move || std::fs::File::open(path)).await? {
        Ok(file) => file,
        // A data directory restored from a backup holds the verzoek, not its file: the runner
        // makes it again in the next night.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_ready(
                "gereed, maar het resultaat wordt opnieuw gemaakt",
            ));
        }
        Err(error) => return Err(ApiError::Internal(error.to_string())),
    };
    let gzip = accepts_gzip(&request);
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(file)
    } else {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    };
    let pieces = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let read = web::block(move || {
            let mut piece = vec![0u8; PIECE];
            let n = reader.read(&mut piece)?;
            piece.truncate(n);
            Ok::<_, std::io::Error>((reader, piece))
        })
        .await;
        match read {
            Ok(Ok((_, piece))) if piece.is_empty() => None,
            Ok(Ok((reader, piece))) => Some((Ok(web::Bytes::from(piece)), Some(reader))),
            Ok(Err(error)) => Some((Err(error), None)),
            Err(blocking) => Some((Err(std::io::Error::other(blocking.to_string())), None)),
        }
    });
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/x-ndjson")
        .insert_header((header::VARY, "Accept-Encoding"));
    if gzip {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(response.streaming(pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> VerzoekJson {
        body::parse_json_or(text.as_bytes(), over_limit).expect("parses")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn names(error: ApiError) -> Vec<String> {
        match error {
            ApiError::BadRequest { invalid_params, .. } => {
                invalid_params.into_iter().map(|p| p.name).collect()
            }
            other => panic!("not a 400: {other:?}"),
        }
    }

    const ID: &str = "0b9d1a2e-5f3c-4c1e-9a7b-2d3e4f5a6b7c";

    #[test]
    fn each_soort_takes_its_own_fields() {
        let now = at("2026-12-07T12:00:00Z");
        let horizon = at("2026-09-08T12:00:00Z");
        let ok = check(
            json(&format!(
                r#"{{"verzoekId":"{ID}","soort":"bsn-lijst","bsns":["999993653","111222333"]}}"#
            )),
            now,
            horizon,
        );
        let checked = ok.unwrap_or_else(|_| panic!("valid"));
        assert_eq!(checked.bsns, vec![999_993_653, 111_222_333]);

        let cases = [
            (r#""soort":"bsn-lijst""#, vec!["bsns"]),
            (r#""soort":"bsn-lijst","bsns":[]"#, vec!["bsns"]),
            (
                r#""soort":"bsn-lijst","bsns":["999993653","123456789"]"#,
                vec!["bsns[1]"],
            ),
            (r#""soort":"volledig","bsns":["999993653"]"#, vec!["bsns"]),
            (r#""soort":"mutaties""#, vec!["mutatieDatum"]),
            (
                r#""soort":"mutaties","mutatieDatum":"2026-12-08T00:00:00Z""#,
                vec!["mutatieDatum"],
            ),
            (
                r#""soort":"mutaties","mutatieDatum":"2026-09-01T00:00:00Z""#,
                vec!["mutatieDatum"],
            ),
            (
                r#""soort":"mutaties","mutatieDatum":"gisteren""#,
                vec!["mutatieDatum"],
            ),
            (
                r#""soort":"volledig","mutatieDatum":"2026-12-01T00:00:00Z""#,
                vec!["mutatieDatum"],
            ),
            (r#""soort":"alles""#, vec!["soort"]),
        ];
        for (fields, expected) in cases {
            let body = format!(r#"{{"verzoekId":"{ID}",{fields}}}"#);
            let error = check(json(&body), now, horizon).err().expect(fields);
            assert_eq!(names(error), expected, "{fields}");
        }
        let missing = check(json("{}"), now, horizon).err().expect("empty");
        assert_eq!(names(missing), vec!["verzoekId", "soort"]);
        let mutaties = check(
            json(&format!(
                r#"{{"verzoekId":"{ID}","soort":"mutaties","mutatieDatum":"2026-12-01T00:00:00Z"}}"#
            )),
            now,
            horizon,
        );
        assert!(mutaties.is_ok());
    }

    #[test]
    fn the_digest_is_the_content() {
        let checked = |bsns: Vec<u32>, datum: Option<Timestamp>| Checked {
            verzoek_id: ID.into(),
            soort: Soort::BsnLijst,
            bsns,
            mutatie_datum: datum,
        };
        let a = checked(vec![1, 2], None).digest();
        assert_eq!(a, checked(vec![1, 2], None).digest());
        assert_ne!(a, checked(vec![2, 1], None).digest());
        assert_ne!(a, checked(vec![1, 2], Some(Timestamp::UNIX_EPOCH)).digest());
    }

    #[test]
    fn over_a_hundred_broken_bsns_are_summed_up() {
        let list: Vec<String> = (0..150).map(|_| "\"123456789\"".to_string()).collect();
        let body = format!(
            r#"{{"verzoekId":"{ID}","soort":"bsn-lijst","bsns":[{}]}}"#,
            list.join(",")
        );
        let now = at("2026-12-07T12:00:00Z");
        match check(json(&body), now, now) {
            Err(ApiError::BadRequest {
                detail,
                invalid_params,
            }) => {
                assert_eq!(invalid_params.len(), MAX_INVALID_LISTED);
                assert!(detail.starts_with("150 BSN's"), "{detail}");
            }
            _ => panic!("a 400"),
        }
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let with = |value: &str| {
            let request = actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, value))
                .to_http_request();
            accepts_gzip(&request)
        };
        assert!(with("gzip"));
        assert!(with("br, gzip;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!with("identity"));
    }
}
