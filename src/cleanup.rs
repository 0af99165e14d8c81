//! What a run must not leave behind when it is stopped: its staged outputs, its spill
//! folder and its lock files. Each is registered while it exists; on SIGINT or SIGTERM
//! the CLI removes whatever is still registered and exits 130 or 143.
//!
//! A signal that arrives while the output set is being committed waits for the commit
//! to complete (it takes milliseconds), so a reader still sees the old set or the new
//! one, never a mix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

struct Registry {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    files: BTreeSet::new(),
    dirs: BTreeSet::new(),
});

/// Held for the whole commit of an output set.
static COMMIT: Mutex<()> = Mutex::new(());

fn registry() -> MutexGuard<'static, Registry> {
    // A panic elsewhere must not stop the clean-up from running.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers what is being created while the registry is locked, so a signal can never
/// fall between a file's creation and its registration (the handler holds the same
/// lock from its clean-up until the process has exited).
pub struct Registrar<'a>(MutexGuard<'a, Registry>);

impl Registrar<'_> {
    /// A file to delete if the run is stopped.
    pub fn file(&mut self, path: &Path) {
        self.0.files.insert(path.to_path_buf());
    }

    /// A folder to delete, with everything in it, if the run is stopped.
    pub fn dir(&mut self, path: &Path) {
        self.0.dirs.insert(path.to_path_buf());
    }
}

/// Runs `create` with the registry locked; it registers what it makes.
pub fn registering<T>(create: impl FnOnce(&mut Registrar<'_>) -> T) -> T {
    create(&mut Registrar(registry()))
}

pub fn forget_file(path: &Path) {
    registry().files.remove(path);
}

pub fn forget_dir(path: &Path) {
    registry().dirs.remove(path);
}

/// Taken by the commit of an output set; a signal handler waits for it.
pub fn commit_guard() -> MutexGuard<'static, ()> {
    COMMIT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deletes everything still registered and exits with `code`, holding the registry
/// until the end so nothing new can be created (and left) in between.
fn remove_registered_and_exit(code: i32, signal: i32) -> ! {
    let _commit = commit_guard();
    let mut r = registry();
    for f in std::mem::take(&mut r.files) {
        let _ = std::fs::remove_file(f);
    }
    for d in std::mem::take(&mut r.dirs) {
        let _ = std::fs::remove_dir_all(d);
    }
    eprintln!("mosagg: stopped by signal {signal}; staged and spill files removed");
    std::process::exit(code)
}

/// Starts a thread that turns SIGINT and SIGTERM into a clean exit (130, 143).
pub fn exit_cleanly_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::io("installing signal handlers", e))?;
    std::thread::Builder::new()
        .name("mosagg-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                remove_registered_and_exit(128 + signal, signal);
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(())
}

/// True when a process with this id may still be running (so its files are not stale).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Test hook for the all-or-nothing guarantee: with `MOSAGG_TEST_KILL_AT_COMMIT_STEP=K`
/// the process kills itself (SIGKILL, no clean-up) at the K-th step of committing an
/// output set, as a power cut or `kill -9` would. Steps count from 0.
pub fn commit_checkpoint(step: &mut u32) {
    if let Ok(v) = std::env::var("MOSAGG_TEST_KILL_AT_COMMIT_STEP")
        && v.trim().parse::<u32>().ok() == Some(*step)
    {
        // SAFETY: sends SIGKILL to this very process; nothing after it runs.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    *step += 1;
}

/// A request from outside a run to stop it (the Python binding's Ctrl-C), for embedders
/// that must not install signal handlers of their own. The run notices it at its next
/// checkpoint and returns `Error::Cancelled`; everything it staged is then dropped, and
/// dropping is what deletes staged files and the spill folder and releases the locks.
/// Unlike the signal path it removes only this run's files, so other runs in the same
/// process are untouched.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: std::sync::Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    requested: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Cancel {
    /// Asks the run to stop; harmless to call more than once, or after the run ended.
    pub fn cancel(&self) {
        self.inner
            .requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner
            .requested
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A checkpoint: `Err(Error::Cancelled)` once a stop was asked for.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Completes once a stop is asked for (for racing long awaits against it).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `cancel` in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
