//! `pg_catalog` as clients read it: `datafusion-pg-catalog`'s schema, with the tables it
//! leaves empty or gets wrong for Strata replaced by ones computed from Strata's catalog.
//!
//! Replaced so far: `pg_views` (Strata's views, with their definitions); added:
//! `pg_indexes`; extended with Strata's indexes, keys, comments and defaults: `pg_class`,
//! `pg_index`, `pg_constraint`, `pg_description`, `pg_attribute`, `pg_attrdef`
//! ([`relations`]); `pg_database` lists only the database there is; `pg_roles`, `pg_user`
//! and `pg_authid` list the configured users ([`roles`]); `pg_settings` the reading
//! session's parameters ([`settings`]).

pub(crate) mod relations;
pub mod roles;
pub(crate) mod settings;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, SchemaProvider};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::Result as DfResult;
use strata_storage::Engine;

use crate::information_schema::user_views;

/// The `pg_catalog` tables of `datafusion-pg-catalog` that Strata extends or filters
/// ([`relations::Extended`]).
const EXTENDED: &[&str] = &[
    "pg_class",
    "pg_index",
    "pg_constraint",
    "pg_description",
    "pg_attribute",
    "pg_attrdef",
    "pg_database",
];

/// The `pg_catalog` schema: `inner`'s tables, some replaced.
#[derive(Debug)]
pub struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    engine: Arc<Engine>,
    roles: roles::Roles,
}

impl PgCatalogOverlay {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
        engine: Arc<Engine>,
        roles: roles::Roles,
    ) -> Self {
        PgCatalogOverlay {
            inner,
            catalogs,
            engine,
            roles,
        }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.push("pg_indexes".into());
        names.push("pg_user".into());
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match name {
            "pg_views" => pg_views(self.catalogs.as_ref()).await.map(Some),
            "pg_indexes" => relations::pg_indexes(&self.engine).map(Some),
            _ if roles::TABLES.contains(&name) => self.roles.table(name),
            "pg_settings" => Ok(Some(Arc::new(settings::PgSettings::new()))),
            _ => match EXTENDED.iter().find(|n| **n == name) {
                Some(name) => {
                    let Some(inner) = self.inner.table(name).await? else {
                        return Ok(None);
                    };
                    Ok(Some(Arc::new(relations::Extended::new(
                        name,
                        inner,
                        Arc::clone(&self.inner),
                        Arc::clone(&self.engine),
                        self.catalogs.catalog_names(),
                    ))))
                }
                None => self.inner.table(name).await,
            },
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        name == "pg_indexes" || name == "pg_user" || self.inner.table_exist(name)
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
