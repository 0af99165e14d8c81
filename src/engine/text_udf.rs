//! The plumbing of mosagg's scalar functions of one text (`key_bucket`): the argument
//! check, the cast to `Utf8`, and a scalar argument answered through a one-row array.
//! Each function then only maps texts to values.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// A UDF `name(text) -> returns` that computes a column with `column` (NULL in, NULL
/// out is up to `column`).
pub fn udf(
    name: &'static str,
    returns: DataType,
    column: impl Fn(&StringArray) -> ArrayRef + Send + Sync + 'static,
) -> ScalarUDF {
    let on_array = move |a: &ArrayRef| -> Result<ArrayRef> {
        let text = arrow::compute::cast(a, &DataType::Utf8)?;
        Ok(column(text.as_string::<i32>()))
    };
    create_udf(
        name,
        vec![DataType::Utf8],
        returns,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| match args {
            [ColumnarValue::Array(a)] => Ok(ColumnarValue::Array(on_array(a)?)),
            [ColumnarValue::Scalar(s)] => {
                let one = on_array(&s.to_array_of_size(1)?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&one, 0)?))
            }
            _ => Err(DataFusionError::Plan(format!("{name} takes one argument"))),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::results::u64_values;
    use crate::engine::session::collect_sql;
    use arrow::array::UInt64Array;
    use datafusion::prelude::SessionContext;

    fn lengths() -> ScalarUDF {
        udf("text_len", DataType::UInt64, |t| {
            Arc::new(
                t.iter()
                    .map(|t| t.map(|t| t.len() as u64))
                    .collect::<UInt64Array>(),
            )
        })
    }

    /// The `n` column of one query, as numbers.
    async fn lengths_of(ctx: &SessionContext, query: &str) -> Vec<Option<u64>> {
        let batches = collect_sql(ctx, query).await.expect("run");
        u64_values(&batches, "n")
    }

    #[tokio::test]
    async fn columns_scalars_and_nulls_through_sql() {
        let ctx = SessionContext::new();
        ctx.register_udf(lengths());
        let column = "SELECT text_len(t) AS n FROM (VALUES ('abc'), (NULL), ('')) AS v(t)";
        assert_eq!(lengths_of(&ctx, column).await, [Some(3), None, Some(0)]);
        let scalar = "SELECT text_len('hello') AS n";
        assert_eq!(lengths_of(&ctx, scalar).await, [Some(5)]);
    }
}
