//! What Strata's catalog declares beyond tables and columns, as `pg_catalog` shows it:
//! indexes and keys (`pg_class` rows of relkind `i`, `pg_index`, `pg_constraint`,
//! `pg_indexes`, `pg_get_indexdef`, `pg_get_constraintdef`), comments
//! (`pg_description`) and column defaults (`pg_attrdef`, `pg_attribute.atthasdef`; their
//! `adbin` is the default's SQL text, which `pg_get_expr` returns as it is).
//!
//! Tables and views keep the OIDs `datafusion-pg-catalog` gives them (read from its
//! `pg_class`); an index, and a key's constraint, have OIDs derived from their names
//! (unique among relations, and stable across restarts) in 1,000,000,000..2,000,000,000,
//! above the OIDs that crate hands out. The catalog tables these rows join are read when a
//! statement is planned, so a statement sees one state of the catalog.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::SchemaProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;
use strata_storage::Engine;

/// The OID `pg_class` gives to `pg_class` itself: `classoid` of relation comments.
const PG_CLASS_OID: i32 = 1259;

/// `pg_catalog`'s namespace OID, in PostgreSQL and in `datafusion-pg-catalog`.
const PG_CATALOG_NAMESPACE: i32 = 11;

/// PostgreSQL 15's fixed OIDs of its system catalogs. `datafusion-pg-catalog` numbers its
/// `pg_catalog` tables from 16384 up; `pg_class` and `pg_attribute` show these instead, so
/// that `'pg_class'::regclass` is 1259 (the `classoid` of every comment on a relation, in
/// `datafusion-pg-catalog`'s `pg_description` as in PostgreSQL) and clients that write
/// the numbers themselves find the same relations.
pub(crate) const SYSTEM_OIDS: &[(&str, i32)] = &[
    ("pg_default_acl", 826),
    ("pg_tablespace", 1213),
    ("pg_shdepend", 1214),
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_authid", 1260),
    ("pg_auth_members", 1261),
    ("pg_database", 1262),
    ("pg_foreign_server", 1417),
    ("pg_user_mapping", 1418),
    ("pg_sequence", 2224),
    ("pg_foreign_data_wrapper", 2328),
    ("pg_shdescription", 2396),
    ("pg_aggregate", 2600),
    ("pg_am", 2601),
    ("pg_amop", 2602),
    ("pg_amproc", 2603),
    ("pg_attrdef", 2604),
    ("pg_cast", 2605),
    ("pg_constraint", 2606),
    ("pg_conversion", 2607),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_language", 2612),
    ("pg_largeobject", 2613),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_operator", 2617),
    ("pg_rewrite", 2618),
    ("pg_statistic", 2619),
    ("pg_trigger", 2620),
    ("pg_opfamily", 2753),
    ("pg_db_role_setting", 2964),
    ("pg_largeobject_metadata", 2995),
    ("pg_extension", 3079),
    ("pg_foreign_table", 3118),
    ("pg_policy", 3256),
    ("pg_partitioned_table", 3350),
    ("pg_statistic_ext", 3381),
    ("pg_init_privs", 3394),
    ("pg_statistic_ext_data", 3429),
    ("pg_collation", 3456),
    ("pg_event_trigger", 3466),
    ("pg_enum", 3501),
    ("pg_range", 3541),
    ("pg_transform", 3576),
    ("pg_shseclabel", 3592),
    ("pg_seclabel", 3596),
    ("pg_ts_dict", 3600),
    ("pg_ts_parser", 3601),
    ("pg_ts_config", 3602),
    ("pg_ts_config_map", 3603),
    ("pg_ts_template", 3764),
    ("pg_replication_origin", 6000),
    ("pg_subscription", 6100),
    ("pg_subscription_rel", 6102),
    ("pg_publication", 6104),
    ("pg_publication_rel", 6106),
    ("pg_publication_namespace", 6237),
    ("pg_parameter_acl", 6243),
];

/// PostgreSQL's OID of the system catalog `name`, if it is one.
pub(crate) fn system_oid(name: &str) -> Option<i32> {
    SYSTEM_OIDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, oid)| *oid)
}

/// An index as the catalog lists it: one of `CREATE INDEX`, or a key's.
#[derive(Debug, Clone)]
pub(crate) struct IndexRow {
    pub(crate) table: String,
    pub(crate) name: String,
    pub(crate) columns: Vec<String>,
    /// 1-based positions of `columns` among the table's visible columns.
    pub(crate) attnums: Vec<i16>,
    pub(crate) unique: bool,
    pub(crate) primary: bool,
    /// A `PRIMARY KEY` or `UNIQUE` constraint's index.
    pub(crate) key: bool,
    pub(crate) method: String,
    pub(crate) comment: Option<String>,
}

impl IndexRow {
    pub(crate) fn oid(&self) -> i32 {
        derived_oid("index", &self.name)
    }

    pub(crate) fn constraint_oid(&self) -> i32 {
        derived_oid("constraint", &self.name)
    }

    /// `pg_get_indexdef`'s text.
    pub(crate) fn definition(&self) -> String {
        format!(
            "CREATE {}INDEX {} ON public.{} USING {} ({})",
            if self.unique { "UNIQUE " } else { "" },
            quote(&self.name),
            quote(&self.table),
            self.method,
            self.columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// `pg_get_constraintdef`'s text, for a key.
    pub(crate) fn constraint_definition(&self) -> String {
        format!(
            "{} ({})",
            if self.primary {
                "PRIMARY KEY"
            } else {
                "UNIQUE"
            },
            self.columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// An identifier as PostgreSQL prints it: quoted unless it is lower-case plain.
pub(crate) fn quote(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// FNV-1a of `kind` and `name`, into 1,000,000,000..2,000,000,000.
fn derived_oid(kind: &str, name: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in kind.bytes().chain([0]).chain(name.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    1_000_000_000 + (h % 1_000_000_000) as i32
}

/// The visible columns of a table, in order (`attnum` is the position plus one).
fn visible_columns(schema: &strata_storage::TableSchema) -> Vec<String> {
    match crate::table::TableDef::new(schema.clone()) {
        Ok(def) => def.columns.into_iter().map(|c| c.name).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every index of every table: keys' first, then `CREATE INDEX`'s.
pub(crate) fn indexes(engine: &Engine) -> Vec<IndexRow> {
    let mut out = Vec::new();
    for table in engine.table_names() {
        let Ok(schema) = engine.table_schema(&table) else {
            continue;
        };
        if schema.keys.is_empty() && schema.indexes.is_empty() {
            continue;
        }
        let columns = visible_columns(&schema);
        let attnums = |cols: &[String]| -> Vec<i16> {
            cols.iter()
                .map(|c| {
                    columns
                        .iter()
                        .position(|v| v == c)
                        .map_or(0, |p| (p + 1) as i16)
                })
                .collect()
        };
        for k in &schema.keys {
            out.push(IndexRow {
                table: table.clone(),
                name: k.name.clone(),
                attnums: attnums(&k.columns),
                columns: k.columns.clone(),
                unique: true,
                primary: k.primary,
                key: true,
                method: "btree".into(),
                comment: k.comment.clone(),
            });
        }
        for i in &schema.indexes {
            out.push(IndexRow {
                table: table.clone(),
                name: i.name.clone(),
                attnums: attnums(&i.columns),
                columns: i.columns.clone(),
                unique: i.unique,
                primary: false,
                key: false,
                method: i.method.clone(),
                comment: i.comment.clone(),
            });
        }
    }
    out
}

/// `pg_indexes`: one row per index.
pub(crate) fn pg_indexes(engine: &Engine) -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("schemaname", DataType::Utf8, true),
        Field::new("tablename", DataType::Utf8, true),
        Field::new("indexname", DataType::Utf8, true),
        Field::new("tablespace", DataType::Utf8, true),
        Field::new("indexdef", DataType::Utf8, true),
    ]));
    let rows = indexes(engine);
    let text = |f: &dyn Fn(&IndexRow) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let columns = vec![
        text(&|_| Some("public".into())),
        text(&|r| Some(r.table.clone())),
        text(&|r| Some(r.name.clone())),
        text(&|_| None),
        text(&|r| Some(r.definition())),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `inner` (a table of `datafusion-pg-catalog`) with Strata's rows added: `pg_class`,
/// `pg_index`, `pg_constraint` or `pg_description`. The rows are made when the table is
/// scanned, not when it is looked up: `datafusion-pg-catalog` looks up every `pg_catalog`
/// table while it lists `pg_class`, which the rows here are made from.
#[derive(Debug)]
pub(crate) struct Extended {
    name: &'static str,
    inner: Arc<dyn TableProvider>,
    catalog: Arc<dyn SchemaProvider>,
    engine: Arc<Engine>,
    /// The databases there are (`pg_database` lists only them).
    databases: Vec<String>,
}

impl Extended {
    pub(crate) fn new(
        name: &'static str,
        inner: Arc<dyn TableProvider>,
        catalog: Arc<dyn SchemaProvider>,
        engine: Arc<Engine>,
        databases: Vec<String>,
    ) -> Extended {
        Extended {
            name,
            inner,
            catalog,
            engine,
            databases,
        }
    }
}

/// Columns of `pg_index` and `pg_constraint` that are arrays in PostgreSQL and text in
/// `datafusion-pg-catalog`: lists here, so that `unnest(indkey)` and `conkey[1]` work as
/// clients write them. The vectors (`int2vector` `indkey` and `indoption`, `oidvector`
/// `indclass` and `indcollation`) are printed as PostgreSQL prints them (`1 2`); their
/// subscripts start at 1 here, at 0 in PostgreSQL. Each: table, column, element type,
/// vector type.
const ARRAY_COLUMNS: &[(&str, &str, DataType, Option<&str>)] = &[
    ("pg_index", "indkey", DataType::Int16, Some("int2vector")),
    ("pg_index", "indoption", DataType::Int16, Some("int2vector")),
    ("pg_index", "indclass", DataType::Int32, Some("oidvector")),
    (
        "pg_index",
        "indcollation",
        DataType::Int32,
        Some("oidvector"),
    ),
    ("pg_constraint", "conkey", DataType::Int16, None),
    ("pg_constraint", "confkey", DataType::Int16, None),
];

fn array_column(table: &str, column: &str) -> Option<(&'static DataType, Option<&'static str>)> {
    ARRAY_COLUMNS
        .iter()
        .find(|(t, c, _, _)| *t == table && *c == column)
        .map(|(_, _, element, vector)| (element, *vector))
}

/// `inner`'s schema with [`ARRAY_COLUMNS`] as lists, and `pg_class` with `reloptions`
/// (NULL: Strata has no storage parameters in PostgreSQL's sense).
fn extended_schema(name: &str, inner: SchemaRef) -> SchemaRef {
    let add_reloptions = name == "pg_class" && inner.index_of("reloptions").is_err();
    if !add_reloptions && !ARRAY_COLUMNS.iter().any(|(t, ..)| *t == name) {
        return inner;
    }
    let mut fields: Vec<Field> = inner
        .fields()
        .iter()
        .map(|f| {
            let Some((element, vector)) = array_column(name, f.name()) else {
                return f.as_ref().clone();
            };
            let item = Arc::new(Field::new("item", element.clone(), true));
            let list = Field::new(f.name(), DataType::List(item), true);
            match vector {
                Some(v) => list
                    .with_metadata([(crate::types::PG_TYPE_KEY.to_owned(), v.to_owned())].into()),
                None => list,
            }
        })
        .collect();
    if add_reloptions {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        fields.push(Field::new("reloptions", DataType::List(item), true));
    }
    Arc::new(Schema::new_with_metadata(fields, inner.metadata().clone()))
}

/// `batch` (of `inner`'s schema) in `schema`: array columns kept as text read into lists
/// (`1 2`, `{1,2}` and `[1, 2]` all read), columns it lacks NULL.
fn with_lists(batch: RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> DfResult<ArrayRef> {
            let Some(c) = batch.column_by_name(f.name()) else {
                return Ok(arrow::array::new_null_array(
                    f.data_type(),
                    batch.num_rows(),
                ));
            };
            if f.data_type() == c.data_type() {
                return Ok(Arc::clone(c));
            }
            let text = arrow::compute::cast(c, &DataType::Utf8)?;
            let lists = text.as_string::<i32>().iter().map(|v| {
                v.map(|v| {
                    v.split(|ch: char| ch.is_whitespace() || ",{}[]".contains(ch))
                        .filter(|p| !p.is_empty())
                        .map(|p| p.parse::<i32>().ok())
                        .collect::<Vec<_>>()
                })
            });
            let lists = arrow::array::ListArray::from_iter_primitive::<Int32Type, _, _>(lists);
            Ok(arrow::compute::cast(&lists, f.data_type())?)
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A list of numbers as a value of [`Row`] (`rows_batch` casts it to the column's list
/// type: `int2` for `indkey`, `oid` for `indclass`).
fn int2_array(values: &[i16]) -> ScalarValue {
    ScalarValue::List(Arc::new(arrow::array::ListArray::from_iter_primitive::<
        arrow::datatypes::Int16Type,
        _,
        _,
    >([Some(values.iter().map(|v| Some(*v)))])))
}

#[async_trait::async_trait]
impl TableProvider for Extended {
    fn schema(&self) -> SchemaRef {
        extended_schema(self.name, self.inner.schema())
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let rows = if self.name == "pg_database" {
            only_databases(self.inner.as_ref(), &self.databases).await?
        } else {
            extended(
                self.name,
                Arc::clone(&self.inner),
                self.catalog.as_ref(),
                &self.engine,
            )
            .await?
        };
        rows.scan(state, projection, filters, limit).await
    }
}

async fn extended(
    name: &str,
    inner: Arc<dyn TableProvider>,
    catalog: &dyn SchemaProvider,
    engine: &Engine,
) -> DfResult<MemTable> {
    let schema = extended_schema(name, inner.schema());
    let mut batches = scan(inner.as_ref())
        .await?
        .into_iter()
        .map(|b| with_lists(b, &schema))
        .collect::<DfResult<Vec<_>>>()?;
    let class = if name == "pg_class" {
        batches.clone()
    } else {
        match catalog.table("pg_class").await? {
            Some(t) => scan(t.as_ref()).await?,
            None => Vec::new(),
        }
    };
    let oids = relation_oids(catalog, &class).await?;
    if matches!(name, "pg_class" | "pg_attribute") {
        let system = system_oid_map(&class)?;
        let column = if name == "pg_class" {
            "oid"
        } else {
            "attrelid"
        };
        batches = batches
            .into_iter()
            .map(|b| with_oids_mapped(b, column, &system))
            .collect::<DfResult<_>>()?;
    }
    let indexes = indexes(engine);
    let table_oid = |t: &str| oids.get(t).copied();
    let mut rows: Vec<Row> = Vec::new();
    match name {
        "pg_class" => {
            let indexed: HashSet<i32> = indexes
                .iter()
                .filter_map(|i| table_oid(&i.table).map(|(oid, _)| oid))
                .collect();
            batches = batches
                .into_iter()
                .map(|b| with_flag(b, "relhasindex", |oid, _| indexed.contains(&oid)))
                .map(|b| b.and_then(owned_by_bootstrap))
                .collect::<DfResult<_>>()?;
            for i in &indexes {
                let Some((_, namespace)) = table_oid(&i.table) else {
                    continue;
                };
                rows.push(vec![
                    ("oid", i.oid().into()),
                    ("relname", i.name.clone().into()),
                    ("relnamespace", namespace.into()),
                    ("relowner", 10.into()),
                    ("relam", access_method_oid(&i.method).into()),
                    ("relfilenode", i.oid().into()),
                    ("relpersistence", "p".into()),
                    ("relkind", "i".into()),
                    ("relnatts", ScalarValue::Int16(Some(i.columns.len() as i16))),
                    ("relispopulated", true.into()),
                    ("relreplident", "n".into()),
                ]);
            }
        }
        "pg_index" => {
            for i in &indexes {
                let Some((table, _)) = table_oid(&i.table) else {
                    continue;
                };
                let n = i.columns.len();
                let zeros = vec![0; n];
                rows.push(vec![
                    ("indexrelid", i.oid().into()),
                    ("indrelid", table.into()),
                    ("indnatts", ScalarValue::Int16(Some(n as i16))),
                    ("indnkeyatts", ScalarValue::Int16(Some(n as i16))),
                    ("indisunique", i.unique.into()),
                    ("indisprimary", i.primary.into()),
                    ("indimmediate", true.into()),
                    ("indisvalid", true.into()),
                    ("indisready", true.into()),
                    ("indislive", true.into()),
                    ("indkey", int2_array(&i.attnums)),
                    ("indcollation", int2_array(&zeros)),
                    ("indclass", int2_array(&zeros)),
                    ("indoption", int2_array(&zeros)),
                ]);
            }
        }
        "pg_constraint" => {
            for i in indexes.iter().filter(|i| i.key) {
                let Some((table, namespace)) = table_oid(&i.table) else {
                    continue;
                };
                rows.push(vec![
                    ("oid", i.constraint_oid().into()),
                    ("conname", i.name.clone().into()),
                    ("connamespace", namespace.into()),
                    ("contype", if i.primary { "p" } else { "u" }.into()),
                    ("convalidated", true.into()),
                    ("conrelid", table.into()),
                    ("conindid", i.oid().into()),
                    ("confupdtype", " ".into()),
                    ("confdeltype", " ".into()),
                    ("confmatchtype", " ".into()),
                    ("conislocal", true.into()),
                    ("connoinherit", true.into()),
                    ("conkey", int2_array(&i.attnums)),
                ]);
            }
        }
        "pg_description" => {
            let mut describe = |objoid: i32, objsubid: i32, text: &str| {
                rows.push(vec![
                    ("objoid", objoid.into()),
                    ("classoid", PG_CLASS_OID.into()),
                    ("objsubid", objsubid.into()),
                    ("description", text.to_owned().into()),
                ]);
            };
            for table in engine.table_names() {
                let (Ok(schema), Some((oid, _))) = (engine.table_schema(&table), table_oid(&table))
                else {
                    continue;
                };
                if let Some(c) = &schema.comment {
                    describe(oid, 0, c);
                }
                let columns = visible_columns(&schema);
                for (column, text) in &schema.column_comments {
                    if let Some(p) = columns.iter().position(|c| c == column) {
                        describe(oid, p as i32 + 1, text);
                    }
                }
            }
            for view in engine.view_names() {
                if let (Some(def), Some((oid, _))) = (engine.view(&view), table_oid(&view)) {
                    if let Some(c) = &def.comment {
                        describe(oid, 0, c);
                    }
                }
            }
            for i in &indexes {
                if let Some(c) = &i.comment {
                    describe(i.oid(), 0, c);
                }
            }
        }
        "pg_attribute" => {
            let defaults: HashSet<(i32, i16)> = defaults(engine)
                .into_iter()
                .filter_map(|(t, attnum, _)| table_oid(&t).map(|(oid, _)| (oid, attnum)))
                .collect();
            let declared: HashMap<(i32, i16), DeclaredType> =
                declared_columns(engine, |c| declared_type(&c.sql_type))
                    .into_iter()
                    .filter_map(|(t, attnum, d)| table_oid(&t).map(|(oid, _)| ((oid, attnum), d)))
                    .collect();
            batches = batches
                .into_iter()
                .map(|b| {
                    with_flag(b, "atthasdef", |oid, attnum| {
                        defaults.contains(&(oid, attnum.unwrap_or(0)))
                    })
                })
                .map(|b| b.and_then(|b| with_declared_types(b, &declared)))
                .collect::<DfResult<_>>()?;
        }
        "pg_attrdef" => {
            for (table, attnum, text) in defaults(engine) {
                let Some((oid, _)) = table_oid(&table) else {
                    continue;
                };
                rows.push(vec![
                    (
                        "oid",
                        derived_oid("attrdef", &format!("{table}.{attnum}")).into(),
                    ),
                    ("adrelid", oid.into()),
                    ("adnum", ScalarValue::Int16(Some(attnum))),
                    ("adbin", text.into()),
                ]);
            }
        }
        other => {
            return Err(DataFusionError::Internal(format!(
                "no Strata rows for pg_catalog.{other}"
            )))
        }
    }
    if !rows.is_empty() {
        batches.push(rows_batch(&schema, &rows)?);
    }
    MemTable::try_new(schema, vec![batches])
}

/// A row by column name; columns left out are NULL, or their type's zero when not nullable.
type Row = Vec<(&'static str, ScalarValue)>;

fn rows_batch(schema: &SchemaRef, rows: &[Row]) -> DfResult<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let values = rows
                .iter()
                .map(|r| match r.iter().find(|(n, _)| *n == f.name()) {
                    Some((_, v)) => v.cast_to(f.data_type()),
                    None if f.is_nullable() => ScalarValue::try_from(f.data_type()),
                    None => ScalarValue::new_default(f.data_type()),
                });
            let values = values.collect::<DfResult<Vec<_>>>()?;
            ScalarValue::iter_to_array(values)
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// `pg_am` OIDs of PostgreSQL's access methods (btree for any other name).
fn access_method_oid(method: &str) -> i32 {
    match method {
        "hash" => 405,
        "gist" => 783,
        "gin" => 2742,
        "spgist" => 4000,
        "brin" => 3580,
        _ => 403,
    }
}

/// What `pg_attribute` says of a declared column that `datafusion-pg-catalog` cannot tell
/// from its Arrow type: the type of a `uuid`, `varchar(n)` or `char(n)` (text to Arrow),
/// and the type modifier of a `numeric(p,s)` (`((p << 16) | s) + 4`, as PostgreSQL stores
/// it; drivers read precision and scale from it) or of a `varchar(n)`/`char(n)` (`n + 4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeclaredType {
    typid: Option<i32>,
    typmod: Option<i32>,
}

fn declared_type(sql_type: &str) -> Option<DeclaredType> {
    let t = crate::types::SqlType::parse_canonical(sql_type)?;
    let declared = DeclaredType {
        typid: t.marked_oid().map(|oid| oid as i32),
        typmod: t.typmod(),
    };
    (declared.typid.is_some() || declared.typmod.is_some()).then_some(declared)
}

/// `pg_attribute` rows with the declared types ([`DeclaredType`]) of `(attrelid, attnum)`.
fn with_declared_types(
    batch: RecordBatch,
    declared: &HashMap<(i32, i16), DeclaredType>,
) -> DfResult<RecordBatch> {
    let schema = batch.schema();
    let (Ok(rel_at), Ok(num_at), Ok(type_at), Ok(mod_at)) = (
        schema.index_of("attrelid"),
        schema.index_of("attnum"),
        schema.index_of("atttypid"),
        schema.index_of("atttypmod"),
    ) else {
        return Ok(batch);
    };
    if declared.is_empty() {
        return Ok(batch);
    }
    let rels = arrow::compute::cast(batch.column(rel_at), &DataType::Int32)?;
    let rels = rels.as_primitive::<Int32Type>();
    let nums = arrow::compute::cast(batch.column(num_at), &DataType::Int16)?;
    let nums = nums.as_primitive::<arrow::datatypes::Int16Type>();
    let patch = |at: usize, pick: &dyn Fn(&DeclaredType) -> Option<i32>| -> DfResult<ArrayRef> {
        let old = arrow::compute::cast(batch.column(at), &DataType::Int32)?;
        let old = old.as_primitive::<Int32Type>();
        let new: Int32Array = (0..batch.num_rows())
            .map(|i| {
                declared
                    .get(&(rels.value(i), nums.value(i)))
                    .and_then(pick)
                    .or_else(|| old.is_valid(i).then(|| old.value(i)))
            })
            .collect();
        Ok(arrow::compute::cast(&new, schema.field(at).data_type())?)
    };
    let mut columns = batch.columns().to_vec();
    columns[type_at] = patch(type_at, &|d| d.typid)?;
    columns[mod_at] = patch(mod_at, &|d| d.typmod)?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Every column default: table, `attnum`, the expression's SQL text.
fn defaults(engine: &Engine) -> Vec<(String, i16, String)> {
    declared_columns(engine, |c| c.default.clone())
}

/// What `pick` says of each column's SQL declaration, where it says something: table,
/// `attnum`, the answer.
fn declared_columns<T>(
    engine: &Engine,
    pick: impl Fn(&strata_storage::SqlColumn) -> Option<T>,
) -> Vec<(String, i16, T)> {
    let mut out = Vec::new();
    for table in engine.table_names() {
        let Ok(schema) = engine.table_schema(&table) else {
            continue;
        };
        for (p, column) in visible_columns(&schema).iter().enumerate() {
            if let Some(v) = schema.sql_columns.get(column).and_then(&pick) {
                out.push((table.clone(), (p + 1) as i16, v));
            }
        }
    }
    out
}

/// Every relation owned by the bootstrap superuser ([`super::roles::BOOTSTRAP_OID`]):
/// Strata has no owners of its own, and `datafusion-pg-catalog` leaves `relowner` 0.
fn owned_by_bootstrap(batch: RecordBatch) -> DfResult<RecordBatch> {
    let schema = batch.schema();
    let Ok(at) = schema.index_of("relowner") else {
        return Ok(batch);
    };
    let owners = Int32Array::from(vec![super::roles::BOOTSTRAP_OID; batch.num_rows()]);
    let owners = arrow::compute::cast(&owners, schema.field(at).data_type())?;
    let mut columns = batch.columns().to_vec();
    columns[at] = owners;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Rows of `pg_class` (keyed by `oid`) or `pg_attribute` (by `attrelid` and `attnum`) with
/// the boolean column `flag` also set where `set(oid, attnum)` says: `relhasindex` (psql's
/// `\d` lists a table's indexes only then), `atthasdef` (and its defaults).
fn with_flag(
    batch: RecordBatch,
    flag: &str,
    set: impl Fn(i32, Option<i16>) -> bool,
) -> DfResult<RecordBatch> {
    let schema = batch.schema();
    let oid_at = schema
        .index_of("oid")
        .or_else(|_| schema.index_of("attrelid"));
    let (Ok(oid_at), Ok(flag_at)) = (oid_at, schema.index_of(flag)) else {
        return Ok(batch);
    };
    let oids = arrow::compute::cast(batch.column(oid_at), &DataType::Int32)?;
    let oids = oids.as_primitive::<Int32Type>();
    let attnums = match schema.index_of("attnum") {
        Ok(at) => Some(arrow::compute::cast(batch.column(at), &DataType::Int16)?),
        Err(_) => None,
    };
    let attnums = attnums
        .as_ref()
        .map(|a| a.as_primitive::<arrow::datatypes::Int16Type>());
    let old = batch.column(flag_at).as_boolean();
    let flags: BooleanArray = (0..batch.num_rows())
        .map(|i| {
            let attnum = attnums.and_then(|a| a.is_valid(i).then(|| a.value(i)));
            Some(
                (old.is_valid(i) && old.value(i))
                    || (oids.is_valid(i) && set(oids.value(i), attnum)),
            )
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[flag_at] = Arc::new(flags);
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `pg_database` without the databases that are not there (`datafusion-pg-catalog` lists a
/// `postgres` database, which no client can connect to).
async fn only_databases(inner: &dyn TableProvider, databases: &[String]) -> DfResult<MemTable> {
    let mut batches = Vec::new();
    for b in scan(inner).await? {
        let names = arrow::compute::cast(
            b.column_by_name("datname").ok_or_else(missing)?,
            &DataType::Utf8,
        )?;
        let names = names.as_string::<i32>();
        let keep: BooleanArray = (0..b.num_rows())
            .map(|i| Some(names.is_valid(i) && databases.iter().any(|d| d == names.value(i))))
            .collect();
        batches.push(arrow::compute::filter_record_batch(&b, &keep)?);
    }
    MemTable::try_new(inner.schema(), vec![batches])
}

async fn scan(table: &dyn TableProvider) -> DfResult<Vec<RecordBatch>> {
    let ctx = SessionContext::new();
    let plan = table.scan(&ctx.state(), None, &[], None).await?;
    datafusion::physical_plan::collect(plan, ctx.task_ctx()).await
}

/// `(oid, relname, relnamespace)` of every row of `pg_class` with a name.
fn class_rows(class: &[RecordBatch]) -> DfResult<Vec<(i32, String, i32)>> {
    let mut out = Vec::new();
    for b in class {
        let col = |n: &str| b.column_by_name(n).cloned().ok_or_else(missing);
        let oids = arrow::compute::cast(&col("oid")?, &DataType::Int32)?;
        let names = arrow::compute::cast(&col("relname")?, &DataType::Utf8)?;
        let spaces = arrow::compute::cast(&col("relnamespace")?, &DataType::Int32)?;
        let (oids, names, spaces) = (
            oids.as_primitive::<Int32Type>(),
            names.as_string::<i32>(),
            spaces.as_primitive::<Int32Type>(),
        );
        for i in 0..b.num_rows() {
            if names.is_valid(i) {
                out.push((oids.value(i), names.value(i).to_owned(), spaces.value(i)));
            }
        }
    }
    Ok(out)
}

/// `datafusion-pg-catalog`'s OID of each system catalog it lists, to PostgreSQL's
/// ([`SYSTEM_OIDS`]), from the rows of its `pg_class`.
fn system_oid_map(class: &[RecordBatch]) -> DfResult<HashMap<i32, i32>> {
    Ok(class_rows(class)?
        .into_iter()
        .filter(|(_, _, space)| *space == PG_CATALOG_NAMESPACE)
        .filter_map(|(oid, name, _)| system_oid(&name).map(|fixed| (oid, fixed)))
        .collect())
}

/// `batch` with the OIDs in `column` replaced where `map` has them.
fn with_oids_mapped(
    batch: RecordBatch,
    column: &str,
    map: &HashMap<i32, i32>,
) -> DfResult<RecordBatch> {
    let schema = batch.schema();
    let Ok(at) = schema.index_of(column) else {
        return Ok(batch);
    };
    if map.is_empty() {
        return Ok(batch);
    }
    let oids = arrow::compute::cast(batch.column(at), &DataType::Int32)?;
    let mapped: Int32Array = oids
        .as_primitive::<Int32Type>()
        .iter()
        .map(|o| o.map(|o| map.get(&o).copied().unwrap_or(o)))
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[at] = arrow::compute::cast(&mapped, schema.field(at).data_type())?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The OID and namespace OID of each relation of the `public` schema, by name, from the
/// rows of `pg_class`.
async fn relation_oids(
    catalog: &dyn SchemaProvider,
    class: &[RecordBatch],
) -> DfResult<HashMap<String, (i32, i32)>> {
    let mut public = None;
    if let Some(ns) = catalog.table("pg_namespace").await? {
        for b in scan(ns.as_ref()).await? {
            let oids = arrow::compute::cast(
                b.column_by_name("oid").ok_or_else(missing)?,
                &DataType::Int32,
            )?;
            let names = arrow::compute::cast(
                b.column_by_name("nspname").ok_or_else(missing)?,
                &DataType::Utf8,
            )?;
            let (oids, names) = (oids.as_primitive::<Int32Type>(), names.as_string::<i32>());
            for i in 0..b.num_rows() {
                if names.is_valid(i) && names.value(i) == "public" {
                    public = Some(oids.value(i));
                }
            }
        }
    }
    Ok(class_rows(class)?
        .into_iter()
        .filter(|(_, _, space)| Some(*space) == public)
        .map(|(oid, name, space)| (name, (oid, space)))
        .collect())
}

fn missing() -> DataFusionError {
    DataFusionError::Internal("pg_catalog table without the columns Strata reads".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_oids_are_stable_and_in_their_range() {
        let a = derived_oid("index", "cpu_pkey");
        assert_eq!(a, derived_oid("index", "cpu_pkey"));
        assert_ne!(a, derived_oid("constraint", "cpu_pkey"));
        assert!((1_000_000_000..2_000_000_000).contains(&a));
    }

    #[test]
    fn definitions_read_as_postgresqls() {
        let row = IndexRow {
            table: "cpu".into(),
            name: "cpu_pkey".into(),
            columns: vec!["host".into(), "Ts".into()],
            attnums: vec![2, 1],
            unique: true,
            primary: true,
            key: true,
            method: "btree".into(),
            comment: None,
        };
        assert_eq!(
            row.definition(),
            "CREATE UNIQUE INDEX cpu_pkey ON public.cpu USING btree (host, \"Ts\")"
        );
        assert_eq!(row.constraint_definition(), "PRIMARY KEY (host, \"Ts\")");
    }

    #[test]
    fn numeric_type_modifiers_are_postgresqls() {
        // PostgreSQL 15: atttypmod of numeric(10,2) is 655366, of numeric(5) 327684.
        assert_eq!(
            declared_type("numeric(10,2)").unwrap().typmod,
            Some(655_366)
        );
        assert_eq!(declared_type("numeric(5)").unwrap().typmod, Some(327_684));
        assert_eq!(declared_type("uuid").unwrap().typid, Some(2950));
        assert_eq!(declared_type("text"), None);
        // PostgreSQL 15: varchar(20) is 1043 with 24, char(3) 1042 with 7.
        assert_eq!(
            declared_type("varchar(20)"),
            Some(DeclaredType {
                typid: Some(1043),
                typmod: Some(24)
            })
        );
        assert_eq!(
            declared_type("char(3)"),
            Some(DeclaredType {
                typid: Some(1042),
                typmod: Some(7)
            })
        );
    }
}
