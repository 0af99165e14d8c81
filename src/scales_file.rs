//! `--scales FILE`: extra or replacement scale conversions, read from JSON and laid
//! over the built-in table, so a new corpus needs a file rather than a rebuild.
//!
//! The file has the shape of a manifest's `scale_conversions` block
//! (`{label: {slope, intercept, native_min, native_max, scale_label}}`), so the
//! table recorded by one run can be fed straight back into another. An entry
//! replaces the built-in entry of the same label as a whole; it never patches
//! single fields, because a half-inherited conversion would be easy to misread.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::scales::{ScaleSpec, ScaleTable, builtin};

/// The fields every entry must carry.
const NUMBER_FIELDS: [&str; 4] = ["slope", "intercept", "native_min", "native_max"];
/// Optional: a citation or note shown by `mosagg scales`.
const SOURCE_FIELD: &str = "source";

/// The table in force: the built-in one, with `path`'s entries laid over it when given.
pub fn table_in_force(path: Option<&Path>) -> Result<ScaleTable> {
    let mut table = builtin();
    if let Some(path) = path {
        table.extend(load(path)?);
    }
    Ok(table)
}

/// Reads and checks a scales file. Every problem is a usage error (exit 2) naming the file.
pub fn load(path: &Path) -> Result<ScaleTable> {
    let shown = crate::paths::shown(path);
    let usage = |problem: String| Error::Usage(format!("--scales {shown}: {problem}"));
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read it ({e})")))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("not valid JSON ({e})")))?;
    parse(&doc, &shown).map_err(usage)
}

/// Checks a parsed document; the error is a sentence without the file name.
pub fn parse(doc: &Value, origin: &str) -> std::result::Result<ScaleTable, String> {
    let Value::Object(entries) = doc else {
        return Err(format!(
            "expected a JSON object of label -> conversion, got {}",
            kind(doc)
        ));
    };
    let mut table = ScaleTable::new();
    for (label, entry) in entries {
        let spec =
            parse_entry(label, entry, origin).map_err(|p| format!("entry {label:?}: {p}"))?;
        table.insert(label.clone(), spec);
    }
    Ok(table)
}

fn parse_entry(label: &str, entry: &Value, origin: &str) -> std::result::Result<ScaleSpec, String> {
    if label.trim().is_empty() {
        return Err("the label is empty".into());
    }
    let Value::Object(fields) = entry else {
        return Err(format!("expected an object, got {}", kind(entry)));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !NUMBER_FIELDS.contains(&k.as_str()) && *k != "scale_label" && *k != SOURCE_FIELD)
    {
        // Refusing unknown keys catches typos such as "slop", which would otherwise
        // surface later as a confusing "missing field".
        return Err(format!(
            "unknown field {unknown:?} (expected slope, intercept, native_min, native_max, scale_label, optional source)"
        ));
    }
    let [slope, intercept, native_min, native_max] = NUMBER_FIELDS.map(|f| number(fields, f));
    let (slope, intercept, native_min, native_max) = (slope?, intercept?, native_min?, native_max?);
    let scale_label = match fields.get("scale_label") {
        None => return Err("missing field \"scale_label\"".into()),
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("\"scale_label\" is empty".into()),
        Some(other) => {
            return Err(format!(
                "\"scale_label\" must be a string, got {}",
                kind(other)
            ));
        }
    };
    let source = match fields.get(SOURCE_FIELD) {
        None => format!("--scales {origin}"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("\"source\" must be a string, got {}", kind(other))),
    };
    if slope == 0.0 {
        return Err("\"slope\" is 0, which maps every native score to the same MOS".into());
    }
    if native_min >= native_max {
        return Err(format!(
            "\"native_min\" ({native_min}) must be below \"native_max\" ({native_max})"
        ));
    }
    Ok(ScaleSpec {
        slope,
        intercept,
        native_min,
        native_max,
        scale_label,
        source,
    })
}

/// A finite JSON number; strings, booleans and nulls are refused, not coerced.
fn number(fields: &Map<String, Value>, name: &str) -> std::result::Result<f64, String> {
    match fields.get(name) {
        None => Err(format!("missing field {name:?}")),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(format!("{name:?} is not a finite number")),
        },
        Some(other) => Err(format!("{name:?} must be a number, got {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> std::result::Result<ScaleTable, String> {
        parse(&json!({ "live-vqc": v }), "t.json")
    }

    #[test]
    fn a_complete_entry_parses() {
        let t = entry(json!({"slope": 1, "intercept": 0, "native_min": 0, "native_max": 100, "scale_label": "0-100"}))
            .expect("valid");
        let s = &t["live-vqc"];
        assert_eq!((s.slope, s.native_max), (1.0, 100.0));
        assert_eq!(s.source, "--scales t.json");
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        let base = json!({"slope": 25, "intercept": -25, "native_min": 1, "native_max": 5, "scale_label": "x"});
        let with = |k: &str, v: Value| {
            let mut e = base.clone();
            e[k] = v;
            entry(e).expect_err("must be refused")
        };
        assert!(with("slope", json!(0)).contains("slope"));
        assert!(with("slope", json!("25")).contains("must be a number"));
        assert!(with("native_min", json!(5)).contains("must be below"));
        assert!(with("scale_label", json!(3)).contains("scale_label"));
        assert!(with("slop", json!(1)).contains("unknown field"));
        let mut missing = base.clone();
        missing.as_object_mut().map(|m| m.remove("intercept"));
        assert!(
            entry(missing)
                .expect_err("missing")
                .contains("missing field \"intercept\"")
        );
        assert!(parse(&json!([1]), "t").is_err());
    }
}
