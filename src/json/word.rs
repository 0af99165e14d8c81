//! Tests on eight bytes at once, for the scans over text of the JSON parser and writer
//! and of the CSV writer (`table_out`).
//!
//! Each function returns a word with the high bit of every byte for which its test holds
//! ("Bit Twiddling Hacks": haszero, hasless, hasmore). A borrow or carry only ever passes
//! upwards from a byte that passes the test, so the lowest flagged byte is always exact:
//! "is there one" and "where is the first" are exact, for one test or for the `|` of several.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `x` equal to `byte`.
pub fn equal_to(x: u64, byte: u8) -> u64 {
    let v = x ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The bytes of `x` below `n` (at most 0x80).
pub fn below(x: u64, n: u8) -> u64 {
    debug_assert!(n <= 0x80);
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

/// The bytes of `x` above `n` (at most 0x7f).
pub fn above(x: u64, n: u8) -> u64 {
    debug_assert!(n <= 0x7f);
    (x.wrapping_add(ONES * u64::from(0x7f - n)) | x) & HIGHS
}

/// The bytes that end a plain run of JSON string text: a quote, a backslash or a
/// control character.
pub fn string_stops(x: u64) -> u64 {
    equal_to(x, b'"') | equal_to(x, b'\\') | below(x, 0x20)
}

/// The bytes that make a CSV field need quotes: a comma, a quote, a newline or a
/// carriage return.
pub fn csv_specials(x: u64) -> u64 {
    equal_to(x, b',') | equal_to(x, b'"') | equal_to(x, b'\n') | equal_to(x, b'\r')
}

/// True when `test` flags a byte of `bytes`: sixteen bytes a step, the last few copied
/// into one more step filled out with `pad`, a byte `test` must not flag. For scans of
/// text that almost never holds such a byte (the JSON and the CSV writers'), where a
/// call to set up or a branch per byte costs more than the scan.
pub fn any_flagged(bytes: &[u8], pad: u8, test: impl Fn(u64) -> u64) -> bool {
    let step = |s: &[u8; 16]| {
        let x = u128::from_le_bytes(*s);
        test(x as u64) | test((x >> 64) as u64) != 0
    };
    let (steps, tail) = bytes.as_chunks::<16>();
    if steps.iter().any(step) {
        return true;
    }
    let mut last = [pad; 16];
    last[..tail.len()].copy_from_slice(tail);
    step(&last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_test_flags_exactly_its_bytes_at_every_position() {
        for byte in 0u8..=255 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = byte;
                let x = u64::from_le_bytes(word);
                let flagged = |flags: u64| flags == 0x80u64 << (8 * at);
                assert_eq!(flagged(equal_to(x, b'"')), byte == b'"', "{byte:#x}");
                assert_eq!(flagged(below(x, 0x20)), byte < 0x20, "{byte:#x}");
                assert_eq!(flagged(above(x, 0x7e)), byte > 0x7e, "{byte:#x}");
                assert_eq!(
                    flagged(csv_specials(x)),
                    matches!(byte, b',' | b'"' | b'\n' | b'\r'),
                    "{byte:#x}"
                );
            }
        }
    }

    #[test]
    fn a_flagged_byte_is_found_at_every_position_of_every_length() {
        for len in 0..40 {
            assert!(!any_flagged(&vec![b'a'; len], b' ', csv_specials), "{len}");
            for at in 0..len {
                for byte in [b',', b'"', b'\n', b'\r', b' ', b'a', 0x00, 0xff] {
                    let mut text = vec![b'a'; len];
                    text[at] = byte;
                    assert_eq!(
                        any_flagged(&text, b' ', csv_specials),
                        matches!(byte, b',' | b'"' | b'\n' | b'\r'),
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_lowest_flag_is_the_first_byte_that_passes() {
        // A borrow from the 0x00 and a carry from the 0xff may flag bytes above them.
        let x = u64::from_le_bytes([b'a', 0x00, 0x01, b'a', 0xff, 0x00, b'"', 0x7f]);
        assert_eq!(below(x, 0x20).trailing_zeros() / 8, 1);
        assert_eq!(above(x, 0x7e).trailing_zeros() / 8, 4);
        assert_eq!(equal_to(x, b'"').trailing_zeros() / 8, 6);
        assert_eq!(string_stops(x).trailing_zeros() / 8, 1);
    }
}
