//! `mosagg merge`: encode-grid corpora in, one deduplicated corpus out (the
//! `merge_corpora.py` replacement, CONTRACT §8).

use std::path::PathBuf;

use crate::args::{EngineArgs, LockArgs};
use crate::error::{Error, Result};
use crate::merge::keys::RequiredKeys;
use crate::merge::{MergeJob, run};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Two or more vmaf-tune corpus JSONL shards; on a key collision the earlier one wins.
    #[arg(long, required = true, num_args = 1.., value_name = "SHARD")]
    pub inputs: Vec<PathBuf>,
    /// The merged JSONL to write (replaced atomically).
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
    /// Keys every row must carry: the whole vmaf-tune v3 schema (as the reference), or only
    /// src_sha256, encoder, preset, crf, vmaf_score.
    #[arg(long, value_enum, default_value = "full")]
    pub required_keys: RequiredKeys,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

pub fn execute(args: Args) -> Result<i32> {
    if args.inputs.len() < 2 {
        return Err(Error::Usage(
            "--inputs requires at least 2 paths to be a meaningful merge".into(),
        ));
    }
    let summary = run(&MergeJob {
        inputs: &args.inputs,
        output: &args.output,
        required: args.required_keys,
        engine: args.engine.options()?,
        when_busy: args.lock.when_busy(),
    })?;
    eprintln!("{}", summary.line(&crate::paths::shown(&args.output)));
    Ok(0)
}
