//! The one place where errors become HTTP: every failure of every endpoint is an [`ApiError`],
//! answered as `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`
//! and, for validation errors, `invalidParams`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use berichtenbox_actors::afnemer::AdmitError;
use berichtenbox_actors::core::throttle::retry_after_seconds;
use berichtenbox_actors::store::StoreError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One broken field: `name` points at it the way a client wrote it (`berichten[3].ontvanger`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidParam {
    pub name: String,
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: &'static str },
    #[error("{detail}")]
    BadRequest {
        detail: String,
        invalid_params: Vec<InvalidParam>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RequestTimeout(String),
    /// What was asked for is past its retention period: it may have been deleted.
    #[error("{0}")]
    Gone(String),
    #[error("{detail}")]
    PayloadTooLarge {
        detail: String,
        invalid_params: Vec<InvalidParam>,
    },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(invalid_params: Vec<InvalidParam>) -> Self {
        Self::BadRequest {
            detail: "Een of meer velden voldoen niet aan de regels.".into(),
            invalid_params,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unauthorized(_) => ("niet-geauthenticeerd", "Niet geauthenticeerd"),
            Self::Forbidden(_) => ("geen-toegang", "Geen toegang"),
            Self::NotFound(_) => ("niet-gevonden", "Niet gevonden"),
            Self::MethodNotAllowed { .. } => ("methode-niet-toegestaan", "Methode niet toegestaan"),
            Self::BadRequest { invalid_params, .. } if invalid_params.is_empty() => {
                ("ongeldig-verzoek", "Ongeldig verzoek")
            }
            Self::BadRequest { .. } => ("ongeldige-invoer", "Ongeldige invoer"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::RequestTimeout(_) => ("verzoek-te-traag", "Verzoek te traag"),
            Self::Gone(_) => ("verlopen", "Verlopen"),
            Self::PayloadTooLarge { .. } => ("te-groot", "Verzoek te groot"),
            Self::UnsupportedMediaType(_) => {
                ("mediatype-niet-ondersteund", "Mediatype niet ondersteund")
            }
            Self::TooManyRequests { .. } => ("te-veel-verzoeken", "Te veel verzoeken"),
            Self::Unavailable { .. } => {
                ("tijdelijk-niet-beschikbaar", "Tijdelijk niet beschikbaar")
            }
            Self::Internal(_) => ("interne-fout", "Interne fout"),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests {
                retry_after_seconds,
                ..
            }
            | Self::Unavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    invalid_params: &'a [InvalidParam],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Gone(_) => StatusCode::GONE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (slug, title) = self.slug_and_title();
        let invalid_params = match self {
            Self::BadRequest { invalid_params, .. }
            | Self::PayloadTooLarge { invalid_params, .. } => invalid_params.as_slice(),
            _ => &[],
        };
        let problem = Problem {
            kind: format!("urn:nl:berichtenbox:probleem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            invalid_params,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QueueFull { .. } => Self::Unavailable {
                detail: "De opslag is op dit moment vol bezet; probeer het zo opnieuw.".into(),
                retry_after_seconds: 1,
            },
            StoreError::DiskFull { .. } => Self::Unavailable {
                detail: "De opslag heeft onvoldoende vrije ruimte om duurzaam te parkeren.".into(),
                retry_after_seconds: 30,
            },
            StoreError::Backlog { .. } => Self::Unavailable {
                detail: "De verwerking loopt achter: er wachten te veel geparkeerde berichten. \
                         Probeer het zo opnieuw."
                    .into(),
                retry_after_seconds: 5,
            },
            StoreError::Closed => Self::Unavailable {
                detail: "De engine wordt afgesloten.".into(),
                retry_after_seconds: 5,
            },
            other => {
                tracing::error!(error = %other, "store failure");
                if other.is_transient() {
                    Self::Unavailable {
                        detail: "De opslag kan nu niet duurzaam schrijven; er is niets opgeslagen."
                            .into(),
                        retry_after_seconds: 5,
                    }
                } else {
                    Self::Internal("Er ging iets mis in de opslag.".into())
                }
            }
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(error: AdmitError) -> Self {
        match error {
            AdmitError::Throttled { retry_after } => Self::TooManyRequests {
                detail: "Het berichtentempo van deze afnemer laat deze batch nu niet toe.".into(),
                retry_after_seconds: retry_after_seconds(retry_after),
            },
            AdmitError::LargerThanBurst {
                berichten,
                burst,
                refill,
            } => Self::TooManyRequests {
                detail: format!(
                    "Een batch van {berichten} berichten past nooit in de burst van {burst}; splits de batch."
                ),
                retry_after_seconds: retry_after_seconds(refill),
            },
            AdmitError::MailboxFull | AdmitError::ActorGone => Self::Unavailable {
                detail: "De afnemer heeft te veel batches tegelijk in behandeling.".into(),
                retry_after_seconds: 1,
            },
            AdmitError::Store(error) => error.into(),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Self::Unavailable {
            detail: "De engine is overbelast.".into(),
            retry_after_seconds: 1,
        }
    }
}
