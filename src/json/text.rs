//! Python's `str()` and `repr()` of parsed JSON values: the text the reference prints
//! in its messages and writes for coerced fields, and that mosagg shows for floats.

use std::borrow::Cow;

use super::Value;
use super::write::write_float;

/// Python's `str()` of a scalar, or `None` for values that have no scalar text. A
/// string is lent, not copied: the scan reads several text fields of every row.
pub fn py_text<'v>(v: &'v Value<'_>) -> Option<Cow<'v, str>> {
    match v {
        Value::Null => Some(Cow::Borrowed("None")),
        Value::Bool(true) => Some(Cow::Borrowed("True")),
        Value::Bool(false) => Some(Cow::Borrowed("False")),
        Value::Int(t) => Some(Cow::Borrowed(normalise_int_text(t))),
        Value::Float(f) => Some(Cow::Owned(py_float_str(*f))),
        Value::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Python's `repr()` of a value, for messages that quote what was found.
pub fn py_repr(v: &Value<'_>) -> String {
    match v {
        Value::Str(s) => format!("'{}'", s.escape_debug()),
        Value::Array(_) => "[...]".to_owned(),
        Value::Object(_) => "{...}".to_owned(),
        other => py_text(other).map(Cow::into_owned).unwrap_or_default(),
    }
}

/// `str(float)`: like repr, but Python spells the non-finite values in lower case.
pub fn py_float_str(f: f64) -> String {
    let mut buf = Vec::with_capacity(24);
    write_py_float_str(&mut buf, f);
    String::from_utf8(buf).unwrap_or_default()
}

/// [`py_float_str`] appended to `out`, for writers of many values (no text of its own).
pub fn write_py_float_str(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"nan");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"inf" } else { b"-inf" });
    } else {
        write_float(out, f);
    }
}

/// Python re-prints `-0` as `0`; every other integer literal is already canonical.
fn normalise_int_text(t: &str) -> &str {
    if t.trim_start_matches('-').bytes().all(|b| b == b'0') {
        "0"
    } else {
        t
    }
}

/// `repr(float)`: the shortest text that reads back as the same f64 (`75.0`, `1e-05`).
pub fn float_repr(f: f64) -> String {
    py_repr(&Value::Float(f))
}
