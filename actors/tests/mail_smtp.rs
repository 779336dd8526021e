//! The notification mailer against a real SMTP server and a real outbox folder.
//!
//! Owns a small SMTP sink (Python's aiosmtpd, started by each test on 127.0.0.1) that writes
//! every message it accepts as a JSON file, and the tests that read them back. It must not
//! skip: without python3 and aiosmtpd the tests fail and say how to install them. It talks to
//! no address but 127.0.0.1.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berichtenbox_actors::core::caps::amsterdam;
use berichtenbox_actors::core::clock::{ManualClock, SharedClock};
use berichtenbox_actors::notify::mail::{SUBJECT, body_text};
use berichtenbox_actors::notify::{
    MailError, MailTransportConfig, Mailer, Notification, SmtpRelay, SmtpTls,
};
use jiff::Timestamp;
use serde_json::Value;
use tempfile::TempDir;

const FROM: &str = "MijnOverheid <noreply@mijnoverheid.nl>";

const INSTALL_HINT: &str = "python3 with aiosmtpd is needed for these tests: install it with \
     `apt-get install -y python3-aiosmtpd` (Debian) or `python3 -m pip install aiosmtpd`, or \
     point BERICHTENBOX_TEST_PYTHON at a python that has it";

/// The sink: accepts every recipient except `onbekend*` (550) and `later*` (451), and writes
/// each message as `NNNNNN.json` (written to a temporary name, then renamed) before it answers
/// 250, so a message is on disk when the client's send returns.
const SINK_PY: &str = r#"
import asyncio, json, os, sys
from email import message_from_bytes, policy
from aiosmtpd.smtp import SMTP

port, out = int(sys.argv[1]), sys.argv[2]

class Sink:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("onbekend"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        msg = message_from_bytes(raw, policy=policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "auto_submitted": str(msg["Auto-Submitted"]),
            "content_type": msg.get_content_type(),
            "multipart": msg.is_multipart(),
            "body": None if msg.is_multipart() else msg.get_content(),
        }
        name = os.path.join(out, "%06d.json" % self.count)
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(name + ".tmp", name)
        return "250 OK"

async def main():
    handler = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

/// The first python that can import aiosmtpd: `$BERICHTENBOX_TEST_PYTHON`, `python3` on the
/// path, or Debian's `/usr/bin/python3` (where `python3-aiosmtpd` installs).
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let candidates = std::env::var("BERICHTENBOX_TEST_PYTHON")
            .into_iter()
            .chain(["python3".to_owned(), "/usr/bin/python3".to_owned()]);
        for candidate in candidates {
            let imports = Command::new(&candidate)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if imports {
                return candidate;
            }
        }
        panic!("{INSTALL_HINT}");
    })
}

/// A running SMTP sink; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Sink {
    /// Starts the sink on `port` (0: any free port) and waits until it listens.
    fn start(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the sink");
        let script = dir.path().join("sink.py");
        fs::write(&script, SINK_PY).expect("write sink script");
        let messages = dir.path().join("messages");
        fs::create_dir(&messages).expect("messages dir");
        let stderr_path = dir.path().join("stderr.txt");
        let stderr = File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(python())
            .arg("-u")
            .arg(&script)
            .arg(port.to_string())
            .arg(&messages)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start python: {error}; {INSTALL_HINT}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smtp sink did not start ({read:?}): {}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        Self { child, port, dir }
    }

    /// The messages received so far, in order of arrival.
    fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = fs::read_dir(self.dir.path().join("messages"))
            .expect("read messages dir")
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                serde_json::from_str(&fs::read_to_string(path).expect("read message"))
                    .expect("message json")
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} in {value}"))
        .to_owned()
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
