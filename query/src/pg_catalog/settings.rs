//! `pg_settings`: the parameters of the session that reads it, as `SHOW ALL` lists them
//! (DBeaver, pgAdmin and JDBC read it for the server's configuration). The session's
//! [`Settings`] reach the scan as an extension of its configuration.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::RwLock;

use crate::settings::{display_name, Settings};

/// The `pg_settings` view.
#[derive(Debug)]
pub(crate) struct PgSettings {
    schema: SchemaRef,
}

/// Its text columns, in PostgreSQL's order (`pending_restart` follows).
const TEXT_COLUMNS: &[&str] = &[
    "name",
    "setting",
    "unit",
    "category",
    "short_desc",
    "extra_desc",
    "context",
    "vartype",
    "source",
    "min_val",
    "max_val",
    "enumvals",
    "boot_val",
    "reset_val",
    "sourcefile",
    "sourceline",
];

impl PgSettings {
    pub(crate) fn new() -> PgSettings {
        let mut fields: Vec<Field> = TEXT_COLUMNS
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect();
        fields.push(Field::new("pending_restart", DataType::Boolean, true));
        PgSettings {
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn rows(&self, settings: &Settings) -> DfResult<RecordBatch> {
        let all: Vec<(&str, &str)> = settings.all().collect();
        let n = all.len();
        let text = |f: &dyn Fn(&str, &str) -> Option<String>| -> ArrayRef {
            Arc::new(all.iter().map(|(k, v)| f(k, v)).collect::<StringArray>())
        };
        let columns: Vec<ArrayRef> = vec![
            text(&|k, _| Some(display_name(k).to_owned())),
            text(&|_, v| Some(v.to_owned())),
            text(&|k, _| k.ends_with("_timeout").then(|| "ms".to_owned())),
            text(&|k, _| {
                Some(
                    if k.contains('.') {
                        "Customized Options"
                    } else {
                        "Client Connection Defaults"
                    }
                    .to_owned(),
                )
            }),
            text(&|_, _| Some(String::new())),
            text(&|_, _| None),
            text(&|k, _| {
                Some(
                    if Settings::is_read_only(k) {
                        "internal"
                    } else {
                        "user"
                    }
                    .to_owned(),
                )
            }),
            text(&|k, _| {
                Some(
                    if k.ends_with("_timeout") || k == "extra_float_digits" {
                        "integer"
                    } else {
                        "string"
                    }
                    .to_owned(),
                )
            }),
            text(&|k, v| {
                Some(
                    match Settings::default_of(k) {
                        Some(d) if d == v => "default",
                        _ => "session",
                    }
                    .to_owned(),
                )
            }),
            text(&|_, _| None),
            text(&|_, _| None),
            text(&|_, _| None),
            text(&|k, _| Settings::default_of(k).map(str::to_owned)),
            text(&|k, _| Settings::default_of(k).map(str::to_owned)),
            text(&|_, _| None),
            text(&|_, _| None),
            Arc::new(BooleanArray::from(vec![false; n])),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings::new()
    }
}

#[async_trait]
impl TableProvider for PgSettings {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A plan made outside a session (no extension) sees the defaults.
        let settings = state
            .config()
            .get_extension::<RwLock<Settings>>()
            .map(|s| s.read().clone())
            .unwrap_or_default();
        let batch = self.rows(&settings)?;
        MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
