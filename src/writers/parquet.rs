//! The unified rows as a typed, zstd-compressed Parquet file.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::atomic::{AtomicOutput, Staged};
use super::unified_schema::{UNIFIED_SCHEMA, UNIFIED_SCHEMA_VERSION};
use crate::error::Result;

pub struct UnifiedParquetWriter {
    writer: ArrowWriter<AtomicOutput>,
    pub rows: u64,
}

impl UnifiedParquetWriter {
    pub fn new(out: AtomicOutput, aggregated_at: &str) -> Result<Self> {
        let metadata: HashMap<String, String> = [
            ("mosagg.schema", UNIFIED_SCHEMA_VERSION),
            ("mosagg.version", env!("CARGO_PKG_VERSION")),
            ("mosagg.aggregated_at_utc", aggregated_at),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // In the file's key-value metadata (what parquet tools list) and on the Arrow
        // schema (stored as ARROW:schema, which pyarrow, polars and DuckDB read, and which
        // hides the raw key-value list from pyarrow's `schema.metadata`).
        let key_values = metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_key_value_metadata(Some(key_values))
            .build();
        let schema = Arc::new(UNIFIED_SCHEMA.as_ref().clone().with_metadata(metadata));
        Ok(Self {
            writer: ArrowWriter::try_new(out, schema, Some(props))?,
            rows: 0,
        })
    }

    /// Writes a batch already conformed to the unified schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<Staged> {
        let out = self.writer.into_inner()?;
        out.finish()
    }
}
