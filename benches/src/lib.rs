//! Shared helpers of Strata's benchmarks: medians, a memory-copy bandwidth reference, and
//! the decoded size of Arrow batches.
//!
//! Machines here are noisy, so every figure a report prints is a median of repeated runs and,
//! where it makes sense, a ratio to a reference measured in the same run.

use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &mut [Duration]) -> Duration {
    assert!(!samples.is_empty(), "median of no samples");
    samples.sort_unstable();
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2
    }
}

/// Runs `f` `runs` times and returns the median duration.
pub fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    median(&mut samples)
}

/// Median bytes/s of copying a `bytes`-sized buffer into another (already faulted-in)
/// buffer: the memory bandwidth a decoder producing `bytes` of output is compared with.
pub fn memcpy_bandwidth(bytes: usize, runs: usize) -> f64 {
    let src: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
    let mut dst = vec![0u8; bytes];
    let t = median_of(runs, || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    });
    bytes as f64 / t.as_secs_f64()
}

/// Bytes of decoded values in `batch`: 8 per fixed-width value, the offsets plus the
/// string bytes for strings, one bit per boolean; validity bitmaps are not counted.
pub fn decoded_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 => {
                let s = c.as_string::<i32>();
                let offsets = s.value_offsets();
                let first = offsets.first().copied().unwrap_or(0);
                let last = offsets.last().copied().unwrap_or(0);
                4 * s.len() + (last - first) as usize
            }
            DataType::Boolean => c.len().div_ceil(8),
            other => c.len() * other.primitive_width().unwrap_or(8),
        })
        .sum()
}

/// Formats a count with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(
            median(&mut [ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(864_000), "864,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
