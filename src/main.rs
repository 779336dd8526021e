//! The `berichtenbox` command: `serve` runs the engine, `config` prints the documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Config => {
            print!("{DEFAULT_CONFIG_TOML}");
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            ops_listen,
            data_dir,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("BERICHTENBOX_LOG").unwrap_or_else(
                        |_| tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn"),
                    ),
                )
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
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
