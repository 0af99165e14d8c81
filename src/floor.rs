//! The floor: the work no aggregation of these inputs into these outputs can skip, each
//! part timed on its own, with mosagg's own code for it. `bench/floor.rs` runs it beside
//! the job in bench/run.sh, so BENCHMARKS.md can say how far a run is from the floor,
//! measured on the same machine in the same run rather than estimated.
//!
//! The parts: read the inputs, SHA-256 them (the manifest needs their digests), parse
//! every line, then format, hash and write the JSONL and encode the zstd Parquet of the
//! kept rows. Each runs alone and is timed in the process's CPU seconds (a write
//! throttled by the disk waits without counting); their sum over the cores is the
//! shortest wall time the job could take if nothing else happened and the cores shared
//! the work perfectly. One sort of every row's narrow key is timed too, apart: a
//! window ranking needs its rows in order, but a dedup as such needs no sort, so it
//! is not part of the floor.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, UInt32Builder, UInt64Array, UInt64Builder,
};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::json::{Record, Value};
use crate::loader::batch::{ROW_FIELDS, RowField, parse_row};
use crate::loader::scan::{LineBlocks, for_each_line};
use crate::paths::shown;
use crate::shard_file::Storage;
use crate::writers::atomic::AtomicOutput;
use crate::writers::jsonl::UnifiedJsonlWriter;
use crate::writers::parquet::UnifiedParquetWriter;
use crate::writers::unified_schema::{RunStamp, conform};

/// CPU time of the process, in user space and in the kernel: what a part costs,
/// whatever the disk or the other processes of the machine do meanwhile. The parts
/// run one at a time; the process, not the calling thread, so the thread that hashes
/// and writes an output's bytes (`writers::sink`) counts with its part.
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    system: Duration,
}

impl Cpu {
    fn now() -> Self {
        // SAFETY: getrusage only writes the struct it is given; all-zero is a valid rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_SELF is every thread of this process.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Cpu {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
    }

    /// Adds what the process spent since `since`.
    fn add_since(&mut self, since: Cpu) {
        let now = Cpu::now();
        self.user += now.user.saturating_sub(since.user);
        self.system += now.system.saturating_sub(since.system);
    }
}

/// One part of the floor: what it did and how long it took.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: &'static str,
    pub what: &'static str,
    /// CPU seconds (user + system), or wall seconds for the disk wait.
    pub seconds: f64,
    /// Of `seconds`, those in the kernel (copying to and from the page cache, faults).
    pub system_seconds: f64,
    pub bytes: u64,
    pub rows: u64,
}

impl Part {
    /// A part timed in the process's CPU seconds while it ran alone.
    fn timed(name: &'static str, what: &'static str, cpu: Cpu, bytes: u64, rows: u64) -> Self {
        Part {
            name,
            what,
            seconds: (cpu.user + cpu.system).as_secs_f64(),
            system_seconds: cpu.system.as_secs_f64(),
            bytes,
            rows,
        }
    }
}

/// Times every part for `inputs` (plain JSONL shards) and `unified` (the Parquet a run
/// wrote from them); the outputs are written again, into temporary files in `scratch`,
/// and deleted.
pub fn measure(inputs: &[PathBuf], unified: &Path, scratch: &Path) -> Result<Vec<Part>> {
    let mut parts = scan_parts(inputs)?;
    parts.extend(output_parts(unified, scratch)?);
    Ok(parts)
}

/// The narrow key of every row, as the ranking sorts it.
struct Keys {
    key: StringBuilder,
    uncertainty: Float64Builder,
    input: UInt32Builder,
    line: UInt64Builder,
}

impl Keys {
    /// `row` as the loader parses it (`parse_row`).
    fn push(&mut self, input: u32, line: u64, row: &Record<ROW_FIELDS>) {
        let member = |field: RowField| match row {
            Record::Object(slots) => slots[field as usize].as_ref(),
            Record::Other(_) => None,
        };
        let sha = match member(RowField::src_sha256) {
            Some(Value::Str(s)) => s.as_ref(),
            _ => "",
        };
        let spread = match member(RowField::mos_std_dev) {
            Some(Value::Float(f)) if *f > 0.0 && f.is_finite() => Some(*f),
            _ => None,
        };
        self.key.append_value(sha);
        self.uncertainty.append_option(spread);
        self.input.append_value(input);
        self.line.append_value(line);
    }
}

/// A file whose reads are timed into `spent`.
struct TimedRead<'a> {
    file: File,
    spent: &'a mut Cpu,
}

impl std::io::Read for TimedRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let started = Cpu::now();
        let n = self.file.read(buf);
        self.spent.add_since(started);
        n
    }
}

fn scan_parts(inputs: &[PathBuf]) -> Result<Vec<Part>> {
    let (mut read, mut hash, mut parse) = (Cpu::default(), Cpu::default(), Cpu::default());
    let (mut bytes, mut rows) = (0u64, 0u64);
    let mut keys = Keys {
        key: StringBuilder::new(),
        uncertainty: Float64Builder::new(),
        input: UInt32Builder::new(),
        line: UInt64Builder::new(),
    };
    for (idx, path) in inputs.iter().enumerate() {
        let io_err = |e| Error::io(format!("reading {}", shown(path)), e);
        let file = File::open(path).map_err(io_err)?;
        // Blocks of whole lines, as the scan cuts them; in order they are the whole file,
        // so hashing them is hashing the file.
        let mut blocks = LineBlocks::new(TimedRead {
            file,
            spent: &mut read,
        });
        let mut hasher = Sha256::new();
        // Each block's memory is read into again, as the scan does.
        let mut spare = Vec::new();
        while let Some((first_line, block)) = blocks
            .next_block(std::mem::take(&mut spare))
            .map_err(io_err)?
        {
            if first_line == 1 && Storage::sniff(&block) != Storage::Plain {
                return Err(Error::Usage(format!(
                    "the floor probe reads plain JSONL only; {} is compressed",
                    shown(path)
                )));
            }
            let started = Cpu::now();
            hasher.update(&block);
            hash.add_since(started);
            bytes += block.len() as u64;
            let started = Cpu::now();
            for_each_line(&block, first_line, |line_no, line| {
                let row = parse_row(line)
                    .map_err(|e| Error::Usage(format!("{} line {line_no}: {e}", shown(path))))?;
                keys.push(idx as u32, line_no, &row);
                row.release();
                rows += 1;
                Ok::<(), Error>(())
            })?;
            parse.add_since(started);
            spare = block;
        }
        let started = Cpu::now();
        std::hint::black_box(hasher.finalize());
        hash.add_since(started);
    }

    let started = Cpu::now();
    let key = keys.key.finish();
    // The key's prefix first, as the ranking sorts (src/engine/sort_prefix.rs): most
    // comparisons end at one integer comparison.
    let prefix: UInt64Array = key
        .iter()
        .map(|k| {
            Some(crate::engine::sort_prefix::prefix(
                Some(0),
                k.map(str::as_bytes),
            ))
        })
        .collect();
    let columns: [(ArrayRef, SortOptions); 5] = [
        (Arc::new(prefix), SortOptions::default()),
        (Arc::new(key), SortOptions::default()),
        (
            Arc::new(keys.uncertainty.finish()),
            SortOptions {
                descending: false,
                nulls_first: false,
            },
        ),
        (Arc::new(keys.input.finish()), SortOptions::default()),
        (Arc::new(keys.line.finish()), SortOptions::default()),
    ];
    let sort_columns: Vec<SortColumn> = columns
        .into_iter()
        .map(|(values, options)| SortColumn {
            values,
            options: Some(options),
        })
        .collect();
    let order = lexsort_to_indices(&sort_columns, None)?;
    let mut sort = Cpu::default();
    sort.add_since(started);
    std::hint::black_box(order);

    Ok(vec![
        Part::timed(
            "read",
            "read the inputs from the page cache",
            read,
            bytes,
            rows,
        ),
        Part::timed("sha256_in", "SHA-256 of the inputs", hash, bytes, rows),
        Part::timed(
            "parse",
            "parse every line (mosagg's parser), narrow key into Arrow columns",
            parse,
            bytes,
            rows,
        ),
        Part::timed(
            "sort",
            "apart: one sort of every row's narrow key, its prefix first as in the ranking (arrow lexsort_to_indices)",
            sort,
            0,
            rows,
        ),
    ])
}

/// Writes the kept rows of `unified` again, as the run's writers do: its batches are
/// decoded untimed, then handed to each writer with a clock around the writer alone.
fn output_parts(unified: &Path, scratch: &Path) -> Result<Vec<Part>> {
    let open =
        File::open(unified).map_err(|e| Error::io(format!("reading {}", shown(unified)), e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(open)?
        .with_batch_size(8192)
        .build()?;
    let aggregated_at = "2026-05-09T00:00:00+00:00";
    let mut jsonl = UnifiedJsonlWriter::new(AtomicOutput::create(&scratch.join("floor.jsonl"))?)?;
    let mut pq = UnifiedParquetWriter::new(
        AtomicOutput::create(&scratch.join("floor.parquet"))?,
        aggregated_at,
    )?;
    let (mut jsonl_time, mut pq_time) = (Cpu::default(), Cpu::default());
    let mut stamp = RunStamp::new(aggregated_at);
    for batch in reader {
        let batch: RecordBatch = conform(&batch?, &mut stamp)?;
        let started = Cpu::now();
        jsonl.write_batch(&batch)?;
        jsonl_time.add_since(started);
        let started = Cpu::now();
        pq.write_batch(&batch)?;
        pq_time.add_since(started);
    }
    let rows = jsonl.rows;
    // finish() flushes and fsyncs: the disk's share is timed apart, on the wall clock.
    let started = std::time::Instant::now();
    let jsonl_staged = jsonl.finish()?;
    let pq_staged = pq.finish()?;
    let finished = started.elapsed();
    let parts = vec![
        Part::timed(
            "jsonl_out",
            "format, SHA-256 and write the JSONL (page cache)",
            jsonl_time,
            jsonl_staged.bytes,
            rows,
        ),
        Part::timed(
            "parquet_out",
            "encode, zstd, SHA-256 and write the Parquet",
            pq_time,
            pq_staged.bytes,
            rows,
        ),
        Part {
            name: "fsync",
            what: "flush both files and wait for the disk (wall clock, not CPU)",
            seconds: finished.as_secs_f64(),
            system_seconds: 0.0,
            bytes: jsonl_staged.bytes + pq_staged.bytes,
            rows,
        },
    ];
    // Dropping the staged files deletes them: the probe leaves nothing behind.
    drop((jsonl_staged, pq_staged));
    Ok(parts)
}

/// The parts every run must do, in CPU seconds (not the sort, not the disk wait).
pub fn in_floor(part: &Part) -> bool {
    !matches!(part.name, "sort" | "fsync")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_over_the_sample_corpora_and_leaves_nothing_behind() {
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
        let inputs: Vec<PathBuf> = ["netflix/netflix_public.jsonl", "lsvq/lsvq.jsonl"]
            .iter()
            .map(|p| samples.join(p))
            .collect();
        assert!(inputs.iter().all(|p| p.is_file()), "{inputs:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        // A unified Parquet of a few rows, written by the real writer.
        let unified = dir.path().join("unified.parquet");
        let mut w = UnifiedParquetWriter::new(
            AtomicOutput::create(&unified).expect("create"),
            "2026-05-09T00:00:00+00:00",
        )
        .expect("writer");
        w.write_batch(&crate::writers::parquet::tests::rows(100))
            .expect("write");
        w.finish().expect("finish").commit().expect("commit");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).expect("scratch");

        let parts = measure(&inputs, &unified, &scratch).expect("measure");
        let names: Vec<&str> = parts.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "read",
                "sha256_in",
                "parse",
                "sort",
                "jsonl_out",
                "parquet_out",
                "fsync"
            ]
        );
        let input_bytes: u64 = inputs
            .iter()
            .map(|p| std::fs::metadata(p).expect("meta").len())
            .sum();
        assert_eq!(parts[0].bytes, input_bytes);
        assert!(parts[2].rows > 0);
        assert_eq!(parts[4].rows, 100);
        assert!(parts[4].bytes > 0 && parts[5].bytes > 0);
        assert_eq!(std::fs::read_dir(&scratch).expect("scratch").count(), 0);
    }

    #[test]
    fn a_compressed_input_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gz = dir.path().join("a.jsonl.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).expect("write");
        let err = scan_parts(&[gz]).expect_err("refused");
        assert!(err.to_string().contains("a.jsonl.gz"), "{err}");
    }
}
