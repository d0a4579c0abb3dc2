//! Write cursors for the encoder's hot loop: the output bytes and the record CRC input.
//!
//! Both write into a zero-filled slice: each write stores a fixed-size array at the cursor and
//! advances it by the bytes that count, so short values (varints, short strings, decimal text)
//! never need a variable-length copy. Cursors are plain values (slice, position, flag) so that
//! the compiler keeps them in registers. A write that does not fit sets `overflow` instead of
//! writing; the caller then grows the buffer and writes the record again.

use super::crc::crc32c_append;
use super::wire;

/// Writes at `buf[pos..]`.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    /// `buf.len() - 64` (or 0): fixed-size stores of at most 64 bytes fit at any position up
    /// to here, which takes one comparison.
    limit: usize,
    /// End of what was written.
    pub(crate) pos: usize,
    /// A write did not fit: the record must be written again with more room.
    pub(crate) overflow: bool,
}

impl<'a> Out<'a> {
    /// A cursor at `pos` in `buf`.
    #[inline(always)]
    pub(crate) fn new(buf: &'a mut [u8], pos: usize) -> Self {
        Out {
            limit: buf.len().saturating_sub(64),
            buf,
            pos,
            overflow: false,
        }
    }

    /// The `N` bytes at the cursor, if they are inside the buffer.
    #[inline(always)]
    fn window<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        if N <= 64 && self.pos <= self.limit {
            self.buf
                .get_mut(self.pos..self.pos + N)
                .and_then(|t| t.first_chunk_mut::<N>())
        } else {
            self.buf
                .get_mut(self.pos..)
                .and_then(|t| t.first_chunk_mut::<N>())
        }
    }

    /// A cursor over the same buffer, for passing to out-of-line code (keeps `self` in
    /// registers); merge it back with [`Out::merge`].
    #[inline(always)]
    pub(crate) fn split(&mut self) -> Out<'_> {
        Out {
            buf: &mut *self.buf,
            limit: self.limit,
            pos: self.pos,
            overflow: false,
        }
    }

    /// Takes over the position and overflow of a cursor made by [`Out::split`].
    #[inline(always)]
    pub(crate) fn merge(&mut self, pos: usize, overflow: bool) {
        self.pos = pos;
        self.overflow |= overflow;
    }

    /// Stores `bytes` at the cursor and advances it by `used` (at most `N`) bytes.
    #[inline(always)]
    pub(crate) fn put<const N: usize>(&mut self, bytes: &[u8; N], used: usize) {
        match self.window::<N>() {
            Some(dst) => {
                *dst = *bytes;
                debug_assert!(used <= N);
                self.pos += used;
            }
            None => self.overflow = true,
        }
    }

    /// Stores the 8 bytes of `a` and then those of `b` at `la` (at most 8) bytes after it, and
    /// advances by `la + lb` (`lb` at most 8): two overlapping stores, one room check.
    #[inline(always)]
    pub(crate) fn pair(&mut self, a: u64, la: usize, b: u64, lb: usize) {
        match self.window::<16>() {
            Some(dst) => {
                let (first, _) = dst.split_at_mut(8);
                first.copy_from_slice(&a.to_le_bytes());
                let at = la & 7;
                if let Some(second) = dst.get_mut(at..at + 8) {
                    second.copy_from_slice(&b.to_le_bytes());
                }
                debug_assert!(la <= 8 && lb <= 8);
                self.pos += la + lb;
            }
            None => self.overflow = true,
        }
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, b: u8) {
        self.put(&[b], 1);
    }

    /// Appends the varint encoding of `v`.
    #[inline(always)]
    pub(crate) fn varint(&mut self, v: u64) {
        if v < 1 << 56 {
            let (word, len) = wire::varint_word(v);
            self.put(&word.to_le_bytes(), len);
        } else {
            self.varint_long(v);
        }
    }

    #[cold]
    fn varint_long(&mut self, v: u64) {
        let (bytes, len) = wire::varint_bytes(v);
        self.put(&bytes, len);
    }

    /// Appends `bytes` of any length.
    #[inline]
    pub(crate) fn slice(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        match self.buf.get_mut(self.pos..).and_then(|t| t.get_mut(..n)) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += n;
            }
            None => self.overflow = true,
        }
    }

    /// Appends `data[start..end]`; short ones are copied as one 16-byte block.
    #[inline(always)]
    pub(crate) fn range(&mut self, data: &[u8], start: usize, end: usize) {
        let n = end.saturating_sub(start);
        match data.get(start..).and_then(|t| t.first_chunk::<16>()) {
            Some(window) if n <= 16 => self.put(window, n),
            _ => self.slice(data.get(start..end).unwrap_or_default()),
        }
    }
}

/// Values of at least this many bytes are folded into the CRC directly, not copied.
const DIRECT: usize = 256;
/// Inside containers, the gathered CRC input is folded once it is this long.
const FOLD_AT: usize = 4096;
/// Initial size of the CRC scratch: a container record always fits (pieces are shorter than
/// [`DIRECT`] and the scratch is folded at [`FOLD_AT`]); flat records longer than this make
/// the caller grow the scratch and redo the record.
const CRC_SCRATCH: usize = FOLD_AT + 2 * DIRECT;

/// Room for the CRC input of one record, reused from record to record.
#[derive(Clone)]
pub(crate) struct CrcScratch(Vec<u8>);

impl CrcScratch {
    /// A zeroed scratch.
    pub(crate) fn new() -> Self {
        CrcScratch(vec![0; CRC_SCRATCH])
    }

    /// A record CRC gathering into this scratch.
    #[inline(always)]
    pub(crate) fn row_crc(&mut self) -> RowCrc<'_> {
        RowCrc::new(&mut self.0)
    }

    /// Doubles the room (after a record overflowed it).
    pub(crate) fn grow(&mut self) {
        let len = self.0.len().saturating_mul(2);
        self.0.resize(len, 0);
    }
}

impl std::fmt::Debug for CrcScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CrcScratch({})", self.0.len())
    }
}

/// The CRC input of one record: pieces are gathered in a scratch slice and folded with one
/// CRC32C call when the record ends (the hardware CRC is fast on longer inputs, slow per call).
///
/// A piece that does not fit sets `overflow` (no call in the hot path): the caller then grows
/// the scratch and processes the record again.
pub(crate) struct RowCrc<'a> {
    buf: &'a mut [u8],
    pos: usize,
    value: u32,
    /// A piece did not fit: the record must be processed again with more room.
    pub(crate) overflow: bool,
}

impl<'a> RowCrc<'a> {
    /// An empty record CRC gathering into `scratch`.
    #[inline(always)]
    pub(crate) fn new(scratch: &'a mut [u8]) -> Self {
        RowCrc {
            buf: scratch,
            pos: 0,
            value: 0,
            overflow: false,
        }
    }

    /// A CRC over the same scratch, for passing to out-of-line code; merge it back with
    /// [`RowCrc::merge`].
    #[inline(always)]
    pub(crate) fn split(&mut self) -> RowCrc<'_> {
        RowCrc {
            buf: &mut *self.buf,
            pos: self.pos,
            value: self.value,
            overflow: false,
        }
    }

    /// Takes over the state of a CRC made by [`RowCrc::split`].
    #[inline(always)]
    pub(crate) fn merge(&mut self, (pos, value, overflow): (usize, u32, bool)) {
        self.pos = pos;
        self.value = value;
        self.overflow |= overflow;
    }

    /// The parts of the state that [`RowCrc::merge`] takes.
    #[inline(always)]
    pub(crate) fn state(&self) -> (usize, u32, bool) {
        (self.pos, self.value, self.overflow)
    }

    /// Appends `bytes`, advancing by `used` (at most `N`).
    #[inline(always)]
    pub(crate) fn put<const N: usize>(&mut self, bytes: &[u8; N], used: usize) {
        match self
            .buf
            .get_mut(self.pos..)
            .and_then(|t| t.first_chunk_mut::<N>())
        {
            Some(dst) => {
                *dst = *bytes;
                debug_assert!(used <= N);
                self.pos += used;
            }
            None => self.overflow = true,
        }
    }

    /// Appends `data[start..end]`: short ones as one 16-byte block, long ones folded directly.
    #[inline(always)]
    pub(crate) fn range(&mut self, data: &[u8], start: usize, end: usize) {
        let n = end.saturating_sub(start);
        match data.get(start..).and_then(|t| t.first_chunk::<16>()) {
            Some(window) if n <= 16 => self.put(window, n),
            _ => self.slice(data.get(start..end).unwrap_or_default()),
        }
    }

    /// Appends `bytes` of any length.
    #[inline]
    pub(crate) fn slice(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n >= DIRECT {
            self.fold();
            self.value = crc32c_append(self.value, bytes);
            return;
        }
        match self.buf.get_mut(self.pos..).and_then(|t| t.get_mut(..n)) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += n;
            }
            None => self.overflow = true,
        }
    }

    /// Folds the gathered bytes once there are many (called inside containers, which can
    /// hold any number of pieces).
    #[inline]
    pub(crate) fn maybe_fold(&mut self) {
        if self.pos >= FOLD_AT {
            self.fold();
        }
    }

    fn fold(&mut self) {
        self.value = crc32c_append(self.value, self.buf.get(..self.pos).unwrap_or_default());
        self.pos = 0;
    }

    /// The CRC of the record.
    #[inline]
    pub(crate) fn finish(&self) -> u32 {
        crc32c_append(self.value, self.buf.get(..self.pos).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_matches_plain_appends_and_flags_overflow() {
        let mut expected = vec![7u8];
        let mut buf = vec![0u8; 200_000];
        buf[0] = 7;
        let mut o = Out::new(&mut buf, 1);
        let data: Vec<u8> = (0..100u8).collect();
        for i in 0..2000u64 {
            let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64);
            o.varint(v);
            wire::put_varint(&mut expected, v);
            let (s, e) = ((i % 50) as usize, (i % 50 + i % 37) as usize);
            o.range(&data, s, e);
            expected.extend_from_slice(&data[s..e]);
            o.byte(i as u8);
            expected.push(i as u8);
        }
        // The last bytes of `data` are read through the slow path (no 16-byte window).
        o.range(&data, 95, 100);
        expected.extend_from_slice(&data[95..]);
        assert!(!o.overflow);
        let end = o.pos;
        assert_eq!(end, expected.len());
        assert_eq!(buf[..end], expected[..]);

        let mut small = [0u8; 10];
        let mut o = Out::new(&mut small, 0);
        o.varint(300);
        assert!(!o.overflow);
        o.varint(u64::MAX);
        assert!(o.overflow, "an 8-byte store does not fit at 2 of 10");
        let mut o = Out::new(&mut small, 0);
        o.slice(&[1; 11]);
        assert!(o.overflow);
    }

    #[test]
    fn row_crc_flags_overflow() {
        let mut scratch = vec![0u8; 20];
        let mut c = RowCrc::new(&mut scratch);
        c.put(&[1; 16], 16);
        assert!(!c.overflow);
        c.put(&[1; 8], 8);
        assert!(c.overflow);
    }

    #[test]
    fn row_crc_equals_one_crc_over_the_pieces() {
        let mut scratch = vec![0u8; CRC_SCRATCH];
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for round in 0..3 {
            let mut c = RowCrc::new(&mut scratch);
            let mut all = Vec::new();
            let mut pos = 0;
            let mut step = 1 + round;
            while pos < data.len() {
                let end = (pos + step).min(data.len());
                if step % 3 == 0 {
                    c.range(&data, pos, end);
                } else {
                    c.slice(&data[pos..end]);
                }
                c.put(&[0xab, 0xcd], 1);
                all.extend_from_slice(&data[pos..end]);
                all.push(0xab);
                c.maybe_fold();
                pos = end;
                step = (step * 5 + 3) % 600;
            }
            assert!(!c.overflow);
            assert_eq!(c.finish(), crc32c::crc32c(&all));
        }
    }
}
