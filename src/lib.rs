//! mosagg: puts subjective video-quality corpora on one 0–100 MOS scale, drops what
//! cannot be trusted, collapses cross-corpus duplicates, and writes one training set.

pub mod api;
pub mod args;
pub mod cleanup;
pub mod cli;
pub mod cmd;
pub mod counters;
pub mod engine;
pub mod error;
pub mod job;
pub mod json;
pub mod loader;
pub mod logger;
pub mod merge;
pub mod paths;
pub mod progress;
pub mod scales;
pub mod scales_file;
pub mod sha;
pub mod shard_file;
pub mod shard_table;
pub mod table_out;
pub mod timestamp;
pub mod writers;
