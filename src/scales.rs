//! The per-corpus scale conversions: the one table every conversion, range check,
//! manifest and `mosagg scales` listing is derived from.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

/// How far outside the published range a native MOS may sit and still count as on-scale.
/// Absorbs dataset-side rounding; never widened to rescue data.
pub const NATIVE_RANGE_SLACK: f64 = 0.05;

/// One corpus's affine map `unified = slope * native + intercept` and its published native range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    pub slope: f64,
    pub intercept: f64,
    pub native_min: f64,
    pub native_max: f64,
    pub scale_label: String,
    /// Where the scale definition comes from; shown by `mosagg scales`, not part of the manifest table.
    #[serde(default, skip_serializing)]
    pub source: String,
}

/// Label → spec, ordered by label so every listing and manifest is deterministic.
pub type ScaleTable = BTreeMap<String, ScaleSpec>;

fn spec(
    slope: f64,
    intercept: f64,
    range: (f64, f64),
    scale_label: &str,
    source: &str,
) -> ScaleSpec {
    ScaleSpec {
        slope,
        intercept,
        native_min: range.0,
        native_max: range.1,
        scale_label: scale_label.to_owned(),
        source: source.to_owned(),
    }
}

/// The conversions mosagg ships with (CONTRACT §3), identical to the reference aggregator's.
pub fn builtin() -> ScaleTable {
    let acr = |source: &str| spec(25.0, -25.0, (1.0, 5.0), "1-5-acr", source);
    [
        (
            "konvid-1k",
            acr("Hosu et al., QoMEX 2017: KonViD-1k, 5-point ACR"),
        ),
        (
            "konvid-150k",
            acr("Götz-Hahn et al., IEEE Access 2021: KonViD-150k, 5-point ACR"),
        ),
        (
            "lsvq",
            acr("Ying et al., CVPR 2021 §4.1: LSVQ (Patch-VQ), 1-5 ACR"),
        ),
        (
            "youtube-ugc",
            acr("Wang et al., MMSP 2019 §3.2: YouTube UGC, 1-5 ACR"),
        ),
        (
            "waterloo-ivc-4k",
            spec(
                1.0,
                0.0,
                (0.0, 100.0),
                "0-100-dcr",
                "Cheon & Lee, CVPR-W 2016 §III.B: Waterloo IVC 4K-VQA, continuous 0-100",
            ),
        ),
        (
            "netflix-public",
            spec(
                1.0,
                0.0,
                (0.0, 100.0),
                "vmaf",
                "libvmaf model.h: vmaf_v0.6.1 scores, already on the 0-100 VMAF axis",
            ),
        ),
    ]
    .into_iter()
    .map(|(label, s)| (label.to_owned(), s))
    .collect()
}

impl ScaleSpec {
    /// The inclusive bounds a native MOS must fall in, computed exactly as the reference does.
    pub fn accepted_range(&self) -> (f64, f64) {
        (
            self.native_min - NATIVE_RANGE_SLACK,
            self.native_max + NATIVE_RANGE_SLACK,
        )
    }
}

/// The table as an Arrow batch, so SQL can join rows to their conversion.
pub fn to_record_batch(table: &ScaleTable) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("slope", DataType::Float64, false),
        Field::new("intercept", DataType::Float64, false),
        Field::new("native_min", DataType::Float64, false),
        Field::new("native_max", DataType::Float64, false),
        Field::new("range_slack", DataType::Float64, false),
        Field::new("scale_label", DataType::Utf8, false),
    ]));
    let col = |f: fn(&ScaleSpec) -> f64| Arc::new(table.values().map(f).collect::<Float64Array>());
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(table.keys())),
            col(|s| s.slope),
            col(|s| s.intercept),
            col(|s| s.native_min),
            col(|s| s.native_max),
            col(|_| NATIVE_RANGE_SLACK),
            Arc::new(StringArray::from_iter_values(
                table.values().map(|s| s.scale_label.as_str()),
            )),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_matches_the_contract() {
        let t = builtin();
        let labels: Vec<_> = t.keys().cloned().collect();
        assert_eq!(
            labels,
            [
                "konvid-150k",
                "konvid-1k",
                "lsvq",
                "netflix-public",
                "waterloo-ivc-4k",
                "youtube-ugc"
            ]
        );
        let k = &t["konvid-1k"];
        assert_eq!((k.slope, k.intercept), (25.0, -25.0));
        assert_eq!(k.accepted_range(), (1.0 - 0.05, 5.0 + 0.05));
        assert_eq!(t["netflix-public"].scale_label, "vmaf");
        assert_eq!(t["waterloo-ivc-4k"].scale_label, "0-100-dcr");
    }

    #[test]
    fn record_batch_has_one_row_per_label() {
        let b = to_record_batch(&builtin()).expect("batch");
        assert_eq!(b.num_rows(), 6);
        assert_eq!(b.num_columns(), 7);
    }
}
