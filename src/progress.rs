//! A progress bar on stderr for long runs: bytes read of the total, and rows per second.
//!
//! Shown only when stderr is a terminal (indicatif's own check), so logs, pipes and CI
//! output stay free of escape codes. Work is sampled from a background thread rather than reported by the
//! workers themselves: the scan already keeps atomic counters, and polling them a few
//! times a second costs nothing on the hot path.

use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the background thread samples the counters.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

const TEMPLATE: &str =
    "{prefix} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg}";

/// A bar that may be invisible (indicatif hides it when stderr is not a terminal).
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar labelled `what` over `total_bytes`, drawn only if stderr is a terminal.
    pub fn new(what: &str, total_bytes: u64) -> Self {
        let style =
            ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(what.to_owned())
            .with_message(rate_message(0, Duration::ZERO));
        bar.tick();
        Self {
            bar,
            started: Instant::now(),
        }
    }

    pub fn is_shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Records the work done so far (absolute values, not increments).
    pub fn update(&self, bytes: u64, rows: u64) {
        if self.is_shown() {
            self.bar.set_position(bytes);
            self.bar
                .set_message(rate_message(rows, self.started.elapsed()));
        }
    }

    /// Removes the bar, so the summary line that follows starts on a clean line.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // On an error path too: the error message must not be drawn over by the bar.
        self.clear();
    }
}

/// "1,234 rows, 56,789 rows/s".
fn rate_message(rows: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        (rows as f64 / secs) as u64
    } else {
        0
    };
    format!("{} rows, {} rows/s", HumanCount(rows), HumanCount(rate))
}

/// A thread that keeps a bar up to date from a sampling function until dropped.
pub struct Watch {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Samples `(bytes, rows)` every tenth of a second into `progress`. Nothing is
/// started when the bar is not shown.
pub fn watch<F>(progress: Progress, sample: F) -> Watch
where
    F: Fn() -> (u64, u64) + Send + 'static,
{
    if !progress.is_shown() {
        return Watch {
            stop: None,
            thread: None,
        };
    }
    let (tx, rx) = channel::<()>();
    let thread = std::thread::spawn(move || {
        loop {
            let (bytes, rows) = sample();
            progress.update(bytes, rows);
            match rx.recv_timeout(SAMPLE_EVERY) {
                Err(RecvTimeoutError::Timeout) => {}
                // Dropping the Watch closes the channel: take a last sample and clear.
                _ => break,
            }
        }
        let (bytes, rows) = sample();
        progress.update(bytes, rows);
        progress.clear();
    });
    Watch {
        stop: Some(tx),
        thread: Some(thread),
    }
}

impl Watch {
    fn stop_and_join(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_rows_over_elapsed() {
        assert_eq!(
            rate_message(500, Duration::from_secs(2)),
            "500 rows, 250 rows/s"
        );
        assert_eq!(rate_message(5, Duration::ZERO), "5 rows, 0 rows/s");
        assert_eq!(
            rate_message(1_234_567, Duration::from_secs(1)),
            "1,234,567 rows, 1,234,567 rows/s"
        );
    }
}
