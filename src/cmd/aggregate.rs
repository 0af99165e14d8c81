//! `mosagg aggregate`: shards in, one unified training set (JSONL, Parquet, manifest) out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::counters::Counters;
use crate::engine::aggregate::{Outcome, Reason};
use crate::engine::{EngineOptions, aggregate, new_session};
use crate::error::{Error, Result};
use crate::loader::scan::ScanShared;
use crate::loader::{InputFile, InputState, inputs};
use crate::log::{self, Level};
use crate::progress;
use crate::scales::ScaleTable;
use crate::writers::atomic::Staged;
use crate::writers::manifest::{self, ManifestParts, OutputRecord};
use crate::writers::rejects;
use crate::writers::unified::UnifiedWriters;

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

/// Flags `aggregate` shares with `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Force the corpus label of one input (repeatable). LABEL must be a known scale.
    #[arg(long = "corpus-source-override", value_name = "PATH=LABEL")]
    pub overrides: Vec<String>,
    /// Manifest path [default: OUTPUT without .jsonl, plus .manifest.json].
    #[arg(long, value_name = "PATH")]
    pub manifest_out: Option<PathBuf>,
    /// Parquet path [default: OUTPUT without .jsonl, plus .parquet].
    #[arg(long, value_name = "PATH")]
    pub parquet: Option<PathBuf>,
    /// Also write a JSONL ledger of every row that did not reach the output, and why.
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// Pin aggregated_at_utc (e.g. 2026-05-09T00:00:00+00:00); SOURCE_DATE_EPOCH also pins it.
    #[arg(long, value_name = "TS")]
    pub aggregated_at: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[arg(long, value_enum, default_value = "INFO", ignore_case = true)]
    pub log_level: Level,
    /// JSON scale conversions laid over the built-in table: {label: {slope, intercept, native_min, native_max, scale_label}}.
    #[arg(long, value_name = "FILE")]
    pub scales: Option<PathBuf>,
}

/// How much memory the query engine may use, and where its sorts spill; shared by
/// every command that runs a large query.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Memory the query engine may use before sorting spills to disk (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub memory_limit: usize,
    /// Folder for spill files [default: the system temp folder].
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
}

impl EngineArgs {
    pub fn options(&self) -> EngineOptions {
        EngineOptions {
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            ..EngineOptions::default()
        }
    }
}

/// `512M`, `2G`, `1048576`: a byte count with an optional binary unit.
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512M or 2G"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("{s:?} must be a positive size"));
    }
    Ok((n * mult as f64) as usize)
}

/// The three default output paths follow the reference: derived from OUT.jsonl.
pub fn sibling(output: &Path, suffix: &str) -> PathBuf {
    let s = output.as_os_str().to_string_lossy();
    let stem = s.strip_suffix(".jsonl").unwrap_or(&s);
    PathBuf::from(format!("{stem}{suffix}"))
}

/// Applies `PATH=LABEL` overrides to the inputs they name.
pub fn apply_overrides(raw: &[String], table: &ScaleTable, inputs: &mut [InputFile]) -> Result<()> {
    for entry in raw {
        let (path, label) = entry.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--corpus-source-override expects PATH=LABEL, got {entry:?}"
            ))
        })?;
        if !table.contains_key(label) {
            let valid: Vec<&str> = table.keys().map(String::as_str).collect();
            return Err(Error::Usage(format!(
                "unknown corpus-source label {label:?}; valid labels: {}",
                valid.join(", ")
            )));
        }
        let mut matched = false;
        for input in inputs.iter_mut() {
            if inputs::same_file(Path::new(path), &input.path) {
                input.override_label = Some(label.to_owned());
                matched = true;
            }
        }
        if !matched {
            log::warning(&format!(
                "--corpus-source-override names {path}, which is not among --inputs; ignored"
            ));
        }
    }
    Ok(())
}

/// Looks at the inputs, warns about the absent ones, and refuses to go on with none.
pub fn probe_inputs(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let found = inputs::probe(paths)?;
    for i in &found {
        match i.state {
            InputState::Missing => {
                log::warning(&format!("input not found, skipping: {}", i.display))
            }
            InputState::NotAFile => log::warning(&format!(
                "input is not a regular file, skipping: {}",
                i.display
            )),
            InputState::Present => {}
        }
    }
    if !found.iter().any(InputFile::is_present) {
        return Err(Error::NoInput(format!(
            "no input JSONL files exist on disk (checked {} path(s)); refusing to write an empty unified corpus",
            paths.len()
        )));
    }
    Ok(found)
}

/// Everything an aggregation needs, however it was asked for (`aggregate` or `run`).
pub struct Job<'a> {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub common: &'a CommonArgs,
    pub scales: ScaleTable,
    pub argv: Vec<String>,
}

pub fn execute(args: Args, argv: Vec<String>) -> Result<Counters> {
    log::set_level(args.common.log_level);
    let scales = crate::scales_file::table_in_force(args.common.scales.as_deref())?;
    run_job(Job {
        inputs: args.inputs,
        output: args.output,
        common: &args.common,
        scales,
        argv,
    })
}

pub fn run_job(job: Job<'_>) -> Result<Counters> {
    let common = job.common;
    let aggregated_at = crate::timestamp::resolve(common.aggregated_at.as_deref())?;
    let mut found = probe_inputs(&job.inputs)?;
    apply_overrides(&common.overrides, &job.scales, &mut found)?;
    let inputs = Arc::new(found);

    let parquet_path = common
        .parquet
        .clone()
        .unwrap_or_else(|| sibling(&job.output, ".parquet"));
    let manifest_path = common
        .manifest_out
        .clone()
        .unwrap_or_else(|| sibling(&job.output, ".manifest.json"));

    let opts = common.engine.options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.partitions.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;

    let started = std::time::Instant::now();
    let mut writers: Option<UnifiedWriters> = None;
    let mut watch: Option<progress::Watch> = None;
    let total_bytes = present_bytes(&inputs);
    let outcome: Outcome = runtime.block_on(async {
        let ctx = new_session(&opts)?;
        let observe = |scan: Arc<ScanShared>| {
            let bar = progress::Progress::new("aggregate", total_bytes);
            watch = Some(progress::watch(bar, move || {
                (scan.bytes_read(), scan.rows_parsed())
            }));
        };
        aggregate::run_observed(
            &ctx,
            Arc::clone(&inputs),
            &job.scales,
            aggregate::Plan {
                partitions: opts.partitions,
                explain_duplicates: common.rejects.is_some() || log::enabled(Level::Debug),
            },
            observe,
            |kept| {
                if writers.is_none() {
                    // The first kept row comes out only after every input is read and ranked.
                    log::debug(&format!(
                        "inputs read and ranked in {:.3} s",
                        started.elapsed().as_secs_f64()
                    ));
                    writers = Some(UnifiedWriters::open(
                        &job.output,
                        &parquet_path,
                        &aggregated_at,
                    )?);
                }
                match writers.as_mut() {
                    Some(w) => w.write(kept),
                    None => Ok(()),
                }
            },
        )
        .await
    })?;

    // The bar goes before any warning or summary is printed under it.
    drop(watch);
    log::debug(&format!(
        "query finished in {:.3} s",
        started.elapsed().as_secs_f64()
    ));
    report_rejects(&outcome);
    let writers = match writers {
        Some(w) => w,
        // Nothing survived: still write (empty) outputs, as the reference does.
        None => UnifiedWriters::open(&job.output, &parquet_path, &aggregated_at)?,
    };

    let mut staged: Vec<(Staged, &'static str, u64)> = writers
        .finish()?
        .into_iter()
        .zip(["jsonl", "parquet"])
        .map(|((file, rows), kind)| (file, kind, rows))
        .collect();
    let rows_out = staged.first().map_or(0, |s| s.2);
    if let Some(path) = &common.rejects {
        staged.push((
            rejects::stage(path, &outcome.rejects)?,
            "rejects",
            outcome.rejects.len() as u64,
        ));
    }
    if rows_out != outcome.counters.rows_out {
        return Err(Error::Internal(format!(
            "wrote {rows_out} rows but counted {}",
            outcome.counters.rows_out
        )));
    }

    let outputs: Vec<OutputRecord> = staged
        .iter()
        .map(|(s, kind, rows)| OutputRecord {
            kind,
            path: s.target().display().to_string(),
            sha256: s.sha256.clone(),
            bytes: s.bytes,
            rows: *rows,
        })
        .collect();
    let doc = manifest::build(&ManifestParts {
        counters: &outcome.counters,
        scales: &job.scales,
        inputs: &inputs,
        input_stats: &outcome.input_stats,
        outputs: &outputs,
        argv: &job.argv,
        aggregated_at: &aggregated_at,
    })?;
    let manifest_staged = manifest::stage(&manifest_path, &doc)?;
    for (s, _, _) in staged {
        s.commit()?;
    }
    manifest_staged.commit()?;

    log::debug(&format!(
        "outputs complete in {:.3} s",
        started.elapsed().as_secs_f64()
    ));
    eprintln!(
        "{}",
        outcome
            .counters
            .summary_line(&job.output.display().to_string())
    );
    Ok(outcome.counters)
}

/// Bytes the scan will read: the progress bar's total.
fn present_bytes(inputs: &[InputFile]) -> u64 {
    inputs
        .iter()
        .filter(|i| i.is_present())
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum()
}

/// One WARNING line per dropped row, in input order, as the reference logs them.
fn report_rejects(outcome: &Outcome) {
    let stderr = std::io::stderr();
    let mut err = std::io::BufWriter::new(stderr.lock());
    for r in &outcome.rejects {
        let level = if r.reason.is_drop() {
            Level::Warning
        } else {
            Level::Debug
        };
        if log::enabled(level) {
            let name = if level == Level::Warning {
                "WARNING"
            } else {
                "DEBUG"
            };
            let tail = if r.reason == Reason::CrossCorpusDup || r.reason == Reason::SameCorpusDup {
                "row deduplicated"
            } else {
                "row dropped"
            };
            let _ = writeln!(err, "{name} {}:{}: {}; {tail}", r.path, r.line, r.detail);
        }
    }
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn siblings_replace_the_jsonl_suffix() {
        assert_eq!(
            sibling(Path::new("a/unified.jsonl"), ".parquet"),
            PathBuf::from("a/unified.parquet")
        );
        assert_eq!(
            sibling(Path::new("out.txt"), ".manifest.json"),
            PathBuf::from("out.txt.manifest.json")
        );
    }
}
