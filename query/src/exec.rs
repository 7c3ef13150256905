//! `StrataScanExec`: the physical operator that runs a storage scan.
//!
//! The engine's scan is synchronous (it decodes memory-mapped segments), so it runs on a
//! blocking thread and hands batches to the async stream through a small channel; dropping
//! the stream (a LIMIT reached, a cancelled query) stops the thread at its next batch.
//! `EXPLAIN` prints the pushed predicates and what the time range pruned.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use strata_storage::{Engine, ScanRequest, ScanStats, TimeRange};

use crate::error::QueryError;
use crate::table::TableDef;

/// Scans one Strata table.
#[derive(Debug)]
pub struct StrataScanExec {
    engine: Arc<Engine>,
    def: Arc<TableDef>,
    /// Indices into `def.columns`.
    projection: Vec<usize>,
    request: ScanRequest,
    limit: Option<usize>,
    stats: ScanStats,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl StrataScanExec {
    pub fn new(
        engine: Arc<Engine>,
        def: Arc<TableDef>,
        projection: Vec<usize>,
        request: ScanRequest,
        limit: Option<usize>,
    ) -> Result<Self, QueryError> {
        // Catalog and memtable metadata only (no rows are copied); lets EXPLAIN report what
        // pruning kept. `execute` starts its own, current, scan.
        let stats = engine.scan_stats(&request)?;
        let schema = def.project(&projection);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(StrataScanExec {
            engine,
            def,
            projection,
            request,
            limit,
            stats,
            schema,
            properties,
        })
    }

    /// The storage request this operator runs.
    pub fn request(&self) -> &ScanRequest {
        &self.request
    }
}

impl DisplayAs for StrataScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols: Vec<&str> = self
            .projection
            .iter()
            .map(|&i| self.def.columns[i].name.as_str())
            .collect();
        let sep = if matches!(t, DisplayFormatType::TreeRender) {
            "\n"
        } else {
            ", "
        };
        if !matches!(t, DisplayFormatType::TreeRender) {
            write!(f, "StrataScanExec: ")?;
        }
        write!(
            f,
            "table={}{sep}projection=[{}]",
            self.def.name(),
            cols.join(", ")
        )?;
        let r = self.request.time_range;
        if r != TimeRange::ALL {
            write!(f, "{sep}time=[{}, {})", fmt_ts(r.start), fmt_ts(r.end))?;
        }
        for tf in &self.request.tag_filters {
            write!(f, "{sep}{} IN ({})", tf.column, tf.values.join(", "))?;
        }
        if let Some(l) = self.limit {
            write!(f, "{sep}limit={l}")?;
        }
        let s = self.stats;
        write!(
            f,
            "{sep}partitions={}/{}{sep}local=[partitions={}/{}, segments={}/{}]",
            s.partitions_scanned,
            s.partitions_total,
            s.local_partitions_scanned,
            s.local_partitions_total,
            s.segments_in_time_range,
            s.segments_total
        )?;
        if s.cold_partitions_total > 0 {
            write!(
                f,
                "{sep}cold=[partitions={}/{}, objects={}/{}, row_groups={}/{}, rows={}/{}]",
                s.cold_partitions_scanned,
                s.cold_partitions_total,
                s.cold_objects_in_time_range,
                s.cold_objects_total,
                s.cold_row_groups_read,
                s.cold_row_groups_total,
                s.cold_rows_read,
                s.cold_rows_in_row_groups_read
            )?;
        }
        if !self.request.pruning {
            write!(f, "{sep}pruning=off")?;
        }
        Ok(())
    }
}

fn fmt_ts(ns: i64) -> String {
    match ns {
        i64::MIN => "-inf".into(),
        i64::MAX => "+inf".into(),
        _ => chrono::DateTime::from_timestamp_nanos(ns)
            .format("%Y-%m-%dT%H:%M:%S%.fZ")
            .to_string(),
    }
}

impl ExecutionPlan for StrataScanExec {
    fn name(&self) -> &str {
        "StrataScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "StrataScanExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "StrataScanExec has one partition, asked for {partition}"
            )));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let engine = Arc::clone(&self.engine);
        let def = Arc::clone(&self.def);
        let projection = self.projection.clone();
        let request = self.request.clone();
        let mut remaining = self.limit.unwrap_or(usize::MAX);
        tokio::task::spawn_blocking(move || {
            let scan = match engine.scan(&request) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.blocking_send(Err(DataFusionError::from(QueryError::from(e))));
                    return;
                }
            };
            for batch in scan {
                if remaining == 0 {
                    break;
                }
                let item = batch
                    .map_err(QueryError::from)
                    .and_then(|b| def.from_storage(&projection, &b))
                    .map(|b| {
                        let b = if b.num_rows() > remaining {
                            b.slice(0, remaining)
                        } else {
                            b
                        };
                        remaining -= b.num_rows();
                        b
                    })
                    .map_err(DataFusionError::from);
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}
