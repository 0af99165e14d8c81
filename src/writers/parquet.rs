//! The unified rows as a typed, zstd-compressed Parquet file.

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
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("mosagg.schema".into(), UNIFIED_SCHEMA_VERSION.to_owned()),
                KeyValue::new(
                    "mosagg.version".into(),
                    env!("CARGO_PKG_VERSION").to_owned(),
                ),
                KeyValue::new("mosagg.aggregated_at_utc".into(), aggregated_at.to_owned()),
            ]))
            .build();
        Ok(Self {
            writer: ArrowWriter::try_new(out, UNIFIED_SCHEMA.clone(), Some(props))?,
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
