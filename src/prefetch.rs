//! Asking memory for data a loop will read a little later.
//!
//! Two loops read in an order the hardware cannot guess: the gather of the kept rows'
//! records (output order over a bucket's records) and the JSONL writer's memo of float
//! texts (slots by hash). Each would otherwise wait for memory on nearly every read.

/// Asks for the cache line holding `data[at]` (nothing when `at` is past the end),
/// without waiting for it.
pub fn prefetch<T>(data: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < data.len() {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86_64; a prefetch reads nothing and never faults, and
        // the address is inside `data` anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().wrapping_add(at).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}
