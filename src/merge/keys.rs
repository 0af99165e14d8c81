//! Which keys an encode-grid row must carry, and the natural key it is deduplicated by.
//!
//! The reference builds the key as `(str(src_sha256), str(encoder), preset, crf)` and
//! tests membership in a Python set, so two rows collide exactly when Python's `==`
//! says so: `23 == 23.0`, `True == 1`, `"23" != 23`. NaN is the odd one: `json.loads`
//! hands out one shared NaN object and tuple comparison checks identity before `==`,
//! so NaN keys do collide with each other. Each part is turned into a text whose
//! equality is that equality, so SQL can group by plain strings.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::json::Value;
use crate::json::text::py_text;
use crate::json::write::write_value;
use crate::loader::batch::RowError;

/// The natural key of an encode, in key order.
pub const NATURAL_KEY: [&str; 4] = ["src_sha256", "encoder", "preset", "crf"];

/// The least a row needs to be merged and trained on (CONTRACT §8).
pub const MINIMAL_KEYS: [&str; 5] = ["crf", "encoder", "preset", "src_sha256", "vmaf_score"];

/// The vmaf-tune corpus row schema (v3), which the reference requires in full.
pub const VMAF_TUNE_ROW_KEYS: [&str; 54] = [
    "schema_version",
    "run_id",
    "timestamp",
    "src",
    "src_sha256",
    "width",
    "height",
    "pix_fmt",
    "framerate",
    "duration_s",
    "encoder",
    "encoder_version",
    "preset",
    "crf",
    "extra_params",
    "encode_path",
    "encode_size_bytes",
    "bitrate_kbps",
    "encode_time_ms",
    "vmaf_score",
    "vmaf_model",
    "score_time_ms",
    "ffmpeg_version",
    "vmaf_binary_version",
    "exit_status",
    "clip_mode",
    "hdr_transfer",
    "hdr_primaries",
    "hdr_forced",
    "shot_count",
    "shot_avg_duration_sec",
    "shot_duration_std_sec",
    "adm2_mean",
    "vif_scale0_mean",
    "vif_scale1_mean",
    "vif_scale2_mean",
    "vif_scale3_mean",
    "motion2_mean",
    "adm2_std",
    "vif_scale0_std",
    "vif_scale1_std",
    "vif_scale2_std",
    "vif_scale3_std",
    "motion2_std",
    "enc_internal_qp_mean",
    "enc_internal_qp_std",
    "enc_internal_bits_mean",
    "enc_internal_bits_std",
    "enc_internal_mv_mean",
    "enc_internal_mv_std",
    "enc_internal_itex_mean",
    "enc_internal_ptex_mean",
    "enc_internal_intra_ratio",
    "enc_internal_skip_ratio",
];

/// How strictly rows are checked before merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RequiredKeys {
    /// Every key of the vmaf-tune corpus schema v3, as the reference checks.
    #[default]
    Full,
    /// Only src_sha256, encoder, preset, crf and vmaf_score (older or trimmed shards).
    Minimal,
}

impl RequiredKeys {
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            RequiredKeys::Full => &VMAF_TUNE_ROW_KEYS,
            RequiredKeys::Minimal => &MINIMAL_KEYS,
        }
    }

    /// Key → bit position, built once: checking a row is then one pass over its members
    /// instead of a search per required key.
    fn positions(self) -> &'static HashMap<&'static str, u32> {
        static FULL: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
        static MINIMAL: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
        let cell = match self {
            RequiredKeys::Full => &FULL,
            RequiredKeys::Minimal => &MINIMAL,
        };
        cell.get_or_init(|| self.keys().iter().zip(0..).map(|(k, i)| (*k, i)).collect())
    }
}

// Every required set must fit the 64-bit mask `check` uses.
const _: () = assert!(VMAF_TUNE_ROW_KEYS.len() <= 64 && MINIMAL_KEYS.len() <= 64);

/// The row must be an object holding every required key (`null` counts as present).
pub fn check(row: &Value<'_>, required: RequiredKeys) -> Result<(), RowError> {
    let Value::Object(members) = row else {
        return Err(RowError::NotAnObject(row.type_name()));
    };
    let positions = required.positions();
    let mut seen = 0u64;
    for (key, _) in members {
        if let Some(bit) = positions.get(key.as_ref()) {
            seen |= 1 << bit;
        }
    }
    let keys = required.keys();
    let all = if keys.len() == 64 {
        u64::MAX
    } else {
        (1u64 << keys.len()) - 1
    };
    if seen == all {
        return Ok(());
    }
    let mut missing: Vec<&'static str> = keys
        .iter()
        .zip(0..)
        .filter(|(_, bit)| seen & (1u64 << bit) == 0)
        .map(|(k, _)| *k)
        .collect();
    // Sorted, as the reference prints `sorted(missing)`.
    missing.sort_unstable();
    Err(RowError::MissingKeys(missing))
}

/// `str(value)` equality, used for `src_sha256` and `encoder`.
///
/// Scalars compare by their Python text (so `True` and `"True"` collide, as they do
/// in the reference); lists and objects by their JSON text, kept apart from scalars.
pub fn text_part(v: &Value<'_>) -> String {
    match py_text(v) {
        Some(t) => format!("t:{t}"),
        None => {
            let mut out = Vec::new();
            write_value(&mut out, v);
            format!("c:{}", String::from_utf8_lossy(&out))
        }
    }
}

/// Python `==` equality, used for `preset` and `crf`. Lists and objects are refused:
/// the reference cannot hash them and stops with a traceback.
pub fn value_part(v: &Value<'_>) -> Result<String, &'static str> {
    let number = |t: String| Ok(format!("n:{t}"));
    match v {
        Value::Null => Ok("none".into()),
        // Python's bool is an int: True == 1 == 1.0.
        Value::Bool(b) => number(u8::from(*b).to_string()),
        Value::Int(_) => number(py_text(v).unwrap_or_default().into_owned()),
        Value::Float(f) if f.is_nan() => number("nan".into()),
        Value::Float(f) if f.is_infinite() => number(if *f > 0.0 { "inf" } else { "-inf" }.into()),
        Value::Float(f) if f.fract() == 0.0 => {
            // An integral float equals the int with the same value: print it exactly, no fraction.
            let t = format!("{f:.0}");
            number(if t == "-0" { "0".into() } else { t })
        }
        // Other floats equal no int; repr is unique per value and always has '.' or 'e'.
        Value::Float(_) => number(py_text(v).unwrap_or_default().into_owned()),
        Value::Str(s) => Ok(format!("s:{s}")),
        Value::Array(_) | Value::Object(_) => Err(v.type_name()),
    }
}

/// The `src_sha256` that counts towards `unique_sources`: a non-empty string.
pub fn source<'a>(row: &'a Value<'_>) -> Option<&'a str> {
    match row.get("src_sha256") {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_line;

    fn part(json: &str) -> String {
        value_part(&parse_line(json.as_bytes()).expect("json")).expect("scalar")
    }

    #[test]
    fn numbers_compare_as_python_does() {
        assert_eq!(part("23"), part("23.0"));
        assert_eq!(part("1"), part("true"));
        assert_eq!(part("0"), part("-0.0"));
        assert_eq!(part("1e16"), part("10000000000000000"));
        assert_ne!(part("23"), part("\"23\""));
        assert_ne!(part("23.5"), part("23"));
        assert_ne!(part("null"), part("\"\""));
        assert_eq!(part("NaN"), part("NaN"));
        assert_ne!(part("NaN"), part("Infinity"));
        assert_eq!(part("Infinity"), part("1e999"));
    }

    #[test]
    fn containers_cannot_be_key_values() {
        let v = parse_line(b"[1]").expect("json");
        assert_eq!(value_part(&v), Err("list"));
    }

    #[test]
    fn text_parts_follow_str() {
        let t = |s: &str| text_part(&parse_line(s.as_bytes()).expect("json"));
        assert_eq!(t("\"True\""), t("true"));
        assert_eq!(t("5"), t("\"5\""));
        assert_ne!(t("1.0"), t("1"));
        assert_ne!(t("[1]"), t("\"[1]\""));
    }

    #[test]
    fn missing_keys_are_sorted() {
        let v = parse_line(br#"{"preset": "medium", "src_sha256": "a"}"#).expect("json");
        let err = check(&v, RequiredKeys::Minimal).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "missing required keys: ['crf', 'encoder', 'vmaf_score']"
        );
        assert_eq!(VMAF_TUNE_ROW_KEYS.len(), 54);
    }
}
