//! The Berichtenbox engine's inside: the pure core, the store, and the actors that run them.
//!
//! # Layout
//!
//! - [`core`]: sans-I/O rules and decisions (BSN, field rules, routing, throttle, clock).
//! - [`store`]: the store's roles (parking, processing, receipts, notifications, citizens,
//!   afnemers, reports, admin; [`store::Store`] is all of them), their conformance suite, and
//!   the embedded fjall implementation with one group-committing writer per shard.
//! - [`afnemer`]: the supervised actor per afnemer that throttles and parks its batches.
//! - [`catalog`]: afnemers and API-key hashes in memory, written through to the store.
//! - [`pacemaker`]: the beat that sends `Drain` to the processors and the notifier.
//! - [`processor`]: one processing actor per shard: gathers a round's facts, lets
//!   [`core::round`] decide it, and applies the decision (claims, deliveries, receipts).
//! - [`pusher`]: the webhook dispatcher: each receipt to its afnemer's webhook until a 2xx.
//! - [`registry`]: finds or starts an afnemer's actor, concurrently.
//! - [`notifier`]: the dispatcher that sends notifications in arrival order within the caps.
//! - [`notify`]: composes the notification e-mail and sends it, blocking, to the outbox
//!   folder or an SMTP relay; says whether a failure is worth a retry.
//! - [`telemetry`]: the one list of every metric: names, kinds, units, labels, help texts.
//! - [`webhook`]: the one outbound HTTP call: POST a receipt, already serialised by the caller,
//!   to an afnemer's webhook, and say whether to retry it.
//!
//! This crate knows no JSON (the root crate does); its only HTTP is the outbound webhook call.

pub mod abonnementen;
pub mod afnemer;
pub mod catalog;
pub mod core;
pub mod expirer;
pub mod notifier;
pub mod notify;
pub mod pacemaker;
pub mod processor;
pub mod pusher;
pub mod registry;
pub mod store;
pub mod telemetry;
pub mod webhook;
