//! The files one run writes (JSONL, Parquet, rejects ledger, manifest) as one unit.
//!
//! - **Lock.** Every target has an advisory lock file beside it,
//!   `.NAME.mosagg-lock`, taken before any input is read and held until the set is
//!   committed. Two runs that share any output never interleave: the second waits
//!   (`--wait`) or stops with "another mosagg run is writing …".
//! - **Commit.** Each file is staged whole beside its target first. Then a journal
//!   (`.MANIFEST.mosagg-commit`) listing every staged file is made durable, the old
//!   manifest is removed, the data files are renamed into place and the new manifest
//!   is renamed last. The manifest is the commit point: whenever it exists, the files
//!   it lists are the ones it describes, so a reader who trusts it never sees a mix.
//! - **Recovery.** A run killed after the journal was written left every staged file
//!   whole; the next run on the same set (or `mosagg verify`) finishes the renames the
//!   journal lists. A run killed before that left only temporary files, which the next
//!   run deletes once their PID is gone; the old set is untouched.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::atomic::{self, Staged, sync_folder};
use crate::cleanup;
use crate::error::{Error, Result};
use crate::paths::shown;

/// What to do when another run holds an output's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    /// Stop at once (exit 1), naming the output.
    Fail,
    /// Wait until the other run has finished.
    Wait,
}

fn hidden_beside(target: &Path, suffix: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(suffix);
    atomic::folder(target).join(name)
}

/// One held lock file. Dropping it deletes the file, then releases the lock.
struct LockFile {
    path: PathBuf,
    _file: File,
}

impl LockFile {
    fn acquire(target: &Path, when_busy: WhenBusy) -> Result<Self> {
        let path = hidden_beside(target, ".mosagg-lock");
        let context = |what: &str| format!("{what} lock file {}", shown(&path));
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(context("creating"), e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let holder = holder_pid(&mut file);
                    if when_busy == WhenBusy::Fail {
                        return Err(Error::Busy(format!(
                            "another mosagg run{holder} is writing {}; try again when it has finished, or pass --wait",
                            shown(target)
                        )));
                    }
                    log::info!(
                        "waiting for another mosagg run{holder}, which is writing {}",
                        shown(target)
                    );
                    file.lock()
                        .map_err(|e| Error::io(context("waiting for"), e))?;
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(context("locking"), e)),
            }
            // The run before us deletes its lock file on the way out; if it did so after we
            // opened it, this lock guards a file nobody else will open: start again.
            if same_inode(&file, &path) {
                file.set_len(0)
                    .and_then(|()| writeln!(file, "{}", std::process::id()))
                    .map_err(|e| Error::io(context("writing"), e))?;
                // A lock file is only ever deleted by the run that holds it.
                cleanup::registering(|r| r.file(&path));
                return Ok(Self { path, _file: file });
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        cleanup::forget_file(&self.path);
    }
}

/// ` (pid N)` when the lock file names its holder.
fn holder_pid(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

#[cfg(unix)]
fn same_inode(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// The locks of one output set, held from before the first input is read until the
/// set is committed or abandoned.
pub struct SetLock {
    locks: Vec<LockFile>,
    /// Folders this run created for its outputs; removed again if they stay empty.
    created: Vec<PathBuf>,
}

impl SetLock {
    /// Locks every target (in one fixed order, so two runs cannot deadlock), finishes an
    /// interrupted commit of the set that `manifest` heads, and deletes temporary files
    /// that stopped runs left beside the targets.
    pub fn acquire(
        targets: &[&Path],
        manifest: Option<&Path>,
        when_busy: WhenBusy,
    ) -> Result<Self> {
        let mut created = Vec::new();
        let mut keyed = Vec::with_capacity(targets.len());
        for target in targets {
            let dir = atomic::folder(target);
            if !dir.exists() {
                let mut missing = vec![];
                let mut d = dir.as_path();
                while !d.as_os_str().is_empty() && !d.exists() {
                    missing.push(d.to_path_buf());
                    d = d.parent().unwrap_or(Path::new(""));
                }
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("creating folder {}", shown(&dir)), e))?;
                created.extend(missing);
            }
            let key = std::fs::canonicalize(&dir)
                .unwrap_or(dir)
                .join(target.file_name().unwrap_or_default());
            keyed.push((key, *target));
        }
        keyed.sort();
        keyed.dedup_by(|a, b| a.0 == b.0);
        let mut set = Self {
            locks: Vec::with_capacity(keyed.len()),
            created,
        };
        for (_, target) in &keyed {
            set.locks.push(LockFile::acquire(target, when_busy)?);
        }
        if let Some(manifest) = manifest {
            recover(manifest)?;
        }
        for target in targets {
            atomic::sweep_stale(target);
        }
        Ok(set)
    }
}

impl Drop for SetLock {
    fn drop(&mut self) {
        // Lock files first, so a folder made only for this run is empty again if the run
        // wrote nothing; then deepest first. A folder that holds anything stays.
        self.locks.clear();
        for dir in &self.created {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The journal of the set whose manifest is `manifest`.
fn journal_path(manifest: &Path) -> PathBuf {
    hidden_beside(manifest, ".mosagg-commit")
}

const JOURNAL_HEADER: &[u8] = b"mosagg-commit-v1\n";

/// Renames every staged file into place as one unit, the manifest last (see the module
/// comment). Without a manifest there is one file, and its rename is the commit.
pub fn commit(files: Vec<Staged>, manifest: Option<Staged>) -> Result<()> {
    let _commit = cleanup::commit_guard();
    let mut step = 0;
    cleanup::commit_checkpoint(&mut step);
    let Some(manifest) = manifest else {
        for f in files {
            f.commit()?;
        }
        return Ok(());
    };
    let journal = journal_path(manifest.target());
    let mut pairs = Vec::with_capacity(files.len() + 1);
    for f in files.into_iter().chain(std::iter::once(manifest)) {
        pairs.push(f.keep()?);
    }
    write_journal(&journal, &pairs)?;
    cleanup::commit_checkpoint(&mut step);
    apply(&pairs, &journal, &mut || cleanup::commit_checkpoint(&mut step)).map_err(|e| {
        Error::io(
            format!(
                "committing the output set (the staged files are kept; run mosagg again, or `mosagg verify {}`, to complete it)",
                shown(&pairs[pairs.len() - 1].1)
            ),
            e,
        )
    })
}

/// Removes the old manifest, renames the data files and then the manifest into place,
/// and deletes the journal. Pairs whose staged file is gone were renamed already.
fn apply(
    pairs: &[(PathBuf, PathBuf)],
    journal: &Path,
    checkpoint: &mut dyn FnMut(),
) -> std::io::Result<()> {
    let Some(((manifest_temp, manifest), data)) = pairs.split_last() else {
        return Ok(());
    };
    if !manifest_temp.exists() && !manifest.exists() {
        // Neither staged nor in place: the journal does not describe what is on disk.
        return Err(std::io::Error::other(format!(
            "the staged manifest {} is gone and {} does not exist",
            shown(manifest_temp),
            shown(manifest)
        )));
    }
    if manifest_temp.exists() {
        match std::fs::remove_file(manifest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for (temp, target) in data {
            checkpoint();
            if temp.exists() {
                std::fs::rename(temp, target)?;
            }
        }
        checkpoint();
        std::fs::rename(manifest_temp, manifest)?;
    }
    let mut folders: Vec<PathBuf> = pairs.iter().map(|(_, t)| atomic::folder(t)).collect();
    folders.sort();
    folders.dedup();
    for dir in &folders {
        sync_folder(dir).map_err(std::io::Error::other)?;
    }
    checkpoint();
    std::fs::remove_file(journal)?;
    sync_folder(&atomic::folder(journal)).map_err(std::io::Error::other)
}

/// For readers (`verify`): if a stopped run left the commit of the set headed by
/// `manifest` half done, takes the set's lock and finishes it. True if it did.
pub fn finish_interrupted(manifest: &Path) -> Result<bool> {
    if !journal_path(manifest).exists() {
        return Ok(false);
    }
    // Taking the lock recovers the set (before it sweeps stale temporary files, which
    // would otherwise include the staged files the journal still needs).
    let _lock = SetLock::acquire(&[manifest], Some(manifest), WhenBusy::Wait)?;
    Ok(true)
}

/// Finishes the commit a killed run left half done, if there is one. True if it did.
/// The caller holds the set's lock.
fn recover(manifest: &Path) -> Result<bool> {
    let journal = journal_path(manifest);
    let bytes = match std::fs::read(&journal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(format!("reading {}", shown(&journal)), e)),
    };
    let pairs = parse_journal(&bytes).ok_or_else(|| Error::Exit {
        code: 1,
        message: format!(
            "{} is not a commit journal mosagg can read; remove it by hand once you have checked the outputs",
            shown(&journal)
        ),
    })?;
    apply(&pairs, &journal, &mut || {}).map_err(|e| {
        Error::io(
            format!("completing the interrupted commit in {}", shown(&journal)),
            e,
        )
    })?;
    log::info!(
        "completed the commit of {} that a stopped run had begun",
        shown(manifest)
    );
    Ok(true)
}

fn write_journal(journal: &Path, pairs: &[(PathBuf, PathBuf)]) -> Result<()> {
    let mut text = JOURNAL_HEADER.to_vec();
    for (temp, target) in pairs {
        // File names can hold anything but NUL, so NUL separates them.
        for p in [temp, target] {
            text.extend_from_slice(p.as_os_str().as_encoded_bytes());
            text.push(0);
        }
    }
    let context = || format!("writing {}", shown(journal));
    let mut f = File::create(journal).map_err(|e| Error::io(context(), e))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(context(), e))?;
    sync_folder(&atomic::folder(journal))
}

fn parse_journal(bytes: &[u8]) -> Option<Vec<(PathBuf, PathBuf)>> {
    let body = bytes.strip_prefix(JOURNAL_HEADER)?;
    let body = body.strip_suffix(b"\0")?;
    let parts: Vec<PathBuf> = body.split(|b| *b == 0).map(path_from_bytes).collect();
    if parts.is_empty() || !parts.len().is_multiple_of(2) {
        return None;
    }
    Some(
        parts
            .chunks_exact(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
    )
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journals_round_trip_any_file_name() {
        let pairs = vec![
            (
                PathBuf::from("a/.x.tmp"),
                PathBuf::from("a/x\nwith newline"),
            ),
            (PathBuf::from(".m.tmp"), PathBuf::from("m.json")),
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let j = dir.path().join("j");
        write_journal(&j, &pairs).expect("write");
        let read = parse_journal(&std::fs::read(&j).expect("read"));
        assert_eq!(read, Some(pairs));
        assert_eq!(parse_journal(b"something else"), None);
    }
}
