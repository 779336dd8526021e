//! The [`Mailer`]: composes the plain-text Dutch notification e-mail and sends it, blocking.
//!
//! Owns the e-mail's text and headers (built with lettre), the idempotent, atomic write of
//! `<id>.eml` into the outbox folder, the hand-over to an SMTP relay (lettre's pooled
//! `SmtpTransport`), and the sorting of lettre's failures into [`MailError`]s.
//!
//! It must not queue, retry, sleep, count against the caps or read the system clock (the
//! Date header comes from the injected [`SharedClock`]), and it must not run on an actix event
//! loop: [`Mailer::new`] and [`Mailer::send`] block on the disk or the network.

use std::error::Error as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, Message, Transport as _};

use super::{MailError, MailTransportConfig, Notification, SmtpRelay, SmtpTls};
use crate::core::caps::amsterdam;
use crate::core::clock::SharedClock;

/// The subject of every notification.
pub const SUBJECT: &str = "Nieuw bericht in uw Berichtenbox";

const MAX_ID_LEN: usize = 128;

/// Composes and sends notification e-mails to the outbox folder or an SMTP relay.
///
/// Cheap to share between threads (`&self` everywhere); the SMTP transport keeps a small pool
/// of connections, so keep one `Mailer` rather than building one per e-mail.
#[derive(Debug)]
pub struct Mailer {
    from: Mailbox,
    message_id_domain: String,
    zone: TimeZone,
    clock: SharedClock,
    transport: Transport,
}

#[derive(Debug)]
enum Transport {
    Outbox { dir: PathBuf },
    Smtp(SmtpTransport),
}

impl Mailer {
    /// A mailer sending as `from` (e.g. `MijnOverheid <noreply@mijnoverheid.nl>`).
    ///
    /// Blocking: creates the outbox folder, or reads the system's root certificates for TLS.
    /// Fails with [`MailError::Config`] on a bad `from`, TLS set-up or credentials without TLS,
    /// and with [`MailError::Outbox`] when the folder cannot be made.
    pub fn new(
        from: &str,
        config: &MailTransportConfig,
        clock: SharedClock,
    ) -> Result<Self, MailError> {
        let from: Mailbox = from.parse().map_err(|error| MailError::Config {
            reason: format!("from address {from:?}: {error}"),
        })?;
        let message_id_domain = from.email.domain().to_owned();
        let zone = amsterdam().map_err(|error| MailError::Config {
            reason: error.to_string(),
        })?;
        let transport = match config {
            MailTransportConfig::Outbox { dir } => {
                fs::create_dir_all(dir).map_err(|source| MailError::Outbox {
                    path: dir.clone(),
                    source,
                })?;
                Transport::Outbox { dir: dir.clone() }
            }
            MailTransportConfig::Smtp(relay) => Transport::Smtp(smtp_transport(relay)?),
        };
        Ok(Self {
            from,
            message_id_domain,
            zone,
            clock,
            transport,
        })
    }

    /// Composes the e-mail for `notification`: plain text, in Dutch, naming the afnemer and
    /// when its bericht arrived, and nothing of the bericht itself.
    ///
    /// Not blocking. The Message-ID is `<id@domain of from>`, the Date the injected clock's now.
    pub fn compose(&self, notification: &Notification) -> Result<Message, MailError> {
        check_id(&notification.id)?;
        let to: Address =
            notification
                .to
                .trim()
                .parse()
                .map_err(|error: lettre::address::AddressError| MailError::Invalid {
                    field: "to",
                    reason: error.to_string(),
                })?;
        let builder: MessageBuilder = Message::builder()
            .message_id(Some(format!(
                "<{}@{}>",
                notification.id, self.message_id_domain
            )))
            .date(SystemTime::from(self.clock.now()))
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted);
        builder
            .body(body_text(notification, &self.zone))
            .map_err(|error| MailError::Invalid {
                field: "message",
                reason: error.to_string(),
            })
    }

    /// Sends `notification`. **Blocking**: run it on a dedicated thread.
    ///
    /// To the outbox: writes `<dir>/<id>.eml` through a temporary file, fsync, rename and a
    /// fsync of the folder; if that file is already there, does nothing, so a retry after a
    /// crash writes no second one (one sender per id at a time, as the dispatcher's single
    /// thread is, keeps the temporary file its own). To a relay: one SMTP transaction; a retry after a crash
    /// between the relay's answer and the caller's bookkeeping sends again, with the same
    /// Message-ID.
    pub fn send(&self, notification: &Notification) -> Result<(), MailError> {
        check_id(&notification.id)?;
        match &self.transport {
            Transport::Outbox { dir } => {
                let path = dir.join(format!("{}.eml", notification.id));
                let exists = path.try_exists().map_err(|source| MailError::Outbox {
                    path: path.clone(),
                    source,
                })?;
                if exists {
                    return Ok(());
                }
                let message = self.compose(notification)?;
                let temp = dir.join(format!(".{}.eml.tmp", notification.id));
                write_atomically(dir, &temp, &path, &message.formatted())
            }
            Transport::Smtp(transport) => {
                let message = self.compose(notification)?;
                transport.send(&message).map(drop).map_err(classify)
            }
        }
    }
}

/// The e-mail's text for `notification`; `zone` gives the local time of arrival.
///
/// Lines end in `\n` (lettre sends them as CRLF) and the last has none: lettre ends the body
/// with the line break itself.
pub fn body_text(notification: &Notification, zone: &TimeZone) -> String {
    let afnemer = one_line(&notification.afnemer_naam);
    let ontvangen = dutch_date_time(notification.ontvangen_op, zone);
    format!(
        "Geachte heer, mevrouw,\n\
         \n\
         Er staat een nieuw bericht van {afnemer} voor u klaar in uw Berichtenbox\n\
         op MijnOverheid. Het bericht is ontvangen op {ontvangen}.\n\
         \n\
         Log in op mijn.overheid.nl met uw DigiD om het bericht te lezen.\n\
         \n\
         Deze e-mail is automatisch verstuurd; u kunt er niet op antwoorden.\n\
         MijnOverheid vraagt u nooit per e-mail om uw DigiD-gegevens of om\n\
         andere persoonlijke gegevens.\n\
         \n\
         Met vriendelijke groet,\n\
         \n\
         MijnOverheid"
    )
}

/// `3 november 2026 om 14:05`, in `zone`.
fn dutch_date_time(at: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    let month = crate::core::prognose::maandnaam(local.month());
    format!(
        "{} {month} {} om {:02}:{:02}",
        local.day(),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The name on one line, without control characters, so it cannot shape the text around it.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ids name files and Message-IDs: letters, digits, `-`, `_`, and single inner dots.
fn check_id(id: &str) -> Result<(), MailError> {
    let invalid = |reason: &str| {
        Err(MailError::Invalid {
            field: "id",
            reason: reason.to_owned(),
        })
    };
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return invalid("must be 1 to 128 characters");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return invalid("may hold only letters, digits, '-', '_' and '.'");
    }
    if id.starts_with('.') || id.ends_with('.') || id.contains("..") {
        return invalid("dots must be single and inside");
    }
    Ok(())
}

/// Writes `bytes` to `temp`, syncs it, renames it to `path` and syncs the folder, so `path`
/// is either absent or whole after a crash.
fn write_atomically(dir: &Path, temp: &Path, path: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let write = || -> io::Result<()> {
        let mut file = File::create(temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temp, path)
    };
    if let Err(source) = write() {
        let _ = fs::remove_file(temp);
        return Err(MailError::Outbox {
            path: path.to_owned(),
            source,
        });
    }
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(|source| MailError::Outbox {
            path: dir.to_owned(),
            source,
        })
}

fn smtp_transport(relay: &SmtpRelay) -> Result<SmtpTransport, MailError> {
    if relay.credentials.is_some() && relay.tls == SmtpTls::None {
        return Err(MailError::Config {
            reason: "smtp credentials need tls: they are never sent in the clear".to_owned(),
        });
    }
    let tls_parameters = || {
        TlsParameters::new(relay.host.clone()).map_err(|error| MailError::Config {
            reason: format!("tls for {}: {error}", relay.host),
        })
    };
    let tls = match relay.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = SmtpTransport::builder_dangerous(relay.host.as_str())
        .port(relay.port)
        .timeout(Some(relay.timeout))
        .tls(tls);
    if let Some(credentials) = &relay.credentials {
        builder = builder.credentials(Credentials::new(
            credentials.username.clone(),
            credentials.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// Sorts an SMTP failure: 5xx about the recipient drops this notification; 5xx about the
/// session (authentication, sender, protocol) is the configuration's fault; everything else
/// (connection refused, timeouts, TLS, 4xx) is worth a retry.
///
/// lettre does not say which command was refused, so a refused sender is recognised by its
/// basic code (530, 534, 535, 538; 500 and 502-504 for protocol trouble; 555 for parameters)
/// or its enhanced code (5.1.7, 5.1.8 for the sender; 5.7.8 for credentials).
fn classify(error: lettre::transport::smtp::Error) -> MailError {
    let reason = error.to_string();
    if !error.is_permanent() {
        return MailError::Transient { reason };
    }
    let basic = error.status().map(u16::from);
    let text = error.source().map(ToString::to_string).unwrap_or_default();
    let enhanced = text.split_whitespace().next().unwrap_or("");
    let session = matches!(
        basic,
        Some(500 | 502 | 503 | 504 | 530 | 534 | 535 | 538 | 555)
    ) || matches!(enhanced, "5.1.7" | "5.1.8" | "5.7.8");
    if session {
        MailError::Config { reason }
    } else {
        MailError::Rejected { reason }
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834), so that mailboxes send no auto-replies.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::clock::ManualClock;

    fn notification(id: &str) -> Notification {
        Notification {
            id: id.to_owned(),
            to: "burger@example.nl".to_owned(),
            afnemer_naam: "Gemeente Súdwest-Fryslân".to_owned(),
            ontvangen_op: "2026-11-03T13:05:00Z".parse().expect("timestamp"),
        }
    }

    fn outbox_mailer(dir: &Path) -> Mailer {
        let clock = SharedClock::new(Arc::new(ManualClock::new(
            "2026-11-03T13:06:00Z".parse().expect("timestamp"),
        )));
        Mailer::new(
            "MijnOverheid <noreply@mijnoverheid.nl>",
            &MailTransportConfig::Outbox {
                dir: dir.to_owned(),
            },
            clock,
        )
        .expect("mailer")
    }

    #[test]
    fn the_body_names_the_afnemer_and_the_local_time() {
        let zone = amsterdam().expect("zone");
        let text = body_text(&notification("n-1"), &zone);
        assert!(text.contains("nieuw bericht van Gemeente Súdwest-Fryslân"));
        assert!(text.contains("ontvangen op 3 november 2026 om 14:05"));
        assert!(text.contains("MijnOverheid"));
    }

    #[test]
    fn a_name_cannot_break_the_lines() {
        let mut n = notification("n-1");
        n.afnemer_naam = "Belastingdienst\r\n\r\nKlik hier:\tx".to_owned();
        let text = body_text(&n, &amsterdam().expect("zone"));
        assert!(text.contains("van Belastingdienst Klik hier: x voor"));
    }

    #[test]
    fn headers_are_stable_and_from_the_injected_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = outbox_mailer(dir.path());
        let formatted = String::from_utf8(
            mailer
                .compose(&notification("n-1"))
                .expect("compose")
                .formatted(),
        )
        .expect("utf-8");
        assert!(formatted.contains("Message-ID: <n-1@mijnoverheid.nl>\r\n"));
        assert!(formatted.contains("Date: Tue, 03 Nov 2026 13:06:00 +0000\r\n"));
        assert!(formatted.contains("Subject: Nieuw bericht in uw Berichtenbox\r\n"));
        assert!(formatted.contains("To: burger@example.nl\r\n"));
        assert!(formatted.contains("Auto-Submitted: auto-generated\r\n"));
        assert!(formatted.contains("Content-Type: text/plain; charset=utf-8\r\n"));
    }

    #[test]
    fn bad_ids_and_addresses_are_permanent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = outbox_mailer(dir.path());
        for id in [
            "",
            "../x",
            ".hidden",
            "a..b",
            "a b",
            "a/b",
            &"x".repeat(129),
        ] {
            let error = mailer.send(&notification(id)).expect_err("bad id");
            assert!(error.is_permanent(), "{id:?}: {error}");
            assert_eq!(error.kind(), "invalid");
        }
        let mut n = notification("n-1");
        n.to = "geen adres".to_owned();
        let error = mailer.send(&n).expect_err("bad address");
        assert!(error.is_permanent());
        assert_eq!(fs::read_dir(dir.path()).expect("read dir").count(), 0);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let clock = SharedClock::new(Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH)));
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = MailTransportConfig::Outbox {
            dir: dir.path().to_owned(),
        };
        let error = Mailer::new("geen adres", &outbox, clock.clone()).expect_err("bad from");
        assert_eq!(error.kind(), "config");
        let mut relay = SmtpRelay::new("127.0.0.1", 25, SmtpTls::None);
        relay.credentials = Some(super::super::SmtpCredentials {
            username: "u".to_owned(),
            password: "geheim".to_owned(),
        });
        let error = Mailer::new(
            "noreply@mijnoverheid.nl",
            &MailTransportConfig::Smtp(relay),
            clock,
        )
        .expect_err("credentials without tls");
        assert_eq!(error.kind(), "config");
        assert!(!format!("{error:?}").contains("geheim"));
    }
}
