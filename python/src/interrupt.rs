//! Long calls run on a worker thread while the calling thread, with the GIL released,
//! waits for them and checks for Ctrl-C between short waits. A KeyboardInterrupt asks
//! the run to stop through its `Cancel` and waits for it to unwind, so by the time
//! Python sees the exception the run's staged files and spill folder are gone. No OS
//! signal handler is installed: Python's own SIGINT handler keeps working as usual.

use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use mosagg::cleanup::Cancel;
use mosagg::error::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How often the waiting thread looks for a pending Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work` off the GIL; `Ok(Err(e))` is the run's own failure, `Err` a Python one
/// (KeyboardInterrupt, or an exception a signal handler raised).
pub fn run<T, F>(py: Python<'_>, work: F) -> PyResult<Result<T, Error>>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> Result<T, Error> + Send + 'static,
{
    let cancel = Cancel::default();
    let (tx, mut rx) = channel();
    let worker_cancel = cancel.clone();
    let handle = std::thread::Builder::new()
        .name("mosagg-run".into())
        .spawn(move || {
            let _ = tx.send(work(&worker_cancel));
        })
        .map_err(|e| PyRuntimeError::new_err(format!("starting a worker thread: {e}")))?;
    loop {
        // The receiver is not Sync, so it travels into the GIL-free wait and back.
        let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
        rx = back;
        match received {
            Ok(result) => {
                let _ = py.detach(|| handle.join());
                return Ok(result);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    cancel.cancel();
                    // The worker may log while it unwinds, which needs the GIL: wait without it.
                    let _ = py.detach(|| handle.join());
                    return Err(interrupt);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let panic = py.detach(|| handle.join()).err();
                let detail = panic
                    .as_ref()
                    .and_then(|p| {
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    })
                    .unwrap_or_else(|| "no detail".to_owned());
                return Ok(Err(Error::Internal(format!("the run panicked: {detail}"))));
            }
        }
    }
}
