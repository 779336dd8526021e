//! The injected clock: wall time for dates and day boundaries, monotonic time for rates.
//!
//! Nothing in the engine reads the system clock directly; it asks a [`Clock`]. Tests hand in a
//! [`ManualClock`] and move it forward instead of sleeping. This module also adapts a clock to
//! governor's clock trait, so the rate limiter runs on the same injected time.

use std::fmt::Debug;
use std::ops::Add;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::nanos::Nanos;
use jiff::Timestamp;

/// A source of wall-clock and monotonic time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;
    /// Nanoseconds on a monotonic scale that never goes back; its origin is arbitrary.
    fn monotonic_nanos(&self) -> u64;
}

/// The operating system's clocks.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn monotonic_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    wall_nanos: AtomicI64,
    monotonic_nanos: AtomicU64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        let wall = i64::try_from(start.as_nanosecond()).unwrap_or(i64::MAX);
        Self {
            wall_nanos: AtomicI64::new(wall),
            monotonic_nanos: AtomicU64::new(0),
        }
    }

    /// Moves both the wall clock and the monotonic clock forward.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.monotonic_nanos.fetch_add(nanos, Ordering::SeqCst);
        self.wall_nanos
            .fetch_add(i64::try_from(nanos).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanosecond(i128::from(self.wall_nanos.load(Ordering::SeqCst)))
            .unwrap_or(Timestamp::MAX)
    }

    fn monotonic_nanos(&self) -> u64 {
        self.monotonic_nanos.load(Ordering::SeqCst)
    }
}

/// A cheap, cloneable handle on the engine's clock.
#[derive(Debug, Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self(clock)
    }

    pub fn system() -> Self {
        Self(Arc::new(SystemClock::new()))
    }

    pub fn now(&self) -> Timestamp {
        self.0.now()
    }

    /// Nanoseconds on the clock's monotonic scale (for rates; never goes back).
    pub fn monotonic_nanos(&self) -> u64 {
        self.0.monotonic_nanos()
    }
}

/// A point on the monotonic scale, as governor wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonotonicInstant(u64);

impl Add<Nanos> for MonotonicInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        Self(self.0.saturating_add(other.as_u64()))
    }
}

impl governor::clock::Reference for MonotonicInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(Duration::from_nanos(self.0.saturating_sub(earlier.0)))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        Self(self.0.saturating_sub(duration.as_u64()))
    }
}

impl governor::clock::Clock for SharedClock {
    type Instant = MonotonicInstant;

    fn now(&self) -> MonotonicInstant {
        MonotonicInstant(self.0.monotonic_nanos())
    }
}
