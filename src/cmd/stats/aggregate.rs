//! What `stats`' own aggregates (`exact_quantiles`, `joined_distinct`, `bin_counts`)
//! share: how DataFusion sees them (name, signature, result type, a partial state that
//! is one list per group, an accumulator for one group and one for many), how their
//! literal arguments are read, and the per-row filter of a `FILTER (WHERE …)` clause.
//! Each aggregate says only what is its own, as a [`Kind`]: its accumulator for the
//! groups of a `GROUP BY`, which keeps its groups in a [`PerGroup`]. Without
//! `GROUP BY` the same accumulator serves, with the whole input as its one group
//! ([`OneGroup`]).

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, ListArray, RecordBatch, new_empty_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator,
    Signature,
};

/// One aggregate's own parts.
pub trait Kind: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The name SQL calls it by.
    const NAME: &'static str;
    /// What its partial state lists per group (the name of the state field says it too),
    /// and the type of one item of the list.
    fn state() -> (&'static str, DataType);

    /// Its accumulator, for every group of a `GROUP BY`.
    type Groups: GroupsAccumulator + Debug + Sync + 'static;

    fn return_type(arg_types: &[DataType]) -> Result<DataType>;
    fn groups(args: &AccumulatorArgs) -> Result<Self::Groups>;
}

/// An aggregate of kind `K`, to register on a session.
pub fn udaf<K: Kind>(signature: Signature) -> AggregateUDF {
    AggregateUDF::new_from_impl(Udaf::<K> {
        signature,
        kind: PhantomData,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Udaf<K: Kind> {
    signature: Signature,
    kind: PhantomData<K>,
}

impl<K: Kind> AggregateUDFImpl for Udaf<K> {
    fn name(&self) -> &str {
        K::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        K::return_type(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let mut groups = K::groups(&args)?;
        // The one group exists from the start, so an input without rows still gets
        // the aggregate's value for no rows.
        let no_rows: Vec<ArrayRef> = args
            .expr_fields
            .iter()
            .map(|f| new_empty_array(f.data_type()))
            .collect();
        groups.update_batch(&no_rows, &[], None, 1)?;
        Ok(Box::new(OneGroup(groups)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let (what, item) = K::state();
        Ok(vec![Arc::new(Field::new_list(
            format!("{}[{what}]", args.name),
            Field::new_list_field(item, true),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(K::groups(&args)?))
    }
}

/// An aggregate without `GROUP BY`: the groups accumulator, every row in group 0.
/// Like every aggregate of a query (not a window), it is evaluated once.
#[derive(Debug)]
struct OneGroup<G>(G);

impl<G: GroupsAccumulator + Debug + Sync> Accumulator for OneGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&self.0.evaluate(EmitTo::All)?, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0
            .state(EmitTo::All)?
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |s| s.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
}

/// A partial state: a list per group, group i's items `items[offsets[i]..offsets[i + 1]]`,
/// typed as `state_fields` declares it (a list of the items' type).
pub fn lists(offsets: OffsetBuffer<i32>, items: ArrayRef) -> ArrayRef {
    let item = Field::new_list_field(items.data_type().clone(), true);
    Arc::new(ListArray::new(Arc::new(item), offsets, items, None))
}

/// What one group's state holds beyond itself, in bytes, for the memory pool.
pub trait Held: Default {
    fn held(&self) -> usize;
}

/// Every group's state, by group index, and the bytes they hold, kept as they change:
/// DataFusion asks an accumulator for its size after every batch, and adding it up over
/// every group each time made a group per clip (`stats --by src`) quadratic.
#[derive(Debug, Default)]
pub struct PerGroup<T> {
    groups: Vec<T>,
    held: usize,
}

impl<T: Held> PerGroup<T> {
    /// Room for `total` groups (DataFusion numbers them from 0 as it meets them).
    pub fn grow(&mut self, total: usize) {
        self.groups.resize_with(total, T::default);
    }

    /// Changes group `group` with `change`, counting what that takes or frees.
    pub fn change<R>(&mut self, group: usize, change: impl FnOnce(&mut T) -> R) -> R {
        let state = &mut self.groups[group];
        let before = state.held();
        let out = change(state);
        self.held = self.held - before + state.held();
        out
    }

    /// Takes out the groups `emit_to` names, and their bytes.
    pub fn take(&mut self, emit_to: EmitTo) -> Vec<T> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(Held::held).sum::<usize>();
        taken
    }

    /// The accumulator's size: the states and what they hold.
    pub fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<T>() + self.held
    }

    /// The groups' states, in order.
    #[cfg(test)]
    pub fn groups(&self) -> &[T] {
        &self.groups
    }

    /// What the groups hold, as kept; it must equal their `held` added up.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }
}

/// Argument `i` of the call when it is a literal (a constant needs no row to evaluate).
pub fn literal(args: &AccumulatorArgs, i: usize) -> Option<ScalarValue> {
    let no_rows = RecordBatch::new_empty(Arc::new(Schema::empty()));
    match args.exprs.get(i)?.evaluate(&no_rows) {
        Ok(ColumnarValue::Scalar(value)) => Some(value),
        _ => None,
    }
}

/// The aggregate's `FILTER (WHERE …)` over a batch, as it matters: `All` when every
/// row passes (or there is none), `None` when no row does, else `Some` to ask per row
/// (`passes`). A filter that is a whole-query constant (stats.sql's `drawn`) then
/// costs no check per row either way.
pub enum Filtered<'a> {
    All,
    None,
    Some(&'a BooleanArray),
}

pub fn filtered(filter: Option<&BooleanArray>) -> Filtered<'_> {
    match filter {
        None => Filtered::All,
        Some(f) => match f.true_count() {
            0 => Filtered::None,
            n if n == f.len() => Filtered::All,
            _ => Filtered::Some(f),
        },
    }
}

/// Whether a row passes the aggregate's `FILTER (WHERE …)`, if it has one.
pub fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}
