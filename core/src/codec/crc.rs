//! CRC32C (Castagnoli) helpers used by the record stream checksums.
//!
//! [`Crc32c`] is a plain running checksum. [`BufferedCrc32c`] gives the same result but
//! collects small pieces (a field number, an 8-byte value) in a scratch buffer and folds them
//! in bulk, which is much faster than one library call per piece.

pub use crc32c::crc32c_append;

/// A running CRC32C: feeding pieces one after another equals one CRC over their concatenation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crc32c {
    value: u32,
}

impl Crc32c {
    /// A checksum of nothing (0).
    pub const fn new() -> Self {
        Self { value: 0 }
    }

    /// Folds in `bytes`.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.value = crc32c_append(self.value, bytes);
    }

    /// The checksum of everything fed so far.
    pub const fn value(&self) -> u32 {
        self.value
    }

    /// Starts again from the empty input.
    pub fn reset(&mut self) {
        self.value = 0;
    }
}

/// Pieces at least this long are folded directly instead of being copied to the scratch buffer.
const DIRECT: usize = 256;
/// The scratch buffer is folded once it holds this many bytes.
const FLUSH_AT: usize = 4096;

/// A running CRC32C that buffers small pieces before folding them.
#[derive(Debug, Clone, Default)]
pub struct BufferedCrc32c {
    value: u32,
    scratch: Vec<u8>,
}

impl BufferedCrc32c {
    /// A checksum of nothing (0).
    pub fn new() -> Self {
        Self {
            value: 0,
            scratch: Vec::with_capacity(FLUSH_AT + DIRECT),
        }
    }

    #[inline]
    fn fold(&mut self) {
        if !self.scratch.is_empty() {
            self.fold_now();
        }
    }

    #[inline(never)]
    fn fold_now(&mut self) {
        self.value = crc32c_append(self.value, &self.scratch);
        self.scratch.clear();
    }

    #[cold]
    #[inline(never)]
    fn update_direct(&mut self, bytes: &[u8]) {
        self.fold();
        self.value = crc32c_append(self.value, bytes);
    }

    /// Folds in `bytes`.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        if bytes.len() >= DIRECT {
            self.update_direct(bytes);
        } else {
            self.scratch.extend_from_slice(bytes);
            if self.scratch.len() >= FLUSH_AT {
                self.fold_now();
            }
        }
    }

    /// Folds in a fixed number of bytes (cheaper than [`BufferedCrc32c::update`]).
    #[inline]
    pub(crate) fn update_array<const N: usize>(&mut self, bytes: [u8; N]) {
        self.scratch.extend_from_slice(&bytes);
        if self.scratch.len() >= FLUSH_AT {
            self.fold_now();
        }
    }

    /// Folds in a field number or another int32, little endian.
    #[inline]
    pub fn update_i32(&mut self, v: i32) {
        self.update_array(v.to_le_bytes());
    }

    /// Folds in an int64, little endian.
    #[inline]
    pub fn update_i64(&mut self, v: i64) {
        self.update_array(v.to_le_bytes());
    }

    /// The checksum of everything fed so far.
    pub fn value(&mut self) -> u32 {
        self.fold();
        self.value
    }

    /// The checksum of everything fed so far, then starts again from the empty input.
    pub fn take(&mut self) -> u32 {
        let v = self.value();
        self.value = 0;
        v
    }

    /// Starts again from the empty input.
    pub fn reset(&mut self) {
        self.scratch.clear();
        self.value = 0;
    }

    /// Continues from a checksum value obtained earlier with [`BufferedCrc32c::value`],
    /// dropping anything fed since.
    pub fn reset_to(&mut self, value: u32) {
        self.scratch.clear();
        self.value = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_check_value() {
        let mut c = Crc32c::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0xE306_9283);
        c.reset();
        assert_eq!(c.value(), 0);
    }

    #[test]
    fn buffered_equals_plain() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut b = BufferedCrc32c::new();
        let mut pos = 0;
        let mut step = 1;
        while pos < data.len() {
            let end = (pos + step).min(data.len());
            b.update(&data[pos..end]);
            pos = end;
            step = (step * 3 + 1) % 700;
        }
        assert_eq!(b.take(), crc32c::crc32c(&data));
        assert_eq!(b.take(), 0);
    }
}
