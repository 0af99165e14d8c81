//! `sort_prefix(text)`: the first eight bytes of a text as a big-endian number, so a
//! sort compares most rows with one integer comparison.
//!
//! The ranking sorts each bucket by 64-character hex hashes. Placed before the text in
//! an ORDER BY (`sort_prefix(k), k`), the prefix decides every comparison of texts
//! whose first eight bytes differ, and the text itself decides the rest: the order is
//! the text's byte order, unchanged. A shorter text is padded with zero bytes, which
//! keeps that promise (a text sorts before its own extensions, and the padded prefix
//! never sorts after them). NULL stays NULL, so NULLS FIRST / LAST still apply.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// The UDF to register on a session.
pub fn udf() -> ScalarUDF {
    create_udf(
        "sort_prefix",
        vec![DataType::Utf8],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let Some(arg) = args.first() else {
                return Err(datafusion::error::DataFusionError::Plan(
                    "sort_prefix takes one argument".into(),
                ));
            };
            match arg {
                ColumnarValue::Array(a) => Ok(ColumnarValue::Array(prefixes(a)?)),
                ColumnarValue::Scalar(s) => {
                    let one = prefixes(&s.to_array_of_size(1)?)?;
                    Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&one, 0)?))
                }
            }
        }),
    )
}

fn prefixes(a: &ArrayRef) -> datafusion::error::Result<ArrayRef> {
    let a = arrow::compute::cast(a, &DataType::Utf8)?;
    let texts = a.as_string::<i32>();
    let out: UInt64Array = texts
        .iter()
        .map(|t| t.map(|t| prefix(t.as_bytes())))
        .collect();
    Ok(Arc::new(out))
}

/// The first eight bytes, zero-padded, most significant first.
fn prefix(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    #[test]
    fn the_prefix_then_the_text_sorts_as_the_text() {
        let texts = [
            "",
            "a",
            "a\u{0}",
            "a\u{0}\u{1}",
            "ab",
            "abcdefgh",
            "abcdefgh0",
            "abcdefgi",
            "b",
            "f0e1",
            "f0e10000000000000000",
            "ff",
            "é",
            "zzzzzzzzzzzzzzzz",
        ];
        for a in texts {
            for b in texts {
                let by_prefix = prefix(a.as_bytes())
                    .cmp(&prefix(b.as_bytes()))
                    .then_with(|| a.as_bytes().cmp(b.as_bytes()));
                assert_eq!(by_prefix, a.as_bytes().cmp(b.as_bytes()), "{a:?} vs {b:?}");
                // The prefix alone never contradicts the text's order.
                if prefix(a.as_bytes()) < prefix(b.as_bytes()) {
                    assert!(a.as_bytes() < b.as_bytes(), "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn nulls_stay_null() {
        let arr: ArrayRef = Arc::new(StringArray::from(vec![None, Some("ab")]));
        let p = prefixes(&arr).expect("prefixes");
        assert!(p.is_null(0));
        assert_eq!(
            p.as_primitive::<arrow::datatypes::UInt64Type>().value(1),
            0x6162 << 48
        );
    }
}
