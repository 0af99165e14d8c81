//! Rows set aside between two queries of the aggregation: the narrow rows of one key
//! bucket between the scan and its ranking, and one bucket's ranked rows between its
//! ranking and the final merge.
//!
//! A spool keeps its batches in memory while the run's spool budget allows, and appends
//! the rest to a spill file: Arrow IPC, in a file of DataFusion's disk manager, so it
//! lives in the run's spill folder, counts as spilled bytes, and is deleted when the
//! spool is let go. Batches come back in
//! the order they went in: the in-memory ones first, then the file's, because a spool
//! stops keeping batches in memory once it has started a file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::io::{BufReader, BufWriter, Read};

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::ipc::{Block, MessageHeader, MetadataVersion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::execution::{SpillFile, SpillWriter};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;

/// Bytes written to (and read from) a spool's file at a time. Every bucket has a spool
/// open at once (hundreds under a small --memory-limit), so this stays small.
const IO_BUFFER: usize = 128 << 10;

/// The memory every spool of a run may keep, shared, and accounted in the session's pool.
pub struct SpoolBudget {
    limit: usize,
    used: AtomicUsize,
    reservation: Mutex<MemoryReservation>,
}

impl SpoolBudget {
    pub fn new(pool: &Arc<dyn MemoryPool>, limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            reservation: Mutex::new(MemoryConsumer::new("Spools").register(pool)),
        })
    }

    /// Takes `bytes` of the budget; false when they do not fit (in the budget or the pool).
    fn try_take(&self, bytes: usize) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.limit).then_some(used + bytes)
            })
            .is_ok();
        if !fits {
            return false;
        }
        let granted = self
            .reservation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_grow(bytes)
            .is_ok();
        if !granted {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
        }
        granted
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        self.reservation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shrink(bytes);
    }
}

/// Budget taken by batches held in memory; returned when they are let go.
struct Held {
    budget: Arc<SpoolBudget>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// Makes spools for batches of one schema.
#[derive(Clone)]
pub struct SpoolMaker {
    disk: Arc<DiskManager>,
    schema: SchemaRef,
    budget: Arc<SpoolBudget>,
}

impl SpoolMaker {
    pub fn new(disk: Arc<DiskManager>, schema: SchemaRef, budget: Arc<SpoolBudget>) -> Self {
        Self {
            disk,
            schema,
            budget,
        }
    }

    pub fn spool(&self) -> Spool {
        Spool {
            maker: self.clone(),
            memory: Vec::new(),
            held: 0,
            file: None,
            rows: 0,
            batch_rows: usize::MAX,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

/// A spool's file while it is written.
struct Writing {
    file: Arc<dyn SpillFile>,
    writer: StreamWriter<BufWriter<Box<dyn SpillWriter>>>,
}

/// A spool being filled.
pub struct Spool {
    maker: SpoolMaker,
    memory: Vec<RecordBatch>,
    held: usize,
    file: Option<Writing>,
    rows: usize,
    /// The most rows a batch read back has.
    batch_rows: usize,
}

impl Spool {
    /// Batches read back have at most `rows` rows (at least one): whatever the size of
    /// the batches pushed, a reader then holds little of the spool at a time.
    pub fn in_batches_of(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        if self.file.is_none() {
            let bytes = batch.get_array_memory_size();
            if self.maker.budget.try_take(bytes) {
                self.held += bytes;
                self.memory.push(batch);
                return Ok(());
            }
            let file = self.maker.disk.create_tmp_file("mosagg spool")?;
            let out = BufWriter::with_capacity(IO_BUFFER, file.open_writer()?);
            let writer = StreamWriter::try_new(out, &self.maker.schema)?;
            self.file = Some(Writing { file, writer });
        }
        if let Some(w) = self.file.as_mut() {
            // The IPC writer writes only a slice's own rows.
            for part in pieces(&batch, self.batch_rows) {
                w.writer.write(&part)?;
            }
        }
        Ok(())
    }

    /// Ends the filling; the rows can be read back once.
    pub fn finish(mut self) -> Result<Spooled> {
        let file = match self.file.take() {
            Some(Writing { file, mut writer }) => {
                writer.finish()?;
                let mut out = writer
                    .into_inner()?
                    .into_inner()
                    .map_err(|e| DataFusionError::IoError(e.into_error()))?;
                out.finish()?;
                Some(file)
            }
            None => None,
        };
        Ok(Spooled {
            schema: Arc::clone(&self.maker.schema),
            memory: std::mem::take(&mut self.memory),
            held: Held {
                budget: Arc::clone(&self.maker.budget),
                bytes: std::mem::take(&mut self.held),
            },
            file,
            rows: self.rows,
            batch_rows: self.batch_rows,
        })
    }
}

/// The batch cut into slices of at most `rows` rows (zero-copy).
fn pieces(batch: &RecordBatch, rows: usize) -> impl Iterator<Item = RecordBatch> + '_ {
    (0..batch.num_rows())
        .step_by(rows)
        .map(move |at| batch.slice(at, rows.min(batch.num_rows() - at)))
}

impl Drop for Spool {
    fn drop(&mut self) {
        // A spool dropped unfinished (an error elsewhere) returns its budget.
        if self.held > 0 {
            self.maker.budget.give_back(self.held);
        }
    }
}

/// A filled spool.
pub struct Spooled {
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    held: Held,
    file: Option<Arc<dyn SpillFile>>,
    rows: usize,
    batch_rows: usize,
}

impl Spooled {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches in the order they were pushed; the budget they held and the spill
    /// file are let go when the stream ends.
    pub fn stream(self) -> Result<SendableRecordBatchStream> {
        let Spooled {
            schema,
            memory,
            held,
            file,
            batch_rows,
            ..
        } = self;
        let from_memory = futures::stream::iter(
            memory
                .into_iter()
                .flat_map(move |b| pieces(&b, batch_rows).collect::<Vec<_>>())
                .map(Ok),
        );
        let stream = match file {
            Some(file) => from_memory
                .chain(read_back(file, Arc::clone(&schema))?)
                .boxed(),
            None => from_memory.boxed(),
        };
        // The guard travels with the stream, so the budget comes back when it is dropped.
        let stream = stream.map(move |b| {
            let _ = &held;
            b
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    /// Every batch, in order.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        futures::TryStreamExt::try_collect(self.stream()?).await
    }
}

/// A partition of a table that streams what it holds, once: its rows go into the query
/// and each batch is let go once the query has taken it.
pub struct ReadOnce<T> {
    name: &'static str,
    schema: SchemaRef,
    source: Mutex<Option<T>>,
    open: fn(&SchemaRef, T) -> Result<SendableRecordBatchStream>,
}

impl<T> ReadOnce<T> {
    /// A partition of `schema` whose rows `open` streams from `source`; `name` shows in plans.
    pub fn new(
        name: &'static str,
        schema: SchemaRef,
        source: T,
        open: fn(&SchemaRef, T) -> Result<SendableRecordBatchStream>,
    ) -> Self {
        Self {
            name,
            schema,
            source: Mutex::new(Some(source)),
            open,
        }
    }
}

/// A spool as the one partition of a table.
pub type SpooledPartition = ReadOnce<Spooled>;

impl ReadOnce<Spooled> {
    pub fn spooled(spooled: Spooled) -> Self {
        let schema = Arc::clone(spooled.schema());
        Self::new("SpooledPartition", schema, spooled, |_, s| s.stream())
    }
}

impl<T> std::fmt::Debug for ReadOnce<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl<T: Send + 'static> PartitionStream for ReadOnce<T> {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let source = self.source.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stream = source
            .ok_or_else(|| DataFusionError::Internal(format!("{} was read twice", self.name)))
            .and_then(|source| (self.open)(&self.schema, source));
        match stream {
            Ok(s) => s,
            Err(e) => Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(async move { Err(e) }),
            )),
        }
    }
}

/// The batches of a spool's file. Read synchronously: the file was just written, so it
/// is in the page cache, and its reader is the only work of the task that polls it.
fn read_back(
    file: Arc<dyn SpillFile>,
    schema: SchemaRef,
) -> Result<impl futures::Stream<Item = Result<RecordBatch>> + Send> {
    let path = file
        .path()
        .ok_or_else(|| DataFusionError::Internal("a spool file has no path".into()))?;
    let reader = SpoolReader::new(
        BufReader::with_capacity(IO_BUFFER, std::fs::File::open(path)?),
        schema,
    );
    // The file lives as long as its reader: it is deleted when the stream is dropped.
    Ok(futures::stream::iter(reader).map(move |b| {
        let _ = &file;
        b
    }))
}

/// The record batches of an Arrow IPC stream that this run wrote itself, one message
/// at a time.
///
/// Why not arrow's `StreamReader`: it zeroes each message's memory before reading the
/// message into it (most of the time reading spools back took, measured at 3M rows),
/// and checks every text of it for UTF-8 again. Here each message is read into memory
/// that is not zeroed first, and decoded as it was written.
struct SpoolReader<R> {
    reader: R,
    decoder: FileDecoder,
    /// The message's metadata, reused from message to message.
    meta: Vec<u8>,
    done: bool,
}

impl<R: Read> SpoolReader<R> {
    fn new(reader: R, schema: SchemaRef) -> Self {
        let decoder = FileDecoder::new(schema, MetadataVersion::V5);
        // SAFETY: a spool's file is written by this run's own IPC writer from batches
        // that were valid (spool.rs, `Spool::push`), into a file of the run's spill
        // folder that nothing else writes; skipping the checks cannot admit data the
        // writer did not write. DataFusion reads its own spill files the same way.
        let decoder = unsafe { decoder.with_skip_validation(true) };
        Self {
            reader,
            decoder,
            meta: Vec::new(),
            done: false,
        }
    }

    /// The next batch, `None` at the end of the stream.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            // A message: its metadata's length (after a continuation marker), the
            // metadata, then its body. A zero length ends the stream: the writer always
            // writes one (`Spool::finish`), so a file that ends before it is an error.
            let mut word = [0u8; 4];
            fill(&mut self.reader, &mut word)?;
            if word == CONTINUATION {
                fill(&mut self.reader, &mut word)?;
            }
            let meta_len = u32::from_le_bytes(word) as usize;
            if meta_len == 0 {
                return Ok(None);
            }
            self.meta.resize(meta_len, 0);
            fill(&mut self.reader, &mut self.meta)?;
            let message = arrow::ipc::root_as_message(&self.meta)
                .map_err(|e| spool_error(format!("a spool's message is unreadable: {e}")))?;
            let body_len = usize::try_from(message.bodyLength())
                .map_err(|_| spool_error("a spool's message has a negative length".into()))?;
            match message.header_type() {
                // The schema is the spool's own, known already.
                MessageHeader::Schema => continue,
                MessageHeader::RecordBatch => {}
                other => {
                    return Err(spool_error(format!(
                        "a spool holds a message it never writes: {other:?}"
                    )));
                }
            }
            // The whole message in one buffer, as the decoder reads it: the continuation
            // marker and the length, the metadata, then the body, read into memory that
            // is not zeroed first. With the marker, the body starts 8-byte aligned (the
            // writer pads the metadata to that), so the columns are slices of this
            // buffer: without it, arrow would copy every misaligned column.
            let head = CONTINUATION.len() + word.len() + meta_len;
            let mut whole = Vec::with_capacity(head + body_len);
            whole.extend_from_slice(&CONTINUATION);
            whole.extend_from_slice(&word);
            whole.extend_from_slice(&self.meta);
            let read = (&mut self.reader)
                .take(body_len as u64)
                .read_to_end(&mut whole)?;
            if read != body_len {
                return Err(spool_error(format!(
                    "a spool's file ends inside a message ({read} of {body_len} bytes)"
                )));
            }
            let block = Block::new(
                0,
                i32::try_from(head)
                    .map_err(|_| spool_error("a spool's message header is too long".into()))?,
                message.bodyLength(),
            );
            if let Some(batch) = self
                .decoder
                .read_record_batch(&block, &Buffer::from_vec(whole))?
            {
                return Ok(Some(batch));
            }
        }
    }
}

impl<R: Read> Iterator for SpoolReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// The marker before a message's length in the IPC stream format.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Reads `buf` whole; a file that ends first is cut short (the writer always ends it
/// with its end marker).
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            spool_error("a spool's file ends before its end marker".into())
        }
        _ => e.into(),
    })
}

fn spool_error(message: String) -> DataFusionError {
    DataFusionError::External(message.into())
}

/// For tests: spools of `schema` in `dir`, `budget_bytes` of them in memory, and the
/// pool that budget is accounted in.
#[cfg(test)]
pub(crate) fn test_maker(
    dir: &std::path::Path,
    schema: SchemaRef,
    budget_bytes: usize,
) -> (SpoolMaker, Arc<dyn MemoryPool>) {
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    let disk = Arc::new(
        DiskManagerBuilder::default()
            .with_mode(DiskManagerMode::Directories(vec![dir.to_path_buf()]))
            .build()
            .expect("disk manager"),
    );
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 30));
    let budget = SpoolBudget::new(&pool, budget_bytes);
    (SpoolMaker::new(disk, schema, budget), pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(schema: &SchemaRef, from: i64, rows: i64) -> RecordBatch {
        let ids: Vec<i64> = (from..from + rows).collect();
        let keys: Vec<String> = ids.iter().map(|i| format!("{i:064x}")).collect();
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(keys)),
            ],
        )
        .expect("batch")
    }

    fn maker(dir: &std::path::Path, budget_bytes: usize) -> (SpoolMaker, Arc<dyn MemoryPool>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("key", DataType::Utf8, false),
        ]));
        test_maker(dir, schema, budget_bytes)
    }

    fn ids(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("ids")
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn rows_come_back_in_order_across_memory_and_disk_and_the_budget_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = {
            let (m, _) = maker(dir.path(), usize::MAX);
            batch(m.schema(), 0, 1000).get_array_memory_size()
        };
        // Room for two batches in memory: the third and later go to the file.
        let (maker, pool) = maker(dir.path(), one * 2 + one / 2);
        let mut spool = maker.spool().in_batches_of(300);
        for k in 0..5 {
            spool
                .push(batch(maker.schema(), k * 1000, 1000))
                .expect("push");
        }
        let spooled = spool.finish().expect("finish");
        assert_eq!(spooled.rows(), 5000);
        assert_eq!(pool.reserved(), one * 2, "two batches held in memory");
        let on_disk = std::fs::read_dir(dir.path()).expect("ls").count();
        assert!(on_disk > 0, "the rest was written to a spill file");
        let back = spooled.collect().await.expect("collect");
        assert_eq!(ids(&back), (0..5000).collect::<Vec<_>>());
        // Every column comes back as it went in, the texts read from the file among them.
        let schema = Arc::clone(maker.schema());
        let all = arrow::compute::concat_batches(&schema, &back).expect("concat");
        assert_eq!(all, batch(&schema, 0, 5000));
        // From memory and from the file alike, no batch read back is larger than asked.
        assert!(back.iter().all(|b| b.num_rows() <= 300));
        assert_eq!(back.len(), 5 * 4);
        assert_eq!(pool.reserved(), 0, "the budget comes back once read");
    }

    #[tokio::test]
    async fn a_spool_within_budget_never_touches_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (maker, _pool) = maker(dir.path(), usize::MAX);
        let mut spool = maker.spool();
        spool.push(batch(maker.schema(), 0, 10)).expect("push");
        spool
            .push(batch(maker.schema(), 10, 0))
            .expect("empty batches are skipped");
        let back = spool
            .finish()
            .expect("finish")
            .collect()
            .await
            .expect("collect");
        assert_eq!(back.len(), 1);
        assert_eq!(ids(&back), (0..10).collect::<Vec<_>>());
        let files = walk(dir.path());
        assert!(files.is_empty(), "{files:?}");
    }

    /// An IPC stream of three batches, as a spool's file holds it.
    fn stream_bytes(schema: &SchemaRef) -> Vec<u8> {
        let mut writer = StreamWriter::try_new(Vec::new(), schema).expect("writer");
        for k in 0..3 {
            writer.write(&batch(schema, k * 100, 100)).expect("write");
        }
        writer.finish().expect("finish");
        writer.into_inner().expect("bytes")
    }

    #[test]
    fn a_spool_file_cut_short_is_an_error_not_fewer_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (maker, _pool) = maker(dir.path(), usize::MAX);
        let schema = Arc::clone(maker.schema());
        let bytes = stream_bytes(&schema);
        let read = |bytes: &[u8]| -> Vec<Result<RecordBatch>> {
            SpoolReader::new(std::io::Cursor::new(bytes.to_vec()), Arc::clone(&schema)).collect()
        };
        let whole = read(&bytes);
        assert_eq!(whole.len(), 3);
        let whole: Vec<RecordBatch> = whole.into_iter().map(|b| b.expect("batch")).collect();
        assert_eq!(ids(&whole), (0..300).collect::<Vec<_>>());
        // Each batch's columns are slices of the one buffer its message was read into,
        // not copies: arrow copies a column whose start is not aligned for its type.
        for b in &whole {
            let ids = b.column(0).to_data().buffers()[0].clone();
            let offsets = b.column(1).to_data().buffers()[0].clone();
            assert!(
                ids.capacity() > ids.len() + offsets.len(),
                "a copy of its own"
            );
            assert_eq!(ids.capacity(), offsets.capacity(), "one message's buffer");
        }
        // Cut inside the last batch's body, and just before the end marker: the rows read
        // so far come back, then an error, never a quiet end.
        for cut in [bytes.len() - 100, bytes.len() - 8] {
            let part = read(&bytes[..cut]);
            let (last, first) = part.split_last().expect("something read");
            assert!(first.iter().all(Result::is_ok));
            let err = last.as_ref().expect_err("the cut is reported").to_string();
            assert!(err.contains("a spool's file ends"), "{err}");
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("ls").flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}
