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
