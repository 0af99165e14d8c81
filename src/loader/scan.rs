//! The shard scan: one reader thread streams every input in order (hashing the bytes
//! as they pass), cuts them into blocks of whole lines, and the DataFusion partitions
//! parse those blocks in parallel into `shards` record batches.

use crate::file_bytes::ReadCounts;
use crate::shard_file::{ShardReader, read_up_to};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, Once};

use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::{RecordBatchReceiverStream, RecordBatchStreamAdapter};
use datafusion::physical_plan::streaming::PartitionStream;

use super::batch::{AppendError, SHARDS_SCHEMA, ShardBatchBuilder, parse_row};
use super::inputs::{InputFile, InputStats};
use super::wide::{WideStore, WideWriter};
use crate::error::LoadError;

/// Bytes read from disk at a time: large enough that per-block overhead vanishes, small
/// enough that the blocks in flight (queue, parsers, reader: about eight) stay a few
/// MiB. At 4 MiB each they were 32 MiB of fresh pages to fault in and zero, and a block
/// was out of the cache by the time it was read into again: on the realistic set 1 MiB
/// takes 8 % of the page faults and 20 MB of peak RSS off, 3.5 % of the CPU.
const READ_CHUNK: usize = 1 << 20;
/// The first read of an input, doubled on each read up to `READ_CHUNK`. No line can be
/// parsed before its block is read and hashed: a whole chunk first kept the parsing
/// cores idle for about 10 ms at the start of a run (fresh pages, the read, the hash),
/// a small one lets them start after a fraction of a millisecond.
const FIRST_CHUNK: usize = 128 << 10;
/// Room a block's memory has beyond a chunk, for the start of a line the last read cut.
/// Without it a reused block that carries a few bytes more than it did last time grows,
/// and its allocator copies the whole block into twice the room.
const CARRY_ROOM: usize = 64 << 10;
/// Parsed blocks kept for the reader to read into again: the queue's depth plus one
/// being parsed on each core and one being read.
const MAX_SPARE_BLOCKS: usize = 8;
/// Rows per record batch handed to DataFusion.
pub const BATCH_ROWS: usize = 8192;

/// A run of whole lines from one input.
struct Block {
    input_idx: u32,
    first_line: u64,
    data: Vec<u8>,
}

/// State the partitions share: the block queue and what was learnt about each input.
pub struct ScanShared {
    inputs: Arc<Vec<InputFile>>,
    /// Where every row's descriptive fields wait for the output.
    wide: Arc<WideStore>,
    start: Once,
    sender: Mutex<Option<SyncSender<Result<Block, LoadError>>>>,
    /// The queue's other end, until the partitions take it (`start_partitions`): only
    /// they hold it, so that when they are gone the reader's next send fails and the
    /// reader stops, rather than wait forever on a full queue.
    receiver: Mutex<Option<Receiver<Result<Block, LoadError>>>>,
    rows: Vec<AtomicU64>,
    /// Bytes read so far over all inputs, for progress reporting.
    bytes_read: AtomicU64,
    /// How the inputs' bytes were read: from the page cache, or straight from the disk.
    read_cached: AtomicU64,
    read_direct: AtomicU64,
    digests: Mutex<Vec<Option<(String, u64)>>>,
    /// Blocks the partitions have parsed, for the reader to read into again.
    spare: Mutex<Vec<Vec<u8>>>,
    /// When set, each partition's rows go out in batches of one bucket each (the wide
    /// store's groups, see `ShardBatchBuilder::split_by_group`), of this many rows.
    split_by_bucket: Option<usize>,
}

impl ScanShared {
    /// `split_by_bucket`: see the field.
    pub fn new(
        inputs: Arc<Vec<InputFile>>,
        wide: Arc<WideStore>,
        queue_depth: usize,
        split_by_bucket: Option<usize>,
    ) -> Arc<Self> {
        let (tx, rx) = sync_channel(queue_depth.max(1));
        let n = inputs.len();
        Arc::new(Self {
            inputs,
            wide,
            start: Once::new(),
            sender: Mutex::new(Some(tx)),
            receiver: Mutex::new(Some(rx)),
            rows: (0..n).map(|_| AtomicU64::new(0)).collect(),
            bytes_read: AtomicU64::new(0),
            read_cached: AtomicU64::new(0),
            read_direct: AtomicU64::new(0),
            digests: Mutex::new(vec![None; n]),
            spare: Mutex::new(Vec::new()),
            split_by_bucket,
        })
    }

    /// Bytes of input read so far (all inputs together).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// How the inputs read so far were read (see `file_bytes`).
    pub fn read_counts(&self) -> ReadCounts {
        ReadCounts {
            cached: self.read_cached.load(Ordering::Relaxed),
            direct: self.read_direct.load(Ordering::Relaxed),
        }
    }

    /// Rows parsed so far (all inputs together).
    pub fn rows_parsed(&self) -> u64 {
        self.rows.iter().map(|r| r.load(Ordering::Relaxed)).sum()
    }

    /// Size, sha256 and row count of every input that was read to the end.
    pub fn stats(&self) -> Vec<Option<InputStats>> {
        let digests = self.digests.lock().map(|d| d.clone()).unwrap_or_default();
        digests
            .into_iter()
            .zip(&self.rows)
            .map(|(d, rows)| {
                d.map(|(sha256, bytes)| InputStats {
                    sha256,
                    bytes,
                    rows: rows.load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    fn start_reader(self: &Arc<Self>) {
        self.start.call_once(|| {
            let Some(tx) = self.sender.lock().ok().and_then(|mut s| s.take()) else {
                return;
            };
            let shared = Arc::clone(self);
            std::thread::spawn(move || {
                for input in shared.inputs.iter() {
                    if !input.is_present() {
                        continue;
                    }
                    match read_input(input, &shared, &tx) {
                        Ok(Some(digest)) => {
                            if let Ok(mut d) = shared.digests.lock() {
                                d[input.index as usize] = Some(digest);
                            }
                        }
                        // The consumers went away: the query is over.
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        });
    }

    /// `partitions` partitions of the scan, reading and parsing at once: the reader and
    /// the parsers fill their queues while the query that reads them is planned, where
    /// a run used to start with one core waiting for the other. Must be called within
    /// the Tokio runtime, once. Dropped unexecuted, each parser stops at its next batch,
    /// and the reader, once every parser has, at its next block.
    pub fn start_partitions(self: &Arc<Self>, partitions: usize) -> Option<Vec<ShardPartition>> {
        let blocks = Arc::new(Mutex::new(
            self.receiver.lock().ok().and_then(|mut r| r.take())?,
        ));
        Some(
            (0..partitions)
                .map(|_| ShardPartition::started(Arc::clone(self), Arc::clone(&blocks)))
                .collect(),
        )
    }

    /// A parsed block's memory, handed back for the reader to fill again.
    fn recycle(&self, data: Vec<u8>) {
        if let Ok(mut spare) = self.spare.lock()
            // As many as can be in flight at once; more would only hold memory.
            && spare.len() < MAX_SPARE_BLOCKS
        {
            spare.push(data);
        }
    }

    /// A block's memory to read into: a parsed one when there is one.
    fn spare_block(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default()
    }
}

/// Streams one input into the queue. `Ok(None)` when the consumers hung up.
fn read_input(
    input: &InputFile,
    shared: &ScanShared,
    tx: &SyncSender<Result<Block, LoadError>>,
) -> Result<Option<(String, u64)>, LoadError> {
    let progress = &shared.bytes_read;
    let io_err = |source| LoadError::Io {
        path: input.display.clone(),
        source,
    };
    // Plain, gzip or zstd: the text comes out decoded, the hash is of the stored bytes.
    let mut blocks = LineBlocks::new(ShardReader::open(&input.path).map_err(io_err)?);
    let mut stored = 0u64;
    while let Some((first_line, data)) = blocks.next_block(shared.spare_block()).map_err(io_err)? {
        let now = blocks.reader().stored_bytes();
        progress.fetch_add(now - stored, Ordering::Relaxed);
        stored = now;
        let block = Block {
            input_idx: input.index,
            first_line,
            data,
        };
        if tx.send(Ok(block)).is_err() {
            return Ok(None);
        }
    }
    let ((sha256, total), counts) = blocks.into_reader().finish_counted().map_err(io_err)?;
    shared
        .read_cached
        .fetch_add(counts.cached, Ordering::Relaxed);
    shared
        .read_direct
        .fetch_add(counts.direct, Ordering::Relaxed);
    progress.fetch_add(total - stored, Ordering::Relaxed);
    Ok(Some((sha256, total)))
}

/// A reader's text cut into blocks of whole lines, `READ_CHUNK` bytes read at a time
/// (less at first: `FIRST_CHUNK`). In order, the blocks are every byte of the text.
pub(crate) struct LineBlocks<R> {
    reader: R,
    /// The start of a line the last read cut.
    carry: Vec<u8>,
    next_line: u64,
    done: bool,
    /// Bytes the next read asks for.
    chunk: usize,
}

impl<R: Read> LineBlocks<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            carry: Vec::new(),
            next_line: 1,
            done: false,
            chunk: FIRST_CHUNK,
        }
    }

    /// The next block and the number of its first line; `None` after the last.
    ///
    /// `spare` is a block the caller is done with (or an empty `Vec`): its memory is
    /// read into again. A fresh buffer per block cost the reader thread a fifth
    /// of its time, zeroing it and faulting its pages in.
    pub(crate) fn next_block(
        &mut self,
        mut spare: Vec<u8>,
    ) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        while !self.done {
            let start = self.carry.len();
            let chunk = self.chunk;
            self.chunk = (chunk * 2).min(READ_CHUNK);
            let mut buf = if start >= READ_CHUNK {
                // A line longer than a chunk grows in the buffer that holds it.
                std::mem::take(&mut self.carry)
            } else {
                // Only bytes `spare` never held are zeroed: `resize` leaves its first
                // `len` alone, and the carry and the read overwrite them.
                let mut buf = std::mem::take(&mut spare);
                if buf.capacity() < start + READ_CHUNK {
                    // Fresh memory rather than a grown copy of bytes about to be
                    // overwritten; room for a whole chunk though this read may ask for
                    // less, as the memory is read into again.
                    buf = Vec::with_capacity(READ_CHUNK + CARRY_ROOM.max(start));
                }
                buf.resize(start + chunk, 0);
                buf[..start].copy_from_slice(&self.carry);
                buf
            };
            buf.resize(start + chunk, 0);
            let n = read_up_to(&mut self.reader, &mut buf[start..start + chunk])?;
            buf.truncate(start + n);
            self.done = n == 0;
            let cut = if self.done {
                buf.len()
            } else {
                match memchr::memrchr(b'\n', &buf) {
                    Some(p) => p + 1,
                    // No line ends in it yet: read on.
                    None => {
                        self.carry = buf;
                        continue;
                    }
                }
            };
            self.carry.clear();
            self.carry.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
            if !buf.is_empty() {
                let first_line = self.next_line;
                self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
                return Ok(Some((first_line, buf)));
            }
            spare = buf;
        }
        Ok(None)
    }

    pub(crate) fn reader(&self) -> &R {
        &self.reader
    }

    pub(crate) fn into_reader(self) -> R {
        self.reader
    }
}

/// Calls `f` with every non-blank line of a block and its 1-based number.
/// Tolerates a UTF-8 BOM at the start of a file and a `\r` before the newline.
pub fn for_each_line<E>(
    data: &[u8],
    first_line: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut data = data;
    if first_line == 1 {
        data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    }
    let mut line_no = first_line;
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p);
        let mut line = &data[start..end];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if !is_blank(line) {
            f(line_no, line)?;
        }
        line_no += 1;
        start = end + 1;
    }
    Ok(())
}

/// Blank as the reference sees it: nothing left after Python's `str.strip()`.
fn is_blank(line: &[u8]) -> bool {
    // Decided by the first byte that is not ASCII whitespace: on a data line that is
    // `{`, so the line is not scanned any further.
    match line.iter().position(|b| !b.is_ascii_whitespace()) {
        None => true,
        Some(i) if line[i].is_ascii() && !python_space(line[i]) => false,
        // Unicode whitespace (or Python's other ASCII spaces) may follow.
        Some(_) => std::str::from_utf8(line).is_ok_and(|s| {
            s.chars()
                .all(|c| c.is_whitespace() || (c.is_ascii() && python_space(c as u8)))
        }),
    }
}

/// ASCII characters Python's `str.strip()` removes that `u8::is_ascii_whitespace` does not:
/// vertical tab and the four separators.
fn python_space(b: u8) -> bool {
    b == 0x0b || (0x1c..=0x1f).contains(&b)
}

/// Parses one line into the builder; returns the builder's set that took it. The
/// error names the input and line.
pub fn load_line(
    inputs: &[InputFile],
    builder: &mut ShardBatchBuilder,
    input_idx: u32,
    line_no: u64,
    line: &[u8],
) -> Result<usize, LoadError> {
    let input = &inputs[input_idx as usize];
    let at = || (input.display.clone(), line_no);
    let value = parse_row(line).map_err(|e| {
        let (path, line) = at();
        LoadError::InvalidJson {
            path,
            line,
            message: e.to_string(),
        }
    })?;
    let appended = builder.append(input_idx, input.override_label.as_deref(), line_no, &value);
    value.release();
    appended.map_err(|e| match e {
        AppendError::Row(problem) => {
            let (path, line) = at();
            LoadError::BadRow {
                path,
                line,
                problem,
            }
        }
        AppendError::Wide(w) => w.into(),
    })
}

/// The queue's receiving end, shared by the partitions.
type Blocks = Arc<Mutex<Receiver<Result<Block, LoadError>>>>;

/// One DataFusion partition of the scan: pulls blocks until the queue is empty.
pub struct ShardPartition {
    /// The partition's rows, already being parsed (`started`), until the query takes
    /// them. Only the stream holds the queue: a query that fails leaves no reader
    /// behind, however long the table stays registered.
    early: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for ShardPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardPartition").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ScanShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanShared")
            .field("inputs", &self.inputs.len())
            .finish()
    }
}

impl ShardPartition {
    fn started(shared: Arc<ScanShared>, blocks: Blocks) -> Self {
        Self {
            early: Mutex::new(Some(parse(shared, blocks))),
        }
    }
}

impl PartitionStream for ShardPartition {
    fn schema(&self) -> &SchemaRef {
        &SHARDS_SCHEMA
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let early = self.early.lock().ok().and_then(|mut e| e.take());
        early.unwrap_or_else(|| {
            // The inputs are read once, and their rows went to the first execution: a
            // second would see none, and say nothing.
            let refused = DataFusionError::Internal("the shards were scanned twice".into());
            Box::pin(RecordBatchStreamAdapter::new(
                SHARDS_SCHEMA.clone(),
                futures::stream::once(async move { Err(refused) }),
            ))
        })
    }
}

/// Reads (the one reader thread, started once for all partitions) and parses blocks
/// into the batches of one partition, on a blocking thread, until the queue is empty.
fn parse(shared: Arc<ScanShared>, blocks: Blocks) -> SendableRecordBatchStream {
    shared.start_reader();
    let mut stream = RecordBatchReceiverStream::builder(SHARDS_SCHEMA.clone(), 2);
    let tx = stream.tx();
    stream.spawn_blocking(move || {
        let external = |e: LoadError| DataFusionError::External(Box::new(e));
        let wide = WideWriter::new(Arc::clone(&shared.wide));
        let mut builder = match shared.split_by_bucket {
            Some(rows) => ShardBatchBuilder::split_by_group(rows, wide),
            None => ShardBatchBuilder::with_capacity(BATCH_ROWS, wide),
        };
        while let Some(block) = blocks.lock().ok().and_then(|b| b.recv().ok()) {
            let block = block.map_err(external)?;
            let mut rows = 0u64;
            for_each_line(&block.data, block.first_line, |line_no, line| {
                let set = load_line(&shared.inputs, &mut builder, block.input_idx, line_no, line)?;
                rows += 1;
                if builder.is_full(set) {
                    let batch = builder.finish_set(set).map_err(LoadError::Arrow)?;
                    tx.blocking_send(Ok(batch))
                        .map_err(|_| LoadError::Cancelled)?;
                }
                Ok(())
            })
            .map_err(external)?;
            shared.rows[block.input_idx as usize].fetch_add(rows, Ordering::Relaxed);
            shared.recycle(block.data);
        }
        let last = builder
            .finish_all()
            .map_err(|e| external(LoadError::Arrow(e)))?;
        // Before the last batches go out: the query may need the rows as soon as
        // every partition has ended.
        builder.finish_wide().map_err(|e| external(e.into()))?;
        for batch in last {
            // A closed channel only means the query no longer wants rows.
            if tx.blocking_send(Ok(batch)).is_err() {
                break;
            }
        }
        Ok(())
    });
    stream.build()
}

/// The earliest hard error in input order, found by re-reading the inputs one by one.
/// Parallel parsing reports whichever error surfaced first; the operator deserves the first.
pub fn first_hard_error(inputs: &[InputFile]) -> Option<LoadError> {
    use std::io::BufRead;

    let mut builder = ShardBatchBuilder::with_capacity(1, WideWriter::discarding());
    for input in inputs.iter().filter(|i| i.is_present()) {
        let io_err = |source| LoadError::Io {
            path: input.display.clone(),
            source,
        };
        // Line by line: this runs after a failure, and must not hold a large shard in memory.
        let mut reader = match ShardReader::open(&input.path) {
            Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
            Err(e) => return Some(io_err(e)),
        };
        let mut line = Vec::new();
        let mut line_no = 0u64;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => line_no += 1,
                Err(e) => return Some(io_err(e)),
            }
            let r = for_each_line(&line, line_no, |n, text| {
                load_line(inputs, &mut builder, input.index, n, text)?;
                builder.finish_all().map_err(LoadError::Arrow).map(|_| ())
            });
            if let Err(e) = r {
                return Some(e);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8]) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for_each_line::<()>(data, 1, |n, l| {
            out.push((n, String::from_utf8_lossy(l).into_owned()));
            Ok(())
        })
        .expect("no error");
        out
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        assert_eq!(
            lines(b"{}\n\n   \n{\"a\":1}\r\n\xEF\xBB\xBF"),
            vec![
                (1, "{}".into()),
                (4, "{\"a\":1}".into()),
                (5, "\u{feff}".into())
            ]
        );
    }

    #[test]
    fn unicode_and_separator_whitespace_is_blank() {
        assert!(is_blank("\u{3000} \u{a0}".as_bytes()));
        assert!(is_blank(b"\x1c\x1f \x0b"));
        assert!(!is_blank(b" {}"));
        assert!(!is_blank("\u{a0}{}".as_bytes()));
    }

    /// Reads at most `step` bytes a call, as a pipe or a decoder may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn blocks_read_into_used_memory_are_the_text_cut_at_line_ends() {
        // Short lines over several chunks, a line longer than two chunks, and no
        // newline at the end.
        let mut text = Vec::new();
        for i in 0..300_000 {
            text.extend_from_slice(format!("{{\"row\": {i}}}\n").as_bytes());
        }
        text.extend(std::iter::repeat_n(b'x', 2 * READ_CHUNK + 17));
        text.push(b'\n');
        text.extend_from_slice(b"{\"last\": 1}");
        let mut blocks = LineBlocks::new(Trickle {
            data: &text,
            step: 1 << 20,
        });
        // Spare blocks full of junk, longer and shorter than a chunk.
        let mut spares = vec![
            vec![0xAA; READ_CHUNK * 3],
            Vec::new(),
            vec![b'\n'; 100],
            vec![0xAA; READ_CHUNK + 5],
        ]
        .into_iter()
        .cycle();
        let (mut joined, mut next_line, mut count) = (Vec::new(), 1u64, 0);
        let mut sizes = Vec::new();
        while let Some((first_line, block)) = blocks
            .next_block(spares.next().unwrap_or_default())
            .expect("read")
        {
            sizes.push(block.len());
            assert_eq!(first_line, next_line);
            next_line += block.iter().filter(|&&b| b == b'\n').count() as u64;
            joined.extend_from_slice(&block);
            count += 1;
            if joined.len() < text.len() {
                assert_eq!(
                    block.last(),
                    Some(&b'\n'),
                    "block {count} ends inside a line"
                );
            }
        }
        assert!(count > 3, "{count} blocks");
        // The first read is small, so parsing starts early; later ones are whole chunks.
        assert!(sizes[0] <= FIRST_CHUNK, "first block {} bytes", sizes[0]);
        // The second asks for twice as much, after the start of a line the first cut.
        assert!(sizes[1] <= 2 * FIRST_CHUNK + FIRST_CHUNK, "{sizes:?}");
        assert!(sizes.iter().any(|&n| n > READ_CHUNK / 2), "{sizes:?}");
        // A used block is read into in place, not copied to fresh memory.
        let spare = vec![0xAA; READ_CHUNK * 2];
        let at = spare.as_ptr();
        let mut again = LineBlocks::new(Trickle {
            data: &text,
            step: 1 << 20,
        });
        let (_, block) = again.next_block(spare).expect("read").expect("a block");
        assert_eq!(block.as_ptr(), at);
        // Fresh memory has room for a carried line start, so it is read into in place
        // next time too, though that read starts after the carry.
        let mut fresh = LineBlocks::new(Trickle {
            data: &text,
            step: 1 << 20,
        });
        let (_, first) = fresh
            .next_block(Vec::new())
            .expect("read")
            .expect("a block");
        assert!(!fresh.carry.is_empty());
        assert!(first.capacity() >= READ_CHUNK + CARRY_ROOM);
        let at = first.as_ptr();
        let (_, second) = fresh.next_block(first).expect("read").expect("a block");
        assert_eq!(second.as_ptr(), at);
        assert!(joined == text, "the blocks are not the text");
        assert_eq!(next_line, 300_002);
    }

    #[test]
    fn bom_is_dropped_only_at_file_start() {
        assert_eq!(lines(b"\xEF\xBB\xBF{}\n"), vec![(1, "{}".into())]);
    }

    /// A scan of `paths` as the aggregate starts one, its wide rows staged in `staging`.
    fn scan(
        paths: &[std::path::PathBuf],
        queue: usize,
        staging: &std::path::Path,
    ) -> Arc<ScanShared> {
        let inputs = super::super::inputs::probe(paths).expect("probe");
        let wide = Arc::new(WideStore::new(u64::MAX, staging.to_path_buf()));
        ScanShared::new(Arc::new(inputs), wide, queue, None)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partitions_started_before_their_query_give_every_row_once() {
        use arrow::array::AsArray;
        use arrow::datatypes::{UInt32Type, UInt64Type};
        use futures::StreamExt;
        use sha2::{Digest, Sha256};

        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
        let paths: Vec<_> = [
            "netflix/netflix_public.jsonl",
            "konvid-1k/konvid_1k.jsonl",
            "konvid-150k/konvid_150k.jsonl",
            "lsvq/lsvq.jsonl",
            "youtube-ugc/youtube_ugc.jsonl",
            "waterloo-ivc-4k/waterloo_ivc_4k.jsonl",
        ]
        .iter()
        .map(|p| samples.join(p))
        .collect();
        let staging = tempfile::tempdir().expect("tempdir");
        let shared = scan(&paths, 2, staging.path());
        let partitions = shared.start_partitions(2).expect("the first start");
        assert!(shared.start_partitions(2).is_none(), "a scan starts once");

        let mut seen = std::collections::HashSet::new();
        for partition in &partitions {
            let mut stream = partition.execute(Arc::new(TaskContext::default()));
            while let Some(batch) = stream.next().await {
                let batch = batch.expect("rows");
                let inputs = batch.column(0).as_primitive::<UInt32Type>();
                let lines = batch.column(1).as_primitive::<UInt64Type>();
                for (input, line) in inputs.values().iter().zip(lines.values()) {
                    assert!(
                        seen.insert((*input, *line)),
                        "row {input}:{line} came twice"
                    );
                }
            }
        }
        let mut expected = std::collections::HashSet::new();
        for (idx, path) in paths.iter().enumerate() {
            let text = std::fs::read(path).expect("read");
            for (n, line) in text.split(|&b| b == b'\n').enumerate() {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    expected.insert((idx as u32, n as u64 + 1));
                }
            }
            let stats = shared.stats()[idx].clone().expect("read to the end");
            assert_eq!(stats.bytes, text.len() as u64);
            assert_eq!(stats.sha256, crate::sha::hex(&Sha256::digest(&text)));
        }
        assert!(expected.len() > 100, "{}", expected.len());
        let mut again = partitions[1].execute(Arc::new(TaskContext::default()));
        assert!(
            matches!(again.next().await, Some(Err(_))),
            "a second scan is refused"
        );
        assert_eq!(seen, expected);
        assert_eq!(shared.rows_parsed(), expected.len() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn started_partitions_dropped_unexecuted_stop_the_reader_and_the_parsers() {
        // Far more rows than the queue and the batches in flight hold: the reader fills
        // the queue and waits for room before the partitions are dropped.
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.jsonl");
        let row = br#"{"corpus": "konvid-1k", "mos": 3.5, "src": "a.mp4", "src_sha256": "ab"}"#;
        let mut text = Vec::new();
        while text.len() < 32 << 20 {
            text.extend_from_slice(row);
            text.push(b'\n');
        }
        std::fs::write(&big, &text).expect("write");
        let shared = scan(&[big], 1, dir.path());
        let partitions = shared.start_partitions(2).expect("start");
        assert!(
            crate::test_support::eventually(|| shared.bytes_read() > 0),
            "the reader never started"
        );

        // As when the query that would have read them fails to plan.
        drop(partitions);
        // Every thread lets go of the scan (this test's handle is the last), and the
        // reader stopped long before the end of its input.
        assert!(
            crate::test_support::eventually(|| Arc::strong_count(&shared) == 1),
            "{} handles left on the scan",
            Arc::strong_count(&shared)
        );
        let read = shared.bytes_read();
        assert!(
            read < text.len() as u64 / 2,
            "read {read} of {} bytes",
            text.len()
        );
        assert!(
            shared.stats()[0].is_none(),
            "the input was not read to its end"
        );
    }
}
