//! One aggregation, however it was asked for (`aggregate`, `run`): from shard paths to
//! a committed output set (JSONL, Parquet, optional rejects ledger, manifest).
//!
//! The order is what makes it safe: every usage check (labels, timestamp, engine
//! settings, colliding paths) comes before any file is touched; the output set is
//! locked before any input is read; nothing is renamed into place until every input has
//! been read and every output staged whole; the manifest is committed last.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;

use crate::args::CommonArgs;
use crate::cleanup::Cancel;
use crate::counters::Counters;
use crate::engine::aggregate::Outcome;
use crate::engine::{EngineOptions, aggregate, new_session};
use crate::error::{Error, Result};
use crate::loader::scan::ScanShared;
use crate::loader::{InputFile, InputState, inputs};
use crate::paths::{self, Role, shown};
use crate::progress;
use crate::scales::ScaleTable;
use crate::writers::atomic::Staged;
use crate::writers::manifest::{self, ManifestParts, OutputKind, OutputRecord};
use crate::writers::output_set::{self, SetLock};
use crate::writers::rejects;
use crate::writers::unified::UnifiedWriters;

/// Everything an aggregation needs.
pub struct Job<'a> {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub common: &'a CommonArgs,
    pub scales: ScaleTable,
    pub argv: Vec<String>,
}

/// The default output paths follow the reference: derived from OUT.jsonl.
pub fn sibling(output: &Path, suffix: &str) -> PathBuf {
    let name = output.as_os_str();
    let bytes = name.as_encoded_bytes();
    let stem = bytes
        .strip_suffix(b".jsonl")
        .map_or(bytes.len(), <[u8]>::len);
    let mut s = os_prefix(name, stem);
    s.push(suffix);
    PathBuf::from(s)
}

/// Where each file of the output set goes.
pub struct OutputPaths {
    pub jsonl: PathBuf,
    pub parquet: PathBuf,
    pub manifest: PathBuf,
    pub rejects: Option<PathBuf>,
}

impl OutputPaths {
    pub fn new(output: &Path, common: &CommonArgs) -> Self {
        Self {
            jsonl: output.to_path_buf(),
            parquet: common
                .parquet
                .clone()
                .unwrap_or_else(|| sibling(output, ".parquet")),
            manifest: common
                .manifest_out
                .clone()
                .unwrap_or_else(|| sibling(output, ".manifest.json")),
            rejects: common.rejects.clone(),
        }
    }

    /// Each path with the flag that set it (or whose default it follows).
    pub fn roles(&self) -> Vec<Role<'_>> {
        let mut roles = vec![
            Role {
                flag: "--output",
                path: &self.jsonl,
            },
            Role {
                flag: "--parquet",
                path: &self.parquet,
            },
            Role {
                flag: "--manifest-out",
                path: &self.manifest,
            },
        ];
        if let Some(r) = &self.rejects {
            roles.push(Role {
                flag: "--rejects",
                path: r,
            });
        }
        roles
    }
}

/// One `--corpus-source-override`, checked.
pub struct Override {
    pub path: PathBuf,
    pub label: String,
}

/// Reads `PATH=LABEL` (split at the last `=`, since a path may hold one and a label
/// cannot); LABEL must be a key of the scale table. Usage errors, before any file is read.
pub fn parse_overrides(raw: &[OsString], table: &ScaleTable) -> Result<Vec<Override>> {
    raw.iter()
        .map(|entry| {
            let bytes = entry.as_encoded_bytes();
            let eq = bytes.iter().rposition(|b| *b == b'=').ok_or_else(|| {
                Error::Usage(format!(
                    "--corpus-source-override expects PATH=LABEL, got \"{}\"",
                    paths::shown_os(entry)
                ))
            })?;
            let label = String::from_utf8_lossy(&bytes[eq + 1..]).into_owned();
            if !table.contains_key(&label) {
                let valid: Vec<&str> = table.keys().map(String::as_str).collect();
                return Err(Error::Usage(format!(
                    "unknown corpus-source label {label:?}; valid labels: {}",
                    valid.join(", ")
                )));
            }
            Ok(Override {
                path: PathBuf::from(os_prefix(entry, eq)),
                label,
            })
        })
        .collect()
}

/// The first `len` bytes of an OS string; `len` falls just before an ASCII byte, so
/// the result is as well formed as the whole.
fn os_prefix(s: &std::ffi::OsStr, len: usize) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(&s.as_bytes()[..len]).to_owned()
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(&s.as_encoded_bytes()[..len]).into_owned())
    }
}

/// Applies the overrides to the inputs they name (the same file, however spelt).
pub fn apply_overrides(overrides: &[Override], inputs: &mut [InputFile]) {
    for o in overrides {
        let mut matched = false;
        for input in inputs.iter_mut() {
            if paths::same_file(&o.path, &input.path) {
                input.override_label = Some(o.label.clone());
                matched = true;
            }
        }
        if !matched {
            log::warn!(
                "--corpus-source-override names {}, which is not among --inputs; ignored",
                shown(&o.path)
            );
        }
    }
}

/// Looks at the inputs, warns about the absent ones, and refuses to go on with none.
pub fn probe_inputs(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let found = inputs::probe(paths)?;
    for i in &found {
        match i.state {
            InputState::Missing => {
                log::warn!("input not found, skipping: {}", i.display)
            }
            InputState::NotAFile => {
                log::warn!("input is not a regular file, skipping: {}", i.display)
            }
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

/// Runs the aggregation and commits its output set; returns the counters. Ends by
/// printing the summary line, the last line on stderr.
pub fn run_job(job: Job<'_>) -> Result<Counters> {
    let output = job.output.clone();
    let counters = run_job_until(job, &Cancel::default())?;
    eprintln!("{}", counters.summary_line(&shown(&output)));
    Ok(counters)
}

/// `run_job` for embedders, who get the counters and no summary line. Once `cancel`
/// fires the run stops at its next checkpoint with `Error::Cancelled`, having committed
/// nothing; what it staged is dropped (deleted). A commit under way completes first.
pub fn run_job_until(job: Job<'_>, cancel: &Cancel) -> Result<Counters> {
    let common = job.common;
    // Usage errors first, before any file is looked at.
    let aggregated_at = crate::timestamp::resolve(common.aggregated_at.as_deref())?;
    let overrides = parse_overrides(&common.overrides, &job.scales)?;
    let opts = common.engine.options()?;
    let outputs = OutputPaths::new(&job.output, common);
    paths::check_outputs(&paths::roles("--inputs", &job.inputs), &outputs.roles())?;

    let targets: Vec<&Path> = outputs.roles().iter().map(|r| r.path).collect();
    let _lock = SetLock::acquire(&targets, Some(&outputs.manifest), common.lock.when_busy())?;
    cancel.check()?;

    let mut found = probe_inputs(&job.inputs)?;
    apply_overrides(&overrides, &mut found);
    let inputs = Arc::new(found);
    let outcome_and_writers = read_and_rank(&job, &inputs, &outputs, &opts, &aggregated_at, cancel)
        .map_err(|e| opts.explain(e));
    let (outcome, writers) = outcome_and_writers?;
    report_rejects(&outcome);
    let writers = match writers {
        Some(w) => w,
        // Nothing survived: still write (empty) outputs, as the reference does.
        None => UnifiedWriters::open(&outputs.jsonl, &outputs.parquet, &aggregated_at)?,
    };

    let mut staged: Vec<(Staged, OutputKind, u64)> = writers
        .finish()?
        .into_iter()
        .zip([OutputKind::Jsonl, OutputKind::Parquet])
        .map(|((file, rows), kind)| (file, kind, rows))
        .collect();
    let rows_out = staged.first().map_or(0, |s| s.2);
    if let Some(path) = &outputs.rejects {
        staged.push((
            rejects::stage(path, &outcome.rejects)?,
            OutputKind::Rejects,
            outcome.rejects.len() as u64,
        ));
    }
    if rows_out != outcome.counters.rows_out {
        return Err(Error::Internal(format!(
            "wrote {rows_out} rows but counted {}",
            outcome.counters.rows_out
        )));
    }

    let records: Vec<OutputRecord> = staged
        .iter()
        .map(|(s, kind, rows)| OutputRecord {
            kind: *kind,
            path: s.target().to_string_lossy().into_owned(),
            sha256: s.sha256.clone(),
            size_bytes: s.bytes,
            rows: *rows,
        })
        .collect();
    let doc = manifest::build(ManifestParts {
        counters: &outcome.counters,
        scales: &job.scales,
        inputs: &inputs,
        input_stats: &outcome.input_stats,
        outputs: records,
        argv: &job.argv,
        aggregated_at: &aggregated_at,
        manifest_path: &outputs.manifest,
    });
    let manifest_staged = manifest::stage(&outputs.manifest, &doc)?;
    // The last moment a stop can still leave the old output set in place.
    cancel.check()?;
    output_set::commit(
        staged.into_iter().map(|(s, _, _)| s).collect(),
        Some(manifest_staged),
    )?;

    Ok(outcome.counters)
}

/// Reads, parses and ranks every input in the query engine, streaming the kept rows
/// into the (staged) unified writers as they come out of the final sort.
fn read_and_rank(
    job: &Job<'_>,
    inputs: &Arc<Vec<InputFile>>,
    outputs: &OutputPaths,
    opts: &EngineOptions,
    aggregated_at: &str,
    cancel: &Cancel,
) -> Result<(Outcome, Option<UnifiedWriters>)> {
    let runtime = crate::engine::runtime(opts)?;

    let started = std::time::Instant::now();
    let mut kept = KeptFiles {
        outputs,
        aggregated_at,
        started,
        writers: None,
    };
    let mut watch: Option<progress::Watch> = None;
    let total_bytes = inputs::present_bytes(inputs);
    let work = async {
        let ctx = new_session(opts)?;
        let observe = |scan: Arc<ScanShared>| {
            let bar = progress::Progress::new("aggregate", total_bytes);
            watch = Some(progress::watch(bar, move || {
                (scan.bytes_read(), scan.rows_parsed())
            }));
        };
        aggregate::run_observed(
            &ctx,
            Arc::clone(inputs),
            &job.scales,
            aggregate::Plan {
                partitions: opts.partitions,
                explain_duplicates: job.common.rejects.is_some()
                    || log::log_enabled!(log::Level::Debug),
            },
            observe,
            &mut kept,
        )
        .await
    };
    // A stop drops the query mid-flight: its readers see their channels close and end,
    // and the session (with its spill folder) is dropped with it.
    let outcome: Outcome = runtime.block_on(async {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Error::Cancelled),
            result = work => result,
        }
    })?;
    // The bar goes before any warning or summary is printed under it.
    drop(watch);
    log::debug!("query finished in {:.3} s", started.elapsed().as_secs_f64());
    Ok((outcome, kept.writers))
}

/// The unified files, opened with the first kept row.
struct KeptFiles<'a> {
    outputs: &'a OutputPaths,
    aggregated_at: &'a str,
    started: std::time::Instant,
    writers: Option<UnifiedWriters>,
}

impl aggregate::KeptRows for KeptFiles<'_> {
    fn write(&mut self, kept: &RecordBatch) -> Result<()> {
        let writers = match &mut self.writers {
            Some(w) => w,
            None => {
                // The first kept row comes out only after every input is read and ranked.
                log::debug!(
                    "inputs read and ranked in {:.3} s",
                    self.started.elapsed().as_secs_f64()
                );
                self.writers.insert(UnifiedWriters::open(
                    &self.outputs.jsonl,
                    &self.outputs.parquet,
                    self.aggregated_at,
                )?)
            }
        };
        writers.write(kept)
    }

    fn end(&mut self) {
        if let Some(w) = &mut self.writers {
            w.end_rows();
        }
    }
}

/// One WARNING line per dropped row, in input order, as the reference logs them; at
/// DEBUG also one line per deduplicated row, naming the row that won.
fn report_rejects(outcome: &Outcome) {
    for r in &outcome.rejects {
        if r.reason.is_drop() {
            log::warn!("{}:{}: {}; row dropped", r.path, r.line, r.detail);
        } else {
            log::debug!("{}:{}: {}; row deduplicated", r.path, r.line, r.detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn overrides_split_at_the_last_equals_sign() {
        let table = crate::scales::builtin();
        let parsed = parse_overrides(&[OsString::from("a=b.jsonl=lsvq")], &table).expect("ok");
        assert_eq!(parsed[0].path, PathBuf::from("a=b.jsonl"));
        assert_eq!(parsed[0].label, "lsvq");
        assert!(parse_overrides(&[OsString::from("x.jsonl")], &table).is_err());
        assert!(parse_overrides(&[OsString::from("x.jsonl=not-real")], &table).is_err());
    }
}
