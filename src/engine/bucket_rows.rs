//! One bucket's rows, held whole while the bucket is ranked, each numbered by its
//! place in the bucket (`bucket_row`), and gathered by that number afterwards.
//!
//! Why: the ranking's queries sort the bucket twice, and a sort copies every column
//! it carries, twice (DataFusion joins the batches into one, then takes the rows in
//! order). Most of a row's columns decide nothing there (the unified MOS, its scale,
//! the problems found with a value): the queries read only the columns a decision or
//! the output order needs, plus the row's number, and name each row's fate by number.
//! The columns the runs and the rejects ledger need are then gathered here, once, for
//! the rows that need them, in the order the queries gave.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat, interleave, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};

use super::results::column;
use super::spool::Spooled;
use crate::error::{Error, Result};

/// The column that numbers a bucket's rows, 0 to n - 1 in the order they were spooled.
pub const BUCKET_ROW: &str = "bucket_row";

/// A bucket's rows in memory, accounted in a ranking worker's pool until dropped.
pub struct BucketRows {
    /// The spooled batches, each with `BUCKET_ROW` added as its last column.
    batches: Vec<RecordBatch>,
    /// The number of the first row of each batch.
    starts: Vec<u32>,
    /// How many rows the bucket holds.
    total: u32,
    schema: SchemaRef,
    /// Columns joined into one array across the batches (`hold_whole`), gathered with
    /// `take` rather than `interleave`.
    whole: HashMap<String, ArrayRef>,
    held: MemoryReservation,
}

impl BucketRows {
    /// Reads the whole bucket back from its spool (memory or disk) and numbers its rows.
    pub async fn read(spooled: Spooled, pool: &Arc<dyn MemoryPool>) -> Result<Self> {
        let spooled_schema = Arc::clone(spooled.schema());
        let batches = spooled.collect().await?;
        // Accounted, never refused: a bucket is sized to a sixth of its worker's pool
        // (bucketing.rs), and should a skewed one be larger, the sorts spill what
        // they copy of it. Counted by the rows' own bytes: a bucket's batches may be
        // slices of the scan's, whose whole buffers other buckets share.
        let held = MemoryConsumer::new("BucketRows").register(pool);
        for batch in &batches {
            for column in batch.columns() {
                held.grow(column.to_data().get_slice_memory_size()?);
            }
        }
        Self::numbered(&spooled_schema, batches, held)
    }

    fn numbered(
        spooled: &SchemaRef,
        batches: Vec<RecordBatch>,
        held: MemoryReservation,
    ) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            spooled
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .chain([Field::new(BUCKET_ROW, DataType::UInt32, false)])
                .collect::<Vec<_>>(),
        ));
        let mut starts = Vec::with_capacity(batches.len());
        let mut next: u32 = 0;
        let numbered = batches
            .into_iter()
            .map(|batch| {
                let end = u32::try_from(batch.num_rows())
                    .ok()
                    .and_then(|n| next.checked_add(n))
                    .ok_or_else(|| Error::Internal("a bucket holds 2^32 rows or more".into()))?;
                starts.push(next);
                let numbers: ArrayRef = Arc::new(UInt32Array::from_iter_values(next..end));
                next = end;
                let columns = batch.columns().iter().cloned().chain([numbers]).collect();
                Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            batches: numbered,
            starts,
            total: next,
            schema,
            whole: HashMap::new(),
            held,
        })
    }

    /// How many rows the bucket holds.
    pub fn row_count(&self) -> usize {
        self.total as usize
    }

    /// The rows as a table for the ranking's first query (one partition, no copy).
    pub fn table(&self) -> Result<MemTable> {
        Ok(MemTable::try_new(
            Arc::clone(&self.schema),
            vec![self.batches.clone()],
        )?)
    }

    /// Joins the columns `names` into one array each, for `gather` to take from.
    ///
    /// Why: the kept rows' columns are gathered in output order from all over the
    /// bucket's batches. Across batches that is an `interleave`, after a search for
    /// each row's batch; from one array, a `take`. The ranking gathers the run's
    /// columns of nearly every row (nine in ten are kept), and gathering them was a
    /// fifth of its time on the realistic set; joining a column costs one copy of it.
    pub fn hold_whole(&mut self, names: &[&str]) -> Result<()> {
        for &name in names {
            if self.whole.contains_key(name) || self.batches.len() < 2 {
                continue;
            }
            let parts: Vec<&dyn Array> = self
                .batches
                .iter()
                .map(|b| column(b, name).map(|c| c.as_ref()))
                .collect::<Result<_>>()?;
            let joined = concat(&parts)?;
            // Accounted with the rows, like them never refused (see `read`).
            self.held.grow(joined.get_array_memory_size());
            self.whole.insert(name.to_owned(), joined);
        }
        Ok(())
    }

    /// The columns `names` of the rows numbered `rows`, in that order.
    pub fn gather(&self, rows: &UInt32Array, names: &[&str]) -> Result<Vec<ArrayRef>> {
        if let Some(&max) = rows.values().iter().max()
            && max >= self.total
        {
            return Err(Error::Internal(format!(
                "bucket row {max} named, of {} rows",
                self.total
            )));
        }
        // Taken when every column is in one array: joined, or the bucket's one batch.
        let whole: Option<Vec<ArrayRef>> = names
            .iter()
            .map(|&name| match self.batches.as_slice() {
                [only] => only.column_by_name(name).cloned(),
                _ => self.whole.get(name).cloned(),
            })
            .collect();
        if let Some(columns) = whole {
            return columns
                .iter()
                .map(|column| Ok(take(column, rows, None)?))
                .collect();
        }
        let places: Vec<(usize, usize)> = rows
            .values()
            .iter()
            .map(|&row| {
                // The last batch that starts at or before the row (an empty batch
                // starts where the next one does, and holds none).
                let batch = self.starts.partition_point(|&start| start <= row) - 1;
                (batch, (row - self.starts[batch]) as usize)
            })
            .collect();
        names
            .iter()
            .map(|name| {
                let parts: Vec<&dyn Array> = self
                    .batches
                    .iter()
                    .map(|b| column(b, name).map(|c| c.as_ref()))
                    .collect::<Result<_>>()?;
                Ok(interleave(&parts, &places)?)
            })
            .collect()
    }

    /// The fields `names` as the bucket has them.
    pub fn fields(&self, names: &[&str]) -> Result<Vec<Field>> {
        names
            .iter()
            .map(|name| Ok(self.schema.field_with_name(name)?.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::UInt32Type;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    fn rows(schema: &SchemaRef, keys: &[&str]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![Arc::new(StringArray::from(keys.to_vec()))],
        )
        .expect("batch")
    }

    #[test]
    fn rows_are_numbered_across_batches_and_gathered_by_number_in_any_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)]));
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 20));
        let held = MemoryConsumer::new("test").register(&pool);
        let batches = vec![
            rows(&schema, &["a", "b", "c"]),
            rows(&schema, &[]),
            rows(&schema, &["d"]),
            rows(&schema, &["e", "f"]),
        ];
        let mut bucket = BucketRows::numbered(&schema, batches, held).expect("numbered");
        let numbers: Vec<u32> = bucket
            .batches
            .iter()
            .flat_map(|b| {
                column(b, BUCKET_ROW)
                    .expect("numbers")
                    .as_primitive::<UInt32Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5]);
        let picked = bucket
            .gather(
                &UInt32Array::from(vec![5, 0, 3, 2, 3]),
                &["key", BUCKET_ROW],
            )
            .expect("gather");
        let keys: Vec<&str> = picked[0].as_string::<i32>().iter().flatten().collect();
        assert_eq!(keys, ["f", "a", "d", "c", "d"]);
        assert_eq!(
            picked[1].as_primitive::<UInt32Type>().values().to_vec(),
            [5, 0, 3, 2, 3]
        );
        assert!(
            bucket
                .gather(&UInt32Array::from(vec![0]), &["nope"])
                .is_err()
        );
        assert!(
            bucket
                .gather(&UInt32Array::from(vec![6]), &["key"])
                .is_err()
        );

        // Joined into whole columns, one of them and then both: the same rows, taken.
        let accounted = bucket.held.size();
        for held in [&["key"][..], &["key", BUCKET_ROW][..]] {
            bucket.hold_whole(held).expect("whole");
            let again = bucket
                .gather(
                    &UInt32Array::from(vec![5, 0, 3, 2, 3]),
                    &["key", BUCKET_ROW],
                )
                .expect("gather");
            assert_eq!(again, picked);
        }
        assert_eq!(bucket.whole.len(), 2);
        assert!(
            bucket.held.size() > accounted,
            "the joined columns are accounted"
        );
        assert!(
            bucket
                .gather(&UInt32Array::from(vec![0, 6]), &["key"])
                .is_err()
        );
        assert!(bucket.hold_whole(&["nope"]).is_err());
    }

    #[test]
    fn a_bucket_of_one_batch_is_gathered_from_it() {
        let schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)]));
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 20));
        let held = MemoryConsumer::new("test").register(&pool);
        let mut bucket = BucketRows::numbered(&schema, vec![rows(&schema, &["a", "b", "c"])], held)
            .expect("numbered");
        bucket.hold_whole(&["key"]).expect("whole");
        // Nothing to join: the one batch's columns are taken from as they are.
        assert!(bucket.whole.is_empty());
        let picked = bucket
            .gather(&UInt32Array::from(vec![2, 0]), &["key"])
            .expect("gather");
        let keys: Vec<&str> = picked[0].as_string::<i32>().iter().flatten().collect();
        assert_eq!(keys, ["c", "a"]);
        assert!(
            bucket
                .gather(&UInt32Array::from(vec![3]), &["key"])
                .is_err()
        );
    }
}
