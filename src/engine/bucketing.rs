//! How the rows are split into buckets of keys, and the splitting itself.
//!
//! The dedup needs every row of a key side by side, and the output needs the kept rows
//! in one global order. Sorting every row globally (three times, for two windows and
//! the output order) is what made large runs slow and hungry: the sorts spilled more
//! than the input and, sharing one memory pool, could fail to merge their own spill
//! files. Instead the scan's narrow rows are split by a hash of the dedup key into
//! buckets small enough to rank in memory; each bucket is ranked on its own, on every
//! core at once; and the buckets' kept rows, each already in output order, are merged.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{concat_batches, interleave_record_batch};
use arrow::datatypes::{Int32Type, SchemaRef};

use datafusion::execution::disk_manager::DiskManager;

use super::key_bucket::Spread;
use super::spool::{Spool, SpoolBudget, SpoolMaker, Spooled};
use crate::error::{Error, Result};
use crate::loader::scan::BATCH_ROWS as SCAN_BATCH_ROWS;

/// Memory of the narrow rows per byte of JSONL input, generously: measured at about
/// 0.45 on shards shaped like the adapters' output when a row carried its 64-character
/// hash twice. It now carries it once from the scan to the merge (unified.sql,
/// output_order.sql): more generous still, and kept, the margin being cheap.
const NARROW_BYTES_PER_INPUT_BYTE: f64 = 0.6;
/// A narrow row's size in memory, for sizing batches; measured at about 230 bytes with
/// the hash twice (see above).
const NARROW_ROW_BYTES: usize = 256;
/// A ranked row's size in the merge (the columns the writers need, descriptive fields
/// included, the hash restored), for sizing its batches; about 350 bytes on the
/// adapters' shards.
const RUN_ROW_BYTES: usize = 384;
/// One bucket's rows are at most this part of its ranking worker's pool: ranking a
/// bucket holds it about three times (the dedup-order sort, the bucket in that order,
/// and the output sort, each filling while the one before still holds its rows), with
/// as much again to spare.
/// With two workers, a bucket is 1/24 of the limit.
const BUCKET_SHARE_OF_WORKER: usize = 6;
const MAX_BUCKET_BYTES: usize = 256 << 20;
const MAX_BUCKETS: usize = 4096;
const MIN_BATCH_ROWS: usize = 128;
const MAX_BATCH_ROWS: usize = 8192;
/// The fewest rows a scan worker gathers per bucket before handing them over, when it
/// splits its rows by bucket: smaller batches would cost more on their way through the
/// query than the copy they save.
const MIN_SPLIT_ROWS: usize = 1024;

/// How one aggregation splits and ranks its rows, from the size of its inputs and
/// `--memory-limit`. Every share below comes out of the limit:
///
/// | share | what |
/// |---|---|
/// | 1/8 | the wide row store (`WIDE_SHARE_OF_LIMIT` in aggregate.rs) |
/// | 1/32 | the wide row store's open segments, one per bucket and scan worker |
/// | 1/4 | spools kept in memory rather than on disk |
/// | 1/16 | rows waiting to be spooled, across all buckets |
/// | 1/16 | when the scan splits its rows by bucket (`split_scan`), its batches in the making (the rows waiting above are then only the few batches of mixed buckets) |
/// | 1/2 | the ranking workers, a fixed part each, while they run (a bucket's rows, its sorts, and its descriptive fields read back from the staging file) |
/// | 1/4 | the final merge, while it runs (the workers have finished) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketPlan {
    pub buckets: usize,
    /// Buckets ranked at once, each on its own core.
    pub workers: usize,
    /// Memory pool of each ranking worker.
    pub worker_memory: usize,
    /// Memory all spools together may hold before they write to disk.
    pub spool_memory: usize,
    /// Rows of each bucket's spooled batches, on average: the scan's rows wait until
    /// this many per bucket have arrived (the 1/16 share above).
    pub spool_batch_rows: usize,
    /// Batch size of the ranked buckets: the final merge holds a few batches of each.
    pub run_batch_rows: usize,
    /// The scan hands over each bucket's rows in batches of their own, of this many
    /// rows, which go to the bucket's spool whole (see `Bucketer::push`), when a batch of
    /// at least `MIN_SPLIT_ROWS` rows per bucket and scan worker fits in its share above.
    /// Handing each bucket its rows from the scan, rather than splitting every batch on
    /// one thread after the query, took a fifth off the wall time at 10M rows.
    pub split_scan: Option<usize>,
    /// How keys are spread over the buckets (`key_bucket`): by range, the run has one
    /// bucket more, for the rows without a content hash.
    pub spread: Spread,
}

impl BucketPlan {
    pub fn new(input_bytes: u64, memory_limit: usize, cores: usize) -> Self {
        let workers = cores.max(1);
        let worker_memory = memory_limit / 2 / workers;
        let narrow = (input_bytes as f64 * NARROW_BYTES_PER_INPUT_BYTE) as usize;
        let bucket_bytes =
            (worker_memory / BUCKET_SHARE_OF_WORKER).clamp(1 << 20, MAX_BUCKET_BYTES);
        let buckets = narrow.div_ceil(bucket_bytes).clamp(workers, MAX_BUCKETS);
        let rows_within = |bytes: usize, copies: usize, row_bytes: usize| {
            (bytes / (buckets * copies * row_bytes)).clamp(MIN_BATCH_ROWS, MAX_BATCH_ROWS)
        };
        Self {
            buckets,
            workers,
            worker_memory,
            spool_memory: memory_limit / 4,
            spool_batch_rows: rows_within(memory_limit / 16, 1, NARROW_ROW_BYTES),
            // The merge holds each bucket's current batch, one read ahead, and their
            // sort keys.
            run_batch_rows: rows_within(memory_limit / 4, 4, RUN_ROW_BYTES),
            // A batch in the making per bucket and per core, and one for the rows without
            // a content hash.
            split_scan: Some(
                (memory_limit / 16 / ((buckets + 1) * workers * NARROW_ROW_BYTES))
                    .min(SCAN_BATCH_ROWS),
            )
            .filter(|&rows| rows >= MIN_SPLIT_ROWS),
            spread: Spread::Hash,
        }
    }

    /// The same plan, with the keys spread the `spread` way.
    pub fn spread_by(self, spread: Spread) -> Self {
        Self { spread, ..self }
    }

    /// Buckets the rows are split into (one more than `buckets` when spread by range).
    pub fn spools(&self) -> usize {
        self.spread.buckets(self.buckets)
    }
}

/// Splits the scan's rows by their `bucket` column into one spool per bucket.
///
/// The scan's batches wait whole, and each bucket notes which of their rows are its
/// own; once about a batch per bucket has arrived, every bucket gathers its rows into
/// one compact batch and spools it. Each row is copied once on its way to its spool,
/// where gathering each batch's rows per bucket and then joining a bucket's pieces
/// copied it twice: the scan's narrow rows are the biggest data the run moves. A batch
/// whose rows are all of one bucket (the scan splits them so when there are few
/// buckets) is spooled as it is, with no copy at all.
pub struct Bucketer {
    spools: Vec<Spool>,
    /// The scan's batches (without `bucket`) whose rows are not spooled yet.
    waiting: Vec<RecordBatch>,
    waiting_rows: usize,
    /// Each bucket's waiting rows: (batch in `waiting`, row in it).
    rows_of: Vec<Vec<(usize, usize)>>,
    /// Rows that wait, across all buckets, before every bucket is spooled.
    flush_rows: usize,
    /// Every column but `bucket`, which the ranking does not need.
    keep: Vec<usize>,
    bucket_column: usize,
    schema: SchemaRef,
    /// Rows spooled in the scan's own batches, and rows gathered from mixed ones.
    rows_whole: u64,
    rows_gathered: u64,
}

impl Bucketer {
    /// `scanned` is the schema of the rows with their bucket; they are spooled without
    /// it, in the run's spill folder (`disk`), within the shared `budget`, in batches
    /// of about `batch_rows`.
    pub fn new(
        scanned: &SchemaRef,
        disk: Arc<DiskManager>,
        budget: Arc<SpoolBudget>,
        buckets: usize,
        batch_rows: usize,
    ) -> Result<Self> {
        let bucket_column = scanned.index_of("bucket")?;
        let keep: Vec<usize> = (0..scanned.fields().len())
            .filter(|&i| i != bucket_column)
            .collect();
        let schema = Arc::new(scanned.project(&keep)?);
        let maker = SpoolMaker::new(disk, Arc::clone(&schema), budget);
        let buckets = buckets.max(1);
        Ok(Self {
            spools: (0..buckets).map(|_| maker.spool()).collect(),
            waiting: Vec::new(),
            waiting_rows: 0,
            rows_of: vec![Vec::new(); buckets],
            flush_rows: buckets * batch_rows.max(1),
            keep,
            bucket_column,
            schema,
            rows_whole: 0,
            rows_gathered: 0,
        })
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let n = self.spools.len();
        let at = self.waiting.len();
        if n > 1 {
            let bucket = batch
                .column(self.bucket_column)
                .as_primitive_opt::<Int32Type>();
            let bucket =
                bucket.ok_or_else(|| Error::Internal("key_bucket did not return Int32".into()))?;
            if let Some(k) = only_bucket(bucket) {
                // A batch of one bucket's rows (the scan split them): spooled as it is,
                // with no copy. Rows reach a bucket in no particular order either way.
                self.spools[k as usize % n].push(batch.project(&self.keep)?)?;
                self.rows_whole += rows as u64;
                return Ok(());
            }
            for i in 0..rows {
                // A null key (no corpus label) has no dedup partner: any bucket will do.
                let k = if bucket.is_null(i) {
                    0
                } else {
                    bucket.value(i) as usize % n
                };
                self.rows_of[k].push((at, i));
            }
        }
        self.waiting.push(batch.project(&self.keep)?);
        self.waiting_rows += rows;
        self.rows_gathered += rows as u64;
        if self.waiting_rows >= self.flush_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// One compact batch of each bucket's waiting rows into its spool.
    fn flush(&mut self) -> Result<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        if self.spools.len() == 1 {
            // One bucket holds every row, in order.
            let batch = concat_batches(&self.schema, &self.waiting)?;
            self.spools[0].push(batch)?;
        } else {
            let waiting: Vec<&RecordBatch> = self.waiting.iter().collect();
            for (spool, rows) in self.spools.iter_mut().zip(&mut self.rows_of) {
                if !rows.is_empty() {
                    spool.push(interleave_record_batch(&waiting, rows)?)?;
                    rows.clear();
                }
            }
        }
        self.waiting.clear();
        self.waiting_rows = 0;
        Ok(())
    }

    /// Every bucket's rows, spooled.
    pub fn finish(mut self) -> Result<Vec<Spooled>> {
        self.flush()?;
        log::debug!(
            "bucket spools: {} rows in the scan's own batches, {} gathered row by row",
            self.rows_whole,
            self.rows_gathered
        );
        self.spools
            .into_iter()
            .map(|s| s.finish().map_err(Error::from))
            .collect()
    }
}

/// The bucket of every row, when they all have the same one (and none is null).
fn only_bucket(bucket: &arrow::array::Int32Array) -> Option<i32> {
    let first = *bucket.values().first()?;
    (bucket.null_count() == 0 && bucket.values().iter().all(|&b| b == first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::disk_manager::DiskManagerBuilder;
    use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};

    /// Scanned rows of an `id` and its `bucket`.
    fn scanned() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("bucket", DataType::Int32, true),
        ]))
    }

    /// A bucketer of `scanned` rows with room for everything in memory.
    fn bucketer(buckets: usize, batch_rows: usize) -> Bucketer {
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 30));
        let disk = Arc::new(DiskManagerBuilder::default().build().expect("disk"));
        let budget = SpoolBudget::new(&pool, 1 << 30);
        Bucketer::new(&scanned(), disk, budget, buckets, batch_rows).expect("bucketer")
    }

    fn push(bucketer: &mut Bucketer, ids: Vec<i64>, buckets: Int32Array) {
        let batch = RecordBatch::try_new(
            scanned(),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(buckets)],
        )
        .expect("batch");
        bucketer.push(&batch).expect("push");
    }

    #[tokio::test]
    async fn every_row_lands_in_its_bucket_once() {
        let mut bucketer = bucketer(3, 4);
        let bucket_of = |i: i64| (i % 5 != 4).then_some((i % 3) as i32);
        for from in [0i64, 10] {
            let ids: Vec<i64> = (from..from + 10).collect();
            let buckets: Int32Array = ids.iter().map(|&i| bucket_of(i)).collect();
            push(&mut bucketer, ids, buckets);
        }
        let mut seen = Vec::new();
        for (k, spooled) in bucketer.finish().expect("finish").into_iter().enumerate() {
            for b in spooled.collect().await.expect("collect") {
                assert_eq!(b.num_columns(), 1, "the bucket column is not spooled");
                let ids = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
                for &i in ids.values() {
                    // Null buckets go to bucket 0.
                    assert_eq!(bucket_of(i).unwrap_or(0) as usize, k, "row {i}");
                    seen.push(i);
                }
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn one_bucket_holds_every_row_in_input_order() {
        let mut bucketer = bucketer(1, 4);
        for from in [0i64, 3, 6] {
            let ids: Vec<i64> = (from..from + 3).collect();
            push(
                &mut bucketer,
                ids,
                Int32Array::from(vec![Some(5), None, Some(7)]),
            );
        }
        let spooled = bucketer.finish().expect("finish");
        assert_eq!(spooled.len(), 1);
        let batches = spooled.into_iter().next().expect("bucket").collect().await;
        let batches = batches.expect("collect");
        // Six rows reached the batch size: one batch of six, then the last three.
        let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, [6, 3]);
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, (0..9).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_batch_of_one_bucket_is_spooled_whole_and_mixed_ones_row_by_row() {
        let mut bucketer = bucketer(3, 100);
        let ids = Int64Array::from((0..10).collect::<Vec<i64>>());
        let whole_buffer = ids.values().inner().as_ptr();
        let batch = RecordBatch::try_new(
            scanned(),
            vec![Arc::new(ids), Arc::new(Int32Array::from(vec![4; 10]))],
        )
        .expect("batch");
        bucketer.push(&batch).expect("push");
        // A null bucket among equal ones, and mixed buckets: taken apart.
        push(
            &mut bucketer,
            vec![10, 11],
            Int32Array::from(vec![Some(1), None]),
        );
        push(&mut bucketer, vec![12, 13], Int32Array::from(vec![1, 2]));
        let mut spooled = Vec::new();
        for bucket in bucketer.finish().expect("finish") {
            spooled.push(bucket.collect().await.expect("collect"));
        }
        let ids = |batches: &[RecordBatch]| -> Vec<i64> {
            let mut ids: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    let c = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
                    c.values().to_vec()
                })
                .collect();
            ids.sort_unstable();
            ids
        };
        // Bucket 4 of 3 is bucket 1, as row by row.
        assert_eq!(ids(&spooled[0]), [11]);
        assert_eq!(ids(&spooled[1]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
        assert_eq!(ids(&spooled[2]), [13]);
        // The one-bucket batch is the scan's own memory, not a copy.
        let first = spooled[1][0]
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(first.len(), 10);
        assert_eq!(first.values().inner().as_ptr(), whole_buffer);
    }

    #[test]
    fn small_inputs_get_one_bucket_per_core_and_big_ones_fit_the_limit() {
        let realistic = BucketPlan::new(85_000_000, 1 << 30, 2);
        assert_eq!(realistic.buckets, 2);
        assert_eq!(realistic.run_batch_rows, MAX_BATCH_ROWS);
        // A scan batch in the making per bucket and core fits: the scan splits the rows,
        // in batches of the scan's usual size.
        assert_eq!(realistic.split_scan, Some(SCAN_BATCH_ROWS));
        // Many buckets: smaller batches, within their share of the limit; too many for
        // batches of `MIN_SPLIT_ROWS`, none.
        let tenfold = BucketPlan::new(4_400_000_000, 1 << 30, 2);
        assert_eq!(tenfold.split_scan, Some(2148), "{tenfold:?}");
        let making = (tenfold.buckets + 1) * tenfold.workers * 2148 * NARROW_ROW_BYTES;
        assert!(making <= (1 << 30) / 16, "{tenfold:?}");
        for limit in [512usize << 20, 256 << 20] {
            let plan = BucketPlan::new(4_400_000_000, limit, 2);
            assert_eq!(plan.split_scan, None, "{plan:?}");
        }

        let big = BucketPlan::new(4_400_000_000, 256 << 20, 2);
        let per_bucket = 4_400_000_000f64 * NARROW_BYTES_PER_INPUT_BYTE / big.buckets as f64;
        assert_eq!(big.worker_memory, 64 << 20);
        assert!(per_bucket <= (big.worker_memory / BUCKET_SHARE_OF_WORKER) as f64);
        // The merge's batches of every bucket, and the rows waiting to be spooled,
        // stay within their shares of the limit.
        assert!(big.buckets * 4 * big.run_batch_rows * RUN_ROW_BYTES <= (64 << 20));
        assert!(big.buckets * big.spool_batch_rows * NARROW_ROW_BYTES <= (16 << 20));

        // More cores: more, smaller buckets, each still within its worker's share.
        let many = BucketPlan::new(4_400_000_000, 1 << 30, 16);
        assert_eq!(many.workers, 16);
        assert!(many.buckets > big.buckets / 2);
        let per_bucket = 4_400_000_000f64 * NARROW_BYTES_PER_INPUT_BYTE / many.buckets as f64;
        assert!(per_bucket <= (many.worker_memory / BUCKET_SHARE_OF_WORKER) as f64);
    }
}
