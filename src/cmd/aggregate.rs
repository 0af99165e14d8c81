//! `mosagg aggregate`: shards in, one unified training set (JSONL, Parquet, manifest) out.

use std::path::PathBuf;

use crate::args::CommonArgs;
use crate::counters::Counters;
use crate::error::Result;
use crate::job::{Job, run_job};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Per-corpus JSONL shards, in priority order for dedup ties. Missing paths are skipped with a warning.
    #[arg(long, required = true, num_args = 1.., value_name = "SHARD")]
    pub inputs: Vec<PathBuf>,
    /// The unified JSONL to write.
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn execute(args: Args, argv: Vec<String>) -> Result<Counters> {
    crate::logger::set_level(args.common.log_level);
    let scales = crate::scales_file::table_in_force(args.common.scales.as_deref())?;
    run_job(Job {
        inputs: args.inputs,
        output: args.output,
        common: &args.common,
        scales,
        argv,
    })
}
