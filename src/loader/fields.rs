//! How one input value becomes a typed field of the unified row (CONTRACT §3–4).
//!
//! The reference coerces with Python's `int(x or 0)`, `float(x or 0.0)` and
//! `str(x or "")`; these functions reproduce exactly those results, except that
//! booleans are never numbers and anything unreadable is an error the caller
//! turns into a `bad_value` drop instead of a crash.

use std::borrow::Cow;

use crate::json::Value;
use crate::json::text::{py_float_str, py_repr, py_text};

/// Why a value could not be read; worded to follow "field 'x': ".
pub type FieldError = String;

/// Python's falsy scalars, which `x or default` replaces by the default.
fn is_falsy(v: &Value<'_>) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Int(t) => t.trim_start_matches('-').bytes().all(|b| b == b'0'),
        Value::Float(f) => *f == 0.0,
        Value::Str(s) => s.is_empty(),
        _ => false,
    }
}

/// A text field read with `str(x or "")`: missing, null and other falsy scalars become "".
pub fn text_or_empty<'v>(v: Option<&'v Value<'_>>) -> Result<Cow<'v, str>, FieldError> {
    match v {
        None => Ok(Cow::Borrowed("")),
        Some(v) if is_falsy(v) => Ok(Cow::Borrowed("")),
        Some(v) => scalar_text(v),
    }
}

/// A text field passed through as-is (`src`, `src_sha256`, `corpus`): missing or null become "",
/// every other scalar its text.
pub fn text_raw<'v>(v: Option<&'v Value<'_>>) -> Result<Cow<'v, str>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(Cow::Borrowed("")),
        Some(v) => scalar_text(v),
    }
}

fn scalar_text<'v>(v: &'v Value<'_>) -> Result<Cow<'v, str>, FieldError> {
    py_text(v).ok_or_else(|| format!("expected text, found a {}", v.type_name()))
}

/// An integer field read with `int(x or 0)`; booleans and non-finite floats are errors.
pub fn int_field(v: Option<&Value<'_>>) -> Result<i64, FieldError> {
    let v = match v {
        None => return Ok(0),
        Some(Value::Bool(_)) => return Err("a boolean is not a number".to_owned()),
        Some(v) if is_falsy(v) => return Ok(0),
        Some(v) => v,
    };
    match v {
        Value::Int(t) => t
            .parse::<i64>()
            .map_err(|_| format!("integer {t} does not fit in 64 bits")),
        Value::Float(f) => float_to_int(*f),
        Value::Str(s) => {
            parse_py_int(s).ok_or_else(|| format!("cannot read {} as an integer", py_repr(v)))
        }
        other => Err(format!(
            "expected an integer, found a {}",
            other.type_name()
        )),
    }
}

/// `int(float)`: truncation toward zero; no integer exists for NaN or infinities.
fn float_to_int(f: f64) -> Result<i64, FieldError> {
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() {
        return Err(format!("{} has no integer value", py_float_str(f)));
    }
    let t = f.trunc();
    if (-LIMIT..LIMIT).contains(&t) {
        Ok(t as i64)
    } else {
        Err(format!("{} does not fit in 64 bits", py_float_str(f)))
    }
}

/// A float field read with `float(x or 0.0)`; booleans are errors, non-finite values pass.
pub fn float_field(v: Option<&Value<'_>>) -> Result<f64, FieldError> {
    match v {
        None => Ok(0.0),
        Some(Value::Bool(_)) => Err("a boolean is not a number".to_owned()),
        Some(v) if is_falsy(v) => Ok(0.0),
        Some(v) => number(v),
    }
}

/// The native MOS: read with `float(x)`, no default. `Err` carries why it is not a number.
pub fn mos_value(v: &Value<'_>) -> Result<f64, FieldError> {
    match v {
        Value::Null => Err("native MOS is null".to_owned()),
        Value::Bool(_) => Err(format!(
            "native MOS {} is a boolean, not a number",
            py_repr(v)
        )),
        other => number(other).map_err(|e| format!("native MOS {e}")),
    }
}

fn number(v: &Value<'_>) -> Result<f64, FieldError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(t) => match t.parse::<f64>() {
            // Python raises OverflowError for an integer beyond f64; so do we.
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(format!("integer {t} is too large for a float")),
        },
        Value::Str(s) => parse_py_float(s).ok_or_else(|| format!("{} is not a number", py_repr(v))),
        other => Err(format!("expected a number, found a {}", other.type_name())),
    }
}

/// Whitespace as Python's `str.strip()` sees it, which is wider than Rust's.
fn strip_py(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Python allows single underscores between digits in numeric strings ("1_000").
fn remove_digit_underscores(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('_') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i > 0 && b[i - 1].is_ascii_digit();
            let after = b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(before && after) {
                return None;
            }
        }
    }
    Some(Cow::Owned(s.replace('_', "")))
}

/// Python `float(str)`: decimal or scientific, optional sign, `nan`/`inf`/`infinity` in any case.
pub fn parse_py_float(s: &str) -> Option<f64> {
    let s = remove_digit_underscores(strip_py(s))?;
    let body = s.strip_prefix(['+', '-']).unwrap_or(&s);
    let ok_chars = body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    let lower = body.to_ascii_lowercase();
    let named = matches!(lower.as_str(), "nan" | "inf" | "infinity");
    if body.is_empty() || !(ok_chars || named) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Python `int(str)`: optional sign, decimal digits only.
pub fn parse_py_int(s: &str) -> Option<i64> {
    let s = remove_digit_underscores(strip_py(s))?;
    let body = s.strip_prefix(['+', '-']).unwrap_or(&s);
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(x: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(x))
    }

    #[test]
    fn ints_follow_python_int_of_x_or_zero() {
        assert_eq!(int_field(None), Ok(0));
        assert_eq!(int_field(Some(&Value::Null)), Ok(0));
        assert_eq!(int_field(Some(&s(""))), Ok(0));
        assert_eq!(int_field(Some(&Value::Float(1920.0))), Ok(1920));
        assert_eq!(int_field(Some(&Value::Float(-7.9))), Ok(-7));
        assert_eq!(int_field(Some(&s(" 720 "))), Ok(720));
        assert_eq!(int_field(Some(&s("1_080"))), Ok(1080));
        assert_eq!(int_field(Some(&Value::Int("3840"))), Ok(3840));
        assert!(int_field(Some(&s("1920.0"))).is_err());
        assert!(int_field(Some(&s("abc"))).is_err());
        assert!(int_field(Some(&Value::Bool(true))).is_err());
        assert!(int_field(Some(&Value::Bool(false))).is_err());
        assert!(int_field(Some(&Value::Float(f64::NAN))).is_err());
        assert!(int_field(Some(&Value::Float(1e20))).is_err());
        assert!(int_field(Some(&Value::Int("99999999999999999999"))).is_err());
        assert!(int_field(Some(&Value::Array(vec![]))).is_err());
    }

    #[test]
    fn floats_follow_python_float_of_x_or_zero() {
        assert_eq!(float_field(None), Ok(0.0));
        assert_eq!(float_field(Some(&s(""))), Ok(0.0));
        assert_eq!(float_field(Some(&s("25"))), Ok(25.0));
        assert_eq!(float_field(Some(&s(" 29.97\n"))), Ok(29.97));
        assert_eq!(float_field(Some(&Value::Int("30"))), Ok(30.0));
        assert!(float_field(Some(&s("nan"))).is_ok_and(f64::is_nan));
        assert_eq!(float_field(Some(&s("-Infinity"))), Ok(f64::NEG_INFINITY));
        assert_eq!(float_field(Some(&s("1_000.5"))), Ok(1000.5));
        assert!(float_field(Some(&s("_1"))).is_err());
        assert!(float_field(Some(&s("0x10"))).is_err());
        assert!(float_field(Some(&s("fast"))).is_err());
        assert!(float_field(Some(&Value::Bool(true))).is_err());
        assert!(float_field(Some(&Value::Object(vec![]))).is_err());
    }

    #[test]
    fn mos_has_no_default() {
        assert!(mos_value(&Value::Null).is_err());
        assert!(mos_value(&s("")).is_err());
        assert!(mos_value(&Value::Bool(true)).is_err());
        assert_eq!(mos_value(&Value::Int("3")), Ok(3.0));
        assert_eq!(mos_value(&s(" 4.5 ")), Ok(4.5));
        assert!(mos_value(&Value::Float(f64::NAN)).is_ok_and(f64::is_nan));
    }

    #[test]
    fn text_fields_follow_python_str() {
        assert_eq!(text_or_empty(Some(&Value::Int("0"))), Ok("".into()));
        assert_eq!(text_or_empty(Some(&Value::Bool(false))), Ok("".into()));
        assert_eq!(text_or_empty(Some(&Value::Bool(true))), Ok("True".into()));
        assert_eq!(text_or_empty(Some(&Value::Float(2.5))), Ok("2.5".into()));
        assert_eq!(
            text_or_empty(Some(&Value::Float(f64::NAN))),
            Ok("nan".into())
        );
        assert_eq!(text_raw(Some(&Value::Int("0"))), Ok("0".into()));
        assert_eq!(text_raw(Some(&Value::Int("-0"))), Ok("0".into()));
        assert_eq!(text_raw(Some(&Value::Null)), Ok("".into()));
        assert!(text_raw(Some(&Value::Array(vec![]))).is_err());
    }

    #[test]
    fn repr_quotes_strings_like_python() {
        assert_eq!(py_repr(&s("abc")), "'abc'");
        assert_eq!(py_repr(&Value::Float(6.0)), "6.0");
    }
}
