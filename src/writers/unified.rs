//! The unified JSONL and Parquet written side by side: each on its own thread, fed the
//! same conformed batches, so formatting, compression and hashing overlap.

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;

use super::atomic::{AtomicOutput, Staged};
use super::jsonl::UnifiedJsonlWriter;
use super::parquet::UnifiedParquetWriter;
use super::unified_schema::{RunStamp, conform};
use crate::error::{Error, Result};

/// Batches in flight per writer. Both files are fed the same batches in turn, so a
/// writer that runs ahead waits for the other once its queue is empty: with 4, the
/// Parquet writer (the last to finish on the realistic set) sat idle whenever the JSONL
/// writer fell a few batches behind, and the run took 2 % longer. The batches are
/// shared by both queues, and 16 of them (a few MiB) left the peak RSS the same.
const QUEUE: usize = 16;

/// A writer of unified rows that can run on its own thread.
pub trait RowFile: Send + 'static {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Completes the file; returns it staged, with the rows written.
    fn finish_file(self: Box<Self>) -> Result<(Staged, u64)>;
}

impl RowFile for UnifiedJsonlWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        UnifiedJsonlWriter::write_batch(self, batch)
    }
    fn finish_file(self: Box<Self>) -> Result<(Staged, u64)> {
        let rows = self.rows;
        self.finish().map(|s| (s, rows))
    }
}

impl RowFile for UnifiedParquetWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        UnifiedParquetWriter::write_batch(self, batch)
    }
    fn finish_file(self: Box<Self>) -> Result<(Staged, u64)> {
        let rows = self.rows;
        self.finish().map(|s| (s, rows))
    }
}

/// Writes `batches` through `file`, commits it, and returns the bytes at `path`, its
/// target: what the writers' tests compare.
#[cfg(test)]
pub(crate) fn written_through<F: RowFile>(
    file: F,
    path: &Path,
    batches: &[RecordBatch],
) -> Vec<u8> {
    let mut file = Box::new(file);
    for b in batches {
        file.write_batch(b).expect("write");
    }
    let (staged, _) = file.finish_file().expect("finish");
    staged.commit().expect("commit");
    std::fs::read(path).expect("read")
}

/// One output file's thread and the queue feeding it (None once its rows have ended).
struct Lane {
    tx: Option<SyncSender<RecordBatch>>,
    handle: JoinHandle<Result<(Staged, u64)>>,
}

impl Lane {
    fn spawn(name: &str, mut file: Box<dyn RowFile>) -> Result<Self> {
        let (tx, rx) = sync_channel::<RecordBatch>(QUEUE);
        let handle = std::thread::Builder::new()
            .name(format!("mosagg-{name}"))
            .spawn(move || {
                for batch in rx {
                    file.write_batch(&batch)?;
                }
                file.finish_file()
            })
            .map_err(|e| Error::io("starting a writer thread", e))?;
        Ok(Self {
            tx: Some(tx),
            handle,
        })
    }
}

/// Ends every lane: all queues are closed first, so the files finish (flush, fsync)
/// side by side rather than one after the other; then each thread is waited for.
fn join_all(lanes: Vec<Lane>) -> Vec<Result<(Staged, u64)>> {
    let (queues, handles): (Vec<_>, Vec<_>) = lanes.into_iter().map(|l| (l.tx, l.handle)).unzip();
    drop(queues);
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| Error::Internal("a writer thread panicked".into()))?
        })
        .collect()
}

/// Both unified outputs, written concurrently. Dropping it unfinished discards both files.
pub struct UnifiedWriters {
    lanes: Vec<Lane>,
    stamp: RunStamp,
}

impl UnifiedWriters {
    pub fn open(output: &Path, parquet: &Path, aggregated_at: &str) -> Result<Self> {
        let jsonl = UnifiedJsonlWriter::new(AtomicOutput::create(output)?)?;
        let pq = UnifiedParquetWriter::new(AtomicOutput::create(parquet)?, aggregated_at)?;
        Ok(Self {
            lanes: vec![
                Lane::spawn("jsonl", Box::new(jsonl))?,
                Lane::spawn("parquet", Box::new(pq))?,
            ],
            stamp: RunStamp::new(aggregated_at),
        })
    }

    /// Queues the kept rows of one query batch for both files.
    pub fn write(&mut self, kept: &RecordBatch) -> Result<()> {
        let rows = conform(kept, &mut self.stamp)?;
        if self.lanes.iter().all(|l| {
            l.tx.as_ref()
                .is_some_and(|tx| tx.send(rows.clone()).is_ok())
        }) {
            return Ok(());
        }
        // A writer stopped early: its own error says why. Every lane is joined first, so
        // no thread is left holding a staged file.
        for r in join_all(std::mem::take(&mut self.lanes)) {
            r?;
        }
        Err(Error::Internal(
            "a writer stopped without saying why".into(),
        ))
    }

    /// Says that every row has been written: each file takes its last rows, closes
    /// and flushes to the disk on its own thread, while the caller goes on (a run counts
    /// and describes its rows meanwhile). `finish` then waits for them.
    pub fn end_rows(&mut self) {
        for lane in &mut self.lanes {
            lane.tx = None;
        }
    }

    /// Waits for both files to be complete and hashed: (JSONL, Parquet), each with its row count.
    pub fn finish(mut self) -> Result<Vec<(Staged, u64)>> {
        join_all(std::mem::take(&mut self.lanes))
            .into_iter()
            .collect()
    }
}

impl Drop for UnifiedWriters {
    /// A run that fails waits for its writer threads, so their staged files are deleted
    /// before the process exits rather than left behind by a detached thread.
    fn drop(&mut self) {
        let _ = join_all(std::mem::take(&mut self.lanes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_rows_are_closed_on_the_writers_threads_before_anyone_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (jsonl, parquet) = (dir.path().join("u.jsonl"), dir.path().join("u.parquet"));
        let mut writers =
            UnifiedWriters::open(&jsonl, &parquet, "2026-05-09T00:00:00+00:00").expect("open");
        writers
            .write(&crate::writers::parquet::tests::rows(100))
            .expect("write");
        writers.end_rows();

        // The staged Parquet file ends with its footer's magic once it is closed: the
        // writer's thread closes it without being waited for.
        let closed = || {
            std::fs::read_dir(dir.path())
                .expect("dir")
                .flatten()
                .any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".u.parquet.mosagg-")
                        && std::fs::read(e.path()).is_ok_and(|b| b.ends_with(b"PAR1"))
                })
        };
        assert!(
            crate::test_support::eventually(closed),
            "the Parquet file was not closed"
        );
        assert!(!parquet.exists(), "nothing is in place before the commit");

        let files = writers.finish().expect("finish");
        assert_eq!(files.iter().map(|f| f.1).collect::<Vec<_>>(), [100, 100]);
        for (staged, _) in files {
            staged.commit().expect("commit");
        }
        let text = std::fs::read_to_string(&jsonl).expect("jsonl");
        assert_eq!(text.lines().count(), 100);
        let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&parquet).expect("parquet"),
        )
        .expect("reader")
        .build()
        .expect("build")
        .map(|b| b.expect("batch").num_rows())
        .sum();
        assert_eq!(rows, 100);
    }
}
