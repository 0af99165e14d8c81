//! The dedup itself, in SQL: every row's natural key goes into a `merge_rows` table,
//! `sql/merge.sql` keeps the first row of each key, `sql/merge_summary.sql` counts.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, AsArray, RecordBatch, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use datafusion::prelude::SessionContext;

use crate::engine::results::{column, one_row};
use crate::engine::session::{collect_sql, register_batches};
use crate::error::{Error, Result};

pub const MERGE_SQL: &str = include_str!("../../sql/merge.sql");
pub const SUMMARY_SQL: &str = include_str!("../../sql/merge_summary.sql");

/// Rows per batch of `merge_rows`.
const BATCH_ROWS: usize = 65_536;

/// `merge_rows`: where a row is, its four key parts, and the source it counts towards.
fn schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("input_idx", DataType::UInt32, false),
        Field::new("line", DataType::UInt64, false),
        text("k_src_sha256"),
        text("k_encoder"),
        text("k_preset"),
        text("k_crf"),
        Field::new("source", DataType::Utf8, true),
    ]))
}

/// Collects the key of every row, batch by batch.
pub struct KeyTable {
    input_idx: UInt32Builder,
    line: UInt64Builder,
    parts: [StringBuilder; 4],
    source: StringBuilder,
    batches: Vec<RecordBatch>,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyTable {
    pub fn new() -> Self {
        Self {
            input_idx: UInt32Builder::with_capacity(BATCH_ROWS),
            line: UInt64Builder::with_capacity(BATCH_ROWS),
            parts: std::array::from_fn(|_| StringBuilder::new()),
            source: StringBuilder::new(),
            batches: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        input_idx: u32,
        line: u64,
        parts: [String; 4],
        source: Option<&str>,
    ) -> Result<()> {
        self.input_idx.append_value(input_idx);
        self.line.append_value(line);
        for (builder, part) in self.parts.iter_mut().zip(parts) {
            builder.append_value(part);
        }
        self.source.append_option(source);
        if self.input_idx.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.input_idx.is_empty() {
            return Ok(());
        }
        let [a, b, c, d] = &mut self.parts;
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(self.input_idx.finish()),
                Arc::new(self.line.finish()),
                Arc::new(a.finish()),
                Arc::new(b.finish()),
                Arc::new(c.finish()),
                Arc::new(d.finish()),
                Arc::new(self.source.finish()),
            ],
        )?;
        self.batches.push(batch);
        Ok(())
    }
}

/// What the SQL decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Per input, the line numbers of the rows to write, ascending.
    pub kept: Vec<Vec<u64>>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub unique_sources: u64,
}

/// Runs the dedup over every collected key.
pub async fn decide(ctx: &SessionContext, mut table: KeyTable, inputs: usize) -> Result<Decision> {
    table.flush()?;
    register_batches(ctx, "merge_rows", schema(), table.batches)?;
    let kept_batches = collect_sql(ctx, MERGE_SQL).await?;

    let mut kept: Vec<Vec<u64>> = vec![Vec::new(); inputs];
    for b in &kept_batches {
        let idx = cast(column(b, "input_idx")?, &DataType::UInt32)?;
        let line = cast(column(b, "line")?, &DataType::UInt64)?;
        let (idx, line) = (
            idx.as_primitive::<UInt32Type>(),
            line.as_primitive::<UInt64Type>(),
        );
        for i in 0..b.num_rows() {
            let lines = kept
                .get_mut(idx.value(i) as usize)
                .ok_or_else(|| Error::Internal(format!("kept row names input {}", idx.value(i))))?;
            // The second pass walks each file once, so the SQL's order is relied on; check it.
            if lines.last().is_some_and(|&last| last >= line.value(i)) {
                return Err(Error::Internal(
                    "merge query returned rows out of order".into(),
                ));
            }
            lines.push(line.value(i));
        }
    }
    let kept_schema = kept_batches
        .first()
        .map(RecordBatch::schema)
        .unwrap_or_else(kept_schema);
    register_batches(ctx, "merge_kept", kept_schema, kept_batches)?;

    let summary = collect_sql(ctx, SUMMARY_SQL).await?;
    let row = one_row(&summary, "merge summary")?;
    let get = |name: &str| row.u64(name);
    let decision = Decision {
        rows_in: get("rows_in")?,
        rows_out: get("rows_out")?,
        unique_sources: get("unique_sources")?,
        kept,
    };
    let listed: u64 = decision.kept.iter().map(|l| l.len() as u64).sum();
    if listed != decision.rows_out {
        return Err(Error::Internal(format!(
            "merge kept {listed} rows but counted {}",
            decision.rows_out
        )));
    }
    Ok(decision)
}

/// The schema of `merge_kept` when nothing was kept (no rows at all).
fn kept_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("input_idx", DataType::UInt32, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("source", DataType::Utf8, true),
    ]))
}
