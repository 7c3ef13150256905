//! Write groups: write batches (of one or more tables) that commit together, as one SQL
//! statement or transaction does.
//!
//! A group is logged as one or more WAL records of kind [`WAL_KIND_GROUP`], each at most
//! `group_record_bytes` ([`PART_TARGET_BYTES`] by default; a single batch larger than that
//! gets a record of its own), and
//! is applied (in replay as in [`crate::Engine::write_group`]) only once its last record
//! is read: a crash before that record is durable leaves none of it, and the group was
//! never acknowledged. Payload, little-endian:
//!
//! ```text
//! u8      payload version (1)
//! u64     group: 0 in the group's first record; in later ones the LSN of that first record
//! u8      last: 1 in the group's final record
//! u32     B batches; B x (u32 length, write-batch payload of that length, see batch.rs)
//! ```

use crate::batch::WriteBatch;
use crate::codec::buf::{put_u32, put_u64, put_u8, Reader};
use crate::codec::CodecError;

/// WAL record kind of a part of a write group.
pub(crate) const WAL_KIND_GROUP: u8 = 2;
const PAYLOAD_VERSION: u8 = 1;
/// Default size a group's records are cut at (well below the WAL's 256 MiB record limit).
pub(crate) const PART_TARGET_BYTES: usize = 64 * 1024 * 1024;

/// One record's share of a group: encoded write-batch payloads.
pub(crate) type Part = Vec<Vec<u8>>;

/// Splits encoded batches into parts of about `target` bytes, in order.
pub(crate) fn split(encoded: Vec<Vec<u8>>, target: usize) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    let mut size = 0;
    for batch in encoded {
        if parts.is_empty() || (size > 0 && size + batch.len() > target) {
            parts.push(Vec::new());
            size = 0;
        }
        size += batch.len();
        parts.last_mut().expect("pushed above").push(batch);
    }
    parts
}

/// The WAL payload of one part: `group` is 0 for the first part, else the first part's LSN.
pub(crate) fn encode_part(group: u64, last: bool, part: &Part) -> Vec<u8> {
    let len: usize = part.iter().map(|b| b.len() + 4).sum();
    let mut out = Vec::with_capacity(14 + len);
    put_u8(&mut out, PAYLOAD_VERSION);
    put_u64(&mut out, group);
    put_u8(&mut out, u8::from(last));
    put_u32(&mut out, part.len() as u32);
    for b in part {
        put_u32(&mut out, b.len() as u32);
        out.extend_from_slice(b);
    }
    out
}

/// A decoded part: its group (0: it starts one), whether it ends it, and its batches with
/// their table ids.
#[derive(Debug)]
pub(crate) struct DecodedPart {
    pub group: u64,
    pub last: bool,
    pub batches: Vec<(WriteBatch, Option<u64>)>,
}

pub(crate) fn decode_part(payload: &[u8]) -> Result<DecodedPart, CodecError> {
    let mut r = Reader::new(payload);
    let version = r.u8()?;
    if version != PAYLOAD_VERSION {
        return Err(CodecError::UnknownEncoding {
            what: "write group version",
            tag: version,
        });
    }
    let group = r.u64()?;
    let last = match r.u8()? {
        0 => false,
        1 => true,
        tag => {
            return Err(CodecError::UnknownEncoding {
                what: "write group last flag",
                tag,
            })
        }
    };
    let n = r.count(4)?;
    let mut batches = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u32()? as usize;
        batches.push(WriteBatch::decode(r.bytes(len)?)?);
    }
    if r.remaining() != 0 {
        return Err(CodecError::OutOfRange {
            what: "bytes after the last batch of a write group",
        });
    }
    Ok(DecodedPart {
        group,
        last,
        batches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldType, TableSchema};
    use crate::Value;
    use proptest::prelude::*;

    fn batch(rows: usize) -> WriteBatch {
        let schema = TableSchema::new("t", "ts", ["host"], [("v", FieldType::Float)]);
        let mut b = WriteBatch::new(&schema);
        for i in 0..rows {
            b.push_row(&[Some("a")], i as i64, &[Value::Float(i as f64)])
                .unwrap();
        }
        b
    }

    #[test]
    fn parts_round_trip_in_order() {
        let encoded: Vec<Vec<u8>> = (1..=5).map(|n| batch(n).encode(7)).collect();
        let sizes: Vec<usize> = encoded.iter().map(Vec::len).collect();
        // Cut after about two batches' worth.
        let parts = split(encoded, sizes[0] + sizes[1]);
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let mut rows = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let d = decode_part(&encode_part(if i == 0 { 0 } else { 42 }, last, p)).unwrap();
            assert_eq!(d.group, if i == 0 { 0 } else { 42 });
            assert_eq!(d.last, last);
            rows.extend(d.batches.iter().map(|(b, id)| {
                assert_eq!(*id, Some(7));
                b.len()
            }));
        }
        assert_eq!(rows, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_batch_larger_than_the_target_gets_a_part_of_its_own() {
        let parts = split(vec![vec![0; 10], vec![0; 100], vec![0; 10]], 50);
        let lens: Vec<Vec<usize>> = parts
            .iter()
            .map(|p| p.iter().map(Vec::len).collect())
            .collect();
        assert_eq!(lens, vec![vec![10], vec![100], vec![10]]);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_part(&bytes);
        }
    }
}
