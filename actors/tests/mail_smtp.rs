//! The notification mailer against a real SMTP server and a real outbox folder.
//!
//! Owns a small SMTP sink (Python's aiosmtpd, started by each test on 127.0.0.1) that writes
//! every message it accepts as a JSON file, and the tests that read them back. It must not
//! skip: without python3 and aiosmtpd the tests fail and say how to install them. It talks to
//! no address but 127.0.0.1.

mod support;

use std::fs::{self};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berichtenbox_actors::core::caps::amsterdam;
use berichtenbox_actors::core::clock::{ManualClock, SharedClock};
use berichtenbox_actors::notify::mail::{SUBJECT, body_text};
use berichtenbox_actors::notify::{
    MailError, MailTransportConfig, Mailer, Notification, SmtpRelay, SmtpTls,
};
use jiff::Timestamp;
use serde_json::Value;
use support::smtp::{Sink, text};

const FROM: &str = "MijnOverheid <noreply@mijnoverheid.nl>";

fn clock(at: &str) -> (Arc<ManualClock>, SharedClock) {
    let manual = Arc::new(ManualClock::new(at.parse().expect("timestamp")));
    let shared = SharedClock::new(manual.clone());
    (manual, shared)
}

fn smtp_mailer(port: u16) -> Mailer {
    let mut relay = SmtpRelay::new("127.0.0.1", port, SmtpTls::None);
    relay.timeout = Duration::from_secs(10);
    let (_, clock) = clock("2026-11-03T13:10:00Z");
    Mailer::new(FROM, &MailTransportConfig::Smtp(relay), clock).expect("smtp mailer")
}

fn notification(index: usize, to: &str, afnemer: &str) -> Notification {
    let ontvangen_op: Timestamp = "2026-11-03T13:05:00Z".parse().expect("timestamp");
    Notification {
        id: format!("notificatie-{index}"),
        to: to.to_owned(),
        afnemer_naam: afnemer.to_owned(),
        ontvangen_op: ontvangen_op
            .checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(index).expect("small"),
            ))
            .expect("in range"),
    }
}

#[test]
fn five_notifications_arrive_in_order_with_no_message_content() {
    let sink = Sink::start(0);
    let mailer = smtp_mailer(sink.port);
    let afnemers = [
        "Belastingdienst",
        "Gemeente Súdwest-Fryslân",
        "Dienst Uitvoering Onderwijs",
        "Gemeente 's-Hertogenbosch",
        "Sociale Verzekeringsbank",
    ];
    let sent: Vec<Notification> = afnemers
        .iter()
        .enumerate()
        .map(|(index, afnemer)| notification(index, &format!("burger{index}@example.nl"), afnemer))
        .collect();
    for n in &sent {
        mailer.send(n).expect("relay accepts");
    }

    let received = sink.messages();
    assert_eq!(received.len(), 5);
    let zone = amsterdam().expect("zone");
    for (n, message) in sent.iter().zip(&received) {
        assert_eq!(message["rcpt_tos"], serde_json::json!([n.to]));
        assert_eq!(text(message, "mail_from"), "noreply@mijnoverheid.nl");
        assert_eq!(text(message, "to"), n.to);
        assert_eq!(text(message, "subject"), SUBJECT);
        assert_eq!(
            text(message, "message_id"),
            format!("<{}@mijnoverheid.nl>", n.id)
        );
        assert_eq!(text(message, "auto_submitted"), "auto-generated");
        assert_eq!(text(message, "content_type"), "text/plain");
        assert_eq!(message["multipart"], Value::Bool(false), "no attachments");
        let body = text(message, "body").replace("\r\n", "\n");
        assert!(
            body.contains(&format!("nieuw bericht van {}", n.afnemer_naam)),
            "{body}"
        );
        assert!(body.contains("Berichtenbox"));
        assert!(body.contains("MijnOverheid"));
        // The body is the fixed text with only the afnemer and the time filled in: there is
        // nothing of the message itself in it (a Notification has no field to carry it).
        assert_eq!(body, format!("{}\n", body_text(n, &zone)));
    }
}

#[test]
fn the_outbox_holds_one_eml_per_notification_even_when_sent_twice() {
    let outbox = tempfile::tempdir().expect("outbox dir");
    let dir = outbox.path().join("uit");
    let (manual, clock) = clock("2026-11-03T13:10:00Z");
    let mailer = Mailer::new(
        FROM,
        &MailTransportConfig::Outbox { dir: dir.clone() },
        clock,
    )
    .expect("outbox mailer");
    let sent: Vec<Notification> = (0..3)
        .map(|index| notification(index, "burger@example.nl", "Belastingdienst"))
        .collect();
    for n in &sent {
        mailer.send(n).expect("outbox write");
    }
    let first: Vec<Vec<u8>> = sent
        .iter()
        .map(|n| fs::read(eml(&dir, n)).expect("eml written"))
        .collect();

    // A retry, later: a second write would carry another Date header.
    manual.advance(Duration::from_secs(3_600));
    for n in &sent {
        mailer.send(n).expect("second send is a no-op");
    }

    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("read outbox")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "notificatie-0.eml",
            "notificatie-1.eml",
            "notificatie-2.eml"
        ],
        "one file per id and no temporary files"
    );
    for (n, bytes) in sent.iter().zip(first) {
        assert_eq!(fs::read(eml(&dir, n)).expect("eml"), bytes, "not rewritten");
        let text = String::from_utf8(bytes).expect("utf-8 eml");
        assert!(text.contains(&format!("Message-ID: <{}@mijnoverheid.nl>\r\n", n.id)));
        assert!(text.contains("To: burger@example.nl\r\n"));
        assert!(text.contains(&format!("Subject: {SUBJECT}\r\n")));
        assert!(text.contains("Date: Tue, 03 Nov 2026 13:10:00"));
        assert!(text.contains("Belastingdienst"));
    }
}

fn eml(dir: &Path, n: &Notification) -> PathBuf {
    dir.join(format!("{}.eml", n.id))
}

#[test]
fn a_relay_that_is_down_is_transient_and_the_retry_goes_through() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local addr").port()
    };
    let mailer = smtp_mailer(port);
    let n = notification(7, "burger@example.nl", "Belastingdienst");

    let error = mailer.send(&n).expect_err("nobody listens");
    assert!(
        matches!(error, MailError::Transient { .. }),
        "{error:?} is transient"
    );
    assert!(!error.is_permanent());

    let sink = Sink::start(port);
    mailer.send(&n).expect("the relay is up");
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(
        text(&received[0], "message_id"),
        "<notificatie-7@mijnoverheid.nl>"
    );
}

#[test]
fn a_5xx_recipient_is_permanent_and_a_4xx_is_transient() {
    let sink = Sink::start(0);
    let mailer = smtp_mailer(sink.port);

    let error = mailer
        .send(&notification(1, "onbekend@example.nl", "Belastingdienst"))
        .expect_err("550");
    assert!(
        matches!(error, MailError::Rejected { .. }),
        "{error:?} is a rejection"
    );
    assert!(error.is_permanent());
    assert!(error.to_string().contains("550"), "{error}");

    let error = mailer
        .send(&notification(2, "later@example.nl", "Belastingdienst"))
        .expect_err("451");
    assert!(
        matches!(error, MailError::Transient { .. }),
        "{error:?} is transient"
    );
    assert!(!error.is_permanent());

    mailer
        .send(&notification(3, "burger@example.nl", "Belastingdienst"))
        .expect("the next one goes through");
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(text(&received[0], "to"), "burger@example.nl");
}
