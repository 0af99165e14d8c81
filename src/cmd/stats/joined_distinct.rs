//! `joined_distinct(text, separator)`: an aggregate giving a group's distinct non-NULL
//! strings, sorted by their bytes and joined by `separator` (a literal); NULL when the
//! group has none. `stats` labels each group with the native scales behind it this way:
//! "1-5-acr" for a corpus, "0-100-dcr+1-5-acr" for a `--by` group that mixes two.
//!
//! It is `STRING_AGG` over a `SELECT DISTINCT`, in one pass: the DISTINCT form scans
//! the file a second time and hashes two string columns of every row, which was a third
//! of `stats`' time on a 10M-row training set. A file holds a handful of distinct
//! labels: each accumulator keeps every one once and numbers it, and a group keeps the
//! numbers of its own, without an allocation when it has one label (a group per clip,
//! `--by src`, made a string and a list for each of millions of groups).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringArray, StringBuilder, StringViewArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use super::aggregate::{self, Held, Kind, PerGroup, lists, literal, passes};

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
            names: Names::default(),
            separator: separator(args)?,
        })
    }
}

/// The distinct labels an accumulator has met, each once, numbered in the order met.
#[derive(Debug, Default)]
struct Names {
    texts: Vec<String>,
    numbers: HashMap<String, u32>,
    /// The texts' bytes, for the memory pool.
    bytes: usize,
}

/// The last label looked up in one array, by its view: rows of one corpus come
/// together, and within one array equal views are equal texts (the text itself, or its
/// place in the array's buffers). Not across arrays: there the same place may hold
/// another text.
type LastInArray = Option<(u128, u32)>;

impl Names {
    /// The number of the label at `row` of `column`; `last` is the column's own.
    fn number_of(&mut self, column: &StringViewArray, row: usize, last: &mut LastInArray) -> u32 {
        let view = column.views()[row];
        if let Some((last_view, number)) = *last
            && last_view == view
        {
            return number;
        }
        let text = column.value(row);
        let number = match self.numbers.get(text) {
            Some(&number) => number,
            None => {
                // A file has a few labels; more than u32 can number would be a bug.
                let number = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
                self.texts.push(text.to_owned());
                self.numbers.insert(text.to_owned(), number);
                self.bytes += 2 * (text.len() + std::mem::size_of::<String>());
                number
            }
        };
        *last = Some((view, number));
        number
    }

    fn text(&self, number: u32) -> &str {
        &self.texts[number as usize]
    }
}

/// One group's distinct labels, by number, in the order first seen.
#[derive(Debug, Default)]
enum Labels {
    #[default]
    None,
    One(u32),
    Many(Vec<u32>),
}

impl Labels {
    fn add(&mut self, number: u32) {
        match self {
            Labels::None => *self = Labels::One(number),
            Labels::One(first) if *first == number => {}
            Labels::One(first) => *self = Labels::Many(vec![*first, number]),
            // The newest label first: rows of one corpus come together.
            Labels::Many(numbers) => {
                if !numbers.iter().rev().any(|&n| n == number) {
                    numbers.push(number);
                }
            }
        }
    }

    fn numbers(&self) -> &[u32] {
        match self {
            Labels::None => &[],
            Labels::One(number) => std::slice::from_ref(number),
            Labels::Many(numbers) => numbers,
        }
    }

    /// The labels sorted by their bytes and joined by `separator`, into `out`; NULL
    /// when there are none.
    fn append_joined(&self, names: &Names, separator: &str, out: &mut StringBuilder) {
        match self {
            Labels::None => out.append_null(),
            Labels::One(number) => out.append_value(names.text(*number)),
            Labels::Many(numbers) => {
                let mut sorted: Vec<&str> = numbers.iter().map(|&n| names.text(n)).collect();
                sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                out.append_value(sorted.join(separator));
            }
        }
    }
}

/// The strings of an argument, whichever string type it came as.
fn strings(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8View => Arc::clone(array),
        _ => cast(array, &DataType::Utf8View)?,
    })
}

/// Lists of labels (the partial aggregate's state): each group's, given by number.
fn labels_list<'a>(groups: impl Iterator<Item = &'a [u32]> + Clone, names: &Names) -> ArrayRef {
    let lengths = groups.clone().map(<[u32]>::len);
    let flat: StringArray = groups.flatten().map(|&n| Some(names.text(n))).collect();
    lists(OffsetBuffer::from_lengths(lengths), Arc::new(flat))
}

impl Held for Labels {
    /// The numbers of a group with more than one label.
    fn held(&self) -> usize {
        match self {
            Labels::Many(numbers) => numbers.capacity() * std::mem::size_of::<u32>(),
            Labels::None | Labels::One(_) => 0,
        }
    }
}

/// Every group of a `GROUP BY`, by group index.
#[derive(Debug)]
struct Groups {
    labels: PerGroup<Labels>,
    names: Names,
    separator: String,
}

impl Groups {
    /// Adds the labels of a partial state to the groups named by `group_indices`.
    fn merge_lists(&mut self, lists: &ArrayRef, group_indices: &[usize]) -> Result<()> {
        let lists = lists.as_list::<i32>();
        // The labels of every list read once, each list by its offsets: a list taken
        // out and cast on its own cost two arrays per group, with a group per clip
        // most of the final aggregate's time.
        let labels = strings(lists.values())?;
        let labels = labels.as_string_view();
        let mut last = None;
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let (start, end) = (lists.offsets()[row], lists.offsets()[row + 1]);
            for i in start as usize..end as usize {
                if labels.is_valid(i) {
                    let number = self.names.number_of(labels, i, &mut last);
                    self.labels.change(group, |g| g.add(number));
                }
            }
        }
        Ok(())
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
        self.labels.grow(total_num_groups);
        let column = strings(&values[0])?;
        let column = column.as_string_view();
        // A row whose view (a short string itself, or a long one's place) equals the
        // row before's, in the same group, adds nothing: a corpus's rows come together
        // and share a label, so most rows cost one comparison of 16 bytes.
        let views = column.views();
        let mut previous: Option<(usize, u128)> = None;
        let mut last = None;
        for (row, &group) in group_indices.iter().enumerate() {
            if passes(opt_filter, row) && column.is_valid(row) {
                let seen = Some((group, views[row]));
                if seen != previous {
                    let number = self.names.number_of(column, row, &mut last);
                    self.labels.change(group, |g| g.add(number));
                    previous = seen;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.labels.take(emit_to);
        let mut joined = StringBuilder::with_capacity(groups.len(), 0);
        for g in &groups {
            g.append_joined(&self.names, &self.separator, &mut joined);
        }
        Ok(Arc::new(joined.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.labels.take(emit_to);
        Ok(vec![labels_list(
            groups.iter().map(Labels::numbers),
            &self.names,
        )])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.labels.grow(total_num_groups);
        self.merge_lists(&values[0], group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a list of its one label, or an empty list.
        let column = strings(&values[0])?;
        let column = column.as_string_view();
        let kept = |row: usize| passes(opt_filter, row) && column.is_valid(row);
        let lengths = (0..column.len()).map(|row| usize::from(kept(row)));
        let flat: StringArray = (0..column.len())
            .filter(|&row| kept(row))
            .map(|row| Some(column.value(row)))
            .collect();
        Ok(vec![lists(
            OffsetBuffer::from_lengths(lengths),
            Arc::new(flat),
        )])
    }

    fn size(&self) -> usize {
        self.labels.size() + self.names.bytes
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
            names: Names::default(),
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
        assert!(sizes >= 3 * std::mem::size_of::<u32>());
        // Each distinct label is kept once, however many rows and groups carry it.
        assert_eq!(g.names.texts, ["vmaf", "1-5-acr", "0-100-dcr"]);
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
            names: Names::default(),
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

    #[test]
    fn labels_longer_than_a_view_keep_their_own_text_from_batch_to_batch() {
        // Two batches whose one long label sits at the same place of their own buffers:
        // the same view, another text.
        let mut g = Groups {
            labels: PerGroup::default(),
            names: Names::default(),
            separator: "+".into(),
        };
        let batch = |label: &str| vec![Arc::new(StringViewArray::from(vec![label])) as ArrayRef];
        g.update_batch(&batch("scale-long-aaaaa"), &[0], None, 2)
            .unwrap();
        g.update_batch(&batch("scale-long-bbbbb"), &[1], None, 2)
            .unwrap();
        let mut last = Groups {
            labels: PerGroup::default(),
            names: Names::default(),
            separator: "+".into(),
        };
        let state = |label: &str| {
            vec![lists(
                OffsetBuffer::from_lengths([1]),
                Arc::new(StringArray::from(vec![label])),
            )]
        };
        last.merge_batch(&state("scale-long-ccccc"), &[0], 2)
            .unwrap();
        last.merge_batch(&state("scale-long-ddddd"), &[1], 2)
            .unwrap();
        for (g, want) in [
            (g, ["scale-long-aaaaa", "scale-long-bbbbb"]),
            (last, ["scale-long-ccccc", "scale-long-ddddd"]),
        ] {
            let mut g = g;
            let out = g.evaluate(EmitTo::All).unwrap();
            let out = out.as_string::<i32>();
            assert_eq!([out.value(0), out.value(1)], want);
        }
    }

    #[test]
    fn a_group_of_one_label_holds_nothing_of_its_own() {
        // A group per clip, all of one corpus: one text kept, no group holding anything;
        // the rows as their own states (convert_to_state) merge into the same result.
        let mut g = Groups {
            labels: PerGroup::default(),
            names: Names::default(),
            separator: "+".into(),
        };
        let rows: Vec<Option<&str>> = vec![Some("1-5-acr"); 1000];
        let groups: Vec<usize> = (0..1000).collect();
        g.update_batch(&col(&rows), &groups, None, 1000).unwrap();
        assert_eq!(g.labels.held(), 0);
        assert_eq!(g.names.texts.len(), 1);
        let mut merged = Groups {
            labels: PerGroup::default(),
            names: Names::default(),
            separator: "+".into(),
        };
        let mut with_null = rows.clone();
        with_null[7] = None;
        let filter = BooleanArray::from((0..1000).map(|i| i != 3).collect::<Vec<_>>());
        let states = g.convert_to_state(&col(&with_null), Some(&filter)).unwrap();
        merged.merge_batch(&states, &groups, 1000).unwrap();
        let (direct, merged) = (
            g.evaluate(EmitTo::All).unwrap(),
            merged.evaluate(EmitTo::All).unwrap(),
        );
        let (direct, merged) = (direct.as_string::<i32>(), merged.as_string::<i32>());
        assert!(direct.iter().all(|l| l == Some("1-5-acr")));
        for i in 0..1000 {
            let want = (i != 3 && i != 7).then_some("1-5-acr");
            assert_eq!(merged.is_valid(i).then(|| merged.value(i)), want, "row {i}");
        }
    }
}
