//! mosagg: puts subjective video-quality corpora on one 0–100 MOS scale, drops what
//! cannot be trusted, collapses cross-corpus duplicates, and writes one training set.
//!
//! The public surface is what the binary and the Python package use: [`api`] (the
//! library facade), [`cli`] (the command line), [`cleanup`] (signals and cancellation),
//! [`logger`], [`error`], and the types they hand out ([`counters`], [`scales`]).
//! Everything else is private to the crate.

pub mod api;
pub mod cleanup;
pub mod cli;
pub mod counters;
pub mod error;
/// The work no run can skip, timed part by part for the benchmarks (bench/floor.rs).
#[doc(hidden)]
pub mod floor;
pub mod logger;
pub mod scales;

mod aligned;
mod args;
mod cmd;
mod engine;
mod file_bytes;
mod job;
mod json;
mod loader;
mod merge;
mod paths;
mod prefetch;
mod progress;
mod scales_file;
mod sha;
mod shard_file;
mod shard_table;
mod table_out;
#[cfg(test)]
mod test_support;
mod timestamp;
mod writers;

/// The vmaf-tune v3 row keys `merge --required-keys full` checks (the tests build
/// their fixtures from it).
pub use merge::keys::VMAF_TUNE_ROW_KEYS;

/// Drops a file from the page cache, as days without reading it would (the tests of
/// reads straight from the disk use it).
#[doc(hidden)]
pub use file_bytes::evict as evict_from_page_cache;
