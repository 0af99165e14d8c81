//! Encode-grid merge (CONTRACT §8): concatenate vmaf-tune corpus shards, keep the
//! first row of every `(src_sha256, encoder, preset, crf)`, pass rows through unchanged.
//!
//! Two passes over the inputs keep memory to the keys alone, however wide the rows:
//! the first validates every row and collects its key, SQL decides which rows
//! survive, the second re-reads the files and writes the survivors. The second pass
//! re-hashes each file and refuses to finish if it changed in between.

pub mod dedup;
pub mod keys;
pub mod read;

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::{EngineOptions, new_session};
use crate::error::{Error, LoadError, Result};
use crate::json::Value;
use crate::json::write::write_value;
use crate::paths::{Role, check_outputs, roles};
use crate::progress::Progress;
use crate::writers::atomic::AtomicOutput;
use crate::writers::output_set::{SetLock, WhenBusy, commit};
use dedup::{Decision, KeyTable};
use keys::{NATURAL_KEY, RequiredKeys};
use read::{MergeInput, for_each_line_of};

/// The counts the summary line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub rows_in: u64,
    pub rows_out: u64,
    pub duplicates: u64,
    pub unique_sources: u64,
}

impl Summary {
    pub fn line(&self, output: &str) -> String {
        format!(
            "[mosagg merge] rows_in={} rows_out={} duplicates={} unique_sources={} -> {output}",
            self.rows_in, self.rows_out, self.duplicates, self.unique_sources
        )
    }
}

/// What a merge needs.
pub struct MergeJob<'a> {
    pub inputs: &'a [PathBuf],
    pub output: &'a Path,
    pub required: RequiredKeys,
    pub engine: EngineOptions,
    pub when_busy: WhenBusy,
}

/// Checks that every input exists and opens; any that does not stops the merge
/// before anything is read (exit 2).
pub fn probe(paths: &[PathBuf]) -> Result<Vec<MergeInput>> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let shown = crate::paths::shown(p);
            let meta = std::fs::metadata(p)
                .map_err(|_| Error::NoInput(format!("input not found: {shown}")))?;
            if !meta.is_file() {
                return Err(Error::NoInput(format!(
                    "input is not a regular file: {shown}"
                )));
            }
            std::fs::File::open(p)
                .map_err(|e| Error::NoInput(format!("cannot open input {shown}: {e}")))?;
            Ok(MergeInput {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                display: shown,
                path: p.clone(),
                bytes: meta.len(),
            })
        })
        .collect()
}

pub fn run(job: &MergeJob<'_>) -> Result<Summary> {
    let output = Role {
        flag: "--output",
        path: job.output,
    };
    check_outputs(&roles("--inputs", job.inputs), &[output])?;
    let _lock = SetLock::acquire(&[job.output], None, job.when_busy)?;
    let inputs = probe(job.inputs)?;
    let total: u64 = inputs.iter().map(|i| i.bytes).sum();

    let (table, digests) = collect_keys(&inputs, job.required, total)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(job.engine.partitions.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    let decision = runtime
        .block_on(async {
            let ctx = new_session(&job.engine)?;
            dedup::decide(&ctx, table, inputs.len()).await
        })
        .map_err(|e| job.engine.explain(e))?;

    write_kept(&inputs, &digests, &decision, job.output, total)?;
    Ok(Summary {
        rows_in: decision.rows_in,
        rows_out: decision.rows_out,
        duplicates: decision.rows_in - decision.rows_out,
        unique_sources: decision.unique_sources,
    })
}

/// First pass: validate every row and record its natural key. Returns the keys and
/// each file's sha256.
fn collect_keys(
    inputs: &[MergeInput],
    required: RequiredKeys,
    total: u64,
) -> Result<(KeyTable, Vec<String>)> {
    let bar = Progress::new("merge: reading", total);
    let mut table = KeyTable::new();
    let mut digests = Vec::with_capacity(inputs.len());
    // Shared by the progress callback and the row callback.
    let rows = Cell::new(0u64);
    let mut done = 0u64;
    for input in inputs {
        let digest = for_each_line_of(
            input,
            |bytes| bar.update(done + bytes, rows.get()),
            |line, text| {
                let row = read::parse(input, line, text)?;
                let parts = natural_key(input, line, &row, required)?;
                rows.set(rows.get() + 1);
                table.push(input.index, line, parts, keys::source(&row))
            },
        )?;
        done += input.bytes;
        digests.push(digest);
    }
    Ok((table, digests))
}

/// Checks a row and renders its four key parts; errors name the file and line.
fn natural_key(
    input: &MergeInput,
    line: u64,
    row: &Value<'_>,
    required: RequiredKeys,
) -> Result<[String; 4]> {
    keys::check(row, required).map_err(|problem| LoadError::BadRow {
        path: input.display.clone(),
        line,
        problem,
    })?;
    // Every required set includes the four key parts, so the fallback is never taken.
    let [sha, encoder, preset, crf] = NATURAL_KEY.map(|k| row.get(k).unwrap_or(&Value::Null));
    let value = |name: &str, v: &Value<'_>| {
        keys::value_part(v).map_err(|t| {
            Error::from(LoadError::BadValue {
                path: input.display.clone(),
                line,
                problem: format!("{name} is a {t}, which cannot be part of the merge key"),
            })
        })
    };
    Ok([
        keys::text_part(sha),
        keys::text_part(encoder),
        value("preset", preset)?,
        value("crf", crf)?,
    ])
}

/// Second pass: write the surviving rows, in input order, re-serialised as
/// `json.dumps(row, sort_keys=True)` does.
fn write_kept(
    inputs: &[MergeInput],
    digests: &[String],
    decision: &Decision,
    output: &Path,
    total: u64,
) -> Result<()> {
    let bar = Progress::new("merge: writing", total);
    let mut out = AtomicOutput::create(output)?;
    let target = crate::paths::shown(output);
    let mut buf = Vec::with_capacity(4096);
    let written = Cell::new(0u64);
    let mut done = 0u64;
    for (input, digest) in inputs.iter().zip(digests) {
        let keep = decision
            .kept
            .get(input.index as usize)
            .map_or(&[][..], Vec::as_slice);
        let mut next = keep.iter().peekable();
        let again = for_each_line_of(
            input,
            |bytes| bar.update(done + bytes, written.get()),
            |line, text| {
                // Only survivors are parsed again; duplicates are skipped unread.
                if next.peek() != Some(&&line) {
                    return Ok(());
                }
                next.next();
                let row = read::parse(input, line, text)?;
                buf.clear();
                write_value(&mut buf, &row);
                buf.push(b'\n');
                written.set(written.get() + 1);
                out.write_all(&buf)
                    .map_err(|e| Error::io(format!("writing {target}"), e))
            },
        )?;
        if &again != digest || next.next().is_some() {
            return Err(Error::Io {
                context: format!("reading {}", input.display),
                source: std::io::Error::other("the file changed while it was being merged"),
            });
        }
        done += input.bytes;
    }
    bar.clear();
    commit(vec![out.finish()?], None)
}
