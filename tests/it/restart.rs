//! Issue 11, point 3: restart without a failed request, through a socket-activated listener.
//!
//! The test plays systemd: it binds the API socket, keeps it, and passes it to each engine
//! process as fd 3 with `LISTEN_FDS=1`. While one engine drains after SIGTERM and the next
//! opens the store, new connections wait in the socket's queue instead of being refused.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berichtenbox::config::Config;
use serde_json::json;

use crate::support::{EngineBuilder, batch, oin};

/// Open-loop senders and the rate of each: every `PERIOD` a sender's next request is due,
/// whether or not the one before was answered; its latency counts from when it was due.
const SENDERS: u32 = 4;
const PERIOD: Duration = Duration::from_millis(25);

/// One request's outcome: the batch, its status (or the transport error), when it was due and
/// how long after that it was answered.
#[derive(Debug)]
struct Outcome {
    batch_id: String,
    status: Result<u16, String>,
    due: Instant,
    latency: Duration,
}

#[test]
fn three_restarts_under_open_loop_load_fail_no_request_and_lose_no_202() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind the API socket");
    // The default drain (the test configuration has none).
    let builder = EngineBuilder::new(&dir.path().join("data")).configure(|config| {
        config.server.shutdown_drain_ms = Config::default().server.shutdown_drain_ms;
    });
    let mut engine = builder.clone().spawn_on(&socket);
    let base = engine.base.clone();
    let key = engine
        .beheer()
        .afnemer_with_aanslag(
            &oin(7801),
            json!({ "naam": "Gemeente R", "berichtenPerSeconde": 100000, "burst": 100000 }),
        )
        .key;

    let running = Arc::new(AtomicBool::new(true));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (running, outcomes) = (running.clone(), outcomes.clone());
            let (base, key) = (base.clone(), key.clone());
            std::thread::spawn(move || {
                // A new connection for every request: a kept-alive connection is closed by the
                // engine that stops, and a request racing that close is the client's to retry.
                let client = reqwest::blocking::Client::builder()
                    .pool_max_idle_per_host(0)
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("client");
                let start = Instant::now();
                let mut n = 0u32;
                while running.load(Ordering::Relaxed) {
                    let due = start + PERIOD * n;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let body = batch(780_000 + sender * 10_000 + n, 1);
                    let batch_id = body["batchId"].as_str().expect("batchId").to_owned();
                    let status = client
                        .post(format!("{base}/v1/batches"))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .map(|response| response.status().as_u16())
                        .map_err(|error| format!("{error:?}"));
                    let latency = due.elapsed();
                    outcomes.lock().expect("outcomes").push(Outcome {
                        batch_id,
                        status,
                        due,
                        latency,
                    });
                    n += 1;
                }
            })
        })
        .collect();

    let load_for = |period: Duration| std::thread::sleep(period);
    let mut restarts = Vec::new();
    for _ in 0..3 {
        load_for(Duration::from_millis(1500));
        let began = Instant::now();
        let status = engine.terminate();
        assert!(
            status.success(),
            "the engine stopping for a restart: {status}"
        );
        engine = builder.clone().spawn_on(&socket);
        restarts.push((began, Instant::now()));
    }
    load_for(Duration::from_millis(1500));
    running.store(false, Ordering::Relaxed);
    for sender in senders {
        sender.join().expect("sender");
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|outcome| outcome.status != Ok(202))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the restarts: {:?}",
        failed.len(),
        outcomes.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    // Every request due during a restart (from SIGTERM to the next engine's first line) counts.
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|outcome| {
            restarts
                .iter()
                .any(|(began, ended)| outcome.due >= *began && outcome.due <= *ended)
        })
        .collect();
    assert!(!during.is_empty(), "no request was due during a restart");
    let longest = outcomes
        .iter()
        .map(|outcome| outcome.latency)
        .max()
        .unwrap_or_default();
    let restart_times: Vec<Duration> = restarts.iter().map(|(b, e)| *e - *b).collect();
    println!(
        "restart: {} requests, {} due during the 3 restarts (each {:?}); longest accept latency {:?}",
        outcomes.len(),
        during.len(),
        restart_times,
        longest
    );

    // Every 202 is there after the last restart.
    for outcome in &outcomes {
        let reply = engine.get(&key, &format!("/v1/batches/{}", outcome.batch_id));
        assert_eq!(
            reply.status, 200,
            "batch {} after the restarts",
            outcome.batch_id
        );
    }
}

/// A free port on 127.0.0.1 (bound and let go; for a tool that binds it itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed (and reaped) when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn systemds_socket_activation_hands_over_the_api_then_the_operations_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineBuilder::new(&dir.path().join("data"))
        .config()
        .clone();
    let config_path = dir.path().join("engine.toml");
    std::fs::write(&config_path, config.to_toml()).expect("write config");
    let (api, ops) = (free_port(), free_port());
    // systemd's own tool: it binds both sockets, sets LISTEN_FDS and LISTEN_PID, and execs the
    // engine on them, in this order, as berichtenbox.socket's two ListenStream lines do.
    let mut child = KillOnDrop(
        std::process::Command::new("systemd-socket-activate")
            .arg(format!("--listen=127.0.0.1:{api}"))
            .arg(format!("--listen=127.0.0.1:{ops}"))
            .arg(format!(
                "--setenv=BERICHTENBOX_BEHEER_TOKEN={}",
                crate::support::BEHEER_TOKEN
            ))
            .arg("--setenv=BERICHTENBOX_LOG=warn")
            .arg(env!("CARGO_BIN_EXE_berichtenbox"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate (Debian's systemd package)"),
    );
    let get = |port: u16, path: &str| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .map(|response| response.status().as_u16())
    };
    // The tool starts the engine at the first connection, which waits in the queue meanwhile;
    // until the tool has bound its sockets, a connection is refused and tried again.
    let first_request = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match get(api, "/health/ready") {
                Err(error) if error.is_connect() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                answer => return answer,
            }
        }
    });
    // The engine's two lines, read on a thread of their own so that a silent engine fails the
    // test instead of hanging it.
    let stdout = child.0.stdout.take().expect("stdout");
    let (lines_sender, lines_received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let _ = lines_sender.send(line.unwrap_or_default());
        }
    });
    let line = || {
        lines_received
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from the engine within 60 s")
    };
    let (first, second) = (line(), line());
    {
        assert_eq!(first, format!("listening on http://127.0.0.1:{api}"));
        assert_eq!(second, format!("operations on http://127.0.0.1:{ops}"));
        let get = |port: u16, path: &str| get(port, path).expect("an answer");
        assert_eq!(
            first_request
                .join()
                .expect("first request")
                .expect("an answer"),
            200,
            "the connection that started the engine"
        );
        assert_eq!(get(ops, "/metrics"), 200);
        assert_eq!(get(api, "/metrics"), 404, "/metrics on the API socket");
    }
}

#[test]
fn the_shipped_systemd_units_pass_systemd_analyze() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = env!("CARGO_MANIFEST_DIR");
    for unit in ["berichtenbox.socket", "berichtenbox.service"] {
        let text = std::fs::read_to_string(format!("{root}/deploy/{unit}")).expect("read unit");
        // The binary where this test built it, instead of where an operator installs it.
        let text = text.replace(
            "/usr/local/bin/berichtenbox",
            env!("CARGO_BIN_EXE_berichtenbox"),
        );
        std::fs::write(dir.path().join(unit), text).expect("write unit");
    }
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("berichtenbox.socket"))
        .arg(dir.path().join("berichtenbox.service"))
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {} {complaints}",
        output.status
    );
}
