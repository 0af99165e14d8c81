//! mosagg's messages go through the `log` facade, so a library user (the Python
//! package) can route them elsewhere; the CLI installs this logger, which writes
//! `LEVEL message` lines to stderr with the reference's level names (`--log-level`).
//! DataFusion's own messages (plans, optimizer passes, spills) appear only at DEBUG,
//! with the module they come from; other crates' (the SQL tokenizer's, say) never do.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// The `--log-level` values, named as the reference names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
#[clap(rename_all = "UPPER")]
pub enum Level {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Level::Debug => log::LevelFilter::Debug,
            Level::Info => log::LevelFilter::Info,
            Level::Warning => log::LevelFilter::Warn,
            Level::Error => log::LevelFilter::Error,
        }
    }
}

/// The reference's name for a level.
fn name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    }
}

/// Whether DataFusion's messages are shown (only at `--log-level DEBUG`).
static FOREIGN: AtomicBool = AtomicBool::new(false);

struct StderrLogger;

fn is_ours(target: &str) -> bool {
    target == "mosagg" || target.starts_with("mosagg::")
}

impl log::Log for StderrLogger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        is_ours(meta.target())
            || (meta.target().starts_with("datafusion") && FOREIGN.load(Ordering::Relaxed))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // The line is made first and written whole: stderr is unbuffered, so each
        // piece of a format went out in a write of its own (nine a line). A run that
        // drops 51k rows warns 51k times, after its outputs are written, with one core.
        let mut line = Vec::with_capacity(160);
        let _ = if is_ours(record.target()) {
            writeln!(line, "{} {}", name(record.level()), record.args())
        } else {
            writeln!(
                line,
                "{} [{}] {}",
                name(record.level()),
                record.target(),
                record.args()
            )
        };
        let _ = std::io::stderr().lock().write_all(&line);
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the stderr logger at INFO (the CLI does this once, at start).
pub fn install() {
    if log::set_logger(&StderrLogger).is_ok() {
        set_level(Level::Info);
    }
}

/// Sets the level of every later message.
pub fn set_level(level: Level) {
    FOREIGN.store(level == Level::Debug, Ordering::Relaxed);
    log::set_max_level(level.filter());
}
