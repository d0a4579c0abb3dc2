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
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    // A fixed-size copy (inlined moves) and a truncate beat a variable-length memcpy call.
    let len = out.len();
    out.extend_from_slice(&tmp);
    out.truncate(len + n + 1);
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
        Some(_) => read_varint_slow(buf, pos),
    }
}

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
