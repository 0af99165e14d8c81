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
//! numbers, and selects the ranks in place when the group is finished.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StructArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::aggregate::{self, Kind, literal, passes};

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
    const STATE: (&'static str, DataType) = ("values", DataType::Float64);
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
            values: Vec::new(),
            fractions: fractions(args)?,
        })
    }
}

/// The quantiles of one group's values, in the order of `fractions`; None for a group
/// without values.
///
/// Highest fraction first: once the rank for one fraction is selected, every value at
/// or below it sits in the prefix before it, so the next (lower) fraction selects
/// within that prefix only, and the value just above its rank is the smallest of the
/// prefix's tail or the previous rank's value. On a 7.5M-value group that is about
/// half the work of selecting each fraction in the whole group.
///
/// The values are ranked as whole numbers: each is replaced in place by its
/// `order_key`, whose integer order is `order_nan_last`'s, and the two values around a
/// rank are turned back. Comparing integers made the selection about twice as fast as
/// comparing numbers with a NaN check.
fn quantiles_of(values: &mut [f64], fractions: &[f64]) -> Option<Vec<f64>> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    for v in values.iter_mut() {
        *v = f64::from_bits(order_key(*v) as u64);
    }
    let key = |v: &f64| v.to_bits() as i64;
    let mut out = vec![0.0; fractions.len()];
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| fractions[b].total_cmp(&fractions[a]));
    // Values at index >= `bound` are all >= every value before it, and `values[bound]`
    // (when bound < n) is the smallest of them; likewise for `above`, the bound
    // before it (for a fraction whose rank was selected already).
    let mut bound = n;
    let mut above = n;
    for i in order {
        let pos = fractions[i] * (n - 1) as f64;
        let lo_rank = (pos.floor() as usize).min(n - 1);
        let hi_rank = (pos.ceil() as usize).min(n - 1);
        if lo_rank < bound {
            values[..bound].select_nth_unstable_by_key(lo_rank, key);
            above = bound;
            bound = lo_rank;
        }
        // Here lo_rank == bound: values[lo_rank] holds its value, and the next rank
        // up is the smallest of values[lo_rank + 1 .. above], or values[above].
        let lo = key(&values[lo_rank]);
        let hi = if hi_rank == lo_rank {
            lo
        } else {
            let tail = values[lo_rank + 1..above].iter().map(key);
            tail.chain(values.get(above).map(key)).min().unwrap_or(lo)
        };
        let (lo, hi) = (from_order_key(lo), from_order_key(hi));
        out[i] = lo + (hi - lo) * (pos - pos.floor());
    }
    Some(out)
}

/// A number as a whole number in the same order as `order_nan_last`: the sign-magnitude
/// bits of a float turned into two's complement (as `f64::total_cmp` compares them),
/// and every NaN the largest.
fn order_key(v: f64) -> i64 {
    if v.is_nan() {
        return i64::MAX;
    }
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// The number behind an `order_key` (NaN for any NaN's).
fn from_order_key(key: i64) -> f64 {
    if key == i64::MAX {
        return f64::NAN;
    }
    // The flip leaves the sign bit alone, so it is its own inverse.
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
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

/// Each group's values as one list (the partial aggregate's state).
fn values_list(groups: Vec<Vec<f64>>) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let flat: Float64Array = groups.into_iter().flatten().map(Some).collect();
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(flat),
        None,
    ))
}

/// Appends the lists of a partial state to the groups named by `group_indices`.
fn merge_lists(target: &mut [Vec<f64>], lists: &ArrayRef, group_indices: &[usize]) {
    let lists = lists.as_list::<i32>();
    for (row, &group) in group_indices.iter().enumerate() {
        if lists.is_null(row) {
            continue;
        }
        let values = lists.value(row);
        target[group].extend(values.as_primitive::<Float64Type>().iter().flatten());
    }
}

/// Every group of a `GROUP BY`, by group index.
#[derive(Debug)]
struct Groups {
    values: Vec<Vec<f64>>,
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
        self.values.resize_with(total_num_groups, Vec::new);
        let column = values[0].as_primitive::<Float64Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if passes(opt_filter, row) && column.is_valid(row) {
                self.values[group].push(column.value(row));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.values);
        let rows = groups
            .into_iter()
            .map(|mut v| quantiles_of(&mut v, &self.fractions))
            .collect();
        struct_array(rows, self.fractions.len())
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![values_list(emit_to.take_needed(&mut self.values))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.values.resize_with(total_num_groups, Vec::new);
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
        let rows = (0..column.len())
            .map(|row| {
                if passes(opt_filter, row) && column.is_valid(row) {
                    vec![column.value(row)]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Ok(vec![values_list(rows)])
    }

    fn size(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<Vec<f64>>()
            + self
                .values
                .iter()
                .map(|v| v.capacity() * std::mem::size_of::<f64>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders as SQL's `ORDER BY mos` does: NaN after every number.
    fn order_nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
        match (a.is_nan(), b.is_nan()) {
            (false, false) => a.total_cmp(b),
            (x, y) => x.cmp(&y),
        }
    }

    /// One fraction at a time, the plain way: the reference `quantiles_of` must equal.
    /// Reorders `v`; None for an empty list.
    fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
        let n = v.len();
        if n == 0 {
            return None;
        }
        let pos = q * (n - 1) as f64;
        let lo_rank = (pos.floor() as usize).min(n - 1);
        let hi_rank = (pos.ceil() as usize).min(n - 1);
        let (_, lo, above) = v.select_nth_unstable_by(lo_rank, order_nan_last);
        let lo = *lo;
        let hi = if hi_rank == lo_rank {
            lo
        } else {
            // The next rank up is the smallest value above the lower one.
            above.iter().copied().min_by(order_nan_last).unwrap_or(lo)
        };
        Some(lo + (hi - lo) * (pos - pos.floor()))
    }

    #[test]
    fn interpolates_between_ranks_like_numpy() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        // numpy.quantile([1, 2, 3, 4], 0.5) == 2.5; 0.05 -> 1.15; 0.95 -> 3.85.
        assert_eq!(quantile(&mut v, 0.5), Some(2.5));
        assert_eq!(
            quantile(&mut v, 0.05),
            Some(1.0 + (2.0 - 1.0) * (0.05 * 3.0))
        );
        assert_eq!(
            quantile(&mut v, 0.95),
            Some(3.0 + (4.0 - 3.0) * (0.95f64 * 3.0 - 2.0))
        );
        assert_eq!(quantile(&mut v, 1.0), Some(4.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
    }

    #[test]
    fn order_keys_sort_as_sql_orders_numbers() {
        let sorted = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            1.0,
            f64::MAX,
            f64::INFINITY,
        ];
        let keys: Vec<i64> = sorted.iter().map(|&v| order_key(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for v in sorted {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
        assert!(order_key(f64::NAN) > order_key(f64::INFINITY));
        assert!(order_key(-f64::NAN) > order_key(f64::INFINITY));
        assert!(from_order_key(order_key(f64::NAN)).is_nan());
    }

    #[test]
    fn one_value_and_no_value() {
        assert_eq!(quantile(&mut [7.5], 0.25), Some(7.5));
        assert_eq!(quantile(&mut [], 0.25), None);
    }

    #[test]
    fn nan_sorts_last() {
        let mut v = vec![f64::NAN, 1.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), Some(2.0));
        assert!(quantile(&mut v, 1.0).is_some_and(f64::is_nan));
    }

    #[test]
    fn several_fractions_at_once_equal_each_alone() {
        // A deterministic scramble with repeats, NaNs and an even length.
        let base: Vec<f64> = (0..1001u64)
            .map(|i| match (i * 7919) % 1009 {
                0 | 500 => f64::NAN,
                k => (k % 97) as f64 / 4.0,
            })
            .collect();
        let fractions = [0.05, 0.25, 0.5, 0.75, 0.95, 0.5, 0.0, 1.0, 0.999, 0.001];
        for len in [1, 2, 3, 10, 1000, 1001] {
            let mut all = base[..len].to_vec();
            let together = quantiles_of(&mut all, &fractions).expect("values");
            for (q, got) in fractions.iter().zip(together) {
                let mut alone = base[..len].to_vec();
                let want = quantile(&mut alone, *q);
                assert_eq!(
                    Some(got.to_bits()),
                    want.map(f64::to_bits),
                    "len {len}, q {q}"
                );
            }
        }
        assert_eq!(quantiles_of(&mut [], &[0.5]), None);
    }

    #[test]
    fn partial_states_merge_into_the_same_quantiles() {
        // Two partitions see halves of two groups; the final aggregate merges their lists.
        let fractions = vec![0.25, 0.5];
        let mut a = Groups {
            values: Vec::new(),
            fractions: fractions.clone(),
        };
        let mut b = Groups {
            values: Vec::new(),
            fractions: fractions.clone(),
        };
        let col = |v: &[f64]| vec![Arc::new(Float64Array::from(v.to_vec())) as ArrayRef];
        a.update_batch(&col(&[1.0, 10.0, 2.0]), &[0, 1, 0], None, 2)
            .unwrap();
        b.update_batch(&col(&[3.0, 4.0, 20.0]), &[0, 0, 1], None, 2)
            .unwrap();
        let mut last = Groups {
            values: Vec::new(),
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
}
