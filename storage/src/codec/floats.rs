//! f64 encodings, one tag byte then:
//!
//! - `0` **decimal** (in the spirit of ALP, Afroozeh et al., SIGMOD 2024): `u8 e`, `u32
//!   exceptions`, then an i64 encoding (see `ints`) of `n` integers `i` such that
//!   `i as f64 / 10^e` is bit-for-bit the original value, then per exception `u32 index`
//!   and `u64 bits` of the original value. Exceptions (NaN, infinities, -0.0, values with
//!   more digits) hold the previous integer in the integer sequence so deltas stay small.
//!   Metrics recorded with a few decimals become small integers that bit-pack tightly.
//! - `1` **Gorilla XOR** (Pelkonen et al., VLDB 2015): `u32 bit length`, then a bit stream,
//!   most significant bit first: the first value's 64 bits; then per value the XOR with the
//!   previous one: `0` if zero; `10` + meaningful bits if they fit the previous window;
//!   `11` + 6 bits leading zeros + 6 bits (length - 1) + the meaningful bits otherwise.
//!
//! `encode_f64` writes whichever is smaller. Decoding is exact: the decimal path divides by an
//! exactly representable power of ten, the same operation the encoder verified.

use super::buf::{put_u32, put_u64, put_u8, Reader};
use super::ints::{decode_i64, encode_i64};
use super::{CodecError, CodecResult};

const F_DECIMAL: u8 = 0;
const F_GORILLA: u8 = 1;

/// Largest exponent tried: 10^18 is exact in f64 and the scaled value must stay below 2^53.
const MAX_EXPONENT: usize = 18;
const POW10: [f64; MAX_EXPONENT + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// The integer that represents `v` at exponent `e`, if one does so exactly.
#[inline]
fn scale(v: f64, e: usize) -> Option<i64> {
    let p = POW10[e];
    let scaled = (v * p).round();
    // Written so that NaN (for which every comparison is false) is rejected too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(scaled.abs() < EXACT_INT_LIMIT) {
        return None;
    }
    let i = scaled as i64;
    ((i as f64 / p).to_bits() == v.to_bits()).then_some(i)
}

/// Picks the exponent that represents the most of a sample exactly (smallest on ties).
fn choose_exponent(values: &[f64]) -> Option<(usize, usize)> {
    let step = (values.len() / 64).max(1);
    let sample: Vec<f64> = values.iter().step_by(step).copied().collect();
    let mut best: Option<(usize, usize)> = None;
    for e in 0..=MAX_EXPONENT {
        let hits = sample.iter().filter(|&&v| scale(v, e).is_some()).count();
        if best.is_none_or(|(_, h)| hits > h) {
            best = Some((e, hits));
        }
        if hits == sample.len() {
            break;
        }
    }
    // Worth trying only if most of the sample is decimal at that exponent.
    best.filter(|&(_, hits)| hits * 2 >= sample.len().max(1))
}

fn encode_decimal(values: &[f64], e: usize, out: &mut Vec<u8>) {
    let mut ints = Vec::with_capacity(values.len());
    let mut exceptions = Vec::new();
    let mut prev = 0i64;
    for (idx, &v) in values.iter().enumerate() {
        match scale(v, e) {
            Some(i) => {
                ints.push(i);
                prev = i;
            }
            None => {
                ints.push(prev);
                exceptions.push((idx as u32, v.to_bits()));
            }
        }
    }
    put_u8(out, F_DECIMAL);
    put_u8(out, e as u8);
    put_u32(out, exceptions.len() as u32);
    encode_i64(&ints, out);
    for (idx, bits) in exceptions {
        put_u32(out, idx);
        put_u64(out, bits);
    }
}

/// MSB-first bit writer.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
    total: u64,
}

impl BitWriter {
    fn new(capacity: usize) -> Self {
        BitWriter {
            out: Vec::with_capacity(capacity),
            acc: 0,
            bits: 0,
            total: 0,
        }
    }

    /// Writes the low `n` bits of `v` (n <= 64).
    #[inline]
    fn write(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        self.total += u64::from(n);
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let free = 64 - self.bits;
        if n <= free {
            self.acc |= if n == 64 { v } else { v << (free - n) };
            self.bits += n;
            if self.bits == 64 {
                self.out.extend_from_slice(&self.acc.to_be_bytes());
                self.acc = 0;
                self.bits = 0;
            }
        } else {
            let spill = n - free;
            self.acc |= v >> spill;
            self.out.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = v << (64 - spill);
            self.bits = spill;
        }
    }

    fn finish(mut self) -> (Vec<u8>, u64) {
        let bytes = self.bits.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
        (self.out, self.total)
    }
}

/// MSB-first bit reader over a bounded slice.
struct BitReader<'a> {
    data: &'a [u8],
    pos: u64,
    len: u64,
}

impl BitReader<'_> {
    #[inline]
    fn read(&mut self, n: u32) -> CodecResult<u64> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + u64::from(n) > self.len {
            return Err(CodecError::Truncated { needed: 1 });
        }
        let byte = (self.pos / 8) as usize;
        let shift = (self.pos % 8) as u32;
        // Read up to 9 bytes big-endian covering [pos, pos + n).
        let mut window = [0u8; 16];
        let avail = self.data.len().saturating_sub(byte).min(16);
        if let (Some(dst), Some(src)) = (window.get_mut(..avail), self.data.get(byte..byte + avail))
        {
            dst.copy_from_slice(src);
        }
        let wide = u128::from_be_bytes(window);
        let v = (wide << shift) >> (128 - n);
        self.pos += u64::from(n);
        Ok(v as u64)
    }
}

fn encode_gorilla(values: &[f64], out: &mut Vec<u8>) {
    let mut w = BitWriter::new(values.len() * 2 + 16);
    let mut prev = 0u64;
    let mut prev_lead = u32::MAX;
    let mut prev_trail = 0u32;
    for (i, v) in values.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            w.write(bits, 64);
            prev = bits;
            continue;
        }
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let lead = x.leading_zeros().min(63);
        let trail = x.trailing_zeros();
        if prev_lead != u32::MAX && lead >= prev_lead && trail >= prev_trail {
            w.write(0b10, 2);
            w.write(x >> prev_trail, 64 - prev_lead - prev_trail);
        } else {
            let len = 64 - lead - trail;
            w.write(0b11, 2);
            w.write(u64::from(lead), 6);
            w.write(u64::from(len - 1), 6);
            w.write(x >> trail, len);
            prev_lead = lead;
            prev_trail = trail;
        }
    }
    let (bytes, total) = w.finish();
    put_u8(out, F_GORILLA);
    put_u32(out, total as u32);
    out.extend_from_slice(&bytes);
}

fn decode_gorilla(r: &mut Reader<'_>, n: usize, out: &mut Vec<f64>) -> CodecResult<()> {
    let total = u64::from(r.u32()?);
    let data = r.bytes(total.div_ceil(8) as usize)?;
    let mut br = BitReader {
        data,
        pos: 0,
        len: total,
    };
    if n == 0 {
        return Ok(());
    }
    out.reserve(n);
    let mut prev = br.read(64)?;
    out.push(f64::from_bits(prev));
    let mut lead = 0u32;
    let mut trail = 0u32;
    let mut have_window = false;
    for _ in 1..n {
        if br.read(1)? == 0 {
            out.push(f64::from_bits(prev));
            continue;
        }
        if br.read(1)? == 1 {
            lead = br.read(6)? as u32;
            let len = br.read(6)? as u32 + 1;
            if lead + len > 64 {
                return Err(CodecError::OutOfRange { what: "xor window" });
            }
            trail = 64 - lead - len;
            have_window = true;
        } else if !have_window {
            return Err(CodecError::OutOfRange { what: "xor window" });
        }
        let len = 64 - lead - trail;
        let x = br.read(len)? << trail;
        prev ^= x;
        out.push(f64::from_bits(prev));
    }
    Ok(())
}

/// Appends the smaller of the decimal and Gorilla encodings of `values`.
pub(crate) fn encode_f64(values: &[f64], out: &mut Vec<u8>) {
    let mut gorilla = Vec::new();
    encode_gorilla(values, &mut gorilla);
    if let Some((e, _)) = choose_exponent(values) {
        let mut decimal = Vec::new();
        encode_decimal(values, e, &mut decimal);
        if decimal.len() <= gorilla.len() {
            out.extend_from_slice(&decimal);
            return;
        }
    }
    out.extend_from_slice(&gorilla);
}

/// Decodes `n` values written by [`encode_f64`].
pub(crate) fn decode_f64(r: &mut Reader<'_>, n: usize, out: &mut Vec<f64>) -> CodecResult<()> {
    match r.u8()? {
        F_DECIMAL => {
            let e = r.u8()? as usize;
            let p = *POW10
                .get(e)
                .ok_or(CodecError::OutOfRange { what: "exponent" })?;
            let exceptions = r.u32()? as usize;
            let mut ints = Vec::with_capacity(n);
            decode_i64(r, n, &mut ints)?;
            let start = out.len();
            out.extend(ints.iter().map(|&i| i as f64 / p));
            for _ in 0..exceptions {
                let idx = r.u32()? as usize;
                let bits = r.u64()?;
                let slot =
                    out.get_mut(start + idx)
                        .filter(|_| idx < n)
                        .ok_or(CodecError::OutOfRange {
                            what: "exception index",
                        })?;
                *slot = f64::from_bits(bits);
            }
            Ok(())
        }
        F_GORILLA => decode_gorilla(r, n, out),
        tag => Err(CodecError::UnknownEncoding { what: "f64", tag }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    fn round_trip_each(values: &[f64]) {
        for which in [F_DECIMAL, F_GORILLA, 255] {
            let mut out = Vec::new();
            match which {
                F_DECIMAL => match choose_exponent(values) {
                    Some((e, _)) => encode_decimal(values, e, &mut out),
                    None => encode_decimal(values, 2, &mut out),
                },
                F_GORILLA => encode_gorilla(values, &mut out),
                _ => encode_f64(values, &mut out),
            }
            let mut r = Reader::new(&out);
            let mut back = Vec::new();
            decode_f64(&mut r, values.len(), &mut back).unwrap();
            assert_eq!(r.remaining(), 0);
            assert_eq!(bits(&back), bits(values), "encoding {which}");
        }
    }

    fn special() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(1e300),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_round_trip(values in proptest::collection::vec(prop_oneof![any::<f64>(), special()], 0..300)) {
            round_trip_each(&values);
        }

        #[test]
        fn decimal_random_walk_round_trip(start in 0i64..10_000, steps in proptest::collection::vec(-300i64..300, 0..500), decimals in 0u32..5) {
            let p = 10f64.powi(decimals as i32);
            let mut cur = start;
            let values: Vec<f64> = steps.iter().map(|s| { cur += s; cur as f64 / p }).collect();
            round_trip_each(&values);
        }

        #[test]
        fn mixed_decimal_and_exceptions(values in proptest::collection::vec(prop_oneof![(0i64..100_000).prop_map(|i| i as f64 / 100.0), special(), any::<f64>()], 0..300)) {
            round_trip_each(&values);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), n in 0usize..64) {
            let _ = decode_f64(&mut Reader::new(&bytes), n, &mut Vec::new());
        }
    }

    #[test]
    fn two_decimal_random_walk_is_compact() {
        let mut cur = 5000i64;
        let mut values = Vec::new();
        let mut x = 12345u64;
        for _ in 0..8192 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            cur = (cur + ((x >> 33) % 200) as i64 - 100).clamp(0, 10_000);
            values.push(cur as f64 / 100.0);
        }
        let mut out = Vec::new();
        encode_f64(&values, &mut out);
        assert_eq!(out[0], F_DECIMAL);
        assert!(out.len() < 8192 * 2, "{} bytes for 8192 values", out.len());
    }
}
