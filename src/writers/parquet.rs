//! The unified rows as a typed, zstd-compressed Parquet file.

use arrow::array::RecordBatch;
use arrow::compute::BatchCoalescer;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::atomic::{AtomicOutput, Staged};
use super::unified_schema::{UNIFIED_SCHEMA, UNIFIED_SCHEMA_VERSION};
use crate::error::Result;

/// Rows handed to the encoder at a time. The encoder cuts pages at the edges of the
/// batches it is given, so the file's bytes would depend on how the rows happened to be
/// batched (which varies with the memory limit and the number of buckets); re-batched
/// to a fixed size, they depend on the rows alone.
const ENCODER_BATCH_ROWS: usize = 8192;

pub struct UnifiedParquetWriter {
    writer: ArrowWriter<AtomicOutput>,
    rebatch: BatchCoalescer,
    pub rows: u64,
}

impl UnifiedParquetWriter {
    pub fn new(out: AtomicOutput, aggregated_at: &str) -> Result<Self> {
        let key_values = [
            ("mosagg.aggregated_at_utc", aggregated_at),
            ("mosagg.schema", UNIFIED_SCHEMA_VERSION),
            ("mosagg.version", env!("CARGO_PKG_VERSION")),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_owned()))
        .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_key_value_metadata(Some(key_values))
            .build();
        // No embedded ARROW:schema: when it is present, pyarrow and polars show its
        // metadata instead of the file's, and the encoder writes schema metadata in hash
        // order, which would make the bytes differ run to run. Without it, pyarrow,
        // polars, DuckDB and arrow-rs all read the mosagg.* keys above as the schema's
        // metadata, and the column types (Utf8, Int64, Float64, nullability) come back
        // the same from the Parquet schema alone.
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_skip_arrow_metadata(true);
        Ok(Self {
            writer: ArrowWriter::try_new_with_options(out, UNIFIED_SCHEMA.clone(), options)?,
            rebatch: BatchCoalescer::new(UNIFIED_SCHEMA.clone(), ENCODER_BATCH_ROWS),
            rows: 0,
        })
    }

    /// Writes a batch already conformed to the unified schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.rebatch.push_batch(batch.clone())?;
        self.encode_completed()
    }

    fn encode_completed(&mut self) -> Result<()> {
        while let Some(full) = self.rebatch.next_completed_batch() {
            self.writer.write(&full)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Staged> {
        self.rebatch.finish_buffered_batch()?;
        self.encode_completed()?;
        let out = self.writer.into_inner()?;
        out.finish()
    }
}
