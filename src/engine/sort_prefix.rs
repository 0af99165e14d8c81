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

use arrow::array::{StringArray, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

/// The UDF to register on a session.
pub fn udf() -> ScalarUDF {
    super::text_udf::udf("sort_prefix", DataType::UInt64, |texts| {
        Arc::new(prefixes(texts))
    })
}

fn prefixes(texts: &StringArray) -> UInt64Array {
    texts
        .iter()
        .map(|t| t.map(|t| prefix(t.as_bytes())))
        .collect()
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
    use arrow::array::Array;

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
        let p = prefixes(&StringArray::from(vec![None, Some("ab")]));
        assert!(p.is_null(0));
        assert_eq!(p.value(1), 0x6162 << 48);
    }
}
