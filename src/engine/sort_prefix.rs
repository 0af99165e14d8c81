//! `sort_prefix(group, text)`: a number that sorts as `(group, text)` does on their
//! leading bytes, so a sort compares most rows with one integer comparison.
//!
//! The ranking sorts each bucket by dedup key (usable rows first), and, where the
//! dedup rank does not give the output order (fates_by_text.sql), by corpus, then
//! content hash. DataFusion compares rows column by column, with a call
//! through a pointer per column and a byte comparison per text, and those comparisons
//! were the largest part of the ranking. Placed first in an ORDER BY
//! (`sort_prefix(g, t), …, t`), the number decides every comparison of rows whose
//! group or first seven text bytes differ, and the columns after it decide the rest.
//!
//! The number is the group in the top byte and the text's first seven bytes below it,
//! zero-padded. So it never contradicts the order of (group, text):
//! - a group from 0 to 254 is itself; a lower group gives a lower number whatever the
//!   text;
//! - every other group (NULL, negative, 255 and above) gives one number, above every
//!   other group's, with no text bits: rows in it tie, and the ORDER BY's next columns
//!   order them; a caller whose groups can go past 254 lists the group's own column
//!   next (fates_by_text.sql lists the corpus);
//! - a text sorts before its own extensions, and the zero padding never sorts a text
//!   after them;
//! - a NULL text gives the highest number of its group, as NULLS LAST puts it after
//!   every text of the group; rows that tie there are ordered by the next columns.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// The group every group out of 0..=254 (and NULL) falls in.
const LAST_GROUP: u64 = 0xFF;
/// The text bytes below the group byte.
const TEXT_BYTES: usize = 7;

/// The UDF to register on a session.
pub fn udf() -> ScalarUDF {
    create_udf(
        "sort_prefix",
        // Any integer group is coerced to Int64 (an unsigned 64-bit one is not; no caller
        // has one).
        vec![DataType::Int64, DataType::Utf8],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            if args.len() != 2 {
                return Err(DataFusionError::Plan(
                    "sort_prefix takes two arguments: a group and a text".into(),
                ));
            }
            let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let groups = arrow::compute::cast(&arrays[0], &DataType::Int64)?;
            let texts = arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
            let out: ArrayRef = Arc::new(prefixes(
                groups.as_primitive::<Int64Type>(),
                texts.as_string::<i32>(),
            ));
            Ok(if all_scalar {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(out)
            })
        }),
    )
}

fn prefixes(groups: &Int64Array, texts: &StringArray) -> UInt64Array {
    (0..texts.len())
        .map(|i| {
            let group = groups.is_valid(i).then(|| groups.value(i));
            let text = texts.is_valid(i).then(|| texts.value(i).as_bytes());
            Some(prefix(group, text))
        })
        .collect()
}

/// The number for one row: the group byte, then the text's first seven bytes. (Also
/// the floor probe's, so its sort is the ranking's.)
pub fn prefix(group: Option<i64>, text: Option<&[u8]>) -> u64 {
    let group = match group {
        Some(g @ 0..=254) => g as u64,
        _ => return LAST_GROUP << 56,
    };
    let below = match text {
        Some(bytes) => {
            let mut word = [0u8; 8];
            let n = bytes.len().min(TEXT_BYTES);
            word[1..=n].copy_from_slice(&bytes[..n]);
            u64::from_be_bytes(word)
        }
        None => (1 << 56) - 1,
    };
    group << 56 | below
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    const TEXTS: [&str; 15] = [
        "",
        "a",
        "a\u{0}",
        "a\u{0}\u{1}",
        "ab",
        "abcdefg",
        "abcdefgh",
        "abcdefgh0",
        "abcdefi",
        "b",
        "f0e1",
        "f0e10000000000000000",
        "ff",
        "é",
        "zzzzzzzzzzzzzzzz",
    ];

    /// (group, text) as an ORDER BY group, text (ASC NULLS LAST both) orders them.
    fn by_columns(a: (Option<i64>, Option<&str>), b: (Option<i64>, Option<&str>)) -> Ordering {
        let nulls_last = |x: Option<i64>, y: Option<i64>| match (x, y) {
            (Some(x), Some(y)) => x.cmp(&y),
            (x, y) => y.is_none().cmp(&x.is_none()).reverse(),
        };
        let texts = |x: Option<&str>, y: Option<&str>| match (x, y) {
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
            (x, y) => y.is_none().cmp(&x.is_none()).reverse(),
        };
        nulls_last(a.0, b.0).then_with(|| texts(a.1, b.1))
    }

    #[test]
    fn the_prefix_never_contradicts_the_group_then_the_text() {
        let groups = [Some(0), Some(1), Some(7), Some(254)];
        let texts = TEXTS.iter().map(|t| Some(*t)).chain([None]);
        let rows: Vec<(Option<i64>, Option<&str>)> = groups
            .iter()
            .flat_map(|g| texts.clone().map(move |t| (*g, t)))
            .collect();
        for &a in &rows {
            for &b in &rows {
                let (pa, pb) = (
                    prefix(a.0, a.1.map(str::as_bytes)),
                    prefix(b.0, b.1.map(str::as_bytes)),
                );
                // The prefix, then the columns, sorts exactly as the columns do.
                assert_eq!(
                    pa.cmp(&pb).then_with(|| by_columns(a, b)),
                    by_columns(a, b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn groups_out_of_range_tie_above_every_other_group() {
        let last = prefix(Some(254), Some(b"zzzzzzzz"));
        for group in [None, Some(-1), Some(255), Some(1_000)] {
            let p = prefix(group, Some(b"abc"));
            assert!(p > last, "{group:?}");
            // No text bits: the next ORDER BY column orders these rows.
            assert_eq!(p, prefix(group, Some(b"zzz")), "{group:?}");
            assert_eq!(p, prefix(group, None), "{group:?}");
        }
    }

    #[test]
    fn the_group_byte_then_seven_text_bytes() {
        assert_eq!(prefix(Some(1), Some(b"ab")), 0x0161_6200_0000_0000);
        assert_eq!(prefix(Some(0), Some(b"abcdefghij")), 0x0061_6263_6465_6667);
        assert_eq!(prefix(Some(2), None), 0x02FF_FFFF_FFFF_FFFF);
    }

    /// Through SQL: the group as any integer column or a CASE, the text as a column or
    /// a literal; a row a column at a time, or a scalar.
    #[tokio::test]
    async fn through_sql_with_the_groups_the_queries_use() {
        use crate::engine::results::u64_values;
        use crate::engine::session::collect_sql;

        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(udf());
        let query = "SELECT sort_prefix(CAST(g AS TINYINT UNSIGNED), t) AS a, \
                            sort_prefix(CASE WHEN t IS NULL THEN 1 ELSE 0 END, t) AS b, \
                            sort_prefix(3, 'ab') AS c \
                     FROM (VALUES (1, 'ab'), (NULL, 'x'), (2, NULL)) AS v(g, t)";
        let batches = collect_sql(&ctx, query).await.expect("run");
        let column = |name: &str| -> Vec<u64> {
            u64_values(&batches, name)
                .into_iter()
                .map(|v| v.expect("never NULL"))
                .collect()
        };
        assert_eq!(
            column("a"),
            [0x0161_6200_0000_0000, 0xFF << 56, 0x02FF_FFFF_FFFF_FFFF]
        );
        assert_eq!(
            column("b"),
            [0x0061_6200_0000_0000, 0x0078 << 48, 0x01FF_FFFF_FFFF_FFFF]
        );
        assert_eq!(column("c"), [0x0361_6200_0000_0000; 3]);
    }
}
