//! The 18 columns of a unified row, in the order the Parquet file stores them.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};

/// Names the layout of the unified rows; bump it when a column changes meaning or type.
pub const UNIFIED_SCHEMA_VERSION: &str = "mos-corpus-unified-v1";

pub static UNIFIED_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Float64, Int64, Utf8};
    let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
    Arc::new(Schema::new(vec![
        f("src", Utf8, false),
        f("src_sha256", Utf8, false),
        f("width", Int64, false),
        f("height", Int64, false),
        // Non-finite values are stored as null, as in the JSONL.
        f("framerate", Float64, true),
        f("duration_s", Float64, true),
        f("pix_fmt", Utf8, false),
        f("encoder_upstream", Utf8, false),
        f("mos", Float64, false),
        f("mos_native", Float64, false),
        f("mos_native_scale", Utf8, false),
        f("mos_std_dev", Float64, true),
        f("n_ratings", Int64, false),
        f("corpus", Utf8, false),
        f("corpus_source", Utf8, false),
        f("corpus_version", Utf8, false),
        f("ingested_at_utc", Utf8, false),
        f("aggregated_at_utc", Utf8, false),
    ]))
});

/// The run's timestamp as a column: every kept row carries the same text, so the column
/// is made once, as long as the longest batch so far, and each batch gets a slice of it
/// (made anew per batch, it was a copy of 25 bytes a row on the thread that feeds both
/// writers).
pub struct RunStamp {
    text: String,
    column: StringArray,
}

impl RunStamp {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            column: StringArray::new_null(0),
        }
    }

    fn column(&mut self, rows: usize) -> ArrayRef {
        if self.column.len() < rows {
            self.column =
                StringArray::from_iter_values(std::iter::repeat_n(self.text.as_str(), rows));
        }
        Arc::new(self.column.slice(0, rows))
    }
}

/// The kept rows of the query as exactly the unified schema: the columns picked by name
/// and cast to their declared type, the run's timestamp added, and non-finite floats in
/// nullable columns turned into nulls (a bare NaN is not JSON).
pub fn conform(batch: &RecordBatch, stamp: &mut RunStamp) -> crate::error::Result<RecordBatch> {
    let n = batch.num_rows();
    let columns = UNIFIED_SCHEMA
        .fields()
        .iter()
        .map(|field| -> crate::error::Result<ArrayRef> {
            let name = field.name().as_str();
            if name == "aggregated_at_utc" {
                return Ok(stamp.column(n));
            }
            let col = batch.column_by_name(name).ok_or_else(|| {
                crate::error::Error::Internal(format!("kept rows lack column {name}"))
            })?;
            let col = arrow::compute::cast(col, field.data_type())?;
            Ok(if field.is_nullable() && field.data_type().is_floating() {
                finite_or_null(col)
            } else {
                col
            })
        })
        .collect::<crate::error::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(UNIFIED_SCHEMA.clone(), columns)?)
}

/// A Float64 column with its non-finite values made null. The values stay where they
/// are (only the validity changes), and a column with none is handed on as it is: the
/// usual case, checked without building anything.
fn finite_or_null(col: ArrayRef) -> ArrayRef {
    let floats = col.as_primitive::<Float64Type>();
    let values = floats.values();
    if values.iter().all(|v| v.is_finite()) {
        return col;
    }
    let finite = NullBuffer::new(BooleanBuffer::collect_bool(values.len(), |i| {
        values[i].is_finite()
    }));
    let nulls = NullBuffer::union(floats.nulls(), Some(&finite));
    Arc::new(Float64Array::new(values.clone(), nulls))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of the query's kept rows: every unified column but the timestamp, with
    /// `duration_s` as given and every other float finite.
    fn kept(duration_s: Vec<Option<f64>>) -> RecordBatch {
        let n = duration_s.len();
        let columns: Vec<(String, ArrayRef)> = UNIFIED_SCHEMA
            .fields()
            .iter()
            .filter(|f| f.name() != "aggregated_at_utc")
            .map(|f| {
                let column: ArrayRef = match (f.name().as_str(), f.data_type()) {
                    ("duration_s", _) => Arc::new(Float64Array::from(duration_s.clone())),
                    (_, DataType::Float64) => Arc::new(Float64Array::from(vec![1.5; n])),
                    (_, DataType::Int64) => Arc::new(arrow::array::Int64Array::from(vec![7; n])),
                    _ => Arc::new(StringArray::from(vec!["x"; n])),
                };
                (f.name().clone(), column)
            })
            .collect();
        RecordBatch::try_from_iter(columns).expect("batch")
    }

    #[test]
    fn non_finite_floats_become_null_and_the_rest_pass_through_untouched() {
        let mut stamp = RunStamp::new("2026-01-01T00:00:00+00:00");
        let batch = kept(vec![
            Some(1.0),
            Some(f64::NAN),
            None,
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(-2.5),
        ]);
        let out = conform(&batch, &mut stamp).expect("conform");
        let d = out.column_by_name("duration_s").expect("column");
        let d = d.as_primitive::<Float64Type>();
        let shown: Vec<Option<f64>> = d.iter().collect();
        assert_eq!(shown, [Some(1.0), None, None, None, None, Some(-2.5)]);
        // A column with only finite values is the query's own array, not a copy.
        let before = batch.column_by_name("framerate").expect("in");
        let after = out.column_by_name("framerate").expect("out");
        assert!(before.to_data().ptr_eq(&after.to_data()));
    }

    #[test]
    fn every_row_of_every_batch_carries_the_run_stamp() {
        let mut stamp = RunStamp::new("2026-01-01T00:00:00+00:00");
        // Growing and shrinking batches: the column is made longer when needed, and
        // each batch gets exactly its own number of rows.
        for n in [3, 1, 8, 0, 5] {
            let out = conform(&kept(vec![Some(1.0); n]), &mut stamp).expect("conform");
            let at = out.column_by_name("aggregated_at_utc").expect("stamp");
            let at = at.as_string::<i32>();
            assert_eq!(at.len(), n);
            assert_eq!(at.null_count(), 0);
            assert!(at.iter().all(|v| v == Some("2026-01-01T00:00:00+00:00")));
        }
    }
}
