//! The engine's one typed configuration: read from TOML, overridden by the environment and the
//! command line, validated once at start-up, then passed explicitly.
//!
//! [`DEFAULT_CONFIG_TOML`] is the documented default file (`berichtenbox config` prints it); a
//! test keeps it equal to [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default configuration, every field with its meaning. Parsing it yields `Config::default()`.
pub const DEFAULT_CONFIG_TOML: &str = r#"# Berichtenbox engine configuration. Every field is optional; shown are the defaults.

[server]
# Address and port to listen on.
listen = "127.0.0.1:8080"
# HTTP worker threads; 0 means one per CPU core.
workers = 0
# Largest request body accepted, in bytes (a larger one is answered 413).
max_body_bytes = 67108864
# Memory reserved for request bodies in flight, all requests together, in bytes. A request
# that finds no room is answered 503 with Retry-After before its body is read.
in_flight_bytes = 536870912
# On SIGTERM or SIGINT: how long requests in flight may take to finish, in seconds.
shutdown_timeout_seconds = 30

[store]
# Where the embedded store keeps its data.
data_dir = "./data"
# Number of shards; each is its own database with its own journal and writer thread. It is
# fixed when the data directory is first created.
shards = 4
# Batches that may wait for one shard's writer; beyond, parking is refused with 503.
queue_capacity = 512
# The most berichten one group commit (one sync) takes.
max_group_messages = 16384
# Parking is refused (503) while the data directory's file system has less free space, in bytes.
min_free_disk_bytes = 268435456
# Block cache of each shard, in bytes.
cache_bytes_per_shard = 33554432

[afnemers]
# Rate of an afnemer registered without one: berichten per second, sustained.
berichten_per_seconde = 45
# Burst of an afnemer registered without one: berichten at once.
burst = 1000
# Batches that may wait in one afnemer actor's mailbox; beyond, 503 with Retry-After.
mailbox_capacity = 256

[auth]
# The operator's bearer token for /v1/beheer; empty disables those endpoints (401).
# Environment: BERICHTENBOX_BEHEER_TOKEN.
beheer_token = ""
# HS256 secret of citizens' tokens. Environment: BERICHTENBOX_BURGER_JWT_SECRET.
burger_jwt_secret = ""
"#;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub afnemers: AfnemersConfig,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub in_flight_bytes: usize,
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub shards: usize,
    pub queue_capacity: usize,
    pub max_group_messages: usize,
    pub min_free_disk_bytes: u64,
    pub cache_bytes_per_shard: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AfnemersConfig {
    pub berichten_per_seconde: u32,
    pub burst: u32,
    pub mailbox_capacity: usize,
}

#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub beheer_token: String,
    pub burger_jwt_secret: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("beheer_token", &redacted(&self.beheer_token))
            .field("burger_jwt_secret", &redacted(&self.burger_jwt_secret))
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<set>"
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_body_bytes: 64 << 20,
            in_flight_bytes: 512 << 20,
            shutdown_timeout_seconds: 30,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            shards: 4,
            queue_capacity: 512,
            max_group_messages: 16384,
            min_free_disk_bytes: 256 << 20,
            cache_bytes_per_shard: 32 << 20,
        }
    }
}

impl Default for AfnemersConfig {
    fn default() -> Self {
        Self {
            berichten_per_seconde: 45,
            burst: 1000,
            mailbox_capacity: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values the command line and environment put over the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub beheer_token: Option<String>,
    pub burger_jwt_secret: Option<String>,
}

impl Config {
    /// Reads the file if given (else the defaults), applies the overrides and validates.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => Self::default(),
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(data_dir) = overrides.data_dir {
            config.store.data_dir = data_dir;
        }
        if let Some(token) = overrides.beheer_token {
            config.auth.beheer_token = token;
        }
        if let Some(secret) = overrides.burger_jwt_secret {
            config.auth.burger_jwt_secret = secret;
        }
        config.validate()?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.store.shards == 0 || self.store.shards > 1024 {
            return fail("store.shards must be 1 to 1024");
        }
        if self.store.queue_capacity == 0 || self.afnemers.mailbox_capacity == 0 {
            return fail("store.queue_capacity and afnemers.mailbox_capacity must be at least 1");
        }
        if self.store.max_group_messages == 0 {
            return fail("store.max_group_messages must be at least 1");
        }
        if self.afnemers.berichten_per_seconde == 0 || self.afnemers.burst == 0 {
            return fail("afnemers.berichten_per_seconde and afnemers.burst must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes must be at least 1024");
        }
        if self.server.in_flight_bytes < self.server.max_body_bytes {
            return fail("server.in_flight_bytes must be at least server.max_body_bytes");
        }
        if self.server.in_flight_bytes / 1024 > tokio::sync::Semaphore::MAX_PERMITS {
            return fail("server.in_flight_bytes is too large");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_are_the_defaults() {
        assert_eq!(
            Config::parse(DEFAULT_CONFIG_TOML).expect("parses"),
            Config::default()
        );
        Config::default().validate().expect("defaults are valid");
    }

    #[test]
    fn readme_shows_the_documented_defaults() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(DEFAULT_CONFIG_TOML),
            "README.md's configuration block differs from DEFAULT_CONFIG_TOML"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = Config::parse("[server]\nlisten_on = \"127.0.0.1:1\"\n").expect_err("refused");
        assert!(error.to_string().contains("listen_on"), "{error}");
    }

    #[test]
    fn overrides_win_and_validation_runs() {
        let overrides = Overrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
            beheer_token: Some("t".into()),
            ..Overrides::default()
        };
        let config = Config::load(None, overrides).expect("valid");
        assert_eq!(config.server.listen.port(), 9);
        assert_eq!(config.auth.beheer_token, "t");
        let mut bad = Config::default();
        bad.server.in_flight_bytes = 1;
        assert!(bad.validate().is_err());
    }
}
