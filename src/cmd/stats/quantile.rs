//! `exact_quantiles(value, q1, q2, …)`: an aggregate giving the exact quantiles of a
//! group's values, interpolated linearly between the two nearest ranks, as numpy's
//! default method and DuckDB's `quantile_cont` compute them. For fraction q of n values
//! sorted ascending the position is q * (n - 1) (0-based), and the value is
//! lo + (hi - lo) * (position - floor(position)), lo and hi being the values at
//! floor(position) and ceil(position).
//!
//! The result is a struct with one field per fraction asked for, named `q1`, `q2`, …
//! in the order of the arguments (a function's result type cannot depend on the values
//! of its arguments, so the names cannot be the fractions themselves).
//!
//! It exists because DataFusion's `percentile_cont` rounds the interpolation weight,
//! ranking every value with a window sorts all rows of the file (13 s on a 10M-row
//! training set), and `ARRAY_AGG` plus a function per quantile holds the values twice
//! and copies them once per quantile. Here each group keeps its values once, as plain
//! numbers, mostly where they arrived, and its ranks are selected when the group is
//! finished (ranks.rs).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, StructArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::aggregate::{self, Held, Kind, PerGroup, lists, literal, passes};
use super::ranks;

/// More fractions than anyone asks for in one call.
const MAX_FRACTIONS: usize = 32;

/// The aggregate to register on a session.
pub fn udaf() -> AggregateUDF {
    // A value and 1 to MAX_FRACTIONS fractions, all DOUBLE.
    aggregate::udaf::<ExactQuantiles>(Signature::one_of(
        (2..=MAX_FRACTIONS + 1)
            .map(|n| TypeSignature::Exact(vec![DataType::Float64; n]))
            .collect(),
        Volatility::Immutable,
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactQuantiles;

/// The result's fields: `q1` … `qN` for N fractions.
fn result_fields(fractions: usize) -> Fields {
    (1..=fractions)
        .map(|i| Field::new(format!("q{i}"), DataType::Float64, true))
        .collect()
}

/// The fractions asked for: every argument after the first, each a literal in [0, 1].
fn fractions(args: &AccumulatorArgs) -> Result<Vec<f64>> {
    (1..args.exprs.len())
        .map(|i| match literal(args, i) {
            Some(ScalarValue::Float64(Some(q))) if (0.0..=1.0).contains(&q) => Ok(q),
            _ => Err(DataFusionError::Plan(
                "exact_quantiles: every fraction must be a number from 0 to 1, written as a literal".into(),
            )),
        })
        .collect()
}

impl Kind for ExactQuantiles {
    const NAME: &'static str = "exact_quantiles";
    fn state() -> (&'static str, DataType) {
        ("values", DataType::Float64)
    }
    type Groups = Groups;

    fn return_type(arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() < 2 {
            return Err(DataFusionError::Plan(
                "exact_quantiles takes a value and at least one fraction".into(),
            ));
        }
        Ok(DataType::Struct(result_fields(arg_types.len() - 1)))
    }

    fn groups(args: &AccumulatorArgs) -> Result<Groups> {
        Ok(Groups {
            values: PerGroup::default(),
            fractions: fractions(args)?,
        })
    }
}

/// One struct array from each group's quantiles (None for a group without values).
fn struct_array(rows: Vec<Option<Vec<f64>>>, fractions: usize) -> Result<ArrayRef> {
    let columns: Vec<ArrayRef> = (0..fractions)
        .map(|f| {
            let column: Float64Array = rows
                .iter()
                .map(|row| row.as_ref().map(|qs| qs[f]))
                .collect();
            Arc::new(column) as ArrayRef
        })
        .collect();
    let present: Vec<bool> = rows.iter().map(Option::is_some).collect();
    Ok(Arc::new(StructArray::try_new(
        result_fields(fractions),
        columns,
        Some(NullBuffer::from(present)),
    )?))
}

/// Runs shorter than this are copied rather than kept as a slice of their array: a slice
/// costs a reference and an array header, which a handful of values does not repay.
const MIN_SLICE: usize = 256;

/// One group's values, as they arrived. A run of rows of the group (a whole batch, when
/// the file is sorted by the group column, as a unified corpus is by corpus) is kept as
/// a slice of the array it came in, without copying; shorter runs are copied. The values
/// are copied into one buffer only to hand a partial aggregate on, and ranked where they
/// lie: growing one buffer row by row copied every value again at each doubling and
/// faulted in twice the pages, and with the copies in the final aggregate that was half
/// of the single-core tail of `stats` on a 10M-row file.
#[derive(Debug, Default)]
struct Values {
    slices: Vec<Float64Array>,
    /// The rows the slices cover (with any NULLs among them).
    sliced: usize,
    loose: Vec<f64>,
}

impl Values {
    /// The number of values held (NULLs are never counted).
    fn len(&self) -> usize {
        self.loose.len()
            + self
                .slices
                .iter()
                .map(|s| s.len() - s.null_count())
                .sum::<usize>()
    }

    /// Adds the non-NULL values of `column[start .. start + len]`.
    fn add_run(&mut self, column: &Float64Array, start: usize, len: usize) {
        if len >= MIN_SLICE {
            self.slices.push(column.slice(start, len));
            self.sliced += len;
        } else if column.null_count() == 0 {
            self.loose
                .extend_from_slice(&column.values()[start..start + len]);
        } else {
            self.loose.extend(column.slice(start, len).iter().flatten());
        }
    }

    /// Appends every value to `out`.
    fn append_to(&self, out: &mut Vec<f64>) {
        for part in self.parts() {
            out.extend_from_slice(&part);
        }
    }

    /// The group's quantiles at `fractions` (ranks.rs).
    fn quantiles(&self, fractions: &[f64]) -> Option<Vec<f64>> {
        if self.slices.is_empty() {
            // Only copied values (every small group): no list of parts to make.
            let loose = Cow::Borrowed(self.loose.as_slice());
            return ranks::quantiles_of(std::slice::from_ref(&loose), fractions);
        }
        ranks::quantiles_of(&self.parts(), fractions)
    }

    /// The values as slices, borrowed where they hold no NULL.
    fn parts(&self) -> Vec<Cow<'_, [f64]>> {
        let slices = self.slices.iter().map(|slice| {
            if slice.null_count() == 0 {
                Cow::Borrowed(&slice.values()[..])
            } else {
                Cow::Owned(slice.iter().flatten().collect())
            }
        });
        slices
            .chain(std::iter::once(Cow::Borrowed(self.loose.as_slice())))
            .collect()
    }
}

impl Held for Values {
    /// A slice is counted by its values, not by the whole buffer it shares with other
    /// groups' slices.
    fn held(&self) -> usize {
        self.slices.capacity() * std::mem::size_of::<Float64Array>()
            + (self.sliced + self.loose.capacity()) * std::mem::size_of::<f64>()
    }
}

/// Each group's values as one list (the partial aggregate's state).
fn values_list(groups: Vec<Values>) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Values::len));
    let mut flat = Vec::with_capacity(offsets.last().map_or(0, |&end| end as usize));
    for group in &groups {
        group.append_to(&mut flat);
    }
    lists(offsets, Arc::new(Float64Array::from(flat)))
}

/// Appends the lists of a partial state to the groups named by `group_indices`: each
/// list stays a slice of the state's values.
fn merge_lists(target: &mut PerGroup<Values>, lists: &ArrayRef, group_indices: &[usize]) {
    let lists = lists.as_list::<i32>();
    // Each list is a run of the one values array, not an array of its own (an array a
    // group cost most of the final aggregate's time with a group per clip).
    let values = lists.values().as_primitive::<Float64Type>();
    for (row, &group) in group_indices.iter().enumerate() {
        if lists.is_null(row) {
            continue;
        }
        let (start, end) = (lists.offsets()[row], lists.offsets()[row + 1]);
        let (start, len) = (start as usize, (end - start) as usize);
        target.change(group, |v| v.add_run(values, start, len));
    }
}

/// Every group of a `GROUP BY`, by group index.
#[derive(Debug)]
struct Groups {
    values: PerGroup<Values>,
    fractions: Vec<f64>,
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.values.grow(total_num_groups);
        let column = values[0].as_primitive::<Float64Type>();
        if opt_filter.is_some() {
            for (row, &group) in group_indices.iter().enumerate() {
                if passes(opt_filter, row) && column.is_valid(row) {
                    self.values
                        .change(group, |v| v.loose.push(column.value(row)));
                }
            }
            return Ok(());
        }
        // Runs of rows of one group, each added at once.
        let mut start = 0;
        for run in group_indices.chunk_by(|a, b| a == b) {
            self.values
                .change(run[0], |v| v.add_run(column, start, run.len()));
            start += run.len();
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.values.take(emit_to);
        let rows = groups
            .into_iter()
            .map(|v| v.quantiles(&self.fractions))
            .collect();
        struct_array(rows, self.fractions.len())
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![values_list(self.values.take(emit_to))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.values.grow(total_num_groups);
        merge_lists(&mut self.values, &values[0], group_indices);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a list of its one value, or an empty list.
        let column = values[0].as_primitive::<Float64Type>();
        let kept = |row: usize| passes(opt_filter, row) && column.is_valid(row);
        let lengths = (0..column.len()).map(|row| usize::from(kept(row)));
        let flat: Vec<f64> = (0..column.len())
            .filter(|&row| kept(row))
            .map(|row| column.value(row))
            .collect();
        let flat = Arc::new(Float64Array::from(flat));
        Ok(vec![lists(OffsetBuffer::from_lengths(lengths), flat)])
    }

    fn size(&self) -> usize {
        self.values.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_states_merge_into_the_same_quantiles() {
        // Two partitions see halves of two groups; the final aggregate merges their lists.
        let fractions = vec![0.25, 0.5];
        let mut a = Groups {
            values: PerGroup::default(),
            fractions: fractions.clone(),
        };
        let mut b = Groups {
            values: PerGroup::default(),
            fractions: fractions.clone(),
        };
        let col = |v: &[f64]| vec![Arc::new(Float64Array::from(v.to_vec())) as ArrayRef];
        a.update_batch(&col(&[1.0, 10.0, 2.0]), &[0, 1, 0], None, 2)
            .unwrap();
        b.update_batch(&col(&[3.0, 4.0, 20.0]), &[0, 0, 1], None, 2)
            .unwrap();
        let mut last = Groups {
            values: PerGroup::default(),
            fractions,
        };
        last.merge_batch(&a.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        last.merge_batch(&b.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        let out = last.evaluate(EmitTo::All).unwrap();
        let out = out.as_struct();
        let q1 = out.column(0).as_primitive::<Float64Type>();
        let q2 = out.column(1).as_primitive::<Float64Type>();
        // Group 0 holds 1, 2, 3, 4: p25 = 1.75, median = 2.5. Group 1 holds 10, 20.
        assert_eq!((q1.value(0), q2.value(0)), (1.75, 2.5));
        assert_eq!((q1.value(1), q2.value(1)), (12.5, 15.0));
    }

    #[test]
    fn nulls_are_skipped_in_long_runs_and_short() {
        // Group 0: a run long enough to be kept as a slice, every third value NULL;
        // group 1: a short run, copied, one NULL. Through a partial state and a merge.
        let n = 3 * MIN_SLICE;
        let column: Float64Array = (0..n)
            .map(|i| (i % 3 != 0).then_some(i as f64))
            .chain((0..6).map(|i| (i != 2).then_some(1000.0 + i as f64)))
            .collect();
        let groups: Vec<usize> = (0..n).map(|_| 0).chain([1; 6]).collect();
        let mut partial = Groups {
            values: PerGroup::default(),
            fractions: vec![0.0, 0.5, 1.0],
        };
        partial
            .update_batch(&[Arc::new(column) as ArrayRef], &groups, None, 2)
            .unwrap();
        assert_eq!(partial.values.groups()[0].len(), n - MIN_SLICE);
        assert_eq!(partial.values.groups()[1].len(), 5);
        // The size kept as values come equals the groups' sizes added up.
        let sizes = |g: &Groups| g.values.groups().iter().map(Held::held).sum::<usize>();
        assert_eq!(partial.values.held(), sizes(&partial));
        let mut last = Groups {
            values: PerGroup::default(),
            fractions: vec![0.0, 0.5, 1.0],
        };
        last.merge_batch(&partial.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        assert_eq!(partial.values.held(), 0, "emitted groups leave the size");
        assert_eq!(last.values.held(), sizes(&last));
        let out = last.evaluate(EmitTo::All).unwrap();
        assert_eq!(last.values.held(), 0);
        let out = out.as_struct();
        let at = |f: usize, g: usize| out.column(f).as_primitive::<Float64Type>().value(g);
        // Group 0 holds the numbers 1 .. n-1 but the multiples of 3; group 1 holds
        // 1000, 1001, 1003, 1004, 1005.
        let want: Vec<f64> = (0..n).filter(|i| i % 3 != 0).map(|i| i as f64).collect();
        let median = |v: &[f64]| {
            let pos = 0.5 * (v.len() - 1) as f64;
            let (lo, hi) = (v[pos.floor() as usize], v[pos.ceil() as usize]);
            lo + (hi - lo) * (pos - pos.floor())
        };
        assert_eq!(
            (at(0, 0), at(1, 0), at(2, 0)),
            (1.0, median(&want), (n - 1) as f64)
        );
        assert_eq!((at(0, 1), at(1, 1), at(2, 1)), (1000.0, 1003.0, 1005.0));
    }
}
