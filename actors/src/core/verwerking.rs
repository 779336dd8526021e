//! The processing decision for one bericht: which GLOBE verwerkingsCode it gets, at which stadium.
//!
//! Pure: the facts are gathered by the processing actor (catalog, store, clock) and handed in;
//! nothing here reads them itself. The checks run in GLOBE's order: the dates, the berichttype
//! (stadium `ValidatieBerichtType`), the recipient (`ValidatieGebruiker`), then storage
//! (`StoreMessage`), where a berichtId already delivered from another batch is refused.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The SLA's 13 days, for both date rules.
pub const DATE_WINDOW: Duration = Duration::from_secs(13 * 24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VerwerkingsCode {
    Verwerkt,
    NietActiefOfGeabonneerd,
    BerichtTypeNietOndersteund,
    AanmaakDatumLigtTeVerInHetVerleden,
    PublicatieDatumLigtTeVerInDeToekomst,
    BerichtBestaatAl,
    TechnischProbleem,
}

impl VerwerkingsCode {
    pub const ALL: [Self; 7] = [
        Self::Verwerkt,
        Self::NietActiefOfGeabonneerd,
        Self::BerichtTypeNietOndersteund,
        Self::AanmaakDatumLigtTeVerInHetVerleden,
        Self::PublicatieDatumLigtTeVerInDeToekomst,
        Self::BerichtBestaatAl,
        Self::TechnischProbleem,
    ];

    /// The code as GLOBE and API.md spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verwerkt => "Verwerkt",
            Self::NietActiefOfGeabonneerd => "NietActiefOfGeabonneerd",
            Self::BerichtTypeNietOndersteund => "BerichtTypeNietOndersteund",
            Self::AanmaakDatumLigtTeVerInHetVerleden => "AanmaakDatumLigtTeVerInHetVerleden",
            Self::PublicatieDatumLigtTeVerInDeToekomst => "PublicatieDatumLigtTeVerInDeToekomst",
            Self::BerichtBestaatAl => "BerichtBestaatAl",
            Self::TechnischProbleem => "TechnischProbleem",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stadium {
    NA,
    ValidatieBerichtType,
    ValidatieGebruiker,
    StoreMessage,
}

impl Stadium {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NA => "NA",
            Self::ValidatieBerichtType => "ValidatieBerichtType",
            Self::ValidatieGebruiker => "ValidatieGebruiker",
            Self::StoreMessage => "StoreMessage",
        }
    }
}

/// What the checks before storage need to know about a bericht.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub now: Timestamp,
    pub aanmaak_datum: Timestamp,
    pub publicatie_datum: Option<Timestamp>,
    /// The berichttype is registered for this afnemer and active.
    pub bericht_type_actief: bool,
    /// The recipient has an active box and does not refuse this afnemer's digital mail.
    pub ontvanger_wil_digitaal: bool,
}

/// The outcome of the checks before storage: `None` means "store it" (then only
/// [`VerwerkingsCode::BerichtBestaatAl`] or a technical problem can still stop it).
pub fn check(facts: &Facts) -> Option<(VerwerkingsCode, Stadium)> {
    let window = jiff::SignedDuration::try_from(DATE_WINDOW).unwrap_or(jiff::SignedDuration::MAX);
    if facts.now.duration_since(facts.aanmaak_datum) > window {
        return Some((
            VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden,
            Stadium::NA,
        ));
    }
    if let Some(publicatie) = facts.publicatie_datum
        && publicatie.duration_since(facts.aanmaak_datum) > window
    {
        return Some((
            VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst,
            Stadium::NA,
        ));
    }
    if !facts.bericht_type_actief {
        return Some((
            VerwerkingsCode::BerichtTypeNietOndersteund,
            Stadium::ValidatieBerichtType,
        ));
    }
    if !facts.ontvanger_wil_digitaal {
        return Some((
            VerwerkingsCode::NietActiefOfGeabonneerd,
            Stadium::ValidatieGebruiker,
        ));
    }
    None
}

/// The stadium of the storage step's outcomes.
pub const STORE_STADIUM: Stadium = Stadium::StoreMessage;

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().expect("ts");
        Facts {
            now,
            aanmaak_datum: now,
            publicatie_datum: None,
            bericht_type_actief: true,
            ontvanger_wil_digitaal: true,
        }
    }

    fn days(n: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * n)
    }

    #[test]
    fn a_good_bericht_goes_to_storage() {
        assert_eq!(check(&facts()), None);
    }

    #[test]
    fn thirteen_days_is_the_edge_of_both_date_rules() {
        let mut f = facts();
        f.aanmaak_datum = f.now - days(13);
        assert_eq!(check(&f), None);
        f.aanmaak_datum = f.now - days(13) - jiff::SignedDuration::from_secs(1);
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden)
        );

        let mut f = facts();
        f.publicatie_datum = Some(f.aanmaak_datum + days(13));
        assert_eq!(check(&f), None);
        f.publicatie_datum = Some(f.aanmaak_datum + days(13) + jiff::SignedDuration::from_secs(1));
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst)
        );
    }

    #[test]
    fn extreme_dates_neither_panic_nor_wrap() {
        let year = |text: &str| text.parse::<Timestamp>().expect("ts");
        let mut f = facts();
        f.publicatie_datum = Some(year("9999-12-30T12:00:00Z"));
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst)
        );
        f.aanmaak_datum = year("0001-01-01T00:00:00Z");
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden)
        );
        let mut f = facts();
        f.aanmaak_datum = Timestamp::MIN;
        f.publicatie_datum = Some(Timestamp::MAX);
        f.now = Timestamp::MAX;
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden)
        );
        f.now = Timestamp::MIN;
        assert_eq!(
            check(&f).map(|c| c.0),
            Some(VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst)
        );
    }

    fn any_timestamp() -> impl proptest::strategy::Strategy<Value = Timestamp> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Timestamp::MIN),
            Just(Timestamp::MAX),
            (Timestamp::MIN.as_nanosecond()..=Timestamp::MAX.as_nanosecond())
                .prop_map(|n| Timestamp::from_nanosecond(n).expect("in range")),
        ]
    }

    proptest::proptest! {
        /// Over every date jiff holds: no panic, a later aanmaakDatum never fails the rule of the
        /// past where an earlier one passed, and an earlier publicatieDatum never fails the rule of
        /// the future where a later one passed.
        #[test]
        fn the_date_rules_are_monotone_over_every_date(
            now in any_timestamp(),
            aanmaak in any_timestamp(),
            publicatie in any_timestamp(),
            other in any_timestamp(),
        ) {
            let past = |f: &Facts| check(f).map(|c| c.0) == Some(VerwerkingsCode::AanmaakDatumLigtTeVerInHetVerleden);
            let future = |f: &Facts| check(f).map(|c| c.0) == Some(VerwerkingsCode::PublicatieDatumLigtTeVerInDeToekomst);
            let f = Facts { now, aanmaak_datum: aanmaak, publicatie_datum: Some(publicatie), ..facts() };
            let g = Facts { aanmaak_datum: aanmaak.max(other), ..f };
            proptest::prop_assert!(!past(&f) || past(&g) == (now.duration_since(g.aanmaak_datum) > jiff::SignedDuration::try_from(DATE_WINDOW).expect("13 days")));
            if !past(&f) {
                proptest::prop_assert!(!past(&g));
                let h = Facts { publicatie_datum: Some(publicatie.min(other)), ..f };
                if !future(&f) {
                    proptest::prop_assert!(!future(&h));
                }
            }
        }
    }

    #[test]
    fn checks_run_in_globe_order() {
        let mut f = facts();
        f.bericht_type_actief = false;
        f.ontvanger_wil_digitaal = false;
        assert_eq!(
            check(&f),
            Some((
                VerwerkingsCode::BerichtTypeNietOndersteund,
                Stadium::ValidatieBerichtType
            ))
        );
        f.bericht_type_actief = true;
        assert_eq!(
            check(&f),
            Some((
                VerwerkingsCode::NietActiefOfGeabonneerd,
                Stadium::ValidatieGebruiker
            ))
        );
        f.aanmaak_datum = f.now - days(20);
        assert_eq!(check(&f).map(|c| c.1), Some(Stadium::NA));
    }
}
