//! The maintenance calendar (DOMAIN.md, "Maintenance windows") and availability arithmetic.
//!
//! A window recurs monthly on the n-th weekday (the 2nd Wednesday, the 2nd Tuesday, ...) from
//! a start to an end time on the Amsterdam clock. Windows that allow downtime do not count
//! against availability; a window announced "without downtime" is shown, but counts.
//!
//! Availability is measured from the engine's runs (start, last seen up): the share of the
//! time outside downtime windows that some run covered. Pure: the caller passes the time.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan as _};

/// One recurring maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venster {
    /// A short name, the label of the window's gauge.
    pub naam: String,
    pub weekdag: Weekday,
    /// Which occurrence of the weekday in the month: 1 to 5 (a 5th may not exist).
    pub week: i8,
    pub begin: Time,
    /// The end; at or before `begin` means the next day.
    pub eind: Time,
    /// Whether the service may be down: then it does not count against availability.
    pub downtime: bool,
}

impl Venster {
    /// The window's occurrence in the month of `date`, if that month has the n-th weekday.
    fn in_month(&self, zone: &TimeZone, date: Date) -> Option<(Timestamp, Timestamp)> {
        let day = date
            .first_of_month()
            .nth_weekday_of_month(self.week, self.weekdag)
            .ok()?;
        let start = day.to_datetime(self.begin).to_zoned(zone.clone()).ok()?;
        let end_day = if self.eind <= self.begin {
            day.tomorrow().ok()?
        } else {
            day
        };
        let end = end_day.to_datetime(self.eind).to_zoned(zone.clone()).ok()?;
        Some((start.timestamp(), end.timestamp()))
    }
}

/// The windows of DOMAIN.md: technical (2nd Wednesday) and functional (4th Wednesday)
/// maintenance of the portal, 00:00–06:00; maintenance of the Berichtenbox, 2nd Tuesday
/// 09:00–15:00, without downtime.
pub fn sla_vensters() -> Vec<Venster> {
    let at = |hour: i8| Time::constant(hour, 0, 0, 0);
    vec![
        Venster {
            naam: "technisch-portaal".into(),
            weekdag: Weekday::Wednesday,
            week: 2,
            begin: at(0),
            eind: at(6),
            downtime: true,
        },
        Venster {
            naam: "functioneel-portaal".into(),
            weekdag: Weekday::Wednesday,
            week: 4,
            begin: at(0),
            eind: at(6),
            downtime: true,
        },
        Venster {
            naam: "berichtenbox".into(),
            weekdag: Weekday::Tuesday,
            week: 2,
            begin: at(9),
            eind: at(15),
            downtime: false,
        },
    ]
}

/// Every occurrence of the windows overlapping `from..until`, with its window.
pub fn occurrences<'a>(
    vensters: &'a [Venster],
    zone: &TimeZone,
    from: Timestamp,
    until: Timestamp,
) -> Vec<(Timestamp, Timestamp, &'a Venster)> {
    let mut out = Vec::new();
    // From the month before (a window may run over a month's end) to the month of `until`.
    let Ok(mut month) = from
        .to_zoned(zone.clone())
        .date()
        .first_of_month()
        .checked_sub(1.month())
    else {
        return out;
    };
    let last = until.to_zoned(zone.clone()).date().first_of_month();
    while month <= last {
        for venster in vensters {
            if let Some((start, end)) = venster.in_month(zone, month)
                && start < until
                && end > from
            {
                out.push((start, end, venster));
            }
        }
        let Ok(next) = month.checked_add(1.month()) else {
            break;
        };
        month = next;
    }
    out.sort_by_key(|(start, _, _)| *start);
    out
}

/// The windows on at `now`.
pub fn actief<'a>(vensters: &'a [Venster], zone: &TimeZone, now: Timestamp) -> Vec<&'a Venster> {
    occurrences(vensters, zone, now, now + SignedDuration::from_nanos(1))
        .into_iter()
        .map(|(_, _, venster)| venster)
        .collect()
}

/// The availability of `from..until`: how much of the time outside downtime windows some run
/// of the engine covered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beschikbaarheid {
    /// Time outside downtime windows in the period.
    pub gemeten: SignedDuration,
    /// Of that, the time the engine was up.
    pub beschikbaar: SignedDuration,
}

impl Beschikbaarheid {
    /// The share, 0 to 1; a period with nothing to measure counts as fully available.
    pub fn ratio(&self) -> f64 {
        if self.gemeten.is_zero() {
            1.0
        } else {
            (self.beschikbaar.as_secs_f64() / self.gemeten.as_secs_f64()).clamp(0.0, 1.0)
        }
    }
}

/// Availability over `from..until`, given the runs (start, last seen) of the engine.
pub fn beschikbaarheid(
    vensters: &[Venster],
    zone: &TimeZone,
    runs: &[(Timestamp, Timestamp)],
    from: Timestamp,
    until: Timestamp,
) -> Beschikbaarheid {
    let period = [(from, until)];
    let downtime: Vec<_> = occurrences(vensters, zone, from, until)
        .into_iter()
        .filter(|(_, _, venster)| venster.downtime)
        .map(|(start, end, _)| (start, end))
        .collect();
    let downtime = intersect(&normalise(downtime), &period);
    let up = intersect(&normalise(runs.to_vec()), &period);
    let gemeten = measure(&period) - measure(&downtime);
    let beschikbaar = measure(&up) - measure(&intersect(&up, &downtime));
    Beschikbaarheid {
        gemeten,
        beschikbaar,
    }
}

type Interval = (Timestamp, Timestamp);

/// Sorted, disjoint, non-empty intervals covering the same time.
fn normalise(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.retain(|(start, end)| start < end);
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The intersection of two normalised lists.
fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn measure(intervals: &[Interval]) -> SignedDuration {
    intervals
        .iter()
        .map(|(start, end)| end.duration_since(*start))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TimeZone {
        crate::core::caps::amsterdam().expect("zone")
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn the_sla_windows_of_december_2026() {
        // December 2026: Wednesdays 2, 9, 16, 23, 30; Tuesdays 1, 8, 15, ...
        let vensters = sla_vensters();
        let found = occurrences(
            &vensters,
            &zone(),
            ts("2026-12-01T00:00:00+01:00"),
            ts("2027-01-01T00:00:00+01:00"),
        );
        let names: Vec<_> = found
            .iter()
            .map(|(start, end, v)| (start.to_string(), end.to_string(), v.naam.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "2026-12-08T08:00:00Z".to_owned(),
                    "2026-12-08T14:00:00Z".to_owned(),
                    "berichtenbox"
                ),
                (
                    "2026-12-08T23:00:00Z".to_owned(),
                    "2026-12-09T05:00:00Z".to_owned(),
                    "technisch-portaal"
                ),
                (
                    "2026-12-22T23:00:00Z".to_owned(),
                    "2026-12-23T05:00:00Z".to_owned(),
                    "functioneel-portaal"
                ),
            ]
        );
    }

    #[test]
    fn a_window_is_on_from_its_start_until_its_end() {
        let vensters = sla_vensters();
        let on = |t: &str| {
            actief(&vensters, &zone(), ts(t))
                .iter()
                .map(|v| v.naam.clone())
                .collect::<Vec<_>>()
        };
        assert!(on("2026-12-08T22:59:59Z").is_empty());
        assert_eq!(on("2026-12-08T23:00:00Z"), ["technisch-portaal"]);
        assert_eq!(on("2026-12-09T04:59:59Z"), ["technisch-portaal"]);
        assert!(on("2026-12-09T05:00:00Z").is_empty());
        // Summer time: 2nd Wednesday of July 2027 is the 14th; 00:00 CEST is 22:00 UTC.
        assert_eq!(on("2027-07-13T22:30:00Z"), ["technisch-portaal"]);
    }

    #[test]
    fn availability_leaves_out_downtime_windows_but_not_others() {
        let vensters = sla_vensters();
        let from = ts("2026-12-08T00:00:00Z");
        let until = ts("2026-12-10T00:00:00Z"); // 48 hours; the portal window takes 6
        // Down during the whole portal window and one hour of the Berichtenbox window.
        let runs = [
            (from, ts("2026-12-08T09:00:00Z")),
            (ts("2026-12-08T10:00:00Z"), ts("2026-12-08T23:30:00Z")),
            (ts("2026-12-09T05:00:00Z"), until),
        ];
        let a = beschikbaarheid(&vensters, &zone(), &runs, from, until);
        assert_eq!(a.gemeten, SignedDuration::from_hours(42));
        assert_eq!(a.beschikbaar, SignedDuration::from_hours(41));
        assert!((a.ratio() - 41.0 / 42.0).abs() < 1e-12);
    }

    #[test]
    fn overlapping_runs_count_once_and_nothing_measured_is_available() {
        let from = ts("2026-12-01T00:00:00Z");
        let until = ts("2026-12-01T10:00:00Z");
        let runs = [
            (from, ts("2026-12-01T06:00:00Z")),
            (ts("2026-12-01T05:00:00Z"), ts("2026-12-01T08:00:00Z")),
        ];
        let a = beschikbaarheid(&[], &zone(), &runs, from, until);
        assert_eq!(a.beschikbaar, SignedDuration::from_hours(8));
        assert_eq!(a.gemeten, SignedDuration::from_hours(10));
        assert_eq!(beschikbaarheid(&[], &zone(), &[], from, from).ratio(), 1.0);
    }
}
