//! Saturating time arithmetic, for dates an afnemer chose.
//!
//! An afnemer may send any RFC 3339 time jiff can hold (the year 0001, the year 9999). Adding
//! or subtracting a duration to such a date, or squeezing it into a store key's 64 bits of
//! nanoseconds since 1970, saturates at the ends of the range: it never panics, never wraps to
//! zero, and keeps order (a later date never gets an earlier result). Pure; reads no clock.

use jiff::{SignedDuration, Timestamp};

/// `at + by`, or the end of jiff's range that it runs past.
pub fn saturating_add(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.checked_add(by).unwrap_or(if by.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `at - by`, or the end of jiff's range that it runs past.
pub fn saturating_sub(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.checked_sub(by).unwrap_or(if by.is_negative() {
        Timestamp::MAX
    } else {
        Timestamp::MIN
    })
}

/// Nanoseconds since 1970 as a store key's `u64`: before 1970 is 0, after the year 2554 is
/// `u64::MAX` (never 0, which would put a far-future date first).
pub fn unix_nanos_u64(at: Timestamp) -> u64 {
    u64::try_from(at.as_nanosecond().clamp(0, i128::from(u64::MAX))).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    /// Any timestamp jiff can hold, with the ends of its range drawn often.
    fn any_timestamp() -> impl Strategy<Value = Timestamp> {
        let min = Timestamp::MIN.as_nanosecond();
        let max = Timestamp::MAX.as_nanosecond();
        prop_oneof![
            Just(Timestamp::MIN),
            Just(Timestamp::MAX),
            Just(Timestamp::UNIX_EPOCH),
            (min..=max).prop_map(|nanos| Timestamp::from_nanosecond(nanos).expect("in range")),
        ]
    }

    fn any_duration() -> impl Strategy<Value = SignedDuration> {
        prop_oneof![
            Just(SignedDuration::MAX),
            Just(SignedDuration::MIN),
            Just(SignedDuration::ZERO),
            any::<i64>().prop_map(SignedDuration::from_secs),
            (-1_000_000_000i64..1_000_000_000).prop_map(SignedDuration::from_secs),
        ]
    }

    #[test]
    fn the_ends_of_the_range_saturate() {
        let day = SignedDuration::from_hours(24);
        assert_eq!(
            saturating_add(ts("9999-12-30T12:00:00Z"), day),
            Timestamp::MAX
        );
        assert_eq!(saturating_sub(ts("0001-01-01T12:00:00Z"), day * 1000), {
            ts("0001-01-01T12:00:00Z") - day * 1000
        });
        assert_eq!(saturating_sub(Timestamp::MIN, day), Timestamp::MIN);
        assert_eq!(saturating_add(Timestamp::MIN, -day), Timestamp::MIN);
        assert_eq!(saturating_sub(Timestamp::MAX, -day), Timestamp::MAX);
        assert_eq!(
            saturating_add(ts("2026-11-28T10:00:00Z"), day),
            ts("2026-11-29T10:00:00Z")
        );
    }

    #[test]
    fn key_nanos_clamp_and_never_wrap_to_zero() {
        assert_eq!(unix_nanos_u64(ts("9999-12-30T12:00:00Z")), u64::MAX);
        assert_eq!(unix_nanos_u64(ts("3000-01-01T00:00:00Z")), u64::MAX);
        assert_eq!(unix_nanos_u64(ts("0001-01-01T00:00:00Z")), 0);
        assert_eq!(unix_nanos_u64(Timestamp::UNIX_EPOCH), 0);
        assert_eq!(
            unix_nanos_u64(ts("2026-11-28T10:00:00Z")),
            1_795_860_000_000_000_000
        );
    }

    proptest! {
        #[test]
        fn adding_and_subtracting_never_panic_and_keep_order(
            a in any_timestamp(),
            b in any_timestamp(),
            by in any_duration(),
        ) {
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(saturating_add(early, by) <= saturating_add(late, by));
            prop_assert!(saturating_sub(early, by) <= saturating_sub(late, by));
            if !by.is_negative() {
                prop_assert!(saturating_add(a, by) >= a);
                prop_assert!(saturating_sub(a, by) <= a);
            } else {
                prop_assert!(saturating_add(a, by) <= a);
                prop_assert!(saturating_sub(a, by) >= a);
            }
            if let Ok(exact) = a.checked_add(by) {
                prop_assert_eq!(saturating_add(a, by), exact);
            }
        }

        #[test]
        fn key_nanos_keep_order(a in any_timestamp(), b in any_timestamp()) {
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(unix_nanos_u64(early) <= unix_nanos_u64(late));
            if late > Timestamp::UNIX_EPOCH {
                prop_assert!(unix_nanos_u64(late) > 0);
            }
        }
    }
}
