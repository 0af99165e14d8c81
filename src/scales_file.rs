//! `--scales FILE`: extra or replacement scale conversions, read from JSON and laid
//! over the built-in table, so a new corpus needs a file rather than a rebuild.
//!
//! The file has the shape of a manifest's `scale_conversions` block
//! (`{label: {slope, intercept, native_min, native_max, scale_label}}`), so the
//! table recorded by one run can be fed straight back into another. An entry
//! replaces the built-in entry of the same label as a whole; it never patches
//! single fields, because a half-inherited conversion would be easy to misread.

use std::path::Path;

use crate::error::{Error, Result};
use crate::scales::{ScaleSpec, ScaleTable, builtin};

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
    parse(&text, &shown).map_err(usage)
}

/// Reads the document's shape with serde (which names the line and column of a wrong
/// type, a missing or unknown field), then checks its meaning; the error is a sentence
/// without the file name.
pub fn parse(text: &str, origin: &str) -> std::result::Result<ScaleTable, String> {
    // `ScaleSpec` refuses unknown fields: a typo such as "slop" would otherwise surface
    // later as a confusing "missing field".
    let mut table: ScaleTable = serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => format!(
                "not a table of label -> {{slope, intercept, native_min, native_max, scale_label, source?}} ({e})"
            ),
            _ => format!("not valid JSON ({e})"),
        }
    })?;
    for (label, spec) in &mut table {
        check(label, spec).map_err(|p| format!("entry {label:?}: {p}"))?;
        if spec.source.is_empty() {
            spec.source = format!("--scales {origin}");
        }
    }
    Ok(table)
}

/// What serde cannot see: a conversion that would be meaningless.
fn check(label: &str, spec: &ScaleSpec) -> std::result::Result<(), String> {
    if label.trim().is_empty() {
        return Err("the label is empty".into());
    }
    if spec.scale_label.trim().is_empty() {
        return Err("\"scale_label\" is empty".into());
    }
    if spec.slope == 0.0 {
        return Err("\"slope\" is 0, which maps every native score to the same MOS".into());
    }
    if spec.native_min >= spec.native_max {
        return Err(format!(
            "\"native_min\" ({}) must be below \"native_max\" ({})",
            spec.native_min, spec.native_max
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn entry(v: Value) -> std::result::Result<ScaleTable, String> {
        parse(&json!({ "live-vqc": v }).to_string(), "t.json")
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
        assert!(with("slope", json!("25")).contains("invalid type: string \"25\", expected f64"));
        assert!(with("native_min", json!(5)).contains("must be below"));
        assert!(with("scale_label", json!(3)).contains("expected a string"));
        assert!(with("scale_label", json!(" ")).contains("\"scale_label\" is empty"));
        assert!(with("slop", json!(1)).contains("unknown field `slop`"));
        let mut missing = base.clone();
        missing.as_object_mut().map(|m| m.remove("intercept"));
        assert!(
            entry(missing)
                .expect_err("missing")
                .contains("missing field `intercept`")
        );
        assert!(parse("[1]", "t").is_err());
        assert!(
            parse("{", "t")
                .expect_err("syntax")
                .contains("not valid JSON")
        );
        assert!(
            parse("{\n  \"x\": 3\n}", "t")
                .expect_err("shape")
                .contains("line 2 column")
        );
    }
}
