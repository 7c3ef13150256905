use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use proptest::prelude::*;

use super::{write_segment, Segment};
use crate::error::Error;
use crate::schema::{FieldType, TableSchema};

fn schema() -> TableSchema {
    TableSchema::new(
        "t",
        "ts",
        ["host"],
        [
            ("f", FieldType::Float),
            ("i", FieldType::Integer),
            ("b", FieldType::Boolean),
            ("s", FieldType::Text),
        ],
    )
}

type Row = (
    Option<String>,
    i64,
    Option<f64>,
    Option<i64>,
    Option<bool>,
    Option<String>,
);

fn batch(mut rows: Vec<Row>) -> RecordBatch {
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampNanosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(rows.iter().map(|r| r.0.clone()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.4).collect::<BooleanArray>()),
        Arc::new(rows.iter().map(|r| r.5.clone()).collect::<StringArray>()),
    ];
    RecordBatch::try_new(schema().arrow_schema(), cols).unwrap()
}

fn read_all(seg: &Segment) -> Result<RecordBatch, Error> {
    let mut batches = Vec::new();
    for b in 0..seg.meta().blocks.len() {
        let cols = (0..seg.meta().columns.len())
            .map(|c| seg.read_column(b, c))
            .collect::<Result<Vec<_>, _>>()?;
        batches.push(RecordBatch::try_new(schema().arrow_schema(), cols)?);
    }
    Ok(arrow::compute::concat_batches(
        &schema().arrow_schema(),
        &batches,
    )?)
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        prop::option::of("[a-e]"),
        any::<i64>(),
        prop::option::of(prop_oneof![
            any::<f64>(),
            (-10_000i64..10_000).prop_map(|i| i as f64 / 100.0)
        ]),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<bool>()),
        prop::option::of(".{0,8}"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(rows in prop::collection::vec(row_strategy(), 1..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.seg");
        let input = batch(rows);
        write_segment(&path, &input, &schema(), 7).unwrap();
        let seg = Segment::open(&path).unwrap();
        prop_assert_eq!(seg.meta().max_lsn, 7);
        let back = read_all(&seg).unwrap();
        // Compare through the canonical byte form of each column (NaN-safe).
        for c in 0..input.num_columns() {
            prop_assert_eq!(back.column(c).to_data(), input.column(c).to_data(), "column {}", c);
        }
    }
}

#[test]
fn many_blocks_and_bitmaps() {
    let rows: Vec<Row> = (0..20_000)
        .map(|i| {
            (
                Some(format!("h{}", i % 7)),
                i as i64 * 10,
                Some((i % 1000) as f64 / 10.0),
                None,
                None,
                None,
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.seg");
    let input = batch(rows);
    write_segment(&path, &input, &schema(), 1).unwrap();
    let seg = Segment::open(&path).unwrap();
    assert_eq!(seg.meta().blocks.len(), 3);
    let dict = seg.meta().tag_dict(1).unwrap();
    assert_eq!(dict.values.len(), 7);
    let total: u64 = dict.bitmaps.iter().map(|b| b.cardinality()).sum();
    assert_eq!(total, 20_000);
    assert_eq!(read_all(&seg).unwrap(), input);
}

/// Every single-byte change anywhere in a segment is detected and reported with the path;
/// no corrupted segment yields rows.
#[test]
fn a_corrupt_byte_anywhere_is_reported() {
    let rows: Vec<Row> = (0..40)
        .map(|i| {
            (
                Some(format!("host-{}", i % 3)),
                1_000 + i * 10,
                Some(i as f64 * 0.25),
                (i % 4 != 0).then_some(i),
                Some(i % 2 == 0),
                Some(format!("v{i}")),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.seg");
    write_segment(&path, &batch(rows), &schema(), 1).unwrap();
    let original = std::fs::read(&path).unwrap();
    assert!(read_all(&Segment::open(&path).unwrap()).is_ok());
    for offset in 0..original.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bytes = original.clone();
            bytes[offset] ^= flip;
            std::fs::write(&path, &bytes).unwrap();
            let result = Segment::open(&path).and_then(|s| read_all(&s));
            match result {
                Err(Error::Corruption { file, .. })
                | Err(Error::UnsupportedVersion { file, .. }) => {
                    assert_eq!(file, path)
                }
                Err(other) => panic!("byte {offset}: unexpected error kind {other}"),
                Ok(_) => panic!("byte {offset} flipped with {flip:#x} went unnoticed"),
            }
        }
    }
}
