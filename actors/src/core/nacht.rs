//! The Abonnementservice's night window and its nights (API.md, "Abonnementservice"): the
//! window opens at `begin` and closes at `eind` on the Amsterdam clock (an `eind` at or before
//! `begin` is the next morning), whatever the offset that night (summer time begins and ends
//! at night).
//!
//! A night is named by the Amsterdam date its window opens on. A verzoek is planned for the
//! first night whose window opens after it is made: one made at 22:00 runs at 23:00 that
//! evening; one made at 23:30, inside an open window, runs the next night. So a night's
//! verzoeken are all known when its window opens, and its quotas are full or not before its
//! work begins. Pure: the caller passes the time.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The night window of `[abonnementen]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NachtVenster {
    pub begin: Time,
    /// At or before `begin`: the next morning.
    pub eind: Time,
    pub zone: TimeZone,
}

/// One night: the Amsterdam date its window opens on, and its window as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nacht {
    pub datum: Date,
    pub opent: Timestamp,
    pub sluit: Timestamp,
}

impl NachtVenster {
    /// The night whose window opens on `datum`. A wall time that a change of offset skips
    /// (summer time begins) or repeats is taken as jiff's compatible choice: the later instant
    /// of a gap, the earlier of a fold.
    pub fn nacht(&self, datum: Date) -> Nacht {
        let at = |date: Date, time: Time| {
            date.to_datetime(time)
                .to_zoned(self.zone.clone())
                .map(|zoned| zoned.timestamp())
                .unwrap_or(Timestamp::MAX)
        };
        let eind_datum = if self.eind <= self.begin {
            datum.tomorrow().unwrap_or(datum)
        } else {
            datum
        };
        Nacht {
            datum,
            opent: at(datum, self.begin),
            sluit: at(eind_datum, self.eind),
        }
    }

    /// The night a verzoek made at `now` is planned for: the first whose window opens after
    /// `now`.
    pub fn ingepland(&self, now: Timestamp) -> Nacht {
        let today = now.to_zoned(self.zone.clone()).date();
        let mut datum = today.yesterday().unwrap_or(today);
        loop {
            let nacht = self.nacht(datum);
            if nacht.opent > now {
                return nacht;
            }
            match datum.tomorrow() {
                Ok(next) => datum = next,
                Err(_) => return nacht,
            }
        }
    }

    /// The night whose window is open at `now`, if one is.
    pub fn open(&self, now: Timestamp) -> Option<Nacht> {
        let today = now.to_zoned(self.zone.clone()).date();
        [today.yesterday().unwrap_or(today), today]
            .into_iter()
            .map(|datum| self.nacht(datum))
            .find(|nacht| nacht.opent <= now && now < nacht.sluit)
    }
}

impl Nacht {
    /// The moment every verzoek of this night must be `gereed`: 4 hours after its window
    /// opens (DOMAIN.md, "maximum turnaround").
    pub fn uiterlijk_gereed(&self) -> Timestamp {
        self.opent
            .checked_add(SignedDuration::from_hours(4))
            .unwrap_or(Timestamp::MAX)
    }

    /// The night's date as `YYYY-MM-DD`.
    pub fn naam(&self) -> String {
        self.datum.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venster(begin: i8, eind: i8) -> NachtVenster {
        NachtVenster {
            begin: Time::constant(begin, 0, 0, 0),
            eind: Time::constant(eind, 0, 0, 0),
            zone: TimeZone::get("Europe/Amsterdam").expect("zone"),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn a_verzoek_at_ten_in_the_evening_runs_at_eleven() {
        // 22:00 in Amsterdam in winter is 21:00 UTC.
        let nacht = venster(23, 7).ingepland(at("2026-12-07T21:00:00Z"));
        assert_eq!(nacht.datum.to_string(), "2026-12-07");
        assert_eq!(nacht.opent, at("2026-12-07T22:00:00Z"));
        assert_eq!(nacht.sluit, at("2026-12-08T06:00:00Z"));
        assert_eq!(nacht.uiterlijk_gereed(), at("2026-12-08T02:00:00Z"));
    }

    #[test]
    fn a_verzoek_inside_an_open_window_runs_the_next_night() {
        let v = venster(23, 7);
        for inside in [
            "2026-12-07T22:00:00Z",
            "2026-12-07T23:30:00Z",
            "2026-12-08T05:59:59Z",
        ] {
            let now = at(inside);
            assert_eq!(v.open(now).expect("open").datum.to_string(), "2026-12-07");
            assert_eq!(v.ingepland(now).datum.to_string(), "2026-12-08");
        }
        let morning = at("2026-12-08T06:00:00Z");
        assert_eq!(v.open(morning), None);
        assert_eq!(v.ingepland(morning).datum.to_string(), "2026-12-08");
        assert_eq!(v.open(at("2026-12-07T21:59:59Z")), None);
    }

    #[test]
    fn the_window_follows_the_amsterdam_clock_across_summer_time() {
        let v = venster(23, 7);
        // Summer time begins on 2027-03-28 at 02:00: that night is an hour shorter.
        let spring = v.nacht("2027-03-27".parse().expect("date"));
        assert_eq!(spring.opent, at("2027-03-27T22:00:00Z"));
        assert_eq!(spring.sluit, at("2027-03-28T05:00:00Z"));
        // Summer time ends on 2026-10-25 at 03:00: that night is an hour longer.
        let autumn = v.nacht("2026-10-24".parse().expect("date"));
        assert_eq!(autumn.opent, at("2026-10-24T21:00:00Z"));
        assert_eq!(autumn.sluit, at("2026-10-25T06:00:00Z"));
        // A summer evening opens at 21:00 UTC.
        assert_eq!(
            v.ingepland(at("2026-07-01T12:00:00Z")).opent,
            at("2026-07-01T21:00:00Z")
        );
    }

    #[test]
    fn a_window_within_one_day_works_too() {
        let v = venster(1, 5);
        let nacht = v.ingepland(at("2026-12-07T12:00:00Z"));
        assert_eq!(nacht.datum.to_string(), "2026-12-08");
        assert_eq!(nacht.opent, at("2026-12-08T00:00:00Z"));
        assert_eq!(nacht.sluit, at("2026-12-08T04:00:00Z"));
        assert!(v.open(at("2026-12-08T03:00:00Z")).is_some());
    }

    #[test]
    fn every_instant_is_planned_after_itself_and_open_agrees() {
        let v = venster(23, 7);
        let mut now = at("2026-03-20T00:00:00Z");
        let end = at("2026-11-10T00:00:00Z");
        while now < end {
            let nacht = v.ingepland(now);
            assert!(nacht.opent > now);
            assert!(nacht.opent.duration_since(now) <= SignedDuration::from_hours(25));
            if let Some(open) = v.open(now) {
                assert!(open.opent <= now && now < open.sluit);
                assert_eq!(open.datum.tomorrow().expect("date"), nacht.datum);
            }
            now += SignedDuration::from_mins(37);
        }
    }
}
