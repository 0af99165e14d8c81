//! Ranking the buckets: `dedup_order.sql`, then `fates.sql` put in output order by
//! `fates_by_rank.sql` or `fates_by_text.sql`, over each bucket's rows, on every core
//! at once.
//!
//! Each worker has its own session with a fixed part of the memory limit (a pool of
//! its own), so one worker's sorts can never starve the other's: a bucket is sized to
//! fit its worker's pool (bucketing.rs). The queries sort only the columns that decide
//! and name each row by its number in the bucket (bucket_rows.rs). Of each bucket's
//! result, the kept rows are spooled in output order for the final merge, their
//! columns gathered by number, with their descriptive fields, which the worker gathers
//! from the wide row store (the bucket's group of records, read whole); every row's
//! fate, and the rows that were not kept, are kept narrowly for the counters and the
//! rejects ledger.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Int8Array, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};
use arrow::compute::{and_not, cast, concat_batches, filter, filter_record_batch, not, take};
use arrow::datatypes::{
    DataType, Field, Int8Type, Schema, SchemaRef, UInt8Type, UInt32Type, UInt64Type,
};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use futures::StreamExt;

use super::aggregate::Reason;
use super::bucket_rows::{BUCKET_ROW, BucketRows};
use super::bucketing::BucketPlan;
use super::results::column;
use super::session::planned_with_batch_size;
use super::spool::{SpoolBudget, SpoolMaker, Spooled};
use super::sql;
use crate::error::{Error, Result};
use crate::loader::wide::{LoadedGroup, WideStore, wide_fields};

/// The columns of `fates` kept for every row that is not written.
const REJECT_COLUMNS: [&str; 9] = [
    "input_idx",
    "line",
    "fate",
    "corpus_source",
    "dedup_key",
    "mos_native",
    "mos_problem",
    "bad_value",
    "mos_std_dev",
];
/// The columns of kept rows the final merge and the writers need from the ranking: the
/// output order (output_order.sql) and the fields a unified row takes from the query;
/// the descriptive fields follow them (`wide_fields`), gathered through `row_ref`. At
/// 10M rows the runs are spooled to disk and read back; the lineage and the fate
/// columns would add an eighth to those bytes.
const RUN_COLUMNS: [&str; 8] = [
    "corpus_source",
    "src_sha256_unless_key",
    "dedup_key",
    "corpus_unless_source",
    "mos",
    "mos_native",
    "mos_native_scale",
    "mos_std_dev",
];
/// Those of `RUN_COLUMNS` that the bucket in dedup order (dedup_order.sql) holds, first
/// in `RUN_COLUMNS`: taken from it by dedup rank, the others from the bucket's rows by
/// number. (In dedup order, a corpus's kept rows are read front to back, and these
/// columns need not be joined across the bucket's batches first.)
const RUN_COLUMNS_JUDGED: usize = 3;
/// The corpus number of every corpus past the 254th (unified.sql): such corpora share
/// it, so it does not order them.
const UNNUMBERED_CORPUS: u8 = 255;
/// The fates of the rows that lost to a duplicate (fates.sql).
const DUPLICATE_FATES: [&str; 2] = [
    Reason::CrossCorpusDup.as_str(),
    Reason::SameCorpusDup.as_str(),
];
/// The columns of kept rows that name a winner in the rejects ledger.
const WINNER_COLUMNS: [&str; 5] = [
    "dedup_key",
    "input_idx",
    "line",
    "corpus_source",
    "mos_std_dev",
];

/// What ranking every bucket established.
#[derive(Default)]
pub struct Ranked {
    /// Each bucket's kept rows, in output order, with the bucket's number.
    pub runs: Vec<(usize, Spooled)>,
    /// Their schema (None when no bucket had a row).
    pub run_schema: Option<SchemaRef>,
    /// The fate of every row.
    pub fates: Vec<RecordBatch>,
    /// The rows not kept that the run reports (`REJECT_COLUMNS`; see `reported`).
    pub rejects: Vec<RecordBatch>,
    /// The identity (`winners_schema`) of the kept rows that won over a duplicate,
    /// when asked for.
    pub winners: Vec<RecordBatch>,
}

impl Ranked {
    fn absorb(&mut self, other: Ranked) {
        self.runs.extend(other.runs);
        self.run_schema = self.run_schema.take().or(other.run_schema);
        self.fates.extend(other.fates);
        self.rejects.extend(other.rejects);
        self.winners.extend(other.winners);
    }
}

/// Ranks every bucket (`buckets[b]` holds the rows of bucket `b`, whose records are
/// group `b` of the `wide` store); `explain_duplicates` also keeps the duplicates
/// among the rows not kept, and the identity of the winners they lost to.
pub async fn rank_buckets(
    main: &SessionContext,
    buckets: Vec<Spooled>,
    plan: &BucketPlan,
    spool_budget: Arc<SpoolBudget>,
    wide: Arc<WideStore>,
    explain_duplicates: bool,
) -> Result<Ranked> {
    let queue = Arc::new(Mutex::new(
        buckets
            .into_iter()
            .enumerate()
            .filter(|(_, b)| b.rows() > 0)
            .collect::<VecDeque<_>>(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.workers {
        let ctx = worker_session(main, plan)?;
        let queue = Arc::clone(&queue);
        let budget = Arc::clone(&spool_budget);
        let wide = Arc::clone(&wide);
        let run_batch_rows = plan.run_batch_rows;
        workers.spawn(async move {
            let mut out = Ranked::default();
            let mut maker: Option<SpoolMaker> = None;
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((id, bucket)) = next else { break };
                rank_one(
                    &ctx,
                    Bucket {
                        id,
                        rows: bucket,
                        wide: &wide,
                    },
                    &budget,
                    &mut maker,
                    explain_duplicates,
                    run_batch_rows,
                    &mut out,
                )
                .await?;
            }
            Ok::<Ranked, Error>(out)
        });
    }
    let mut all = Ranked::default();
    // Dropping the set on an early return aborts the other workers.
    while let Some(done) = workers.join_next().await {
        let ranked =
            done.map_err(|e| Error::Internal(format!("a ranking worker failed: {e}")))??;
        all.absorb(ranked);
    }
    Ok(all)
}

/// A session of its own for one worker: one partition, its own pool, the shared spill folder.
fn worker_session(main: &SessionContext, plan: &BucketPlan) -> Result<SessionContext> {
    let runtime = RuntimeEnvBuilder::from_runtime_env(&main.runtime_env())
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(plan.worker_memory)))
        .build_arc()?;
    let mut config = SessionConfig::new().with_target_partitions(1);
    let execution = &mut config.options_mut().execution;
    // Each sort sets this aside to merge its spill files, should a bucket not fit after all.
    execution.sort_spill_reservation_bytes = plan.worker_memory / 8;
    // A bucket is sized to fit: one sort of all its rows beats sorting each batch and
    // merging them (DataFusion's default above 1 MiB); 20 % faster ranking at 10M rows.
    execution.sort_in_place_threshold_bytes = plan.worker_memory;
    // The fates (fates.sql) are the union of two parts, put in output order: one sort of
    // the union, rather than a sort of each part and a merge that copies every row once
    // more (6 % less CPU).
    config.options_mut().optimizer.repartition_sorts = false;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    ctx.register_udf(super::sort_prefix::udf());
    Ok(ctx)
}

/// One bucket to rank: its number, its rows, and the store of its descriptive fields.
struct Bucket<'a> {
    id: usize,
    rows: Spooled,
    wide: &'a WideStore,
}

async fn rank_one(
    ctx: &SessionContext,
    bucket: Bucket<'_>,
    budget: &Arc<SpoolBudget>,
    maker: &mut Option<SpoolMaker>,
    explain_duplicates: bool,
    run_batch_rows: usize,
    out: &mut Ranked,
) -> Result<()> {
    // The bucket's rows are held in the worker's pool while it is ranked, a bucket being
    // sized to a sixth of it (bucketing.rs); the queries read the columns they need.
    let Bucket { id, rows, wide } = bucket;
    let mut rows = BucketRows::read(rows, &ctx.runtime_env().memory_pool).await?;
    ctx.register_table("bucket_rows", Arc::new(rows.table()?))?;
    // The bucket in dedup order, held: fates.sql reads it twice (its contested rows, the
    // others), which as a view would sort it twice, and the kept rows' texts are taken
    // from it by rank.
    let judged = in_one_batch(ctx, rows.row_count(), sql::DEDUP_ORDER).await?;
    let judged_schema = Arc::clone(judged.schema().inner());
    let judged = InDedupOrder::new(&judged_schema, judged.collect().await?)?;
    let output_order = if in_output_order_by_rank(&judged.rows)? {
        sql::FATES_BY_RANK
    } else {
        sql::FATES_BY_TEXT
    };
    ctx.deregister_table("bucket_rows")?;
    ctx.register_table(
        "judged",
        Arc::new(MemTable::try_new(
            judged_schema,
            vec![vec![judged.rows.clone()]],
        )?),
    )?;
    // The fates, put in output order by their corpus number and dedup rank where that is
    // the output order, else by their texts.
    let fates = ctx.sql(sql::FATES).await?.into_view();
    ctx.register_table("bucket_fates", fates)?;
    // The bucket's staged records, read whole while the pool has room for them (each
    // kept row is then gathered from memory, not read on its own).
    let held = MemoryConsumer::new("WideGroup").register(&ctx.runtime_env().memory_pool);
    let loaded = match held.try_grow(wide.staged_bytes_of(id) as usize) {
        Ok(()) => Some(wide.load_group(id).map_err(|e| Error::Load(e.into()))?),
        Err(_) => None,
    };
    held.resize(loaded.as_ref().map_or(0, LoadedGroup::bytes));
    // Each row's number in the bucket, its dedup rank and its fate, in output order.
    let mut stream = in_one_batch(ctx, rows.row_count(), output_order)
        .await?
        .execute_stream()
        .await?;
    let run_schema = run_schema(&rows)?;
    let maker = maker.get_or_insert_with(|| {
        SpoolMaker::new(
            Arc::clone(&ctx.runtime_env().disk_manager),
            Arc::clone(&run_schema),
            Arc::clone(budget),
        )
    });
    // The final merge holds a batch of every bucket at once: small ones.
    let mut run = maker.spool().in_batches_of(run_batch_rows);
    // One batch per bucket for what is kept until the end of the run: many small
    // long-lived batches would cost more in overhead than in data.
    let (mut fates, mut rejects, mut winners) = (Vec::new(), Vec::new(), Vec::new());
    // The run's columns, and where the descriptive fields are.
    let (from_judged, from_bucket) = RUN_COLUMNS.split_at(RUN_COLUMNS_JUDGED);
    let from_bucket: Vec<&str> = from_bucket.iter().copied().chain(["row_ref"]).collect();
    rows.hold_whole(&from_bucket)?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let fate = cast(column(&batch, "fate")?, &DataType::Utf8)?;
        let numbers = cast(column(&batch, BUCKET_ROW)?, &DataType::UInt32)?;
        let ranks = cast(column(&batch, "dedup_rank")?, &DataType::UInt64)?;
        let fate_keys = FateKeys::of(fate.as_string::<i32>())?;
        let kept_mask = fate_keys.any_of(&[KEPT]);
        // The kept rows' numbers in the bucket, in output order.
        let kept = filter(&numbers, &kept_mask)?;
        let kept = kept.as_primitive::<UInt32Type>();
        let kept_ranks = filter(&ranks, &kept_mask)?;
        let kept_ranks = kept_ranks.as_primitive::<UInt64Type>();
        if explain_duplicates && !kept.is_empty() {
            winners.push(winner_batch(&rows, kept)?);
        }
        // Gathered a merge batch at a time: a slice of a batch counts as all of it in
        // the merge's memory account, so each piece is built at the size the merge reads.
        for at in (0..kept.len()).step_by(run_batch_rows.max(1)) {
            let len = run_batch_rows.min(kept.len() - at);
            let columns = judged
                .take_by_rank(&kept_ranks.slice(at, len), from_judged)?
                .into_iter()
                .chain(rows.gather(&kept.slice(at, len), &from_bucket)?)
                .collect();
            run.push(with_wide_columns(
                columns,
                wide,
                loaded.as_ref(),
                &run_schema,
            )?)?;
        }
        let reported_mask = reported(&fate_keys, explain_duplicates)?;
        if reported_mask.true_count() > 0 {
            rejects.push(reject_batch(
                &rows,
                &filter(&numbers, &reported_mask)?,
                filter(&fate, &reported_mask)?,
            )?);
        }
        fates.push(fate_keys.batch()?);
    }
    let whole = |part: Vec<RecordBatch>| -> Result<Option<RecordBatch>> {
        match part.first() {
            Some(first) => Ok(Some(concat_batches(&first.schema(), &part)?)),
            None => Ok(None),
        }
    };
    out.fates.extend(whole(fates)?);
    let rejected = whole(rejects)?;
    if let (Some(kept), Some(rejected)) = (whole(winners)?, &rejected) {
        let needed = winners_of_duplicates(&kept, rejected)?;
        if needed.num_rows() > 0 {
            out.winners.push(needed);
        }
    }
    out.rejects.extend(rejected);
    out.run_schema
        .get_or_insert_with(|| Arc::clone(maker.schema()));
    out.runs.push((id, run.finish()?));
    // The next bucket registers its own rows under the same names.
    ctx.deregister_table("bucket_fates")?;
    ctx.deregister_table("judged")?;
    Ok(())
}

/// A bucket in dedup order (dedup_order.sql's result), as one batch: its row at place `p`
/// has the dedup rank `p + 1`.
struct InDedupOrder {
    rows: RecordBatch,
}

impl InDedupOrder {
    /// The query's batches (`batches`, of `schema`), checked to be in rank order.
    fn new(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        // One batch already (`in_one_batch`), unless the bucket had no row.
        let rows = match <[RecordBatch; 1]>::try_from(batches) {
            Ok([one]) => one,
            Err(several) => concat_batches(schema, &several)?,
        };
        let ranks = cast(column(&rows, "dedup_rank")?, &DataType::UInt64)?;
        let in_order = ranks
            .as_primitive::<UInt64Type>()
            .iter()
            .zip(1..)
            .all(|(rank, place)| rank == Some(place));
        if !in_order {
            return Err(Error::Internal(
                "the bucket in dedup order came out of rank order".into(),
            ));
        }
        Ok(Self { rows })
    }

    /// The columns `names` of the rows ranked `ranks`, in that order.
    fn take_by_rank(&self, ranks: &UInt64Array, names: &[&str]) -> Result<Vec<ArrayRef>> {
        let places: UInt32Array = ranks
            .iter()
            .map(|rank| {
                rank.and_then(|r| u32::try_from(r.checked_sub(1)?).ok())
                    .filter(|&p| (p as usize) < self.rows.num_rows())
                    .ok_or_else(|| Error::Internal(format!("no row ranked {rank:?}")))
            })
            .collect::<Result<Vec<u32>>>()?
            .into();
        names
            .iter()
            .map(|name| Ok(take(column(&self.rows, name)?, &places, None)?))
            .collect()
    }
}

/// Whether a bucket's kept rows, put in order by corpus number and dedup rank
/// (fates_by_rank.sql), are in output order: when every usable row of `judged` (the
/// bucket in dedup order, dedup_order.sql) has its content hash as its dedup key and
/// its corpus a number of its own. Then within a corpus, dedup rank orders the kept rows
/// by key, which is their content hash. (A bucket whose kept rows a corpus number does
/// not tell apart, or whose hashes are not its keys, is put in order by its texts.)
fn in_output_order_by_rank(judged: &RecordBatch) -> Result<bool> {
    let reason = column(judged, "drop_reason")?;
    let hash = column(judged, "src_sha256_unless_key")?;
    let corpus = cast(column(judged, "corpus_number")?, &DataType::UInt8)?;
    let corpus = corpus.as_primitive::<UInt8Type>();
    Ok((0..judged.num_rows())
        .filter(|&i| reason.is_null(i))
        .all(|i| hash.is_null(i) && corpus.is_valid(i) && corpus.value(i) != UNNUMBERED_CORPUS))
}

/// `query` planned to hand on the bucket's rows in one batch wherever it can.
///
/// Why: a sort hands on its rows in batches of the session's size, which the window
/// after it joins back into one, copying every row (a tenth of the ranking's CPU).
async fn in_one_batch(ctx: &SessionContext, rows: usize, query: &str) -> Result<DataFrame> {
    let size = rows.max(ctx.state().config().batch_size());
    planned_with_batch_size(ctx, size, query).await
}

/// The schema of a run: `RUN_COLUMNS` as the bucket holds them, then the descriptive fields.
fn run_schema(rows: &BucketRows) -> Result<SchemaRef> {
    let fields: Vec<Field> = rows
        .fields(&RUN_COLUMNS)?
        .into_iter()
        .chain(wide_fields())
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Kept rows (`RUN_COLUMNS` and `row_ref`, as gathered) with their descriptive fields
/// gathered too, as `schema`.
fn with_wide_columns(
    mut columns: Vec<ArrayRef>,
    wide: &WideStore,
    loaded: Option<&LoadedGroup>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let row_ref = columns
        .pop()
        .ok_or_else(|| Error::Internal("kept rows gathered without row_ref".into()))?;
    let refs = cast(&row_ref, &DataType::UInt64)?;
    let gathered = wide
        .gather_from(refs.as_primitive::<UInt64Type>(), loaded)
        .map_err(|e| Error::Load(e.into()))?;
    columns.extend(gathered.columns.into_iter().map(|(_, c)| c));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The rows not kept that the run reports (`numbers`, with their `fate`), as
/// `REJECT_COLUMNS`.
fn reject_batch(rows: &BucketRows, numbers: &ArrayRef, fate: ArrayRef) -> Result<RecordBatch> {
    let from_bucket: Vec<&str> = REJECT_COLUMNS
        .iter()
        .copied()
        .filter(|&name| name != "fate")
        .collect();
    let mut gathered = rows
        .gather(numbers.as_primitive::<UInt32Type>(), &from_bucket)?
        .into_iter();
    let mut fields = rows.fields(&from_bucket)?.into_iter();
    let (mut schema, mut columns) = (Vec::new(), Vec::new());
    for name in REJECT_COLUMNS {
        if name == "fate" {
            schema.push(Field::new("fate", DataType::Utf8, true));
            columns.push(Arc::clone(&fate));
            continue;
        }
        // One field and one column for each name gathered, in order.
        let (Some(field), Some(column)) = (fields.next(), gathered.next()) else {
            return Err(Error::Internal(format!("rejects gathered without {name}")));
        };
        schema.push(field);
        columns.push(column);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(schema)),
        columns,
    )?)
}

/// The rows not kept that the run reports: all of them when duplicates are explained
/// (the rejects ledger, the DEBUG log), else only the dropped ones (a WARNING each).
/// At 10M rows the duplicates are nine in ten of the rows not kept (470k): described
/// only to be thrown away, they cost memory until the end of the run and CPU after it.
fn reported(fates: &FateKeys, explain_duplicates: bool) -> Result<BooleanArray> {
    let not_kept = not(&fates.any_of(&[KEPT]))?;
    if explain_duplicates {
        return Ok(not_kept);
    }
    Ok(and_not(&not_kept, &fates.any_of(&DUPLICATE_FATES))?)
}

/// The winners a bucket's rejects name: those whose key lost a duplicate in the
/// bucket (`rejected`, its not-kept rows). A key's rows are all in one bucket, so no
/// other winner is ever looked up; keeping only these bounds the index by the
/// duplicates (470k rows at 10M) rather than by the output (9.5M).
fn winners_of_duplicates(winners: &RecordBatch, rejected: &RecordBatch) -> Result<RecordBatch> {
    let fate = cast(column(rejected, "fate")?, &DataType::Utf8)?;
    let key = cast(column(rejected, "dedup_key")?, &DataType::Utf8)?;
    let (fate, key) = (fate.as_string::<i32>(), key.as_string::<i32>());
    let lost: HashSet<&str> = (0..rejected.num_rows())
        .filter(|&i| DUPLICATE_FATES.contains(&fate.value(i)))
        .filter(|&i| key.is_valid(i))
        .map(|i| key.value(i))
        .collect();
    let winner_key = column(winners, "dedup_key")?.as_string::<i32>();
    let wanted: BooleanArray = (0..winners.num_rows())
        .map(|i| Some(winner_key.is_valid(i) && lost.contains(winner_key.value(i))))
        .collect();
    Ok(filter_record_batch(winners, &wanted)?)
}

pub fn winners_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("dedup_key", DataType::Utf8, true),
        Field::new("input_idx", DataType::UInt32, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("corpus_source", DataType::Utf8, true),
        Field::new("mos_std_dev", DataType::Float64, false),
    ]))
}

/// The kept rows' identity (`kept`, their numbers in the bucket), in `winners_schema`.
fn winner_batch(rows: &BucketRows, kept: &UInt32Array) -> Result<RecordBatch> {
    let schema = winners_schema();
    let columns = rows
        .gather(kept, &WINNER_COLUMNS)?
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| Ok(cast(column, field.data_type())?))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn fate_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

pub fn empty_fates_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("fate", fate_type(), true)]))
}

/// The fate of a row that is written (fates.sql).
const KEPT: &str = "kept";
/// Every fate a row can have (fates.sql), in the order of the fates' dictionary.
const FATE_NAMES: [&str; 6] = [
    KEPT,
    Reason::UnknownCorpus.as_str(),
    Reason::BadScale.as_str(),
    Reason::BadValue.as_str(),
    Reason::CrossCorpusDup.as_str(),
    Reason::SameCorpusDup.as_str(),
];
/// `FATE_NAMES` as the values of the fates' dictionary: one array shared by every batch
/// of fates, so that joining them (a bucket's, then every bucket's) joins their keys only.
static FATE_VALUES: LazyLock<ArrayRef> =
    LazyLock::new(|| Arc::new(StringArray::from(FATE_NAMES.to_vec())));

/// A batch's fates as their places in `FATE_NAMES`. Each row's text is looked up once
/// (nearly always "kept", found first), where before it was compared with "kept" and
/// with each duplicate's fate, then hashed into a dictionary of its own (about 34 of
/// 5,800 samples of a 3M profile, 12 since).
struct FateKeys(Int8Array);

impl FateKeys {
    fn of(fate: &StringArray) -> Result<Self> {
        let keys = fate
            .iter()
            .map(|f| {
                f.map(|f| {
                    FATE_NAMES
                        .iter()
                        .position(|&name| name == f)
                        .and_then(|at| i8::try_from(at).ok())
                        .ok_or_else(|| Error::Internal(format!("a row's fate is {f:?}")))
                })
                .transpose()
            })
            .collect::<Result<Vec<Option<i8>>>>()?;
        Ok(Self(Int8Array::from(keys)))
    }

    /// Which rows have one of the fates `names` (null where a row has no fate).
    fn any_of(&self, names: &[&str]) -> BooleanArray {
        let wanted: Vec<i8> = FATE_NAMES
            .iter()
            .zip(0..)
            .filter(|(name, _)| names.contains(name))
            .map(|(_, key)| key)
            .collect();
        BooleanArray::from_unary(&self.0, |key| wanted.contains(&key))
    }

    /// The fate of every row, dictionary-encoded: a byte a row, even at ten million
    /// rows. Only the counters read it (counters.sql), and they count fates, not inputs:
    /// the input of each row (4 bytes more a row, 40 MB at 10M) was held to the end of
    /// the run for nothing.
    fn batch(&self) -> Result<RecordBatch> {
        let fate = DictionaryArray::<Int8Type>::try_new(self.0.clone(), Arc::clone(&FATE_VALUES))?;
        Ok(RecordBatch::try_new(
            empty_fates_schema(),
            vec![Arc::new(fate)],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, UInt32Array, UInt64Array};
    use datafusion::physical_plan::{ExecutionPlan, displayable};

    /// The columns of a bucket that dedup_order.sql reads.
    fn bucket_fields() -> Vec<Field> {
        vec![
            Field::new("bucket_row", DataType::UInt32, false),
            Field::new("input_idx", DataType::UInt32, false),
            Field::new("line", DataType::UInt64, false),
            Field::new("dedup_key", DataType::Utf8, false),
            Field::new("mos_std_dev", DataType::Float64, true),
            Field::new("drop_reason", DataType::Utf8, true),
            Field::new("corpus_source", DataType::Utf8, true),
            Field::new("corpus_number", DataType::UInt8, true),
            Field::new("src_sha256_unless_key", DataType::Utf8, true),
        ]
    }

    /// dedup_order.sql over one small bucket: its plan and its judgments.
    #[tokio::test]
    async fn dedup_order_judges_neighbours_over_the_whole_sorted_bucket() {
        let mut fields = bucket_fields();
        // A column no decision needs: the sort must not carry it.
        fields.push(Field::new("mos_native_scale", DataType::Utf8, true));
        let schema = Arc::new(Schema::new(fields));
        // Key k1: two usable rows (the tighter spread wins) and a dropped one; k2 alone;
        // k3 one usable row and a dropped one, which does not make it contested.
        let rows = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(UInt32Array::from(vec![0, 1, 2, 3, 4, 5])),
                Arc::new(UInt32Array::from(vec![0, 1, 1, 0, 2, 2])),
                Arc::new(UInt64Array::from(vec![1, 1, 2, 2, 1, 2])),
                Arc::new(StringArray::from(vec!["k1", "k1", "k2", "k3", "k1", "k3"])),
                Arc::new(Float64Array::from(vec![
                    Some(2.0),
                    Some(1.0),
                    None,
                    Some(1.0),
                    Some(0.5),
                    Some(0.1),
                ])),
                Arc::new(StringArray::from(vec![
                    None,
                    None,
                    None,
                    None,
                    Some("bad_scale"),
                    Some("bad_scale"),
                ])),
                Arc::new(StringArray::from(vec!["c"; 6])),
                Arc::new(arrow::array::UInt8Array::from(vec![1; 6])),
                Arc::new(StringArray::from(vec![None::<&str>; 6])),
                Arc::new(StringArray::from(vec!["1-5"; 6])),
            ],
        )
        .expect("rows");
        let ctx = SessionContext::new();
        ctx.register_udf(super::super::sort_prefix::udf());
        ctx.register_table(
            "bucket_rows",
            Arc::new(MemTable::try_new(schema, vec![vec![rows]]).expect("table")),
        )
        .expect("register");
        let judged = ctx.sql(sql::DEDUP_ORDER).await.expect("plan");
        // The whole-bucket frame keeps the windows on the operator that shifts whole
        // columns; the one that walks row by row would cost 4 % of the CPU at 3M rows.
        let plan = judged
            .clone()
            .create_physical_plan()
            .await
            .expect("physical");
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        assert!(shown.contains("WindowAggExec"), "{shown}");
        assert!(!shown.contains("BoundedWindowAggExec"), "{shown}");
        // Only the columns that decide are read and sorted; the rest is gathered by number.
        assert!(!shown.contains("mos_native_scale"), "{shown}");
        let batches = judged.collect().await.expect("run");
        let all = concat_batches(&batches[0].schema(), &batches).expect("concat");
        let row = column(&all, "bucket_row")
            .expect("row")
            .as_primitive::<UInt32Type>();
        let rank =
            cast(column(&all, "dedup_rank").expect("rank"), &DataType::UInt64).expect("cast");
        let rank = rank.as_primitive::<UInt64Type>();
        let flag = |name: &str, i: usize| column(&all, name).expect("flag").as_boolean().value(i);
        let judged: Vec<(u32, u64, bool, bool)> = (0..all.num_rows())
            .map(|i| {
                (
                    row.value(i),
                    rank.value(i),
                    flag("is_winner", i),
                    flag("contested", i),
                )
            })
            .collect();
        // (row, rank, is_winner, contested), in dedup order: usable rows by key, then by
        // spread; the dropped rows last. Rows 0 and 1 are input 0 line 1 and input 1
        // line 1; the spread ranks 1 first.
        assert_eq!(
            judged,
            [
                (1, 1, true, true),
                (0, 2, false, true),
                (2, 3, true, false),
                (3, 4, true, false),
                (4, 5, true, false),
                (5, 6, true, false),
            ]
        );
    }

    /// A bucket larger than the session's batch size, spooled in pieces, is judged in one
    /// batch: no operator after the sort has to join its output back together.
    #[tokio::test]
    async fn a_bucket_is_judged_in_one_batch() {
        let schema = Arc::new(Schema::new(bucket_fields()));
        let piece = |from: u32, n: u32| {
            let rows = from..from + n;
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(UInt32Array::from_iter_values(rows.clone())),
                    Arc::new(UInt32Array::from_iter_values(rows.clone().map(|_| 0))),
                    Arc::new(UInt64Array::from_iter_values(rows.clone().map(u64::from))),
                    // Every key twice, so the windows have pairs to judge.
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|r| format!("k{:06}", r / 2)),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        rows.clone().map(|r| f64::from(r % 7)),
                    )),
                    Arc::new(StringArray::from(vec![None::<&str>; n as usize])),
                    Arc::new(StringArray::from(vec!["c"; n as usize])),
                    Arc::new(arrow::array::UInt8Array::from(vec![1; n as usize])),
                    Arc::new(StringArray::from(vec![None::<&str>; n as usize])),
                ],
            )
            .expect("rows")
        };
        // One partition, as a ranking worker's session has.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        let batch_size = ctx.state().config().batch_size() as u32;
        let (first, second) = (batch_size + 1000, batch_size + 3000);
        let total = (first + second) as usize;
        ctx.register_udf(super::super::sort_prefix::udf());
        ctx.register_table(
            "bucket_rows",
            Arc::new(
                MemTable::try_new(
                    Arc::clone(&schema),
                    vec![vec![piece(0, first), piece(first, second)]],
                )
                .expect("table"),
            ),
        )
        .expect("register");
        let judged = in_one_batch(&ctx, total, sql::DEDUP_ORDER)
            .await
            .expect("plan");
        // Run as the ranking runs it: in the query's own session.
        let task = Arc::new(judged.task_ctx());
        let plan = judged.create_physical_plan().await.expect("physical");
        let batches = datafusion::physical_plan::collect(Arc::clone(&plan), Arc::clone(&task))
            .await
            .expect("run");
        // The sort before the windows hands on the bucket in one batch.
        let sort = find(&plan, "SortExec").expect("a sort");
        let sorted = datafusion::physical_plan::collect(sort, task)
            .await
            .expect("sort");
        let sorted: Vec<usize> = sorted.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sorted, [total]);
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [total]);
        // Half the rows win their key, every row is contested.
        let all = &batches[0];
        let winners = column(all, "is_winner").expect("flag").as_boolean();
        assert_eq!(winners.true_count(), total / 2);
        let contested = column(all, "contested").expect("flag").as_boolean();
        assert_eq!(contested.true_count(), total);
    }

    /// The first operator named `name` in `plan`, depth first.
    fn find(plan: &Arc<dyn ExecutionPlan>, name: &str) -> Option<Arc<dyn ExecutionPlan>> {
        if plan.name() == name {
            return Some(Arc::clone(plan));
        }
        plan.children().into_iter().find_map(|c| find(c, name))
    }

    /// Which buckets are put in output order by corpus number and dedup rank: those whose
    /// usable rows all have their hash as key and a corpus number of their own. The rows
    /// that cannot be used (an unknown corpus has no number) do not count.
    #[test]
    fn a_bucket_is_ordered_by_rank_only_when_its_usable_rows_allow_it() {
        type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<u8>);
        fn by_rank(rows: &[Row]) -> bool {
            let judged = RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("drop_reason", DataType::Utf8, true),
                    Field::new("src_sha256_unless_key", DataType::Utf8, true),
                    Field::new("corpus_number", DataType::UInt8, true),
                ])),
                vec![
                    Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
                    Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                    Arc::new(arrow::array::UInt8Array::from_iter(
                        rows.iter().map(|r| r.2),
                    )),
                ],
            )
            .expect("judged");
            in_output_order_by_rank(&judged).expect("checked")
        }
        let usable = (None, None, Some(3));
        let unknown = (Some("unknown_corpus"), Some(""), None);
        let past_254 = (Some("bad_scale"), None, Some(255));
        assert!(by_rank(&[usable, unknown, past_254, usable]));
        assert!(by_rank(&[]));
        // A usable row whose hash is not its key, or whose corpus has no number of its own.
        assert!(!by_rank(&[usable, (None, Some(""), Some(3))]));
        assert!(!by_rank(&[(None, None, Some(255)), usable]));
        assert!(!by_rank(&[(None, None, None)]));
    }

    /// A bucket in dedup order is read by rank; one out of rank order is an error, not
    /// wrong columns.
    #[test]
    fn the_bucket_in_dedup_order_is_read_by_rank() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("dedup_rank", DataType::UInt64, false),
            Field::new("dedup_key", DataType::Utf8, false),
        ]));
        let batch = |ranks: Vec<u64>, keys: Vec<&str>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(UInt64Array::from(ranks)),
                    Arc::new(StringArray::from(keys)),
                ],
            )
            .expect("batch")
        };
        let judged = InDedupOrder::new(
            &schema,
            vec![batch(vec![1, 2], vec!["a", "b"]), batch(vec![3], vec!["c"])],
        )
        .expect("in rank order");
        let taken = judged
            .take_by_rank(&UInt64Array::from(vec![3, 1]), &["dedup_key"])
            .expect("taken");
        let keys: Vec<&str> = taken[0].as_string::<i32>().iter().flatten().collect();
        assert_eq!(keys, ["c", "a"]);
        assert!(
            judged
                .take_by_rank(&UInt64Array::from(vec![4]), &["dedup_key"])
                .is_err()
        );
        assert!(
            judged
                .take_by_rank(&UInt64Array::from(vec![0]), &["dedup_key"])
                .is_err()
        );
        assert!(InDedupOrder::new(&schema, vec![batch(vec![2, 1], vec!["b", "a"])]).is_err());
    }

    #[test]
    fn duplicates_are_reported_only_when_they_are_explained() {
        let fate = StringArray::from(vec![
            "kept",
            "cross_corpus_dup",
            "bad_scale",
            "same_corpus_dup",
            "unknown_corpus",
            "bad_value",
        ]);
        let fates = FateKeys::of(&fate).expect("known fates");
        let rows = |explain| -> Vec<usize> {
            let mask = reported(&fates, explain).expect("mask");
            (0..mask.len()).filter(|&i| mask.value(i)).collect()
        };
        assert_eq!(rows(true), [1, 2, 3, 4, 5]);
        assert_eq!(rows(false), [2, 4, 5]);
    }

    #[test]
    fn fates_are_keyed_once_and_share_one_dictionary() {
        let texts = StringArray::from(vec![
            Some("same_corpus_dup"),
            Some("kept"),
            None,
            Some("bad_value"),
            Some("kept"),
            Some("unknown_corpus"),
        ]);
        let fates = FateKeys::of(&texts).expect("known fates");
        let kept: Vec<Option<bool>> = fates.any_of(&[KEPT]).iter().collect();
        assert_eq!(
            kept,
            [
                Some(false),
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(false)
            ]
        );
        // The batches of two buckets, joined as the run joins them: the text of every
        // row comes back, under the one dictionary of every fate.
        let first = fates.batch().expect("batch");
        let second = FateKeys::of(&StringArray::from(vec!["cross_corpus_dup", "bad_scale"]))
            .expect("known fates")
            .batch()
            .expect("batch");
        let both = concat_batches(&empty_fates_schema(), &[first, second]).expect("concat");
        let dictionary = both.column(0).as_dictionary::<Int8Type>();
        assert_eq!(dictionary.values().len(), FATE_NAMES.len());
        let back = cast(both.column(0), &DataType::Utf8).expect("text");
        let back: Vec<Option<&str>> = back.as_string::<i32>().iter().collect();
        let mut expected: Vec<Option<&str>> = texts.iter().collect();
        expected.extend([Some("cross_corpus_dup"), Some("bad_scale")]);
        assert_eq!(back, expected);
        // A fate the queries never make is a fault, not a row counted under nothing.
        assert!(FateKeys::of(&StringArray::from(vec!["kept", "lost"])).is_err());
    }

    #[test]
    fn only_the_winners_a_duplicate_lost_to_are_kept() {
        let winners = RecordBatch::try_new(
            winners_schema(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
                Arc::new(UInt32Array::from(vec![0, 0, 1, 1])),
                Arc::new(UInt64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec!["x", "x", "y", "y"])),
                Arc::new(Float64Array::from(vec![0.1, 0.2, 0.3, 0.4])),
            ],
        )
        .expect("winners");
        // Key a lost a cross-corpus duplicate, d a same-corpus one; c's row was dropped
        // for its scale (its key names no winner); b lost nothing.
        let rejected = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("fate", DataType::Utf8, false),
                Field::new("dedup_key", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec![
                    "cross_corpus_dup",
                    "bad_scale",
                    "same_corpus_dup",
                    "same_corpus_dup",
                ])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("c"),
                    Some("d"),
                    None,
                ])),
            ],
        )
        .expect("rejected");
        let kept = winners_of_duplicates(&winners, &rejected).expect("filter");
        let keys = column(&kept, "dedup_key").expect("key").as_string::<i32>();
        let keys: Vec<&str> = keys.iter().flatten().collect();
        assert_eq!(keys, ["a", "d"]);
        assert_eq!(kept.schema(), winners_schema());
    }
}
