//! `key_bucket(text)`: which of the run's buckets a dedup key falls in.
//!
//! The rows are split by it (sql/bucketed.sql) and each bucket is ranked on its own
//! (sql/fates.sql): every row of a key lands in the same bucket, so ranking inside
//! buckets is ranking inside keys. It decides nothing about a row; a different spread
//! of keys over buckets gives the same fates.

use std::sync::Arc;

use arrow::array::{Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

/// The UDF to register on a session, spreading keys over `count` buckets (at least one).
pub fn udf(count: usize) -> ScalarUDF {
    let count = count.max(1) as u64;
    super::text_udf::udf("key_bucket", DataType::Int32, move |keys| {
        Arc::new(buckets(keys, count))
    })
}

fn buckets(keys: &StringArray, count: u64) -> Int32Array {
    keys.iter()
        .map(|k| k.map(|k| bucket_of(k.as_bytes(), count) as i32))
        .collect()
}

/// The bucket of one key among `count` (at least one): what `key_bucket` computes, for
/// code that groups rows the same way outside the query (the wide row store).
pub fn bucket_of(key: &[u8], count: u64) -> u64 {
    hash(key) % count.max(1)
}

/// A fast, well-mixed 64-bit hash (word-at-a-time multiply-xorshift); not for security.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = bytes.len() as u64 ^ K;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^= h >> 32;
    h.wrapping_mul(K) >> 7
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn equal_keys_share_a_bucket_and_keys_spread() {
        let keys: Vec<String> = (0..6400).map(|i| format!("{:064x}", i * 7919)).collect();
        let arr = StringArray::from(keys.clone());
        let b = buckets(&arr, 64);
        assert_eq!(b, buckets(&arr, 64));
        let mut counts = [0usize; 64];
        for (k, v) in keys.iter().zip(b.values()) {
            counts[*v as usize] += 1;
            // The function the wide row store groups by agrees with the UDF.
            assert_eq!(bucket_of(k.as_bytes(), 64), *v as u64);
        }
        // 100 a bucket on average; a usable spread keeps every bucket well populated.
        assert!(counts.iter().all(|&c| c > 50 && c < 150), "{counts:?}");
    }

    #[test]
    fn null_keys_stay_null() {
        let arr = StringArray::from(vec![None::<&str>]);
        assert!(buckets(&arr, 64).is_null(0));
    }
}
