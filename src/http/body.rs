//! Reading a request body within bounds: the media type is checked first, then memory for the
//! whole body is reserved from the in-flight budget before a byte is read, and the body may not
//! grow past the configured limit while it streams in.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt as _;
use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::problem::ApiError;

/// A body in memory, holding its share of the in-flight budget until dropped.
#[derive(Debug)]
pub struct Body {
    pub bytes: web::BytesMut,
    _reservation: OwnedSemaphorePermit,
}

/// 415 unless the request says `application/json` (parameters such as charset allowed).
pub fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Verwacht Content-Type application/json, kreeg '{content_type}'."
        )))
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge {
        detail: format!("Het verzoek is groter dan de toegestane {limit} bytes."),
        invalid_params: Vec::new(),
    }
}

/// Reads the whole body, or answers 413 (over `limit`) or 503 (no memory for it now).
pub async fn read(
    request: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
    limit: usize,
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
    let permits = u32::try_from(reserve.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let reservation = state
        .in_flight
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| ApiError::Unavailable {
            detail: "Er is nu geen geheugen vrij voor nog een verzoek van deze omvang.".into(),
            retry_after_seconds: 1,
        })?;
    let mut bytes = web::BytesMut::with_capacity(reserve.min(limit));
    while let Some(chunk) = payload.next().await {
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
        _reservation: reservation,
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

/// Parses a JSON object into `T`. A syntax error, or a body that is not an object, is a 400
/// without fields; a wrong type, a missing, unknown or repeated field is a 400 naming the
/// field by its path.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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
    require_json(request)?;
    let body = read(request, payload, state, super::beheer::SMALL_BODY_BYTES).await?;
    parse_json(&body.bytes)
}
