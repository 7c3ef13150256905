//! Record framing.
//!
//! Byte layout of one record (all integers little-endian):
//!
//! ```text
//! offset size field
//!      0    4 header_crc   CRC32 (crc32fast / IEEE) of bytes 4..21
//!      4    4 payload_len  length of the payload in bytes
//!      8    8 lsn          log sequence number
//!     16    1 kind         record kind, opaque to the WAL
//!     17    4 payload_crc  CRC32 of the payload
//!     21    n payload
//! ```
//!
//! The header has its own checksum so that a flipped bit in `payload_len` is reported as
//! corruption instead of being mistaken for a record that runs past the end of the file
//! (which recovery would treat as a torn tail and truncate).

/// Size of a record header in bytes.
pub const RECORD_HEADER_LEN: usize = 21;

/// Largest payload the log accepts (256 MiB). Anything claiming more is corruption.
pub(crate) const MAX_PAYLOAD_LEN: usize = 256 * 1024 * 1024;

/// A log sequence number. Dense and strictly increasing; the first record of a new log is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The LSN before any record.
    pub const ZERO: Lsn = Lsn(0);

    /// The next LSN.
    pub fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: Lsn,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Appends the framed record to `out`.
pub(crate) fn encode_into(out: &mut Vec<u8>, lsn: Lsn, kind: u8, payload: &[u8]) {
    let start = out.len();
    let payload_crc = crc32fast::hash(payload);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&out[start + 4..start + RECORD_HEADER_LEN]);
    out[start..start + 4].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The fields of a decoded header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) stored_crc: u32,
    pub(crate) computed_crc: u32,
    pub(crate) payload_len: usize,
    pub(crate) lsn: Lsn,
    pub(crate) kind: u8,
    pub(crate) payload_crc: u32,
}

/// Decodes a header from exactly [`RECORD_HEADER_LEN`] bytes.
pub(crate) fn decode_header(bytes: &[u8; RECORD_HEADER_LEN]) -> Header {
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(&bytes[8..16]);
    Header {
        stored_crc: u32_at(0),
        computed_crc: crc32fast::hash(&bytes[4..]),
        payload_len: u32_at(4) as usize,
        lsn: Lsn(u64::from_le_bytes(lsn)),
        kind: bytes[16],
        payload_crc: u32_at(17),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut buf = Vec::new();
        encode_into(&mut buf, Lsn(42), 7, b"hello");
        assert_eq!(buf.len(), RECORD_HEADER_LEN + 5);
        let mut header = [0u8; RECORD_HEADER_LEN];
        header.copy_from_slice(&buf[..RECORD_HEADER_LEN]);
        let h = decode_header(&header);
        assert_eq!(h.stored_crc, h.computed_crc);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.lsn, Lsn(42));
        assert_eq!(h.kind, 7);
        assert_eq!(h.payload_crc, crc32fast::hash(b"hello"));
    }
}
