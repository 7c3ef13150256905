//! Column encodings.
//!
//! Every encoder writes into a `Vec<u8>` and every decoder reads from a byte slice through
//! [`buf::Reader`], which bounds-checks each read: a decoder given corrupt bytes returns a
//! [`CodecError`], it never panics or reads out of bounds. The byte layouts are documented
//! on each function and in `storage/FORMAT.md`.

pub(crate) mod bitpack;
pub(crate) mod buf;
pub(crate) mod floats;
pub(crate) mod ints;
pub(crate) mod misc;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("unexpected end of data (needed {needed} more bytes)")]
    Truncated { needed: usize },
    #[error("unknown encoding tag {tag} for {what}")]
    UnknownEncoding { what: &'static str, tag: u8 },
    #[error("invalid bit width {width}")]
    BadBitWidth { width: u8 },
    #[error("decoded {actual} values, expected {expected}")]
    CountMismatch { expected: usize, actual: usize },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{what} out of range")]
    OutOfRange { what: &'static str },
}

pub(crate) type CodecResult<T> = std::result::Result<T, CodecError>;

/// Maps signed to unsigned so that small magnitudes become small numbers.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn zigzag_round_trip(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn zigzag_small_magnitudes() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }
}
