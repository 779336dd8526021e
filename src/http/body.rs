//! Reading a request body within bounds: the media type is checked first, then memory for the
//! whole body and for what parsing builds from it (`BODY_MEMORY_FACTOR` times its size) is
//! reserved from the in-flight budget before a byte is read, and the body may not grow past the
//! configured limit while it streams in. Parsing reads every array of a body through
//! `BoundedVec`, which stops at its limit: a small body cannot make a large parse.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::problem::{ApiError, InvalidParam};

/// How many times its own size a body reserves from the in-flight budget: the body itself; the
/// strings parsing copies out of it (a JSON string never decodes longer than it is written, so
/// together at most the body's size); and, for a batch, its domain form and the records the
/// store encodes from it while it is parked (attachments decode to three quarters of their
/// base64). Every array is bounded (`BoundedVec`), so what parsing builds besides the strings
/// is a small constant per request (for a batch at most 1,000 berichten of 2 bijlagen, a few
/// hundred KB), not a multiple of the body. A request never reserves more than the whole
/// budget: with `in_flight_bytes` below this factor times `max_body_bytes`, the largest bodies
/// are taken one at a time.
pub const BODY_MEMORY_FACTOR: usize = 3;

/// A body in memory, holding its share of the in-flight budget until dropped.
#[derive(Debug)]
pub struct Body {
    pub bytes: web::BytesMut,
    reservation: Reservation,
}

/// A share of the in-flight budget, given back when dropped. A batch keeps it, after its body is
/// parsed and dropped, until its park is answered.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
    _share: Option<Share>,
}

/// The permits of the in-flight budget each afnemer holds now. An entry lives only while its
/// afnemer has a body in flight, so the map never has more entries than requests in flight.
#[derive(Debug, Default, Clone)]
pub struct Shares(Arc<Mutex<HashMap<String, usize>>>);

/// One request's part of its afnemer's share, given back when dropped.
#[derive(Debug)]
struct Share {
    shares: Shares,
    owner: String,
    permits: usize,
}

impl Shares {
    /// Takes `permits` for `owner` if that keeps it within `cap`.
    fn take(&self, owner: &str, permits: usize, cap: usize) -> Option<Share> {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = held.get(owner).copied().unwrap_or(0);
        if now + permits > cap {
            return None;
        }
        held.insert(owner.to_owned(), now + permits);
        Some(Share {
            shares: self.clone(),
            owner: owner.to_owned(),
            permits,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self
            .shares
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(now) = held.get_mut(&self.owner) {
            *now = now.saturating_sub(self.permits);
            if *now == 0 {
                held.remove(&self.owner);
            }
        }
    }
}

impl Body {
    /// The bytes, and the reservation that outlives them.
    pub fn into_parts(self) -> (web::BytesMut, Reservation) {
        (self.bytes, self.reservation)
    }
}

/// 415 unless the request says `application/json` (parameters such as charset allowed).
pub fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
    require_media_type(request, "application/json")
}

/// 415 unless the request's `Content-Type` is `media_type` (parameters such as charset
/// allowed).
pub fn require_media_type(request: &HttpRequest, media_type: &str) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(media_type) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Verwacht Content-Type {media_type}, kreeg '{content_type}'."
        )))
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge {
        detail: format!("Het verzoek is groter dan de toegestane {limit} bytes."),
        invalid_params: Vec::new(),
    }
}

/// Reads the whole body, or answers 413 (over `limit`), 503 (no memory for it now) or 408 (it
/// arrives too slowly).
pub async fn read(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    limit: usize,
) -> Result<Body, ApiError> {
    read_as(request, payload, state, limit, None).await
}

/// `read`, for an afnemer known from its credentials: it may hold at most its share of the
/// in-flight budget (`server.in_flight_afnemer_percent`, at least what one body of
/// `max_body_bytes` reserves); over it, 503 before a byte is read.
pub async fn read_for_afnemer(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    limit: usize,
    oin: &str,
) -> Result<Body, ApiError> {
    read_as(request, payload, state, limit, Some(oin)).await
}

fn permits_for(bytes: usize, budget: usize) -> usize {
    bytes
        .saturating_mul(BODY_MEMORY_FACTOR)
        .div_ceil(1024)
        .clamp(1, budget)
}

async fn read_as(
    request: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
    limit: usize,
    owner: Option<&str>,
) -> Result<Body, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let reserve = declared.unwrap_or(limit);
    let budget = (state.config.server.in_flight_bytes / 1024).max(1);
    let permits = permits_for(reserve, budget);
    let share = match owner {
        None => None,
        Some(owner) => {
            let percent = usize::try_from(state.config.server.in_flight_afnemer_percent)
                .unwrap_or(100)
                .min(100);
            let cap = (budget.saturating_mul(percent) / 100)
                .max(permits_for(state.config.server.max_body_bytes, budget));
            Some(
                state
                    .in_flight_per_afnemer
                    .take(owner, permits, cap)
                    .ok_or_else(|| ApiError::Unavailable {
                        detail: "Deze afnemer heeft zijn deel van het geheugen voor verzoeken \
                                 nu in gebruik."
                            .into(),
                        retry_after_seconds: 1,
                    })?,
            )
        }
    };
    let permits = u32::try_from(permits).unwrap_or(u32::MAX);
    let reservation = state
        .in_flight
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| ApiError::Unavailable {
            detail: "Er is nu geen geheugen vrij voor nog een verzoek van deze omvang.".into(),
            retry_after_seconds: 1,
        })?;
    let mut bytes = web::BytesMut::with_capacity(reserve.min(limit));
    // The body must keep pace: after the grace period, at least the minimum rate on average,
    // counted from here. The next chunk is due when the bytes read so far would be late.
    // Real time (tokio's clock), not the engine's clock: this is about the network.
    let started = tokio::time::Instant::now();
    let grace = Duration::from_secs(state.config.server.body_grace_seconds);
    let rate = state.config.server.body_min_bytes_per_second.max(1);
    loop {
        let read_so_far = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let due = started + grace + Duration::from_secs_f64(read_so_far as f64 / rate as f64);
        let Ok(next) = tokio::time::timeout_at(due, payload.next()).await else {
            return Err(ApiError::RequestTimeout(format!(
                "De body kwam te traag binnen: na {} seconden minder dan {rate} bytes per seconde.",
                grace.as_secs()
            )));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|error| ApiError::BadRequest {
            detail: format!("Het verzoek kon niet gelezen worden: {error}."),
            invalid_params: Vec::new(),
        })?;
        if bytes.len() + chunk.len() > reserve {
            return Err(too_large(reserve));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        reservation: Reservation {
            _permit: reservation,
            _share: share,
        },
    })
}

/// A JSON object and nothing else. serde's derived `Deserialize` also reads a struct from an
/// array, field by field in order; wrapped in `Object`, an array (or anything but an object) is
/// a type error at its path.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// An optional field, with `#[serde(default, deserialize_with = "body::present")]`: left out
/// it is `None`; present, `T` reads its value, `null` too. So a field the document makes
/// nullable is an `Option<Option<U>>` and tells `null` (`Some(None)`) from left out, and any
/// other refuses `null` as a type error at its path (400 `invalidParams`), as the document has
/// it. A plain `Option<U>` would take `null` for "left out".
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The start of the error a `BoundedVec` raises, followed by its limit.
const OVER_LIMIT: &str = "sequence longer than its limit of ";

/// A JSON array of at most `N` elements. Reading stops with an error as soon as element `N + 1`
/// begins, before any of it is read or built, so the memory a body can make an array take is
/// bounded by `N`, not by the body's size. `parse_json_or` turns that error into an
/// `OverLimit` naming the array's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedVec<T, const N: usize>(pub Vec<T>);

impl<T, const N: usize> BoundedVec<T, N> {
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<T, const N: usize>(std::marker::PhantomData<T>);

        /// Element `N + 1`: refused before the deserializer is touched.
        struct Refused<const N: usize>;

        impl<'de, const N: usize> serde::Deserialize<'de> for Refused<N> {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Err(serde::de::Error::custom(format_args!("{OVER_LIMIT}{N}")))
            }
        }

        impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de>
            for BoundedVisitor<T, N>
        {
            type Value = BoundedVec<T, N>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(formatter, "an array of at most {N} elements")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                // Never trust the size hint beyond the limit.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N));
                while items.len() < N {
                    match seq.next_element()? {
                        Some(item) => items.push(item),
                        None => return Ok(BoundedVec(items)),
                    }
                }
                match seq.next_element::<Refused<N>>()? {
                    None => Ok(BoundedVec(items)),
                    Some(Refused) => Err(serde::de::Error::custom(format_args!("{OVER_LIMIT}{N}"))),
                }
            }
        }

        deserializer.deserialize_seq(BoundedVisitor::<T, N>(std::marker::PhantomData))
    }
}

/// An array of the body longer than its `BoundedVec` allows: its path as a client wrote it
/// (`berichten`, `berichten[3].bijlagen`) and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    pub path: String,
    pub limit: usize,
}

impl OverLimit {
    /// The default answer: a 400 naming the array.
    pub fn invalid(self) -> ApiError {
        let reason = format!("bevat meer dan {} elementen", self.limit);
        ApiError::invalid(vec![InvalidParam::new(self.path, reason)])
    }

    /// A 400 with `param` when the array over its limit is the one at `path` (the endpoint
    /// says its own rule for it), else the default answer.
    pub fn invalid_at(self, path: &str, param: impl FnOnce() -> InvalidParam) -> ApiError {
        if self.path == path {
            return ApiError::invalid(vec![param()]);
        }
        self.invalid()
    }
}

/// The `OverLimit` a `BoundedVec` raised, from serde's message and path (which ends in the
/// index of the refused element).
fn over_limit(path: &str, message: &str) -> Option<OverLimit> {
    let limit = message.strip_prefix(OVER_LIMIT)?.parse().ok()?;
    let path = match path.rfind('[') {
        Some(at) if path.ends_with(']') => &path[..at],
        _ => path,
    };
    Some(OverLimit {
        path: path.to_owned(),
        limit,
    })
}

/// Parses a JSON object into `T`. A syntax error, or a body that is not an object, is a 400
/// without fields; a wrong type, a missing, unknown or repeated field is a 400 naming the
/// field by its path; an array over its limit is `OverLimit::invalid`.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_or(bytes, OverLimit::invalid)
}

/// `parse_json`, with the answer to an array over its limit chosen by the caller.
pub fn parse_json_or<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    on_over_limit: impl FnOnce(OverLimit) -> ApiError,
) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Object<T>>(&mut deserializer) {
        Ok(Object(value)) => {
            deserializer.end().map_err(|error| not_json(&error))?;
            Ok(value)
        }
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(not_json(&inner));
            }
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            if let Some(over) = over_limit(&path, message) {
                return Err(on_over_limit(over));
            }
            match field_of(&path, message) {
                Some((name, reason)) => {
                    Err(ApiError::invalid(vec![super::problem::InvalidParam::new(
                        name, reason,
                    )]))
                }
                None => Err(ApiError::BadRequest {
                    detail: format!("De body moet een JSON-object zijn ({message})."),
                    invalid_params: Vec::new(),
                }),
            }
        }
    }
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        detail: format!(
            "De body is geen geldige JSON (regel {}, kolom {}).",
            error.line(),
            error.column()
        ),
        invalid_params: Vec::new(),
    }
}

/// The broken field's name and reason; `None` when the body as a whole is wrong. serde names a
/// missing or repeated field in its message, not in the path: put it in the path.
fn field_of(path: &str, message: &str) -> Option<(String, String)> {
    let at_root = path == "." || path.is_empty();
    let join = |field: &str| {
        if at_root {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let quoted = message.split('`').nth(1);
    match quoted {
        Some(field) if message.starts_with("missing field") => {
            return Some((join(field), "is verplicht".to_owned()));
        }
        Some(field) if message.starts_with("duplicate field") => {
            return Some((join(field), "komt meer dan eens voor".to_owned()));
        }
        // Here the path already ends in the unknown field.
        _ if message.starts_with("unknown field") => {
            return Some((path.to_owned(), "is geen bekend veld".to_owned()));
        }
        _ => {}
    }
    if at_root {
        return None;
    }
    Some((
        path.to_owned(),
        format!("heeft een verkeerd type: {message}"),
    ))
}

/// The JSON body of a small request (`beheer::SMALL_BODY_BYTES` at most): media type, bounded
/// read and parse, each refused as problem+json.
pub async fn small_json<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    small_json_or(request, payload, state, OverLimit::invalid).await
}

/// `small_json`, with the answer to an array over its limit chosen by the caller.
pub async fn small_json_or<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    on_over_limit: impl FnOnce(OverLimit) -> ApiError,
) -> Result<T, ApiError> {
    require_json(request)?;
    let body = read(request, payload, state, super::beheer::SMALL_BODY_BYTES).await?;
    parse_json_or(&body.bytes, on_over_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Option<BoundedVec<Object<Inner>, 2>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        names: BoundedVec<String, 3>,
    }

    fn over(body: &str) -> OverLimit {
        let mut over = None;
        let result = parse_json_or::<Outer>(body.as_bytes(), |o| {
            over = Some(o);
            ApiError::Internal("over".into())
        });
        assert!(result.is_err(), "{body} was read");
        over.unwrap_or_else(|| panic!("{body}: no OverLimit, but {result:?}"))
    }

    #[test]
    fn a_bounded_sequence_takes_up_to_its_limit() {
        let outer: Outer =
            parse_json(br#"{"items":[{"names":["a","b","c"]},{}]}"#).expect("within the limits");
        let items = outer.items.expect("items").into_inner();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0.names.0, ["a", "b", "c"]);
        assert!(items[1].0.names.0.is_empty());
        let empty: Outer = parse_json(br#"{"items":[]}"#).expect("empty");
        assert!(empty.items.expect("items").0.is_empty());
    }

    #[test]
    fn a_bounded_sequence_stops_at_element_n_plus_one_and_names_its_path_and_limit() {
        assert_eq!(
            over(r#"{"items":[{},{},{}]}"#),
            OverLimit {
                path: "items".into(),
                limit: 2
            }
        );
        assert_eq!(
            over(r#"{"items":[{},{"names":["a","b","c","d"]}]}"#),
            OverLimit {
                path: "items[1].names".into(),
                limit: 3
            }
        );
        // Element N + 1 is not read: what follows it, even broken JSON, is never looked at.
        assert_eq!(over(r#"{"items":[{},{},{"names":"#).limit, 2);
        assert_eq!(over(r#"{"items":[{},{},not json at all"#).limit, 2);
    }

    #[test]
    fn over_a_limit_is_a_400_naming_the_array_by_default() {
        match parse_json::<Outer>(br#"{"items":[{"names":["a","b","c","d"]}]}"#) {
            Err(ApiError::BadRequest { invalid_params, .. }) => {
                let names: Vec<_> = invalid_params.iter().map(|p| p.name.clone()).collect();
                assert_eq!(names, ["items[0].names"]);
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_field_with_an_empty_name_is_named_by_its_path() {
        // Found by the `batch` fuzz target: the field's own name is empty, so is its path.
        for (body, name) in [(r#"{"": 1}"#, ""), (r#"{"items":[{"": 1}]}"#, "items[0].")] {
            match parse_json::<Outer>(body.as_bytes()) {
                Err(ApiError::BadRequest { invalid_params, .. }) => {
                    assert_eq!(
                        invalid_params,
                        [super::super::problem::InvalidParam::new(
                            name,
                            "is geen bekend veld"
                        )],
                        "{body}"
                    );
                }
                other => panic!("{body}: expected a 400, got {other:?}"),
            }
        }
    }

    #[test]
    fn three_million_elements_stop_at_the_limit_without_being_built() {
        let mut body = String::from(r#"{"items":["#);
        body.push_str(&"{},".repeat(3_000_000));
        body.push_str("{}]}");
        let mut elements_seen = 0;
        let result = parse_json_or::<Outer>(body.as_bytes(), |o| {
            elements_seen = o.limit;
            ApiError::Internal("over".into())
        });
        assert!(result.is_err());
        assert_eq!(elements_seen, 2);
    }
}
