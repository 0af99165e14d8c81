//! How an output's bytes reach its file: whole aligned blocks from a buffer of our own,
//! hashed, then written through the page cache for the first `DIRECT_AFTER` bytes and
//! straight to the disk (O_DIRECT) after that.
//!
//! Why direct: on the benchmark machine, copying 5.0 GB of JSONL into the page cache
//! costs 6.5-14 s of kernel CPU (fresh pages for every byte, and the machine has two
//! cores), while `dd oflag=direct` writes the same file in 0.9 s of CPU and 3.7 s of
//! disk time; on the realistic set's 97 MB JSONL, going direct after 4 MiB rather than
//! after 128 MiB saves 4 % of the whole run's CPU. Every byte must reach the disk
//! before the rename anyway (the fsync), so going direct costs no disk time; it only
//! skips the copy. A small output (the manifest, a small ledger) stays in the page
//! cache, where one write and a short fsync are cheapest. Where the file system
//! refuses O_DIRECT (tmpfs on older kernels, some network file systems), everything
//! stays buffered.
//!
//! Once its first buffer is full, an output's buffers are hashed and written by a
//! thread of its own, one at a time, while the writer fills the next. The writer only
//! formats: a direct write no longer makes it wait for the disk (it did for about a
//! quarter of the JSONL writer's time at 3M rows), and the SHA-256 of the bytes
//! (about a third of the JSONL writer's time on the realistic set, where that writer
//! is the last to finish) runs beside it. A small output (the manifest) never starts
//! the thread: its one buffer is hashed and written at `finish`.

use std::fs::File;
use std::io;
use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::aligned::{Aligned, BUFFER};

/// Output bytes that go through the page cache before the rest goes direct.
pub const DIRECT_AFTER: u64 = 4 << 20;
/// Every this many buffered bytes, the kernel is asked to start writing them to disk in
/// the background. The fsync before the rename then waits for the last stretch only,
/// not for gigabytes of dirty pages at once.
pub const WRITEBACK_STEP: u64 = 32 << 20;

/// The bytes of one output on their way to its file.
pub struct Sink {
    buf: Aligned,
    filled: usize,
    /// Bytes handed on to be hashed and written (the last buffers may still be on their way).
    handed: u64,
    direct_after: u64,
    /// The thread hashing and writing the full buffers, once there is one.
    background: Option<Background>,
    /// Where the writing stood when it last handed a buffer back: what the tests see
    /// of a thread they cannot look into.
    progress: Progress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Buffered,
    Direct,
    /// The file system refused O_DIRECT: buffered to the end.
    BufferedOnly,
}

/// How far the writing of an output has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes on the file.
    pub on_file: u64,
    /// How far the kernel was asked to write back the buffered part.
    pub written_back: u64,
    pub mode: Mode,
}

/// An output's bytes, all on its file (not yet synced).
pub struct Written {
    pub sha256: String,
    pub bytes: u64,
}

impl Default for Sink {
    fn default() -> Self {
        Self::direct_after(DIRECT_AFTER)
    }
}

impl Sink {
    /// A sink that goes direct once `bytes` are on the file (a multiple of `BUFFER`).
    pub fn direct_after(bytes: u64) -> Self {
        Self {
            buf: Aligned::new(),
            filled: 0,
            handed: 0,
            direct_after: bytes,
            background: None,
            progress: Progress {
                on_file: 0,
                written_back: 0,
                mode: Mode::Buffered,
            },
        }
    }

    /// Where the writing stood when it last handed a buffer back.
    #[cfg(test)]
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// True once the full buffers are hashed and written by a thread of their own.
    #[cfg(test)]
    pub fn writes_in_background(&self) -> bool {
        self.background.is_some()
    }

    /// Every byte taken: on the file, or on its way there.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.handed + self.filled as u64
    }

    /// Takes as much of `buf` as fits, handing the buffer on whenever it is full.
    pub fn write(&mut self, file: &File, buf: &[u8]) -> io::Result<usize> {
        if self.filled == BUFFER {
            self.hand_over(file)?;
        }
        let n = buf.len().min(BUFFER - self.filled);
        self.buf.bytes_mut()[self.filled..self.filled + n].copy_from_slice(&buf[..n]);
        self.filled += n;
        if self.filled == BUFFER {
            self.hand_over(file)?;
        }
        Ok(n)
    }

    /// Writes what is left (the tail buffered: it need not be a whole block), once
    /// every buffer before it is on the file; returns the digest of all the bytes.
    pub fn finish(&mut self, file: &File) -> io::Result<Written> {
        let len = self.filled;
        self.filled = 0;
        self.handed += len as u64;
        let writing = match self.background.take() {
            Some(mut background) => {
                let spare = background
                    .take_back()?
                    .map_or_else(Aligned::new, |(b, _)| b);
                let tail = std::mem::replace(&mut self.buf, spare);
                background.send(tail, len, true)?;
                background.finish()?
            }
            None => {
                let mut writing = Writing::new(file.try_clone()?, self.direct_after);
                writing.take(self.buf.bytes(len), true)?;
                writing
            }
        };
        self.progress = writing.progress();
        Ok(Written {
            sha256: crate::sha::hex(&writing.hasher.finalize()),
            bytes: writing.on_file,
        })
    }

    /// Gives the full buffer to the writing thread and takes back the one it wrote
    /// before (or a new one) to fill next.
    fn hand_over(&mut self, file: &File) -> io::Result<()> {
        if self.background.is_none() {
            let writing = Writing::new(file.try_clone()?, self.direct_after);
            self.background = Some(Background::start(writing)?);
        }
        let Some(background) = self.background.as_mut() else {
            return Err(io::Error::other("no writing thread"));
        };
        let next = match background.take_back()? {
            Some((buf, progress)) => {
                self.progress = progress;
                buf
            }
            None => Aligned::new(),
        };
        let full = std::mem::replace(&mut self.buf, next);
        background.send(full, self.filled, false)?;
        self.handed += self.filled as u64;
        self.filled = 0;
        Ok(())
    }
}

/// Hashes an output's bytes and writes them to its file, a buffer at a time.
struct Writing {
    file: File,
    hasher: Sha256,
    on_file: u64,
    written_back: u64,
    mode: Mode,
    direct_after: u64,
}

impl Writing {
    fn new(file: File, direct_after: u64) -> Self {
        Self {
            file,
            hasher: Sha256::new(),
            on_file: 0,
            written_back: 0,
            mode: Mode::Buffered,
            direct_after,
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            on_file: self.on_file,
            written_back: self.written_back,
            mode: self.mode,
        }
    }

    /// Hashes and writes one buffer's bytes; `last` for the tail, which is written
    /// buffered (a direct write takes whole blocks only).
    fn take(&mut self, bytes: &[u8], last: bool) -> io::Result<()> {
        self.hasher.update(bytes);
        if last && self.mode == Mode::Direct {
            set_direct(&self.file, false)?;
            self.mode = Mode::BufferedOnly;
        }
        let mut direct = self.mode == Mode::Direct;
        write_block(&self.file, bytes, self.on_file, &mut direct)?;
        if self.mode == Mode::Direct && !direct {
            self.mode = Mode::BufferedOnly;
        }
        self.on_file += bytes.len() as u64;
        if self.mode != Mode::Direct {
            self.start_writeback();
        }
        if self.mode == Mode::Buffered && self.on_file >= self.direct_after {
            self.mode = match set_direct(&self.file, true) {
                Ok(()) => Mode::Direct,
                Err(_) => Mode::BufferedOnly,
            };
        }
        Ok(())
    }

    /// Starts writeback of what reached the file since the last call, once that is
    /// `WRITEBACK_STEP` or more. Advisory: the fsync before the rename reports any failure.
    fn start_writeback(&mut self) {
        if self.on_file < self.written_back + WRITEBACK_STEP {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.written_back, self.on_file - self.written_back);
            // SAFETY: a plain system call on an open file descriptor; it reads no memory
            // of ours. SYNC_FILE_RANGE_WRITE only queues the range.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    from as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.written_back = self.on_file;
    }
}

fn file_len(file: &File) -> io::Result<u64> {
    Ok(file.metadata()?.len())
}

/// Writes one block at the end of the file, where `on_file` bytes already are. A file
/// system that took O_DIRECT but refuses the write gets the same bytes again, buffered
/// (a failed `write_all` may have written a prefix, so from where the file ends now),
/// and `direct` turns false for good.
fn write_block(mut file: &File, block: &[u8], on_file: u64, direct: &mut bool) -> io::Result<()> {
    match file.write_all(block) {
        Ok(()) => Ok(()),
        Err(e) if *direct && e.raw_os_error() == Some(libc::EINVAL) => {
            set_direct(file, false)?;
            *direct = false;
            let done = file_len(file)?.saturating_sub(on_file) as usize;
            file.write_all(&block[done.min(block.len())..])
        }
        Err(e) => Err(e),
    }
}

/// A buffer on its way to the writing thread: its bytes, and whether it is the last.
type Todo = (Aligned, usize, bool);
/// A buffer back from the writing thread, with how it went and where the writing stands.
type Done = (Aligned, io::Result<()>, Progress);

/// The thread that hashes and writes an output's buffers: one at a time, each handed
/// back once it is on the file.
struct Background {
    to_disk: Option<SyncSender<Todo>>,
    written: Receiver<Done>,
    in_flight: bool,
    handle: Option<JoinHandle<Writing>>,
}

impl Background {
    fn start(mut writing: Writing) -> io::Result<Self> {
        let (to_disk, todo) = sync_channel::<Todo>(1);
        let (done, written) = sync_channel::<Done>(1);
        // Only this thread writes the file from now on (its own descriptor of the same
        // open file).
        let handle = std::thread::Builder::new()
            .name("mosagg-disk".into())
            .spawn(move || {
                for (buf, len, last) in todo {
                    let result = writing.take(buf.bytes(len), last);
                    let failed = result.is_err();
                    if done.send((buf, result, writing.progress())).is_err() || failed {
                        break;
                    }
                }
                writing
            })?;
        Ok(Self {
            to_disk: Some(to_disk),
            written,
            in_flight: false,
            handle: Some(handle),
        })
    }

    /// Waits for the buffer in flight, if any: it comes back once written.
    fn take_back(&mut self) -> io::Result<Option<(Aligned, Progress)>> {
        if !self.in_flight {
            return Ok(None);
        }
        self.in_flight = false;
        let (buf, result, progress) = self.written.recv().map_err(|_| stopped())?;
        result.map(|()| Some((buf, progress)))
    }

    fn send(&mut self, buf: Aligned, len: usize, last: bool) -> io::Result<()> {
        let Some(to_disk) = &self.to_disk else {
            return Err(stopped());
        };
        to_disk.send((buf, len, last)).map_err(|_| stopped())?;
        self.in_flight = true;
        Ok(())
    }

    /// Ends the thread once every buffer handed over is written; gives back its state.
    fn finish(mut self) -> io::Result<Writing> {
        self.take_back()?;
        self.to_disk = None;
        let handle = self.handle.take().ok_or_else(stopped)?;
        handle.join().map_err(|_| stopped())
    }
}

fn stopped() -> io::Error {
    io::Error::other("the output's writing thread stopped")
}

impl Drop for Background {
    /// The thread ends with its queue; waiting for it means no write outlives the sink.
    fn drop(&mut self) {
        self.to_disk = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl with F_GETFL / F_SETFL on an open descriptor touches no memory of ours.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, on: bool) -> io::Result<()> {
    if on {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    } else {
        Ok(())
    }
}
