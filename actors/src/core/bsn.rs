//! The burgerservicenummer and its elfproef.
//!
//! Pure: no I/O, no allocation on the check itself.

/// True when `bsn` is nine ASCII digits passing the elfproef:
/// 9·d1 + 8·d2 + ... + 2·d8 − 1·d9 ≡ 0 (mod 11), and not all zeros.
pub fn is_valid_bsn(bsn: &str) -> bool {
    let bytes = bsn.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: i32 = 0;
    for (position, byte) in bytes.iter().enumerate() {
        let digit = i32::from(byte - b'0');
        let weight = if position == 8 {
            -1
        } else {
            9 - position as i32
        };
        sum += weight * digit;
    }
    sum != 0 && sum.rem_euclid(11) == 0
}

/// The BSN of the eight digits `prefix` (below 100,000,000; leading zeros kept) followed by
/// the check digit that makes the elfproef hold, if there is one (a prefix whose weighted sum
/// leaves 10 has none; 00000000 makes the all-zero number).
pub fn with_check_digit(prefix: u32) -> Option<String> {
    if prefix >= 100_000_000 {
        return None;
    }
    let digits = format!("{prefix:08}");
    let sum: u32 = digits
        .bytes()
        .zip((2..=9).rev())
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    let check = sum % 11;
    let bsn = format!("{digits}{check}");
    (check < 10 && is_valid_bsn(&bsn)).then_some(bsn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_test_numbers_pass() {
        for bsn in ["999993653", "111222333", "123456782", "999990019"] {
            assert!(is_valid_bsn(bsn), "{bsn}");
        }
    }

    #[test]
    fn a_check_digit_makes_a_valid_bsn_where_one_exists() {
        assert_eq!(with_check_digit(99_999_365).as_deref(), Some("999993653"));
        assert_eq!(with_check_digit(11_122_233).as_deref(), Some("111222333"));
        assert_eq!(with_check_digit(0), None);
        assert_eq!(with_check_digit(100_000_000), None);
        let made = (1_234_500..1_234_700).filter_map(with_check_digit).count();
        // One prefix in eleven has no check digit.
        assert!((170..=190).contains(&made), "{made}");
        for prefix in 1_234_500..1_234_700 {
            let valid = (0..10)
                .filter(|d| is_valid_bsn(&format!("{prefix:08}{d}")))
                .count();
            assert_eq!(valid, usize::from(with_check_digit(prefix).is_some()));
        }
    }

    #[test]
    fn broken_numbers_fail() {
        for bsn in [
            "999993654",
            "12345678",
            "1234567890",
            "12345678a",
            "000000000",
            "",
            "９99993653",
        ] {
            assert!(!is_valid_bsn(bsn), "{bsn}");
        }
    }

    proptest! {
        /// Changing any one digit of a valid BSN breaks the elfproef: that is what it is for.
        #[test]
        fn one_digit_changed_is_caught(position in 0usize..9, delta in 1u8..10) {
            let mut digits: Vec<u8> = b"999993653".to_vec();
            digits[position] = b'0' + (digits[position] - b'0' + delta) % 10;
            let changed = String::from_utf8(digits).expect("ascii");
            prop_assert!(!is_valid_bsn(&changed));
        }
    }
}
