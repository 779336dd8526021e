//! The one webhook receiver of the integration tests: an HTTP server on 127.0.0.1 (a
//! `std::net::TcpListener`, a thread per connection) that records every request as a
//! [`Push`] and answers it as told ([`Answer`]): a status, or never (a hanging webhook).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// The path of every receiver's URL.
pub const PATH: &str = "/ontvangstbewijzen";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Push {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub body: Value,
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status, with `Connection: close`.
    Status(u16),
    /// Nothing: the connection is held open (the request is recorded once read).
    Hang,
}

#[derive(Debug)]
struct Shared {
    answer: Answer,
    pushes: Mutex<Vec<Push>>,
    held: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// A webhook on 127.0.0.1.
#[derive(Debug)]
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Answers 200 on any free port.
    pub fn start() -> Self {
        Self::on(0, Answer::Status(200))
    }

    /// Answers `answer`, on 127.0.0.1:`port` (0: any free port).
    pub fn on(port: u16, answer: Answer) -> Self {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).expect("bind the webhook receiver's port");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            answer,
            pushes: Mutex::default(),
            held: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        Self {
            port,
            shared,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// Every request so far, in order of arrival.
    pub fn pushes(&self) -> Vec<Push> {
        self.shared.pushes.lock().expect("pushes lock").clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.shared.pushes.lock().expect("pushes lock").len()
    }

    /// The Idempotency-Keys received, in order, duplicates included.
    pub fn keys(&self) -> Vec<String> {
        self.pushes()
            .iter()
            .map(|push| push.idempotency_key.clone().unwrap_or_default())
            .collect()
    }

    /// Waits until every one of `keys` has arrived, calling `meanwhile` on each poll (a test
    /// moves the engine's clock there, so retries come due); answers all pushes so far.
    pub fn wait_for(
        &self,
        keys: &[String],
        deadline: Duration,
        mut meanwhile: impl FnMut(),
        context: &str,
    ) -> Vec<Push> {
        let arrived = super::poll_until(deadline, || {
            meanwhile();
            let received = self.keys();
            keys.iter().all(|key| received.contains(key))
        });
        assert!(
            arrived,
            "{context}: within {deadline:?} the receiver on port {} got {:?}, expected {keys:?}",
            self.port,
            self.keys()
        );
        self.pushes()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.held.lock().expect("held lock").clear();
    }
}

/// The URL of a receiver on `port` (one may come up there later).
pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}{PATH}")
}

/// A port on 127.0.0.1 that refuses connections (free a moment ago).
pub fn refusing_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Reads one request (Content-Length bodies only, as the engine sends), records it, answers.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    assert!(
        !headers.contains_key("transfer-encoding"),
        "the receiver reads Content-Length bodies only: {headers:?}"
    );
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(format!("not json: {}", String::from_utf8_lossy(&body))));
    shared.pushes.lock().expect("pushes lock").push(Push {
        method,
        path,
        idempotency_key: headers.get("idempotency-key").cloned(),
        content_type: headers.get("content-type").cloned(),
        user_agent: headers.get("user-agent").cloned(),
        body,
    });
    let mut stream = reader.into_inner();
    match shared.answer {
        Answer::Status(status) => {
            let reply = format!(
                "HTTP/1.1 {status} Status\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(reply.as_bytes());
            let _ = stream.flush();
        }
        Answer::Hang => shared.held.lock().expect("held lock").push(stream),
    }
}
