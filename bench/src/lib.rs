//! Fixtures for the engine's benchmarks (`benches/`): realistic batch JSON, valid BSNs, park
//! requests and rates. Kept here, not in the bench files, so that the tests below can check
//! that every fixture is what its benchmark says it is (a valid batch, an admitted rate).

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::time::Duration;

use base64::Engine as _;
use berichtenbox_actors::core::model::{Batch, Bericht};
use berichtenbox_actors::core::throttle::Rate;
use berichtenbox_actors::store::ParkRequest;

/// The afnemer every fixture delivers for: 20 digits.
pub const OIN: &str = "00000001234567890000";

/// The engine's clock as the fixtures arrive: their `aanmaakDatum` (10:00 in Amsterdam).
pub fn fixture_now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_795_856_400).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The default rate of an afnemer: 45 berichten a second, a burst of 1000.
pub fn default_rate() -> Rate {
    Rate {
        berichten_per_second: NonZeroU32::new(45).expect("45 is not zero"),
        burst: NonZeroU32::new(1000).expect("1000 is not zero"),
    }
}

/// A rate that never limits at benchmark speeds: a billion a second (one cell per
/// nanosecond), as the ingest benchmark registers afnemers to measure the store, not the rate.
pub fn unlimited_rate() -> Rate {
    let billion = NonZeroU32::new(1_000_000_000).expect("a billion is not zero");
    Rate {
        berichten_per_second: billion,
        burst: billion,
    }
}

/// How far the clock must move for one more cell at `rate`: the emission interval, rounded up.
pub fn emission_interval(rate: Rate) -> Duration {
    Duration::from_nanos(1_000_000_000_u64.div_ceil(u64::from(rate.berichten_per_second.get())))
}

/// `n` distinct valid BSNs (nine digits passing the elfproef), the same every call.
pub fn valid_bsns(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut candidate: u32 = 100_000_000;
    while out.len() < n {
        let digits = candidate.to_string();
        let sum: i32 = digits
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                let digit = i32::from(b - b'0');
                if i == 8 {
                    -digit
                } else {
                    (9 - i as i32) * digit
                }
            })
            .sum();
        if sum.rem_euclid(11) == 0 {
            out.push(digits);
        }
        candidate += 7;
    }
    out
}

/// A GUID (8-4-4-4-12, lowercase) made from two numbers, so that ids are unique and stable.
pub fn guid(high: u32, low: u64) -> String {
    format!(
        "{high:08x}-{:04x}-4000-8000-{:012x}",
        (low >> 48) & 0xffff,
        low & 0xffff_ffff_ffff
    )
}

/// Pseudo-random bytes that look like a compressed PDF: a PDF header, then noise (a PDF's
/// streams are deflated, so its bytes are close to random, and so is its base64).
pub fn pdf_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
    let mut state = seed | 1;
    while bytes.len() < len {
        // xorshift64: cheap, deterministic, good enough for filler.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The JSON of a valid batch of `berichten` text-only berichten, as an afnemer sends it:
/// about 490 bytes per bericht (a subject, a few sentences, a reference, a publication date).
pub fn text_batch_json(berichten: usize) -> Vec<u8> {
    batch_json(berichten, 0, 0)
}

/// The JSON of a valid batch of `berichten` berichten, each with `bijlagen` PDF attachments of
/// `bijlage_bytes` bytes (base64 in the JSON, a third larger).
pub fn batch_json(berichten: usize, bijlagen: usize, bijlage_bytes: usize) -> Vec<u8> {
    let bsns = valid_bsns(berichten);
    let mut json = String::with_capacity(
        berichten * (450 + bijlagen * (bijlage_bytes.div_ceil(3) * 4 + 100)) + 200,
    );
    let batch_id = guid(0x0ba7_c400, berichten as u64);
    json.push_str(&format!(
        r#"{{"batchId":"{batch_id}","aanmaakDatum":"2026-11-28T10:00:00+01:00","berichten":["#
    ));
    for (i, bsn) in bsns.iter().enumerate().take(berichten) {
        if i > 0 {
            json.push(',');
        }
        let bericht_id = guid(0xbe71_c470, i as u64);
        write!(
            json,
            r#"{{"berichtId":"{bericht_id}","berichtType":"AANSLAG","ontvanger":"{bsn}","#,
        )
        .expect("writing to a String does not fail");
        json.push_str(
            r#""onderwerp":"Uw aanslag inkomstenbelasting 2026","tekst":"Beste burger,\n\nIn uw Berichtenbox staat een nieuw bericht over uw aanslag inkomstenbelasting over 2026. U vindt de aanslag in de bijlage of in Mijn Belastingdienst. Betaal het bedrag vóór de vervaldatum.\n\nMet vriendelijke groet,\nde Belastingdienst","#,
        );
        write!(
            json,
            r#""referentie":"IB-2026-{i:08}","publicatieDatum":"2026-12-01T08:00:00+01:00""#
        )
        .expect("writing to a String does not fail");
        if bijlagen > 0 {
            json.push_str(r#","bijlagen":["#);
            for j in 0..bijlagen {
                if j > 0 {
                    json.push(',');
                }
                let inhoud = base64::engine::general_purpose::STANDARD
                    .encode(pdf_bytes(bijlage_bytes, (i * 7 + j + 1) as u64));
                write!(
                    json,
                    r#"{{"omschrijving":"Aanslag {j} (PDF)","mediatype":"application/pdf","inhoud":"{inhoud}"}}"#
                )
                .expect("writing to a String does not fail");
            }
            json.push(']');
        }
        json.push('}');
    }
    json.push_str("]}");
    json.into_bytes()
}

/// A park request for a batch of one text-only bericht; `n` makes its ids unique.
pub fn single_bericht_park(n: u64, bsn: &str) -> ParkRequest {
    let now = jiff::Timestamp::now();
    let batch = Batch {
        oin: OIN.to_owned(),
        batch_id: guid(0x9a7c_0000, n),
        aanmaak_datum: now,
        berichten: vec![Bericht {
            bericht_id: guid(0xbe71_c470, n),
            bericht_type: "AANSLAG".to_owned(),
            ontvanger: bsn.to_owned(),
            onderwerp: "Uw aanslag inkomstenbelasting 2026".to_owned(),
            tekst: "Beste burger, in uw Berichtenbox staat een nieuw bericht over uw aanslag. \
                    Log in om het te lezen. Met vriendelijke groet."
                .to_owned(),
            referentie: Some(format!("IB-2026-{n:08}")),
            publicatie_datum: None,
            bijlagen: Vec::new(),
        }],
    };
    let digest = batch.content_digest();
    ParkRequest {
        batch,
        digest,
        ontvangen_op: now,
    }
}

/// The bytes of the files under `dir` (as `du -sb` counts them): the measuring programs'
/// size of a data directory.
pub fn du(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    let entries = std::fs::read_dir(dir).map_err(|error| {
        std::io::Error::new(error.kind(), format!("read {}: {error}", dir.display()))
    })?;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += du(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// The sum of every series of one metric in a Prometheus text page: what the measuring
/// programs read from the engine's `/metrics`.
pub fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berichtenbox_actors::core::bsn::is_valid_bsn;
    use berichtenbox_actors::core::rules;

    #[test]
    fn bsns_are_valid_and_distinct() {
        let bsns = valid_bsns(1000);
        assert!(bsns.iter().all(|b| is_valid_bsn(b)));
        let mut sorted = bsns.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }

    #[test]
    fn guids_are_guids() {
        for (high, low) in [(0, 0), (u32::MAX, u64::MAX), (0x0ba7_c400, 12_345)] {
            assert!(rules::guid(&guid(high, low)).is_ok());
        }
    }

    #[test]
    fn pdfs_have_the_asked_size() {
        let pdf = pdf_bytes(100_000, 1);
        assert_eq!(pdf.len(), 100_000);
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn text_berichten_are_about_490_bytes_of_json() {
        let json = text_batch_json(100);
        let per_bericht = json.len() / 100;
        assert!((450..550).contains(&per_bericht), "{per_bericht}");
    }

    #[test]
    fn batches_parse_and_validate() {
        use berichtenbox::http::{batches, body};
        for (json, berichten, bijlage_bytes) in [
            (text_batch_json(1), 1, 0),
            (text_batch_json(1000), 1000, 0),
            (batch_json(10, 2, 100_000), 10, 2_000_000),
        ] {
            let parsed: batches::BatchJson = body::parse_json(&json).expect("valid JSON");
            let batch = batches::validate(parsed, OIN, fixture_now()).expect("a valid batch");
            assert_eq!(batch.len(), berichten);
            assert_eq!(batch.attachment_bytes(), bijlage_bytes);
        }
    }

    #[test]
    fn stepping_by_the_interval_keeps_admitting() {
        use berichtenbox_actors::core::clock::{ManualClock, SharedClock};
        use berichtenbox_actors::core::throttle::{Admission, Throttle};
        use std::sync::Arc;

        let one = NonZeroU32::MIN;
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let throttle = Throttle::new(default_rate(), SharedClock::new(clock.clone()));
        // Spend the burst: from then on only the refill admits.
        while throttle.admit(one) == Admission::Admitted {}
        for _ in 0..10_000 {
            clock.advance(emission_interval(default_rate()));
            assert_eq!(throttle.admit(one), Admission::Admitted);
        }
        assert!(matches!(throttle.admit(one), Admission::NotBefore(_)));

        let system = Throttle::new(unlimited_rate(), SharedClock::system());
        for _ in 0..10_000 {
            assert_eq!(system.admit(one), Admission::Admitted);
        }
    }

    #[test]
    fn interval_admits_one_more() {
        assert_eq!(
            emission_interval(default_rate()),
            Duration::from_nanos(22_222_223)
        );
    }
}
