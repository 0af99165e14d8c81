//! What `stats`' own aggregates (`exact_quantiles`, `joined_distinct`, `bin_counts`)
//! share: how DataFusion sees them (name, signature, result type, a partial state that
//! is one list per group, an accumulator for one group and one for many), how their
//! literal arguments are read, and the per-row filter of a `FILTER (WHERE …)` clause.
//! Each aggregate says only what is its own, as a [`Kind`].

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, GroupsAccumulator, Signature,
};

/// One aggregate's own parts.
pub trait Kind: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The name SQL calls it by.
    const NAME: &'static str;
    /// What its partial state lists per group (the name of the state field says it too).
    const STATE: (&'static str, DataType);

    fn return_type(arg_types: &[DataType]) -> Result<DataType>;
    /// The accumulator for an aggregate without `GROUP BY`.
    fn one_group(args: &AccumulatorArgs) -> Result<Box<dyn Accumulator>>;
    /// The accumulator for every group of a `GROUP BY`.
    fn groups(args: &AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>>;
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
        K::one_group(&args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let (what, item) = K::STATE;
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
        K::groups(&args)
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

/// Whether a row passes the aggregate's `FILTER (WHERE …)`, if it has one.
pub fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}
