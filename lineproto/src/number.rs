//! Numbers of field values and timestamps.

/// Powers of ten that are exact in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A float field value: `-`? digits with an optional fraction (at least one digit in all)
/// and an optional exponent `e`/`E` `+`/`-`? digits; finite.
///
/// Plain decimals of at most 15 digits (what collectors send) are converted here: the
/// digits as an integer below 2^53 and the power of ten are both exact, so one IEEE
/// division gives the correctly rounded value, the same as `str::parse` (Clinger's fast
/// path). Anything else goes to `str::parse`, whose grammar is the same except that it
/// also takes a leading `+` and `inf`/`nan` spellings, which the sign check and the
/// finiteness check turn away. The tests hold both paths to the grammar written out and
/// to `str::parse`'s values.
pub(crate) fn parse_float(s: &[u8]) -> Option<f64> {
    if let Some(v) = fast_decimal(s) {
        return Some(v);
    }
    if s.first() == Some(&b'+') {
        return None;
    }
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// `-?digits[.digits]` or `-?.digits` with at most 15 digits; `None` for anything else.
fn fast_decimal(s: &[u8]) -> Option<f64> {
    scan_decimal(s, 0).and_then(|(v, end)| (end == s.len()).then_some(v))
}

/// Reads `-?digits[.digits]` or `-?.digits` of at most 15 digits from `buf[start..]`,
/// stopping at the first byte that cannot continue it; returns the value and where it
/// stopped. `None` if there is no digit or more than 15.
pub(crate) fn scan_decimal(buf: &[u8], start: usize) -> Option<(f64, usize)> {
    let mut pos = start;
    let negative = buf.get(pos) == Some(&b'-');
    if negative {
        pos += 1;
    }
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut dot: Option<usize> = None;
    while let Some(&b) = buf.get(pos) {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                if count > 15 {
                    return None;
                }
            }
            b'.' if dot.is_none() => dot = Some(pos),
            _ => break,
        }
        pos += 1;
    }
    if count == 0 {
        return None;
    }
    let fraction = dot.map_or(0, |d| pos - d - 1);
    // 15 digits are below 10^15 < 2^53: exact.
    let v = mantissa as f64 / POW10[fraction];
    Some((if negative { -v } else { v }, pos))
}

/// Reads `-?digits` of at most 19 digits from `buf[start..]`, stopping at the first
/// non-digit; returns the value and where it stopped. `None` if there is no digit, more
/// than 19, or the value does not fit an i64.
pub(crate) fn scan_int(buf: &[u8], start: usize) -> Option<(i64, usize)> {
    let mut pos = start;
    let negative = buf.get(pos) == Some(&b'-');
    if negative {
        pos += 1;
    }
    let first = pos;
    let mut magnitude: u64 = 0;
    while let Some(&b) = buf.get(pos).filter(|b| b.is_ascii_digit()) {
        if pos - first == 19 {
            return None;
        }
        // 19 digits stay below u64::MAX.
        magnitude = magnitude * 10 + u64::from(b - b'0');
        pos += 1;
    }
    if pos == first {
        return None;
    }
    let v = if negative {
        0i64.checked_sub_unsigned(magnitude)?
    } else {
        i64::try_from(magnitude).ok()?
    };
    Some((v, pos))
}

/// A signed decimal integer already checked to be `-?[0-9]+`; `None` if out of range.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    match s {
        [b'-', digits @ ..] => {
            let magnitude = parse_uint(digits)?;
            if magnitude <= i64::MAX as u64 {
                Some(-(magnitude as i64))
            } else if magnitude == i64::MAX as u64 + 1 {
                Some(i64::MIN)
            } else {
                None
            }
        }
        digits => i64::try_from(parse_uint(digits)?).ok(),
    }
}

/// An unsigned decimal integer already checked to be `[0-9]+`; `None` if out of range.
pub(crate) fn parse_uint(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}
