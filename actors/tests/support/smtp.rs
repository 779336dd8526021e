//! A real SMTP server for the actors' tests: Python's aiosmtpd on 127.0.0.1, started per test,
//! writing every message it accepts as a JSON file that the tests read back. It refuses
//! recipients `onbekend*` for good (550) and `later*` for now (451). It must not skip: without
//! python3 and aiosmtpd the tests fail and say how to install them.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// How long to wait for mail that must arrive (a polling deadline, not an expectation).
const WAIT: Duration = Duration::from_secs(20);

pub const INSTALL_HINT: &str = "python3 with aiosmtpd is needed for these tests: install it with \
     `apt-get install -y python3-aiosmtpd` (Debian) or `python3 -m pip install aiosmtpd`, or \
     point BERICHTENBOX_TEST_PYTHON at a python that has it";

/// The sink: accepts every recipient and writes each message as `NNNNNN.json` (to a temporary
/// name, then renamed) before it answers 250, so a message is on disk when the client's send
/// returns, and the numbering is the order of sending (the dispatcher sends one at a time).
pub const SINK_PY: &str = r#"
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
            "date": str(msg["Date"]),
            "date_epoch": int(msg["Date"].datetime.timestamp()),
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
pub fn python() -> &'static str {
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
pub struct Sink {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl Sink {
    /// Starts the sink on `port` (0: any free port) and waits until it listens.
    pub fn start(port: u16) -> Self {
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

    /// The messages received so far, in the order they were sent.
    pub fn messages(&self) -> Vec<Value> {
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

    /// The Message-IDs received so far, in order.
    pub fn message_ids(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|message| text(message, "message_id"))
            .collect()
    }

    /// Waits until at least `n` messages are in; answers them all.
    pub fn wait_for(&self, n: usize, context: &str) -> Vec<Value> {
        let arrived = super::wait::poll_until(WAIT, || self.messages().len() >= n);
        let messages = self.messages();
        assert!(
            arrived,
            "{context}: {} of {n} notifications arrived within {WAIT:?}: {:?}",
            messages.len(),
            self.message_ids()
        );
        messages
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} in {value}"))
        .to_owned()
}

/// A port on 127.0.0.1 that nobody listens on (free a moment ago).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
