//! Booleans, strings, run-length dictionary codes and validity bitmaps.
//!
//! - **bools**: `ceil(n / 8)` bytes, bit `i` of byte `i / 8` LSB-first (Arrow's layout).
//! - **strings**: a u64 stream of the `n` byte lengths, then the concatenated UTF-8 bytes.
//!   Byte strings (`bytes` fields) are laid out the same way, without the UTF-8 check.
//! - **RLE codes** (tag dictionary codes): `u32 runs`, a u64 stream of run values and a u64
//!   stream of run lengths. Rows are sorted by series, so tag codes form long runs.
//! - **validity**: the same layout as bools, 1 = value present.

use super::buf::{put_u32, Reader};
use super::ints::{decode_u64_stream, encode_u64_stream};
use super::{CodecError, CodecResult};

/// Appends `bits` packed LSB-first.
pub(crate) fn encode_bits(bits: impl ExactSizeIterator<Item = bool>, out: &mut Vec<u8>) {
    let n = bits.len();
    let start = out.len();
    out.resize(start + n.div_ceil(8), 0);
    for (i, b) in bits.enumerate() {
        if b {
            out[start + i / 8] |= 1 << (i % 8);
        }
    }
}

/// Reads `n` bits packed LSB-first.
pub(crate) fn decode_bits(r: &mut Reader<'_>, n: usize) -> CodecResult<Vec<bool>> {
    let bytes = r.bytes(n.div_ceil(8))?;
    Ok((0..n).map(|i| bytes[i / 8] & (1 << (i % 8)) != 0).collect())
}

/// Appends `values` as lengths + bytes.
pub(crate) fn encode_strings<'a>(values: impl Iterator<Item = &'a str> + Clone, out: &mut Vec<u8>) {
    encode_byte_strings(values.map(str::as_bytes), out)
}

/// Appends byte strings as lengths + bytes (the layout of [`encode_strings`]).
pub(crate) fn encode_byte_strings<'a>(
    values: impl Iterator<Item = &'a [u8]> + Clone,
    out: &mut Vec<u8>,
) {
    let lens: Vec<u64> = values.clone().map(|s| s.len() as u64).collect();
    encode_u64_stream(&lens, out);
    for s in values {
        out.extend_from_slice(s);
    }
}

/// Reads `n` strings, returning the concatenated bytes and `n + 1` offsets into them.
pub(crate) fn decode_strings(r: &mut Reader<'_>, n: usize) -> CodecResult<(Vec<u8>, Vec<i32>)> {
    let (bytes, offsets) = decode_byte_strings(r, n)?;
    std::str::from_utf8(&bytes).map_err(|_| CodecError::InvalidUtf8)?;
    Ok((bytes, offsets))
}

/// Reads `n` byte strings written by [`encode_byte_strings`].
pub(crate) fn decode_byte_strings(
    r: &mut Reader<'_>,
    n: usize,
) -> CodecResult<(Vec<u8>, Vec<i32>)> {
    let mut lens = Vec::with_capacity(n);
    decode_u64_stream(r, n, &mut lens)?;
    let mut offsets = Vec::with_capacity(n + 1);
    let mut total: u64 = 0;
    offsets.push(0i32);
    for len in lens {
        total = total.saturating_add(len);
        if total > i32::MAX as u64 {
            return Err(CodecError::OutOfRange {
                what: "string length",
            });
        }
        offsets.push(total as i32);
    }
    let bytes = r.bytes(total as usize)?;
    Ok((bytes.to_vec(), offsets))
}

/// Appends run-length encoded `codes`.
pub(crate) fn encode_rle(codes: &[u32], out: &mut Vec<u8>) {
    let mut values = Vec::new();
    let mut lengths = Vec::new();
    for &c in codes {
        match values.last() {
            Some(&last) if last == u64::from(c) => {
                if let Some(l) = lengths.last_mut() {
                    *l += 1;
                }
            }
            _ => {
                values.push(u64::from(c));
                lengths.push(1u64);
            }
        }
    }
    put_u32(out, values.len() as u32);
    encode_u64_stream(&values, out);
    encode_u64_stream(&lengths, out);
}

/// Reads `n` codes written by [`encode_rle`].
pub(crate) fn decode_rle(r: &mut Reader<'_>, n: usize, out: &mut Vec<u32>) -> CodecResult<()> {
    let runs = r.u32()? as usize;
    if runs > n {
        return Err(CodecError::OutOfRange { what: "run count" });
    }
    let mut values = Vec::with_capacity(runs);
    let mut lengths = Vec::with_capacity(runs);
    decode_u64_stream(r, runs, &mut values)?;
    decode_u64_stream(r, runs, &mut lengths)?;
    let total: u64 = lengths.iter().fold(0u64, |a, &l| a.saturating_add(l));
    if total != n as u64 {
        return Err(CodecError::CountMismatch {
            expected: n,
            actual: total as usize,
        });
    }
    out.reserve(n);
    for (v, l) in values.into_iter().zip(lengths) {
        let v = u32::try_from(v).map_err(|_| CodecError::OutOfRange { what: "code" })?;
        out.extend(std::iter::repeat_n(v, l as usize));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(bits in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut out = Vec::new();
            encode_bits(bits.iter().copied(), &mut out);
            let mut r = Reader::new(&out);
            prop_assert_eq!(decode_bits(&mut r, bits.len()).unwrap(), bits);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn strings_round_trip(values in proptest::collection::vec(".{0,12}", 0..100)) {
            let mut out = Vec::new();
            encode_strings(values.iter().map(String::as_str), &mut out);
            let mut r = Reader::new(&out);
            let (bytes, offsets) = decode_strings(&mut r, values.len()).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            let back: Vec<&str> = offsets.windows(2).map(|w| std::str::from_utf8(&bytes[w[0] as usize..w[1] as usize]).unwrap()).collect();
            prop_assert_eq!(back, values.iter().map(String::as_str).collect::<Vec<_>>());
        }

        #[test]
        fn rle_round_trip(runs in proptest::collection::vec((0u32..5, 1usize..50), 0..40), big in any::<u32>()) {
            let mut codes: Vec<u32> = runs.iter().flat_map(|&(c, l)| std::iter::repeat_n(c, l)).collect();
            codes.push(big);
            let mut out = Vec::new();
            encode_rle(&codes, &mut out);
            let mut r = Reader::new(&out);
            let mut back = Vec::new();
            decode_rle(&mut r, codes.len(), &mut back).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            prop_assert_eq!(back, codes);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..50) {
            let _ = decode_bits(&mut Reader::new(&bytes), n);
            let _ = decode_strings(&mut Reader::new(&bytes), n);
            let _ = decode_rle(&mut Reader::new(&bytes), n, &mut Vec::new());
        }
    }
}
