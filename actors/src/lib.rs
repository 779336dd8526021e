//! The Berichtenbox engine's inside: the pure core, the store, and the actors that run them.
//!
//! # Layout
//!
//! - [`core`]: sans-I/O rules and decisions (BSN, field rules, routing, throttle, clock).
//! - [`store`]: the [`store::Store`] trait and its embedded fjall implementation with one
//!   group-committing writer per shard.
//! - [`afnemer`]: the supervised actor per afnemer that throttles and parks its batches.
//! - [`catalog`]: afnemers and API-key hashes in memory, written through to the store.
//! - [`registry`]: finds or starts an afnemer's actor, concurrently.
//!
//! This crate knows nothing of HTTP or JSON; the root crate does.

pub mod afnemer;
pub mod catalog;
pub mod core;
pub mod registry;
pub mod store;
