//! A file's bytes front to back: from the page cache where they are in it, straight
//! from the disk (O_DIRECT) where they are not.
//!
//! Why: on the benchmark machine, reading a file that is not in the page cache through
//! it costs 2.4-3.3 s of kernel CPU a gigabyte (every page allocated, charged, filled
//! and copied, the readahead's small requests each a trip to the virtual disk), while
//! reading it straight from the disk in 1 MiB blocks costs about 0.1 s a gigabyte and
//! runs at the disk's 1.1-1.5 GB/s. A first run on 4.4 GB of shards took 28.6 s of
//! kernel CPU against 12.7 s with the shards cached. So before each read the page cache
//! is asked which of the bytes it holds (`mincore` over a mapping of the file, which
//! reads nothing): cached bytes (a second run, a file just written) are read through it
//! as before, and only bytes that would have to come from the disk are read direct, a
//! block at a time. (`preadv2` with `RWF_NOWAIT` would answer too, but a miss starts
//! the kernel's readahead of the very bytes about to be read direct.)
//!
//! A block with only a few pages missing is still read through the cache. A machine
//! that reclaims memory left untouched (the benchmark machine pages out page-cache
//! pages idle for about a minute, a few scattered ones at a time) leaves a file read
//! a few minutes ago with a page missing here and there: read direct, each such
//! megabyte would wait for the disk and stay out of the cache, and a re-run would
//! grow colder each time; through the cache, only the missing pages come from the
//! disk (tens of microseconds of kernel CPU each), and the file is whole again.
//!
//! Where the kernel or the file system has no such read (another OS, a file system
//! that refuses O_DIRECT or the mapping), the reads are the plain buffered ones.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::aligned::{Aligned, BLOCK, BUFFER};

/// A read goes through the page cache while at most one page in this many of its bytes
/// is missing there. Reading a missing page through the cache costs about 12 µs of
/// kernel CPU on the benchmark machine (3 s a gigabyte, see the module's comment),
/// reading a whole megabyte direct about 0.14 ms and a wait for the disk: for a
/// megabyte of 256 pages, 16 missing pages cost about as much either way.
const MOSTLY_CACHED: usize = 16;

/// How a file's bytes were read: what the scan reports at DEBUG.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Bytes handed out through the page cache.
    pub cached: u64,
    /// Bytes handed out that were read straight from the disk.
    pub direct: u64,
}

/// The way to the disk for bytes the page cache does not hold.
enum Direct {
    /// Not needed yet: the descriptor is opened at the first miss.
    Untried,
    Open(File),
    /// O_DIRECT is refused here (or unknown on this OS): buffered reads only.
    Refused,
}

/// A regular file read front to back (see the module's comment).
pub struct FileBytes {
    file: File,
    /// The file's path, for the direct descriptor opened at the first miss.
    path: Box<Path>,
    /// What the page cache holds (None: cannot tell, so read through it).
    cache: Option<residency::Mapping>,
    direct: Direct,
    /// The next byte to hand out.
    pos: u64,
    /// The last block read direct: `staged_len` bytes of the file from `staged_from`.
    staged: Option<Aligned>,
    staged_from: u64,
    staged_len: usize,
    counts: ReadCounts,
}

impl FileBytes {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let cache = residency::Mapping::of(&file);
        Ok(Self {
            file,
            path: path.into(),
            cache,
            direct: Direct::Untried,
            pos: 0,
            staged: None,
            staged_from: 0,
            staged_len: 0,
            counts: ReadCounts::default(),
        })
    }

    pub fn counts(&self) -> ReadCounts {
        self.counts
    }

    /// Hands out what the last direct read holds at `pos`, if any.
    fn hand_out_staged(&mut self, buf: &mut [u8]) -> Option<usize> {
        let staged = self.staged.as_ref()?;
        let end = self.staged_from + self.staged_len as u64;
        if self.pos < self.staged_from || self.pos >= end {
            return None;
        }
        let at = (self.pos - self.staged_from) as usize;
        let n = buf.len().min(self.staged_len - at);
        buf[..n].copy_from_slice(&staged.bytes(self.staged_len)[at..at + n]);
        self.pos += n as u64;
        self.counts.direct += n as u64;
        Some(n)
    }

    /// True when the `len` bytes at `pos` are better read from the disk: more than
    /// one page in `MOSTLY_CACHED` of them is not in the page cache (see the module's
    /// comment).
    fn missing_from_cache(&self, len: usize) -> bool {
        self.cache.as_ref().is_some_and(|m| {
            let (missing, pages) = m.missing_pages(self.pos, len);
            missing * MOSTLY_CACHED > pages
        })
    }

    /// Reads the block holding `pos` straight from the disk; false when O_DIRECT is
    /// refused here, and the caller reads buffered instead.
    fn read_direct_block(&mut self) -> io::Result<bool> {
        if matches!(self.direct, Direct::Untried) {
            self.direct = open_direct(&self.path);
        }
        let Direct::Open(file) = &self.direct else {
            return Ok(false);
        };
        let staged = self.staged.get_or_insert_with(Aligned::new);
        let from = self.pos - self.pos % BLOCK as u64;
        match read_at(file, staged.bytes_mut(), from) {
            Ok(n) => {
                self.staged_from = from;
                self.staged_len = n;
                Ok(true)
            }
            // A file system that took O_DIRECT at open but refuses the read.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.direct = Direct::Refused;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl Read for FileBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.hand_out_staged(buf) {
            return Ok(n);
        }
        if !matches!(self.direct, Direct::Refused)
            && self.missing_from_cache(buf.len().min(BUFFER))
            && self.read_direct_block()?
        {
            // An empty block: the file ends at or before `pos`.
            return Ok(self.hand_out_staged(buf).unwrap_or(0));
        }
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        self.counts.cached += n as u64;
        Ok(n)
    }
}

/// `pread`, retried when interrupted.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Direct {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => Direct::Open(file),
        Err(_) => Direct::Refused,
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Direct {
    Direct::Refused
}

/// Which of a file's pages the page cache holds, asked without reading any.
#[cfg(target_os = "linux")]
mod residency {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    /// A read-only mapping of the whole file, never touched: `mincore` reads the page
    /// cache's state through it.
    pub struct Mapping {
        addr: *mut libc::c_void,
        len: usize,
        page: usize,
    }

    // SAFETY: the mapping is only ever passed to `mincore` and `munmap`, never read
    // through, so which thread holds it does not matter.
    unsafe impl Send for Mapping {}

    impl Mapping {
        /// None for an empty file, or where the file cannot be mapped.
        pub fn of(file: &File) -> Option<Self> {
            let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
            // SAFETY: sysconf reads a constant of the system.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
            if len == 0 || page == 0 {
                return None;
            }
            // SAFETY: a new shared read-only mapping of an open file, at an address the
            // kernel chooses; nothing is read through it.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            (addr != libc::MAP_FAILED).then_some(Self { addr, len, page })
        }

        /// How many pages of the `len` bytes at `at` the page cache lacks, and how
        /// many pages those bytes span. Bytes past the mapping (a file that grew) count
        /// as cached, to be read through it, and so does every page when the kernel
        /// cannot tell.
        pub fn missing_pages(&self, at: u64, len: usize) -> (usize, usize) {
            let Ok(at) = usize::try_from(at) else {
                return (0, 0);
            };
            if at >= self.len || len == 0 {
                return (0, 0);
            }
            let first = at - at % self.page;
            let end = (at + len).min(self.len);
            let pages = (end - first).div_ceil(self.page);
            let mut state = vec![0u8; pages];
            // SAFETY: the range lies within the mapping, page-aligned at its start, and
            // `state` has a byte for each of its pages.
            let rc = unsafe {
                libc::mincore(
                    self.addr.cast::<u8>().add(first).cast(),
                    end - first,
                    state.as_mut_ptr().cast(),
                )
            };
            if rc != 0 {
                return (0, pages);
            }
            (state.iter().filter(|&&s| s & 1 == 0).count(), pages)
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `of`, unmapped once.
            unsafe { libc::munmap(self.addr, self.len) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod residency {
    /// Elsewhere the page cache is not asked: every read goes through it.
    pub struct Mapping;

    impl Mapping {
        pub fn of(_file: &std::fs::File) -> Option<Self> {
            None
        }

        pub fn missing_pages(&self, _at: u64, _len: usize) -> (usize, usize) {
            (0, 0)
        }
    }
}

/// Asks the kernel to drop a file's clean pages from the page cache, so the next read
/// of it comes from the disk, as a first run's would (for the tests, through the
/// crate's `evict_from_page_cache`). False when some page is still cached afterwards
/// (a file system that keeps files in memory, such as tmpfs).
#[cfg(target_os = "linux")]
pub fn evict(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    file.sync_all()?;
    advise(&file, 0, 0, libc::POSIX_FADV_DONTNEED)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    Ok(residency::Mapping::of(&file).is_some_and(|m| {
        let (missing, pages) = m.missing_pages(0, len);
        missing == pages
    }))
}

/// `posix_fadvise` over the `len` bytes at `at` (0: to the end of the file).
#[cfg(target_os = "linux")]
fn advise(file: &File, at: u64, len: u64, advice: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let too_far = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let (at, len) = (
        libc::off_t::try_from(at).map_err(too_far)?,
        libc::off_t::try_from(len).map_err(too_far)?,
    );
    // SAFETY: advice on an open descriptor; no memory of ours is touched.
    match unsafe { libc::posix_fadvise(file.as_raw_fd(), at, len, advice) } {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn evict(_path: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A file of `len` bytes that differ from block to block.
    fn file_of(dir: &Path, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4093) as u8).collect();
        let path = dir.join(format!("f{len}"));
        let mut f = File::create(&path).expect("create");
        f.write_all(&bytes).expect("write");
        f.sync_all().expect("sync");
        (path, bytes)
    }

    /// Reads the whole file in reads of `step` bytes.
    fn read_all(path: &Path, step: usize) -> (Vec<u8>, ReadCounts) {
        let mut r = FileBytes::open(path).expect("open");
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, r.counts())
    }

    #[test]
    fn every_byte_comes_back_in_order_at_any_read_size() {
        let dir = tempfile::tempdir().expect("dir");
        for len in [0, 1, 4095, 4096, 4097, (1 << 20) + 12_345, 3 << 20] {
            let (path, bytes) = file_of(dir.path(), len);
            for step in [1000, 4096, 1 << 20, 3 << 20] {
                let (got, counts) = read_all(&path, step);
                assert!(got == bytes, "len {len}, reads of {step}");
                assert_eq!(counts.cached + counts.direct, len as u64);
            }
        }
    }

    /// A file out of the page cache is read from the disk, the same bytes, and then
    /// stays out of it; where the file system cannot drop or bypass the cache (tmpfs),
    /// the reads are cached ones, the same bytes too.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_not_in_the_page_cache_is_read_straight_from_the_disk() {
        let dir = tempfile::tempdir().expect("dir");
        let len = (2 << 20) + 777;
        let (path, bytes) = file_of(dir.path(), len);
        let evicted = evict(&path).expect("evict");
        let direct_here = matches!(open_direct(&path), Direct::Open(_));
        let (got, counts) = read_all(&path, 100_000);
        assert!(got == bytes);
        if evicted && direct_here {
            assert_eq!(
                counts,
                ReadCounts {
                    cached: 0,
                    direct: len as u64
                }
            );
            // Read direct, so still not cached: a second read goes to the disk again.
            assert_eq!(read_all(&path, 1 << 20).1.direct, len as u64);
        } else {
            assert_eq!(counts.cached, len as u64);
        }
        // Once cached (a plain read), it comes from the page cache.
        std::fs::read(&path).expect("read");
        assert_eq!(
            read_all(&path, 1 << 20).1,
            ReadCounts {
                cached: len as u64,
                direct: 0
            }
        );
    }

    /// A file out of the page cache, several blocks long, read at any read size: every
    /// byte in order, all of them read direct.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_read_from_the_disk_comes_back_whole_at_any_read_size() {
        let dir = tempfile::tempdir().expect("dir");
        let len = (5 << 20) + 12_345;
        let (path, bytes) = file_of(dir.path(), len);
        let direct_here = matches!(open_direct(&path), Direct::Open(_));
        for step in [1000, 4096, 100_000, 1 << 20, 3 << 20] {
            let evicted = evict(&path).expect("evict");
            let (got, counts) = read_all(&path, step);
            assert!(got == bytes, "reads of {step}");
            assert_eq!(counts.cached + counts.direct, len as u64);
            if evicted && direct_here {
                assert_eq!(counts.direct, len as u64, "reads of {step}");
            }
        }
    }

    /// Drops `len` bytes at `at` of a file from the page cache.
    #[cfg(target_os = "linux")]
    fn evict_range(path: &Path, at: usize, len: usize) {
        let file = File::open(path).expect("open");
        advise(&file, at as u64, len as u64, libc::POSIX_FADV_DONTNEED).expect("advise");
    }

    /// A cached file with a page missing here and there (as memory reclaim leaves a file
    /// read a few minutes ago) is read through the page cache, which takes the missing
    /// pages back in; a block missing most of its pages is still read from the disk.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_few_missing_pages_are_read_through_the_cache_and_come_back() {
        let dir = tempfile::tempdir().expect("dir");
        let len = (3 << 20) + 777;
        let (path, bytes) = file_of(dir.path(), len);
        // Cached in pages of their own: a file just written sits in the cache in large
        // folios (2 MiB here), and so do bytes the kernel read ahead, which a page's
        // worth of advice cannot split; bytes read back a page at a time with no
        // readahead come in as single pages.
        let evicted = evict(&path).expect("evict");
        {
            use std::os::unix::fs::FileExt as _;
            let file = File::open(&path).expect("open");
            advise(&file, 0, 0, libc::POSIX_FADV_RANDOM).expect("advise");
            let mut page = [0u8; 4096];
            for at in (0..len).step_by(4096) {
                file.read_at(&mut page, at as u64).expect("read");
            }
        }
        // One page dropped in each of the first three megabytes.
        for block in 0..3 {
            evict_range(&path, (block << 20) + 8192, 4096);
        }
        let file = File::open(&path).expect("open");
        let map = residency::Mapping::of(&file).expect("mapping");
        let dropped = map.missing_pages(0, len).0;
        let direct_here = matches!(open_direct(&path), Direct::Open(_));

        let (got, counts) = read_all(&path, 1 << 20);
        assert!(got == bytes);
        assert_eq!(
            counts,
            ReadCounts {
                cached: len as u64,
                direct: 0
            },
            "{dropped} pages were missing"
        );
        // Where pages can be dropped and read direct (not on tmpfs), the read brought
        // the missing ones back, and a block missing all of its pages is read direct.
        if evicted && dropped == 3 && direct_here {
            assert_eq!(map.missing_pages(0, len).0, 0);
            evict_range(&path, 1 << 20, 1 << 20);
            let (got, counts) = read_all(&path, 1 << 20);
            assert!(got == bytes);
            assert_eq!(
                counts,
                ReadCounts {
                    cached: len as u64 - (1 << 20),
                    direct: 1 << 20
                }
            );
        }
    }
}
