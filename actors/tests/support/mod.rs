//! Helpers shared by the actors crate's integration tests.

pub mod smtp;
pub mod wait;
