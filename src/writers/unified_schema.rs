//! The 18 columns of a unified row, in the order the Parquet file stores them.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

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

/// The kept rows of the query as exactly the unified schema: the columns picked by name
/// and cast to their declared type, the run's timestamp added, and non-finite floats in
/// nullable columns turned into nulls (a bare NaN is not JSON).
pub fn conform(
    batch: &arrow::array::RecordBatch,
    aggregated_at: &str,
) -> crate::error::Result<arrow::array::RecordBatch> {
    use arrow::array::{ArrayRef, AsArray, Float64Array, StringArray};
    use arrow::datatypes::Float64Type;

    let n = batch.num_rows();
    let columns = UNIFIED_SCHEMA
        .fields()
        .iter()
        .map(|field| -> crate::error::Result<ArrayRef> {
            let name = field.name().as_str();
            if name == "aggregated_at_utc" {
                return Ok(Arc::new(StringArray::from_iter_values(
                    std::iter::repeat_n(aggregated_at, n),
                )));
            }
            let col = batch.column_by_name(name).ok_or_else(|| {
                crate::error::Error::Internal(format!("kept rows lack column {name}"))
            })?;
            let col = arrow::compute::cast(col, field.data_type())?;
            Ok(if field.is_nullable() && field.data_type().is_floating() {
                Arc::new(
                    col.as_primitive::<Float64Type>()
                        .iter()
                        .map(|v| v.filter(|x| x.is_finite()))
                        .collect::<Float64Array>(),
                )
            } else {
                col
            })
        })
        .collect::<crate::error::Result<Vec<_>>>()?;
    Ok(arrow::array::RecordBatch::try_new(
        UNIFIED_SCHEMA.clone(),
        columns,
    )?)
}
