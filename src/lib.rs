//! The Berichtenbox engine: the server and its command line.
//!
//! # Layout
//!
//! - [`config`]: the typed configuration, its documented defaults and its validation.
//! - [`http`]: the HTTP edge: routes, JSON, authentication, problem+json.
//! - [`server`]: start-up (store, catalog, actors, HTTP) and the one shutdown path; `start`
//!   runs the engine in the calling process (the tests' sandbox), `run` is the binary's.
//! - [`tls`]: TLS on the API listener, client certificates and their OIN, reload on SIGHUP.
//!
//! The actors, the pure core and the store live in the `berichtenbox-actors` crate.

pub mod config;
pub mod http;
pub mod server;
pub mod tls;
