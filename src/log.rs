//! Levelled messages on stderr, with the reference's level names (`--log-level`).

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
#[clap(rename_all = "UPPER")]
pub enum Level {
    Debug = 10,
    #[default]
    Info = 20,
    Warning = 30,
    Error = 40,
}

static THRESHOLD: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    THRESHOLD.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= THRESHOLD.load(Ordering::Relaxed)
}

fn emit(level: Level, name: &str, msg: &str) {
    if enabled(level) {
        eprintln!("{name} {msg}");
    }
}

pub fn debug(msg: &str) {
    emit(Level::Debug, "DEBUG", msg);
}

pub fn info(msg: &str) {
    emit(Level::Info, "INFO", msg);
}

pub fn warning(msg: &str) {
    emit(Level::Warning, "WARNING", msg);
}
