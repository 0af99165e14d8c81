//! Serialisation that matches CPython's `json.dumps(obj, sort_keys=True)` byte for byte
//! (ensure_ascii=True, separators ", " and ": ", allow_nan=True).

use std::borrow::Cow;

use super::parse::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that ensure_ascii output cannot copy verbatim.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [true; 256];
    let mut c = 0x20;
    while c < 0x7f {
        table[c] = c == b'"' as usize || c == b'\\' as usize;
        c += 1;
    }
    table
};

/// Python repr(float): shortest round-trip digits. Fixed notation when the decimal exponent is in
/// Python's range (repr uses scientific iff decpt <= -4 or decpt > 16, where value = 0.DIGITS ×
/// 10^decpt): "75.0", "0.0001", "1e-05", "1e+16", "1.5e+16", "1234567890123456.0",
/// "31.537499999999994", "-0.0", "5e-324", "1.7976931348623157e+308".
/// Non-finite: "NaN", "Infinity", "-Infinity" (as Python writes them; callers decide whether to
/// write null instead).
pub fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    let mut digits = zmij::Buffer::new();
    let magnitude = v.abs();
    let text = digits.format_finite(magnitude).as_bytes();
    if (PLAIN_FROM..PLAIN_BELOW).contains(&magnitude) {
        out.extend_from_slice(text);
        return;
    }
    write_float_laid_out(out, text);
}

/// Magnitudes zmij writes exactly as Python's repr does: the shortest digits in fixed
/// notation, "1234.0", "12.34", "0.001234", as both do for a decimal exponent from -3 to
/// 16 (zmij goes on to -4, "0.00001", where Python writes "1e-05"). Every MOS, rating
/// spread and frame rate is in it: zmij's text is copied as it is, rather than taken
/// apart and laid out again (a third of the time of a float, and floats were a third of
/// `query --format csv`).
///
/// The bounds are doubles, and the shortest digits of a double never cross one: the
/// shortest text of a double below 1e-4 is below 0.0001 (0.0001 itself reads back as
/// 1e-4, not as it), and likewise at 1e16, which is exact.
const PLAIN_FROM: f64 = 1e-4;
const PLAIN_BELOW: f64 = 1e16;

/// Lays out zmij's text of a positive finite non-zero value (`text`) as Python's repr:
/// zmij picks the same digits as Python (shortest that round-trips, nearest on ties:
/// those of ryu, which zmij's own tests compare it with over every f32 and a hundred
/// million random f64) but lays them out by its own rules, so only its digits and
/// decimal exponent are reused.
fn write_float_laid_out(out: &mut Vec<u8>, text: &[u8]) {
    let mut digits = [0u8; 24];
    let (count, decpt) = shortest_digits(text, &mut digits);
    let Some((&lead, rest)) = digits[..count].split_first() else {
        out.extend_from_slice(b"0.0");
        return;
    };
    if decpt <= -4 || decpt > 16 {
        out.push(lead);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        let exp = decpt - 1;
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let exp = exp.unsigned_abs();
        if exp < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(exp));
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + decpt.unsigned_abs() as usize, b'0');
        out.extend_from_slice(&digits[..count]);
    } else {
        let point = decpt.unsigned_abs() as usize;
        if point >= count {
            out.extend_from_slice(&digits[..count]);
            out.resize(out.len() + (point - count), b'0');
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..count]);
        }
    }
}

/// Extracts the significant digits (no leading or trailing zeros) and the exponent `decpt` with
/// value = 0.DIGITS × 10^decpt from zmij's output for a positive finite non-zero value.
fn shortest_digits(text: &[u8], digits: &mut [u8; 24]) -> (usize, i32) {
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let mut count = 0;
    let mut decpt = 0i32;
    let mut seen_point = false;
    let mut leading = true;
    for &c in mantissa {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if leading && c == b'0' {
            if seen_point {
                decpt -= 1;
            }
            continue;
        }
        leading = false;
        if count < digits.len() {
            digits[count] = c;
            count += 1;
        }
        if !seen_point {
            decpt += 1;
        }
    }
    while count > 0 && digits[count - 1] == b'0' {
        count -= 1;
    }
    (count, decpt + exp)
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .filter(|c| c.is_ascii_digit())
        .fold(0i32, |acc, &c| acc * 10 + i32::from(c - b'0'));
    if negative { -magnitude } else { magnitude }
}

fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub fn write_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// JSON string with quotes, ensure_ascii=True: `"`→\", `\`→\\, \n \r \t \b \f short escapes, other
/// bytes < 0x20 and 0x7f → \u00XX (lowercase hex, 4 digits); every non-ASCII char → \uXXXX
/// lowercase, chars above U+FFFF as a surrogate pair.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    if is_plain(b) {
        // Most text (hashes, paths, labels, timestamps) needs no escape at all.
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    let mut run_start = 0;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !NEEDS_ESCAPE[usize::from(c)] {
            i += 1;
            // Most text needs no escape at all: pass over it eight bytes at a time.
            while let Some(word) = b.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                if any_needs_escape(u64::from_le_bytes(word)) {
                    break;
                }
                i += 8;
            }
            continue;
        }
        out.extend_from_slice(&b[run_start..i]);
        if c.is_ascii() {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => write_unit(out, u32::from(c)),
            }
            i += 1;
        } else {
            // `i` always sits on a char boundary: it only ever advances past whole characters.
            let Some(ch) = s.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            let code = u32::from(ch);
            if code >= 0x10000 {
                let offset = code - 0x10000;
                write_unit(out, 0xD800 | (offset >> 10));
                write_unit(out, 0xDC00 | (offset & 0x3FF));
            } else {
                write_unit(out, code);
            }
            i += ch.len_utf8();
        }
        run_start = i;
    }
    out.extend_from_slice(&b[run_start..]);
    out.push(b'"');
}

/// True when no byte of `b` needs an escape: most texts (hashes, paths, labels,
/// timestamps), tested sixteen bytes a step and then copied whole.
fn is_plain(b: &[u8]) -> bool {
    !super::word::any_flagged(b, b' ', escapes)
}

/// True when any of the eight bytes of `w` is one `NEEDS_ESCAPE` marks.
fn any_needs_escape(w: u64) -> bool {
    escapes(w) != 0
}

/// The bytes of `w` that `NEEDS_ESCAPE` marks: a quote, a backslash, a control
/// character, or 0x7f and above.
fn escapes(w: u64) -> u64 {
    super::word::string_stops(w) | super::word::above(w, 0x7e)
}

/// Writes one UTF-16 code unit as `\uXXXX`.
fn write_unit(out: &mut Vec<u8>, unit: u32) {
    let nibble = |shift: u32| HEX[((unit >> shift) & 0xF) as usize];
    out.extend_from_slice(&[b'\\', b'u', nibble(12), nibble(8), nibble(4), nibble(0)]);
}

/// Whole value as json.dumps(..., sort_keys=True) writes it: objects with keys sorted by Python str
/// order (= byte order of UTF-8), "{}" / "[]" when empty, Int text written normalised as Python
/// would re-print the int ("-0" → "0"), Float via write_float.
pub fn write_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(text) => write_int_text(out, text),
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            // Checking order first spares the sort buffer for objects whose keys already arrive
            // sorted.
            if members.windows(2).all(|pair| pair[0].0 <= pair[1].0) {
                write_members(out, members.iter());
            } else {
                let mut sorted: Vec<&(Cow<'_, str>, Value<'_>)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                write_members(out, sorted.into_iter());
            }
            out.push(b'}');
        }
    }
}

fn write_members<'v, 'a: 'v>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = &'v (Cow<'a, str>, Value<'a>)>,
) {
    for (index, (key, value)) in members.enumerate() {
        if index > 0 {
            out.extend_from_slice(b", ");
        }
        write_str(out, key);
        out.extend_from_slice(b": ");
        write_value(out, value);
    }
}

/// Python re-prints an int without sign for zero and without leading zeros; the parser only ever
/// produces "-0" as a non-canonical form, but hand-built values may carry others.
fn write_int_text(out: &mut Vec<u8>, text: &str) {
    let (negative, magnitude) = match text.as_bytes().split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text.as_bytes()),
    };
    let first_significant = magnitude
        .iter()
        .position(|&c| c != b'0')
        .unwrap_or(magnitude.len());
    let significant = &magnitude[first_significant..];
    if significant.is_empty() {
        out.push(b'0');
        return;
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_line;

    fn render(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => panic!("writer produced invalid UTF-8: {e}"),
        }
    }

    fn dumps(line: &str) -> String {
        match parse_line(line.as_bytes()) {
            Ok(v) => render(|out| write_value(out, &v)),
            Err(e) => panic!("{line:?} should parse: {e}"),
        }
    }

    /// Where `write_float` copies zmij's text as it is, that text is the layout of Python's
    /// repr (`write_float_laid_out`, which `floats_match_python_repr` checks against
    /// Python): for random doubles over every exponent in the range (over a hundred
    /// thousand of four million), and the neighbours of its two bounds, where the
    /// layouts part.
    #[test]
    fn zmij_text_is_python_repr_where_it_is_copied() {
        let laid_out = |v: f64| {
            let mut digits = zmij::Buffer::new();
            render(|out| write_float_laid_out(out, digits.format_finite(v).as_bytes()))
        };
        let copied = |v: f64| zmij::Buffer::new().format_finite(v).to_owned();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut checked = 0;
        for _ in 0..4_000_000 {
            // xorshift: every bit pattern is as likely, so every exponent is visited.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = f64::from_bits(state & !(1 << 63));
            if (PLAIN_FROM..PLAIN_BELOW).contains(&v) {
                assert_eq!(copied(v), laid_out(v), "{v:e}");
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
        let mut edge = vec![PLAIN_FROM, PLAIN_BELOW.next_down(), 1.0, 9.999999999999999];
        let (mut up, mut down) = (PLAIN_FROM, PLAIN_BELOW);
        for _ in 0..1_000 {
            up = up.next_up();
            down = down.next_down();
            edge.extend([up, down]);
        }
        for v in edge {
            assert_eq!(copied(v), laid_out(v), "{v:e}");
        }
        // Just outside, the layouts part: these take the general path.
        assert_eq!(copied(1e-5), "0.00001");
        assert_eq!(copied(1e16), "1e+16");
        assert_eq!(
            render(|o| write_float(o, PLAIN_FROM.next_down())),
            "9.999999999999999e-05"
        );
        assert_eq!(laid_out(PLAIN_FROM.next_down()), "9.999999999999999e-05");
        assert_eq!(render(|o| write_float(o, PLAIN_BELOW)), "1e+16");
        assert_eq!(render(|o| write_float(o, -PLAIN_FROM)), "-0.0001");
    }

    #[test]
    fn floats_match_python_repr() {
        // Expected strings from python3 -c 'print(repr(x))'.
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.0 / 3.0, "0.6666666666666666"),
            (2.2615 * 25.0 - 25.0, "31.537499999999994"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e22, "1e+22"),
            (1e21, "1e+21"),
            (1e23, "1e+23"),
            (1e100, "1e+100"),
            (1e-7, "1e-07"),
            (123456789.123, "123456789.123"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (9007199254740992.0, "9007199254740992.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e17, "1e+17"),
            (5e-324, "5e-324"),
            (1.5e-323, "1.5e-323"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-1.5e-10, "-1.5e-10"),
            (1.23e-18, "1.23e-18"),
            (75.0, "75.0"),
            (100.0, "100.0"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.001234, "0.001234"),
            (1e-5, "1e-05"),
            (0.00012345, "0.00012345"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(value, expected) in cases {
            assert_eq!(render(|out| write_float(out, value)), expected, "{value:e}");
        }
    }

    /// Python's `json.dumps(s)` (ensure_ascii), one character at a time.
    fn python_dumps(s: &str) -> String {
        let mut out = String::from("\"");
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(ch),
                _ => {
                    let mut units = [0u16; 2];
                    for u in ch.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_escape_as_python_wherever_the_character_falls() {
        // Every byte class the word-at-a-time passes test, at every offset of texts
        // shorter than a word, and up to past two of the plain test's sixteen bytes (so
        // every tail length), alone and next to another.
        let mut specials: Vec<char> = (0u8..0x20).map(char::from).collect();
        specials.extend([
            '"', '\\', '\u{7f}', '\u{80}', 'é', '€', '😀', ' ', '~', '!', '#', '[', ']', '}',
        ]);
        let letters = "abcdefghijklmnopqrstuvwxyz".repeat(2);
        for len in 0..40 {
            let plain: String = letters.chars().take(len).collect();
            assert!(is_plain(plain.as_bytes()), "{plain:?}");
            for at in 0..=len {
                for &ch in &specials {
                    let mut s = plain.clone();
                    s.insert(at, ch);
                    assert_eq!(
                        is_plain(s.as_bytes()),
                        !NEEDS_ESCAPE[usize::from(s.as_bytes()[at])]
                    );
                    assert_eq!(render(|out| write_str(out, &s)), python_dumps(&s), "{s:?}");
                    s.push(ch);
                    assert_eq!(render(|out| write_str(out, &s)), python_dumps(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn the_word_test_flags_exactly_the_bytes_that_need_escaping() {
        for byte in 0u8..=255 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = byte;
                assert_eq!(
                    any_needs_escape(u64::from_le_bytes(word)),
                    NEEDS_ESCAPE[usize::from(byte)],
                    "byte {byte:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn float_output_appends() {
        let mut out = b"x=".to_vec();
        write_float(&mut out, 1e-5);
        assert_eq!(out, b"x=1e-05");
    }

    #[test]
    fn ints() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (7, "7"),
            (-1, "-1"),
            (1_000_000, "1000000"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ];
        for &(value, expected) in cases {
            assert_eq!(render(|out| write_int(out, value)), expected);
        }
    }

    #[test]
    fn strings_match_python_ensure_ascii() {
        // Expected strings from python3 -c 'import json; print(json.dumps(s))'.
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("ü", r#""\u00fc""#),
            ("😀", r#""\ud83d\ude00""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\u{0}\u{1}\u{1f}\u{7f}", r#""\u0000\u0001\u001f\u007f""#),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            ("/", r#""/""#),
            ("é€😀x", r#""\u00e9\u20ac\ud83d\ude00x""#),
            ("\u{2028}", r#""\u2028""#),
            ("\u{ffff}", r#""\uffff""#),
            ("\u{10ffff}", r#""\udbff\udfff""#),
            ("\u{ff}\u{100}", r#""\u00ff\u0100""#),
            (
                "clip_ü_😀.mp4 and more text",
                r#""clip_\u00fc_\ud83d\ude00.mp4 and more text""#,
            ),
        ];
        for &(value, expected) in cases {
            assert_eq!(render(|out| write_str(out, value)), expected, "{value:?}");
        }
    }

    #[test]
    fn scalars_and_empty_containers() {
        let cases: &[(Value<'_>, &str)] = &[
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::Int("-0"), "0"),
            (Value::Int("-12"), "-12"),
            (Value::Int("0"), "0"),
            (
                Value::Int("123456789012345678901234567890"),
                "123456789012345678901234567890",
            ),
            (Value::Int("007"), "7"),
            (Value::Int("-000"), "0"),
            (Value::Int("+5"), "5"),
            (Value::Float(2.0), "2.0"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Str(Cow::Borrowed("ü")), r#""\u00fc""#),
            (Value::Array(Vec::new()), "[]"),
            (Value::Object(Vec::new()), "{}"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                render(|out| write_value(out, value)),
                *expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn keys_sort_by_code_point() {
        // Python: json.dumps({k: i for i, k in enumerate(keys)}, sort_keys=True); U+1F600 sorts
        // after U+FFFF by code point even though its UTF-16 form would not.
        let keys = [
            "b", "a", "ü", "Z", "😀", "\u{ffff}", "é", "aa", "a b", "", "\u{7f}", "A",
        ];
        let indices = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"];
        let members = keys
            .into_iter()
            .zip(indices)
            .map(|(k, i)| (Cow::Borrowed(k), Value::Int(i)))
            .collect();
        assert_eq!(
            render(|out| write_value(out, &Value::Object(members))),
            r#"{"": 9, "A": 11, "Z": 3, "a": 1, "a b": 8, "aa": 7, "b": 0, "\u007f": 10, "\u00e9": 6, "\u00fc": 2, "\uffff": 5, "\ud83d\ude00": 4}"#
        );
    }

    #[test]
    fn round_trips_match_python_dumps() {
        // Expected: python3 -c 'import json,sys; print(json.dumps(json.loads(line), sort_keys=True))'.
        let cases: &[(&str, &str)] = &[
            (
                r#"{"frame": 12, "vmaf": 31.537499999999994, "psnr_y": 45.12, "ssim": 0.9987654321, "name": "clip_ü_😀.mp4", "meta": {"z": null, "a": [1, 2.5e-10, -0, 1E2, true, false]}, "big": 123456789012345678901234567890}"#,
                r#"{"big": 123456789012345678901234567890, "frame": 12, "meta": {"a": [1, 2.5e-10, 0, 100.0, true, false], "z": null}, "name": "clip_\u00fc_\ud83d\ude00.mp4", "psnr_y": 45.12, "ssim": 0.9987654321, "vmaf": 31.537499999999994}"#,
            ),
            (
                " {\"b\":{\"d\":1,\"c\":[{\"y\":\"\\u00e9\\ud83d\\ude00\\n\",\"x\":-0.0}]},\"a\":NaN,\"\\u0041\":Infinity,\"aa\":-Infinity,\"\":[],\"e\":{},\"dup\":1,\"dup\":[2],\"\u{7f}\":\"\\/\\\"\\\\\\b\\f\\r\\t\"}\r",
                r#"{"": [], "A": Infinity, "a": NaN, "aa": -Infinity, "b": {"c": [{"x": -0.0, "y": "\u00e9\ud83d\ude00\n"}], "d": 1}, "dup": [2], "e": {}, "\u007f": "/\"\\\b\f\r\t"}"#,
            ),
            (
                "[1e400, -1e400, 5e-324, 1e22, 1e-7, 1e16, 123456789.123, 9999999999999998.0, 0.1, 0.30000000000000004, 100, 1.0, -1.5e-10, 4.35, 2.675]",
                "[Infinity, -Infinity, 5e-324, 1e+22, 1e-07, 1e+16, 123456789.123, 9999999999999998.0, 0.1, 0.30000000000000004, 100, 1.0, -1.5e-10, 4.35, 2.675]",
            ),
            ("\t\"x\"\r", r#""x""#),
            ("-0", "0"),
            (
                "[[], {}, [[]], {\"a\": {}}]",
                r#"[[], {}, [[]], {"a": {}}]"#,
            ),
        ];
        for &(line, expected) in cases {
            assert_eq!(dumps(line), expected, "{line:?}");
        }
    }
}
