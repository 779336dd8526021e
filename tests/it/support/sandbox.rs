//! The engine under test. [`Engine`]: in this process, through `server::start`, on
//! 127.0.0.1:0 with a [`SandboxClock`] (a `ManualClock`) that the test moves; [`Process`]: the real binary as a
//! child process, for the tests whose subject is the process (SIGKILL, SIGTERM and SIGINT,
//! start-up refusal, the load harness's loss check). Both are built by [`EngineBuilder`] from
//! the one test configuration, [`test_config`], and both dereference to the [`Api`].
//!
//! Metrics: the Prometheus recorder is process-wide. It is installed once per test process
//! and every in-process engine gets its handle, so engines in one process add to the same
//! counters: a test reads only its own afnemers' series (OINs unique in the binary) or
//! deltas; the tests of the engine's whole `/metrics` run a [`Process`].

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berichtenbox::config::Config;
use berichtenbox::server::{self, Running};
use berichtenbox_actors::core::clock::{Clock, ManualClock, SharedClock};
use berichtenbox_actors::store::Store;
use command_fds::{CommandFdExt as _, FdMapping};
use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;

use super::pki::TestCa;
use super::{Api, BEHEER_TOKEN, BURGER_JWT_SECRET, wait_for};

/// The one configuration of tests: the defaults, on 127.0.0.1:0 with two workers, the test
/// tokens, and `data_dir`. Tests change fields of it (through [`EngineBuilder::configure`]).
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.server.ops_listen = ([127, 0, 0, 1], 0).into();
    config.server.workers = 2;
    // The many in-process shutdowns do not wait for a drain; `restart` tests the default.
    config.server.shutdown_drain_ms = 0;
    config.store.data_dir = data_dir.to_owned();
    config.auth.beheer_token = BEHEER_TOKEN.to_owned();
    config.auth.burger_jwt_secret = BURGER_JWT_SECRET.to_owned();
    // The tests' webhook receivers listen on 127.0.0.1 over http.
    config.webhooks.allow_private_addresses = true;
    // Every test engine's clients come from 127.0.0.1 and its clock barely moves: limits that
    // no other test reaches. `tests/it/limits.rs` lowers them.
    config.auth.failures_burst = 1_000_000;
    config.auth.failures_per_minute = 1_000_000;
    config.burgers.verzoeken_per_seconde = 1_000_000;
    config.burgers.burst = 1_000_000;
    config
}

/// The engines' clock: a [`ManualClock`] that starts at the system's time and moves only when
/// the test moves it ([`SandboxClock::advance`]), except that each reading moves it on by
/// [`SandboxClock::STEP`]: two events are never at the same instant, as on a real clock (the
/// shard writers' stamps and the receipt feed's "stamped before the read" rely on that), yet a
/// test that waits for a retry, a Retry-After or a grace period moves the clock instead of
/// sleeping.
#[derive(Debug)]
pub struct SandboxClock {
    manual: ManualClock,
}

impl SandboxClock {
    /// How far each reading moves the clock on.
    pub const STEP: Duration = Duration::from_micros(1);

    pub fn new() -> Self {
        Self {
            manual: ManualClock::new(Timestamp::now()),
        }
    }

    /// A clock that starts at `at` (a test of old data runs at the data's time).
    pub fn at(at: Timestamp) -> Self {
        Self {
            manual: ManualClock::new(at),
        }
    }

    /// Moves the wall and the monotonic clock forward.
    pub fn advance(&self, by: Duration) {
        self.manual.advance(by);
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> Timestamp {
        self.manual.advance(Self::STEP);
        self.manual.now()
    }

    fn monotonic_nanos(&self) -> u64 {
        self.manual.advance(Self::STEP);
        self.manual.monotonic_nanos()
    }
}

/// The process-wide metrics recorder, installed by the first engine that asks; with it, the
/// in-process engines' log (`BERICHTENBOX_LOG`, `warn` by default) goes to the test's captured
/// output, shown when a test fails.
fn metrics() -> PrometheusHandle {
    static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();
    METRICS
        .get_or_init(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("BERICHTENBOX_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_test_writer()
                .try_init();
            server::install_metrics().expect("install the metrics recorder")
        })
        .clone()
}

/// Builds an engine: [`test_config`] plus the test's changes, a clock.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    config: Config,
    clock: Option<Arc<SandboxClock>>,
    /// The test CA the engine's clients trust, when the engine speaks TLS.
    trust: Option<String>,
}

impl EngineBuilder {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            config: test_config(data_dir),
            clock: None,
            trust: None,
        }
    }

    /// Changes the configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Speaks TLS with a server certificate of `ca` (written beside the data directory), and
    /// asks for client certificates of `client_ca` when given. The engine's clients trust `ca`.
    pub fn tls(mut self, ca: &TestCa, client_ca: Option<&Path>) -> Self {
        let (certificate, key) = ca.server("berichtenbox-test").write(
            self.config
                .store
                .data_dir
                .parent()
                .expect("data dir parent"),
            "server",
        );
        self.config.tls.cert_file = certificate;
        self.config.tls.key_file = key;
        self.config.tls.client_ca_file = client_ca.map(Path::to_owned).unwrap_or_default();
        self.trust = Some(ca.pem.clone());
        self
    }

    /// Runs on this clock (a restart keeps its engine's).
    pub fn clock(mut self, clock: Arc<SandboxClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens the store of this configuration directly (while no engine runs on it), as the
    /// engine opens it.
    pub fn open_store(&self) -> Arc<dyn Store> {
        server::open_store(&self.config).expect("open the engine's store")
    }

    /// Starts the engine in this process; answers once it accepts connections.
    pub fn start(self) -> Engine {
        let clock = self.clock.unwrap_or_else(|| Arc::new(SandboxClock::new()));
        self.config.validate().expect("a valid test configuration");
        let listener = TcpListener::bind(self.config.server.listen).expect("bind 127.0.0.1:0");
        let ops_listener =
            TcpListener::bind(self.config.server.ops_listen).expect("bind 127.0.0.1:0 (ops)");
        let running = server::start(
            self.config.clone(),
            listener,
            ops_listener,
            SharedClock::new(clock.clone()),
            Some(metrics()),
            std::future::pending(),
        )
        .expect("start the engine");
        let api = Api::trusting(
            format!("{}://{}", running.scheme(), running.address()),
            self.trust.as_deref(),
        );
        let ops = Api::new(format!("http://{}", running.ops_address()));
        Engine {
            api,
            ops,
            data_dir: self.config.store.data_dir.clone(),
            config: self.config,
            clock,
            trust: self.trust,
            running: Some(running),
        }
    }

    /// Starts the real binary as a child process on this configuration (the system clock).
    pub fn spawn(self) -> Process {
        Process::spawn(&self.config, self.trust.as_deref(), None)
    }

    /// Starts the real binary on `listener`, passed as systemd's socket activation passes it:
    /// as file descriptor 3, with `LISTEN_FDS=1`. The caller keeps its own copy, so the
    /// socket (and the connections queued on it) outlives the process, as under systemd.
    pub fn spawn_on(self, listener: &TcpListener) -> Process {
        Process::spawn(&self.config, self.trust.as_deref(), Some(listener))
    }

    /// Starts the engine in this process, expecting it to refuse: answers the error.
    pub fn start_refused(self) -> anyhow::Error {
        self.config.validate().expect("a valid test configuration");
        let listener = TcpListener::bind(self.config.server.listen).expect("bind 127.0.0.1:0");
        let ops_listener =
            TcpListener::bind(self.config.server.ops_listen).expect("bind 127.0.0.1:0 (ops)");
        match server::start(
            self.config,
            listener,
            ops_listener,
            SharedClock::new(Arc::new(SandboxClock::new())),
            Some(metrics()),
            std::future::pending(),
        ) {
            Ok(running) => {
                let _ = running.shutdown();
                panic!("the engine started where it had to refuse");
            }
            Err(error) => error,
        }
    }

    /// Runs the binary, expecting it to refuse to start: answers its exit status and stderr.
    pub fn spawn_refused(self) -> (ExitStatus, String) {
        Process::spawn_refused(&self.config)
    }
}

/// An engine running in this process.
#[derive(Debug)]
pub struct Engine {
    api: Api,
    /// The operations listener (`/metrics`, health).
    pub ops: Api,
    pub data_dir: PathBuf,
    pub config: Config,
    /// The engine's clock: it moves only when the test moves it.
    pub clock: Arc<SandboxClock>,
    trust: Option<String>,
    running: Option<Running>,
}

impl Engine {
    /// Starts an engine on `data_dir` with the test configuration.
    pub fn start(data_dir: &Path) -> Self {
        EngineBuilder::new(data_dir).start()
    }

    pub fn builder(data_dir: &Path) -> EngineBuilder {
        EngineBuilder::new(data_dir)
    }

    /// The graceful stop (the path SIGTERM takes in the binary): answers how the run ended.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.running.take().map_or(Ok(()), Running::shutdown)
    }

    /// Stops gracefully (which must succeed) and starts again on the same data, configuration
    /// and clock.
    pub fn restart(self) -> Engine {
        let builder = EngineBuilder {
            config: self.config.clone(),
            clock: Some(self.clock.clone()),
            trust: self.trust.clone(),
        };
        self.shutdown().expect("a clean shutdown");
        builder.start()
    }

    /// Reads the TLS files again, as SIGHUP does in the binary.
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        self.running.as_ref().expect("running").reload_tls()
    }

    /// Moves the engine's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

impl Deref for Engine {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The real `berichtenbox` binary as a child process (`serve`, with the configuration written
/// to a file beside the data directory).
#[derive(Debug)]
pub struct Process {
    child: Child,
    api: Api,
    /// The operations listener (`/metrics`, health), from the binary's second stdout line.
    pub ops: Api,
    pub data_dir: PathBuf,
}

/// `berichtenbox serve` on `config`: the configuration written to a file beside the data
/// directory, the tokens (which that file leaves out) in the environment.
fn serve_command(config: &Config) -> Command {
    let data_dir = &config.store.data_dir;
    let config_path = data_dir.with_extension("toml");
    std::fs::write(&config_path, config.to_toml()).expect("write config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_berichtenbox"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .arg("--data-dir")
        .arg(data_dir)
        .env("BERICHTENBOX_BEHEER_TOKEN", &config.auth.beheer_token)
        .env(
            "BERICHTENBOX_BURGER_JWT_SECRET",
            &config.auth.burger_jwt_secret,
        )
        .env("BERICHTENBOX_LOG", "warn");
    command
}

impl Process {
    fn spawn(config: &Config, trust: Option<&str>, passed: Option<&TcpListener>) -> Self {
        let data_dir = config.store.data_dir.clone();
        let mut command = serve_command(config);
        if let Some(listener) = passed {
            let socket = OwnedFd::from(listener.try_clone().expect("duplicate the listener"));
            command
                .fd_mappings(vec![FdMapping {
                    parent_fd: socket,
                    child_fd: 3,
                }])
                .expect("map the listener to fd 3")
                .env("LISTEN_FDS", "1")
                .env_remove("LISTEN_PID");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berichtenbox");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        break address.trim().to_owned();
                    }
                }
                other => panic!(
                    "engine exited before listening: {other:?}, status {:?}",
                    child.wait()
                ),
            }
        };
        let ops = match lines.next() {
            Some(Ok(line)) => line
                .strip_prefix("operations on ")
                .unwrap_or_else(|| panic!("expected `operations on ADDR`, got {line:?}"))
                .trim()
                .to_owned(),
            other => panic!("engine printed no operations address: {other:?}"),
        };
        // Keep draining stdout so the engine never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            api: Api::trusting(base, trust),
            ops: Api::new(ops),
            data_dir,
        }
    }

    fn spawn_refused(config: &Config) -> (ExitStatus, String) {
        let mut child = serve_command(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start berichtenbox");
        let mut stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let exited = super::poll_until(Duration::from_secs(60), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the engine did not exit within 60 s where it had to refuse to start");
        }
        let status = child.wait().expect("wait");
        (status, reader.join().expect("stderr reader"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`) and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGKILL: the engine gets no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends the signal (`TERM`, `INT`), then waits for the exit.
    pub fn stop_with(mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        wait_for(
            &format!("the engine stops on SIG{signal}"),
            Duration::from_secs(60),
            || self.child.try_wait().expect("wait"),
        )
    }
}

impl Deref for Process {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
