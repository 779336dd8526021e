//! One HTTP delivery of one receipt (verwerkingsbericht) to an afnemer's `webhookUrl`, and what
//! its answer means: delivered, or try again.
//!
//! Owns the outbound HTTP client (reqwest over rustls; no system TLS library), the request's
//! headers (`Content-Type: application/json`, `Idempotency-Key`, `User-Agent`), its timeouts,
//! and the classification of the answer. It must not serialise JSON (the caller hands in the
//! receipt's bytes), decide when to try again (that is [`crate::core::backoff`]), keep or
//! forget receipts (the outbox's job), read the clock, or block the event loop: every call is
//! async and safe to await on an actix arbiter (actix-rt runs a tokio runtime).
//!
//! API.md says the engine retries "until a 2xx, for up to 6 days", so every answer but a 2xx is
//! [`Outcome::Retry`]: 4xx included, since a broken endpoint or credential on the afnemer's
//! side can be mended within those days and the receipt must not be lost meanwhile. Redirects
//! are not followed (a 3xx is a retry): following one would turn the POST into a GET that
//! could answer 2xx without the receipt having been delivered.
//!
//! Only public addresses are reached (unless `allow_private_addresses`, for test set-ups): an
//! IP-literal host is checked before connecting, and a name is resolved by [`PublicOnly`], which
//! keeps only the public addresses it resolves to ([`crate::core::address::is_public`]), so
//! that DNS changed after the operator's `PUT` cannot point a webhook at an internal service.
//! A refused address is [`RetryReason::NotPublic`], retried like every other failure (the
//! afnemer may correct its DNS or the operator its `webhookUrl` within the 6 days); nothing is
//! sent to it.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::core::address::is_public;
use reqwest::header::{self, HeaderValue};

/// The `User-Agent` every delivery carries.
pub const USER_AGENT: &str = concat!("berichtenbox/", env!("CARGO_PKG_VERSION"));

/// The header that names a receipt, so that an afnemer can drop a second delivery of one it
/// already has (when its 2xx got lost on the way back).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// How much of an answer's body is read (and thrown away) so that the connection can be used
/// again; a longer body closes it instead.
const DRAIN_LIMIT_BYTES: usize = 64 * 1024;

/// The client's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// At most this long to set up the TCP connection (and TLS).
    pub connect_timeout: Duration,
    /// At most this long for the whole request: connecting, sending, and the answer's status.
    pub request_timeout: Duration,
    /// Reach loopback, private and other non-public addresses too (test set-ups only).
    pub allow_private_addresses: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            allow_private_addresses: false,
        }
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("building the http client failed: {0}")]
    Build(#[source] reqwest::Error),
}

/// What one delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The afnemer answered 2xx: it has the receipt.
    Delivered,
    /// Not delivered (or not known to be); try again later.
    Retry {
        reason: RetryReason,
        /// The afnemer's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
}

/// Why a delivery is to be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// No connection: refused, unreachable, name not found, TLS handshake failed.
    Connect(String),
    /// No answer within the connect or the request timeout.
    Timeout,
    /// The afnemer answered, but not with a 2xx.
    Status(u16),
    /// The request broke off after the connection was made (reset, malformed answer).
    Transport(String),
    /// The request could not be made: the URL is not an http(s) URL, or the key is not a valid
    /// header value. Retried all the same, since the afnemer may correct its `webhookUrl`.
    InvalidRequest(String),
    /// The host is, or resolves only to, addresses that are not public; nothing was sent.
    NotPublic(String),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(detail) => write!(f, "connection failed: {detail}"),
            Self::Timeout => f.write_str("timed out"),
            Self::Status(status) => write!(f, "answered status {status}"),
            Self::Transport(detail) => write!(f, "transport error: {detail}"),
            Self::InvalidRequest(detail) => write!(f, "invalid request: {detail}"),
            Self::NotPublic(detail) => write!(f, "not a public address: {detail}"),
        }
    }
}

/// A pooled HTTP client for webhook deliveries. Build it once (loading the TLS roots is not
/// cheap) and share it: it is cheap to clone and `Send + Sync`.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    config: WebhookConfig,
}

impl WebhookClient {
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        let mut builder = reqwest::Client::builder();
        if !config.allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let http = builder
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            // Egress goes where the URL says, not through a proxy taken from the environment.
            .no_proxy()
            .build()
            .map_err(WebhookError::Build)?;
        Ok(Self { http, config })
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// POSTs `body` (a receipt, already JSON) to `url` once. See [`deliver`].
    pub async fn deliver(&self, url: &str, body: Bytes, idempotency_key: &str) -> Outcome {
        let url = match reqwest::Url::parse(url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => return invalid(format!("scheme {} is not http or https", url.scheme())),
            Err(error) => return invalid(format!("url: {error}")),
        };
        if !self.config.allow_private_addresses {
            let literal = url
                .host_str()
                .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
                .and_then(|host| host.parse::<IpAddr>().ok());
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return retry(RetryReason::NotPublic(ip.to_string()), None);
            }
        }
        let key = match HeaderValue::from_str(idempotency_key) {
            Ok(key) => key,
            Err(error) => return invalid(format!("idempotency key: {error}")),
        };
        let sent = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, key)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return retry(classify(&error), None),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // The status is the afnemer's answer; read a little of the body only so the connection
        // can go back to the pool, and ignore how that ends.
        let mut drained = 0;
        while drained <= DRAIN_LIMIT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => drained += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        if status.is_success() {
            Outcome::Delivered
        } else {
            retry(RetryReason::Status(status.as_u16()), retry_after)
        }
    }
}

/// POSTs `body`, a receipt already serialised as JSON, to an afnemer's `url` once, with
/// `Content-Type: application/json`, `Idempotency-Key: {idempotency_key}` and
/// `User-Agent: berichtenbox/{version}`. [`Outcome::Delivered`] for any 2xx; everything else
/// (no connection, a timeout, any other status) is [`Outcome::Retry`].
pub async fn deliver(
    client: &WebhookClient,
    url: &str,
    body: Bytes,
    idempotency_key: &str,
) -> Outcome {
    client.deliver(url, body, idempotency_key).await
}

fn retry(reason: RetryReason, retry_after: Option<Duration>) -> Outcome {
    Outcome::Retry {
        reason,
        retry_after,
    }
}

fn invalid(detail: String) -> Outcome {
    retry(RetryReason::InvalidRequest(detail), None)
}

/// A resolver that answers only the public addresses a name resolves to, and an error when it
/// resolves to none.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

/// The name resolved to no public address.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to no public address")]
pub struct NoPublicAddress {
    pub name: String,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(NoPublicAddress { name }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn classify(error: &reqwest::Error) -> RetryReason {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NoPublicAddress>() {
            return RetryReason::NotPublic(refused.to_string());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        RetryReason::Timeout
    } else if error.is_connect() {
        RetryReason::Connect(causes(error))
    } else if error.is_builder() {
        RetryReason::InvalidRequest(causes(error))
    } else {
        RetryReason::Transport(causes(error))
    }
}

/// The error's sources joined with ": ", without reqwest's own "error sending request for url
/// (...)" lead.
fn causes(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// `Retry-After` in delta-seconds; the HTTP-date form is ignored.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let seconds = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    seconds.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_engine_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!("berichtenbox/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn retry_after_takes_seconds_only() {
        let mut headers = header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(" 120 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Fri, 31 Dec 1999 23:59:59 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn reasons_read_as_lowercase_text() {
        assert_eq!(RetryReason::Status(503).to_string(), "answered status 503");
        assert_eq!(RetryReason::Timeout.to_string(), "timed out");
    }
}
