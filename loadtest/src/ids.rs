//! Names of everything the load creates: OINs, BSNs, batch and bericht ids, and who receives
//! which bericht. Pure functions, so the check after the run can recompute what the load
//! sent instead of remembering every bericht.
//!
//! A run has a random 32-bit run id. A bericht id is
//! `RRRRRRRR-AAAA-4000-8000-SSSSSSSSSSSS` (run, afnemer index, the afnemer's bericht
//! sequence number); a batch id has `4001` in its third group. Both are GUIDs in the
//! 8-4-4-4-12 form the engine requires.

/// A bericht's identity within a run: the afnemer's index and its sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    pub afnemer: u16,
    pub seq: u64,
}

impl MessageKey {
    /// Packs the key into one number (48 bits of sequence are far more than a run sends).
    pub fn packed(self) -> u64 {
        (u64::from(self.afnemer) << 48) | (self.seq & 0xffff_ffff_ffff)
    }
}

/// The OIN of afnemer `index`: 20 digits, `00000009` then the index.
pub fn oin(index: u16) -> String {
    format!("00000009{index:012}")
}

pub fn bericht_id(run: u32, key: MessageKey) -> String {
    format!("{run:08x}-{:04x}-4000-8000-{:012x}", key.afnemer, key.seq)
}

pub fn batch_id(run: u32, afnemer: u16, batch_seq: u64) -> String {
    format!("{run:08x}-{afnemer:04x}-4001-8000-{batch_seq:012x}")
}

/// The key of a bericht id of this run; `None` for any other id.
pub fn parse_bericht_id(run: u32, id: &str) -> Option<MessageKey> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 || &id[8..9] != "-" || &id[13..24] != "-4000-8000-" {
        return None;
    }
    let id_run = u32::from_str_radix(&id[0..8], 16).ok()?;
    if id_run != run {
        return None;
    }
    let afnemer = u16::from_str_radix(&id[9..13], 16).ok()?;
    let seq = u64::from_str_radix(&id[24..36], 16).ok()?;
    Some(MessageKey { afnemer, seq })
}

/// SplitMix64: a fast, well-mixed hash of one number.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A bericht's own random number, the same every time it is asked for.
pub fn message_hash(seed: u64, run: u32, key: MessageKey) -> u64 {
    mix64(seed ^ mix64(u64::from(run) ^ mix64(key.packed())))
}

/// Whether the 9 digits pass the elfproef (and are not all zero).
pub fn is_valid_bsn(bsn: &str) -> bool {
    let bytes = bsn.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: i64 = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let weight = if i == 8 { -1 } else { 9 - i as i64 };
            weight * i64::from(b - b'0')
        })
        .sum();
    sum != 0 && sum.rem_euclid(11) == 0
}

/// `n` valid BSNs, the first at or after the 8-digit prefix `from`: each prefix gets the one
/// check digit that makes the elfproef hold, and prefixes without one are skipped.
pub fn bsns(from: u32, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut prefix = from;
    while out.len() < n {
        let digits = format!("{prefix:08}");
        let sum: u32 = digits
            .bytes()
            .enumerate()
            .map(|(i, b)| (9 - i as u32) * u32::from(b - b'0'))
            .sum();
        let check = sum % 11;
        if check < 10 {
            let bsn = format!("{digits}{check}");
            if is_valid_bsn(&bsn) {
                out.push(bsn);
            }
        }
        prefix += 1;
    }
    out
}

/// The 8-digit prefix where citizens with a box start.
pub const CITIZEN_PREFIX: u32 = 30_000_000;
/// The 8-digit prefix of BSNs that never get a box.
pub const NO_ACCOUNT_PREFIX: u32 = 70_000_000;
/// How many distinct BSNs without a box the load uses.
pub const NO_ACCOUNT_POOL: usize = 1000;

/// Whether a BSN is one the load opened a box for (rather than one of the pool without).
pub fn has_box(bsn: &str) -> bool {
    bsn.get(..8)
        .and_then(|prefix| prefix.parse::<u32>().ok())
        .is_some_and(|prefix| (CITIZEN_PREFIX..NO_ACCOUNT_PREFIX).contains(&prefix))
}

/// A bericht's recipient: a citizen with a box (by index), or one without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Citizen(u32),
    NoAccount(u32),
}

/// Chooses the recipient of a bericht from its hash: `without_share` of them go to BSNs
/// without a box, the rest evenly to the `citizens` with one.
pub fn recipient(hash: u64, citizens: u32, without_share: f64) -> Recipient {
    let roll = (hash & 0xffff) as f64 / 65536.0;
    let pick = hash >> 16;
    if citizens == 0 || roll < without_share {
        Recipient::NoAccount((pick % NO_ACCOUNT_POOL as u64) as u32)
    } else {
        Recipient::Citizen((pick % u64::from(citizens)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_bsns_pass_the_elfproef_and_are_distinct() {
        let list = bsns(CITIZEN_PREFIX, 5000);
        assert_eq!(list.len(), 5000);
        assert!(list.iter().all(|b| is_valid_bsn(b)));
        let set: std::collections::HashSet<_> = list.iter().collect();
        assert_eq!(set.len(), list.len());
        assert!(is_valid_bsn("999993653"));
        assert!(!is_valid_bsn("999993654"));
        assert!(!is_valid_bsn("000000000"));
        assert!(has_box(&list[4999]));
        assert!(!has_box(&bsns(NO_ACCOUNT_PREFIX, 1)[0]));
    }

    #[test]
    fn ids_are_guids_and_round_trip() {
        let key = MessageKey {
            afnemer: 399,
            seq: 2_500_001,
        };
        let id = bericht_id(0xdead_beef, key);
        assert_eq!(id.len(), 36);
        assert_eq!(parse_bericht_id(0xdead_beef, &id), Some(key));
        assert_eq!(parse_bericht_id(0xdead_beee, &id), None);
        assert_eq!(
            parse_bericht_id(0xdead_beef, &batch_id(0xdead_beef, 3, 4)),
            None
        );
        let well_formed = |s: &str| {
            s.len() == 36
                && s.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                })
        };
        assert!(well_formed(&id));
        assert!(well_formed(&batch_id(1, 2, 3)));
        assert_eq!(oin(7).len(), 20);
    }

    #[test]
    fn recipients_follow_the_share() {
        let mut without = 0;
        for n in 0..100_000u64 {
            if let Recipient::NoAccount(_) = recipient(mix64(n), 100, 0.05) {
                without += 1;
            }
        }
        assert!((4000..6000).contains(&without), "{without}");
        assert_eq!(recipient(12345, 0, 0.0), Recipient::NoAccount(0));
    }
}
