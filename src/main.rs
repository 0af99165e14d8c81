use clap::{Parser, Subcommand};

use mosagg::cmd;
use mosagg::error::Error;

/// Unify subjective video-quality corpora (KonViD, LSVQ, YouTube UGC, Waterloo, Netflix) into one training set.
#[derive(Debug, Parser)]
#[command(name = "mosagg", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Put shards on the unified 0-100 scale, drop bad rows, dedup, write JSONL + Parquet + manifest.
    Aggregate(cmd::aggregate::Args),
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Aggregate(args) => {
            cmd::aggregate::execute(args, mosagg::scales::builtin(), argv).map(|_| 0)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            report(&e);
            std::process::exit(e.exit_code());
        }
    }
}

fn report(e: &Error) {
    eprintln!("error: {e}");
}
