//! `system.jobs` (one row per background job: its state, last run and next run) and
//! `system.job_runs` (the most recent runs, oldest first).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use strata_storage::Engine;

use super::ts_type;
use crate::error::QueryError;
use crate::statements::call::{epoch_ns, runs_batch};

pub(super) fn jobs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, true),
        Field::new("state", DataType::Utf8, false),
        Field::new("running_since", ts_type(), true),
        Field::new("last_start", ts_type(), true),
        Field::new("last_end", ts_type(), true),
        Field::new("last_outcome", DataType::Utf8, true),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("last_rows", DataType::Int64, true),
        Field::new("last_bytes", DataType::Int64, true),
        Field::new("runs", DataType::Int64, false),
        Field::new("failures", DataType::Int64, false),
        Field::new("next_run", ts_type(), true),
    ]))
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn jobs(engine: &Engine) -> Result<RecordBatch, QueryError> {
    let jobs = engine.jobs();
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"))
    };
    let last = |f: &dyn Fn(&strata_storage::JobRun) -> Option<i64>| -> Vec<Option<i64>> {
        jobs.iter().map(|j| j.last.as_ref().and_then(f)).collect()
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            jobs.iter().map(|j| j.kind.name()),
        )),
        Arc::new(StringArray::from(
            jobs.iter().map(|j| j.table.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            jobs.iter().map(|j| j.state.name()),
        )),
        ts(jobs.iter().map(|j| j.running_since.map(epoch_ns)).collect()),
        ts(last(&|r| Some(epoch_ns(r.started)))),
        ts(last(&|r| Some(epoch_ns(r.ended)))),
        Arc::new(StringArray::from(
            jobs.iter()
                .map(|j| j.last.as_ref().map(|r| r.outcome.name()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            jobs.iter()
                .map(|j| j.last.as_ref().and_then(|r| r.error.clone()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(last(&|r| Some(int(r.rows))))),
        Arc::new(Int64Array::from(last(&|r| Some(int(r.bytes))))),
        Arc::new(Int64Array::from_iter_values(
            jobs.iter().map(|j| int(j.runs)),
        )),
        Arc::new(Int64Array::from_iter_values(
            jobs.iter().map(|j| int(j.failures)),
        )),
        ts(jobs.iter().map(|j| j.next_run.map(epoch_ns)).collect()),
    ];
    Ok(RecordBatch::try_new(jobs_schema(), cols).map_err(DataFusionError::from)?)
}

pub(super) fn job_runs(engine: &Engine) -> Result<RecordBatch, QueryError> {
    runs_batch(&engine.job_runs())
}
