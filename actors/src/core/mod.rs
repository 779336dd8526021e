//! The sans-I/O core: plain functions over plain types, tested without sockets or clocks.
//!
//! Nothing here performs I/O or reads the system clock; actors and HTTP handlers are thin
//! shells around these pieces.

pub mod address;
pub mod backoff;
pub mod bsn;
pub mod caps;
pub mod clock;
pub mod model;
pub mod nacht;
pub mod onderhoud;
pub mod prognose;
pub mod round;
pub mod routing;
pub mod rules;
pub mod throttle;
pub mod time;
pub mod verwerking;
