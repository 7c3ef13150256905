//! `CALL strata.run_jobs()` and `CALL strata.run_job('kind')`: run the background jobs that
//! have work now and wait for them, for operators and tests.
//!
//! PostgreSQL's `CALL` returns a row only for `OUT` parameters; these procedures return one
//! row per job run (`kind`, `table_name`, `outcome`, `started`, `ended`, `rows`, `bytes`,
//! `error`), so the caller sees what happened without a second query. A failed run is a
//! row with `outcome = 'failed'`, not an error: the statement did what it was asked.

use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr};
use strata_storage::{Engine, JobKind, JobRun};

use crate::error::{QueryError, Result};

/// A procedure `CALL` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procedure {
    /// `strata.run_jobs()`: every kind.
    RunJobs,
    /// `strata.run_job('kind')`.
    RunJob(JobKind),
}

/// Resolves `CALL name(args)`: `strata.run_jobs()` or `strata.run_job('kind')` (the
/// `strata.` prefix may be left out).
pub fn resolve(call: &ast::Function) -> Result<Procedure> {
    let name = procedure_name(call);
    let name = name.as_str();
    let args = call_args(call);
    let signature = || {
        let types = vec!["unknown"; args.len()].join(", ");
        format!("{}({types})", call.name)
    };
    match (name, args.as_slice()) {
        ("run_jobs", []) => Ok(Procedure::RunJobs),
        ("run_job", [arg]) => {
            let kind = text_arg(arg).ok_or_else(|| {
                QueryError::InvalidParameterValue(
                    "strata.run_job takes the job kind as a string, e.g. 'compaction'".into(),
                )
            })?;
            match JobKind::parse(&kind) {
                Some(k) => Ok(Procedure::RunJob(k)),
                None => Err(QueryError::InvalidParameterValue(format!(
                    "unknown job kind \"{kind}\" (kinds: {})",
                    JobKind::ALL.map(JobKind::name).join(", ")
                ))),
            }
        }
        _ => Err(QueryError::UndefinedProcedure(signature())),
    }
}

/// The procedure's name, lower-cased, without the optional `strata.` prefix (empty for a
/// name in another schema).
fn procedure_name(call: &ast::Function) -> String {
    let parts: Vec<String> = call
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [schema, name] if schema == "strata" => name.clone(),
        [name] => name.clone(),
        _ => String::new(),
    }
}

/// The arguments of a call (none for a subquery argument).
fn call_args(call: &ast::Function) -> Vec<&FunctionArg> {
    match &call.args {
        ast::FunctionArguments::List(list) => list.args.iter().collect(),
        ast::FunctionArguments::None | ast::FunctionArguments::Subquery(_) => Vec::new(),
    }
}

fn text_arg(arg: &FunctionArg) -> Option<String> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) = arg else {
        return None;
    };
    match &v.value {
        ast::Value::SingleQuotedString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The rows `CALL` returns.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("started", ts.clone(), false),
        Field::new("ended", ts, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

/// Runs the procedure on the calling (blocking) thread.
pub fn run(engine: &Engine, procedure: Procedure) -> Result<RecordBatch> {
    let kind = match procedure {
        Procedure::RunJobs => None,
        Procedure::RunJob(k) => Some(k),
    };
    runs_batch(&engine.run_jobs(kind))
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn epoch_ns(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Job runs as rows of [`schema`].
pub(crate) fn runs_batch(runs: &[JobRun]) -> Result<RecordBatch> {
    let ts = |f: fn(&JobRun) -> SystemTime| -> ArrayRef {
        Arc::new(
            TimestampNanosecondArray::from(runs.iter().map(|r| epoch_ns(f(r))).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| r.kind.name()),
        )),
        Arc::new(StringArray::from(
            runs.iter().map(|r| r.table.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| r.outcome.name()),
        )),
        ts(|r| r.started),
        ts(|r| r.ended),
        Arc::new(Int64Array::from_iter_values(
            runs.iter()
                .map(|r| i64::try_from(r.rows).unwrap_or(i64::MAX)),
        )),
        Arc::new(Int64Array::from_iter_values(
            runs.iter()
                .map(|r| i64::try_from(r.bytes).unwrap_or(i64::MAX)),
        )),
        Arc::new(StringArray::from(
            runs.iter().map(|r| r.error.clone()).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).map_err(|e| QueryError::DataFusion(Box::new(e.into())))
}

/// `strata.erase_subject(value [, 'table', ...])` (what `ERASE SUBJECT` is rewritten to):
/// the value as SQL text (a string literal or a parameter) and the tables named. `None` for
/// any other procedure.
pub fn erase_subject_args(call: &ast::Function) -> Option<Result<(String, Vec<String>)>> {
    if procedure_name(call) != "erase_subject" {
        return None;
    }
    let args = call_args(call);
    let usage = || {
        QueryError::InvalidParameterValue(
            "ERASE SUBJECT takes a string or a parameter, then optionally FROM and table names"
                .into(),
        )
    };
    let Some((value, tables)) = args.split_first() else {
        return Some(Err(usage()));
    };
    let value = match value {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e @ Expr::Value(v)))
            if matches!(
                v.value,
                ast::Value::SingleQuotedString(_) | ast::Value::Placeholder(_)
            ) =>
        {
            e.to_string()
        }
        _ => return Some(Err(usage())),
    };
    let tables = tables
        .iter()
        .map(|a| text_arg(a).ok_or_else(usage))
        .collect::<Result<Vec<_>>>();
    Some(tables.map(|t| (value, t)))
}

/// The row `ERASE SUBJECT` returns.
pub fn erase_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("erasure_id", DataType::Int64, false),
        Field::new("rows_erased", DataType::Int64, false),
    ]))
}

/// An erasure as the row of [`erase_schema`].
pub fn erase_batch(e: &strata_storage::Erasure) -> RecordBatch {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    RecordBatch::try_new(
        erase_schema(),
        vec![
            Arc::new(Int64Array::from(vec![int(e.id)])),
            Arc::new(Int64Array::from(vec![int(e.rows())])),
        ],
    )
    .expect("two int8 columns")
}
