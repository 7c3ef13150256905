//! `pg_catalog` as clients read it: `datafusion-pg-catalog`'s schema, with the tables it
//! leaves empty or gets wrong for Strata replaced by ones computed from Strata's catalog.
//!
//! Replaced so far: `pg_views` (Strata's views, with their definitions).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::Result as DfResult;

use crate::information_schema::user_views;

/// The `pg_catalog` schema: `inner`'s tables, some replaced.
#[derive(Debug)]
pub struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
}

impl PgCatalogOverlay {
    pub fn new(inner: Arc<dyn SchemaProvider>, catalogs: Arc<dyn CatalogProviderList>) -> Self {
        PgCatalogOverlay { inner, catalogs }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name == "pg_views" {
            return pg_views(self.catalogs.as_ref()).await.map(Some);
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `pg_views`: one row per view. `viewowner` is NULL until views have owners (roles).
async fn pg_views(catalogs: &dyn CatalogProviderList) -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("schemaname", DataType::Utf8, true),
        Field::new("viewname", DataType::Utf8, true),
        Field::new("viewowner", DataType::Utf8, true),
        Field::new("definition", DataType::Utf8, true),
    ]));
    let rows = user_views(catalogs).await?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.schema.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(StringArray::new_null(rows.len())),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.definition.as_deref()),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}
