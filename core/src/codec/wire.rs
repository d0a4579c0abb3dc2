//! Low-level pieces of the record stream: varints, zigzag, tags and the reserved field numbers.
//!
//! Readers work on a byte slice and a cursor; they report [`WireError::Incomplete`] when the
//! slice ends inside the value (more input may complete it) and [`WireError::Overflow`] when a
//! varint is longer than 10 bytes or does not fit 64 bits.

/// Field number of the end-of-record marker; its value is the record CRC.
pub const TUNNEL_END_RECORD: u32 = 33_553_408;
/// Field number of the footer record count (zigzag sint64).
pub const META_COUNT: u32 = 33_554_430;
/// Field number of the footer stream checksum (uint32 varint).
pub const META_CHECKSUM: u32 = 33_554_431;
/// Field number of the optional download metrics trailer checksum.
pub const END_METRICS: u32 = 33_554_176;
/// Field number of the metrics JSON inside the optional download trailer.
pub const METRICS_FIELD: u32 = 1;
/// Field number that ends the schema in MCQA direct downloads (never used by this codec).
pub const SCHEMA_END_TAG: u32 = 33_553_920;

/// Wire type 0: varint.
pub const WIRE_VARINT: u8 = 0;
/// Wire type 1: 8 bytes little endian.
pub const WIRE_FIXED64: u8 = 1;
/// Wire type 2: "length-delimited" (for some MaxCompute types without an actual length).
pub const WIRE_LEN: u8 = 2;
/// Wire type 5: 4 bytes little endian.
pub const WIRE_FIXED32: u8 = 5;

/// Longest varint (a 64-bit value).
pub const MAX_VARINT_LEN: usize = 10;

/// Why a wire-level read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside the value; more input may complete it.
    Incomplete,
    /// A varint longer than 10 bytes or beyond 64 bits.
    Overflow,
}

/// The tag of `(field, wire_type)`.
#[inline]
pub const fn make_tag(field: u32, wire_type: u8) -> u64 {
    ((field as u64) << 3) | (wire_type as u64 & 7)
}

/// Zigzag-encodes a signed 64-bit integer.
#[inline]
pub const fn zigzag64(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// Decodes a zigzag-encoded 64-bit integer.
#[inline]
pub const fn unzigzag64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Zigzag-encodes a signed 32-bit integer.
#[inline]
pub const fn zigzag32(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

/// Decodes a zigzag-encoded 32-bit integer.
#[inline]
pub const fn unzigzag32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

/// Number of bytes of the varint encoding of `v`.
#[inline]
pub const fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the varint encoding of `v`.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    if v < 1 << 56 {
        // Up to 8 bytes: build them in one word, append the word, keep the first `len` bytes
        // (a fixed-size append and a truncate beat a variable-length copy).
        let (word, len) = varint_word(v);
        let start = out.len();
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(start + len);
        return;
    }
    put_varint_long(out, v);
}

/// The varint encoding of `v < 2^56` as a little-endian word, and its length in bytes.
#[inline]
pub(crate) const fn varint_word(v: u64) -> (u64, usize) {
    // Spread the 7-bit groups into bytes: 28-bit halves, then 14-bit quarters, then 7 bits.
    let mut x = (v & 0x0fff_ffff) | ((v & 0x00ff_ffff_f000_0000) << 4);
    x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x0fff_c000_0fff_c000) << 2);
    x = (x & 0x007f_007f_007f_007f) | ((x & 0x3f80_3f80_3f80_3f80) << 1);
    // Length and continuation bits (on every byte but the last) by leading zeros.
    let (cont, len) = VARINT_SHAPE[(v | 1).leading_zeros() as usize];
    (x | cont, len as usize)
}

/// By leading zeros of a value: the continuation bits of its varint word and its length.
const VARINT_SHAPE: [(u64, u8); 64] = {
    let mut t = [(0u64, 0u8); 64];
    let mut lz: usize = 0;
    while lz < 64 {
        let len = (64 - lz as u32).div_ceil(7);
        let cont = if len >= 8 {
            0x0080_8080_8080_8080
        } else {
            0x0080_8080_8080_8080u64 >> (8 * (8 - len))
        };
        t[lz] = (cont, len as u8);
        lz += 1;
    }
    t
};

#[cold]
fn put_varint_long(out: &mut Vec<u8>, v: u64) {
    let (bytes, len) = varint_bytes(v);
    out.extend_from_slice(bytes.get(..len).unwrap_or_default());
}

/// The varint encoding of any `v` as an array and its length (the slow, general form).
pub(crate) fn varint_bytes(mut v: u64) -> ([u8; MAX_VARINT_LEN], usize) {
    let mut bytes = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    for b in bytes.iter_mut() {
        n += 1;
        if v < 0x80 {
            *b = v as u8;
            break;
        }
        *b = (v as u8) | 0x80;
        v >>= 7;
    }
    (bytes, n)
}

/// Appends a zigzag varint of a signed 64-bit integer.
#[inline]
pub fn put_zigzag64(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag64(v));
}

/// Appends a zigzag varint of a signed 32-bit integer.
#[inline]
pub fn put_zigzag32(out: &mut Vec<u8>, v: i32) {
    put_varint(out, u64::from(zigzag32(v)));
}

/// Appends the tag of `(field, wire_type)`.
#[inline]
pub fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, make_tag(field, wire_type));
}

/// Reads a varint at `*pos`, advancing the cursor past it on success (and only then).
#[inline]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let p = *pos;
    match buf.get(p) {
        None => Err(WireError::Incomplete),
        Some(&b) if b < 0x80 => {
            *pos = p + 1;
            Ok(u64::from(b))
        }
        Some(_) => {
            // Up to 8 bytes at once when 8 bytes are available.
            if let Some((v, len)) = buf
                .get(p..)
                .and_then(|t| t.first_chunk::<8>())
                .and_then(|word| varint_from_word(u64::from_le_bytes(*word)))
            {
                *pos = p + len;
                return Ok(v);
            }
            read_varint_slow(buf, pos)
        }
    }
}

/// Decodes a varint of at most 8 bytes from the little-endian word of the next 8 input
/// bytes: the value and its length, or `None` if it is longer.
#[inline(always)]
pub(crate) fn varint_from_word(x: u64) -> Option<(u64, usize)> {
    let stops = !x & 0x8080_8080_8080_8080;
    if stops == 0 {
        return None;
    }
    // Bytes up to and including the first one without a continuation bit.
    let len = (stops.trailing_zeros() as usize >> 3) + 1;
    let x = x & (stops ^ (stops - 1)) & 0x7f7f_7f7f_7f7f_7f7f;
    // Gather the 7-bit groups: pairs, then quads, then all eight.
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
    Some((x, len))
}

#[cold]
#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let start = *pos;
    if let Some(bytes) = buf.get(start..start + MAX_VARINT_LEN) {
        // Fast path: ten bytes available, no bounds checks in the loop.
        let mut value: u64 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == MAX_VARINT_LEN - 1 && b > 1 {
                    return Err(WireError::Overflow);
                }
                *pos = start + i + 1;
                return Ok(value);
            }
        }
        return Err(WireError::Overflow);
    }
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let Some(&b) = buf.get(start + i) else {
            return Err(WireError::Incomplete);
        };
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(WireError::Overflow);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(WireError::Overflow)
}

/// Reads a zigzag varint as a signed 64-bit integer.
#[inline]
pub fn read_zigzag64(buf: &[u8], pos: &mut usize) -> Result<i64, WireError> {
    read_varint(buf, pos).map(unzigzag64)
}

/// Reads a checksum varint: up to 10 bytes (the sign-extended form some writers emit) of
/// which the low 32 bits are the CRC.
#[inline]
pub fn read_crc_varint(buf: &[u8], pos: &mut usize) -> Result<u32, WireError> {
    read_varint(buf, pos).map(|v| v as u32)
}

/// Appends the canonical varint (at most 5 bytes) of a checksum.
#[inline]
pub fn put_crc_varint(out: &mut Vec<u8>, crc: u32) {
    put_varint(out, u64::from(crc));
}

/// Reads `N` raw bytes.
#[inline]
pub fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Result<[u8; N], WireError> {
    let p = *pos;
    let bytes = buf.get(p..p.wrapping_add(N)).ok_or(WireError::Incomplete)?;
    let mut a = [0u8; N];
    a.copy_from_slice(bytes);
    *pos = p + N;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_and_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
            for cut in 0..out.len() {
                let mut pos = 0;
                assert_eq!(
                    read_varint(&out[..cut], &mut pos),
                    Err(WireError::Incomplete)
                );
                assert_eq!(pos, 0);
            }
        }
    }

    #[test]
    fn varint_every_length_and_boundary() {
        // Every value 2^k - 1, 2^k, 2^k + 1, with and without trailing bytes after it.
        for k in 0..64 {
            for v in [
                (1u64 << k) - 1,
                1u64 << k,
                (1u64 << k) + 1,
                u64::MAX >> (63 - k),
            ] {
                let mut slow = Vec::new();
                let mut x = v;
                while x >= 0x80 {
                    slow.push((x as u8) | 0x80);
                    x >>= 7;
                }
                slow.push(x as u8);
                let mut out = vec![0xaa];
                put_varint(&mut out, v);
                assert_eq!(&out[1..], &slow[..], "{v}");
                for tail in [0usize, 3, 12] {
                    let mut buf = out.clone();
                    buf.extend(std::iter::repeat_n(0xff, tail));
                    let mut pos = 1;
                    assert_eq!(read_varint(&buf, &mut pos), Ok(v), "{v} tail {tail}");
                    assert_eq!(pos, out.len());
                }
            }
        }
    }

    #[test]
    fn varint_overflow() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0xff; 11], &mut pos), Err(WireError::Overflow));
        let mut bad = vec![0xff; 9];
        bad.push(0x02);
        assert_eq!(read_varint(&bad, &mut 0), Err(WireError::Overflow));
    }

    #[test]
    fn zigzag_values() {
        assert_eq!(zigzag64(0), 0);
        assert_eq!(zigzag64(-1), 1);
        assert_eq!(zigzag64(1), 2);
        assert_eq!(zigzag64(-2), 3);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
        assert_eq!(unzigzag64(u64::MAX), i64::MIN);
        assert_eq!(zigzag32(i32::MIN), u32::MAX);
        for v in [0, 1, -1, 123_456_789, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
    }

    #[test]
    fn reserved_tags_have_the_documented_bytes() {
        let mut out = Vec::new();
        put_tag(&mut out, TUNNEL_END_RECORD, WIRE_VARINT);
        assert_eq!(out, [0x80, 0xc0, 0xff, 0x7f]);
        out.clear();
        put_tag(&mut out, META_COUNT, WIRE_VARINT);
        assert_eq!(out, [0xf0, 0xff, 0xff, 0x7f]);
        out.clear();
        put_tag(&mut out, META_CHECKSUM, WIRE_VARINT);
        assert_eq!(out, [0xf8, 0xff, 0xff, 0x7f]);
    }

    #[test]
    fn sign_extended_crc_keeps_low_bits() {
        let bytes = [0xdd, 0xc5, 0x8d, 0x9e, 0xf9, 0xff, 0xff, 0xff, 0xff, 0x01];
        let mut pos = 0;
        assert_eq!(read_crc_varint(&bytes, &mut pos), Ok(0x93C3_62DD));
        assert_eq!(pos, 10);
        let mut out = Vec::new();
        put_crc_varint(&mut out, 0x93C3_62DD);
        assert_eq!(out, [0xdd, 0xc5, 0x8d, 0x9e, 0x09]);
    }
}
