//! The wide part of every row, kept out of the query.
//!
//! No decision about a row needs its `src`, frame size, pixel format and the rest of the
//! descriptive fields: those only travel to the output. So the scan stores them here, in
//! a compact row format, and hands DataFusion a narrow row with a `row_ref` that points
//! back. Once the query has decided the fates of a bucket's rows and put its kept rows
//! in output order, `gather_from` fetches the wide part of exactly those rows. The
//! sorts then move a few narrow columns instead of every field of every row.
//!
//! Records go into segments, one writer per scan worker. A sealed segment stays in
//! memory while the store's share of the memory limit allows, and is appended to an
//! unnamed staging file otherwise (nothing to clean up, whatever ends the run).
//!
//! A store can be grouped the way the ranking splits the rows into buckets of keys: a
//! writer then keeps one open segment per bucket, so a bucket's records sit together
//! in a few segments. The ranking of a bucket reads its staged segments whole
//! (`load_group`) and gathers its kept rows from memory, on its own core; it then lets
//! the file forget those bytes. Records without a grouping key (and any not found in
//! a loaded group) are read back one positioned read each.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, Int64Builder, StringArray, UInt64Array,
};
use datafusion::execution::memory_pool::MemoryReservation;

use super::wide_record::{self, Fields, LastSpelled};

/// Bytes per segment of an ungrouped store: big enough that sealing is rare, small
/// enough that the last, partly filled segment of each worker costs little.
const SEGMENT_BYTES: usize = 4 << 20;
/// A staged record is read with one positioned read of this size when it fits. The
/// records read so (those without a key, which spell out all their texts) are about 110
/// bytes for the adapters' shards; every byte read is copied by the kernel, once per
/// kept row (at 512 that copy was half the cost of the read).
const READ_AHEAD: usize = 256;

/// The descriptive fields of one row, as the scan read them. The text is lent by the
/// parsed line where it can be: it is copied once, into the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WideRow<'a> {
    pub src: Cow<'a, str>,
    pub width: i64,
    pub height: i64,
    pub framerate: f64,
    pub duration_s: f64,
    pub pix_fmt: Cow<'a, str>,
    pub encoder_upstream: Cow<'a, str>,
    pub n_ratings: i64,
    pub corpus_version: Cow<'a, str>,
    pub ingested_at_utc: Cow<'a, str>,
}

/// Why the wide part of a row could not be stored or fetched.
#[derive(Debug, thiserror::Error)]
pub enum WideError {
    #[error("staging the wide row data in {dir}: {source}")]
    Staging { dir: String, source: std::io::Error },
    #[error("internal: no stored row for reference {0:#x}")]
    Dangling(u64),
    #[error("internal: a stored row's text is not UTF-8: {0}")]
    NotText(arrow::error::ArrowError),
}

impl From<WideError> for crate::error::LoadError {
    fn from(e: WideError) -> Self {
        match e {
            WideError::Staging { dir, source } => crate::error::LoadError::Io {
                path: format!("staging file in {dir}"),
                source,
            },
            WideError::Dangling(_) | WideError::NotText(_) => crate::error::LoadError::Io {
                path: "wide row store".into(),
                source: std::io::Error::other(e.to_string()),
            },
        }
    }
}

/// A sealed segment: where its bytes are.
enum Segment {
    /// Handed out to a writer, not sealed yet.
    Open,
    Memory(Vec<u8>),
    Staged {
        offset: u64,
        len: u64,
    },
}

/// A segment and the group of keys its records belong to.
struct Slot {
    group: u32,
    segment: Segment,
}

struct Staging {
    file: Arc<File>,
    len: u64,
}

/// How a store groups its records: `groups` groups, the group of a key, and the size
/// of each open segment.
#[derive(Clone, Copy)]
struct Grouping {
    groups: u32,
    group_of: fn(&[u8], u64) -> u64,
    segment_bytes: usize,
}

/// Every worker's records, addressable by `row_ref`.
pub struct WideStore {
    segments: RwLock<Vec<Slot>>,
    staging: Mutex<Option<Staging>>,
    grouping: Grouping,
    staging_dir: PathBuf,
    /// Bytes the store may keep in memory before it stages segments to disk.
    budget: u64,
    in_memory: AtomicU64,
    staged: AtomicU64,
    /// Bytes ever staged, and of them those read back a group at a time.
    staged_total: AtomicU64,
    read_by_group: AtomicU64,
    /// The query engine's account of the memory kept here, so its sorts leave room for it.
    reservation: Option<MemoryReservation>,
}

impl std::fmt::Debug for WideStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WideStore")
            .field("in_memory", &self.in_memory.load(Ordering::Relaxed))
            .field("staged", &self.staged.load(Ordering::Relaxed))
            .finish()
    }
}

/// A row reference: the segment in the high 32 bits, the record's offset in the low.
fn pack(segment: u32, offset: u32) -> u64 {
    (u64::from(segment) << 32) | u64::from(offset)
}

fn unpack(r: u64) -> (usize, usize) {
    ((r >> 32) as usize, (r & 0xFFFF_FFFF) as usize)
}

impl WideStore {
    /// A store that keeps up to `budget` bytes in memory and stages the rest in `staging_dir`.
    pub fn new(budget: u64, staging_dir: PathBuf) -> Self {
        Self::build(budget, staging_dir, None)
    }

    /// A store whose in-memory segments also count against the query engine's memory
    /// pool: a segment the pool cannot grant goes to disk.
    pub fn in_pool(budget: u64, staging_dir: PathBuf, reservation: MemoryReservation) -> Self {
        Self::build(budget, staging_dir, Some(reservation))
    }

    fn build(budget: u64, staging_dir: PathBuf, reservation: Option<MemoryReservation>) -> Self {
        Self {
            segments: RwLock::new(Vec::new()),
            staging: Mutex::new(None),
            grouping: Grouping {
                groups: 0,
                group_of: |_, _| 0,
                segment_bytes: SEGMENT_BYTES,
            },
            staging_dir,
            budget,
            in_memory: AtomicU64::new(0),
            staged: AtomicU64::new(0),
            staged_total: AtomicU64::new(0),
            read_by_group: AtomicU64::new(0),
            reservation,
        }
    }

    /// The same store, its records grouped as `group_of(key, groups)` groups keys, in
    /// open segments of `segment_bytes` (a store is shared only once it is built).
    pub fn grouped(
        mut self,
        groups: usize,
        group_of: fn(&[u8], u64) -> u64,
        segment_bytes: usize,
    ) -> Self {
        self.grouping = Grouping {
            groups: u32::try_from(groups).unwrap_or(u32::MAX - 1),
            group_of,
            segment_bytes: segment_bytes.max(1),
        };
        self
    }

    /// The group of a record with this grouping key; the last group (`groups`) holds
    /// the records without one.
    fn group_of(&self, key: Option<&[u8]>) -> u32 {
        let g = self.grouping;
        match key {
            Some(k) if g.groups > 0 => ((g.group_of)(k, u64::from(g.groups)) as u32).min(g.groups),
            _ => g.groups,
        }
    }

    /// Bytes written to the staging file so far, less those forgotten.
    pub fn staged_bytes(&self) -> u64 {
        self.staged.load(Ordering::Relaxed)
    }

    /// (bytes ever staged, bytes of them read back a group at a time).
    pub fn staging_summary(&self) -> (u64, u64) {
        (
            self.staged_total.load(Ordering::Relaxed),
            self.read_by_group.load(Ordering::Relaxed),
        )
    }

    /// Bytes of records held in memory.
    pub fn memory_bytes(&self) -> u64 {
        self.in_memory.load(Ordering::Relaxed)
    }

    fn open_segment(&self, group: u32) -> u32 {
        let mut segs = self.segments.write().unwrap_or_else(|e| e.into_inner());
        segs.push(Slot {
            group,
            segment: Segment::Open,
        });
        u32::try_from(segs.len() - 1).unwrap_or(u32::MAX)
    }

    fn seal(&self, id: u32, data: Vec<u8>) -> Result<(), WideError> {
        let len = data.len() as u64;
        let mut fits = self
            .in_memory
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + len <= self.budget).then_some(used + len)
            })
            .is_ok();
        if fits
            && let Some(r) = &self.reservation
            && r.try_grow(data.capacity()).is_err()
        {
            self.in_memory.fetch_sub(len, Ordering::Relaxed);
            fits = false;
        }
        let segment = if fits {
            Segment::Memory(data)
        } else {
            Segment::Staged {
                offset: self.stage(&data)?,
                len,
            }
        };
        let mut segs = self.segments.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = segs.get_mut(id as usize) {
            slot.segment = segment;
        }
        Ok(())
    }

    /// Appends a segment to the staging file; returns where it starts.
    fn stage(&self, data: &[u8]) -> Result<u64, WideError> {
        let err = |source| WideError::Staging {
            dir: self.staging_dir.display().to_string(),
            source,
        };
        let mut guard = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let file = tempfile::tempfile_in(&self.staging_dir).map_err(err)?;
            *guard = Some(Staging {
                file: Arc::new(file),
                len: 0,
            });
        }
        let Some(staging) = guard.as_mut() else {
            return Err(err(std::io::Error::other("no staging file")));
        };
        let offset = staging.len;
        (&*staging.file).write_all(data).map_err(err)?;
        staging.len += data.len() as u64;
        self.staged.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.staged_total
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(offset)
    }

    /// The staging file, for reading (None before anything was staged).
    fn staging_file(&self) -> Option<Arc<File>> {
        let staging = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        staging.as_ref().map(|s| Arc::clone(&s.file))
    }

    fn staging_error(&self, source: std::io::Error) -> WideError {
        WideError::Staging {
            dir: self.staging_dir.display().to_string(),
            source,
        }
    }

    /// True for a group of keys, as opposed to the records without one (or an
    /// ungrouped store): only those are ever read whole and forgotten.
    fn is_key_group(&self, group: usize) -> bool {
        group < self.grouping.groups as usize
    }

    /// The staged segments of one group of keys (none for the records without a key):
    /// (segment id, offset in the staging file, length), in file order.
    fn staged_segments(&self, group: usize) -> Vec<(u32, u64, u64)> {
        if !self.is_key_group(group) {
            return Vec::new();
        }
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let mut parts: Vec<(u32, u64, u64)> = segs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.group as usize == group)
            .filter_map(|(id, s)| match s.segment {
                Segment::Staged { offset, len } => Some((id as u32, offset, len)),
                _ => None,
            })
            .collect();
        parts.sort_unstable_by_key(|&(_, offset, _)| offset);
        parts
    }

    /// Staged bytes of one group: what `load_group` would hold in memory.
    pub fn staged_bytes_of(&self, group: usize) -> u64 {
        self.staged_segments(group).iter().map(|p| p.2).sum()
    }

    /// Reads every staged segment of `group` into memory, in file order, and lets the
    /// staging file forget them (their disk space is freed where the file system can).
    /// The records stay readable through the returned group only. The records without
    /// a key, which any bucket may ask for, are never loaded this way.
    pub fn load_group(&self, group: usize) -> Result<LoadedGroup, WideError> {
        let parts = self.staged_segments(group);
        let mut loaded = LoadedGroup::default();
        let Some(file) = self.staging_file() else {
            return Ok(loaded);
        };
        let total: u64 = parts.iter().map(|p| p.2).sum();
        loaded.data.reserve_exact(total as usize);
        for &(id, offset, len) in &parts {
            let start = loaded.data.len();
            loaded.data.resize(start + len as usize, 0);
            file.read_exact_at(&mut loaded.data[start..], offset)
                .map_err(|e| self.staging_error(e))?;
            loaded.starts.push((id, start));
        }
        loaded.starts.sort_unstable();
        self.read_by_group.fetch_add(total, Ordering::Relaxed);
        let forgotten: u64 = parts
            .iter()
            .filter(|&&(_, offset, len)| forget(&file, offset, len))
            .map(|p| p.2)
            .sum();
        self.staged.fetch_sub(forgotten, Ordering::Relaxed);
        Ok(loaded)
    }

    /// The wide columns of the referenced rows, in the order given; the records of a
    /// loaded group come from memory.
    pub fn gather_from(
        &self,
        refs: &UInt64Array,
        loaded: Option<&LoadedGroup>,
    ) -> Result<WideColumns, WideError> {
        let n = refs.len();
        let mut out = WideColumnsBuilder::with_capacity(n);
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let file = self.staging_file();
        let mut scratch = Vec::new();
        // The staged segment of a group of keys last read whole (see below), by id.
        let mut whole: Option<(usize, Vec<u8>)> = None;
        let refs = refs.values();
        for (i, &r) in refs.iter().enumerate() {
            // The records are read in output order, all over the bucket's group: without
            // a hint ahead, nearly every one waits for memory.
            if let Some((data, _, at)) = refs
                .get(i + PREFETCH_AHEAD)
                .and_then(|&ahead| in_memory(&segs, loaded, ahead))
            {
                prefetch_record(data, at);
            }
            let fields = match in_memory(&segs, loaded, r) {
                Some((data, start, at)) => wide_record::decode(data, start, at),
                None => {
                    let (seg, offset) = unpack(r);
                    let slot = segs.get(seg).ok_or(WideError::Dangling(r))?;
                    let Segment::Staged { offset: base, len } = slot.segment else {
                        return Err(WideError::Dangling(r));
                    };
                    let file = file.as_ref().ok_or(WideError::Dangling(r))?;
                    let read = |e| self.staging_error(e);
                    if self.is_key_group(slot.group as usize) {
                        // Its group not read back (the ranking reads it whole): its
                        // records may refer to earlier ones, so the whole segment.
                        if whole.as_ref().is_none_or(|(id, _)| *id != seg) {
                            let mut bytes = vec![0; len as usize];
                            file.read_exact_at(&mut bytes, base).map_err(read)?;
                            whole = Some((seg, bytes));
                        }
                        whole
                            .as_ref()
                            .and_then(|(_, bytes)| wide_record::decode(bytes, 0, offset))
                    } else {
                        // A record without a key: whole on its own, one read of its own.
                        let rec =
                            read_staged(file, base + offset as u64, &mut scratch).map_err(read)?;
                        wide_record::decode(rec, 0, 0)
                    }
                }
            };
            out.append(&fields.ok_or(WideError::Dangling(r))?);
        }
        out.finish()
    }
}

/// One group's staged records, read back whole.
#[derive(Default)]
pub struct LoadedGroup {
    data: Vec<u8>,
    /// Where each segment starts in `data`, by segment id.
    starts: Vec<(u32, usize)>,
}

impl LoadedGroup {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Where a record is, without reading it: the bytes, where its segment starts in
    /// them, and where the record does.
    fn locate(&self, segment: u32, offset: usize) -> Option<(&[u8], usize, usize)> {
        let i = self
            .starts
            .binary_search_by_key(&segment, |&(id, _)| id)
            .ok()?;
        let start = self.starts[i].1;
        Some((&self.data, start, start + offset))
    }
}

/// Where record `r` sits in memory, unread: in a memory segment, or in its group read
/// back whole (`loaded`): (the bytes, where its segment starts in them, where the
/// record does). `None` for a record that is only on disk, or unknown.
fn in_memory<'a>(
    segs: &'a [Slot],
    loaded: Option<&'a LoadedGroup>,
    r: u64,
) -> Option<(&'a [u8], usize, usize)> {
    let (seg, offset) = unpack(r);
    match &segs.get(seg)?.segment {
        Segment::Memory(data) => Some((data, 0, offset)),
        Segment::Staged { .. } => loaded?.locate(u32::try_from(seg).ok()?, offset),
        Segment::Open => None,
    }
}

/// Records the gather asks memory for ahead of the one it decodes: enough to cover a
/// miss to memory (a few hundred cycles) with the decoding of the records between.
const PREFETCH_AHEAD: usize = 16;

/// Asks for the first two cache lines of the record at `at` in `data` (a record is
/// about 75 bytes; the earlier texts it refers to are read by many records, and stay
/// in the cache).
fn prefetch_record(data: &[u8], at: usize) {
    crate::prefetch::prefetch(data, at);
    crate::prefetch::prefetch(data, at + 64);
}

/// Frees a range of the staging file's disk space (a hole reads as zeros). False where
/// the file system cannot: the bytes then stay on disk until the run ends.
fn forget(file: &File, offset: u64, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return false;
    };
    // SAFETY: fallocate only reads its integer arguments; the descriptor is open for
    // as long as `file` is borrowed.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        )
    };
    rc == 0
}

/// One positioned read (two for a record longer than `READ_AHEAD`).
fn read_staged<'a>(file: &File, at: u64, buf: &'a mut Vec<u8>) -> std::io::Result<&'a [u8]> {
    buf.resize(READ_AHEAD, 0);
    let got = read_some_at(file, buf, at)?;
    if got < 4 {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
    }
    let len = wide_record::length(buf).unwrap_or(0);
    if len > got {
        buf.resize(len, 0);
        file.read_exact_at(&mut buf[got..len], at + got as u64)?;
    }
    Ok(&buf[..len])
}

/// Reads what is there, up to `buf.len()` bytes (the last record may end before it).
fn read_some_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], at + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One scan worker's appender: fills a segment per group, seals it, starts the next.
pub struct WideWriter {
    store: Arc<WideStore>,
    /// The open segment of each group, made on the group's first record.
    open: Vec<Option<OpenSegment>>,
    /// False for a writer whose rows nobody will fetch (validation-only re-reads).
    keep: bool,
}

impl WideWriter {
    pub fn new(store: Arc<WideStore>) -> Self {
        let groups = store.grouping.groups as usize + 1;
        Self {
            store,
            open: (0..groups).map(|_| None).collect(),
            keep: true,
        }
    }

    /// A writer that forgets every row: for reading inputs only to validate them.
    pub fn discarding() -> Self {
        Self {
            store: Arc::new(WideStore::new(0, std::env::temp_dir())),
            open: Vec::new(),
            keep: false,
        }
    }

    /// How many groups this writer fills: the store's groups of keys and one for the
    /// records without a key (none for a discarding writer).
    pub fn groups(&self) -> usize {
        self.open.len()
    }

    /// The group a record with this grouping key (the row's dedup key, when it is its
    /// content hash) is stored in: the bucket its row is ranked in.
    pub fn group(&self, key: Option<&[u8]>) -> u32 {
        self.store.group_of(key)
    }

    /// Stores one row in `group` (see [`WideWriter::group`]); returns its reference.
    pub fn append(&mut self, row: &WideRow<'_>, group: u32) -> Result<u64, WideError> {
        if !self.keep {
            return Ok(0);
        }
        let len = wide_record::max_len(row);
        let segment_bytes = self.store.grouping.segment_bytes;
        let Some(slot) = self.open.get_mut(group as usize) else {
            return Err(WideError::Dangling(u64::from(group)));
        };
        if let Some(open) = slot
            && !open.bytes.is_empty()
            && open.bytes.len() + len > segment_bytes
        {
            let full = std::mem::take(&mut open.bytes);
            self.store.seal(open.id, full)?;
            *slot = None;
        }
        let open = slot.get_or_insert_with(|| OpenSegment {
            id: self.store.open_segment(group),
            bytes: Vec::with_capacity(segment_bytes.max(len)),
            // Only the segments of a group of keys are read back whole, so only their
            // records may refer to an earlier one's texts.
            last: self
                .store
                .is_key_group(group as usize)
                .then(LastSpelled::default),
        });
        let offset = u32::try_from(open.bytes.len()).unwrap_or(u32::MAX);
        wide_record::encode(&mut open.bytes, row, open.last.as_mut());
        Ok(pack(open.id, offset))
    }

    /// Seals the open segments; every reference handed out is readable afterwards.
    pub fn finish(self) -> Result<(), WideError> {
        for open in self.open.into_iter().flatten() {
            self.store.seal(open.id, open.bytes)?;
        }
        Ok(())
    }
}

/// A writer's segment being filled: its id, its records, and, for a group of keys, the
/// texts its records may refer back to.
struct OpenSegment {
    id: u32,
    bytes: Vec<u8>,
    last: Option<LastSpelled>,
}

/// The gathered columns' fields, in `WideColumns` order: named as in the unified
/// schema, never null.
pub fn wide_fields() -> Vec<arrow::datatypes::Field> {
    use arrow::datatypes::{DataType::*, Field};
    [
        ("src", Utf8),
        ("width", Int64),
        ("height", Int64),
        ("framerate", Float64),
        ("duration_s", Float64),
        ("pix_fmt", Utf8),
        ("encoder_upstream", Utf8),
        ("n_ratings", Int64),
        ("corpus_version", Utf8),
        ("ingested_at_utc", Utf8),
    ]
    .into_iter()
    .map(|(name, t)| Field::new(name, t, false))
    .collect()
}

/// The gathered wide columns, named as in the unified schema.
pub struct WideColumns {
    pub columns: Vec<(&'static str, ArrayRef)>,
}

/// The texts are gathered as bytes and become text columns at `finish`.
struct WideColumnsBuilder {
    src: BinaryBuilder,
    width: Int64Builder,
    height: Int64Builder,
    framerate: Float64Builder,
    duration_s: Float64Builder,
    pix_fmt: BinaryBuilder,
    encoder_upstream: BinaryBuilder,
    n_ratings: Int64Builder,
    corpus_version: BinaryBuilder,
    ingested_at_utc: BinaryBuilder,
}

impl WideColumnsBuilder {
    fn with_capacity(n: usize) -> Self {
        let s = |bytes| BinaryBuilder::with_capacity(n, n * bytes);
        Self {
            src: s(48),
            width: Int64Builder::with_capacity(n),
            height: Int64Builder::with_capacity(n),
            framerate: Float64Builder::with_capacity(n),
            duration_s: Float64Builder::with_capacity(n),
            pix_fmt: s(8),
            encoder_upstream: s(8),
            n_ratings: Int64Builder::with_capacity(n),
            corpus_version: s(8),
            ingested_at_utc: s(25),
        }
    }

    /// Appends one record's fields.
    fn append(&mut self, f: &Fields<'_>) {
        self.width.append_value(f.width);
        self.height.append_value(f.height);
        self.n_ratings.append_value(f.n_ratings);
        self.framerate.append_value(f.framerate);
        self.duration_s.append_value(f.duration_s);
        self.src.append_value(f.src);
        self.pix_fmt.append_value(f.pix_fmt);
        self.encoder_upstream.append_value(f.encoder_upstream);
        self.corpus_version.append_value(f.corpus_version);
        self.ingested_at_utc.append_value(f.ingested_at_utc);
    }

    fn finish(mut self) -> Result<WideColumns, WideError> {
        use std::sync::Arc as A;
        Ok(WideColumns {
            columns: vec![
                ("src", text_column(&mut self.src)?),
                ("width", A::new(self.width.finish())),
                ("height", A::new(self.height.finish())),
                ("framerate", A::new(self.framerate.finish())),
                ("duration_s", A::new(self.duration_s.finish())),
                ("pix_fmt", text_column(&mut self.pix_fmt)?),
                ("encoder_upstream", text_column(&mut self.encoder_upstream)?),
                ("n_ratings", A::new(self.n_ratings.finish())),
                ("corpus_version", text_column(&mut self.corpus_version)?),
                ("ingested_at_utc", text_column(&mut self.ingested_at_utc)?),
            ],
        })
    }
}

/// Gathered bytes as a text column. They were written from `&str` by `encode`, and are
/// checked all the same, since the staged ones came back from disk.
fn text_column(bytes: &mut BinaryBuilder) -> Result<ArrayRef, WideError> {
    let text = StringArray::try_from_binary(bytes.finish()).map_err(WideError::NotText)?;
    Ok(std::sync::Arc::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Float64Array};
    use arrow::datatypes::{Float64Type, Int64Type};

    fn row(i: i64) -> WideRow<'static> {
        WideRow {
            src: format!("clip-{i}.mp4").into(),
            width: 1920 + i,
            height: 1080,
            framerate: 29.97,
            duration_s: f64::from(i as i32) / 3.0,
            pix_fmt: "yuv420p".into(),
            encoder_upstream: "x264".into(),
            n_ratings: i,
            corpus_version: "v1 é".into(),
            ingested_at_utc: "".into(),
        }
    }

    /// Stores rows from two writers under `budget`, gathers them back in reverse.
    fn round_trip(budget: u64) -> (Arc<WideStore>, Vec<u64>) {
        let store = Arc::new(WideStore::new(budget, std::env::temp_dir()));
        let mut a = WideWriter::new(Arc::clone(&store));
        let mut b = WideWriter::new(Arc::clone(&store));
        // Enough rows to fill several segments.
        let refs: Vec<u64> = (0..120_000)
            .map(|i| {
                let w = if i % 2 == 0 { &mut a } else { &mut b };
                w.append(&row(i), w.group(None)).expect("append")
            })
            .collect();
        a.finish().expect("finish");
        b.finish().expect("finish");
        let rev: Vec<u64> = refs.iter().rev().copied().collect();
        let cols = store
            .gather_from(&UInt64Array::from(rev), None)
            .expect("gather");
        let get = |name: &str| {
            cols.columns
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| Arc::clone(c))
                .expect("column")
        };
        let (src, width, dur) = (get("src"), get("width"), get("duration_s"));
        let (src, width) = (src.as_string::<i32>(), width.as_primitive::<Int64Type>());
        let dur: &Float64Array = dur.as_primitive::<Float64Type>();
        for (k, i) in (0..120_000i64).rev().enumerate() {
            assert_eq!(src.value(k), format!("clip-{i}.mp4"));
            assert_eq!(width.value(k), 1920 + i);
            assert_eq!(dur.value(k), f64::from(i as i32) / 3.0);
        }
        (store, refs)
    }

    #[test]
    fn rows_come_back_from_memory() {
        let (store, _) = round_trip(u64::MAX);
        assert_eq!(store.staged_bytes(), 0);
    }

    #[test]
    fn rows_come_back_from_the_staging_file() {
        let (store, _) = round_trip(0);
        assert!(store.staged_bytes() > 0);
        assert_eq!(store.memory_bytes(), 0);
    }

    #[test]
    fn gathered_bytes_that_are_not_text_are_an_error() {
        let mut good = BinaryBuilder::new();
        good.append_value("é".as_bytes());
        assert_eq!(text_column(&mut good).expect("text").len(), 1);
        let mut bad = BinaryBuilder::new();
        bad.append_value(b"ok");
        // Half of a two-byte character.
        bad.append_value(&"é".as_bytes()[..1]);
        assert!(matches!(text_column(&mut bad), Err(WideError::NotText(_))));
    }

    #[test]
    fn a_staged_record_longer_than_one_read_comes_back_whole() {
        let store = Arc::new(WideStore::new(0, std::env::temp_dir()));
        let mut w = WideWriter::new(Arc::clone(&store));
        let long = |i: usize| format!("{}-{i}.mp4", "clip/".repeat(60 + i));
        let refs: Vec<u64> = (0..3)
            .map(|i| {
                let row = WideRow {
                    src: long(i).into(),
                    ..row(i as i64)
                };
                w.append(&row, w.group(None)).expect("append")
            })
            .collect();
        w.finish().expect("finish");
        assert!(long(0).len() > READ_AHEAD);
        let cols = store
            .gather_from(&UInt64Array::from(refs), None)
            .expect("gather");
        let src = &cols.columns[0].1;
        let src = src.as_string::<i32>();
        for i in 0..3 {
            assert_eq!(src.value(i), long(i));
        }
        assert!(store.staged_bytes() > 0);
    }

    /// Staged bytes of the records without a key (the last group).
    fn keyless_bytes(store: &WideStore) -> u64 {
        let segs = store.segments.read().expect("segments");
        segs.iter()
            .filter(|s| s.group == store.grouping.groups)
            .map(|s| match s.segment {
                Segment::Staged { len, .. } => len,
                _ => 0,
            })
            .sum()
    }

    /// The group of a test key: its first byte.
    fn first_byte(key: &[u8], groups: u64) -> u64 {
        u64::from(key[0]) % groups
    }

    #[test]
    fn a_group_is_read_whole_and_then_only_from_memory() {
        // Everything staged, in segments of about eight records.
        let store =
            Arc::new(WideStore::new(0, std::env::temp_dir()).grouped(4, first_byte, 1 << 10));
        let mut a = WideWriter::new(Arc::clone(&store));
        let mut b = WideWriter::new(Arc::clone(&store));
        let keys: Vec<Option<String>> = (0..4000)
            .map(|i| (i % 5 != 0).then(|| format!("{}-{i}", i % 4)))
            .collect();
        let refs: Vec<u64> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let w = if i % 3 == 0 { &mut a } else { &mut b };
                let group = w.group(k.as_deref().map(str::as_bytes));
                w.append(&row(i as i64), group).expect("append")
            })
            .collect();
        a.finish().expect("finish");
        b.finish().expect("finish");
        let staged = store.staged_bytes();
        assert_eq!(
            staged,
            (0..4).map(|g| store.staged_bytes_of(g)).sum::<u64>() + keyless_bytes(&store),
            "every staged byte is in one group, or with the rows without a key"
        );
        // The rows without a key are never read whole (nor forgotten).
        assert_eq!(store.staged_bytes_of(4), 0);
        assert_eq!(store.load_group(4).expect("load").bytes(), 0);
        assert_eq!(store.staged_bytes(), staged);

        // Group '2' (byte 0x32 % 4 == 2): its rows, and the rows without a key.
        let group = usize::from(b'2') % 4;
        let ours: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i].as_deref().is_some_and(|k| k.starts_with('2')))
            .collect();
        let keyless: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_none()).collect();
        let loaded = store.load_group(group).expect("load");
        assert_eq!(loaded.bytes() as u64, store.staged_bytes_of(group));
        // The file forgot the group's bytes.
        assert_eq!(store.staged_bytes(), staged - loaded.bytes() as u64);

        let pick = |rows: &[usize]| UInt64Array::from_iter_values(rows.iter().map(|&i| refs[i]));
        for rows in [&ours, &keyless] {
            let cols = store
                .gather_from(&pick(rows), Some(&loaded))
                .expect("gather");
            let src = cols.columns[0].1.as_string::<i32>();
            for (k, &i) in rows.iter().enumerate() {
                assert_eq!(src.value(k), format!("clip-{i}.mp4"));
            }
        }
        // Without the loaded group, its forgotten records are gone: an error, never
        // a made-up row.
        assert!(store.gather_from(&pick(&ours[..1]), None).is_err());
    }

    #[test]
    fn a_staged_group_not_read_back_still_comes_back_record_by_record() {
        // Every record of group 1 refers to the first one's texts; their group is never
        // loaded, so each is read from its staged segment.
        let store =
            Arc::new(WideStore::new(0, std::env::temp_dir()).grouped(2, first_byte, 1 << 10));
        let mut w = WideWriter::new(Arc::clone(&store));
        let refs: Vec<u64> = (0..500)
            .map(|i| w.append(&row(i), w.group(Some(b"1"))).expect("append"))
            .collect();
        w.finish().expect("finish");
        assert!(store.staged_bytes_of(1) > 0);
        let rev: Vec<u64> = refs.iter().rev().copied().collect();
        let cols = store
            .gather_from(&UInt64Array::from(rev), None)
            .expect("gather");
        let get = |k: usize| cols.columns[k].1.as_string::<i32>().clone();
        let (src, pix_fmt, version) = (get(0), get(5), get(8));
        for (k, i) in (0..500).rev().enumerate() {
            assert_eq!(src.value(k), format!("clip-{i}.mp4"));
            assert_eq!(pix_fmt.value(k), "yuv420p");
            assert_eq!(version.value(k), "v1 é");
        }
    }

    #[test]
    fn an_unknown_reference_is_an_error() {
        let store = Arc::new(WideStore::new(0, std::env::temp_dir()));
        assert!(
            store
                .gather_from(&UInt64Array::from(vec![pack(7, 0)]), None)
                .is_err()
        );
    }
}
