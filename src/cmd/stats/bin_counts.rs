//! `bin_counts(value, width, bins)`: an aggregate counting a group's values in `bins`
//! bins of `width` (both literals) from 0: bin k covers [k * width, (k + 1) * width).
//! A value below 0 counts in bin 0 and one at or past the top in the last bin; NULL,
//! NaN and infinite values are not counted. The result lists the bins that hold any
//! value, in bin order, each as a struct {bin, clips}: a group of one clip (`--by src`
//! makes one per clip) is one pair, not `bins` counts, so a file of many groups keeps
//! its counts in memory and through the sort of the result.
//!
//! `stats` counts every group in bins 0.5 wide in the same pass over the file as its
//! statistics, so `--plot` costs no second pass: each width the picture may use (2,
//! 2.5, 4, 5 or 10) is a whole number of these bins, and `sql/stats_histogram.sql` adds
//! them up once the width is chosen. The bin is found by `floor(value / width)`; with
//! a width that is a power of two (0.5) the division is exact, so a value sits in the
//! bin it mathematically belongs to, even a hair below an edge.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator, Signature, Volatility};

use super::aggregate::{self, Filtered, Held, Kind, PerGroup, filtered, lists, literal, passes};

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

/// The fields of one non-empty bin: its number and how many values it holds.
fn bin_fields() -> Fields {
    Fields::from(vec![
        Field::new("bin", DataType::Int64, false),
        Field::new("clips", DataType::Int64, false),
    ])
}

/// A group with values in at most this many bins keeps them as pairs; past it, a count
/// for every bin (a corpus fills most of 200 bins, and each row then costs an index).
const FEW_BINS: usize = 8;

/// One group's counts.
#[derive(Debug)]
enum Counts {
    /// (bin, count) pairs in the order first seen: a group of a few values.
    Few(Vec<(u32, i64)>),
    /// A count for every bin.
    All(Box<[i64]>),
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Few(Vec::new())
    }
}

impl Counts {
    /// Adds `n` values to bin `k` of `bins`.
    fn add(&mut self, k: usize, n: i64, bins: usize) {
        match self {
            Counts::All(counts) => counts[k] += n,
            Counts::Few(pairs) => {
                if let Some(pair) = pairs.iter_mut().find(|(bin, _)| *bin as usize == k) {
                    pair.1 += n;
                } else if pairs.len() < FEW_BINS {
                    // k < bins <= MAX_BINS, which fits.
                    pairs.push((k as u32, n));
                } else {
                    let mut counts = vec![0; bins].into_boxed_slice();
                    for &(bin, c) in pairs.iter() {
                        counts[bin as usize] += c;
                    }
                    counts[k] += n;
                    *self = Counts::All(counts);
                }
            }
        }
    }

    /// The bins that hold any value, in bin order, with their counts.
    fn non_empty(&self) -> Vec<(i64, i64)> {
        match self {
            Counts::Few(pairs) => {
                let mut pairs: Vec<(i64, i64)> = pairs
                    .iter()
                    .filter(|(_, c)| *c != 0)
                    .map(|&(bin, c)| (i64::from(bin), c))
                    .collect();
                pairs.sort_unstable();
                pairs
            }
            Counts::All(counts) => (0i64..)
                .zip(counts.iter().copied())
                .filter(|(_, c)| *c != 0)
                .collect(),
        }
    }
}

impl Held for Counts {
    fn held(&self) -> usize {
        match self {
            Counts::Few(pairs) => pairs.capacity() * std::mem::size_of::<(u32, i64)>(),
            Counts::All(counts) => std::mem::size_of_val(&**counts),
        }
    }
}

/// Each group's non-empty bins as a list of {bin, clips} (the result, and the partial
/// state).
fn bins_list(groups: &[Counts]) -> ArrayRef {
    let per_group: Vec<Vec<(i64, i64)>> = groups.iter().map(Counts::non_empty).collect();
    let offsets = OffsetBuffer::from_lengths(per_group.iter().map(Vec::len));
    let (bin, clips): (Vec<i64>, Vec<i64>) = per_group.into_iter().flatten().unzip();
    let pairs = StructArray::new(
        bin_fields(),
        vec![
            Arc::new(Int64Array::from(bin)) as ArrayRef,
            Arc::new(Int64Array::from(clips)),
        ],
        None,
    );
    lists(offsets, Arc::new(pairs))
}

impl Kind for BinCounts {
    const NAME: &'static str = "bin_counts";
    type Groups = Groups;

    fn state() -> (&'static str, DataType) {
        ("bins", DataType::Struct(bin_fields()))
    }

    fn return_type(_arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Struct(bin_fields()), true))
    }

    fn groups(args: &AccumulatorArgs) -> Result<Groups> {
        Ok(Groups {
            counts: PerGroup::default(),
            bins: Bins::from_args(args)?,
        })
    }
}

/// Every group of a `GROUP BY`, by group index.
#[derive(Debug)]
struct Groups {
    counts: PerGroup<Counts>,
    bins: Bins,
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.counts.grow(total_num_groups);
        let opt_filter = match filtered(opt_filter) {
            Filtered::None => return Ok(()),
            Filtered::All => None,
            Filtered::Some(f) => Some(f),
        };
        let column = values[0].as_primitive::<Float64Type>();
        let bins = self.bins;
        if opt_filter.is_none() && column.null_count() == 0 {
            // The usual case, without a check per row, a run of one group's rows at a
            // time (a corpus's rows come together): a group counting every bin adds
            // into its counts directly.
            let mut start = 0;
            for run in group_indices.chunk_by(|a, b| a == b) {
                let values = &column.values()[start..start + run.len()];
                start += run.len();
                self.counts.change(run[0], |counts| {
                    let ks = values.iter().filter_map(|&v| bins.of(v));
                    if let Counts::All(all) = &mut *counts {
                        ks.for_each(|k| all[k] += 1);
                    } else {
                        ks.for_each(|k| counts.add(k, 1, bins.count));
                    }
                });
            }
            return Ok(());
        }
        for (row, &group) in group_indices.iter().enumerate() {
            if passes(opt_filter, row)
                && column.is_valid(row)
                && let Some(k) = bins.of(column.value(row))
            {
                self.counts.change(group, |c| c.add(k, 1, bins.count));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(bins_list(&self.counts.take(emit_to)))
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
        self.counts.grow(total_num_groups);
        let bins = self.bins.count;
        let lists = values[0].as_list::<i32>();
        let pairs = lists.values().as_struct();
        let bin = pairs.column(0).as_primitive::<Int64Type>();
        let clips = pairs.column(1).as_primitive::<Int64Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let (start, end) = (lists.offsets()[row], lists.offsets()[row + 1]);
            for i in start as usize..end as usize {
                // A partial state's bins are bins of the same layout.
                let k = usize::try_from(bin.value(i)).unwrap_or(0).min(bins - 1);
                self.counts
                    .change(group, |c| c.add(k, clips.value(i), bins));
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: its one bin, or none.
        let column = values[0].as_primitive::<Float64Type>();
        let rows: Vec<Counts> = (0..column.len())
            .map(|row| {
                let bin = (passes(opt_filter, row) && column.is_valid(row))
                    .then(|| self.bins.of(column.value(row)))
                    .flatten();
                let mut counts = Counts::default();
                if let Some(k) = bin {
                    counts.add(k, 1, self.bins.count);
                }
                counts
            })
            .collect();
        Ok(vec![bins_list(&rows)])
    }

    fn size(&self) -> usize {
        self.counts.size()
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
            counts: PerGroup::default(),
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
        assert_eq!(pairs(&out, 0), [(0, 1), (1, 1), (2, 1)]);
        assert_eq!(pairs(&out, 1), [(2, 1)]);
    }

    #[test]
    fn a_filter_counts_the_rows_it_passes_and_none_when_it_passes_none() {
        let bins = Bins {
            width: 10.0,
            count: 3,
        };
        let col = || vec![Arc::new(Float64Array::from(vec![1.0, 15.0, 25.0])) as ArrayRef];
        let counted = |filter: Option<&BooleanArray>| {
            let mut g = Groups {
                counts: PerGroup::default(),
                bins,
            };
            g.update_batch(&col(), &[0, 0, 1], filter, 2).unwrap();
            let held = g.counts.held();
            let out = g.evaluate(EmitTo::All).unwrap();
            (pairs(&out, 0), pairs(&out, 1), held)
        };
        let every = counted(None);
        assert_eq!(
            (every.0.clone(), every.1.clone()),
            (vec![(0, 1), (1, 1)], vec![(2, 1)])
        );
        // Passing every row is no filter; passing some counts those; passing none leaves
        // every group empty, holding nothing (stats without --plot).
        assert_eq!(counted(Some(&BooleanArray::from(vec![true; 3]))), every);
        let some = counted(Some(&BooleanArray::from(vec![
            Some(false),
            None,
            Some(true),
        ])));
        assert_eq!((some.0, some.1), (vec![], vec![(2, 1)]));
        assert_eq!(
            counted(Some(&BooleanArray::from(vec![false; 3]))),
            (vec![], vec![], 0)
        );
    }

    /// Group `g`'s (bin, clips) pairs in a result.
    fn pairs(out: &ArrayRef, g: usize) -> Vec<(i64, i64)> {
        let list = out.as_list::<i32>().value(g);
        let pairs = list.as_struct();
        let bin = pairs
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        let clips = pairs
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        bin.into_iter().zip(clips).collect()
    }

    #[test]
    fn a_group_filling_many_bins_counts_them_all() {
        // Group 0 fills 20 bins (past FEW_BINS) in two partitions, some twice; group 1
        // one bin. Every bin comes out once, in order, with all its values.
        let new = || Groups {
            counts: PerGroup::default(),
            bins: HALF,
        };
        let values: Vec<f64> = (0..40).map(|i| f64::from(i % 20) * 0.5 + 0.1).collect();
        let col = |v: &[f64]| vec![Arc::new(Float64Array::from(v.to_vec())) as ArrayRef];
        let (mut a, mut b, mut last) = (new(), new(), new());
        a.update_batch(&col(&values[..25]), &[0; 25], None, 1)
            .unwrap();
        b.update_batch(&col(&values[25..]), &[0; 15], None, 1)
            .unwrap();
        b.update_batch(&col(&[7.0]), &[1], None, 2).unwrap();
        assert!(matches!(a.counts.groups()[0], Counts::All(_)));
        // The size kept as counts come equals the groups' sizes added up.
        let sizes = |g: &Groups| g.counts.groups().iter().map(Held::held).sum::<usize>();
        assert_eq!((a.counts.held(), b.counts.held()), (sizes(&a), sizes(&b)));
        assert!(matches!(b.counts.groups()[1], Counts::Few(_)));
        last.merge_batch(&a.state(EmitTo::All).unwrap(), &[0], 2)
            .unwrap();
        last.merge_batch(&b.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        assert_eq!(last.counts.held(), sizes(&last));
        let out = last.evaluate(EmitTo::All).unwrap();
        assert_eq!(last.counts.held(), 0, "emitted groups leave the size");
        let want: Vec<(i64, i64)> = (0..20).map(|k| (k, 2)).collect();
        assert_eq!(pairs(&out, 0), want);
        assert_eq!(pairs(&out, 1), [(14, 1)]);
        // A group of one value holds one pair, not a count per bin.
        let mut one = new();
        one.update_batch(&col(&[7.0]), &[0], None, 1).unwrap();
        assert!(
            one.size() < HALF.count * std::mem::size_of::<i64>() / 4,
            "{}",
            one.size()
        );
    }
}
