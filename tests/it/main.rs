//! The root crate's integration tests, in one test binary: one module per subject.
//!
//! `support` is the sandbox every module shares (see ARCHITECTURE.md, "Test layout").

mod support;

mod abonnementen;
mod backup;
mod batches;
mod browser_harness;
mod burger_auth;
mod burgers;
mod connections;
mod crash;
mod crash_processing;
mod examples;
mod fixtures;
mod limits;
mod loadtest_smoke;
mod monitoring;
mod openapi;
mod portaal;
mod portaal_browser;
mod rapportages;
mod restart;
mod retention;
mod startup;
mod tls;
mod verwerking;
mod webhooks;
