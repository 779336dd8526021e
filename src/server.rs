//! Start-up and shutdown: open the store, rebuild the catalog, start the actors' arbiter and the
//! HTTP server, and on SIGTERM or SIGINT stop in one path.
//!
//! Shutdown: actix stops accepting, lets requests in flight finish (each ends in its 202 after
//! the covering sync, or in an error) within the configured timeout; then the afnemer actors
//! stop, the store's writers drain what is queued and the shards are synced; then `run` returns.
//!
//! [`start`] runs the engine in this process on a listener, a clock and a shutdown future
//! that it is given (tests hand it `127.0.0.1:0`, a `ManualClock` and their own stop);
//! [`run`] is the binary's: the configured address, the system clock, SIGTERM or SIGINT, and
//! SIGHUP to read the TLS files again (`crate::tls`).

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix::Actor as _;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use berichtenbox_actors::abonnementen::{self, Runner, RunnerConfig};
use berichtenbox_actors::catalog::{Catalog, LAST_USED_WRITE_INTERVAL};
use berichtenbox_actors::core::backoff::Backoff;
use berichtenbox_actors::core::caps::{Caps, amsterdam};
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::expirer::{self, ExpirerConfig};
use berichtenbox_actors::notifier::{self, NotifierConfig};
use berichtenbox_actors::notify::mail::Mailer;
use berichtenbox_actors::notify::{MailTransportConfig, SmtpCredentials, SmtpRelay, SmtpTls};
use berichtenbox_actors::pacemaker::Pacemaker;
use berichtenbox_actors::processor;
use berichtenbox_actors::pusher::{ReceiptSerializer, WebhookDispatcher};
use berichtenbox_actors::registry::Registry;
use berichtenbox_actors::store::embedded::EmbeddedStore;
use berichtenbox_actors::store::{RunRecord, Store};
use berichtenbox_actors::webhook::{WebhookClient, WebhookConfig};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{Semaphore, oneshot};

use crate::config::{Config, SmtpTlsMode};
use crate::http::{self, AppState};
use crate::tls::Tls;

/// How long a stopping engine waits for its actors' threads to let go of the store.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The slowest the webhook dispatcher looks for receipts to push.
const WEBHOOK_BEAT: Duration = Duration::from_secs(1);

/// What runs behind the HTTP edge, built (and so checked) before anything starts.
struct Background {
    round_berichten: usize,
    beat: Duration,
    mailer: Mailer,
    notifier: NotifierConfig,
    webhooks: WebhookClient,
    expirer: ExpirerConfig,
    retention_beat: Duration,
    abonnementen: RunnerConfig,
    abonnementen_beat: Duration,
    /// Set when the engine stops: the Abonnementservice's runner ends its run between pages.
    stopping: Arc<AtomicBool>,
}

impl Background {
    fn build(config: &Config, clock: &SharedClock) -> anyhow::Result<Self> {
        let n = &config.notifications;
        let transport = if n.smtp_host.is_empty() {
            let dir = n.outbox(&config.store.data_dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
            MailTransportConfig::Outbox { dir }
        } else {
            let tls = match n.smtp_tls {
                SmtpTlsMode::None => SmtpTls::None,
                SmtpTlsMode::Starttls => SmtpTls::StartTls,
                SmtpTlsMode::Tls => SmtpTls::Implicit,
            };
            let mut relay = SmtpRelay::new(n.smtp_host.clone(), n.smtp_port, tls);
            if !n.smtp_username.is_empty() {
                relay.credentials = Some(SmtpCredentials {
                    username: n.smtp_username.clone(),
                    password: n.smtp_password.clone(),
                });
            }
            MailTransportConfig::Smtp(relay)
        };
        let mailer = Mailer::new(&n.from, &transport, clock.clone()).context("notifications")?;
        let caps = Caps::new(n.per_hour, n.per_day, amsterdam()?)?;
        let abonnementen_dir = config.abonnementen.resultaten(&config.store.data_dir);
        std::fs::create_dir_all(&abonnementen_dir).with_context(|| {
            format!(
                "cannot create the Abonnementservice's results directory {}",
                abonnementen_dir.display()
            )
        })?;
        let webhooks = WebhookClient::new(WebhookConfig {
            connect_timeout: Duration::from_secs(config.webhooks.connect_timeout_seconds),
            request_timeout: Duration::from_secs(config.webhooks.request_timeout_seconds),
            allow_private_addresses: config.webhooks.allow_private_addresses,
        })?;
        Ok(Self {
            round_berichten: config.processing.round_berichten,
            beat: Duration::from_millis(config.processing.beat_ms),
            mailer,
            notifier: NotifierConfig {
                caps,
                max_per_round: 1000,
                grace: Duration::from_millis(n.arrival_grace_ms),
            },
            webhooks,
            expirer: ExpirerConfig {
                periods: config.bewaren.periods(),
                max_per_step: config.bewaren.stap,
            },
            retention_beat: Duration::from_secs(config.bewaren.ronde_seconden),
            abonnementen: RunnerConfig {
                venster: config.abonnementen.venster()?,
                resultaten: abonnementen_dir,
                bewaren: jiff::SignedDuration::from_hours(
                    24 * i64::from(config.abonnementen.resultaat_bewaren_dagen),
                ),
            },
            abonnementen_beat: Duration::from_secs(config.abonnementen.ronde_seconden),
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts the processors, the notifier and the webhook dispatcher (on `webhooks`, an
    /// arbiter of its own); runs on an arbiter.
    fn start(
        self,
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        clock: SharedClock,
        webhooks: actix::dev::ArbiterHandle,
    ) {
        let mut pacemaker = Pacemaker::new(self.beat);
        processor::start(
            &mut pacemaker,
            store.clone(),
            store.clone(),
            catalog.clone(),
            clock.clone(),
            self.round_berichten,
        );
        notifier::start(
            &mut pacemaker,
            store.clone(),
            store.clone(),
            catalog.clone(),
            clock.clone(),
            self.mailer,
            self.notifier,
        );
        pacemaker.start();
        let mut retention = Pacemaker::new(self.retention_beat);
        expirer::start(
            &mut retention,
            store.clone(),
            store.clone(),
            clock.clone(),
            self.expirer,
        );
        retention.start();
        let mut nachten = Pacemaker::new(self.abonnementen_beat);
        abonnementen::start(
            &mut nachten,
            Runner::new(
                store.clone(),
                store.clone(),
                clock.clone(),
                self.abonnementen,
                self.stopping,
            ),
        );
        nachten.start();
        let serialize: ReceiptSerializer = Arc::new(http::receipts::receipt_json);
        let dispatcher = WebhookDispatcher::new(
            store,
            catalog,
            clock,
            self.webhooks,
            Backoff::default(),
            serialize,
            // Each tick reads every webhook afnemer's outbox head in every shard: once a
            // second is ample for receipts (the backoff's first retry is a second too).
            self.beat.max(WEBHOOK_BEAT),
        );
        webhooks.spawn_fn(move || {
            dispatcher.start();
        });
    }
}

/// Opens the embedded store the configuration describes.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_embedded(config)?)
}

/// Opens the embedded store the configuration describes, as its own type (the backups need
/// more of it than the roles).
pub fn open_embedded(config: &Config) -> anyhow::Result<Arc<EmbeddedStore>> {
    let store = EmbeddedStore::open(config.store.clone()).with_context(|| {
        format!(
            "cannot open the store in {}",
            config.store.data_dir.display()
        )
    })?;
    Ok(Arc::new(store))
}

/// Installs the process-wide Prometheus recorder, with the histogram buckets and help texts
/// of the list of metrics (`http::telemetry`).
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    http::telemetry::recorder_builder()?
        .install_recorder()
        .context("cannot install the metrics recorder")
        .inspect(|_| http::telemetry::describe())
}

/// A running engine, from [`start`]: its address, its graceful stop and the end of its run.
///
/// Dropping it stops the engine (gracefully) and waits for it.
#[derive(Debug)]
pub struct Running {
    address: SocketAddr,
    ops_address: SocketAddr,
    tls: Option<Tls>,
    stop: Option<oneshot::Sender<()>>,
    ended: Option<oneshot::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// The address the engine listens on (the listener's, so a port 0 is resolved).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of the operations listener (`/metrics`; port 0 resolved).
    pub fn ops_address(&self) -> SocketAddr {
        self.ops_address
    }

    /// The API listener's URL scheme: `https` with `[tls]`, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Reads the TLS files again (what SIGHUP does): new connections get the new certificate
    /// and client CAs, open ones keep theirs. When a file does not load, the error is answered
    /// and the old ones stay in use. Without `[tls]`, nothing to do. Blocking (file I/O).
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        match &self.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// Completes when the engine's thread has ended (stopped, or failed), without joining it.
    async fn ended(&mut self) {
        if let Some(ended) = self.ended.as_mut() {
            let _ = ended.await;
        }
    }

    /// Asks for the graceful stop, the one SIGTERM takes; [`Running::join`] waits for its end.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the engine has stopped (its store closed) and answers how its run ended.
    pub fn join(mut self) -> anyhow::Result<()> {
        let thread = self.thread.take();
        match thread.map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(error))) => Err(error),
            Some(Err(_)) => anyhow::bail!("the engine's thread panicked"),
        }
    }

    /// Stops the engine gracefully and waits for the end of its run.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop();
        self.join()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the engine on an already bound listener, on `clock`, in this process: store,
/// catalog, actors and HTTP run on a thread of their own (an actix system). It stops
/// gracefully when `shutdown` completes or [`Running::stop`] is called: one path, the one
/// `run` takes on SIGTERM. Answers once the engine accepts connections, or the error that
/// stopped its start (a store that does not open, a configuration that cannot work).
///
/// `metrics` is the process-wide Prometheus recorder's handle (see [`install_metrics`]);
/// engines in one process share that recorder, so their metrics add up.
pub fn start(
    config: Config,
    listener: TcpListener,
    ops_listener: TcpListener,
    clock: SharedClock,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let address = listener
        .local_addr()
        .context("cannot read the listener's address")?;
    let ops_address = ops_listener
        .local_addr()
        .context("cannot read the operations listener's address")?;
    let tls = Tls::load(&config.tls).context("cannot load the TLS files ([tls])")?;
    let (ready, started) = std::sync::mpsc::sync_channel::<()>(1);
    let (stop, stopped) = oneshot::channel::<()>();
    // Dropped when the engine's thread ends, however it ends: `Running::ended`.
    let (ending, ended) = oneshot::channel::<()>();
    let served_tls = tls.clone();
    let thread = std::thread::Builder::new()
        .name("berichtenbox-engine".into())
        .spawn(move || -> anyhow::Result<()> {
            let _ending = ending;
            let began = std::time::Instant::now();
            let embedded = open_embedded(&config)?;
            let store: Arc<dyn Store> = embedded.clone();
            let opened = began.elapsed();
            let catalog =
                Arc::new(Catalog::load(store.clone()).context("cannot load the catalog")?);
            tracing::info!(
                store_ms = opened.as_millis(),
                catalog_ms = (began.elapsed() - opened).as_millis(),
                "store and catalog opened"
            );
            let shutdown = async move {
                tokio::select! {
                    () = shutdown => {}
                    // A stop, or the handle dropped.
                    _ = stopped => {}
                }
            };
            let system = actix_web::rt::System::new();
            let served = system.block_on(serve(
                config,
                listener,
                served_tls,
                ops_listener,
                store.clone(),
                embedded,
                catalog,
                clock,
                metrics,
                shutdown,
                ready,
            ));
            drop(system);
            // The actors' threads let go of the store as they end; the store is closed once
            // they have (so whoever started this engine may open its data again at once).
            let deadline = std::time::Instant::now() + RELEASE_TIMEOUT;
            while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let closed = store.close().context("cannot close the store cleanly");
            drop(store);
            served?;
            closed?;
            tracing::info!("stopped");
            Ok(())
        })
        .context("cannot start the engine's thread")?;
    let mut running = Running {
        address,
        ops_address,
        tls,
        stop: Some(stop),
        ended: Some(ended),
        thread: Some(thread),
    };
    if started.recv().is_err() {
        // The thread ended before the server ran: its answer is why.
        running.stop();
        running.join()?;
        anyhow::bail!("the engine stopped before it started");
    }
    Ok(running)
}

/// Runs the engine on the configured address and the system clock until SIGTERM or SIGINT,
/// then shuts down cleanly. SIGHUP reads the TLS files again.
pub fn run(config: Config, metrics: Option<PrometheusHandle>) -> anyhow::Result<()> {
    // Sockets passed by systemd's socket activation (`LISTEN_FDS`), read before any thread
    // starts (it clears the variables): the first is the API listener, a second the
    // operations listener. What is not passed is bound here.
    let mut passed = listenfd::ListenFd::from_env();
    // The signals are watched on this thread, on a runtime of its own, and registered before
    // the listener is bound: from the moment a client can connect, SIGTERM is a graceful stop.
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal watcher")?;
    let mut signals_of = signals.block_on(async { Signals::register() })?;
    let listener = match passed
        .take_tcp_listener(0)
        .context("LISTEN_FDS: the first socket passed is not a listening TCP socket")?
    {
        Some(listener) => listener,
        None => {
            let listen = config.server.listen;
            TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?
        }
    };
    let ops_listener = match passed
        .take_tcp_listener(1)
        .context("LISTEN_FDS: the second socket passed is not a listening TCP socket")?
    {
        Some(listener) => listener,
        None => {
            let ops_listen = config.server.ops_listen;
            TcpListener::bind(ops_listen)
                .with_context(|| format!("cannot listen on {ops_listen} (server.ops_listen)"))?
        }
    };
    let mut running = start(
        config,
        listener,
        ops_listener,
        SharedClock::system(),
        metrics,
        std::future::pending(),
    )?;
    // One line on stdout, for whoever started the engine (and for tests that asked for port 0).
    println!("listening on {}://{}", running.scheme(), running.address());
    // And one for the operations listener (/metrics).
    println!("operations on http://{}", running.ops_address());
    signals.block_on(async {
        loop {
            tokio::select! {
                signal = signals_of.next() => match signal {
                    Signal::Stop(name) => {
                        tracing::info!(signal = name, "signal received");
                        break;
                    }
                    Signal::Reload => match running.reload_tls() {
                        Ok(()) => tracing::info!("SIGHUP: TLS files read again"),
                        Err(error) => tracing::error!(
                            error = format!("{error:#}"),
                            "SIGHUP: the TLS files did not load; the previous ones stay in use"
                        ),
                    },
                },
                // The engine stopped on its own (an error): nothing to wait for.
                () = running.ended() => break,
            }
        }
    });
    running.stop();
    running.join()
}

/// The signals `run` acts on.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

enum Signal {
    /// SIGTERM or SIGINT: the graceful stop.
    Stop(&'static str),
    /// SIGHUP: read the TLS files again.
    Reload,
}

impl Signals {
    /// Registers the handlers (in a runtime's context): from here on these signals no longer
    /// end the process by default.
    fn register() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("cannot listen for {name}"))
        };
        Ok(Self {
            terminate: watch(SignalKind::terminate(), "SIGTERM")?,
            interrupt: watch(SignalKind::interrupt(), "SIGINT")?,
            hangup: watch(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.terminate.recv() => Signal::Stop("SIGTERM"),
            _ = self.interrupt.recv() => Signal::Stop("SIGINT"),
            _ = self.hangup.recv() => Signal::Reload,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    config: Config,
    listener: TcpListener,
    tls: Option<Tls>,
    ops_listener: TcpListener,
    store: Arc<dyn Store>,
    embedded: Arc<EmbeddedStore>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + 'static,
    ready: std::sync::mpsc::SyncSender<()>,
) -> anyhow::Result<()> {
    let backups = Arc::new(crate::backup::Backups::new(
        embedded,
        clock.clone(),
        config.backup.clone(),
    ));
    let socket = config.store.data_dir.join(crate::backup::SOCKET_FILE);
    let control = crate::backup::control_server(
        backups.clone(),
        &socket,
        config.server.shutdown_timeout_seconds,
    )?;
    let control_handle = control.handle();
    let schedule = config
        .backup
        .scheduled()
        .then(|| actix_web::rt::spawn(crate::backup::schedule(backups.clone())));
    drop(backups);
    let actors = actix::Arbiter::new();
    let webhooks = actix::Arbiter::new();
    let background = Background::build(&config, &clock)?;
    let stopping = background.stopping.clone();
    let started = {
        let (store, catalog, clock) = (store.clone(), catalog.clone(), clock.clone());
        let webhooks = webhooks.handle();
        actors.spawn_fn(move || background.start(store, catalog, clock, webhooks))
    };
    if !started {
        anyhow::bail!("cannot start the processing, notification and webhook actors");
    }
    let registry = Registry::new(
        store.clone(),
        clock.clone(),
        actors.handle(),
        config.afnemers.mailbox_capacity,
    );
    let workers = config.server.workers;
    let shutdown_timeout = config.server.shutdown_timeout_seconds;
    let max_connections_per_worker = config.server.max_connections_per_worker;
    let max_connections_per_address = config.server.max_connections_per_address;
    let keep_alive_seconds = config.server.keep_alive_seconds;
    let in_flight = Arc::new(Semaphore::new(config.server.in_flight_bytes / 1024));
    let burger = http::burger::BurgerVerifier::from_config(&config.auth)?;
    let vensters = config.onderhoud.vensters()?;
    let nachten = config.abonnementen.venster()?;
    let resultaten = config.abonnementen.resultaten(&config.store.data_dir);
    let auth_failures = http::limits::KeyedLimit::new(
        http::limits::Gcra::new(
            config.auth.failures_per_minute,
            Duration::from_secs(60),
            config.auth.failures_burst,
        ),
        config.auth.failures_max_addresses,
    );
    let burgers = http::limits::KeyedLimit::new(
        http::limits::Gcra::new(
            config.burgers.verzoeken_per_seconde,
            Duration::from_secs(1),
            config.burgers.burst,
        ),
        config.burgers.max_burgers,
    );
    let zone = amsterdam()?;
    let started = clock.now();
    let run = RunRecord {
        started,
        seen: started,
    };
    let state = web::Data::new(AppState {
        config,
        store,
        catalog,
        registry,
        clock,
        in_flight,
        in_flight_per_afnemer: crate::http::body::Shares::default(),
        metrics,
        burger,
        zone,
        vensters,
        run,
        nachten,
        resultaten,
        auth_failures,
        burgers,
        draining: std::sync::atomic::AtomicBool::new(false),
    });
    let heartbeat = actix_web::rt::spawn(heartbeat(state.clone()));
    let last = state.clone();

    let connections = http::connections::Connections::new(max_connections_per_address);
    let api_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(api_state.clone())
            .wrap(actix_web::middleware::from_fn(
                http::connections::refuse_over_cap,
            ))
            .wrap(actix_web::middleware::from_fn(
                http::connections::close_when_draining,
            ))
            .wrap(http::default_headers())
            .wrap(actix_web::middleware::from_fn(http::telemetry::observe))
            .configure(http::configure(http::routes::Listener::Api))
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(shutdown_timeout)
    .client_request_timeout(Duration::from_secs(30))
    .max_connections(max_connections_per_worker)
    .keep_alive(Duration::from_secs(keep_alive_seconds))
    .on_connect(move |io, extensions| {
        connections.on_connect(io, extensions);
        if let Some(certificate) = crate::tls::identity(io) {
            extensions.insert(certificate);
        }
    })
    // actix treats SIGINT as a forced stop that drops requests in flight; the shutdown future
    // (SIGTERM or SIGINT in `run`) is the one graceful stop here.
    .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = match &tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.server_config()?),
        None => server.listen(listener),
    }
    .context("cannot serve on the listener")?;
    // The operations listener: a server of its own (one worker), built from the same table.
    let ops_state = state.clone();
    let ops_server = HttpServer::new(move || {
        App::new()
            .app_data(ops_state.clone())
            .wrap(http::default_headers())
            .wrap(actix_web::middleware::from_fn(http::telemetry::observe))
            .configure(http::configure(http::routes::Listener::Operations))
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(shutdown_timeout)
    .client_request_timeout(Duration::from_secs(30))
    .disable_signals()
    .workers(1)
    .listen(ops_listener)
    .context("cannot serve on the operations listener")?;
    for address in server.addrs() {
        tracing::info!(%address, "listening");
    }
    for address in ops_server.addrs() {
        tracing::info!(%address, "operations listening");
    }
    let server = server.run();
    let ops_server = ops_server.run();
    let handle = server.handle();
    let ops_handle = ops_server.handle();
    let drain = Duration::from_millis(state.config.server.shutdown_drain_ms);
    let draining = state.clone();
    actix_web::rt::spawn(async move {
        shutdown.await;
        // First no new connections (under socket activation they wait in the socket's queue
        // for the next engine), while those accepted go on being served for the drain, each
        // response closing its connection: one accepted just before the stop, whose request
        // has not arrived yet, is answered rather than reset.
        tracing::info!("stopping: no new connections, draining those accepted");
        draining
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        handle.pause().await;
        tokio::time::sleep(drain).await;
        tracing::info!("stopping: closing idle connections, finishing requests in flight");
        // One stop stops both listeners.
        tokio::join!(
            handle.stop(true),
            ops_handle.stop(true),
            control_handle.stop(true)
        );
    });
    // Let the stop task run up to its first wait (in `run`: the signal handlers are installed),
    // then `start` returns: the server accepts connections.
    tokio::task::yield_now().await;
    let _ = ready.send(());
    let (served, ops_served, control_served) = tokio::join!(server, ops_server, control);
    if let Some(schedule) = schedule {
        schedule.abort();
        let _ = schedule.await;
    }
    let _ = std::fs::remove_file(&socket);
    served.context("http server failed")?;
    ops_served.context("operations server failed")?;
    control_served.context("control socket server failed")?;
    heartbeat.abort();
    let _ = web::block(move || {
        http::rapportages::record_alive(&*last.store, last.run, last.clock.now());
        flush_last_used(&last.catalog, jiff::SignedDuration::ZERO);
    })
    .await;
    tracing::info!("http server stopped, stopping actors");
    stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    actors.stop();
    webhooks.stop();
    Ok(())
}

/// Records every [`HEARTBEAT`] that this run is up (for availability); the first at once.
async fn heartbeat(state: web::Data<AppState>) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        beat.tick().await;
        let state = state.clone();
        let _ = web::block(move || {
            http::rapportages::record_alive(&*state.store, state.run, state.clock.now());
            flush_last_used(&state.catalog, LAST_USED_WRITE_INTERVAL);
        })
        .await;
    }
}

/// Writes the API keys' last uses that are due (see `catalog`'s header): from the heartbeat,
/// each key at most once a minute; at shutdown, with a zero interval, every newer one. Blocking.
fn flush_last_used(catalog: &Catalog, interval: jiff::SignedDuration) {
    if let Err(error) = catalog.flush_last_used(interval) {
        tracing::warn!(%error, "cannot record the api keys' last use");
    }
}

/// How often a run records that it is up: a crash costs availability at most this much more
/// than the outage itself.
const HEARTBEAT: Duration = Duration::from_secs(15);
