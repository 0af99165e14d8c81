//! The aggregation pipeline: scan → `unified` view → buckets of keys → `fates` per
//! bucket → merge in output order. The queries see narrow rows only (what decides a
//! row's fate and its place in the output); the descriptive fields wait in the wide row
//! store, grouped by bucket, and each bucket's ranking gathers them for its kept rows,
//! which then travel to the merge and the writers whole.
//! The fate of every row is kept (narrowly) so the counters and the rejects ledger are
//! SQL over it afterwards.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef, UInt64Type};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DFSchema;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use super::bucketing::{BucketPlan, Bucketer};
use super::key_bucket::Spread;
use super::range_runs;
use super::ranking::{empty_fates_schema, rank_buckets, winners_schema};
use super::results::{column, one_row};
use super::session::{collect_sql, planned_with_batch_size, register_batches};
use super::spill::SpillWatch;
use super::spool::{SpoolBudget, Spooled, SpooledPartition};
use super::sql;
use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::loader::scan::{ScanShared, first_hard_error};
use crate::loader::wide::WideStore;
use crate::loader::{InputFile, InputStats, batch::SHARDS_SCHEMA, inputs, key_sample};
use crate::scales::{self, ScaleTable};

/// Why a row did not reach the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    UnknownCorpus,
    BadScale,
    BadValue,
    CrossCorpusDup,
    SameCorpusDup,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownCorpus => "unknown_corpus",
            Reason::BadScale => "bad_scale",
            Reason::BadValue => "bad_value",
            Reason::CrossCorpusDup => "cross_corpus_dup",
            Reason::SameCorpusDup => "same_corpus_dup",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Reason::UnknownCorpus,
            Reason::BadScale,
            Reason::BadValue,
            Reason::CrossCorpusDup,
            Reason::SameCorpusDup,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Drops are warned about; dedup losers are the point of the tool and only logged at DEBUG.
    pub fn is_drop(self) -> bool {
        matches!(
            self,
            Reason::UnknownCorpus | Reason::BadScale | Reason::BadValue
        )
    }
}

/// One input row that did not reach the output, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub path: String,
    pub line: u64,
    pub reason: Reason,
    pub detail: String,
    /// The winning row, for the two dedup reasons.
    pub kept: Option<(String, u64)>,
}

/// What a finished aggregation established.
#[derive(Debug)]
pub struct Outcome {
    pub counters: Counters,
    /// In input order.
    pub rejects: Vec<Reject>,
    pub input_stats: Vec<Option<InputStats>>,
}

/// How to run the aggregation.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub partitions: usize,
    /// Name the winning row of every dedup loser (rejects ledger, DEBUG log);
    /// costs an index of the kept rows, so only when someone will read it.
    pub explain_duplicates: bool,
}

/// Runs the whole aggregation; `sink` receives the kept rows, in output order, batch by
/// batch, then `end` before the run counts its rows. `on_scan` gets the scan's shared
/// state before reading starts, so a caller can follow `bytes_read()` /
/// `rows_parsed()` (the progress bar does).
///
/// Three steps: the scan splits the narrow rows into buckets of keys (bucketed.sql);
/// each bucket is ranked on its own, on every core (dedup_order.sql, fates.sql), and
/// its kept rows get their wide fields; the buckets' kept rows are merged in output
/// order (output_order.sql).
pub async fn run_observed(
    ctx: &SessionContext,
    inputs: Arc<Vec<InputFile>>,
    scale_table: &ScaleTable,
    plan: Plan,
    on_scan: impl FnOnce(Arc<ScanShared>),
    sink: &mut impl KeptRows,
) -> Result<Outcome> {
    let scales_batch = scales::to_record_batch(scale_table)?;
    register_batches(ctx, "scales", scales_batch.schema(), vec![scales_batch])?;
    let inputs_batch = inputs::to_record_batch(&inputs)?;
    register_batches(ctx, "inputs", inputs_batch.schema(), vec![inputs_batch])?;

    let limit = match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => n,
        MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX / 4,
    };
    // The first content hashes tell how to spread the keys over the buckets.
    let spread = Spread::judged(&key_sample::first_hashes(&inputs));
    let buckets =
        BucketPlan::new(inputs::present_bytes(&inputs), limit, plan.partitions).spread_by(spread);
    log::debug!("{buckets:?}");
    ctx.register_udf(super::key_bucket::udf(buckets.buckets, buckets.spread));
    ctx.runtime_env()
        .disk_manager
        .set_max_spill_merge_fan_in(MAX_SPILL_MERGE_FAN_IN);

    let partitions = plan.partitions.max(1);
    let wide = wide_store(ctx, &buckets, partitions);
    let watch = {
        let disk = Arc::clone(&ctx.runtime_env().disk_manager);
        let wide = Arc::clone(&wide);
        SpillWatch::start(move || disk.used_disk_space() + wide.staged_bytes())
    };
    let shared = ScanShared::new(
        Arc::clone(&inputs),
        Arc::clone(&wide),
        partitions * 2,
        buckets.split_scan,
    );
    on_scan(Arc::clone(&shared));
    let streams: Vec<Arc<dyn PartitionStream>> = shared
        .start_partitions(partitions)
        .ok_or_else(|| Error::Internal("the scan was started twice".into()))?
        .into_iter()
        .map(|p| Arc::new(p) as Arc<dyn PartitionStream>)
        .collect();
    let shards = StreamingTable::try_new(SHARDS_SCHEMA.clone(), streams)?;
    ctx.register_table("shards", Arc::new(shards))?;
    ctx.sql(sql::UNIFIED).await?;

    let spool_budget = SpoolBudget::new(&ctx.runtime_env().memory_pool, buckets.spool_memory);
    let started = std::time::Instant::now();
    let bucketed = scan_into_buckets(ctx, &inputs, &buckets, &spool_budget).await?;
    log::debug!(
        "inputs read into {} buckets in {:.3} s",
        buckets.buckets,
        started.elapsed().as_secs_f64()
    );
    let read = shared.read_counts();
    log::debug!(
        "input bytes: {} from the page cache, {} straight from the disk",
        read.cached,
        read.direct
    );
    let ranked = {
        // The workers' pools are carved out of the limit while they run.
        let carved = MemoryConsumer::new("RankingWorkers").register(&ctx.runtime_env().memory_pool);
        carved.try_grow(buckets.worker_memory * buckets.workers)?;
        rank_buckets(
            ctx,
            bucketed,
            &buckets,
            Arc::clone(&spool_budget),
            Arc::clone(&wide),
            plan.explain_duplicates,
        )
        .await?
    };
    log::debug!("buckets ranked at {:.3} s", started.elapsed().as_secs_f64());
    let (staged, read_by_bucket) = wide.staging_summary();
    log::debug!(
        "wide row store: {} bytes in memory, {staged} bytes staged on disk, \
         {read_by_bucket} of them read back a bucket at a time, {} still on disk",
        wide.memory_bytes(),
        wide.staged_bytes()
    );
    // The runs carry their rows' descriptive fields now: the store's memory is free
    // for the merge. (The spill watch keeps its own handle until it stops.)
    drop(wide);
    if let Some(schema) = &ranked.run_schema {
        merge_in_output_order(ctx, schema, &buckets, ranked.runs, sink).await?;
    }
    // Before the counters and the rejects' descriptions: the files finish meanwhile.
    sink.end();

    log::debug!(
        "kept rows merged and handed to the writers at {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let spilled = watch.peak();
    if spilled > 0 {
        // Worth knowing: the disk it needs, and that more memory would avoid it.
        log::info!(
            "the inputs did not fit in --memory-limit: up to {} were on disk at once in the spill folder",
            indicatif::HumanBytes(spilled)
        );
    }

    let fate_schema = ranked
        .fates
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(empty_fates_schema);
    register_batches(ctx, "fates", fate_schema, ranked.fates)?;
    let counters = read_counters(&collect_sql(ctx, sql::COUNTERS).await?)?;
    if !counters.reconciles() {
        return Err(Error::Internal(format!(
            "counters do not reconcile: {counters:?}"
        )));
    }

    let rejects = match ranked.rejects.first().map(|b| b.schema()) {
        Some(schema) => {
            register_batches(ctx, "rejects", schema, ranked.rejects)?;
            register_batches(ctx, "winners", winners_schema(), ranked.winners)?;
            describe_rejects(&collect_sql(ctx, sql::REJECTS).await?, scale_table)?
        }
        None => Vec::new(),
    };
    Ok(Outcome {
        counters,
        rejects,
        input_stats: shared.stats(),
    })
}

/// Step one: reads every input (the scan runs on every core) and spools its narrow
/// rows by bucket of keys.
async fn scan_into_buckets(
    ctx: &SessionContext,
    inputs: &[InputFile],
    plan: &BucketPlan,
    budget: &Arc<SpoolBudget>,
) -> Result<Vec<Spooled>> {
    // With the scan split by bucket, the query's batches as large as the scan's, so that
    // no operator joins two buckets' batches into one (DataFusion coalesces batches
    // smaller than this).
    let batch_size = plan
        .split_scan
        .unwrap_or_else(|| ctx.state().config().batch_size());
    let mut stream = planned_with_batch_size(ctx, batch_size, sql::BUCKETED)
        .await?
        .execute_stream()
        .await?;
    let mut bucketer = Bucketer::new(
        &stream.schema(),
        Arc::clone(&ctx.runtime_env().disk_manager),
        Arc::clone(budget),
        plan.spools(),
        plan.spool_batch_rows,
    )?;
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(b) => bucketer.push(&b)?,
            Err(e) => {
                drop(stream);
                if !is_load_error(&e) {
                    // Not about the inputs (e.g. out of memory): no input to re-read.
                    return Err(e.into());
                }
                // Report the first bad line in input order, whichever worker tripped first.
                return Err(match first_hard_error(inputs) {
                    Some(load) => load.into(),
                    None => e.into(),
                });
            }
        }
    }
    bucketer.finish()
}

/// Where a run's kept rows go, in output order.
pub trait KeptRows {
    /// The next kept rows.
    fn write(&mut self, kept: &RecordBatch) -> Result<()>;
    /// Every kept row has been handed over. What the run does after (its counters, the
    /// description of the rows not kept) needs none of them, so the files can be
    /// finished meanwhile.
    fn end(&mut self);
}

/// Step three: merges the buckets' kept rows (each bucket already in output order).
async fn merge_in_output_order(
    ctx: &SessionContext,
    schema: &SchemaRef,
    plan: &BucketPlan,
    runs: Vec<(usize, Spooled)>,
    sink: &mut impl KeptRows,
) -> Result<()> {
    let partitions = merge_partitions(schema, plan, runs);
    if partitions.is_empty() {
        return Ok(());
    }
    let merge = merge_plan(ctx, schema, partitions).await?;
    log::debug!(
        "merge plan:\n{}",
        datafusion::physical_plan::displayable(merge.as_ref()).indent(false)
    );
    let mut stream = datafusion::physical_plan::execute_stream(merge, ctx.task_ctx())?;
    while let Some(batch) = stream.next().await {
        sink.write(&batch?)?;
    }
    Ok(())
}

/// The runs (bucket number, kept rows) as the partitions of `ranked`, each in output
/// order. Buckets that are ranges of keys (`plan.spread`) are laid end to end in one
/// partition (range_runs.rs), so that only the bucket of the rows without a content
/// hash, when it kept any, is merged with them row by row; other buckets are merged.
fn merge_partitions(
    schema: &SchemaRef,
    plan: &BucketPlan,
    mut runs: Vec<(usize, Spooled)>,
) -> Vec<Arc<dyn PartitionStream>> {
    runs.retain(|(_, r)| r.rows() > 0);
    runs.sort_by_key(|(bucket, _)| *bucket);
    let merged = |(_, r): (usize, Spooled)| -> Arc<dyn PartitionStream> {
        Arc::new(SpooledPartition::spooled(r))
    };
    if plan.spread != Spread::Range || !range_runs::can_lay(schema) {
        return runs.into_iter().map(merged).collect();
    }
    let (ranges, others): (Vec<_>, Vec<_>) = runs
        .into_iter()
        .partition(|(bucket, _)| *bucket < plan.buckets);
    let laid = (!ranges.is_empty()).then(|| {
        let ranges = ranges.into_iter().map(|(_, r)| r).collect();
        Arc::new(range_runs::laid_end_to_end(Arc::clone(schema), ranges))
            as Arc<dyn PartitionStream>
    });
    laid.into_iter()
        .chain(others.into_iter().map(merged))
        .collect()
}

/// The order each run is in (fates_by_rank.sql, fates_by_text.sql), as
/// output_order.sql asks for it: ascending, nulls last.
const RUN_ORDER: [&str; 3] = [
    "corpus_source",
    "COALESCE(src_sha256_unless_key, dedup_key)",
    "dedup_key",
];

/// output_order.sql over the runs (`partitions`, each in `RUN_ORDER`), planned.
///
/// The runs are declared in `RUN_ORDER`, each expression simplified as the planner
/// simplifies the query's own (it writes COALESCE as a CASE), so the planner sees they
/// already are in the order the query asks for, and merges them rather than sorting
/// each one again.
async fn merge_plan(
    ctx: &SessionContext,
    schema: &SchemaRef,
    partitions: Vec<Arc<dyn PartitionStream>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let df_schema = Arc::new(DFSchema::try_from(Arc::clone(schema))?);
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(Arc::clone(&df_schema))
            .build(),
    );
    let order = RUN_ORDER
        .iter()
        .map(|text| {
            let expr = simplifier.simplify(ctx.parse_sql_expr(text, &df_schema)?)?;
            Ok(expr.sort(true, false))
        })
        .collect::<Result<Vec<_>>>()?;
    let runs = partitions.len();
    let ranked = StreamingTable::try_new(Arc::clone(schema), partitions)?.with_sort_order(order);
    ctx.register_table("ranked", Arc::new(ranked))?;
    // Planned for no more partitions than there are runs: a single run (buckets laid end
    // to end) would otherwise be dealt out round robin over the cores, only to be merged
    // back into one.
    let mut state = ctx.state();
    let target = state.config().target_partitions().min(runs).max(1);
    *state.config_mut() = state.config().clone().with_target_partitions(target);
    let plan = state.create_logical_plan(sql::OUTPUT_ORDER).await?;
    Ok(DataFrame::new(state, plan).create_physical_plan().await?)
}

/// The share of the memory limit the wide row store may keep in memory (one part in
/// this many); the rest of the wide rows go to its staging file, which is read back in
/// output order.
const WIDE_SHARE_OF_LIMIT: usize = 8;

/// Spill files a sort merges at once, should a bucket's sort spill after all; more are
/// merged in several passes, so the merge's memory does not grow with the number of
/// spills (DataFusion's default: unlimited).
const MAX_SPILL_MERGE_FAN_IN: usize = 16;

/// True when the query failed because of an input line (as opposed to, say, memory).
fn is_load_error(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError;
    if let DataFusionError::External(inner) = e.find_root()
        && inner.downcast_ref::<crate::error::LoadError>().is_some()
    {
        return true;
    }
    // However deeply DataFusion or Arrow wrapped it.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<crate::error::LoadError>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The wide row store, accounted in the session's memory pool and staging next to its
/// spill files, its records grouped by the bucket of their key.
fn wide_store(ctx: &SessionContext, buckets: &BucketPlan, writers: usize) -> Arc<WideStore> {
    let runtime = ctx.runtime_env();
    let (budget, limit) = match runtime.memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => ((n / WIDE_SHARE_OF_LIMIT) as u64, n),
        MemoryLimit::Infinite | MemoryLimit::Unknown => (u64::MAX, 1 << 30),
    };
    let dir = runtime
        .disk_manager
        .temp_dir_paths()
        .into_iter()
        .next()
        .unwrap_or_else(std::env::temp_dir);
    let reservation = MemoryConsumer::new("WideRowStore").register(&runtime.memory_pool);
    // Every writer keeps a segment open per bucket (and one for rows without a hash
    // key): together a small share of the limit, in segments of 16 KiB to 4 MiB.
    let open_segments = (buckets.buckets + 1) * writers.max(1);
    let segment_bytes =
        (limit / OPEN_SEGMENTS_SHARE_OF_LIMIT / open_segments).clamp(16 << 10, 4 << 20);
    Arc::new(WideStore::in_pool(budget, dir, reservation).grouped(
        buckets.buckets,
        buckets.spread.bucket_fn(),
        segment_bytes,
    ))
}

/// The share of the memory limit (one part in this many) the wide row store's open
/// segments may take together.
const OPEN_SEGMENTS_SHARE_OF_LIMIT: usize = 32;

fn read_counters(batches: &[RecordBatch]) -> Result<Counters> {
    let row = one_row(batches, "counters")?;
    let get = |name: &str| row.u64(name);
    Ok(Counters {
        inputs_seen: get("inputs_seen")?,
        inputs_missing: get("inputs_missing")?,
        rows_in: get("rows_in")?,
        rows_out: get("rows_out")?,
        cross_corpus_dedups: get("cross_corpus_dedups")?,
        same_corpus_dups: get("same_corpus_dups")?,
        dropped_unknown_corpus: get("dropped_unknown_corpus")?,
        dropped_bad_scale: get("dropped_bad_scale")?,
        dropped_bad_value: get("dropped_bad_value")?,
    })
}

/// Turns the rejects query into records with a sentence an operator can act on.
fn describe_rejects(batches: &[RecordBatch], table: &ScaleTable) -> Result<Vec<Reject>> {
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str| -> Result<StringArray> {
            Ok(cast(column(b, name)?, &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        let float = |name: &str| -> Result<arrow::array::Float64Array> {
            Ok(column(b, name)?.as_primitive::<Float64Type>().clone())
        };
        let uint = |name: &str| -> Result<arrow::array::UInt64Array> {
            Ok(cast(column(b, name)?, &DataType::UInt64)?
                .as_primitive::<UInt64Type>()
                .clone())
        };
        let (path, line, reason, cs) = (
            text("path")?,
            uint("line")?,
            text("reason")?,
            text("corpus_source")?,
        );
        let (mos, mos_problem, bad_value, std) = (
            float("mos_native")?,
            text("mos_problem")?,
            text("bad_value")?,
            float("mos_std_dev")?,
        );
        let (kept_path, kept_line, kept_cs, kept_std) = (
            text("kept_path")?,
            uint("kept_line")?,
            text("kept_corpus_source")?,
            float("kept_mos_std_dev")?,
        );
        for i in 0..b.num_rows() {
            let reason = Reason::parse(reason.value(i))
                .ok_or_else(|| Error::Internal(format!("unknown fate {}", reason.value(i))))?;
            let opt = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_owned());
            let label = opt(&cs);
            let kept = opt(&kept_path).map(|p| (p, kept_line.value(i)));
            let detail = match reason {
                Reason::UnknownCorpus => match &label {
                    Some(l) => format!(
                        "unknown corpus label {}; no scale conversion defined (add one with --scales, \
                         or pass --corpus-source-override for this input)",
                        quote(l)
                    ),
                    None => {
                        "no corpus label (corpus is null and no corpus_source or override)".into()
                    }
                },
                Reason::BadScale => match opt(&mos_problem) {
                    Some(p) => p,
                    None => {
                        let l = label.unwrap_or_default();
                        let (lo, hi) = table
                            .get(&l)
                            .map_or((f64::NAN, f64::NAN), |s| (s.native_min, s.native_max));
                        format!(
                            "native MOS {} for {l} is outside the published [{}, {}] range",
                            repr(mos.value(i)),
                            repr(lo),
                            repr(hi)
                        )
                    }
                },
                Reason::BadValue => opt(&bad_value).unwrap_or_default(),
                Reason::CrossCorpusDup | Reason::SameCorpusDup => {
                    let (kp, kl) = kept.clone().unwrap_or_default();
                    let what = if reason == Reason::CrossCorpusDup {
                        "same clip as"
                    } else {
                        "repeat of"
                    };
                    // Spread as the dedup ranks it: missing, zero or non-finite is unknown.
                    let spread = |x: f64| {
                        if x > 0.0 && x.is_finite() {
                            x
                        } else {
                            f64::INFINITY
                        }
                    };
                    let why = if spread(kept_std.value(i)) < spread(std.value(i)) {
                        "kept for its tighter rating spread"
                    } else {
                        "kept as first seen (spread not tighter)"
                    };
                    format!(
                        "{what} {kp}:{kl} ({}, std-dev {} vs {}), {why}",
                        opt(&kept_cs).unwrap_or_default(),
                        repr(kept_std.value(i)),
                        repr(std.value(i))
                    )
                }
            };
            out.push(Reject {
                path: path.value(i).to_owned(),
                line: line.value(i),
                reason,
                detail,
                kept,
            });
        }
    }
    Ok(out)
}

fn repr(v: f64) -> String {
    crate::json::text::float_repr(v)
}

fn quote(s: &str) -> String {
    crate::json::text::py_repr(&crate::json::Value::Str(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::TaskContext;
    use datafusion::physical_plan::SendableRecordBatchStream;
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    /// One run held in memory.
    #[derive(Debug)]
    struct Run(RecordBatch);

    impl PartitionStream for Run {
        fn schema(&self) -> &SchemaRef {
            self.0.schema_ref()
        }

        fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
            let batch = self.0.clone();
            Box::pin(RecordBatchStreamAdapter::new(
                batch.schema(),
                futures::stream::once(async move { Ok(batch) }),
            ))
        }
    }

    /// A row of a run: corpus_source, src_sha256_unless_key, dedup_key, corpus_unless_source.
    type Row = (
        &'static str,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
    );

    /// The columns of a `Row`.
    fn run_schema() -> SchemaRef {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        Arc::new(Schema::new(vec![
            text("corpus_source"),
            text("src_sha256_unless_key"),
            text("dedup_key"),
            text("corpus_unless_source"),
        ]))
    }

    fn run(schema: &SchemaRef, rows: &[Row]) -> Run {
        let text = |f: fn(&Row) -> Option<&'static str>| -> Arc<dyn Array> {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        Run(RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                text(|r| Some(r.0)),
                text(|r| r.1),
                text(|r| Some(r.2)),
                text(|r| r.3),
            ],
        )
        .expect("run"))
    }

    /// The runs are merged in output order, not sorted again, and the hash and the
    /// corpus a row carried only as its key and its corpus_source come back.
    #[tokio::test]
    async fn runs_are_merged_in_output_order_with_their_hash_and_corpus_restored() {
        let schema = run_schema();
        // In each run's order: by corpus_source, then the hash (the key where the row
        // carries none of its own), then the key.
        let first = run(
            &schema,
            &[
                ("a", None, "k2", None),
                ("a", Some("k5"), "__nokey__/x/a", Some("other")),
                ("b", None, "k1", None),
            ],
        );
        let second = run(
            &schema,
            &[
                ("a", Some(""), "__nokey__/y/a", None),
                ("a", None, "k3", None),
                ("b", None, "k0", Some("b2")),
            ],
        );
        let ctx = SessionContext::new();
        let plan = merge_plan(&ctx, &schema, vec![Arc::new(first), Arc::new(second)])
            .await
            .expect("plan");
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        assert!(shown.contains("SortPreservingMergeExec"), "{shown}");
        assert!(
            !shown.contains("SortExec:"),
            "the runs are sorted again:\n{shown}"
        );

        let all = merge_output(plan, &ctx).await;
        let strings = |name: &str| texts(&all, name);
        assert_eq!(strings("src_sha256"), ["", "k2", "k3", "k5", "k0", "k1"]);
        assert_eq!(strings("corpus"), ["a", "a", "a", "other", "b2", "b"]);
        assert!(all.column_by_name("src_sha256_unless_key").is_none());
        assert!(all.column_by_name("corpus_unless_source").is_none());
    }

    /// One run spooled, to disk (no budget), in batches of two rows.
    fn spooled(dir: &std::path::Path, schema: &SchemaRef, rows: &[Row]) -> Spooled {
        let (maker, _pool) = super::super::spool::test_maker(dir, Arc::clone(schema), 0);
        let mut spool = maker.spool().in_batches_of(2);
        spool.push(run(schema, rows).0).expect("push");
        spool.finish().expect("finish")
    }

    /// What output_order.sql makes of `runs` (bucket number, rows) under `plan`: the
    /// plan as shown, and the rows' src_sha256 and corpus.
    async fn merged(
        plan: &BucketPlan,
        runs: &[(usize, &[Row])],
    ) -> (usize, String, Vec<String>, Vec<String>) {
        let schema = run_schema();
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = runs
            .iter()
            .map(|(bucket, rows)| (*bucket, spooled(dir.path(), &schema, rows)))
            .collect();
        let partitions = merge_partitions(&schema, plan, runs);
        let count = partitions.len();
        let ctx = SessionContext::new();
        let merge = merge_plan(&ctx, &schema, partitions).await.expect("plan");
        let shown = displayable(merge.as_ref()).indent(true).to_string();
        let all = merge_output(merge, &ctx).await;
        (
            count,
            shown,
            texts(&all, "src_sha256"),
            texts(&all, "corpus"),
        )
    }

    /// Every row `plan` puts out, in one batch.
    async fn merge_output(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> RecordBatch {
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
            .await
            .expect("merge");
        arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
    }

    /// A column's values as text, NULL for a null.
    fn texts(all: &RecordBatch, name: &str) -> Vec<String> {
        let c = cast(all.column_by_name(name).expect(name), &DataType::Utf8).expect("cast");
        c.as_string::<i32>()
            .iter()
            .map(|v| v.unwrap_or("NULL").to_owned())
            .collect()
    }

    /// Buckets that are ranges of keys, each in output order: by corpus, then hash.
    const LOW: &[Row] = &[
        ("a", None, "1a", None),
        ("a", None, "3b", None),
        ("b", None, "2c", None),
        ("c", None, "0d", Some("c0")),
    ];
    const HIGH: &[Row] = &[
        ("a", None, "9e", None),
        ("a", None, "af", None),
        ("a", None, "b0", None),
        ("c", None, "ff", None),
    ];
    /// Rows without a content hash: their key is not their hash.
    const NO_HASH: &[Row] = &[
        ("a", Some(""), "__nokey__/y/a", None),
        ("b", None, "__nokey__/z/b", None),
    ];

    /// Range buckets go out one after the other within each corpus, with no merge and
    /// no sort; the bucket of the rows without a hash is merged in when it has rows.
    #[tokio::test]
    async fn range_buckets_are_laid_end_to_end_and_rows_without_a_hash_merged_in() {
        let by_range = BucketPlan::new(1 << 20, 1 << 30, 2).spread_by(Spread::Range);
        assert_eq!(by_range.buckets, 2);

        let (partitions, shown, hashes, corpora) =
            merged(&by_range, &[(1, HIGH), (0, LOW), (2, &[])]).await;
        assert_eq!(partitions, 1);
        for operator in ["SortPreservingMergeExec", "SortExec:", "RepartitionExec"] {
            assert!(!shown.contains(operator), "{operator}:\n{shown}");
        }
        assert_eq!(hashes, ["1a", "3b", "9e", "af", "b0", "2c", "0d", "ff"]);
        assert_eq!(corpora, ["a", "a", "a", "a", "a", "b", "c0", "c"]);

        let (partitions, shown, hashes, corpora) =
            merged(&by_range, &[(2, NO_HASH), (1, HIGH), (0, LOW)]).await;
        assert_eq!(partitions, 2);
        assert!(shown.contains("SortPreservingMergeExec"), "{shown}");
        assert_eq!(
            hashes,
            [
                "",
                "1a",
                "3b",
                "9e",
                "af",
                "b0",
                "2c",
                "__nokey__/z/b",
                "0d",
                "ff"
            ]
        );
        assert_eq!(corpora, ["a", "a", "a", "a", "a", "a", "b", "b", "c0", "c"]);

        // Spread by hash, the same runs are merged row by row, to the same order.
        let by_hash = BucketPlan::new(1 << 20, 1 << 30, 2);
        let (partitions, shown, hashes, _) = merged(&by_hash, &[(1, HIGH), (0, LOW)]).await;
        assert_eq!(partitions, 2);
        assert!(shown.contains("SortPreservingMergeExec"), "{shown}");
        assert_eq!(hashes, ["1a", "3b", "9e", "af", "b0", "2c", "0d", "ff"]);
    }
}
