//! A buffer aligned for O_DIRECT, which moves whole blocks between the disk and memory
//! aligned to one: the outputs written straight to the disk (writers/sink.rs) and the
//! inputs read straight from it where they are not in the page cache (file_bytes.rs).

/// O_DIRECT needs a multiple of the device's block size, at an offset that is one, from
/// memory aligned to one. 4096 covers 512-byte devices too.
pub const BLOCK: usize = 4096;
/// Bytes a buffer holds: the unit of every direct write and read.
pub const BUFFER: usize = 1 << 20;

/// A buffer of `BUFFER` bytes aligned to `BLOCK`.
pub struct Aligned {
    raw: Vec<u8>,
    start: usize,
}

impl Default for Aligned {
    fn default() -> Self {
        Self::new()
    }
}

impl Aligned {
    pub fn new() -> Self {
        let raw = vec![0u8; BUFFER + BLOCK];
        let start = raw.as_ptr().align_offset(BLOCK);
        Self { raw, start }
    }

    /// The first `len` bytes.
    pub fn bytes(&self, len: usize) -> &[u8] {
        &self.raw[self.start..self.start + len]
    }

    /// All `BUFFER` bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + BUFFER]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_starts_on_a_block_and_holds_a_whole_buffer() {
        let mut a = Aligned::new();
        assert_eq!(a.bytes_mut().as_ptr() as usize % BLOCK, 0);
        assert_eq!(a.bytes_mut().len(), BUFFER);
        assert_eq!(a.bytes(10).len(), 10);
    }
}
