//! The kept rows of buckets that are ranges of keys, in output order, with no merge.
//!
//! When the keys are spread over the buckets by range (src/engine/key_bucket.rs), every
//! key of a bucket sorts before every key of the next one, and each bucket's kept rows
//! (its run) are in output order already: by corpus, then content hash, which for these
//! rows is the key. So within a corpus the output is the runs' rows of that corpus, one
//! run after the other, and the whole output is that, corpus after corpus. Handed to
//! output_order.sql as one partition known to be in its order, the rows pass through as
//! slices of the runs' own batches: no row is compared with another, and none copied.
//! (A merge of all the runs compares every row and copies every column of every row
//! into new batches: a tenth of the CPU at 10M rows.)

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use super::spool::{ReadOnce, Spooled};

/// The column the runs' output order starts with.
const CORPUS: &str = "corpus_source";

/// Whether runs of `schema` can be laid end to end: they need the corpus as text.
pub fn can_lay(schema: &SchemaRef) -> bool {
    schema
        .field_with_name(CORPUS)
        .is_ok_and(|f| f.data_type() == &DataType::Utf8)
}

/// The runs of range buckets (`runs`, in the order of their ranges, each in output
/// order, all of `schema`; see [`can_lay`]), as one partition in output order.
pub fn laid_end_to_end(schema: SchemaRef, runs: Vec<Spooled>) -> ReadOnce<Vec<Spooled>> {
    ReadOnce::new("RangeRuns", schema, runs, |schema, runs| {
        let laying = Laying::new(schema, runs)?;
        let stream = futures::stream::try_unfold(laying, |mut l| async move {
            Ok(l.next_slice().await?.map(|slice| (slice, l)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(schema),
            stream,
        )))
    })
}

/// One run being read: its stream (None once it has ended), its current batch, and the
/// first row not yet handed on.
struct Cursor {
    stream: Option<SendableRecordBatchStream>,
    batch: Option<RecordBatch>,
    at: usize,
}

impl Cursor {
    /// The current batch with rows left, reading the next when the last is used up;
    /// None at the run's end. An ended run's stream is dropped there and then, and with
    /// it its file and the memory its spool held, and it is never polled again.
    async fn head(&mut self) -> DfResult<Option<RecordBatch>> {
        while self.batch.as_ref().is_none_or(|b| self.at >= b.num_rows()) {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            match stream.next().await.transpose()? {
                Some(b) => {
                    self.batch = Some(b);
                    self.at = 0;
                }
                None => {
                    self.batch = None;
                    self.stream = None;
                    return Ok(None);
                }
            }
        }
        Ok(self.batch.clone())
    }
}

/// The corpus of row `row` of `batch` (None for a null, which sorts last).
fn corpus_at(batch: &RecordBatch, column: usize, row: usize) -> DfResult<Option<Vec<u8>>> {
    let corpora = corpora(batch, column)?;
    Ok(corpora
        .is_valid(row)
        .then(|| corpora.value(row).as_bytes().to_vec()))
}

fn corpora(batch: &RecordBatch, column: usize) -> DfResult<&StringArray> {
    batch
        .column(column)
        .as_string_opt::<i32>()
        .ok_or_else(|| DataFusionError::Internal(format!("{CORPUS} is not text in a run")))
}

/// Nulls last, as the output order has them.
fn sorts_before(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Lays the runs end to end, corpus by corpus.
struct Laying {
    cursors: Vec<Cursor>,
    column: usize,
    /// The corpus being laid out (the least at the head of any run), and the run whose
    /// rows of it come next.
    corpus: Option<(Option<Vec<u8>>, usize)>,
}

impl Laying {
    fn new(schema: &SchemaRef, runs: Vec<Spooled>) -> DfResult<Self> {
        let column = schema.index_of(CORPUS)?;
        let cursors = runs
            .into_iter()
            .map(|run| {
                Ok(Cursor {
                    stream: Some(run.stream()?),
                    batch: None,
                    at: 0,
                })
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(Self {
            cursors,
            column,
            corpus: None,
        })
    }

    /// The next rows in output order: a slice of one run's batch, all of one corpus.
    async fn next_slice(&mut self) -> DfResult<Option<RecordBatch>> {
        loop {
            let (corpus, run) = match self.corpus.take() {
                Some(next) => next,
                None => match self.least_corpus().await? {
                    Some(corpus) => (corpus, 0),
                    None => return Ok(None),
                },
            };
            for run in run..self.cursors.len() {
                let column = self.column;
                let cursor = &mut self.cursors[run];
                let Some(batch) = cursor.head().await? else {
                    continue;
                };
                let from = cursor.at;
                if corpus_at(&batch, column, from)? != corpus {
                    continue;
                }
                // The run is sorted by corpus: its rows of this one end where a greater begins.
                let corpora = corpora(&batch, column)?;
                let end = match &corpus {
                    Some(c) => {
                        from + partition_point(from, batch.num_rows(), |i| {
                            corpora.is_valid(i) && corpora.value(i).as_bytes() <= c.as_slice()
                        })
                    }
                    None => batch.num_rows(),
                };
                let slice = batch.slice(from, end - from);
                cursor.at = end;
                // This run may have more rows of the corpus in its next batch.
                self.corpus = Some((corpus, run));
                return Ok(Some(slice));
            }
        }
    }

    /// The least corpus at the head of any run; None when every run has ended.
    async fn least_corpus(&mut self) -> DfResult<Option<Option<Vec<u8>>>> {
        let mut least: Option<Option<Vec<u8>>> = None;
        for cursor in &mut self.cursors {
            let Some(batch) = cursor.head().await? else {
                continue;
            };
            let corpus = corpus_at(&batch, self.column, cursor.at)?;
            if least.as_ref().is_none_or(|l| sorts_before(&corpus, l)) {
                least = Some(corpus);
            }
        }
        Ok(least)
    }
}

/// How many of the rows `from..to` satisfy `pred`, which holds for a first part of them
/// and not after.
fn partition_point(from: usize, to: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (from, to);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - from
}
