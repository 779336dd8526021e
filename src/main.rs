//! The `berichtenbox` command: `serve` runs the engine, `config` prints the documented defaults,
//! `backup` takes a consistent backup (through a serving engine's control socket, or of a
//! stopped engine's data directory itself), `restore` makes a new data directory of one.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use berichtenbox::config::{Config, DEFAULT_CONFIG_TOML, Overrides};
use clap::{Parser, Subcommand};

/// The Berichtenbox engine: afnemers deliver batches of berichten, the engine parks them durably.
#[derive(Debug, Parser)]
#[command(name = "berichtenbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine: by default on 127.0.0.1:8080 with its data in ./data.
    Serve {
        /// A TOML configuration file (`berichtenbox config` prints one with every default).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to listen on, over the file's server.listen (not bound when systemd passes
        /// the socket: LISTEN_FDS).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Address of the operations listener (/metrics), over the file's server.ops_listen
        /// (not bound when systemd passes a second socket).
        #[arg(long, value_name = "ADDR")]
        ops_listen: Option<SocketAddr>,
        /// Data directory, over the file's store.data_dir.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Print the default configuration, every field documented.
    Config,
    /// Take a consistent backup of a data directory: through the engine serving from it (its
    /// control socket DIR/beheer.sock), or, with no engine running, by opening it.
    Backup {
        /// A TOML configuration file (its [store] section is used when no engine runs).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The data directory, over the file's store.data_dir.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where the backup goes: a new or empty directory.
        #[arg(long, value_name = "BACKUPDIR")]
        naar: PathBuf,
    },
    /// Make a new data directory from a backup, after checking the backup whole.
    Restore {
        /// A TOML configuration file (its [store] section's settings are used).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The backup directory.
        #[arg(long, value_name = "BACKUPDIR")]
        van: PathBuf,
        /// The new data directory: it must not exist, or be empty.
        #[arg(long, value_name = "NEWDIR")]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Config => {
            print!("{DEFAULT_CONFIG_TOML}");
            Ok(())
        }
        Command::Backup {
            config,
            data_dir,
            naar,
        } => {
            init_logging("warn,fjall=warn,lsm_tree=warn");
            let config = Config::load(config.as_deref(), data_dir_only(data_dir))?;
            backup(&config, &naar)
        }
        Command::Restore {
            config,
            van,
            data_dir,
        } => {
            init_logging("warn,fjall=warn,lsm_tree=warn");
            let config = Config::load(config.as_deref(), data_dir_only(Some(data_dir)))?;
            let began = std::time::Instant::now();
            let manifest =
                berichtenbox_actors::store::embedded::backup::restore(&van, &config.store)
                    .with_context(|| format!("the backup in {} is not restored", van.display()))?;
            println!(
                "restored {} into {}: {} shards, {} bytes, {} entries, cut at {}, took {:.3} s",
                van.display(),
                config.store.data_dir.display(),
                manifest.shards,
                manifest.bytes(),
                manifest.entries(),
                manifest.aangemaakt_op,
                began.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            ops_listen,
            data_dir,
        } => {
            init_logging("info,fjall=warn,lsm_tree=warn");
            let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
            let overrides = Overrides {
                listen,
                ops_listen,
                data_dir,
                beheer_token: env("BERICHTENBOX_BEHEER_TOKEN"),
                burger_jwt_secret: env("BERICHTENBOX_BURGER_JWT_SECRET"),
            };
            let config = Config::load(config.as_deref(), overrides)?;
            if config.auth.beheer_token.is_empty() {
                tracing::warn!("no beheer token configured: the /v1/beheer endpoints answer 401");
            }
            let metrics = berichtenbox::server::install_metrics()?;
            berichtenbox::server::run(config, Some(metrics))
        }
    }
}

/// Logs to stderr, filtered by `BERICHTENBOX_LOG` or else `default`.
fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERICHTENBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// The overrides of a command that takes only a data directory.
fn data_dir_only(data_dir: Option<PathBuf>) -> Overrides {
    Overrides {
        listen: None,
        ops_listen: None,
        data_dir,
        beheer_token: None,
        burger_jwt_secret: None,
    }
}

/// `berichtenbox backup`: through the serving engine, or offline when none serves.
fn backup(config: &Config, naar: &std::path::Path) -> anyhow::Result<()> {
    use berichtenbox_actors::store::StoreError;
    use berichtenbox_actors::store::embedded::{EmbeddedStore, data_dir_in_use};
    let data_dir = &config.store.data_dir;
    // The engine's working directory is not ours.
    let naar = std::path::absolute(naar)
        .with_context(|| format!("cannot make {} absolute", naar.display()))?;
    let summary = if data_dir_in_use(data_dir)? {
        berichtenbox::backup::request_backup(data_dir, &naar)?
    } else {
        if !data_dir.join("catalog").is_dir() {
            anyhow::bail!(
                "{} holds no data directory of the engine",
                data_dir.display()
            );
        }
        match EmbeddedStore::open(config.store.clone()) {
            Ok(store) => {
                let manifest = store
                    .backup(
                        &naar,
                        &berichtenbox_actors::core::clock::SharedClock::system(),
                    )
                    .context("the backup failed")?;
                berichtenbox_actors::store::Admin::close(&store)?;
                berichtenbox::backup::BackupSummary::of(&naar, &manifest)
            }
            // An engine started in the meantime.
            Err(StoreError::InUse { .. }) => berichtenbox::backup::request_backup(data_dir, &naar)?,
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot open the store in {}", data_dir.display()));
            }
        }
    };
    print!("{}", summary.report());
    Ok(())
}
