//! `information_schema` as Postgres clients read it.
//!
//! DataFusion's own `information_schema` serves every table but `columns`, whose
//! `ordinal_position` is 0-based and whose `data_type` is an Arrow type name (`Float64`).
//! Tools that reflect tables through it (Grafana, Metabase, DBeaver) expect Postgres'
//! answers, so `columns` is rebuilt here from the same catalog: 1-based positions, the SQL
//! standard type names Postgres prints (`double precision`, `timestamp with time zone`),
//! and `udt_name` (`float8`, `timestamptz`).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session};
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// The `information_schema` schema: DataFusion's, with `columns` replaced.
#[derive(Debug)]
pub struct PgInformationSchema {
    inner: InformationSchemaProvider,
    catalogs: Arc<dyn CatalogProviderList>,
}

impl PgInformationSchema {
    pub fn new(catalogs: Arc<dyn CatalogProviderList>) -> Self {
        PgInformationSchema {
            inner: InformationSchemaProvider::new(Arc::clone(&catalogs)),
            catalogs,
        }
    }
}

#[async_trait]
impl SchemaProvider for PgInformationSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case("columns") {
            return Ok(Some(Arc::new(Columns {
                catalogs: Arc::clone(&self.catalogs),
            })));
        }
        if name.eq_ignore_ascii_case("views") {
            return views(self.catalogs.as_ref()).await.map(Some);
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A view as the catalog tables list it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserView {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub definition: Option<String>,
}

/// The user views of every catalog (schemas other than `pg_catalog` and
/// `information_schema`), sorted.
pub async fn user_views(catalogs: &dyn CatalogProviderList) -> DfResult<Vec<UserView>> {
    let mut out = Vec::new();
    for c in catalogs.catalog_names() {
        let Some(catalog) = catalogs.catalog(&c) else {
            continue;
        };
        for s in catalog.schema_names() {
            if s == "pg_catalog" || s == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&s) else {
                continue;
            };
            for t in schema.table_names() {
                if let Some(table) = schema.table(&t).await? {
                    if table.table_type() == TableType::View {
                        out.push(UserView {
                            catalog: c.clone(),
                            schema: s.clone(),
                            name: t,
                            definition: table.get_table_definition().map(str::to_owned),
                        });
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `information_schema.views` with PostgreSQL's columns (Strata's views are read-only).
async fn views(catalogs: &dyn CatalogProviderList) -> DfResult<Arc<dyn TableProvider>> {
    let text = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let schema = Arc::new(Schema::new(vec![
        text("table_catalog", false),
        text("table_schema", false),
        text("table_name", false),
        text("view_definition", true),
        text("check_option", false),
        text("is_updatable", false),
        text("is_insertable_into", false),
        text("is_trigger_updatable", false),
        text("is_trigger_deletable", false),
        text("is_trigger_insertable_into", false),
    ]));
    let rows = user_views(catalogs).await?;
    let col = |f: &dyn Fn(&UserView) -> Option<String>| -> ArrayRef {
        let mut b = StringBuilder::new();
        for r in &rows {
            b.append_option(f(r));
        }
        Arc::new(b.finish())
    };
    let mut cols = vec![
        col(&|r| Some(r.catalog.clone())),
        col(&|r| Some(r.schema.clone())),
        col(&|r| Some(r.name.clone())),
        col(&|r| r.definition.clone()),
        col(&|_| Some("NONE".into())),
    ];
    for _ in 0..5 {
        cols.push(col(&|_| Some("NO".into())));
    }
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `information_schema.columns`, computed when scanned.
#[derive(Debug)]
struct Columns {
    catalogs: Arc<dyn CatalogProviderList>,
}

fn columns_schema() -> SchemaRef {
    let text = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let int = |n: &str| Field::new(n, DataType::Int32, true);
    Arc::new(Schema::new(vec![
        text("table_catalog", false),
        text("table_schema", false),
        text("table_name", false),
        text("column_name", false),
        Field::new("ordinal_position", DataType::Int32, false),
        text("column_default", true),
        text("is_nullable", false),
        text("data_type", false),
        int("character_maximum_length"),
        int("character_octet_length"),
        int("numeric_precision"),
        int("numeric_precision_radix"),
        int("numeric_scale"),
        int("datetime_precision"),
        text("interval_type", true),
        text("udt_catalog", false),
        text("udt_schema", false),
        text("udt_name", false),
        text("is_identity", false),
        text("is_generated", false),
        text("is_updatable", false),
    ]))
}

/// How Postgres describes a column type in `information_schema.columns`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PgColumnType {
    pub data_type: &'static str,
    pub udt_name: String,
    pub character_maximum_length: Option<i32>,
    pub character_octet_length: Option<i32>,
    pub numeric_precision: Option<i32>,
    pub numeric_precision_radix: Option<i32>,
    pub numeric_scale: Option<i32>,
    pub datetime_precision: Option<i32>,
}

impl PgColumnType {
    /// The type of a column, the one its field's metadata names where it names one
    /// (`uuid`, `varchar(n)`, `char(n)`, `json`, `jsonb`).
    pub fn of_field(f: &Field) -> PgColumnType {
        let Some((oid, length)) = crate::types::text_type(f) else {
            return PgColumnType::of(f.data_type());
        };
        let (data_type, udt) = match oid {
            1043 => ("character varying", "varchar"),
            1042 => ("character", "bpchar"),
            114 => ("json", "json"),
            3802 => ("jsonb", "jsonb"),
            _ => ("uuid", "uuid"),
        };
        let mut t = PgColumnType {
            data_type,
            udt_name: udt.into(),
            ..Default::default()
        };
        if matches!(oid, 1042 | 1043) {
            let length = length.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
            t.character_maximum_length = length;
            // UTF-8: up to four bytes a character; unbounded like `text`.
            t.character_octet_length = Some(length.map_or(1_073_741_824, |n| n.saturating_mul(4)));
        }
        t
    }

    pub fn of(t: &DataType) -> PgColumnType {
        let num = |data_type, udt: &str, bits| PgColumnType {
            data_type,
            udt_name: udt.into(),
            numeric_precision: Some(bits),
            numeric_precision_radix: Some(2),
            numeric_scale: Some(0),
            ..Default::default()
        };
        let plain = |data_type, udt: &str| PgColumnType {
            data_type,
            udt_name: udt.into(),
            ..Default::default()
        };
        let datetime = |data_type, udt: &str, precision| PgColumnType {
            datetime_precision: Some(precision),
            ..plain(data_type, udt)
        };
        match t {
            DataType::Boolean => plain("boolean", "bool"),
            DataType::Int8 | DataType::UInt8 | DataType::Int16 => num("smallint", "int2", 16),
            DataType::UInt16 | DataType::Int32 => num("integer", "int4", 32),
            DataType::UInt32 | DataType::Int64 | DataType::UInt64 => num("bigint", "int8", 64),
            DataType::Float16 | DataType::Float32 => PgColumnType {
                numeric_scale: None,
                ..num("real", "float4", 24)
            },
            DataType::Float64 => PgColumnType {
                numeric_scale: None,
                ..num("double precision", "float8", 53)
            },
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => PgColumnType {
                numeric_precision: Some(i32::from(*p)),
                numeric_precision_radix: Some(10),
                numeric_scale: Some(i32::from(*s)),
                ..plain("numeric", "numeric")
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PgColumnType {
                character_octet_length: Some(1_073_741_824),
                ..plain("text", "text")
            },
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => plain("bytea", "bytea"),
            DataType::Date32 | DataType::Date64 => datetime("date", "date", 0),
            DataType::Timestamp(_, Some(_)) => {
                datetime("timestamp with time zone", "timestamptz", 6)
            }
            DataType::Timestamp(_, None) => datetime("timestamp without time zone", "timestamp", 6),
            DataType::Time32(_) | DataType::Time64(_) => {
                datetime("time without time zone", "time", 6)
            }
            DataType::Interval(_) | DataType::Duration(_) => datetime("interval", "interval", 6),
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _) => PgColumnType {
                data_type: "ARRAY",
                udt_name: format!("_{}", PgColumnType::of(f.data_type()).udt_name),
                ..Default::default()
            },
            DataType::Dictionary(_, v) => PgColumnType::of(v),
            _ => plain("USER-DEFINED", "text"),
        }
    }
}

#[async_trait]
impl TableProvider for Columns {
    fn schema(&self) -> SchemaRef {
        columns_schema()
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
        let schema = columns_schema();
        let mut text: Vec<StringBuilder> = (0..21).map(|_| StringBuilder::new()).collect();
        let mut ints: Vec<Int32Builder> = (0..7).map(|_| Int32Builder::new()).collect();
        for catalog_name in self.catalogs.catalog_names() {
            let Some(catalog) = self.catalogs.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(s) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in s.table_names() {
                    let Some(table) = s.table(&table_name).await? else {
                        continue;
                    };
                    let strata = table.downcast_ref::<crate::provider::StrataTable>();
                    for (i, field) in table.schema().fields().iter().enumerate() {
                        let t = PgColumnType::of_field(field);
                        for (b, v) in [
                            (0, catalog_name.as_str()),
                            (1, &schema_name),
                            (2, &table_name),
                            (3, field.name()),
                            (6, if field.is_nullable() { "YES" } else { "NO" }),
                            (7, t.data_type),
                            (15, catalog_name.as_str()),
                            (16, "pg_catalog"),
                            (17, &t.udt_name),
                            (18, "NO"),
                            (19, "NEVER"),
                            (20, "YES"),
                        ] {
                            text[b].append_value(v);
                        }
                        text[5].append_option(strata.and_then(|t| t.default_text(field.name())));
                        text[14].append_null();
                        ints[0].append_value(i32::try_from(i + 1).unwrap_or(i32::MAX));
                        for (b, v) in [
                            (1, t.character_maximum_length),
                            (2, t.character_octet_length),
                            (3, t.numeric_precision),
                            (4, t.numeric_precision_radix),
                            (5, t.numeric_scale),
                            (6, t.datetime_precision),
                        ] {
                            ints[b].append_option(v);
                        }
                    }
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(21);
        for (i, field) in schema.fields().iter().enumerate() {
            // Columns 4 and 8..=13 are integers, in that order; the rest text.
            let array: ArrayRef = match (i, field.data_type()) {
                (4, _) => Arc::new(ints[0].finish()),
                (8..=13, _) => Arc::new(ints[i - 7].finish()),
                _ => Arc::new(text[i].finish()),
            };
            arrays.push(array);
        }
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
        MemTable::try_new(schema, vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    #[test]
    fn postgres_type_names() {
        let t = PgColumnType::of(&DataType::Timestamp(
            TimeUnit::Nanosecond,
            Some("UTC".into()),
        ));
        assert_eq!(
            (t.data_type, t.udt_name.as_str()),
            ("timestamp with time zone", "timestamptz")
        );
        let f = PgColumnType::of(&DataType::Float64);
        assert_eq!(
            (f.data_type, f.numeric_precision),
            ("double precision", Some(53))
        );
        let n = PgColumnType::of(&DataType::Decimal128(10, 2));
        assert_eq!(
            (
                n.numeric_precision,
                n.numeric_precision_radix,
                n.numeric_scale
            ),
            (Some(10), Some(10), Some(2))
        );
        let l = PgColumnType::of(&DataType::List(Arc::new(Field::new(
            "i",
            DataType::Int32,
            true,
        ))));
        assert_eq!((l.data_type, l.udt_name.as_str()), ("ARRAY", "_int4"));
    }
}
