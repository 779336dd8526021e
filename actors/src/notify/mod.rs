//! Notification e-mail: what a notification is, where it goes, and how sending it can fail.
//!
//! Owns the [`Notification`] (who gets an e-mail about which afnemer's new bericht), the
//! [`MailTransportConfig`] (an outbox folder of `.eml` files, the default, or an SMTP relay),
//! the [`Mailer`] that composes and sends one e-mail (in [`mail`]), and [`MailError`], which
//! tells the caller whether a failure is worth a retry.
//!
//! It must not hold the queue, apply the caps (`core::caps`), keep state in the store or decide
//! when to retry: the notification dispatcher does that. It must never put any content of the
//! bericht itself (subject, body, attachments) into the e-mail: a [`Notification`] has no field
//! that could carry it. Sending is blocking I/O: call it from a dedicated thread, never from an
//! actix event loop.

pub mod mail;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

pub use mail::Mailer;

/// One e-mail to send: a new bericht from `afnemer_naam` is waiting in the box of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Unique and stable across retries: the `.eml` file's name and the Message-ID's local part.
    /// Letters, digits, `-`, `_` and inner single dots, at most 128 characters.
    pub id: String,
    /// The citizen's e-mail address.
    pub to: String,
    /// The name of the afnemer whose bericht arrived.
    pub afnemer_naam: String,
    /// When the bericht arrived in the box.
    pub ontvangen_op: Timestamp,
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransportConfig {
    /// One `<id>.eml` file per notification in `dir`, written atomically; the default.
    Outbox { dir: PathBuf },
    /// An SMTP relay.
    Smtp(SmtpRelay),
}

/// An SMTP relay to hand notifications to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    /// Only allowed with TLS: a password is never sent in the clear.
    pub credentials: Option<SmtpCredentials>,
    pub tls: SmtpTls,
    /// For connecting and for each answer of the relay.
    pub timeout: Duration,
}

impl SmtpRelay {
    /// A relay without credentials and a 30 second timeout.
    pub fn new(host: impl Into<String>, port: u16, tls: SmtpTls) -> Self {
        Self {
            host: host.into(),
            port,
            credentials: None,
            tls,
            timeout: Duration::from_secs(30),
        }
    }
}

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on the same host or a trusted network.
    None,
    /// STARTTLS, required: the connection is not used unless the upgrade succeeds (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

/// A user name and password for the relay; the password is not printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a notification was not sent, and so whether to try it again.
///
/// [`MailError::is_permanent`] errors concern this one notification: drop it and count it.
/// All others will pass once the relay, the disk or the configuration is right again: keep
/// the notification, in order, and retry later.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The relay is down, unreachable, timed out or answered 4xx: retry later.
    #[error("mail relay unavailable: {reason}")]
    Transient { reason: String },
    /// The relay refused this recipient for good (5xx): drop the notification.
    #[error("recipient rejected: {reason}")]
    Rejected { reason: String },
    /// The notification cannot become an e-mail (a bad address or id): drop it.
    #[error("invalid notification {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The configuration is wrong, or the relay refuses it (authentication, sender): every
    /// notification would fail alike, so retry after an operator has fixed it; never drop.
    #[error("mail configuration rejected: {reason}")]
    Config { reason: String },
    /// The outbox folder could not be written (full disk, permissions): retry later.
    #[error("outbox write failed: path={path}")]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MailError {
    /// True when retrying cannot help this notification: drop and count it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Rejected { .. } | Self::Invalid { .. })
    }

    /// The [`MailError::kind`] of every permanent error: the `reden` values of
    /// `berichtenbox_notificaties_afgewezen_total`.
    pub const PERMANENT_KINDS: [&'static str; 2] = ["rejected", "invalid"];

    /// A short, low-cardinality name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transient { .. } => "transient",
            Self::Rejected { .. } => "rejected",
            Self::Invalid { .. } => "invalid",
            Self::Config { .. } => "config",
            Self::Outbox { .. } => "outbox",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MailError;

    #[test]
    fn permanent_kinds_are_the_kinds_of_permanent_errors() {
        let reason = || "x".to_owned();
        let all = [
            MailError::Transient { reason: reason() },
            MailError::Rejected { reason: reason() },
            MailError::Invalid {
                field: "to",
                reason: reason(),
            },
            MailError::Config { reason: reason() },
            MailError::Outbox {
                path: "x".into(),
                source: std::io::Error::other("x"),
            },
        ];
        let permanent: Vec<&str> = all
            .iter()
            .filter(|e| e.is_permanent())
            .map(MailError::kind)
            .collect();
        assert_eq!(permanent, MailError::PERMANENT_KINDS);
    }
}
