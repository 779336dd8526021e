//! The rolling forecast's calendar: which months an afnemer may forecast, how far the current
//! month has come, and how far an afnemer's actual count deviates from its forecast.
//!
//! DOMAIN.md: each afnemer forecasts its berichten per month, 6 quarters (18 months) ahead; a
//! deviation of 10% is allowed. Months are Europe/Amsterdam calendar months. Pure.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

/// How many months ahead, the current month included, an afnemer may forecast.
pub const HORIZON_MONTHS: i32 = 18;

/// The months' Dutch names, as the e-mails and the Leveranciersportaal write dates.
const MAANDNAMEN: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// The Dutch name of month `maand` (1 to 12, as jiff numbers them); `?` for anything else.
pub fn maandnaam(maand: i8) -> &'static str {
    usize::try_from(maand)
        .ok()
        .and_then(|maand| maand.checked_sub(1))
        .and_then(|index| MAANDNAMEN.get(index))
        .copied()
        .unwrap_or("?")
}

/// A calendar month, `YYYY-MM` in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Maand {
    first: Date,
}

impl Maand {
    /// Parses `YYYY-MM` strictly (four digits, a dash, two digits).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return None;
        }
        if !bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit) {
            return None;
        }
        let year: i16 = text[..4].parse().ok()?;
        let month: i8 = text[5..].parse().ok()?;
        Date::new(year, month, 1).ok().map(|first| Self { first })
    }

    /// The month `now` falls in, on the Amsterdam calendar.
    pub fn of(now: Timestamp, zone: &TimeZone) -> Self {
        Self {
            first: now.to_zoned(zone.clone()).date().first_of_month(),
        }
    }

    pub fn first_day(self) -> Date {
        self.first
    }

    pub fn last_day(self) -> Date {
        self.first.last_of_month()
    }

    pub fn days(self) -> i8 {
        self.first.days_in_month()
    }

    /// The month `n` months later (earlier when negative), if representable.
    pub fn plus(self, n: i32) -> Option<Self> {
        self.first
            .checked_add(n.months())
            .ok()
            .map(|first| Self { first })
    }

    /// Months from `self` to `other`: 0 for the same month, 1 for the next.
    pub fn months_until(self, other: Self) -> i32 {
        let index = |m: Self| i32::from(m.first.year()) * 12 + i32::from(m.first.month());
        index(other) - index(self)
    }

    /// When the month starts and ends, as instants.
    pub fn bounds(self, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        let start = self.first.to_zoned(zone.clone()).ok()?.timestamp();
        let end = self.plus(1)?.first.to_zoned(zone.clone()).ok()?.timestamp();
        Some((start, end))
    }
}

impl std::fmt::Display for Maand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

/// Whether `maand` may be forecast at `now`: the current month and the 17 after it.
pub fn in_horizon(maand: Maand, now: Timestamp, zone: &TimeZone) -> bool {
    let ahead = Maand::of(now, zone).months_until(maand);
    (0..HORIZON_MONTHS).contains(&ahead)
}

/// How much of the current month has passed at `now`: 0 at its first instant, towards 1.
pub fn voortgang(now: Timestamp, zone: &TimeZone) -> f64 {
    let Some((start, end)) = Maand::of(now, zone).bounds(zone) else {
        return 0.0;
    };
    let whole = end.duration_since(start).as_secs_f64();
    (now.duration_since(start).as_secs_f64() / whole).clamp(0.0, 1.0)
}

/// The deviation of the month's projected total from its forecast, as a fraction: the actual
/// count so far extrapolated over the whole month, less the forecast, over the forecast.
/// `None` without a forecast, or in the month's first hour (too little to extrapolate).
pub fn afwijking(forecast: u64, actual_so_far: u64, voortgang: f64) -> Option<f64> {
    const FIRST_HOUR_OF_A_MONTH: f64 = 1.0 / (31.0 * 24.0);
    if forecast == 0 || voortgang < FIRST_HOUR_OF_A_MONTH {
        return None;
    }
    let projected = actual_so_far as f64 / voortgang;
    Some((projected - forecast as f64) / forecast as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TimeZone {
        crate::core::caps::amsterdam().expect("zone")
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(
            Maand::parse("2027-03").map(|m| m.to_string()),
            Some("2027-03".into())
        );
        for bad in [
            "2027-3",
            "2027-13",
            "2027-00",
            "27-03",
            "2027/03",
            "2027-03-01",
            "abcd-ef",
        ] {
            assert_eq!(Maand::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_horizon_is_this_month_and_seventeen_more() {
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().expect("ts");
        let ok = |m: &str| in_horizon(Maand::parse(m).expect("month"), now, &zone());
        assert!(!ok("2026-10"));
        assert!(ok("2026-11"));
        assert!(ok("2028-04"));
        assert!(!ok("2028-05"));
    }

    #[test]
    fn month_progress_and_deviation() {
        // 1 December 00:00 Amsterdam is 30 November 23:00 UTC.
        let start: Timestamp = "2026-11-30T23:00:00Z".parse().expect("ts");
        assert_eq!(voortgang(start, &zone()), 0.0);
        let half: Timestamp = "2026-12-16T11:00:00Z".parse().expect("ts");
        assert!((voortgang(half, &zone()) - 0.5).abs() < 1e-9);
        // Half the month gone, half the forecast sent: on track.
        assert_eq!(afwijking(1000, 500, 0.5), Some(0.0));
        assert_eq!(afwijking(1000, 600, 0.5), Some(0.2));
        assert_eq!(afwijking(0, 600, 0.5), None);
        assert_eq!(afwijking(1000, 600, 0.0), None);
    }
}
