//! The folder a session's sorts spill into: one per run, named
//! `mosagg-spill-PID-XXXXXX` inside `--spill-dir` (or the system temp folder), deleted
//! when the session ends, on SIGINT/SIGTERM, or by the next run if this one was killed.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths::shown;

const PREFIX: &str = "mosagg-spill-";

/// A run's own spill folder; dropping it deletes it and all it holds.
#[derive(Debug)]
pub struct SpillFolder {
    dir: tempfile::TempDir,
}

impl SpillFolder {
    /// Creates the folder in `parent` (the system temp folder when `None`), after
    /// deleting spill folders of runs that no longer exist.
    pub fn create(parent: Option<&Path>) -> Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        sweep_stale(&parent);
        let dir = crate::cleanup::registering(|r| {
            let dir = tempfile::Builder::new()
                .prefix(&format!("{PREFIX}{}-", std::process::id()))
                .tempdir_in(&parent)?;
            r.dir(dir.path());
            Ok(dir)
        })
        .map_err(|e| {
            Error::io(
                format!(
                    "creating a spill folder in {} (--spill-dir)",
                    shown(&parent)
                ),
                e,
            )
        })?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SpillFolder {
    fn drop(&mut self) {
        crate::cleanup::forget_dir(self.dir.path());
    }
}

/// `--spill-dir` must be an existing folder: a usage error otherwise, before any work.
pub fn check_spill_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Usage(format!(
            "--spill-dir {} is not a folder",
            shown(dir)
        ))),
        Err(e) => Err(Error::Usage(format!("--spill-dir {}: {e}", shown(dir)))),
    }
}

fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !crate::cleanup::process_alive(pid) {
            let path: PathBuf = entry.path();
            if std::fs::remove_dir_all(&path).is_ok() {
                log::info!(
                    "removed spill folder {}, left by an earlier run (pid {pid}) that was stopped",
                    shown(&path)
                );
            }
        }
    }
}

/// Follows how much a run has on disk in its spill folder (the sorts' spill files and
/// anything else the caller counts, such as staged wide rows), sampling on a thread of
/// its own, so the run can say how much disk it needed at most.
pub struct SpillWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl SpillWatch {
    /// How often the spill folder's use is sampled: spill files live for seconds.
    const EVERY: std::time::Duration = std::time::Duration::from_millis(20);

    /// Starts sampling `on_disk` (bytes now on disk) until `peak` is called.
    pub fn start(on_disk: impl Fn() -> u64 + Send + 'static) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mosagg-spill-watch".into())
            .spawn(move || {
                let mut peak = 0;
                loop {
                    peak = peak.max(on_disk());
                    if stopped.load(Ordering::Relaxed) {
                        return peak;
                    }
                    std::thread::sleep(Self::EVERY);
                }
            })
            .ok();
        Self { stop, thread }
    }

    /// The most bytes seen on disk at once; 0 when nothing spilled (or sampling could
    /// not start).
    pub fn peak(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for SpillWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
