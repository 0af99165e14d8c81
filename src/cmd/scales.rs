//! `mosagg scales`: the conversion table in force, for the terminal or as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::scales::{ScaleSpec, ScaleTable};
use crate::table_out::{draw_table, print_text};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ScalesFormat {
    #[default]
    Table,
    /// One object keyed by label.
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = ScalesFormat::Table)]
    pub format: ScalesFormat,
    /// JSON scale conversions laid over the built-in table, as for `aggregate` and `run`.
    #[arg(long, value_name = "FILE")]
    pub scales: Option<std::path::PathBuf>,
}

pub fn execute(args: Args) -> Result<i32> {
    let table = crate::scales_file::table_in_force(args.scales.as_deref())?;
    print_text(&render(&table, args.format)?)?;
    Ok(0)
}

/// One label's fields, in the order they are listed (JSON objects keep it).
#[derive(Serialize)]
struct Entry<'a> {
    slope: f64,
    intercept: f64,
    native_min: f64,
    native_max: f64,
    scale_label: &'a str,
    source: &'a str,
}

impl<'a> From<&'a ScaleSpec> for Entry<'a> {
    fn from(s: &'a ScaleSpec) -> Self {
        Self {
            slope: s.slope,
            intercept: s.intercept,
            native_min: s.native_min,
            native_max: s.native_max,
            scale_label: &s.scale_label,
            source: &s.source,
        }
    }
}

/// The table as text in the chosen format, ending in a newline.
pub fn render(table: &ScaleTable, format: ScalesFormat) -> Result<String> {
    match format {
        ScalesFormat::Json => {
            let doc: BTreeMap<&str, Entry<'_>> = table
                .iter()
                .map(|(label, spec)| (label.as_str(), Entry::from(spec)))
                .collect();
            let text = serde_json::to_string_pretty(&doc)
                .map_err(|e| Error::Internal(format!("scale table as JSON: {e}")))?;
            Ok(text + "\n")
        }
        ScalesFormat::Table => {
            let header = [
                "label",
                "slope",
                "intercept",
                "native_min",
                "native_max",
                "scale_label",
                "source",
            ]
            .map(String::from)
            .to_vec();
            let num = |v: f64| crate::json::text::float_repr(v);
            let rows = table
                .iter()
                .map(|(label, s)| {
                    vec![
                        label.clone(),
                        num(s.slope),
                        num(s.intercept),
                        num(s.native_min),
                        num(s.native_max),
                        s.scale_label.clone(),
                        s.source.clone(),
                    ]
                })
                .collect();
            // label, then four numbers, then two texts.
            let right = [false, true, true, true, true, false, false];
            Ok(draw_table(header, &right, rows) + "\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_keyed_by_label_with_every_field() {
        let text = render(&crate::scales::builtin(), ScalesFormat::Json).expect("json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid");
        let k = &v["konvid-1k"];
        assert_eq!(k["slope"], 25.0);
        assert_eq!(k["intercept"], -25.0);
        assert_eq!(k["native_min"], 1.0);
        assert_eq!(k["native_max"], 5.0);
        assert_eq!(k["scale_label"], "1-5-acr");
        assert!(
            k["source"]
                .as_str()
                .is_some_and(|s| s.contains("KonViD-1k"))
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(6));
    }
}
