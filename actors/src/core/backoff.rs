//! The retry schedule for pushing a receipt to an afnemer's webhook: exponential backoff with
//! jitter, capped between attempts, that gives up a fixed age after the receipt was first
//! offered (API.md: "retries with backoff until a 2xx, for up to 6 days").
//!
//! Owns only the arithmetic: after a failed attempt at `now`, when is the next one, or is it
//! time to give up. It must not read a clock, draw its own random numbers, sleep or do I/O: the
//! caller (the webhook dispatcher) passes the current time and a random `u64`, and keeps each
//! receipt's [`RetryState`] between attempts. Whether an answer calls for a retry at all is
//! [`crate::webhook`]'s decision, not this module's.
//!
//! With the defaults (first retry after 1 s, doubling, at most 15 minutes apart, 6 days) and no
//! jitter, a receipt whose afnemer never answers is tried 586 times: the first offer, 10 retries
//! on the ramp (1 s, 2 s, ... 512 s, together 1023 s), 574 at 15-minute intervals, and a last one
//! exactly at the 6-day deadline. Jitter spreads the retries of many receipts so that an
//! afnemer that comes back is not hit by all of them at once, and shortens the steady interval:
//! with the default "equal jitter" it is 7.5 to 15 minutes (11.25 on average: about 780
//! attempts in 6 days), with "full jitter" 0 to 15 (7.5 on average: about 1160).
//!
//! Decorrelated jitter (`min(max, uniform in [initial, 3 * previous])`) is left out on purpose:
//! its delay keeps falling back from the cap and settles around a third of it, so a receipt
//! whose afnemer is down is tried some 1200 to 1600 times in 6 days, with a wide spread, and it
//! needs the previous delay kept per receipt. The schedules here depend only on the number of
//! failures, so [`RetryState`] is two plain values.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// How a delay is drawn from its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness: the delay after the n-th failure is `min(max, initial * 2^(n-1))`.
    None,
    /// "Equal jitter": uniform in `[c / 2, c]` for that ceiling `c`. Half the ceiling is kept,
    /// so no retry follows its failure at once and the attempts while an afnemer is down stay
    /// few; the other half spreads them.
    #[default]
    Equal,
    /// "Full jitter": uniform in `[0, c]`. The widest spread, twice the attempts of no jitter.
    Full,
}

/// The schedule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The delay before the first retry (before jitter).
    pub initial: Duration,
    /// The longest delay between two attempts.
    pub max_interval: Duration,
    /// How long after the receipt was first offered the last attempt may be made.
    pub give_up_after: Duration,
    pub jitter: Jitter,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max_interval: Duration::from_secs(15 * 60),
            give_up_after: Duration::from_secs(6 * 24 * 60 * 60),
            jitter: Jitter::default(),
        }
    }
}

/// A [`BackoffConfig`] that cannot make a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackoffConfigError {
    #[error("initial delay must be more than zero")]
    ZeroInitial,
    #[error("max interval ({max_interval:?}) must be at least the initial delay ({initial:?})")]
    MaxBelowInitial {
        initial: Duration,
        max_interval: Duration,
    },
    #[error("give-up age must be more than zero")]
    ZeroGiveUp,
    #[error("give-up age ({0:?}) is out of range")]
    GiveUpOutOfRange(Duration),
}

/// What the schedule says after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this moment (never later than the give-up deadline).
    At(Timestamp),
    /// The deadline has passed: stop pushing this receipt.
    GiveUp,
}

/// What the dispatcher keeps per receipt between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    /// When the receipt was first offered; the give-up age counts from here.
    pub first_offered: Timestamp,
    /// Failed attempts so far.
    pub failures: u32,
}

impl RetryState {
    pub fn new(first_offered: Timestamp) -> Self {
        Self {
            first_offered,
            failures: 0,
        }
    }
}

/// A validated retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    config: BackoffConfig,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Result<Self, BackoffConfigError> {
        if config.initial.is_zero() {
            return Err(BackoffConfigError::ZeroInitial);
        }
        if config.max_interval < config.initial {
            return Err(BackoffConfigError::MaxBelowInitial {
                initial: config.initial,
                max_interval: config.max_interval,
            });
        }
        if config.give_up_after.is_zero() {
            return Err(BackoffConfigError::ZeroGiveUp);
        }
        if SignedDuration::try_from(config.give_up_after).is_err() {
            return Err(BackoffConfigError::GiveUpOutOfRange(config.give_up_after));
        }
        Ok(Self { config })
    }

    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// The last moment an attempt may be made: `first_offered + give_up_after`.
    pub fn deadline(&self, first_offered: Timestamp) -> Timestamp {
        add_saturating(first_offered, self.config.give_up_after)
    }

    /// The delay after the `failures`-th failed attempt (1 for the first), drawn with a
    /// uniformly random `u64`. Never more than `max_interval`; for one `random`, never less
    /// than the delay after the failure before.
    pub fn delay(&self, failures: u32, random: u64) -> Duration {
        let initial = nanos(self.config.initial);
        let max = nanos(self.config.max_interval);
        let doublings = failures.saturating_sub(1);
        let ceiling = if doublings >= 64 {
            max
        } else {
            // initial < 2^64 and doublings < 64, so this fits in a u128.
            (initial << doublings).min(max)
        };
        let delay = match self.config.jitter {
            Jitter::None => ceiling,
            Jitter::Equal => between(ceiling / 2, ceiling, random),
            Jitter::Full => between(0, ceiling, random),
        };
        Duration::from_nanos(u64::try_from(delay).unwrap_or(u64::MAX))
    }

    /// After a failed attempt at `now`: counts the failure in `state` and answers when to try
    /// next, or [`Retry::GiveUp`] once `now` has reached the deadline. A retry is never
    /// scheduled past the deadline: one that would be is moved to the deadline itself, so the
    /// last attempt is made at exactly the give-up age.
    pub fn after_failure(&self, state: &mut RetryState, now: Timestamp, random: u64) -> Retry {
        state.failures = state.failures.saturating_add(1);
        let deadline = self.deadline(state.first_offered);
        if now >= deadline {
            return Retry::GiveUp;
        }
        let delay = self.delay(state.failures, random);
        Retry::At(add_saturating(now, delay).min(deadline))
    }

    /// Honours an afnemer's `Retry-After` of `wait` (counted from `now`) on top of `retry`: the
    /// later of the two, with `wait` cut to `max_interval` and the result to the deadline.
    pub fn respecting_retry_after(
        &self,
        retry: Retry,
        state: &RetryState,
        now: Timestamp,
        wait: Duration,
    ) -> Retry {
        match retry {
            Retry::GiveUp => Retry::GiveUp,
            Retry::At(at) => {
                let asked = add_saturating(now, wait.min(self.config.max_interval));
                Retry::At(at.max(asked).min(self.deadline(state.first_offered)))
            }
        }
    }
}

fn nanos(duration: Duration) -> u128 {
    duration.as_nanos().min(u128::from(u64::MAX))
}

/// `low + (high - low) * random / 2^64`: uniform in `[low, high)` for a uniform `random`, and
/// `low` when `high <= low`. The bounds are at most `u64::MAX`, so nothing overflows.
fn between(low: u128, high: u128, random: u64) -> u128 {
    let span = high.saturating_sub(low).min(u128::from(u64::MAX));
    low + ((span * u128::from(random)) >> 64)
}

fn add_saturating(at: Timestamp, by: Duration) -> Timestamp {
    SignedDuration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const SIX_DAYS: Duration = Duration::from_secs(6 * 24 * 60 * 60);
    const CAP: Duration = Duration::from_secs(15 * 60);
    const ALL: [Jitter; 3] = [Jitter::None, Jitter::Equal, Jitter::Full];

    fn start() -> Timestamp {
        "2026-11-28T12:00:00Z".parse().expect("timestamp")
    }

    fn schedule(jitter: Jitter) -> Backoff {
        Backoff::new(BackoffConfig {
            jitter,
            ..BackoffConfig::default()
        })
        .expect("valid config")
    }

    fn signed(duration: Duration) -> SignedDuration {
        SignedDuration::try_from(duration).expect("in range")
    }

    /// Plays a receipt whose afnemer never answers: the first offer at `start()`, then every
    /// retry the schedule asks for. Answers the attempts made (the first offer included) and
    /// the moment of the last one.
    fn attempts_until_give_up(backoff: &Backoff, rng: &mut StdRng) -> (u32, Timestamp) {
        let first_offered = start();
        let deadline = backoff.deadline(first_offered);
        let mut state = RetryState::new(first_offered);
        let mut now = first_offered;
        let mut attempts = 1;
        loop {
            match backoff.after_failure(&mut state, now, rng.random()) {
                Retry::At(at) => {
                    assert!(at >= now, "retry at {at} is before the failure at {now}");
                    assert!(
                        at <= deadline,
                        "retry at {at} is past the deadline {deadline}"
                    );
                    now = at;
                    attempts += 1;
                }
                Retry::GiveUp => return (attempts, now),
            }
        }
    }

    #[test]
    fn defaults_are_one_second_fifteen_minutes_six_days_equal_jitter() {
        let config = BackoffConfig::default();
        assert_eq!(config.initial, Duration::from_secs(1));
        assert_eq!(config.max_interval, CAP);
        assert_eq!(config.give_up_after, SIX_DAYS);
        assert_eq!(config.jitter, Jitter::Equal);
        assert_eq!(Backoff::default(), schedule(Jitter::Equal));
    }

    #[test]
    fn config_is_validated() {
        let zero_initial = BackoffConfig {
            initial: Duration::ZERO,
            ..BackoffConfig::default()
        };
        assert_eq!(
            Backoff::new(zero_initial),
            Err(BackoffConfigError::ZeroInitial)
        );
        let max_below = BackoffConfig {
            max_interval: Duration::from_millis(500),
            ..BackoffConfig::default()
        };
        assert!(matches!(
            Backoff::new(max_below),
            Err(BackoffConfigError::MaxBelowInitial { .. })
        ));
        let zero_give_up = BackoffConfig {
            give_up_after: Duration::ZERO,
            ..BackoffConfig::default()
        };
        assert_eq!(
            Backoff::new(zero_give_up),
            Err(BackoffConfigError::ZeroGiveUp)
        );
        let huge_give_up = BackoffConfig {
            give_up_after: Duration::MAX,
            ..BackoffConfig::default()
        };
        assert!(matches!(
            Backoff::new(huge_give_up),
            Err(BackoffConfigError::GiveUpOutOfRange(_))
        ));
    }

    #[test]
    fn without_jitter_the_delays_double_from_one_second_up_to_the_cap() {
        let backoff = schedule(Jitter::None);
        let delays: Vec<u64> = (1..=13)
            .map(|failures| backoff.delay(failures, 0).as_secs())
            .collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
        );
        assert_eq!(backoff.delay(u32::MAX, 0), CAP);
    }

    #[test]
    fn the_first_retry_comes_after_about_a_second() {
        let now = start();
        for random in [0, u64::MAX / 2, u64::MAX] {
            let mut state = RetryState::new(now);
            let Retry::At(at) = Backoff::default().after_failure(&mut state, now, random) else {
                panic!("gave up at once");
            };
            let delay = at.duration_since(now);
            assert!(
                delay >= SignedDuration::from_millis(500) && delay < SignedDuration::from_secs(1),
                "{delay:?}"
            );
            assert_eq!(state.failures, 1);

            let mut state = RetryState::new(now);
            let Retry::At(at) = schedule(Jitter::Full).after_failure(&mut state, now, random)
            else {
                panic!("gave up at once");
            };
            assert!(at.duration_since(now) < SignedDuration::from_secs(1));
        }
    }

    #[test]
    fn the_random_input_spans_the_jitter_range() {
        // The fifth failure has a ceiling of 16 s.
        let full = schedule(Jitter::Full);
        assert_eq!(full.delay(5, 0), Duration::ZERO);
        assert_eq!(full.delay(5, 1 << 63), Duration::from_secs(8));
        let top = full.delay(5, u64::MAX);
        assert!(top < Duration::from_secs(16) && top > Duration::from_millis(15_999));

        let equal = schedule(Jitter::Equal);
        assert_eq!(equal.delay(5, 0), Duration::from_secs(8));
        assert_eq!(equal.delay(5, 1 << 63), Duration::from_secs(12));
        let top = equal.delay(5, u64::MAX);
        assert!(top < Duration::from_secs(16) && top > Duration::from_millis(15_999));
        assert_eq!(equal.delay(30, 0), CAP / 2);
    }

    #[test]
    fn the_mean_delay_at_the_cap_is_what_the_jitter_says() {
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 20_000;
        for (jitter, mean) in [(Jitter::Equal, 675.0), (Jitter::Full, 450.0)] {
            let backoff = schedule(jitter);
            let sum: f64 = (0..draws)
                .map(|_| backoff.delay(40, rng.random()).as_secs_f64())
                .sum();
            let measured = sum / f64::from(draws);
            assert!(
                (measured - mean).abs() < mean * 0.02,
                "{jitter:?}: {measured}"
            );
        }
    }

    #[test]
    fn without_jitter_six_days_hold_exactly_586_attempts() {
        // 1 first offer + 10 ramp retries (ending at 1023 s) + floor((518400 - 1023) / 900) =
        // 574 capped retries (ending at 517623 s) + 1 last retry moved to the deadline.
        let backoff = schedule(Jitter::None);
        let (attempts, last) = attempts_until_give_up(&backoff, &mut StdRng::seed_from_u64(0));
        assert_eq!(attempts, 1 + 10 + 574 + 1);
        assert_eq!(last, backoff.deadline(start()));
        assert_eq!(last, start() + signed(SIX_DAYS));
    }

    #[test]
    fn gives_up_once_the_clock_is_past_six_days_and_not_before() {
        let backoff = Backoff::default();
        let first_offered = start();
        let deadline = first_offered + signed(SIX_DAYS);

        let mut state = RetryState::new(first_offered);
        let just_before = deadline - SignedDuration::from_millis(1);
        assert_eq!(
            backoff.after_failure(&mut state, just_before, u64::MAX),
            Retry::At(deadline)
        );
        assert_eq!(
            backoff.after_failure(&mut state, deadline, u64::MAX),
            Retry::GiveUp
        );
        let later = deadline + SignedDuration::from_secs(3600);
        assert_eq!(backoff.after_failure(&mut state, later, 0), Retry::GiveUp);
        assert_eq!(state.failures, 3);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap_and_the_deadline() {
        let backoff = schedule(Jitter::None);
        let now = start();
        let state = RetryState::new(now);
        let soon = Retry::At(now + SignedDuration::from_secs(2));
        assert_eq!(
            backoff.respecting_retry_after(soon, &state, now, Duration::from_secs(60)),
            Retry::At(now + SignedDuration::from_secs(60))
        );
        assert_eq!(
            backoff.respecting_retry_after(soon, &state, now, Duration::from_secs(1)),
            soon
        );
        assert_eq!(
            backoff.respecting_retry_after(soon, &state, now, Duration::from_secs(86_400)),
            Retry::At(now + signed(CAP))
        );
        let near_end = now + signed(SIX_DAYS) - SignedDuration::from_secs(10);
        let at_end = Retry::At(near_end + SignedDuration::from_secs(5));
        assert_eq!(
            backoff.respecting_retry_after(at_end, &state, near_end, Duration::from_secs(600)),
            Retry::At(now + signed(SIX_DAYS))
        );
        assert_eq!(
            backoff.respecting_retry_after(Retry::GiveUp, &state, now, Duration::ZERO),
            Retry::GiveUp
        );
    }

    proptest! {
        #[test]
        fn delays_stay_under_the_cap_and_never_shrink_from_one_failure_to_the_next(
            random in any::<u64>(),
            failures in 1u32..200,
        ) {
            // For one random input the delay is monotone in the failure count, so its mean
            // (over uniform inputs) is too: non-decreasing in expectation.
            for jitter in ALL {
                let backoff = schedule(jitter);
                let delay = backoff.delay(failures, random);
                let next = backoff.delay(failures + 1, random);
                prop_assert!(delay <= CAP);
                prop_assert!(next >= delay, "{jitter:?}: {next:?} < {delay:?}");
            }
            let ceiling = schedule(Jitter::None).delay(failures, random);
            let equal = schedule(Jitter::Equal).delay(failures, random);
            prop_assert!(equal >= ceiling / 2 && equal <= ceiling);
            prop_assert!(schedule(Jitter::Full).delay(failures, random) <= ceiling);
        }

        #[test]
        fn never_schedules_past_the_give_up_age(
            random in any::<u64>(),
            failures in 0u32..2000,
            elapsed_ms in 0u64..(7 * 24 * 3600 * 1000),
            initial_ms in 1u64..10_000,
            cap_factor in 1u32..2000,
            give_up_secs in 1u64..(30 * 24 * 3600),
            jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Equal), Just(Jitter::Full)],
        ) {
            let initial = Duration::from_millis(initial_ms);
            let backoff = Backoff::new(BackoffConfig {
                initial,
                max_interval: initial * cap_factor,
                give_up_after: Duration::from_secs(give_up_secs),
                jitter,
            })
            .expect("valid");
            let first_offered = start();
            let deadline = first_offered
                + SignedDuration::from_secs(i64::try_from(give_up_secs).expect("small"));
            let now = first_offered
                + SignedDuration::from_millis(i64::try_from(elapsed_ms).expect("small"));
            let mut state = RetryState { first_offered, failures };
            match backoff.after_failure(&mut state, now, random) {
                Retry::At(at) => {
                    prop_assert!(now < deadline);
                    prop_assert!(at >= now);
                    prop_assert!(at <= deadline);
                    prop_assert!(at.duration_since(now) <= signed(initial * cap_factor));
                }
                Retry::GiveUp => prop_assert!(now >= deadline),
            }
            prop_assert_eq!(state.failures, failures + 1);
        }

        #[test]
        fn six_days_hold_the_attempts_the_arithmetic_says(seed in any::<u64>()) {
            // The first offer, 10 retries on the ramp (mean delays 3/4 resp. 1/2 of 1, 2, ...
            // 512 s), then the rest of the 6 days at a mean of 3/4 resp. 1/2 of 900 s. The
            // count of n draws of coefficient of variation cv spreads by about cv * sqrt(n):
            // cv is 1/(3 * sqrt 3) for equal jitter (uniform over [c/2, c]) and 1/sqrt 3 for
            // full; allow six of those.
            let mut rng = StdRng::seed_from_u64(seed);
            let six_days = SIX_DAYS.as_secs_f64();
            let cases = [
                (Jitter::Equal, 0.75, 1.0 / (3.0 * 3f64.sqrt())),
                (Jitter::Full, 0.5, 1.0 / 3f64.sqrt()),
            ];
            for (jitter, share, cv) in cases {
                let (attempts, last) = attempts_until_give_up(&schedule(jitter), &mut rng);
                let expected = 1.0 + 10.0 + (six_days - 1023.0 * share) / (900.0 * share);
                let tolerance = 6.0 * cv * expected.sqrt();
                prop_assert!(
                    (f64::from(attempts) - expected).abs() < tolerance,
                    "{jitter:?}: {attempts} attempts, expected {expected} +- {tolerance}"
                );
                prop_assert_eq!(last, start() + signed(SIX_DAYS));
            }
        }
    }
}
