//! The notification caps: how many notification e-mails may leave now, and when the next may.
//!
//! Owns the arithmetic of the two caps in API.md ("Notifications") and DOMAIN.md: at most
//! `per_hour` notifications in any clock hour and `per_day` in any calendar day in
//! Europe/Amsterdam. What is over waits, in order; this module only says how many may go now
//! ([`Caps::allowance`]) and books what went ([`Caps::record_sent`]).
//!
//! It must not read a clock, send, queue or store anything: the caller passes `now`, and the
//! [`CapWindow`] is plain data (timestamps and counters) that the dispatcher keeps in the store,
//! so a restart grants no fresh allowance. The one lookup that touches the time zone database,
//! [`amsterdam`], is done once at start-up and its [`TimeZone`] handed in.
//!
//! Hours are whole UTC hours: Amsterdam's offsets (since 1940) are whole hours, so these are
//! its clock hours, and the repeated hour of the autumn DST change counts as two hours. Days run
//! from one Amsterdam midnight to the next: 23 hours on the spring DST day, 25 in autumn.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The SLA's maximum of notifications per clock hour.
pub const DEFAULT_PER_HOUR: u64 = 125_000;
/// The SLA's maximum of notifications per calendar day.
pub const DEFAULT_PER_DAY: u64 = 3_000_000;
/// The time zone whose calendar days the day cap counts.
pub const ZONE_NAME: &str = "Europe/Amsterdam";

const HOUR_SECONDS: i64 = 3_600;

/// Why the caps could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    #[error("notification cap per {unit} must be at least 1")]
    Zero { unit: &'static str },
    #[error("time zone {name} not found: {reason}")]
    Zone { name: &'static str, reason: String },
}

/// Looks up Europe/Amsterdam in the time zone database.
///
/// jiff reads the system's zoneinfo once and caches it; the workspace enables jiff's bundled
/// database as the fallback, so this also works where the system has no tzdata.
pub fn amsterdam() -> Result<TimeZone, CapsError> {
    TimeZone::get(ZONE_NAME).map_err(|error| CapsError::Zone {
        name: ZONE_NAME,
        reason: error.to_string(),
    })
}

/// What has been sent in the current hour and day; plain data, to be kept in the store.
///
/// `hour_start` is the whole UTC hour the hour counter belongs to, `day_start` the Amsterdam
/// midnight the day counter belongs to. A window from an earlier hour or day is rolled over by
/// [`Caps::allowance`] and [`Caps::record_sent`]; nobody needs to reset it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapWindow {
    pub hour_start: Timestamp,
    pub sent_this_hour: u64,
    pub day_start: Timestamp,
    pub sent_today: u64,
}

impl CapWindow {
    /// A window that has seen nothing yet.
    pub const EMPTY: Self = Self {
        hour_start: Timestamp::MIN,
        sent_this_hour: 0,
        day_start: Timestamp::MIN,
        sent_today: 0,
    };
}

impl Default for CapWindow {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Which cap holds the queue back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingCap {
    Hour,
    Day,
}

/// The answer to "how many may go now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Up to `count` (at least 1) notifications may be sent now.
    Send { count: u64 },
    /// None may be sent before `until`; at `until` at least one may.
    Wait { until: Timestamp, cap: BindingCap },
}

impl Allowance {
    /// How many may be sent now: zero while waiting.
    pub fn count(&self) -> u64 {
        match self {
            Self::Send { count } => *count,
            Self::Wait { .. } => 0,
        }
    }
}

/// The two caps and the time zone whose days they count in.
#[derive(Debug, Clone)]
pub struct Caps {
    per_hour: u64,
    per_day: u64,
    zone: TimeZone,
}

impl Caps {
    /// Caps of `per_hour` per clock hour and `per_day` per calendar day in `zone`; both at
    /// least 1 (a cap of 0 would hold every notification back for ever).
    pub fn new(per_hour: u64, per_day: u64, zone: TimeZone) -> Result<Self, CapsError> {
        if per_hour == 0 {
            return Err(CapsError::Zero { unit: "hour" });
        }
        if per_day == 0 {
            return Err(CapsError::Zero { unit: "day" });
        }
        Ok(Self {
            per_hour,
            per_day,
            zone,
        })
    }

    /// The SLA's caps (125,000 an hour, 3,000,000 a day) in Europe/Amsterdam.
    pub fn sla() -> Result<Self, CapsError> {
        Self::new(DEFAULT_PER_HOUR, DEFAULT_PER_DAY, amsterdam()?)
    }

    pub fn per_hour(&self) -> u64 {
        self.per_hour
    }

    pub fn per_day(&self) -> u64 {
        self.per_day
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The start of the clock hour that holds `now`: `now` rounded down to a whole UTC hour.
    pub fn hour_start(now: Timestamp) -> Timestamp {
        let second = now.as_second().div_euclid(HOUR_SECONDS) * HOUR_SECONDS;
        Timestamp::from_second(second).unwrap_or(Timestamp::MIN)
    }

    /// The midnight (in the caps' zone) that starts the calendar day holding `now`.
    pub fn day_start(&self, now: Timestamp) -> Timestamp {
        let date = now.to_zoned(self.zone.clone()).date();
        date.to_zoned(self.zone.clone())
            .map(|midnight| midnight.timestamp())
            .unwrap_or(Timestamp::MIN)
    }

    /// The midnight that ends the calendar day holding `now`: 23, 24 or 25 hours after the
    /// day's start.
    pub fn next_day_start(&self, now: Timestamp) -> Timestamp {
        let date = now.to_zoned(self.zone.clone()).date();
        date.tomorrow()
            .and_then(|tomorrow| tomorrow.to_zoned(self.zone.clone()))
            .map(|midnight| midnight.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// The window as it stands at `now`: counters of an hour or day that has ended start again
    /// at zero. A clock that went back does not reopen an hour or day already counted in.
    pub fn rolled(&self, window: &CapWindow, now: Timestamp) -> CapWindow {
        let mut rolled = *window;
        let hour_start = Self::hour_start(now);
        if hour_start > rolled.hour_start {
            rolled.hour_start = hour_start;
            rolled.sent_this_hour = 0;
        }
        let day_start = self.day_start(now);
        if day_start > rolled.day_start {
            rolled.day_start = day_start;
            rolled.sent_today = 0;
        }
        rolled
    }

    /// How many notifications may be sent at `now`; when none, the instant the next one may.
    ///
    /// When the day cap is spent, the wait is until the next Amsterdam midnight, whatever the
    /// hour cap says; when only the hour cap is spent, until the next whole hour.
    pub fn allowance(&self, window: &CapWindow, now: Timestamp) -> Allowance {
        let window = self.rolled(window, now);
        let left_this_hour = self.per_hour.saturating_sub(window.sent_this_hour);
        let left_today = self.per_day.saturating_sub(window.sent_today);
        let count = left_this_hour.min(left_today);
        if count > 0 {
            return Allowance::Send { count };
        }
        let hour_end = window
            .hour_start
            .checked_add(SignedDuration::from_hours(1))
            .unwrap_or(Timestamp::MAX);
        if left_today == 0 {
            // The next hour does not help; the next day does, and it starts on a whole hour
            // at or after the end of this one.
            let day_end = self.next_day_start(window.day_start);
            Allowance::Wait {
                until: day_end.max(hour_end),
                cap: BindingCap::Day,
            }
        } else {
            Allowance::Wait {
                until: hour_end,
                cap: BindingCap::Hour,
            }
        }
    }

    /// Books `count` notifications sent at `now`, rolling the window over first.
    ///
    /// The caller sends no more than [`Caps::allowance`] granted; the counters saturate rather
    /// than wrap if it does.
    pub fn record_sent(&self, window: &mut CapWindow, now: Timestamp, count: u64) {
        let mut rolled = self.rolled(window, now);
        rolled.sent_this_hour = rolled.sent_this_hour.saturating_add(count);
        rolled.sent_today = rolled.sent_today.saturating_add(count);
        *window = rolled;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::civil::Date;
    use proptest::prelude::*;

    use super::*;

    fn zone() -> TimeZone {
        amsterdam().expect("europe/amsterdam is in the tz database")
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("test timestamp parses")
    }

    fn caps(per_hour: u64, per_day: u64) -> Caps {
        Caps::new(per_hour, per_day, zone()).expect("caps are valid")
    }

    /// Sends everything the caps allow, as fast as they allow, from `from` until `until`.
    /// Returns each send's instant and count.
    fn flood(
        caps: &Caps,
        window: &mut CapWindow,
        from: Timestamp,
        until: Timestamp,
    ) -> Vec<(Timestamp, u64)> {
        let mut sent = Vec::new();
        let mut now = from;
        while now < until {
            match caps.allowance(window, now) {
                Allowance::Send { count } => {
                    caps.record_sent(window, now, count);
                    sent.push((now, count));
                }
                Allowance::Wait { until: next, .. } => {
                    assert!(next > now, "a wait ends in the future");
                    now = next;
                }
            }
        }
        sent
    }

    fn per_utc_hour(sent: &[(Timestamp, u64)]) -> BTreeMap<i64, u64> {
        let mut hours = BTreeMap::new();
        for (at, count) in sent {
            *hours.entry(at.as_second().div_euclid(3_600)).or_insert(0) += count;
        }
        hours
    }

    fn per_amsterdam_date(sent: &[(Timestamp, u64)]) -> BTreeMap<Date, u64> {
        let zone = zone();
        let mut days = BTreeMap::new();
        for (at, count) in sent {
            *days.entry(at.to_zoned(zone.clone()).date()).or_insert(0) += count;
        }
        days
    }

    #[test]
    fn the_sla_caps_are_the_defaults() {
        let caps = Caps::sla().expect("sla caps");
        assert_eq!(caps.per_hour(), 125_000);
        assert_eq!(caps.per_day(), 3_000_000);
        assert_eq!(caps.zone().iana_name(), Some(ZONE_NAME));
    }

    #[test]
    fn a_cap_of_zero_is_refused() {
        assert_eq!(
            Caps::new(0, 10, zone()).err(),
            Some(CapsError::Zero { unit: "hour" })
        );
        assert_eq!(
            Caps::new(10, 0, zone()).err(),
            Some(CapsError::Zero { unit: "day" })
        );
    }

    #[test]
    fn an_empty_window_allows_the_hour_cap() {
        let caps = Caps::sla().expect("sla caps");
        let now = ts("2026-11-03T09:15:00Z");
        assert_eq!(
            caps.allowance(&CapWindow::default(), now),
            Allowance::Send { count: 125_000 }
        );
    }

    #[test]
    fn overflow_waits_for_the_next_hour_in_order() {
        let caps = Caps::sla().expect("sla caps");
        let mut window = CapWindow::EMPTY;
        // 200,000 notifications arrive at 10:15 Amsterdam (CET, UTC+1); ids are their order.
        let queued: Vec<u64> = (0..200_000).collect();
        let mut next = 0_usize;
        let mut sent_ids = Vec::new();
        let mut now = ts("2026-11-03T09:15:00Z");

        let Allowance::Send { count } = caps.allowance(&window, now) else {
            panic!("the first hour is open");
        };
        assert_eq!(count, 125_000);
        let batch = usize::try_from(count).expect("fits");
        sent_ids.extend_from_slice(&queued[next..next + batch]);
        next += batch;
        caps.record_sent(&mut window, now, count);

        // The rest waits for 11:00 Amsterdam, the next clock hour.
        assert_eq!(
            caps.allowance(&window, now),
            Allowance::Wait {
                until: ts("2026-11-03T10:00:00Z"),
                cap: BindingCap::Hour
            }
        );
        assert_eq!(
            caps.allowance(&window, ts("2026-11-03T09:59:59.999999999Z"))
                .count(),
            0
        );
        now = ts("2026-11-03T10:00:00Z");
        let count = caps.allowance(&window, now).count();
        assert_eq!(count, 125_000);
        let batch = usize::try_from(count)
            .expect("fits")
            .min(queued.len() - next);
        sent_ids.extend_from_slice(&queued[next..next + batch]);
        caps.record_sent(&mut window, now, u64::try_from(batch).expect("fits"));

        assert_eq!(
            sent_ids, queued,
            "every notification went, in order of arrival"
        );
        assert_eq!(window.sent_this_hour, 75_000);
        assert_eq!(window.sent_today, 200_000);
    }

    #[test]
    fn the_day_cap_binds_before_the_hour_cap() {
        let caps = Caps::sla().expect("sla caps");
        // 20:00 Amsterdam (CET): the hour is fresh but the day has 10 left.
        let now = ts("2026-11-03T19:00:00Z");
        let mut window = CapWindow {
            hour_start: ts("2026-11-03T18:00:00Z"),
            sent_this_hour: 125_000,
            day_start: ts("2026-11-02T23:00:00Z"),
            sent_today: 2_999_990,
        };
        assert_eq!(caps.allowance(&window, now), Allowance::Send { count: 10 });
        caps.record_sent(&mut window, now, 10);
        // The next hour does not help: the wait is until Amsterdam midnight.
        assert_eq!(
            caps.allowance(&window, now),
            Allowance::Wait {
                until: ts("2026-11-03T23:00:00Z"),
                cap: BindingCap::Day
            }
        );
        assert_eq!(
            caps.allowance(&window, ts("2026-11-03T22:30:00Z")).count(),
            0
        );
        assert_eq!(
            caps.allowance(&window, ts("2026-11-03T23:00:00Z")),
            Allowance::Send { count: 125_000 }
        );
    }

    #[test]
    fn the_day_cap_binds_when_both_are_spent() {
        let caps = caps(10, 20);
        let mut window = CapWindow::EMPTY;
        let sent = flood(
            &caps,
            &mut window,
            ts("2026-06-01T08:00:00Z"),
            ts("2026-06-01T09:30:00Z"),
        );
        assert_eq!(sent.iter().map(|(_, n)| n).sum::<u64>(), 20);
        // 11:30 Amsterdam (CEST): both caps spent; the day's end wins.
        assert_eq!(
            caps.allowance(&window, ts("2026-06-01T09:30:00Z")),
            Allowance::Wait {
                until: ts("2026-06-01T22:00:00Z"),
                cap: BindingCap::Day
            }
        );
    }

    #[test]
    fn the_spring_dst_day_has_23_hours() {
        let caps = Caps::sla().expect("sla caps");
        // 2026-03-29: 02:00 CET becomes 03:00 CEST.
        let day_start = ts("2026-03-28T23:00:00Z");
        let day_end = ts("2026-03-29T22:00:00Z");
        assert_eq!(caps.day_start(ts("2026-03-29T12:00:00Z")), day_start);
        assert_eq!(caps.next_day_start(ts("2026-03-29T12:00:00Z")), day_end);
        assert_eq!(caps.day_start(ts("2026-03-29T21:59:59Z")), day_start);
        assert_eq!(caps.day_start(day_end), day_end);

        let mut window = CapWindow::EMPTY;
        let sent = flood(&caps, &mut window, day_start, day_end);
        assert_eq!(per_utc_hour(&sent).len(), 23);
        let days = per_amsterdam_date(&sent);
        assert_eq!(days.len(), 1);
        assert_eq!(days.values().sum::<u64>(), 23 * 125_000);
    }

    #[test]
    fn the_autumn_dst_day_has_25_hours_and_its_last_waits_for_midnight() {
        let caps = Caps::sla().expect("sla caps");
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice.
        let day_start = ts("2026-10-24T22:00:00Z");
        let day_end = ts("2026-10-25T23:00:00Z");
        assert_eq!(caps.day_start(ts("2026-10-25T12:00:00Z")), day_start);
        assert_eq!(caps.next_day_start(ts("2026-10-25T12:00:00Z")), day_end);

        let mut window = CapWindow::EMPTY;
        let sent = flood(&caps, &mut window, day_start, day_end);
        // 24 hours of 125,000 spend the day cap of 3,000,000, so the repeated hour is two hours
        // and the 25th hour (23:00 CET) gets nothing.
        let hours = per_utc_hour(&sent);
        assert_eq!(hours.len(), 24);
        assert!(hours.values().all(|&n| n == 125_000));
        assert_eq!(per_amsterdam_date(&sent).values().sum::<u64>(), 3_000_000);
        assert_eq!(
            caps.allowance(&window, ts("2026-10-25T22:00:00Z")),
            Allowance::Wait {
                until: day_end,
                cap: BindingCap::Day
            }
        );
        assert_eq!(caps.allowance(&window, day_end).count(), 125_000);
    }

    #[test]
    fn the_window_rolls_over_at_the_hour_and_at_midnight() {
        let caps = caps(100, 1_000);
        let mut window = CapWindow::EMPTY;
        // 23:59:59 Amsterdam (CET) and one second later, the next day.
        caps.record_sent(&mut window, ts("2026-01-14T22:59:59Z"), 7);
        assert_eq!(window.hour_start, ts("2026-01-14T22:00:00Z"));
        assert_eq!(window.day_start, ts("2026-01-13T23:00:00Z"));
        assert_eq!((window.sent_this_hour, window.sent_today), (7, 7));
        caps.record_sent(&mut window, ts("2026-01-14T23:00:00Z"), 3);
        assert_eq!(window.hour_start, ts("2026-01-14T23:00:00Z"));
        assert_eq!(window.day_start, ts("2026-01-14T23:00:00Z"));
        assert_eq!((window.sent_this_hour, window.sent_today), (3, 3));
        // Within the day, a new hour resets only the hour.
        caps.record_sent(&mut window, ts("2026-01-15T00:10:00Z"), 5);
        assert_eq!((window.sent_this_hour, window.sent_today), (5, 8));
    }

    #[test]
    fn a_clock_that_goes_back_does_not_reopen_the_hour() {
        let caps = caps(10, 1_000);
        let mut window = CapWindow::EMPTY;
        caps.record_sent(&mut window, ts("2026-05-05T10:30:00Z"), 10);
        assert_eq!(
            caps.allowance(&window, ts("2026-05-05T09:59:00Z")),
            Allowance::Wait {
                until: ts("2026-05-05T11:00:00Z"),
                cap: BindingCap::Hour
            }
        );
    }

    /// Starts spread over 2020-2030, half of them within two days of a DST change.
    fn start_strategy() -> impl Strategy<Value = Timestamp> {
        let dst_changes = [
            "2024-03-31T01:00:00Z",
            "2024-10-27T01:00:00Z",
            "2025-03-30T01:00:00Z",
            "2025-10-26T01:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-10-25T01:00:00Z",
        ]
        .map(|text| ts(text).as_second());
        prop_oneof![
            (1_577_836_800_i64..1_924_992_000).prop_map(|second| second),
            (
                proptest::sample::select(dst_changes.to_vec()),
                -172_800_i64..172_800
            )
                .prop_map(|(change, offset)| change + offset),
        ]
        .prop_map(|second| Timestamp::from_second(second).expect("in range"))
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Time moves on by this many seconds.
        Advance(i64),
        /// Time moves to the end of the last wait, exactly.
        ToWaitEnd,
    }

    fn step_strategy() -> impl Strategy<Value = (Step, u64)> {
        (
            prop_oneof![
                3 => (0_i64..5_400).prop_map(Step::Advance),
                1 => (0_i64..90_000).prop_map(Step::Advance),
                2 => Just(Step::ToWaitEnd),
            ],
            0_u64..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A dispatcher that sends, in order, everything the caps allow never exceeds either cap
        /// in any clock hour or Amsterdam day; every wait is needed and ends in an allowance.
        #[test]
        fn never_more_than_the_caps(
            start in start_strategy(),
            per_hour in 1_u64..30,
            per_day in 1_u64..300,
            steps in proptest::collection::vec(step_strategy(), 1..200),
        ) {
            let caps = caps(per_hour, per_day);
            let mut window = CapWindow::EMPTY;
            let mut now = start;
            let mut wait_end = None;
            let mut queued = 0_u64;
            let mut next_id = 0_u64;
            let mut sent: Vec<(Timestamp, u64)> = Vec::new();
            let mut sent_ids: Vec<u64> = Vec::new();

            for (step, arrivals) in steps {
                match step {
                    Step::Advance(seconds) => {
                        now = now.checked_add(SignedDuration::from_secs(seconds)).expect("in range");
                    }
                    Step::ToWaitEnd => {
                        if let Some(end) = wait_end.filter(|&end| end > now) {
                            now = end;
                        }
                    }
                }
                queued += arrivals;
                loop {
                    match caps.allowance(&window, now) {
                        Allowance::Send { count } => {
                            prop_assert!(count >= 1);
                            let count = count.min(queued);
                            if count == 0 {
                                break;
                            }
                            caps.record_sent(&mut window, now, count);
                            sent.push((now, count));
                            sent_ids.extend(next_id..next_id + count);
                            next_id += count;
                            queued -= count;
                        }
                        Allowance::Wait { until, cap } => {
                            prop_assert!(until > now);
                            // The wait is needed: the binding cap is spent.
                            match cap {
                                BindingCap::Hour => {
                                    let hour = now.as_second().div_euclid(3_600);
                                    prop_assert_eq!(per_utc_hour(&sent).get(&hour).copied(), Some(per_hour));
                                    prop_assert_eq!(Caps::hour_start(until).as_second(), (hour + 1) * 3_600);
                                }
                                BindingCap::Day => {
                                    let date = now.to_zoned(zone()).date();
                                    prop_assert_eq!(per_amsterdam_date(&sent).get(&date).copied(), Some(per_day));
                                    prop_assert_eq!(until.to_zoned(zone()).date(), date.tomorrow().expect("in range"));
                                    prop_assert_eq!(until.to_zoned(zone()).time(), jiff::civil::Time::midnight());
                                }
                            }
                            // It is not longer than needed: at its end something may go.
                            prop_assert!(caps.allowance(&window, until).count() >= 1);
                            wait_end = Some(until);
                            break;
                        }
                    }
                }
            }

            for (_, count) in per_utc_hour(&sent) {
                prop_assert!(count <= per_hour);
            }
            for (_, count) in per_amsterdam_date(&sent) {
                prop_assert!(count <= per_day);
            }
            prop_assert!(sent_ids.iter().copied().eq(0..next_id), "sent in order of arrival");
        }

        /// Day starts are Amsterdam midnights and whole UTC hours, and days last 23 to 25 hours.
        #[test]
        fn days_are_amsterdam_midnights(now in start_strategy()) {
            let caps = caps(1, 1);
            let start = caps.day_start(now);
            let end = caps.next_day_start(now);
            prop_assert!(start <= now && now < end);
            prop_assert_eq!(start.as_second() % 3_600, 0);
            prop_assert_eq!(start.to_zoned(zone()).time(), jiff::civil::Time::midnight());
            let hours = (end.as_second() - start.as_second()) / 3_600;
            prop_assert!((23..=25).contains(&hours));
            prop_assert_eq!(caps.day_start(end), end);
        }
    }
}
