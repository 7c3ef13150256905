//! `system.erasures` (one receipt per `DELETE`, `TRUNCATE`, subject erasure and retention
//! drop) and `system.erasure_files` (one row per file an erasure rewrote or deleted, with
//! its SHA-256 before and after).
//!
//! A receipt names a subject only by `subject_hash` (`strata.subject_hash('value')`
//! computes it); no column holds an erased value or row.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use strata_storage::Engine;

use super::ts_type;
use crate::error::QueryError;

pub(super) fn erasures_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("erasure_id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("requested_by", DataType::Utf8, false),
        Field::new("requested_at", ts_type(), false),
        Field::new("subject_hash", DataType::Utf8, true),
        Field::new("tables", DataType::Utf8, false),
        // Rows that became invisible when the statement returned.
        Field::new("rows", DataType::Int64, false),
        // Row versions physically removed, per tier.
        Field::new("rows_memtable", DataType::Int64, false),
        Field::new("rows_local", DataType::Int64, false),
        Field::new("rows_cold", DataType::Int64, false),
        Field::new("files_rewritten", DataType::Int64, false),
        Field::new("files_deleted", DataType::Int64, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("purged_at", ts_type(), true),
        Field::new("verified_at", ts_type(), true),
        Field::new("verification", DataType::Utf8, true),
    ]))
}

pub(super) fn erasure_files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("erasure_id", DataType::Int64, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("tier", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sha256_before", DataType::Utf8, false),
        Field::new("file_after", DataType::Utf8, true),
        Field::new("sha256_after", DataType::Utf8, true),
        Field::new("rows_before", DataType::Int64, false),
        Field::new("rows_after", DataType::Int64, false),
    ]))
}

/// Counts and ids as `int8`, the type clients read them as.
fn int8(v: impl IntoIterator<Item = u64>) -> Int64Array {
    Int64Array::from_iter_values(v.into_iter().map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
}

fn ts(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"))
}

pub(super) fn erasures(engine: &Engine) -> Result<RecordBatch, QueryError> {
    let all = engine.erasures();
    let sum = |f: &dyn Fn(&strata_storage::ErasedTable) -> u64| -> ArrayRef {
        Arc::new(int8(
            all.iter().map(|e| e.tables.iter().map(f).sum::<u64>()),
        ))
    };
    let files = |rewritten: bool| -> ArrayRef {
        Arc::new(int8(all.iter().map(|e| {
            e.tables
                .iter()
                .flat_map(|t| &t.files)
                .filter(|f| f.file_after.is_some() == rewritten)
                .count() as u64
        })))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(int8(all.iter().map(|e| e.id))),
        Arc::new(StringArray::from_iter_values(
            all.iter().map(|e| e.kind.name()),
        )),
        Arc::new(StringArray::from_iter_values(
            all.iter().map(|e| e.requested_by.as_str()),
        )),
        ts(all.iter().map(|e| Some(e.requested_at_ns)).collect()),
        Arc::new(StringArray::from(
            all.iter()
                .map(|e| e.subject_hash.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(all.iter().map(|e| {
            e.tables
                .iter()
                .map(|t| t.table.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }))),
        sum(&|t| t.rows),
        sum(&|t| t.removed_memtable),
        sum(&|t| t.removed_local),
        sum(&|t| t.removed_cold),
        files(true),
        files(false),
        Arc::new(StringArray::from_iter_values(
            all.iter().map(|e| e.state.name()),
        )),
        ts(all.iter().map(|e| e.purged_at_ns).collect()),
        ts(all.iter().map(|e| e.verified_at_ns).collect()),
        Arc::new(StringArray::from(
            all.iter()
                .map(|e| e.verification.as_deref())
                .collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(erasures_schema(), cols).map_err(DataFusionError::from)?)
}

pub(super) fn erasure_files(engine: &Engine) -> Result<RecordBatch, QueryError> {
    let all = engine.erasures();
    let rows: Vec<(u64, &str, &strata_storage::FileChange)> = all
        .iter()
        .flat_map(|e| {
            e.tables
                .iter()
                .flat_map(move |t| t.files.iter().map(move |f| (e.id, t.table.as_str(), f)))
        })
        .collect();
    let text = |f: &dyn Fn(&strata_storage::FileChange) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|r| f(r.2)).collect::<Vec<_>>(),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(int8(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        text(&|f| Some(f.tier.as_str())),
        text(&|f| Some(f.file.as_str())),
        text(&|f| Some(f.sha256_before.as_str())),
        text(&|f| f.file_after.as_deref()),
        text(&|f| f.sha256_after.as_deref()),
        Arc::new(int8(rows.iter().map(|r| r.2.rows_before))),
        Arc::new(int8(rows.iter().map(|r| r.2.rows_after))),
    ];
    Ok(RecordBatch::try_new(erasure_files_schema(), cols).map_err(DataFusionError::from)?)
}
