//! Fixed-width bit packing.
//!
//! `n` values of `width` bits (0..=64) are stored LSB-first in a little-endian bit stream of
//! `ceil(n * width / 8)` bytes. Width 0 stores nothing (every value is zero).

use super::{CodecError, CodecResult};

/// Bits needed to represent `v` (0 for 0).
#[inline]
pub(crate) fn bits_needed(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

/// Bytes that `n` values of `width` bits occupy.
#[inline]
pub(crate) const fn packed_len(n: usize, width: u8) -> usize {
    (n * width as usize).div_ceil(8)
}

/// Appends `values`, each truncated to `width` bits.
pub(crate) fn pack(values: &[u64], width: u8, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let start = out.len();
    out.reserve(packed_len(values.len(), width));
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for &v in values {
        acc |= u128::from(v & mask) << bits;
        bits += u32::from(width);
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    let tail = bits.div_ceil(8) as usize;
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
    debug_assert_eq!(out.len() - start, packed_len(values.len(), width));
}

/// Appends `n` values of `width` bits read from the front of `data`; returns bytes consumed.
pub(crate) fn unpack(data: &[u8], n: usize, width: u8, out: &mut Vec<u64>) -> CodecResult<usize> {
    if width > 64 {
        return Err(CodecError::BadBitWidth { width });
    }
    let len = packed_len(n, width);
    let Some(data) = data.get(..len) else {
        return Err(CodecError::Truncated {
            needed: len - data.len(),
        });
    };
    out.reserve(n);
    if width == 0 {
        out.extend(std::iter::repeat_n(0, n));
        return Ok(0);
    }
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let w = u32::from(width);
    let mut words = data.chunks(8);
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for _ in 0..n {
        if bits < w {
            let mut word = [0u8; 8];
            if let Some(chunk) = words.next() {
                word[..chunk.len()].copy_from_slice(chunk);
            }
            acc |= u128::from(u64::from_le_bytes(word)) << bits;
            bits += 64;
        }
        out.push((acc as u64) & mask);
        acc >>= w;
        bits -= w;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(width in 0u8..=64, raw in proptest::collection::vec(any::<u64>(), 0..300)) {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
            let mut out = vec![0xAA];
            pack(&values, width, &mut out);
            prop_assert_eq!(out.len(), 1 + packed_len(values.len(), width));
            let mut back = Vec::new();
            let used = unpack(&out[1..], values.len(), width, &mut back).unwrap();
            prop_assert_eq!(used, out.len() - 1);
            prop_assert_eq!(back, values);
        }
    }

    #[test]
    fn short_input_is_an_error() {
        let mut out = Vec::new();
        pack(&[1, 2, 3], 7, &mut out);
        assert!(unpack(&out[..2], 3, 7, &mut Vec::new()).is_err());
        assert!(unpack(&out, 3, 65, &mut Vec::new()).is_err());
    }
}
