//! `bin_counts(value, width, bins)`: an aggregate counting a group's values in `bins`
//! bins of `width` (both literals) from 0: bin k covers [k * width, (k + 1) * width).
//! A value below 0 counts in bin 0 and one at or past the top in the last bin; NULL,
//! NaN and infinite values are not counted. The result is a list of `bins` counts.
//!
//! `stats` counts every group in bins 0.5 wide in the same pass over the file as its
//! statistics, so `--plot` costs no second pass: each width the picture may use (2,
//! 2.5, 4, 5 or 10) is a whole number of these bins, and `sql/stats_histogram.sql` adds
//! them up once the width is chosen. The bin is found by `floor(value / width)`; with
//! a width that is a power of two (0.5) the division is exact, so a value sits in the
//! bin it mathematically belongs to, even a hair below an edge.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::aggregate::{self, Kind, literal, passes};

/// More bins than a histogram needs; guards the memory a typo could ask for.
const MAX_BINS: i64 = 100_000;

/// The aggregate to register on a session.
pub fn udaf() -> AggregateUDF {
    aggregate::udaf::<BinCounts>(Signature::exact(
        vec![DataType::Float64, DataType::Float64, DataType::Int64],
        Volatility::Immutable,
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BinCounts;

/// The bin layout: width and count, from the literal arguments.
#[derive(Debug, Clone, Copy)]
struct Bins {
    width: f64,
    count: usize,
}

impl Bins {
    fn from_args(args: &AccumulatorArgs) -> Result<Self> {
        match (literal(args, 1), literal(args, 2)) {
            (Some(ScalarValue::Float64(Some(width))), Some(ScalarValue::Int64(Some(count))))
                if width.is_finite() && width > 0.0 && (1..=MAX_BINS).contains(&count) =>
            {
                Ok(Bins {
                    width,
                    count: count as usize,
                })
            }
            _ => Err(DataFusionError::Plan(format!(
                "bin_counts: the width must be a positive number and the bin count a whole number from 1 to {MAX_BINS}, both written as literals"
            ))),
        }
    }

    /// The bin a value counts in; None for NaN and infinities.
    fn of(self, value: f64) -> Option<usize> {
        if !value.is_finite() {
            return None;
        }
        // Past zero, truncating is flooring, and below it the bin is 0 either way. The
        // cast saturates, so a huge value lands in the last bin. (`floor` itself is a
        // library call on this target, a seventh of the aggregate's time.)
        let k = (value / self.width).max(0.0) as usize;
        Some(k.min(self.count - 1))
    }
}

/// Each group's counts as a list of `bins` numbers.
fn counts_list(flat: Vec<i64>, bins: usize) -> ArrayRef {
    let groups = flat.len() / bins;
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        OffsetBuffer::from_lengths(std::iter::repeat_n(bins, groups)),
        Arc::new(Int64Array::from(flat)),
        None,
    ))
}

impl Kind for BinCounts {
    const NAME: &'static str = "bin_counts";
    const STATE: (&'static str, DataType) = ("counts", DataType::Int64);
    type Groups = Groups;

    fn return_type(_arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Int64, true))
    }

    fn groups(args: &AccumulatorArgs) -> Result<Groups> {
        Ok(Groups {
            counts: Vec::new(),
            bins: Bins::from_args(args)?,
        })
    }
}

/// Adds partial counts (one list per row) to the groups named by `group_indices`.
fn add_lists(target: &mut [i64], bins: usize, lists: &ArrayRef, group_indices: &[usize]) {
    let lists = lists.as_list::<i32>();
    for (row, &group) in group_indices.iter().enumerate() {
        if lists.is_null(row) {
            continue;
        }
        let counts = lists.value(row);
        let into = &mut target[group * bins..(group + 1) * bins];
        for (t, c) in into
            .iter_mut()
            .zip(counts.as_primitive::<Int64Type>().iter())
        {
            *t += c.unwrap_or(0);
        }
    }
}

/// Every group of a `GROUP BY`: `bins.count` counts per group index, one after another.
#[derive(Debug)]
struct Groups {
    counts: Vec<i64>,
    bins: Bins,
}

impl Groups {
    fn grow(&mut self, total_num_groups: usize) {
        self.counts.resize(total_num_groups * self.bins.count, 0);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<i64> {
        match emit_to {
            EmitTo::All => std::mem::take(&mut self.counts),
            EmitTo::First(n) => {
                let rest = self.counts.split_off(n * self.bins.count);
                std::mem::replace(&mut self.counts, rest)
            }
        }
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let column = values[0].as_primitive::<Float64Type>();
        let (bins, counts) = (self.bins, &mut self.counts);
        let mut count = |group: usize, value: f64| {
            if let Some(k) = bins.of(value) {
                counts[group * bins.count + k] += 1;
            }
        };
        if opt_filter.is_none() && column.null_count() == 0 {
            // The usual case, without a check per row.
            for (&group, &value) in group_indices.iter().zip(column.values().iter()) {
                count(group, value);
            }
            return Ok(());
        }
        for (row, &group) in group_indices.iter().enumerate() {
            if passes(opt_filter, row) && column.is_valid(row) {
                count(group, column.value(row));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let bins = self.bins.count;
        Ok(counts_list(self.take(emit_to), bins))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        add_lists(&mut self.counts, self.bins.count, &values[0], group_indices);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: its counts are a single 1, or none.
        let column = values[0].as_primitive::<Float64Type>();
        let bins = self.bins.count;
        let mut flat = vec![0; column.len() * bins];
        for row in 0..column.len() {
            let bin = (passes(opt_filter, row) && column.is_valid(row))
                .then(|| self.bins.of(column.value(row)))
                .flatten();
            if let Some(k) = bin {
                flat[row * bins + k] = 1;
            }
        }
        Ok(vec![counts_list(flat, bins)])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    const HALF: Bins = Bins {
        width: 0.5,
        count: 200,
    };

    #[test]
    fn edges_belong_to_the_bin_above_and_the_ends_are_clamped() {
        assert_eq!(HALF.of(0.0), Some(0));
        assert_eq!(HALF.of(0.49), Some(0));
        assert_eq!(HALF.of(0.5), Some(1));
        assert_eq!(HALF.of(99.99), Some(199));
        // Native-range slack puts a clip a little outside 0-100: the edge bins count it.
        assert_eq!(HALF.of(100.75), Some(199));
        assert_eq!(HALF.of(-1.0), Some(0));
        assert_eq!(HALF.of(1e300), Some(199));
        assert_eq!(HALF.of(-1e300), Some(0));
        // The largest number below 2.5 is not in 2.5's bin.
        assert_eq!(HALF.of(2.5f64.next_down()), Some(4));
        assert_eq!(HALF.of(f64::NAN), None);
        assert_eq!(HALF.of(f64::INFINITY), None);
    }

    #[test]
    fn groups_count_and_partial_counts_add_up() {
        let bins = Bins {
            width: 10.0,
            count: 3,
        };
        let new = || Groups {
            counts: Vec::new(),
            bins,
        };
        let col = |v: &[Option<f64>]| vec![Arc::new(Float64Array::from(v.to_vec())) as ArrayRef];
        let (mut a, mut b, mut last) = (new(), new(), new());
        a.update_batch(
            &col(&[Some(1.0), Some(15.0), None, Some(f64::NAN)]),
            &[0, 0, 0, 1],
            None,
            2,
        )
        .unwrap();
        b.update_batch(&col(&[Some(29.0), Some(99.0)]), &[0, 1], None, 2)
            .unwrap();
        last.merge_batch(&a.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        last.merge_batch(&b.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        let out = last.evaluate(EmitTo::All).unwrap();
        let out = out.as_list::<i32>();
        let counts = |g: usize| out.value(g).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(counts(0), [1, 1, 1]);
        assert_eq!(counts(1), [0, 0, 1]);
    }
}
