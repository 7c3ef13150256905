//! The schemas DataFusion resolves names in: `public` (the engine's tables, looked up live
//! so every session sees a table as soon as it is created) and `system` (read-only views of
//! the engine's state: `tables`, `partitions`, `segments`, in [`jobs`] `jobs` and
//! `job_runs`, in [`erasures`] `erasures` and `erasure_files`).

mod erasures;
mod jobs;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use strata_storage::{Engine, NULL_TIME};

use crate::error::QueryError;
use crate::provider::StrataTable;
use crate::table::{Role, TableDef};
use crate::views::ViewPlanner;

/// `public`: every engine table and view.
#[derive(Debug)]
pub struct StrataSchema {
    engine: Arc<Engine>,
    views: Arc<ViewPlanner>,
}

impl StrataSchema {
    pub fn new(engine: Arc<Engine>, views: Arc<ViewPlanner>) -> Self {
        StrataSchema { engine, views }
    }
}

#[async_trait]
impl SchemaProvider for StrataSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.engine.table_names();
        names.extend(self.engine.view_names());
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.engine.view(name) {
            return self.views.resolve(&view).await.map(Some);
        }
        match self.engine.table_schema(name) {
            Ok(schema) => {
                let mut defaults = std::collections::HashMap::new();
                for (column, sql) in &schema.sql_columns {
                    if let Some(default) = &sql.default {
                        let planned = self.views.plan_default(default)?;
                        defaults.insert(column.clone(), (default.clone(), planned));
                    }
                }
                let def = TableDef::new(schema).map_err(DataFusionError::from)?;
                Ok(Some(Arc::new(
                    StrataTable::new(Arc::clone(&self.engine), def).with_defaults(defaults),
                )))
            }
            Err(strata_storage::Error::TableNotFound { .. }) => Ok(None),
            Err(e) => Err(QueryError::from(e).into()),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.engine.table_schema(name).is_ok() || self.engine.view(name).is_some()
    }
}

/// `system`: the engine's tables, partitions and segments, computed when queried.
#[derive(Debug)]
pub struct SystemSchema {
    engine: Arc<Engine>,
}

const SYSTEM_TABLES: [&str; 7] = [
    "tables",
    "partitions",
    "segments",
    "jobs",
    "job_runs",
    "erasures",
    "erasure_files",
];

impl SystemSchema {
    pub fn new(engine: Arc<Engine>) -> Self {
        SystemSchema { engine }
    }

    fn tables(&self) -> Result<RecordBatch, QueryError> {
        let mut name = Vec::new();
        let mut time_column = Vec::new();
        let mut tags = Vec::new();
        let mut fields = Vec::new();
        let mut interval = Vec::new();
        let mut cold_after = Vec::new();
        let mut retention = Vec::new();
        let mut subject = Vec::new();
        let mut append_only = Vec::new();
        let mut partitioned = Vec::new();
        let mut segments = Vec::new();
        let mut rows = Vec::new();
        let mut bytes = Vec::new();
        let mut unflushed = Vec::new();
        for t in self.engine.table_names() {
            let Ok(schema) = self.engine.table_schema(&t) else {
                continue; // dropped meanwhile
            };
            let def = TableDef::new(schema)?;
            let segs = self.engine.segments(&t).unwrap_or_default();
            name.push(t.clone());
            time_column.push((!def.storage.hidden_time).then(|| def.storage.time_column.clone()));
            tags.push(def.storage.tags.join(","));
            fields.push(
                def.columns
                    .iter()
                    .filter(|c| matches!(c.role, Role::Field(_)))
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            );
            interval.push((!def.storage.hidden_time).then_some(def.storage.partition_interval_ns));
            cold_after.push(def.storage.cold_after_ns);
            retention.push(def.storage.retention_ns);
            subject.push(def.storage.subject_column.clone());
            append_only.push(def.storage.append_only);
            partitioned.push(!def.storage.hidden_time);
            segments.push(segs.len() as u64);
            rows.push(segs.iter().map(|s| s.rows).sum::<u64>());
            bytes.push(segs.iter().map(|s| s.bytes).sum::<u64>());
            unflushed.push(self.engine.unflushed_rows(&t).unwrap_or(0));
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(name)),
            Arc::new(StringArray::from(time_column)),
            Arc::new(StringArray::from(tags)),
            Arc::new(StringArray::from(fields)),
            Arc::new(Int64Array::from(interval)),
            Arc::new(Int64Array::from(cold_after)),
            Arc::new(Int64Array::from(retention)),
            Arc::new(StringArray::from(subject)),
            Arc::new(BooleanArray::from(append_only)),
            Arc::new(BooleanArray::from(partitioned)),
            Arc::new(UInt64Array::from(segments)),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(UInt64Array::from(bytes)),
            Arc::new(UInt64Array::from(unflushed)),
        ];
        Ok(RecordBatch::try_new(tables_schema(), cols).map_err(DataFusionError::from)?)
    }

    /// One row per partition and tier.
    fn partitions(&self) -> Result<RecordBatch, QueryError> {
        let mut table = Vec::new();
        let mut parts = Vec::new();
        for t in self.engine.table_names() {
            let Ok(p) = self.engine.partitions(&t) else {
                continue; // dropped meanwhile
            };
            for info in p {
                table.push(t.clone());
                parts.push(info);
            }
        }
        let ts = ts_array;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(table)),
            ts(parts.iter().map(|p| p.start).collect()),
            Arc::new(StringArray::from_iter_values(
                parts.iter().map(|p| p.tier.name()),
            )),
            Arc::new(UInt64Array::from_iter_values(
                parts.iter().map(|p| p.files as u64),
            )),
            Arc::new(UInt64Array::from_iter_values(parts.iter().map(|p| p.rows))),
            Arc::new(UInt64Array::from_iter_values(parts.iter().map(|p| p.bytes))),
            ts(parts.iter().map(|p| p.min_ts).collect()),
            ts(parts.iter().map(|p| p.max_ts).collect()),
            Arc::new(StringArray::from_iter_values(
                parts.iter().map(|p| p.location.as_str()),
            )),
        ];
        Ok(RecordBatch::try_new(partitions_schema(), cols).map_err(DataFusionError::from)?)
    }

    fn segments_batch(&self) -> Result<RecordBatch, QueryError> {
        let mut table = Vec::new();
        let mut partition = Vec::new();
        let mut id = Vec::new();
        let mut rows = Vec::new();
        let mut bytes = Vec::new();
        let mut min_ts = Vec::new();
        let mut max_ts = Vec::new();
        let mut path = Vec::new();
        for t in self.engine.table_names() {
            let Ok(segs) = self.engine.segments(&t) else {
                continue;
            };
            for s in segs {
                table.push(t.clone());
                partition.push(s.partition_start);
                id.push(s.id);
                rows.push(s.rows);
                bytes.push(s.bytes);
                min_ts.push(s.min_ts);
                max_ts.push(s.max_ts);
                path.push(s.path.display().to_string());
            }
        }
        let ts = ts_array;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(table)),
            ts(partition),
            Arc::new(UInt64Array::from(id)),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(UInt64Array::from(bytes)),
            ts(min_ts),
            ts(max_ts),
        ];
        cols.push(Arc::new(StringArray::from(path)));
        Ok(RecordBatch::try_new(segments_schema(), cols).map_err(DataFusionError::from)?)
    }
}

/// Times as a `timestamptz` column; the partition of rows with a NULL time, and its times,
/// show as NULL.
fn ts_array(v: Vec<i64>) -> ArrayRef {
    let v: Vec<Option<i64>> = v
        .into_iter()
        .map(|t| (t != NULL_TIME).then_some(t))
        .collect();
    Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC"))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn tables_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("time_column", DataType::Utf8, true),
        Field::new("tags", DataType::Utf8, false),
        Field::new("fields", DataType::Utf8, false),
        Field::new("partition_interval_ns", DataType::Int64, true),
        Field::new("cold_after_ns", DataType::Int64, true),
        Field::new("retention_ns", DataType::Int64, true),
        Field::new("subject_column", DataType::Utf8, true),
        Field::new("append_only", DataType::Boolean, false),
        Field::new("partitioned", DataType::Boolean, false),
        Field::new("segments", DataType::UInt64, false),
        Field::new("segment_rows", DataType::UInt64, false),
        Field::new("segment_bytes", DataType::UInt64, false),
        Field::new("unflushed_rows", DataType::UInt64, false),
    ]))
}

fn partitions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("partition_start", ts_type(), true),
        Field::new("tier", DataType::Utf8, false),
        // Segments (local) or objects (cold).
        Field::new("files", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("min_time", ts_type(), true),
        Field::new("max_time", ts_type(), true),
        Field::new("location", DataType::Utf8, false),
    ]))
}

fn segments_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("partition_start", ts_type(), true),
        Field::new("segment_id", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("min_time", ts_type(), true),
        Field::new("max_time", ts_type(), true),
        Field::new("path", DataType::Utf8, false),
    ]))
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let engine = Arc::clone(&self.engine);
        let this = SystemSchema { engine };
        let name = name.to_owned();
        // Listing segments touches only in-memory catalog state, but table names can be
        // many; keep it off the async worker anyway.
        let batch = tokio::task::spawn_blocking(move || match name.as_str() {
            "tables" => this.tables().map(Some),
            "partitions" => this.partitions().map(Some),
            "segments" => this.segments_batch().map(Some),
            "jobs" => jobs::jobs(&this.engine).map(Some),
            "job_runs" => jobs::job_runs(&this.engine).map(Some),
            "erasures" => erasures::erasures(&this.engine).map(Some),
            "erasure_files" => erasures::erasure_files(&this.engine).map(Some),
            _ => Ok(None),
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(DataFusionError::from)?;
        match batch {
            None => Ok(None),
            Some(b) => Ok(Some(Arc::new(MemTable::try_new(
                b.schema(),
                vec![vec![b]],
            )?))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}
