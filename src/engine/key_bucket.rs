//! `key_bucket(text)`: which of the run's buckets a dedup key falls in.
//!
//! The rows are split by it (sql/bucketed.sql) and each bucket is ranked on its own
//! (sql/fates.sql): every row of a key lands in the same bucket, so ranking inside
//! buckets is ranking inside keys. It decides nothing about a row; a different spread
//! of keys over buckets gives the same fates.
//!
//! Two spreads. When the keys are content hashes in lowercase hex (what the adapters
//! write), the buckets are ranges of keys in byte order: every key of a bucket sorts
//! before every key of the next, so the kept rows of the buckets, each bucket in output
//! order, are in output order one bucket after the other within each corpus, and the
//! final merge only has to lay them end to end (src/engine/range_runs.rs). Keys that
//! are not content hashes (`__nokey__/...`, unified.sql) get a bucket of their own, the
//! last, merged in the usual way. For keys of any other shape the ranges would be
//! uneven, so they are spread by a hash, as before, and the buckets merged row by row.

use std::sync::Arc;

use arrow::array::{Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

/// How keys are spread over the buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// By a hash: even for keys of any shape, in no order.
    Hash,
    /// By ranges of keys in byte order, even for lowercase hex; plus one bucket after
    /// the ranges for the keys of rows without a content hash.
    Range,
}

impl Spread {
    /// The bucket of a key among `count` (see [`hash_bucket_of`], [`range_bucket_of`]).
    pub fn bucket_fn(self) -> fn(&[u8], u64) -> u64 {
        match self {
            Spread::Hash => hash_bucket_of,
            Spread::Range => range_bucket_of,
        }
    }

    /// Buckets a run of `count` has: the range spread's last one holds the keys that
    /// are not content hashes.
    pub fn buckets(self, count: usize) -> usize {
        match self {
            Spread::Hash => count.max(1),
            Spread::Range => count.max(1) + 1,
        }
    }

    /// The spread for keys like `sample` (the first content hashes of the inputs): by
    /// range when nine in ten are lowercase hex and no sixteenth of the ranges holds
    /// more than a quarter of them (about four times its share, a handful more for
    /// small samples); else by hash. Only speed depends on it: keys of any shape land
    /// in the right order in range buckets, only less evenly.
    pub fn judged(sample: &[String]) -> Self {
        let n = sample.len();
        let hex = sample
            .iter()
            .filter(|k| k.len() >= 4 && k.bytes().take(4).all(|c| hex_digit(c).is_some()))
            .count();
        let mut cells = [0usize; SAMPLE_CELLS as usize];
        for k in sample {
            // A key of a row without a hash counts in no cell: it has a bucket of its own.
            if let Some(cell) = cells.get_mut(range_bucket_of(k.as_bytes(), SAMPLE_CELLS) as usize)
            {
                *cell += 1;
            }
        }
        let fullest = cells.iter().copied().max().unwrap_or(0);
        if n > 0 && hex * 10 >= n * 9 && fullest <= n / 4 + 4 {
            Spread::Range
        } else {
            Spread::Hash
        }
    }
}

/// Cells a sample of keys is counted into to judge how even the ranges would be.
const SAMPLE_CELLS: u64 = 16;

/// The UDF to register on a session, spreading keys over `count` buckets (at least one)
/// the `spread` way.
pub fn udf(count: usize, spread: Spread) -> ScalarUDF {
    let count = count.max(1) as u64;
    let bucket_of = spread.bucket_fn();
    super::text_udf::udf("key_bucket", DataType::Int32, move |keys| {
        Arc::new(buckets(keys, count, bucket_of))
    })
}

fn buckets(keys: &StringArray, count: u64, bucket_of: fn(&[u8], u64) -> u64) -> Int32Array {
    keys.iter()
        .map(|k| k.map(|k| bucket_of(k.as_bytes(), count) as i32))
        .collect()
}

/// The bucket of one key among `count` (at least one), spread by a hash: what
/// `key_bucket` computes with `Spread::Hash`, for code that groups rows the same way
/// outside the query (the wide row store).
pub fn hash_bucket_of(key: &[u8], count: u64) -> u64 {
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

/// The start of the dedup key of a row without a content hash (unified.sql).
const NO_HASH_KEY: &[u8] = b"__nokey__/";

/// The bucket of one key among `count` ranges (at least one), or `count` for a key of a
/// row without a content hash: what `key_bucket` computes with `Spread::Range`.
///
/// Never decreasing in the key's byte order, so a bucket's keys all sort before the next
/// bucket's. A content hash that happens to start like a no-hash key goes with those,
/// so two rows that share a key always share a bucket.
pub fn range_bucket_of(key: &[u8], count: u64) -> u64 {
    let count = count.max(1);
    if key.starts_with(NO_HASH_KEY) {
        return count;
    }
    (u64::from(hex_prefix(key)) * count) >> 16
}

/// The key's first four characters read as hex digits, 0 to 0xFFFF, never decreasing in
/// the key's byte order: exact for lowercase hex. A character that is not a lowercase
/// hex digit stands for the nearest value on its side of the digits around it (below
/// '0': the least of what follows; between '9' and 'a', or above 'f': the greatest),
/// and a key shorter than four characters is padded with the least.
fn hex_prefix(key: &[u8]) -> u16 {
    let mut value: u32 = 0;
    for i in 0..4 {
        // The character's digit, and what stands for the characters after it when they
        // no longer matter (None while they do).
        let (digit, fill) = match key.get(i).map(|&c| (c, hex_digit(c))) {
            Some((_, Some(digit))) => (digit, None),
            None => (0, Some(0)),
            Some((c, None)) if c < b'0' => (0, Some(0)),
            Some((c, None)) if c < b'a' => (9, Some(15)),
            Some(_) => (15, Some(15)),
        };
        value = value * 16 + digit;
        if let Some(fill) = fill {
            for _ in i + 1..4 {
                value = value * 16 + fill;
            }
            break;
        }
    }
    value as u16
}

/// The value of a lowercase hex digit.
fn hex_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a') + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use sha2::{Digest, Sha256};

    /// Content hashes as the adapters write them: lowercase hex SHA-256.
    fn content_hashes(n: u32) -> Vec<String> {
        (0..n)
            .map(|i| crate::sha::hex(&Sha256::digest(i.to_le_bytes())))
            .collect()
    }

    /// Every bucket of `spread` gets about its share of `keys`, and the UDF agrees with
    /// the function the wide row store groups by.
    fn assert_even(keys: &[String], spread: Spread) {
        let arr = StringArray::from(keys.to_vec());
        let b = buckets(&arr, 64, spread.bucket_fn());
        let mut counts = [0usize; 64];
        for (k, v) in keys.iter().zip(b.values()) {
            counts[*v as usize] += 1;
            assert_eq!((spread.bucket_fn())(k.as_bytes(), 64), *v as u64);
        }
        // 100 a bucket on average; a usable spread keeps every bucket well populated.
        assert!(counts.iter().all(|&c| c > 50 && c < 150), "{counts:?}");
    }

    #[test]
    fn equal_keys_share_a_bucket_and_keys_spread() {
        // Keys of any shape, by the hash.
        let keys: Vec<String> = (0..6400).map(|i| format!("{:064x}", i * 7919)).collect();
        let arr = StringArray::from(keys.clone());
        let b = buckets(&arr, 64, hash_bucket_of);
        assert_eq!(b, buckets(&arr, 64, hash_bucket_of));
        assert_even(&keys, Spread::Hash);
        // Content hashes, by range.
        assert_even(&content_hashes(6400), Spread::Range);
    }

    #[test]
    fn ranges_follow_the_byte_order_of_keys_of_any_shape() {
        let mut keys: Vec<String> = content_hashes(500);
        keys.extend(
            [
                "",
                "0",
                "00",
                "0000",
                "000f",
                "9",
                "9fff",
                "9zzz",
                ":",
                "A",
                "ABCDEF",
                "Z",
                "_",
                "`",
                "a",
                "a0",
                "ffff",
                "fffg",
                "g",
                "z",
                "~",
                "\u{e9}t\u{e9}",
                " 1",
                "!",
                "0a:",
                "0a:b",
                "f_",
                "\u{7f}",
            ]
            .map(String::from),
        );
        keys.sort();
        for count in [1u64, 2, 7, 63, 64, 4096] {
            let buckets: Vec<u64> = keys
                .iter()
                .map(|k| range_bucket_of(k.as_bytes(), count))
                .collect();
            assert!(
                buckets.windows(2).all(|w| w[0] <= w[1]),
                "{count} buckets: {keys:?} -> {buckets:?}"
            );
            assert!(buckets.iter().all(|&b| b < count), "{count}: {buckets:?}");
        }
        assert_eq!(range_bucket_of(b"0000", 64), 0);
        assert_eq!(range_bucket_of(b"ffff", 64), 63);
        assert_eq!(range_bucket_of(b"8000", 64), 32);
    }

    #[test]
    fn keys_without_a_content_hash_get_the_bucket_after_the_ranges() {
        assert_eq!(range_bucket_of(b"__nokey__/clip.mp4/konvid", 7), 7);
        // A content hash spelt like one shares its bucket: the two rows share a key.
        assert_eq!(range_bucket_of(b"__nokey__/", 7), 7);
        assert!(range_bucket_of(b"__nokey_", 7) < 7);
        assert_eq!(Spread::Range.buckets(7), 8);
        assert_eq!(Spread::Hash.buckets(7), 7);
    }

    #[test]
    fn adapter_hashes_are_spread_by_range_and_other_keys_by_hash() {
        let hashes = content_hashes(300);
        assert_eq!(Spread::judged(&hashes), Spread::Range);
        assert_eq!(Spread::judged(&hashes[..3]), Spread::Range);
        assert_eq!(Spread::judged(&[]), Spread::Hash);
        let upper: Vec<String> = hashes.iter().map(|h| h.to_uppercase()).collect();
        assert_eq!(Spread::judged(&upper), Spread::Hash);
        // Hex, but all in one range.
        let padded: Vec<String> = (0..300).map(|i| format!("{i:064x}")).collect();
        assert_eq!(Spread::judged(&padded), Spread::Hash);
        let names: Vec<String> = (0..300).map(|i| format!("clip_{i}.mp4")).collect();
        assert_eq!(Spread::judged(&names), Spread::Hash);
    }

    #[test]
    fn null_keys_stay_null() {
        let arr = StringArray::from(vec![None::<&str>]);
        assert!(buckets(&arr, 64, hash_bucket_of).is_null(0));
        assert!(buckets(&arr, 64, range_bucket_of).is_null(0));
    }
}
