//! Helpers the unit tests share.

use std::time::{Duration, Instant};

/// Waits up to 30 s for `done`, checking every 5 ms: for what another thread does in
/// its own time (a thread ending, a file being closed). False if it never happened.
pub fn eventually(done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}
