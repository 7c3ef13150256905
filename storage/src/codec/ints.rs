//! Integer sequences: unsigned streams, signed integers, timestamps.
//!
//! **u64 stream** (`encode_u64_stream`), the building block, one tag byte then:
//! - `0` FOR: `u64 min`, `u8 width`, then `n` values `v - min` bit-packed at `width`.
//! - `1` varint: `n` LEB128 varints.
//! - `2` patched FOR: `u64 min`, `u8 width`, `u32 exceptions`, the `n` values `v - min`
//!   bit-packed at `width` (truncated), then per exception a varint index delta (from the
//!   previous exception's index, the first from 0) and a varint of the full `v - min`.
//!
//! The encoder picks whichever is smallest. FOR suits values of similar size; patched FOR
//! suits mostly-small values with rare outliers (a series boundary in a delta stream).
//!
//! **i64** (`encode_i64`), one tag byte then:
//! - `0` delta: `i64 first`, then a u64 stream of `zigzag(v[i] - v[i-1])` for `i >= 1`.
//! - `1` FOR: a u64 stream of `v - min` with `i64 min` before it.
//!
//! **timestamps** (`encode_timestamps`): delta-of-delta. `i64 t[0]`; if `n >= 2`, `i64 d[1]`;
//! then a u64 stream of `zigzag(d[i] - d[i-1])` for `i >= 2`, where `d[i] = t[i] - t[i-1]`.
//! A regular series becomes all zeros, which bit-packs to width 0 (no bytes at all).
//!
//! All arithmetic wraps, so any i64 input round-trips.

use super::bitpack::{bits_needed, pack, packed_len, unpack};
use super::buf::{put_i64, put_u64, put_u8, put_varint, Reader};
use super::{unzigzag, zigzag, CodecError, CodecResult};

const STREAM_FOR: u8 = 0;
const STREAM_VARINT: u8 = 1;
const STREAM_PFOR: u8 = 2;

fn varint_len(v: u64) -> usize {
    (bits_needed(v).max(1) as usize).div_ceil(7)
}

/// Appends a u64 stream (tag + body) for `values`.
pub(crate) fn encode_u64_stream(values: &[u64], out: &mut Vec<u8>) {
    let min = values.iter().copied().min().unwrap_or(0);
    // Histogram of the widths of `v - min`, and the varint size of the raw values.
    let mut widths = [0usize; 65];
    let mut varint_bytes = 0usize;
    for &v in values {
        widths[bits_needed(v - min) as usize] += 1;
        varint_bytes += varint_len(v);
    }
    let n = values.len();
    // Cost of patched FOR at each width: packed body plus ~(index + value) per exception.
    let mut best_width = 64u8;
    let mut best_cost = usize::MAX;
    let mut exceptions_above = 0usize; // values wider than w
    let mut best_exceptions = 0usize;
    for w in (0..=64u8).rev() {
        let cost = 14 + packed_len(n, w) + exceptions_above * (2 + 1 + (64 - w as usize) / 7);
        if cost <= best_cost {
            best_cost = cost;
            best_width = w;
            best_exceptions = exceptions_above;
        }
        exceptions_above += widths[w as usize];
    }
    if varint_bytes < best_cost {
        put_u8(out, STREAM_VARINT);
        out.reserve(varint_bytes);
        for &v in values {
            put_varint(out, v);
        }
        return;
    }
    let shifted: std::borrow::Cow<'_, [u64]> = if min == 0 {
        values.into()
    } else {
        values.iter().map(|v| v - min).collect::<Vec<_>>().into()
    };
    if best_exceptions == 0 {
        put_u8(out, STREAM_FOR);
        put_u64(out, min);
        put_u8(out, best_width);
        pack(&shifted, best_width, out);
        return;
    }
    put_u8(out, STREAM_PFOR);
    put_u64(out, min);
    put_u8(out, best_width);
    out.extend_from_slice(&(best_exceptions as u32).to_le_bytes());
    pack(&shifted, best_width, out);
    let mut last = 0usize;
    for (i, &v) in shifted.iter().enumerate() {
        if bits_needed(v) > best_width {
            put_varint(out, (i - last) as u64);
            put_varint(out, v);
            last = i;
        }
    }
}

/// Reads a u64 stream of `n` values, appending them to `out`.
pub(crate) fn decode_u64_stream(
    r: &mut Reader<'_>,
    n: usize,
    out: &mut Vec<u64>,
) -> CodecResult<()> {
    match r.u8()? {
        STREAM_FOR => {
            let min = r.u64()?;
            let width = r.u8()?;
            if width > 64 {
                return Err(CodecError::BadBitWidth { width });
            }
            let len = packed_len(n, width);
            let body = r.bytes(len)?;
            let start = out.len();
            unpack(body, n, width, out)?;
            if min != 0 {
                for v in &mut out[start..] {
                    *v = v.wrapping_add(min);
                }
            }
            Ok(())
        }
        STREAM_PFOR => {
            let min = r.u64()?;
            let width = r.u8()?;
            if width > 64 {
                return Err(CodecError::BadBitWidth { width });
            }
            let exceptions = r.u32()? as usize;
            let body = r.bytes(packed_len(n, width))?;
            let start = out.len();
            unpack(body, n, width, out)?;
            let mut index = 0usize;
            for _ in 0..exceptions {
                index = index
                    .checked_add(r.varint()? as usize)
                    .filter(|&i| i < n)
                    .ok_or(CodecError::OutOfRange {
                        what: "exception index",
                    })?;
                let v = r.varint()?;
                if let Some(slot) = out.get_mut(start + index) {
                    *slot = v;
                }
            }
            if min != 0 {
                for v in &mut out[start..] {
                    *v = v.wrapping_add(min);
                }
            }
            Ok(())
        }
        STREAM_VARINT => {
            // Every varint is at least one byte.
            if n > r.remaining() {
                return Err(CodecError::Truncated {
                    needed: n - r.remaining(),
                });
            }
            out.reserve(n);
            for _ in 0..n {
                out.push(r.varint()?);
            }
            Ok(())
        }
        tag => Err(CodecError::UnknownEncoding {
            what: "u64 stream",
            tag,
        }),
    }
}

const I64_DELTA: u8 = 0;
const I64_FOR: u8 = 1;

/// Appends the smaller of the delta and FOR encodings of `values`.
pub(crate) fn encode_i64(values: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = values.first() else {
        put_u8(out, I64_FOR);
        put_i64(out, 0);
        encode_u64_stream(&[], out);
        return;
    };
    let deltas: Vec<u64> = values
        .windows(2)
        .map(|w| zigzag(w[1].wrapping_sub(w[0])))
        .collect();
    let mut delta_enc = Vec::new();
    encode_u64_stream(&deltas, &mut delta_enc);
    let min = values.iter().copied().min().unwrap_or(0);
    let shifted: Vec<u64> = values.iter().map(|&v| v.wrapping_sub(min) as u64).collect();
    let mut for_enc = Vec::new();
    encode_u64_stream(&shifted, &mut for_enc);
    if delta_enc.len() + 8 <= for_enc.len() + 8 {
        put_u8(out, I64_DELTA);
        put_i64(out, first);
        out.extend_from_slice(&delta_enc);
    } else {
        put_u8(out, I64_FOR);
        put_i64(out, min);
        out.extend_from_slice(&for_enc);
    }
}

/// Decodes `n` values written by [`encode_i64`].
pub(crate) fn decode_i64(r: &mut Reader<'_>, n: usize, out: &mut Vec<i64>) -> CodecResult<()> {
    let tag = r.u8()?;
    let base = r.i64()?;
    match tag {
        I64_DELTA => {
            if n == 0 {
                return Err(CodecError::CountMismatch {
                    expected: 0,
                    actual: 1,
                });
            }
            let mut deltas = Vec::with_capacity(n - 1);
            decode_u64_stream(r, n - 1, &mut deltas)?;
            out.reserve(n);
            let mut cur = base;
            out.push(cur);
            for d in deltas {
                cur = cur.wrapping_add(unzigzag(d));
                out.push(cur);
            }
            Ok(())
        }
        I64_FOR => {
            let mut raw = Vec::with_capacity(n);
            decode_u64_stream(r, n, &mut raw)?;
            out.extend(raw.into_iter().map(|v| base.wrapping_add(v as i64)));
            Ok(())
        }
        tag => Err(CodecError::UnknownEncoding { what: "i64", tag }),
    }
}

/// Appends the delta-of-delta encoding of `values` (any order; sorted compresses best).
pub(crate) fn encode_timestamps(values: &[i64], out: &mut Vec<u8>) {
    put_i64(out, values.first().copied().unwrap_or(0));
    let mut prev_delta = match values {
        [a, b, ..] => {
            let d = b.wrapping_sub(*a);
            put_i64(out, d);
            d
        }
        _ => 0,
    };
    let dods: Vec<u64> = values
        .windows(2)
        .skip(1)
        .map(|w| {
            let d = w[1].wrapping_sub(w[0]);
            let dod = d.wrapping_sub(prev_delta);
            prev_delta = d;
            zigzag(dod)
        })
        .collect();
    encode_u64_stream(&dods, out);
}

/// Decodes `n` timestamps written by [`encode_timestamps`].
pub(crate) fn decode_timestamps(
    r: &mut Reader<'_>,
    n: usize,
    out: &mut Vec<i64>,
) -> CodecResult<()> {
    let first = r.i64()?;
    let mut delta = if n >= 2 { r.i64()? } else { 0 };
    let rest = n.saturating_sub(2);
    let mut dods = Vec::with_capacity(rest.min(r.remaining() * 8 + 64));
    decode_u64_stream(r, rest, &mut dods)?;
    if n == 0 {
        return Ok(());
    }
    out.reserve(n);
    let mut cur = first;
    out.push(cur);
    if n >= 2 {
        cur = cur.wrapping_add(delta);
        out.push(cur);
    }
    for dod in dods {
        delta = delta.wrapping_add(unzigzag(dod));
        cur = cur.wrapping_add(delta);
        out.push(cur);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small_or_any() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), -1000i64..1000, Just(i64::MIN), Just(i64::MAX)]
    }

    proptest! {
        #[test]
        fn u64_stream_round_trip(values in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..300], 0..400)) {
            let mut out = Vec::new();
            encode_u64_stream(&values, &mut out);
            let mut r = Reader::new(&out);
            let mut back = Vec::new();
            decode_u64_stream(&mut r, values.len(), &mut back).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            prop_assert_eq!(back, values);
        }

        #[test]
        fn i64_round_trip(values in proptest::collection::vec(small_or_any(), 0..400)) {
            let mut out = Vec::new();
            encode_i64(&values, &mut out);
            let mut r = Reader::new(&out);
            let mut back = Vec::new();
            decode_i64(&mut r, values.len(), &mut back).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            prop_assert_eq!(back, values);
        }

        #[test]
        fn timestamps_round_trip(start in any::<i64>(), steps in proptest::collection::vec(small_or_any(), 0..400)) {
            let mut values = vec![start];
            for s in steps { let last = *values.last().unwrap(); values.push(last.wrapping_add(s)); }
            let mut out = Vec::new();
            encode_timestamps(&values, &mut out);
            let mut r = Reader::new(&out);
            let mut back = Vec::new();
            decode_timestamps(&mut r, values.len(), &mut back).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            prop_assert_eq!(back, values);
        }

        #[test]
        fn decoders_never_panic_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100) {
            let _ = decode_u64_stream(&mut Reader::new(&bytes), n, &mut Vec::new());
            let _ = decode_i64(&mut Reader::new(&bytes), n, &mut Vec::new());
            let _ = decode_timestamps(&mut Reader::new(&bytes), n, &mut Vec::new());
        }
    }

    #[test]
    fn rare_outliers_use_patched_for() {
        let mut values = vec![3u64; 8192];
        values[100] = u64::MAX / 3;
        values[5000] = 1 << 40;
        let mut out = Vec::new();
        encode_u64_stream(&values, &mut out);
        assert_eq!(out[0], STREAM_PFOR);
        assert!(out.len() < 8192 / 3, "{} bytes", out.len());
        let mut back = Vec::new();
        decode_u64_stream(&mut Reader::new(&out), values.len(), &mut back).unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn regular_timestamps_take_no_bytes_per_value() {
        let ts: Vec<i64> = (0..8192)
            .map(|i| 1_700_000_000_000_000_000 + i * 10_000_000_000)
            .collect();
        let mut out = Vec::new();
        encode_timestamps(&ts, &mut out);
        // t0, d1, then a width-0 FOR stream: 8 + 8 + 1 + 8 + 1 bytes in all.
        assert_eq!(out.len(), 26);
    }
}
