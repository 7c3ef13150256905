//! `StrataTable`: a Strata table as a DataFusion `TableProvider`, for reads (projection,
//! filter and limit pushdown into the storage scan) and for `INSERT`.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;
use strata_storage::{Engine, ScanRequest};

use crate::error::QueryError;
use crate::exec::StrataScanExec;
use crate::pushdown;
use crate::session::SessionFlags;
use crate::table::TableDef;
use crate::transaction::Transactions;

/// One table of the engine, as DataFusion sees it.
#[derive(Debug)]
pub struct StrataTable {
    engine: Arc<Engine>,
    def: Arc<TableDef>,
    /// Planned `DEFAULT` expressions by column: what an `INSERT` that leaves the column
    /// out stores (DataFusion's INSERT planning asks [`TableProvider::get_column_default`]).
    defaults: std::collections::HashMap<String, (String, datafusion::logical_expr::Expr)>,
}

impl StrataTable {
    pub fn new(engine: Arc<Engine>, def: TableDef) -> Self {
        StrataTable {
            engine,
            def: Arc::new(def),
            defaults: Default::default(),
        }
    }

    /// This table with columns' `DEFAULT` expressions: by column, the SQL text and its plan.
    pub fn with_defaults(
        mut self,
        defaults: std::collections::HashMap<String, (String, datafusion::logical_expr::Expr)>,
    ) -> Self {
        self.defaults = defaults;
        self
    }

    /// A column's `DEFAULT` as SQL text (`information_schema.columns.column_default`).
    pub fn default_text(&self, column: &str) -> Option<&str> {
        self.defaults.get(column).map(|(sql, _)| sql.as_str())
    }

    pub fn def(&self) -> &TableDef {
        &self.def
    }
}

fn pushdown_enabled(state: &dyn Session) -> bool {
    state
        .config()
        .get_extension::<SessionFlags>()
        .is_none_or(|f| f.pushdown())
}

#[async_trait]
impl TableProvider for StrataTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.def.arrow)
    }

    fn get_column_default(&self, column: &str) -> Option<&datafusion::logical_expr::Expr> {
        self.defaults.get(column).map(|(_, e)| e)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Whether pushdown is on is decided per session in `scan`; here a conjunct the
        // engine can evaluate is claimed as exact, and `scan` applies it either way (with
        // pushdown off it is evaluated without pruning, which gives the same rows).
        Ok(filters
            .iter()
            .map(|f| match pushdown::translate(&self.def, f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if let Some(txn) = state.config().get_extension::<Transactions>() {
            txn.check_unstaged(self.def.name(), "a read")?;
        }
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.def.columns.len()).collect(),
        };
        let mut names: Vec<&str> = projection
            .iter()
            .map(|&i| self.def.columns[i].name.as_str())
            .collect();
        if names.is_empty() {
            // Only the row count is needed (count(*)); the time column is the cheapest.
            names.push(self.def.storage.time_column.as_str());
        }
        let pushed: Vec<_> = filters
            .iter()
            .filter_map(|f| pushdown::translate(&self.def, f))
            .collect();
        let request = pushdown::apply(
            ScanRequest::new(self.def.name()).with_projection(names),
            &pushed,
        )
        .with_pruning(pushdown_enabled(state))
        // Read ahead on as many threads as DataFusion plans partitions for.
        .with_readers(state.config_options().execution.target_partitions);
        let exec = StrataScanExec::new(
            Arc::clone(&self.engine),
            Arc::clone(&self.def),
            projection,
            request,
            limit,
        )?;
        Ok(Arc::new(exec))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(QueryError::Unsupported(format!("INSERT mode {insert_op}")).into());
        }
        let sink = StrataSink {
            engine: Arc::clone(&self.engine),
            def: Arc::clone(&self.def),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// Writes inserted rows through the engine (WAL first; durable when the statement ends).
#[derive(Debug)]
struct StrataSink {
    engine: Arc<Engine>,
    def: Arc<TableDef>,
}

impl DisplayAs for StrataSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StrataSink: table={}", self.def.name())
    }
}

#[async_trait]
impl DataSink for StrataSink {
    fn schema(&self) -> &SchemaRef {
        &self.def.writable
    }

    /// Every row of the statement is converted first and then written as one group (or
    /// held by the session's transaction block): an `INSERT` stores all its rows or none.
    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut batches = Vec::new();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let def = Arc::clone(&self.def);
        let writes = crate::session::blocking(move || {
            let now = chrono::Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or(i64::MAX / 2);
            batches
                .iter()
                .map(|b| def.to_write_batch(b, now))
                .collect::<Result<Vec<_>, QueryError>>()
        })
        .await?;
        match context.session_config().get_extension::<Transactions>() {
            Some(txn) => txn.write(&self.engine, writes).await?,
            // A context without a session (not built by `QueryEngine`): write at once.
            None => {
                let engine = Arc::clone(&self.engine);
                crate::session::blocking(move || Ok(engine.write_group(&writes)?)).await?;
            }
        }
        Ok(rows as u64)
    }
}

/// The single-row `count` batch DataFusion expects from DML.
pub fn count_batch(rows: u64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    let col: ArrayRef = Arc::new(UInt64Array::from(vec![rows]));
    RecordBatch::try_new(schema, vec![col]).expect("count batch matches its schema")
}

/// An `INSERT` plan whose `VALUES` lists take NULL in every column. DataFusion types a
/// `VALUES` list by the target table, `NOT NULL` included, and Arrow would then refuse to
/// build a batch holding a NULL there with an error of its own; with nullable lists the
/// rows reach [`TableDef::to_write_batch`], which rejects them with 23502 and PostgreSQL's
/// message.
pub fn nullable_values(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::Values;
    plan.transform_up(|p| match p {
        LogicalPlan::Values(v) if v.schema.fields().iter().any(|f| !f.is_nullable()) => {
            let fields = v
                .schema
                .iter()
                .map(|(q, f)| (q.cloned(), Arc::new(f.as_ref().clone().with_nullable(true))))
                .collect();
            let schema = DFSchema::new_with_metadata(fields, v.schema.metadata().clone())?;
            Ok(Transformed::yes(LogicalPlan::Values(Values {
                schema: Arc::new(schema),
                values: v.values,
            })))
        }
        LogicalPlan::Values(_) => Ok(Transformed::no(p)),
        // Parents of a changed VALUES list derive their nullability anew.
        other => other.recompute_schema().map(Transformed::yes),
    })
    .map(|t| t.data)
}
