//! How an output's bytes reach its file: whole aligned blocks from a buffer of our own,
//! through the page cache for the first `DIRECT_AFTER` bytes and straight to the disk
//! (O_DIRECT) after that.
//!
//! Why: on the benchmark machine, copying 5.0 GB of JSONL into the page cache costs
//! 6.5-14 s of kernel CPU (fresh pages for every byte, and the machine has two
//! cores), while `dd oflag=direct` writes the same file in 0.9 s of CPU and 3.7 s of
//! disk time. A small output stays in the page cache, where writing it is cheapest and
//! the fsync before the rename waits only for what writeback has not yet done; only a
//! large one goes direct. Where the file system refuses O_DIRECT (tmpfs on older
//! kernels, some network file systems), everything stays buffered.
//!
//! A direct write returns only when the disk has the bytes. So the direct part is
//! written by a thread of its own, one buffer at a time, while the writer fills the
//! next: formatting and hashing never wait for the disk (they did for about a quarter
//! of the JSONL writer's time at 3M rows).

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes written at a time; O_DIRECT needs a multiple of the device's block size, at an
/// offset that is one, from memory aligned to one. 4096 covers 512-byte devices too.
const BLOCK: usize = 4096;
const BUFFER: usize = 1 << 20;
/// Output bytes that go through the page cache before the rest goes direct.
pub const DIRECT_AFTER: u64 = 128 << 20;
/// Every this many buffered bytes, the kernel is asked to start writing them to disk in
/// the background. The fsync before the rename then waits for the last stretch only,
/// not for gigabytes of dirty pages at once.
pub const WRITEBACK_STEP: u64 = 32 << 20;

/// A buffer of `BUFFER` bytes aligned to `BLOCK`.
struct Aligned {
    raw: Vec<u8>,
    start: usize,
}

impl Aligned {
    fn new() -> Self {
        let raw = vec![0u8; BUFFER + BLOCK];
        let start = raw.as_ptr().align_offset(BLOCK);
        Self { raw, start }
    }

    fn bytes(&self, len: usize) -> &[u8] {
        &self.raw[self.start..self.start + len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + BUFFER]
    }
}

/// The bytes of one output on their way to its file.
pub struct Sink {
    buf: Aligned,
    filled: usize,
    /// Bytes handed to the file so far (the last buffer may still be on its way).
    pub on_file: u64,
    /// How far the kernel was asked to write back the buffered part.
    pub written_back: u64,
    mode: Mode,
    direct_after: u64,
    /// The thread writing the direct part, once there is one.
    background: Option<Background>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Buffered,
    Direct,
    /// The file system refused O_DIRECT: buffered to the end.
    BufferedOnly,
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
            on_file: 0,
            written_back: 0,
            mode: Mode::Buffered,
            direct_after: bytes,
            background: None,
        }
    }

    #[cfg(test)]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// True once the direct part is written by a thread of its own.
    #[cfg(test)]
    pub fn writes_in_background(&self) -> bool {
        self.background.is_some()
    }

    /// Every byte taken: on the file, or in the buffer on its way there.
    pub fn bytes(&self) -> u64 {
        self.on_file + self.filled as u64
    }

    /// Takes as much of `buf` as fits, writing the buffer out whenever it is full.
    pub fn write(&mut self, file: &File, buf: &[u8]) -> io::Result<usize> {
        if self.filled == BUFFER {
            self.write_out(file)?;
        }
        let n = buf.len().min(BUFFER - self.filled);
        self.buf.bytes_mut()[self.filled..self.filled + n].copy_from_slice(&buf[..n]);
        self.filled += n;
        if self.filled == BUFFER {
            self.write_out(file)?;
        }
        Ok(n)
    }

    /// Writes what is left (buffered: the tail need not be a whole block), once the
    /// direct part is all on the disk.
    pub fn finish(&mut self, file: &File) -> io::Result<()> {
        if let Some(background) = self.background.take() {
            background.finish()?;
        }
        if self.mode == Mode::Direct {
            set_direct(file, false)?;
            self.mode = Mode::BufferedOnly;
        }
        self.write_out(file)
    }

    fn write_out(&mut self, file: &File) -> io::Result<()> {
        if self.mode == Mode::Direct {
            return self.hand_over(file);
        }
        let mut direct = false;
        write_block(file, self.buf.bytes(self.filled), self.on_file, &mut direct)?;
        self.on_file += self.filled as u64;
        self.filled = 0;
        self.start_writeback(file);
        if self.mode == Mode::Buffered && self.on_file >= self.direct_after {
            self.mode = match set_direct(file, true) {
                Ok(()) => Mode::Direct,
                Err(_) => Mode::BufferedOnly,
            };
        }
        Ok(())
    }

    /// Gives the full buffer to the direct writer's thread and takes the one it wrote
    /// before (or a new one) to fill next.
    fn hand_over(&mut self, file: &File) -> io::Result<()> {
        if self.background.is_none() {
            self.background = Some(Background::start(file, self.on_file)?);
        }
        let Some(background) = self.background.as_mut() else {
            return Err(io::Error::other("no direct writer"));
        };
        let next = background.take_back()?.unwrap_or_else(Aligned::new);
        let full = std::mem::replace(&mut self.buf, next);
        background.send(full, self.filled)?;
        self.on_file += self.filled as u64;
        self.filled = 0;
        Ok(())
    }

    /// Starts writeback of what reached the file since the last call, once that is
    /// `WRITEBACK_STEP` or more. Advisory: the fsync before the rename reports any failure.
    fn start_writeback(&mut self, file: &File) {
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
                    file.as_raw_fd(),
                    from as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = file;
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

/// The thread that writes an output's direct part: one buffer at a time, handed back
/// once it is on the disk.
struct Background {
    to_disk: Option<SyncSender<(Aligned, usize)>>,
    written: Receiver<(Aligned, io::Result<()>)>,
    in_flight: bool,
    handle: Option<JoinHandle<()>>,
}

impl Background {
    fn start(file: &File, on_file: u64) -> io::Result<Self> {
        // The same open file (and offset): only this thread writes it from now on.
        let file = file.try_clone()?;
        let (to_disk, todo) = sync_channel::<(Aligned, usize)>(1);
        let (done, written) = sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("mosagg-disk".into())
            .spawn(move || {
                let (mut on_file, mut direct) = (on_file, true);
                for (buf, len) in todo {
                    let result = write_block(&file, buf.bytes(len), on_file, &mut direct);
                    on_file += len as u64;
                    let failed = result.is_err();
                    if done.send((buf, result)).is_err() || failed {
                        break;
                    }
                }
            })?;
        Ok(Self {
            to_disk: Some(to_disk),
            written,
            in_flight: false,
            handle: Some(handle),
        })
    }

    /// Waits for the buffer in flight, if any: it comes back once written.
    fn take_back(&mut self) -> io::Result<Option<Aligned>> {
        if !self.in_flight {
            return Ok(None);
        }
        self.in_flight = false;
        let (buf, result) = self
            .written
            .recv()
            .map_err(|_| io::Error::other("the output's disk writer stopped"))?;
        result.map(|()| Some(buf))
    }

    fn send(&mut self, buf: Aligned, len: usize) -> io::Result<()> {
        let Some(to_disk) = &self.to_disk else {
            return Err(io::Error::other("the output's disk writer stopped"));
        };
        to_disk
            .send((buf, len))
            .map_err(|_| io::Error::other("the output's disk writer stopped"))?;
        self.in_flight = true;
        Ok(())
    }

    /// Waits until every buffer handed over is on the disk.
    fn finish(mut self) -> io::Result<()> {
        self.take_back().map(|_| ())
    }
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
