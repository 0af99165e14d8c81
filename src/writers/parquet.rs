//! The unified rows as a typed, zstd-compressed Parquet file.

use arrow::array::RecordBatch;
use arrow::compute::BatchCoalescer;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::atomic::{AtomicOutput, Staged};
use super::unified_schema::{UNIFIED_SCHEMA, UNIFIED_SCHEMA_VERSION};
use crate::error::Result;

/// zstd level 1, not 3: on the realistic set the Parquet writer spends a quarter less
/// time (zstd was three fifths of it, and the writer is the last to finish) and the file
/// comes out 5 % smaller, the columns being mostly dictionary indices and hex hashes.
const ZSTD_LEVEL: i32 = 1;

/// Columns whose every value is its own: a kept row is the only one of its content hash,
/// and its clip's path is as good as unique. A dictionary of them only grows until the
/// encoder gives up on it (after a megabyte), each value hashed and copied into it on
/// the way: a third of the Parquet writer's time went to that table.
const UNIQUE_PER_ROW: [&str; 2] = ["src_sha256", "src"];

/// Rows handed to the encoder at a time. The encoder cuts pages at the edges of the
/// batches it is given, so the file's bytes would depend on how the rows happened to be
/// batched upstream (today the merge's batch size; before, the filter of kept rows);
/// re-batched to a fixed size, they depend on the rows alone.
const ENCODER_BATCH_ROWS: usize = 8192;

/// Rows per row group (2^17; DuckDB writes 122,880, arrow-rs 1,048,576 by default).
/// The encoder holds a row group's encoded pages until the group is complete and only
/// then hands them to the file, where the disk thread hashes and writes them. At a
/// million rows the whole realistic set was one group, so all 8.9 MB reached the disk
/// thread after the last row, and closing that group took 18-22 ms at the end of the
/// run, one core idle. With groups of 2^17 rows the earlier groups are hashed and
/// written while the rest is still being merged, and the close at the end takes 8-11 ms.
/// Readers measured no loss: `stats` on the 10M-row file took as long with 73 groups
/// as with 10, and DuckDB read it faster (BENCHMARKS.md, "Parquet row groups of 2^17 rows").
const ROW_GROUP_ROWS: usize = 1 << 17;

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
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
            .set_key_value_metadata(Some(key_values))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        for column in UNIQUE_PER_ROW {
            props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
        }
        let props = props.build();
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
    ///
    /// Only rows that straddle an encoder batch are copied into the re-batcher: the
    /// merge hands over batches of exactly `ENCODER_BATCH_ROWS` rows, which go to the
    /// encoder as they are, uncopied (a copy of every output row: 51 MB on the
    /// realistic set, 2.7 GB at 10M rows).
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let mut rest = batch.clone();
        let buffered = self.rebatch.get_buffered_rows();
        if buffered > 0 {
            // Top up the encoder batch the last call left unfinished, in order.
            let top_up = (ENCODER_BATCH_ROWS - buffered).min(rest.num_rows());
            self.rebatch.push_batch(rest.slice(0, top_up))?;
            rest = rest.slice(top_up, rest.num_rows() - top_up);
            self.encode_completed()?;
        }
        while rest.num_rows() >= ENCODER_BATCH_ROWS {
            self.writer.write(&rest.slice(0, ENCODER_BATCH_ROWS))?;
            rest = rest.slice(ENCODER_BATCH_ROWS, rest.num_rows() - ENCODER_BATCH_ROWS);
        }
        if rest.num_rows() > 0 {
            self.rebatch.push_batch(rest)?;
        }
        Ok(())
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;
    use std::sync::Arc;

    /// `rows` unified rows with values that vary by row (so pages have something to encode).
    pub(crate) fn rows(n: usize) -> RecordBatch {
        let columns = UNIFIED_SCHEMA
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.data_type() {
                    DataType::Int64 => {
                        Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 977)))
                    }
                    DataType::Float64 => Arc::new(Float64Array::from_iter_values(
                        (0..n).map(|i| i as f64 / 7.0),
                    )),
                    _ => Arc::new(StringArray::from_iter_values(
                        (0..n).map(|i| format!("{}-{:064x}", f.name(), i * 7919)),
                    )),
                }
            })
            .collect();
        RecordBatch::try_new(UNIFIED_SCHEMA.clone(), columns).expect("batch")
    }

    fn written(path: &std::path::Path, batches: &[RecordBatch]) -> Vec<u8> {
        let out = AtomicOutput::create(path).expect("create");
        let w = UnifiedParquetWriter::new(out, "2026-05-09T00:00:00+00:00").expect("writer");
        crate::writers::unified::written_through(w, path, batches)
    }

    #[test]
    fn only_the_columns_unique_per_row_are_written_without_a_dictionary() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.parquet");
        written(&path, &[rows(20_000)]);
        let reader =
            SerializedFileReader::new(std::fs::File::open(&path).expect("open")).expect("parquet");
        let group = reader.metadata().row_group(0);
        let with_dictionary: Vec<String> = group
            .columns()
            .iter()
            .filter(|c| c.dictionary_page_offset().is_some())
            .map(|c| c.column_path().string())
            .collect();
        for name in UNIQUE_PER_ROW {
            assert!(
                !with_dictionary.iter().any(|c| c == name),
                "{with_dictionary:?}"
            );
        }
        // Every other column, the repeated texts among them, keeps its dictionary.
        assert_eq!(
            with_dictionary.len(),
            group.num_columns() - UNIQUE_PER_ROW.len()
        );
        assert!(with_dictionary.iter().any(|c| c == "corpus"));
    }

    #[test]
    fn rows_are_cut_into_groups_of_a_fixed_size_and_read_back_whole() {
        use arrow::compute::concat_batches;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.parquet");
        let all = rows(2 * ROW_GROUP_ROWS + 5_000);
        // In pieces that straddle the group boundaries.
        let pieces: Vec<RecordBatch> = (0..all.num_rows())
            .step_by(50_000)
            .map(|at| all.slice(at, 50_000.min(all.num_rows() - at)))
            .collect();
        written(&path, &pieces);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).expect("open"))
                .expect("parquet");
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        let full = ROW_GROUP_ROWS as i64;
        assert_eq!(groups, [full, full, 5_000]);
        let back: Vec<RecordBatch> = reader
            .build()
            .expect("reader")
            .collect::<std::result::Result<_, _>>()
            .expect("rows");
        let back = concat_batches(&UNIFIED_SCHEMA, &back).expect("concat");
        assert_eq!(back, all);
    }

    #[test]
    fn the_bytes_depend_on_the_rows_not_on_how_they_were_batched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = rows(30_000);
        let whole = written(
            &dir.path().join("whole.parquet"),
            std::slice::from_ref(&all),
        );
        // Uneven pieces, none of them a multiple of the encoder's batch.
        let mut pieces = Vec::new();
        let mut at = 0;
        for len in [1usize, 999, 5_000, 8_191, 3, 12_000].iter().cycle() {
            if at >= all.num_rows() {
                break;
            }
            let len = (*len).min(all.num_rows() - at);
            pieces.push(all.slice(at, len));
            at += len;
        }
        let pieced = written(&dir.path().join("pieces.parquet"), &pieces);
        assert_eq!(whole, pieced);
    }
}
