//! Reading mosagg's own query results: their columns are named by the SQL in `sql/`,
//! so a missing one is a bug in mosagg, never bad input.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, UInt64Type};

use crate::error::{Error, Result};

/// A column of a query result, by name.
pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Internal(format!("query result has no column {name}")))
}

/// The one row of a summary query (`counters.sql`, the merge summary).
pub struct OneRow<'a>(&'a RecordBatch);

/// Finds the one-row batch among a summary query's batches; `what` names the query.
pub fn one_row<'a>(batches: &'a [RecordBatch], what: &str) -> Result<OneRow<'a>> {
    batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .map(OneRow)
        .ok_or_else(|| Error::Internal(format!("{what} query returned no row")))
}

impl OneRow<'_> {
    /// A count by name; SQL's NULL (a sum over no rows) is 0.
    pub fn u64(&self, name: &str) -> Result<u64> {
        let col = cast(column(self.0, name)?, &DataType::UInt64)?;
        let col = col.as_primitive::<UInt64Type>();
        Ok(if col.is_null(0) { 0 } else { col.value(0) })
    }
}

/// Every value of one `UInt64` column across a query's batches, for tests of the SQL
/// functions.
#[cfg(test)]
pub fn u64_values(batches: &[RecordBatch], name: &str) -> Vec<Option<u64>> {
    batches
        .iter()
        .flat_map(|b| {
            let values = column(b, name).expect("result column");
            values
                .as_primitive::<UInt64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect()
}
