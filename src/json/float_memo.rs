//! `write_float` with a memory of the texts it wrote last.
//!
//! A training set repeats its float values: frame rates come from a handful, MOS and
//! their spreads sit on a grid of two to four decimals, durations on milliseconds. A
//! value seen before is copied from the memo instead of being formatted again (ryu's
//! digits, then Python's layout): formatting floats was about a fifth of the JSONL
//! writer's time, and the memo takes about 7 % off it on the realistic set.

use super::write::write_float;

/// Slots in the memo: 2^14 per column (640 KiB). The realistic set has 5k distinct MOS
/// and 16k distinct durations; at 2^11 slots most of them missed.
const SLOT_BITS: u32 = 14;
/// Python's longest float text, "-1.7976931348623157e+308", is 24 bytes.
const MAX_TEXT: usize = 24;

#[derive(Clone, Copy)]
struct Slot {
    bits: u64,
    len: u8,
    text: [u8; MAX_TEXT],
}

/// A direct-mapped memo from a float's bits to its text: one per output column.
pub struct FloatMemo {
    slots: Box<[Slot]>,
}

impl Default for FloatMemo {
    fn default() -> Self {
        // Every slot starts as +0.0 and its text: a true entry, so no slot needs a
        // flag saying whether it is filled.
        let mut zero = Slot {
            bits: 0.0f64.to_bits(),
            len: 3,
            text: [0; MAX_TEXT],
        };
        zero.text[..3].copy_from_slice(b"0.0");
        Self {
            slots: vec![zero; 1 << SLOT_BITS].into_boxed_slice(),
        }
    }
}

impl FloatMemo {
    /// Appends exactly what `write_float(out, v)` appends.
    pub fn write(&mut self, out: &mut Vec<u8>, v: f64) {
        let bits = v.to_bits();
        let slot = &mut self.slots[slot_of(bits)];
        if slot.bits == bits {
            out.extend_from_slice(&slot.text[..usize::from(slot.len)]);
            return;
        }
        let start = out.len();
        write_float(out, v);
        let text = &out[start..];
        if let Ok(len) = u8::try_from(text.len())
            && text.len() <= MAX_TEXT
        {
            slot.bits = bits;
            slot.len = len;
            slot.text[..text.len()].copy_from_slice(text);
        }
    }

    /// Asks memory for the slot of `v`, which `write` will read a few rows later: the
    /// memo is larger than the cache, and its slots are read in no order.
    pub fn prefetch(&self, v: f64) {
        crate::prefetch::prefetch(&self.slots, slot_of(v.to_bits()));
    }
}

/// The slot of a float's bits. Fibonacci hashing: the high bits of the product mix
/// every bit of the value.
fn slot_of(bits: u64) -> usize {
    (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(v: f64) -> Vec<u8> {
        let mut out = Vec::new();
        write_float(&mut out, v);
        out
    }

    #[test]
    fn the_memo_writes_what_write_float_writes() {
        let mut memo = FloatMemo::default();
        let mut values = vec![
            0.0,
            -0.0,
            75.0,
            29.97,
            1e-05,
            1e16,
            -1.7976931348623157e308,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            10.350000000000001,
        ];
        // A grid like the data's (repeats, so most writes hit), and arbitrary bit
        // patterns (so slots are taken over by colliding values and must not answer
        // for the value they held before).
        values.extend((0..20_000).map(|i| f64::from(i % 4001) / 1000.0));
        let mut x: u64 = 0x1234_5678_9abc_def0;
        values.extend((0..20_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f64::from_bits(x)
        }));
        let repeated: Vec<f64> = values.iter().chain(values.iter().rev()).copied().collect();
        for v in repeated {
            let mut out = b"prefix ".to_vec();
            memo.write(&mut out, v);
            assert_eq!(
                &out[7..],
                direct(v).as_slice(),
                "value bits {:#x}",
                v.to_bits()
            );
        }
    }
}
