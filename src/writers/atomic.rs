//! Output files that appear whole or not at all, hashed as they are written.
//!
//! A file is written under a hidden temporary name beside its target,
//! `.NAME.mosagg-PID-XXXXXX.tmp`, so the final rename never crosses file systems and a
//! later run can tell a temporary file left by a killed run (its PID is gone) from one
//! being written now.

use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::paths::shown;

use super::sink::Sink;

/// A file being written beside its target. Dropping it without `commit` deletes it.
pub struct AtomicOutput {
    target: PathBuf,
    file: NamedTempFile,
    /// The bytes on their way to `file` (page cache first, O_DIRECT for a large file),
    /// hashed on their way.
    sink: Sink,
    registered: Registered,
}

/// A written, hashed temporary file waiting to be renamed into place.
pub struct Staged {
    target: PathBuf,
    file: NamedTempFile,
    pub sha256: String,
    pub bytes: u64,
    _registered: Registered,
}

/// Keeps a temporary file on the list a signal handler deletes, for as long as it lives.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        crate::cleanup::forget_file(&self.0);
    }
}

/// The folder a target lives in (`.` for a bare file name).
pub fn folder(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The fixed start of every temporary name for `target`: `.NAME.mosagg-`.
fn temp_prefix(target: &Path) -> std::ffi::OsString {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(target.file_name().unwrap_or_default());
    prefix.push(".mosagg-");
    prefix
}

/// Deletes temporary files of `target` left by runs that no longer exist (killed, or
/// the machine went down). Files of a live process, this one included, are left alone.
pub fn sweep_stale(target: &Path) {
    let dir = folder(target);
    let prefix = temp_prefix(target);
    let prefix = prefix.as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .as_encoded_bytes()
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(b".tmp"))
        else {
            continue;
        };
        let pid = rest
            .split(|b| *b == b'-')
            .next()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !crate::cleanup::process_alive(pid)
        {
            let path = entry.path();
            if std::fs::remove_file(&path).is_ok() {
                log::info!(
                    "removed {}, left by an earlier run (pid {pid}) that was stopped",
                    crate::paths::shown(&path)
                );
            }
        }
    }
}

impl AtomicOutput {
    /// Creates the target's folder if needed and a hidden temporary file in it,
    /// so the final rename never crosses file systems.
    pub fn create(target: &Path) -> Result<Self> {
        let dir = folder(target);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating folder {}", shown(&dir)), e))?;
        let mut prefix = temp_prefix(target);
        prefix.push(format!("{}-", std::process::id()));
        let file = crate::cleanup::registering(|r| {
            let file = tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(".tmp")
                .tempfile_in(&dir)?;
            r.file(file.path());
            Ok(file)
        })
        .map_err(|e| Error::io(format!("creating a temporary file in {}", shown(&dir)), e))?;
        let registered = Registered(file.path().to_path_buf());
        // Temporary files are private (0600); the finished output is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io(format!("creating {}", shown(target)), e))?;
        }
        Ok(Self {
            target: target.to_path_buf(),
            file,
            sink: Sink::default(),
            registered,
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes and hashes; the file still sits under its temporary name.
    pub fn finish(mut self) -> Result<Staged> {
        let target = self.target;
        let file = self.file;
        let written = self
            .sink
            .finish(file.as_file())
            .map_err(|e| Error::io(format!("writing {}", shown(&target)), e))?;
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", shown(&target)), e))?;
        Ok(Staged {
            sha256: written.sha256,
            bytes: written.bytes,
            target,
            file,
            _registered: self.registered,
        })
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink.write(self.file.as_file(), buf)
    }

    /// Nothing to do: the bytes reach the file whole blocks at a time, and all of them
    /// by `finish`; until the rename nobody reads the file.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Staged {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file into place, replacing whatever was there.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        self.file
            .persist(&target)
            .map_err(|e| Error::io(format!("renaming into {}", shown(&target)), e.error))?;
        sync_folder(&folder(&target))
    }

    /// Gives up the right to delete the temporary file: from here on it stays until it
    /// is renamed into place, by this run or by the recovery of an interrupted commit.
    /// Returns (temporary path, target).
    pub fn keep(self) -> Result<(PathBuf, PathBuf)> {
        let target = self.target;
        let temp = self.file.into_temp_path().keep().map_err(|e| {
            Error::io(
                format!("keeping the staged copy of {}", shown(&target)),
                e.error,
            )
        })?;
        Ok((temp, target))
    }
}

/// Makes the renames and removals in a folder durable.
pub fn sync_folder(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing folder {}", shown(dir)), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writers::sink::{Mode, WRITEBACK_STEP};
    use sha2::{Digest, Sha256};

    /// Writes `mib` MiB of a pattern through `out`; returns the pattern's digest.
    /// `each` gets the output and the bytes written so far.
    fn fill(out: &mut AtomicOutput, mib: usize, each: impl Fn(&AtomicOutput, u64)) -> String {
        let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut hasher = Sha256::new();
        for i in 1..=mib {
            out.write_all(&chunk).expect("write");
            hasher.update(&chunk);
            each(out, (i as u64) << 20);
        }
        crate::sha::hex(&hasher.finalize())
    }

    #[test]
    fn writeback_follows_the_file_and_the_bytes_stay_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("big.jsonl");
        let mut out = AtomicOutput::create(&target).expect("create");
        // Buffered all the way, as on a file system that refuses O_DIRECT.
        out.sink = Sink::direct_after(u64::MAX);
        let digest = fill(&mut out, 40, |out, written| {
            // Only what reached the file is handed to writeback, never more.
            let progress = out.sink.progress();
            assert!(progress.written_back <= progress.on_file);
            assert!(progress.on_file <= written);
            assert_eq!(out.sink.bytes(), written);
        });
        let written_back = out.sink.progress().written_back;
        assert!(
            written_back >= WRITEBACK_STEP,
            "writeback started after {WRITEBACK_STEP} bytes: {written_back}"
        );
        let staged = out.finish().expect("finish");
        assert_eq!(staged.bytes, 40 << 20);
        assert_eq!(staged.sha256, digest);
        staged.commit().expect("commit");
        assert_eq!(std::fs::metadata(&target).expect("stat").len(), 40 << 20);
    }

    #[test]
    fn small_and_whole_buffer_outputs_record_the_digest_of_their_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A manifest-sized file never starts the writing thread: its bytes are hashed
        // and written at `finish`.
        let small = dir.path().join("small.json");
        let mut out = AtomicOutput::create(&small).expect("create");
        let manifest = b"{\"rows\": 3}\n";
        out.write_all(manifest).expect("write");
        assert!(!out.sink.writes_in_background());
        let staged = out.finish().expect("finish");
        assert_eq!(staged.bytes, manifest.len() as u64);
        let recorded = staged.sha256.clone();
        staged.commit().expect("commit");
        let bytes = std::fs::read(&small).expect("read");
        assert_eq!(recorded, crate::sha::hex(&Sha256::digest(&bytes)));
        // Two whole buffers: the tail handed over at `finish` is empty.
        let whole = dir.path().join("whole.jsonl");
        let mut out = AtomicOutput::create(&whole).expect("create");
        let digest = fill(&mut out, 2, |_, _| {});
        assert!(out.sink.writes_in_background());
        let staged = out.finish().expect("finish");
        assert_eq!((staged.bytes, staged.sha256.clone()), (2 << 20, digest));
        staged.commit().expect("commit");
        assert_eq!(std::fs::metadata(&whole).expect("stat").len(), 2 << 20);
    }

    #[test]
    fn a_large_file_goes_direct_and_its_bytes_and_tail_stay_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("large.jsonl");
        // The default sink: 9 MiB is past its buffered first part.
        let mut out = AtomicOutput::create(&target).expect("create");
        let digest = fill(&mut out, 9, |_, _| {});
        // Where the file system takes O_DIRECT (ext4, xfs, btrfs) the rest went
        // direct; where it refuses, the sink stayed buffered. Either way, after the
        // threshold it is no longer plain buffered.
        assert_ne!(out.sink.progress().mode, Mode::Buffered);
        // Past its first buffer, an output is hashed and written on a thread of its own
        // (direct writes wait for the disk).
        assert!(out.sink.writes_in_background());
        // A tail that is no whole block, written after the direct part.
        let tail = b"{\"last\": true}\n";
        out.write_all(tail).expect("tail");
        let staged = out.finish().expect("finish");
        assert_eq!(staged.bytes, (9 << 20) + tail.len() as u64);
        let recorded = staged.sha256.clone();
        staged.commit().expect("commit");
        let written = std::fs::read(&target).expect("read");
        assert_eq!(written.len() as u64, (9 << 20) + tail.len() as u64);
        assert!(written.ends_with(tail));
        let mut head = Sha256::new();
        head.update(&written[..9 << 20]);
        assert_eq!(crate::sha::hex(&head.finalize()), digest);
        // The digest the manifest records is of the bytes on disk.
        assert_eq!(recorded, crate::sha::hex(&Sha256::digest(&written)));
    }
}
