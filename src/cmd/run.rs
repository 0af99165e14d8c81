//! `mosagg run`: the operator workflow in one command (the `run_aggregated_training.sh`
//! replacement, CONTRACT §7). Find the conventional shards in a work folder,
//! aggregate them, then hand the unified corpus to the trainer.
//!
//! Every setting comes from a flag first, then the reference's environment variable,
//! then the reference's default. Relative paths resolve from the current folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::args::CommonArgs;
use crate::error::{Error, Result};
use crate::job::{Job, run_job};
use crate::paths::shown;

/// The trainer the reference starts when nothing else is named.
pub const DEFAULT_TRAINER: &str = "ai/scripts/train_predictor_v2_realcorpus.py";
pub const DEFAULT_WORKDIR: &str = ".workingdir2";
pub const DEFAULT_PYTHON: &str = "python3";

/// The conventional shard locations inside the work folder, in dedup-priority order.
/// A slot with two names accepts either: the YouTube adapter writes `youtube-ugc.jsonl`,
/// the reference wrapper looks for `youtube_ugc.jsonl`.
pub const SHARD_SLOTS: [&[&str]; 6] = [
    &["netflix/netflix_public.jsonl"],
    &["konvid-1k/konvid_1k.jsonl"],
    &["konvid-150k/konvid_150k.jsonl"],
    &["lsvq/lsvq.jsonl"],
    &[
        "youtube-ugc/youtube_ugc.jsonl",
        "youtube-ugc/youtube-ugc.jsonl",
    ],
    &["waterloo-ivc-4k/waterloo_ivc_4k.jsonl"],
];

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Work folder holding the per-corpus shards.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_WORKDIR)]
    pub workdir: PathBuf,
    /// Aggregate, then stop before the trainer (as does VMAF_AGG_DRY_RUN set non-empty).
    #[arg(long)]
    pub dry_run: bool,
    /// Trainer script [env: VMAF_AGG_TRAINER] [default: ai/scripts/train_predictor_v2_realcorpus.py].
    #[arg(long, value_name = "PATH")]
    pub trainer: Option<PathBuf>,
    /// Unified JSONL to write [env: VMAF_AGG_OUT] [default: DIR/aggregated/unified_corpus.jsonl].
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Passed to the trainer after `--corpus OUT` (write them after `--`).
    #[arg(last = true, value_name = "TRAINER_ARGS")]
    pub trainer_args: Vec<OsString>,
}

/// What the work folder holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub found: Vec<PathBuf>,
    /// One entry per empty slot, naming its first (conventional) file.
    pub absent: Vec<PathBuf>,
    /// Second names of a slot whose first name is also present: not read.
    pub ignored: Vec<PathBuf>,
}

/// Looks for every conventional shard under `workdir`.
pub fn discover(workdir: &Path) -> Discovery {
    let mut d = Discovery::default();
    for names in SHARD_SLOTS {
        let candidates: Vec<PathBuf> = names.iter().map(|n| workdir.join(n)).collect();
        let mut present = candidates.iter().filter(|p| p.is_file());
        match present.next() {
            Some(first) => {
                d.found.push(first.clone());
                // Reading both spellings would only produce same-corpus duplicates.
                d.ignored.extend(present.cloned());
            }
            None => d.absent.extend(candidates.first().cloned()),
        }
    }
    d
}

/// An environment variable's value, treating set-but-empty as unset (as `${VAR:-default}` does).
fn env_nonempty(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

pub fn execute(args: Args, argv: Vec<String>) -> Result<i32> {
    crate::logger::set_level(args.common.log_level);
    let scales = crate::scales_file::table_in_force(args.common.scales.as_deref())?;
    let workdir = &args.workdir;
    let output = args
        .output
        .clone()
        .or_else(|| env_nonempty("VMAF_AGG_OUT").map(PathBuf::from))
        .unwrap_or_else(|| workdir.join("aggregated").join("unified_corpus.jsonl"));
    let trainer = args
        .trainer
        .clone()
        .or_else(|| env_nonempty("VMAF_AGG_TRAINER").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TRAINER));
    let dry_run = args.dry_run || env_nonempty("VMAF_AGG_DRY_RUN").is_some();

    let found = discover(workdir);
    report(&found, workdir);
    if found.found.is_empty() {
        return Err(Error::NoInput(format!(
            "no per-corpus JSONLs found under {}/ (checked {} locations); \
             run at least one ingestion script first",
            shown(workdir),
            SHARD_SLOTS.len()
        )));
    }

    println!("[mosagg run] aggregating -> {}", shown(&output));
    run_job(Job {
        inputs: found.found,
        output: output.clone(),
        common: &args.common,
        scales,
        argv,
    })?;

    if dry_run {
        println!("[mosagg run] dry run (--dry-run or VMAF_AGG_DRY_RUN); skipping the trainer.");
        return Ok(0);
    }
    start_trainer(&trainer, &output, &args.trainer_args)
}

fn report(d: &Discovery, workdir: &Path) {
    println!(
        "[mosagg run] discovered {} corpus JSONL(s) under {}:",
        d.found.len(),
        shown(workdir)
    );
    for p in &d.found {
        println!("  + {}", shown(p));
    }
    if !d.absent.is_empty() {
        println!("[mosagg run] absent (skipped, this is fine):");
        for p in &d.absent {
            println!("  - {}", shown(p));
        }
    }
    for p in &d.ignored {
        log::warn!(
            "{} ignored: the conventional name in the same folder was read instead",
            shown(p)
        );
    }
}

/// Runs `PYTHON TRAINER --corpus OUT [ARGS…]` and returns its exit status.
fn start_trainer(trainer: &Path, output: &Path, extra: &[OsString]) -> Result<i32> {
    if !trainer.is_file() {
        return Err(Error::Exit {
            code: 3,
            message: format!(
                "trainer entrypoint {} not found on disk; the unified corpus is at {}.\n  \
                 hint: pass --dry-run (or set VMAF_AGG_DRY_RUN=1) to stop after aggregation, \
                 or point --trainer / VMAF_AGG_TRAINER at the trainer script.",
                shown(trainer),
                shown(output)
            ),
        });
    }
    let python = env_nonempty("VMAF_AGG_PYTHON").unwrap_or_else(|| DEFAULT_PYTHON.into());
    println!(
        "[mosagg run] starting {} {} --corpus {}{}",
        crate::paths::shown_os(&python),
        shown(trainer),
        shown(output),
        extra
            .iter()
            .map(|a| format!(" {}", crate::paths::shown_os(a)))
            .collect::<String>()
    );
    let status = Command::new(&python)
        .arg(trainer)
        .arg("--corpus")
        .arg(output)
        .args(extra)
        .status()
        .map_err(|e| {
            let shown = crate::paths::shown_os(&python);
            // The shell's codes for "not found" and "found but could not run".
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            Error::Exit {
                code,
                message: format!(
                    "cannot start {shown} ({e}); set VMAF_AGG_PYTHON to the interpreter to use"
                ),
            }
        })?;
    let code = exit_code(status);
    if code != 0 {
        eprintln!("[mosagg run] trainer exited with status {code}");
    }
    Ok(code)
}

/// The trainer's status as the shell would report it: its exit code, or 128 + signal.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_folder_has_every_slot_absent() {
        let d = discover(Path::new("/nonexistent-mosagg-workdir"));
        assert!(d.found.is_empty());
        assert_eq!(d.absent.len(), SHARD_SLOTS.len());
        assert!(d.absent[4].ends_with("youtube-ugc/youtube_ugc.jsonl"));
    }
}
