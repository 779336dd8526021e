//! The per-afnemer rate decision: GCRA (governor) over berichten, on the injected clock.
//!
//! A batch of n berichten takes n cells at once or none. The answer says how long until there is
//! room, which the HTTP edge turns into `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::clock::{MonotonicInstant, SharedClock};

/// An afnemer's rate: berichten per second sustained, and the burst it may send at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub berichten_per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Quota {
        Quota::per_second(self.berichten_per_second).allow_burst(self.burst)
    }
}

/// What the throttle says about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// No room now; there will be after this long.
    NotBefore(Duration),
    /// Larger than the burst: it can never pass whole. The duration is a full refill.
    LargerThanBurst(Duration),
}

/// One afnemer's limiter.
#[derive(Debug)]
pub struct Throttle {
    rate: Rate,
    limiter: RateLimiter<NotKeyed, InMemoryState, SharedClock, NoOpMiddleware<MonotonicInstant>>,
    clock: SharedClock,
}

impl Throttle {
    pub fn new(rate: Rate, clock: SharedClock) -> Self {
        let limiter = RateLimiter::direct_with_clock(rate.quota(), clock.clone());
        Self {
            rate,
            limiter,
            clock,
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes `berichten` cells if all fit; takes nothing otherwise.
    pub fn admit(&self, berichten: NonZeroU32) -> Admission {
        match self.limiter.check_n(berichten) {
            Ok(Ok(())) => Admission::Admitted,
            Ok(Err(not_until)) => Admission::NotBefore(
                not_until.wait_time_from(governor::clock::Clock::now(&self.clock)),
            ),
            Err(_) => {
                let refill = Duration::from_secs_f64(
                    f64::from(self.rate.burst.get())
                        / f64::from(self.rate.berichten_per_second.get()),
                );
                Admission::LargerThanBurst(refill)
            }
        }
    }
}

/// Whole seconds to put in `Retry-After`: rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;
    use std::sync::Arc;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    fn setup(per_second: u32, burst: u32) -> (Arc<ManualClock>, Throttle) {
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let shared = SharedClock::new(clock.clone());
        let throttle = Throttle::new(
            Rate {
                berichten_per_second: nz(per_second),
                burst: nz(burst),
            },
            shared,
        );
        (clock, throttle)
    }

    #[test]
    fn default_rate_admits_the_burst_then_45_a_second() {
        let (clock, throttle) = setup(45, 1000);
        // The full burst passes at once, in batches of 100.
        for _ in 0..10 {
            assert_eq!(throttle.admit(nz(100)), Admission::Admitted);
        }
        // Then not one bericht more.
        let Admission::NotBefore(wait) = throttle.admit(nz(1)) else {
            panic!("expected a wait")
        };
        assert_eq!(wait, Duration::from_nanos(1_000_000_000 / 45));
        assert_eq!(retry_after_seconds(wait), 1);
        // A batch of 90 needs two seconds of refill.
        let Admission::NotBefore(wait) = throttle.admit(nz(90)) else {
            panic!("expected a wait")
        };
        assert_eq!(retry_after_seconds(wait), 2);
        // After exactly ten seconds, 450 fit and 451 do not.
        clock.advance(Duration::from_secs(10));
        assert!(matches!(throttle.admit(nz(451)), Admission::NotBefore(_)));
        assert_eq!(throttle.admit(nz(450)), Admission::Admitted);
        assert!(matches!(throttle.admit(nz(1)), Admission::NotBefore(_)));
    }

    #[test]
    fn a_refused_batch_takes_nothing() {
        let (clock, throttle) = setup(45, 1000);
        assert_eq!(throttle.admit(nz(1000)), Admission::Admitted);
        for _ in 0..100 {
            assert!(matches!(throttle.admit(nz(45)), Admission::NotBefore(_)));
        }
        clock.advance(Duration::from_secs(1));
        assert_eq!(throttle.admit(nz(45)), Admission::Admitted);
    }

    #[test]
    fn a_batch_larger_than_the_burst_never_passes() {
        let (_clock, throttle) = setup(10, 50);
        assert_eq!(
            throttle.admit(nz(51)),
            Admission::LargerThanBurst(Duration::from_secs(5))
        );
        assert_eq!(throttle.admit(nz(50)), Admission::Admitted);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
