//! The field rules of API.md, as pure checks over strings.
//!
//! Each check answers `Err(reason)` with a reason fit for a problem+json `invalidParams` entry
//! (Dutch, like the rest of the contract). The HTTP edge knows the field names; these do not.

use base64::Engine as _;
use jiff::Timestamp;

use super::bsn::is_valid_bsn;

pub const MAX_BERICHTEN_PER_BATCH: usize = 1000;
pub const MAX_BIJLAGEN_PER_BERICHT: usize = 2;
/// 500 KB of decoded attachments per bericht (KB as 1000 bytes, as the SLA writes it).
pub const MAX_BIJLAGEN_BYTES_PER_BERICHT: usize = 500_000;
pub const MAX_ONDERWERP_CHARS: usize = 50;
pub const MAX_TEKST_CHARS: usize = 4000;
pub const MAX_REFERENTIE_CHARS: usize = 25;
pub const MAX_BERICHT_TYPE_CHARS: usize = 8;
pub const MAX_OMSCHRIJVING_CHARS: usize = 100;
pub const MAX_NAAM_CHARS: usize = 200;
/// How far an `aanmaakDatum` may lie ahead of the engine's clock (clocks of afnemers drift).
pub const MAX_AANMAAK_DATUM_AHEAD: std::time::Duration = std::time::Duration::from_secs(5 * 60);

pub type Reason = &'static str;

/// A GUID in the 8-4-4-4-12 hex form; answers it lowercased.
pub fn guid(value: &str) -> Result<String, Reason> {
    let bytes = value.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if well_formed {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("moet een GUID zijn (8-4-4-4-12 hexadecimale tekens)")
    }
}

/// An OIN: exactly 20 digits.
pub fn oin(value: &str) -> Result<(), Reason> {
    if value.len() == 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("moet een OIN zijn: 20 cijfers")
    }
}

pub fn bsn(value: &str) -> Result<(), Reason> {
    if is_valid_bsn(value) {
        Ok(())
    } else {
        Err("moet een BSN zijn: 9 cijfers die de elfproef doorstaan")
    }
}

/// A berichttype code: 1 to 8 letters, digits, `-` or `_`.
pub fn bericht_type(value: &str) -> Result<(), Reason> {
    let allowed = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !value.is_empty() && value.len() <= MAX_BERICHT_TYPE_CHARS && allowed {
        Ok(())
    } else {
        Err("moet 1 tot 8 tekens zijn (letters, cijfers, '-' of '_')")
    }
}

/// Text of `min..=max` characters (Unicode scalar values), without control characters other
/// than line breaks and tabs.
pub fn text(value: &str, min: usize, max: usize) -> Result<(), Reason> {
    let chars = value.chars().count();
    if chars < min {
        return Err(if min == 1 {
            "mag niet leeg zijn"
        } else {
            "is te kort"
        });
    }
    if chars > max {
        return Err("is te lang");
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("bevat niet-toegestane stuurtekens");
    }
    Ok(())
}

/// An e-mail address as people write one: `local@domain.tld`, no spaces, at most 254
/// characters. Deliverability is the relay's to judge.
pub fn email(value: &str) -> Result<(), Reason> {
    let reason = "moet een e-mailadres zijn, zoals naam@voorbeeld.nl";
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(reason);
    };
    let plain = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    let domain_ok =
        domain.split('.').count() >= 2 && domain.split('.').all(|label| !label.is_empty());
    if value.len() <= 254 && plain(local) && plain(domain) && domain_ok {
        Ok(())
    } else {
        Err(reason)
    }
}

/// An RFC 3339 timestamp with an offset. jiff also reads RFC 9557's bracketed time-zone
/// annotations (`...+01:00[Europe/Amsterdam]`); the contract says RFC 3339, so those are refused.
pub fn rfc3339(value: &str) -> Result<Timestamp, Reason> {
    let reason = "moet een RFC 3339-tijdstip zijn, met tijdzone";
    if value.contains('[') {
        return Err(reason);
    }
    value.parse::<Timestamp>().map_err(|_| reason)
}

/// An `aanmaakDatum` at most [`MAX_AANMAAK_DATUM_AHEAD`] after `now` (the engine's clock when
/// the batch arrived). Infallible arithmetic: any date jiff can hold is judged, none panics.
pub fn aanmaak_datum(value: Timestamp, now: Timestamp) -> Result<Timestamp, Reason> {
    let ahead = jiff::SignedDuration::try_from(MAX_AANMAAK_DATUM_AHEAD)
        .unwrap_or(jiff::SignedDuration::MAX);
    if value.duration_since(now) > ahead {
        Err("ligt meer dan 5 minuten in de toekomst")
    } else {
        Ok(value)
    }
}

/// A media type of the form `type/subtype`, with optional parameters.
/// The whole value is served back as a `Content-Type` header, so it must be one: printable
/// ASCII without leading or trailing space.
pub fn media_type(value: &str) -> Result<(), Reason> {
    let header_safe = value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value;
    if !header_safe {
        return Err("moet een mediatype zijn, zoals application/pdf");
    }
    let essence = value.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match essence.split_once('/') {
        Some((kind, subtype)) if token(kind) && token(subtype) && value.len() <= 255 => Ok(()),
        _ => Err("moet een mediatype zijn, zoals application/pdf"),
    }
}

/// Standard base64 with padding (RFC 4648 section 4); answers the decoded bytes.
pub fn base64(value: &str) -> Result<Vec<u8>, Reason> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| "moet geldige base64 zijn (RFC 4648, met opvulling)")
}

/// The decoded length of a base64 text, computed without decoding; `None` when the length
/// cannot be base64.
pub fn base64_decoded_len(value: &str) -> Option<usize> {
    if !value.len().is_multiple_of(4) {
        return None;
    }
    let padding = value.bytes().rev().take(2).filter(|b| *b == b'=').count();
    Some(value.len() / 4 * 3 - padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert_eq!(
            guid("8C1F6C4E-0000-4000-8000-000000000001").as_deref(),
            Ok("8c1f6c4e-0000-4000-8000-000000000001")
        );
        for bad in [
            "",
            "8c1f6c4e",
            "8c1f6c4e-0000-4000-8000-00000000000g",
            "8c1f6c4e00000-4000-8000-000000000001",
        ] {
            assert!(guid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        assert!(text(&"é".repeat(50), 1, 50).is_ok());
        assert!(text(&"é".repeat(51), 1, 50).is_err());
        assert!(text("", 1, 50).is_err());
        assert!(text("a\u{0}b", 0, 50).is_err());
        assert!(text("regel\nregel", 0, 50).is_ok());
    }

    #[test]
    fn timestamps_are_rfc3339_only() {
        assert!(rfc3339("2026-11-28T10:00:00Z").is_ok());
        assert!(rfc3339("2026-11-28T11:00:00.123+01:00").is_ok());
        for bad in [
            "2026-11-28T10:00:00",
            "2026-11-28",
            "2026-11-28T10:00:00+01:00[Europe/Amsterdam]",
            "gisteren",
        ] {
            assert!(rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_aanmaak_datum_may_be_five_minutes_ahead_and_no_more() {
        let now: Timestamp = "2026-11-28T10:00:00Z".parse().expect("ts");
        let at = |secs: i64| now + jiff::SignedDuration::from_secs(secs);
        assert_eq!(aanmaak_datum(at(300), now), Ok(at(300)));
        assert_eq!(aanmaak_datum(at(-400 * 86_400), now), Ok(at(-400 * 86_400)));
        assert!(aanmaak_datum(at(301), now).is_err());
        assert!(aanmaak_datum(at(300) + jiff::SignedDuration::from_nanos(1), now).is_err());
        assert!(aanmaak_datum(Timestamp::MAX, now).is_err());
        assert!(aanmaak_datum(Timestamp::MIN, now).is_ok());
        assert!(aanmaak_datum(Timestamp::MIN, Timestamp::MAX).is_ok());
        assert!(aanmaak_datum(Timestamp::MAX, Timestamp::MIN).is_err());
    }

    proptest::proptest! {
        /// Over every date jiff holds: no panic, and a date accepted at one clock reading is
        /// accepted for every earlier date and every later reading.
        #[test]
        fn the_future_rule_is_monotone(
            value in Timestamp::MIN.as_nanosecond()..=Timestamp::MAX.as_nanosecond(),
            now in Timestamp::MIN.as_nanosecond()..=Timestamp::MAX.as_nanosecond(),
            earlier in 0i128..=i128::from(i64::MAX),
        ) {
            let value = Timestamp::from_nanosecond(value).expect("in range");
            let now = Timestamp::from_nanosecond(now).expect("in range");
            if aanmaak_datum(value, now).is_ok() {
                let before = Timestamp::from_nanosecond(value.as_nanosecond() - earlier)
                    .unwrap_or(Timestamp::MIN);
                proptest::prop_assert!(aanmaak_datum(before, now).is_ok());
                let later = Timestamp::from_nanosecond(now.as_nanosecond() + earlier)
                    .unwrap_or(Timestamp::MAX);
                proptest::prop_assert!(aanmaak_datum(value, later).is_ok());
            }
        }
    }

    #[test]
    fn emails() {
        assert!(email("jan@voorbeeld.nl").is_ok());
        for bad in [
            "",
            "jan",
            "jan@",
            "@voorbeeld.nl",
            "jan@voorbeeld",
            "j an@voorbeeld.nl",
            "jan@voorbeeld..nl",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn media_types() {
        assert!(media_type("application/pdf").is_ok());
        assert!(media_type("text/plain; charset=utf-8").is_ok());
        for bad in [
            "pdf",
            "/pdf",
            "application/",
            "a b/c",
            "application/pdf; x=\"\u{1}\"",
            " text/plain",
            "text/plain; é",
        ] {
            assert!(media_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_length_matches_decoding() {
        for n in 0..20usize {
            let encoded = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
            assert_eq!(base64_decoded_len(&encoded), Some(n));
            assert_eq!(base64(&encoded).map(|v| v.len()), Ok(n));
        }
        assert!(base64("abc").is_err());
        assert!(base64("!!!!").is_err());
    }
}
