//! `joined_distinct(text, separator)`: an aggregate giving a group's distinct non-NULL
//! strings, sorted by their bytes and joined by `separator` (a literal); NULL when the
//! group has none. `stats` labels each group with the native scales behind it this way:
//! "1-5-acr" for a corpus, "0-100-dcr+1-5-acr" for a `--by` group that mixes two.
//!
//! It is `STRING_AGG` over a `SELECT DISTINCT`, in one pass: the DISTINCT form scans
//! the file a second time and hashes two string columns of every row, which was a third
//! of `stats`' time on a 10M-row training set. A group holds a handful of distinct
//! labels, so each keeps them in a short list and a row usually matches the one it
//! checks first.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::aggregate::{self, Held, Kind, PerGroup, literal, passes};

/// The aggregate to register on a session.
pub fn udaf() -> AggregateUDF {
    let text = [DataType::Utf8, DataType::Utf8View, DataType::LargeUtf8];
    aggregate::udaf::<JoinedDistinct>(Signature::one_of(
        text.iter()
            .flat_map(|value| {
                text.iter()
                    .map(|sep| TypeSignature::Exact(vec![value.clone(), sep.clone()]))
            })
            .collect(),
        Volatility::Immutable,
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JoinedDistinct;

/// The separator: the second argument, a string literal.
fn separator(args: &AccumulatorArgs) -> Result<String> {
    match literal(args, 1) {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Ok(s),
        _ => Err(DataFusionError::Plan(
            "joined_distinct: the separator must be a string literal".into(),
        )),
    }
}

impl Kind for JoinedDistinct {
    const NAME: &'static str = "joined_distinct";
    fn state() -> (&'static str, DataType) {
        ("labels", DataType::Utf8)
    }
    type Groups = Groups;

    fn return_type(_arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn groups(args: &AccumulatorArgs) -> Result<Groups> {
        Ok(Groups {
            labels: PerGroup::default(),
            separator: separator(args)?,
        })
    }
}

/// One group's distinct labels, in the order first seen.
#[derive(Debug, Default)]
struct Labels(Vec<String>);

impl Labels {
    fn add(&mut self, label: &str) {
        // The newest label first: rows of one corpus come together.
        if !self.0.iter().rev().any(|l| l == label) {
            self.0.push(label.to_owned());
        }
    }

    fn joined(&self, separator: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted: Vec<&str> = self.0.iter().map(String::as_str).collect();
        sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Some(sorted.join(separator))
    }
}

/// The strings of an argument, whichever string type it came as.
fn strings(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8View => Arc::clone(array),
        _ => cast(array, &DataType::Utf8View)?,
    })
}

/// Each group's labels as one list (the partial aggregate's state).
fn labels_list(groups: Vec<Labels>) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(|g| g.0.len()));
    let flat: StringArray = groups.into_iter().flat_map(|g| g.0).map(Some).collect();
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Utf8, true)),
        offsets,
        Arc::new(flat),
        None,
    ))
}

impl Held for Labels {
    /// Each label's `String` and its bytes (a group holds a handful).
    fn held(&self) -> usize {
        self.0
            .iter()
            .map(|l| std::mem::size_of::<String>() + l.len())
            .sum()
    }
}

/// Adds the labels of a partial state to the groups named by `group_indices`.
fn merge_lists(
    target: &mut PerGroup<Labels>,
    lists: &ArrayRef,
    group_indices: &[usize],
) -> Result<()> {
    let lists = lists.as_list::<i32>();
    // The labels of every list read once, each list by its offsets: a list taken out
    // and cast on its own cost two arrays per group, with a group per clip most of the
    // final aggregate's time.
    let labels = strings(lists.values())?;
    let labels = labels.as_string_view();
    for (row, &group) in group_indices.iter().enumerate() {
        if lists.is_null(row) {
            continue;
        }
        let (start, end) = (lists.offsets()[row], lists.offsets()[row + 1]);
        for i in start as usize..end as usize {
            if labels.is_valid(i) {
                target.change(group, |g| g.add(labels.value(i)));
            }
        }
    }
    Ok(())
}

/// Every group of a `GROUP BY`, by group index.
#[derive(Debug)]
struct Groups {
    labels: PerGroup<Labels>,
    separator: String,
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.labels.grow(total_num_groups);
        let column = strings(&values[0])?;
        let column = column.as_string_view();
        // A row whose view (a short string itself, or a long one's place) equals the
        // row before's, in the same group, adds nothing: a corpus's rows come together
        // and share a label, so most rows cost one comparison of 16 bytes.
        let views = column.views();
        let mut previous: Option<(usize, u128)> = None;
        for (row, &group) in group_indices.iter().enumerate() {
            if passes(opt_filter, row) && column.is_valid(row) {
                let seen = Some((group, views[row]));
                if seen != previous {
                    self.labels.change(group, |g| g.add(column.value(row)));
                    previous = seen;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.labels.take(emit_to);
        let joined: StringArray = groups.iter().map(|g| g.joined(&self.separator)).collect();
        Ok(Arc::new(joined))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![labels_list(self.labels.take(emit_to))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.labels.grow(total_num_groups);
        merge_lists(&mut self.labels, &values[0], group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a list of its one label, or an empty list.
        let column = strings(&values[0])?;
        let column = column.as_string_view();
        let rows = (0..column.len())
            .map(|row| {
                let mut labels = Labels::default();
                if passes(opt_filter, row) && column.is_valid(row) {
                    labels.add(column.value(row));
                }
                labels
            })
            .collect();
        Ok(vec![labels_list(rows)])
    }

    fn size(&self) -> usize {
        self.labels.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(v: &[Option<&str>]) -> Vec<ArrayRef> {
        vec![Arc::new(StringArray::from(v.to_vec())) as ArrayRef]
    }

    #[test]
    fn distinct_labels_sorted_by_bytes_and_joined() {
        let mut g = Groups {
            labels: PerGroup::default(),
            separator: "+".into(),
        };
        let rows = [
            Some("vmaf"),
            Some("1-5-acr"),
            None,
            Some("vmaf"),
            Some("0-100-dcr"),
            None,
        ];
        g.update_batch(&col(&rows), &[0, 0, 0, 0, 0, 1], None, 2)
            .unwrap();
        // The size kept as labels come equals the labels' size added up.
        let sizes = g.labels.groups().iter().map(Held::held).sum::<usize>();
        assert_eq!(g.labels.held(), sizes);
        assert_eq!(
            g.labels.held(),
            3 * std::mem::size_of::<String>() + "vmaf1-5-acr0-100-dcr".len()
        );
        let out = g.evaluate(EmitTo::All).unwrap();
        assert_eq!(g.labels.held(), 0, "emitted groups leave the size");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "0-100-dcr+1-5-acr+vmaf");
        // A group whose labels are all NULL has no label, as STRING_AGG gives.
        assert!(out.is_null(1));
    }

    #[test]
    fn partial_states_merge_into_the_same_label() {
        let new = || Groups {
            labels: PerGroup::default(),
            separator: "+".into(),
        };
        let (mut a, mut b, mut last) = (new(), new(), new());
        a.update_batch(&col(&[Some("b"), Some("a")]), &[0, 1], None, 2)
            .unwrap();
        b.update_batch(&col(&[Some("a"), Some("a")]), &[0, 1], None, 2)
            .unwrap();
        last.merge_batch(&a.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        last.merge_batch(&b.state(EmitTo::All).unwrap(), &[0, 1], 2)
            .unwrap();
        let out = last.evaluate(EmitTo::All).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!((out.value(0), out.value(1)), ("a+b", "a"));
    }
}
