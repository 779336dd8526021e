//! Start-up and shutdown: open the store, rebuild the catalog, start the actors' arbiter and the
//! HTTP server, and on SIGTERM or SIGINT stop in one path.
//!
//! Shutdown: actix stops accepting, lets requests in flight finish (each ends in its 202 after
//! the covering sync, or in an error) within the configured timeout; then the afnemer actors
//! stop, the store's writers drain what is queued and the shards are synced; then `run` returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor as _;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use berichtenbox_actors::catalog::Catalog;
use berichtenbox_actors::core::backoff::Backoff;
use berichtenbox_actors::core::caps::{Caps, amsterdam};
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::notifier::{self, NotifierConfig};
use berichtenbox_actors::notify::mail::Mailer;
use berichtenbox_actors::notify::{MailTransportConfig, SmtpCredentials, SmtpRelay, SmtpTls};
use berichtenbox_actors::processor::{self, Pacemaker};
use berichtenbox_actors::pusher::{ReceiptSerializer, WebhookDispatcher};
use berichtenbox_actors::registry::Registry;
use berichtenbox_actors::store::embedded::EmbeddedStore;
use berichtenbox_actors::store::{RunRecord, Store};
use berichtenbox_actors::webhook::{WebhookClient, WebhookConfig};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

use crate::config::{Config, SmtpTlsMode};
use crate::http::{self, AppState};

/// The slowest the webhook dispatcher looks for receipts to push.
const WEBHOOK_BEAT: Duration = Duration::from_secs(1);

/// What runs behind the HTTP edge, built (and so checked) before anything starts.
struct Background {
    round_berichten: usize,
    beat: Duration,
    mailer: Mailer,
    notifier: NotifierConfig,
    webhooks: WebhookClient,
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
        let webhooks = WebhookClient::new(WebhookConfig {
            connect_timeout: Duration::from_secs(config.webhooks.connect_timeout_seconds),
            request_timeout: Duration::from_secs(config.webhooks.request_timeout_seconds),
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
        })
    }

    /// Starts the processors, the notifier and the webhook dispatcher; runs on an arbiter.
    fn start(self, store: Arc<dyn Store>, catalog: Arc<Catalog>, clock: SharedClock) {
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
        actix::Arbiter::new().spawn_fn(move || {
            dispatcher.start();
        });
    }
}

/// Opens the embedded store the configuration describes.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
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

/// Runs the engine until SIGTERM or SIGINT, then shuts down cleanly.
pub fn run(config: Config, metrics: Option<PrometheusHandle>) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let catalog = Arc::new(Catalog::load(store.clone()).context("cannot load the catalog")?);
    let clock = SharedClock::system();

    let system = actix_web::rt::System::new();
    let served = system.block_on(serve(config, store.clone(), catalog, clock, metrics));
    let closed = store.close().context("cannot close the store cleanly");
    served?;
    closed?;
    tracing::info!("stopped");
    Ok(())
}

async fn serve(
    config: Config,
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    metrics: Option<PrometheusHandle>,
) -> anyhow::Result<()> {
    let actors = actix::Arbiter::new();
    let background = Background::build(&config, &clock)?;
    let started = {
        let (store, catalog, clock) = (store.clone(), catalog.clone(), clock.clone());
        actors.spawn_fn(move || background.start(store, catalog, clock))
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
    let listen: SocketAddr = config.server.listen;
    let workers = config.server.workers;
    let shutdown_timeout = config.server.shutdown_timeout_seconds;
    let in_flight = Arc::new(Semaphore::new(config.server.in_flight_bytes / 1024));
    let burger = http::burger::BurgerVerifier::from_config(&config.auth)?;
    let vensters = config.onderhoud.vensters()?;
    let validaties = http::validaties::Uurlimiet::new(config.validaties.per_uur);
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
        metrics,
        burger,
        zone,
        vensters,
        run,
        validaties,
    });
    let heartbeat = actix_web::rt::spawn(heartbeat(state.clone()));
    let last = state.clone();

    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(http::default_headers())
            .wrap(actix_web::middleware::from_fn(http::telemetry::observe))
            .configure(http::configure)
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(shutdown_timeout)
    .client_request_timeout(Duration::from_secs(30))
    // actix treats SIGINT as a forced stop that drops requests in flight; both signals mean
    // the same graceful stop here (see `stop_on_signal`).
    .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server
        .bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    for address in server.addrs() {
        tracing::info!(%address, "listening");
        // One line on stdout, for whoever started the engine (and for tests that asked for port 0).
        println!("listening on http://{address}");
    }
    let server = server.run();
    actix_web::rt::spawn(stop_on_signal(server.handle()));
    server.await.context("http server failed")?;
    heartbeat.abort();
    let _ = web::block(move || {
        http::rapportages::record_alive(&*last.store, last.run, last.clock.now());
    })
    .await;
    tracing::info!("http server stopped, stopping actors");
    actors.stop();
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
        })
        .await;
    }
}

/// How often a run records that it is up: a crash costs availability at most this much more
/// than the outage itself.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Waits for SIGTERM or SIGINT, then stops the server gracefully: no new connections, and the
/// requests in flight end (a 202 after its sync, or an error) within the shutdown timeout.
async fn stop_on_signal(server: actix_web::dev::ServerHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM and SIGINT; stop the engine with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(
        signal = name,
        "stopping: no new connections, finishing requests in flight"
    );
    server.stop(true).await;
}
