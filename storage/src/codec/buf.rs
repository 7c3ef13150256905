//! Little-endian byte writing and bounds-checked reading.

use super::{CodecError, CodecResult};

pub(crate) fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}
/// A string as `u32 length` + UTF-8 bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}
/// A LEB128 unsigned varint (1 to 10 bytes).
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over a byte slice whose every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> CodecResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(CodecError::Truncated {
                needed: n.saturating_sub(self.remaining()),
            })?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or(CodecError::Truncated { needed: n })?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> CodecResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> CodecResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> CodecResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> CodecResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> CodecResult<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn str(&mut self) -> CodecResult<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.bytes(len)?).map_err(|_| CodecError::InvalidUtf8)
    }
    /// A length that must be plausible given the bytes left (each item needs at least
    /// `min_item_bytes`), so corrupt counts cannot trigger huge allocations.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> CodecResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(CodecError::OutOfRange { what: "item count" });
        }
        Ok(n)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> CodecResult<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(CodecError::Truncated { needed: 1 })?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::OutOfRange { what: "varint" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trip(vs in proptest::collection::vec(any::<u64>(), 0..100)) {
            let mut out = Vec::new();
            for &v in &vs { put_varint(&mut out, v); }
            let mut r = Reader::new(&out);
            for &v in &vs { prop_assert_eq!(r.varint().unwrap(), v); }
            prop_assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn reads_past_end_fail() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.u32().is_err());
        assert!(Reader::new(&[0x80]).varint().is_err());
        let mut r = Reader::new(&[255, 255, 255, 255]);
        assert!(r.count(1).is_err());
    }
}
