//! The command line: one subcommand per module under `cmd/`.

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::error::Result;

/// Unify subjective video-quality corpora (KonViD, LSVQ, YouTube UGC, Waterloo, Netflix) into one training set.
#[derive(Debug, Parser)]
#[command(name = "mosagg", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Put shards on the unified 0-100 scale, drop bad rows, dedup, write JSONL + Parquet + manifest.
    Aggregate(Box<cmd::aggregate::Args>),
    /// Find the conventional shards in a work folder, aggregate them, then start the trainer.
    Run(cmd::run::Args),
    /// Merge encode-grid corpora, deduplicating by (src_sha256, encoder, preset, crf).
    Merge(cmd::merge::Args),
    /// Re-hash every input and output a manifest lists and report what changed.
    Verify(cmd::verify::Args),
    /// Run SQL over training sets and shards (JSONL or Parquet).
    Query(cmd::query::Args),
    /// Per-corpus distribution of the unified MOS.
    Stats(cmd::stats::Args),
    /// Show the scale conversion table in force.
    Scales(cmd::scales::Args),
    /// Print a shell completion script.
    Completions(cmd::completions::Args),
}

/// Runs the parsed command; the `Ok` value is the process exit code.
pub fn dispatch(cli: Cli, argv: Vec<String>) -> Result<i32> {
    match cli.command {
        Command::Aggregate(args) => cmd::aggregate::execute(*args, argv).map(|_| 0),
        Command::Run(args) => cmd::run::execute(args, argv),
        Command::Merge(args) => cmd::merge::execute(args),
        Command::Verify(args) => cmd::verify::execute(args),
        Command::Query(args) => cmd::query::execute(args),
        Command::Stats(args) => cmd::stats::execute(args),
        Command::Scales(args) => cmd::scales::execute(args),
        Command::Completions(args) => cmd::completions::execute(args),
    }
}
