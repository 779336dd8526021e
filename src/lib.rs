//! The Berichtenbox engine: the server and its command line.
//!
//! # Layout
//!
//! - [`backup`]: backups of a serving engine: the control socket, the `[backup]` schedule
//!   with its pruning, and the command line's client of the socket.
//! - [`config`]: the typed configuration, its documented defaults and its validation.
//! - [`http`]: the HTTP edge: routes, JSON, authentication, problem+json.
//! - [`server`]: start-up (store, catalog, actors, HTTP) and the one shutdown path; `start`
//!   runs the engine in the calling process (the tests' sandbox), `run` is the binary's.
//! - [`tls`]: TLS on the API listener, client certificates and their OIN, reload on SIGHUP.
//!
//! - `fuzzing` (tests and the `fuzzing` feature only): the fuzz targets' bodies, run by
//!   `fuzz/` and replayed over the committed corpora by its tests.
//!
//! The actors, the pure core and the store live in the `berichtenbox-actors` crate.

pub mod backup;
pub mod config;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod server;
pub mod tls;
