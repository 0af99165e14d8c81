//! Selecting the ranks behind a group's quantiles: for fraction q of n values sorted
//! ascending, the values at ranks floor(q * (n - 1)) and ceil(q * (n - 1)), found
//! without sorting the group (see quantile.rs for the interpolation).
//!
//! Values are ranked as whole numbers, by `order_key`, in the order of SQL's
//! `ORDER BY`: numbers by value (-0 before +0, as `f64::total_cmp`), every NaN last.
//! A small group is copied into one buffer and its ranks selected in place. A large
//! group is first counted into buckets by the top bits of its keys, read where it lies
//! (the slices it arrived in); only the few buckets holding a wanted rank are then
//! copied out and selected in. On a 7.5M-value group that is two reads of the values
//! rather than a copy and five selections, the single-core tail of `stats`.

use std::borrow::Cow;

/// Groups of at least this many values are ranked by buckets: below it, the bucket
/// counts (a table of 2^BUCKET_BITS) cost more than they save, and a `--by` column with
/// a group per clip makes many small groups.
const BY_BUCKETS_FROM: usize = 1 << 16;

/// The bucket of a value is the top BUCKET_BITS of its key: the sign, the exponent and
/// 8 bits of the mantissa, so a bucket holds 1/256 of a binary octave (values 32 to 64
/// fall in 256 buckets 0.125 wide). Values this close are few for any real score scale;
/// if they are not, the one bucket is selected in as a whole, which is still correct.
const BUCKET_BITS: u32 = 20;

/// The quantiles of a group's values, given as the slices they are held in, in the order
/// of `fractions`; None for a group without values. Each fraction is in [0, 1].
pub(super) fn quantiles_of(parts: &[Cow<'_, [f64]>], fractions: &[f64]) -> Option<Vec<f64>> {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    if n == 1 {
        // A group of one value (`--by src` makes a group per clip): every rank is that
        // value, which `in_place` would reach through a copy and a selection per
        // fraction. The same steps on the value give the same bits.
        let value = parts.iter().find_map(|p| p.first().copied())?;
        let value = from_order_key(order_key(value));
        let at = |q: f64| interpolated(value, value, ranks_of(q, 1).2);
        return Some(fractions.iter().map(|&q| at(q)).collect());
    }
    // Each wanted rank's bucket gets a slot numbered in a byte (two ranks per fraction).
    if n < BY_BUCKETS_FROM || 2 * fractions.len() >= usize::from(u8::MAX) {
        let mut values = parts.concat();
        in_place(&mut values, fractions)
    } else {
        by_buckets(parts, n, fractions)
    }
}

/// The value at a fraction's position, from the values at its two ranks and the
/// position's fraction part (numpy's linear method). Every way of ranking ends here, so
/// each gives the same bits.
fn interpolated(lo: f64, hi: f64, weight: f64) -> f64 {
    lo + (hi - lo) * weight
}

/// The ranks around q * (n - 1), lower then upper, and the position's fraction part.
fn ranks_of(q: f64, n: usize) -> (usize, usize, f64) {
    let pos = q * (n - 1) as f64;
    let lo = (pos.floor() as usize).min(n - 1);
    let hi = (pos.ceil() as usize).min(n - 1);
    (lo, hi, pos - pos.floor())
}

/// The quantiles of a group's values, reordering them: a small group's way.
///
/// Highest fraction first: once the rank for one fraction is selected, every value at
/// or below it sits in the prefix before it, so the next (lower) fraction selects
/// within that prefix only, and the value just above its rank is the smallest of the
/// prefix's tail or the previous rank's value. (Measured on a 7.5M-value group, when
/// every group was ranked this way: about half the work of selecting each fraction in
/// the whole group.)
///
/// The values are ranked as whole numbers: each is replaced in place by its
/// `order_key`, whose integer order is `order_nan_last`'s, and the two values around a
/// rank are turned back. Comparing integers made the selection about twice as fast as
/// comparing numbers with a NaN check.
fn in_place(values: &mut [f64], fractions: &[f64]) -> Option<Vec<f64>> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    for v in values.iter_mut() {
        *v = f64::from_bits(order_key(*v) as u64);
    }
    let key = |v: &f64| v.to_bits() as i64;
    let mut out = vec![0.0; fractions.len()];
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| fractions[b].total_cmp(&fractions[a]));
    // Values at index >= `bound` are all >= every value before it, and `values[bound]`
    // (when bound < n) is the smallest of them; likewise for `above`, the bound
    // before it (for a fraction whose rank was selected already).
    let mut bound = n;
    let mut above = n;
    for i in order {
        let (lo_rank, hi_rank, weight) = ranks_of(fractions[i], n);
        if lo_rank < bound {
            values[..bound].select_nth_unstable_by_key(lo_rank, key);
            above = bound;
            bound = lo_rank;
        }
        // Here lo_rank == bound: values[lo_rank] holds its value, and the next rank
        // up is the smallest of values[lo_rank + 1 .. above], or values[above].
        let lo = key(&values[lo_rank]);
        let hi = if hi_rank == lo_rank {
            lo
        } else {
            let tail = values[lo_rank + 1..above].iter().map(key);
            tail.chain(values.get(above).map(key)).min().unwrap_or(lo)
        };
        out[i] = interpolated(from_order_key(lo), from_order_key(hi), weight);
    }
    Some(out)
}

/// A number as a whole number in the same order as `order_nan_last`: the sign-magnitude
/// bits of a float turned into two's complement (as `f64::total_cmp` compares them),
/// and every NaN the largest.
fn order_key(v: f64) -> i64 {
    if v.is_nan() {
        return i64::MAX;
    }
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// The number behind an `order_key` (NaN for any NaN's).
fn from_order_key(key: i64) -> f64 {
    if key == i64::MAX {
        return f64::NAN;
    }
    // The flip leaves the sign bit alone, so it is its own inverse.
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
}

/// The quantiles of `n` values (n > 0) held in `parts`, by bucket counts: one pass
/// counts the values per bucket, which names the bucket of every wanted rank and its
/// rank within it; a second pass copies out the values of those buckets only, and each
/// rank is selected within its bucket.
fn by_buckets(parts: &[Cow<'_, [f64]>], n: usize, fractions: &[f64]) -> Option<Vec<f64>> {
    if n == 0 {
        return None;
    }
    let shift = 64 - BUCKET_BITS;
    let bucket = |v: f64| (unsigned_key(v) >> shift) as usize;
    // Untouched counts stay untouched zero pages: a score scale fills a few thousand.
    let mut counts = vec![0usize; 1 << BUCKET_BITS];
    for part in parts {
        for &v in part.iter() {
            counts[bucket(v)] += 1;
        }
    }
    let wanted = fractions.iter().map(|&q| ranks_of(q, n));
    let mut ranks: Vec<usize> = wanted.clone().flat_map(|(lo, hi, _)| [lo, hi]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    // Walk the buckets in order: for each wanted rank, its bucket and its rank within.
    let mut homes: Vec<(usize, usize)> = Vec::with_capacity(ranks.len());
    let (mut b, mut before) = (0, 0);
    for &rank in &ranks {
        while before + counts[b] <= rank {
            before += counts[b];
            b += 1;
        }
        homes.push((b, rank - before));
    }
    // Each bucket that holds a wanted rank gets a slot, and its keys are copied there.
    let mut slot_of = vec![0u8; 1 << BUCKET_BITS];
    let mut slots: Vec<Vec<i64>> = Vec::new();
    for &(b, _) in &homes {
        if slot_of[b] == 0 {
            slots.push(Vec::with_capacity(counts[b]));
            // At most two ranks per fraction, fewer than 255 (`quantiles_of`).
            slot_of[b] = u8::try_from(slots.len()).unwrap_or(u8::MAX);
        }
    }
    drop(counts);
    for part in parts {
        for &v in part.iter() {
            let slot = slot_of[bucket(v)];
            if slot != 0 {
                slots[usize::from(slot) - 1].push(order_key(v));
            }
        }
    }
    let key_at = |(b, within): (usize, usize), slots: &mut Vec<Vec<i64>>| {
        let keys = &mut slots[usize::from(slot_of[b]) - 1];
        *keys.select_nth_unstable(within).1
    };
    let mut value_of_rank = Vec::with_capacity(ranks.len());
    for &home in &homes {
        value_of_rank.push(from_order_key(key_at(home, &mut slots)));
    }
    let value = |rank: usize| value_of_rank[ranks.partition_point(|&r| r < rank)];
    Some(
        wanted
            .map(|(lo, hi, weight)| interpolated(value(lo), value(hi), weight))
            .collect(),
    )
}

/// `order_key` as an unsigned number in the same order, whose top bits name a bucket.
fn unsigned_key(v: f64) -> u64 {
    (order_key(v) as u64) ^ (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders as SQL's `ORDER BY mos` does: NaN after every number.
    fn order_nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
        match (a.is_nan(), b.is_nan()) {
            (false, false) => a.total_cmp(b),
            (x, y) => x.cmp(&y),
        }
    }

    /// One fraction at a time, the plain way: the reference `quantiles_of` must equal.
    /// Reorders `v`; None for an empty list.
    fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
        let n = v.len();
        if n == 0 {
            return None;
        }
        let pos = q * (n - 1) as f64;
        let lo_rank = (pos.floor() as usize).min(n - 1);
        let hi_rank = (pos.ceil() as usize).min(n - 1);
        let (_, lo, above) = v.select_nth_unstable_by(lo_rank, order_nan_last);
        let lo = *lo;
        let hi = if hi_rank == lo_rank {
            lo
        } else {
            // The next rank up is the smallest value above the lower one.
            above.iter().copied().min_by(order_nan_last).unwrap_or(lo)
        };
        Some(lo + (hi - lo) * (pos - pos.floor()))
    }

    #[test]
    fn interpolates_between_ranks_like_numpy() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        // numpy.quantile([1, 2, 3, 4], 0.5) == 2.5; 0.05 -> 1.15; 0.95 -> 3.85.
        assert_eq!(quantile(&mut v, 0.5), Some(2.5));
        assert_eq!(
            quantile(&mut v, 0.05),
            Some(1.0 + (2.0 - 1.0) * (0.05 * 3.0))
        );
        assert_eq!(
            quantile(&mut v, 0.95),
            Some(3.0 + (4.0 - 3.0) * (0.95f64 * 3.0 - 2.0))
        );
        assert_eq!(quantile(&mut v, 1.0), Some(4.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
    }

    #[test]
    fn a_group_of_one_value_gets_the_bits_the_selection_gives() {
        let fractions = [0.05, 0.25, 0.5, 0.75, 0.95, 0.0, 1.0];
        for v in [
            1.5,
            -0.0,
            0.0,
            5e-324,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            let fast = quantiles_of(&[Cow::Borrowed(&[v][..])], &fractions).expect("a value");
            let selected = in_place(&mut [v], &fractions).expect("a value");
            let bits = |q: &[f64]| q.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&selected), "{v}");
        }
        // The one value may sit in any part, after empty ones.
        let parts = [Cow::Borrowed(&[][..]), Cow::Owned(vec![7.0])];
        assert_eq!(quantiles_of(&parts, &[0.5]), Some(vec![7.0]));
    }

    #[test]
    fn order_keys_sort_as_sql_orders_numbers() {
        let sorted = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            1.0,
            f64::MAX,
            f64::INFINITY,
        ];
        let keys: Vec<i64> = sorted.iter().map(|&v| order_key(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for v in sorted {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
        assert!(order_key(f64::NAN) > order_key(f64::INFINITY));
        assert!(order_key(-f64::NAN) > order_key(f64::INFINITY));
        assert!(from_order_key(order_key(f64::NAN)).is_nan());
    }

    #[test]
    fn one_value_and_no_value() {
        assert_eq!(quantile(&mut [7.5], 0.25), Some(7.5));
        assert_eq!(quantile(&mut [], 0.25), None);
    }

    #[test]
    fn nan_sorts_last() {
        let mut v = vec![f64::NAN, 1.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), Some(2.0));
        assert!(quantile(&mut v, 1.0).is_some_and(f64::is_nan));
    }

    #[test]
    fn several_fractions_at_once_equal_each_alone() {
        // A deterministic scramble with repeats, NaNs and an even length.
        let base: Vec<f64> = (0..1001u64)
            .map(|i| match (i * 7919) % 1009 {
                0 | 500 => f64::NAN,
                k => (k % 97) as f64 / 4.0,
            })
            .collect();
        let fractions = [0.05, 0.25, 0.5, 0.75, 0.95, 0.5, 0.0, 1.0, 0.999, 0.001];
        for len in [1, 2, 3, 10, 1000, 1001] {
            let mut all = base[..len].to_vec();
            let together = in_place(&mut all, &fractions).expect("values");
            for (q, got) in fractions.iter().zip(together) {
                let mut alone = base[..len].to_vec();
                let want = quantile(&mut alone, *q);
                assert_eq!(
                    Some(got.to_bits()),
                    want.map(f64::to_bits),
                    "len {len}, q {q}"
                );
            }
        }
        assert_eq!(in_place(&mut [], &[0.5]), None);
    }

    /// Values `by_buckets` must rank as `in_place` does: repeats, NaNs, both zeros,
    /// infinities, negatives, and values crowded into one bucket.
    fn awkward(len: usize) -> Vec<f64> {
        (0..len as u64)
            .map(|i| match (i * 7919) % 1013 {
                0 => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => f64::INFINITY,
                4 => f64::NEG_INFINITY,
                5 => -(i as f64),
                k if k < 300 => 50.0 + k as f64 * 1e-9,
                k => (k % 101) as f64 / 4.0 + (i % 3) as f64 * 1e-3,
            })
            .collect()
    }

    #[test]
    fn buckets_rank_as_selecting_in_place() {
        let fractions = [0.05, 0.25, 0.5, 0.75, 0.95, 0.0, 1.0, 0.999, 0.001, 0.5];
        for len in [1, 2, 3, 1000, 70_001] {
            let values = awkward(len);
            let mut alone = values.clone();
            let want = in_place(&mut alone, &fractions).expect("values");
            // Held in uneven slices, as a group arrives.
            let (a, rest) = values.split_at(len / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            let parts = [Cow::Borrowed(a), Cow::Borrowed(b), Cow::Borrowed(c)];
            let got = by_buckets(&parts, len, &fractions).expect("values");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "len {len}");
            let dispatched = quantiles_of(&parts, &fractions).expect("values");
            assert_eq!(bits(&dispatched), bits(&want), "len {len}");
        }
        assert_eq!(by_buckets(&[], 0, &[0.5]), None);
        assert_eq!(quantiles_of(&[], &[0.5]), None);
    }

    #[test]
    fn one_bucket_holding_every_value() {
        let values = vec![42.0; BY_BUCKETS_FROM + 3];
        let parts = [Cow::Borrowed(values.as_slice())];
        assert_eq!(quantiles_of(&parts, &[0.0, 0.5, 1.0]), Some(vec![42.0; 3]));
    }

    #[test]
    fn more_ranks_than_slots_are_selected_in_place() {
        let values = awkward(BY_BUCKETS_FROM + 7);
        let many: Vec<f64> = (0..=200).map(|i| f64::from(i) / 200.0).collect();
        let parts = [Cow::Borrowed(values.as_slice())];
        let got = quantiles_of(&parts, &many).expect("values");
        let want = in_place(&mut values.clone(), &many).expect("values");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
    }
}
