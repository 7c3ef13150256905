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
fn quote(name: &str) -> String {
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

#[async_trait::async_trait]
impl TableProvider for Extended {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
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
    let schema = inner.schema();
    let mut batches = scan(inner.as_ref()).await?;
    let oids = relation_oids(catalog, &batches, name).await?;
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
                let zeros = vec!["0"; n].join(" ");
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
                    ("indkey", int2vector(&i.attnums).into()),
                    ("indcollation", zeros.clone().into()),
                    ("indclass", zeros.clone().into()),
                    ("indoption", zeros.into()),
                ]);
            }
        }
        "pg_constraint" => {
            for i in indexes.iter().filter(|i| i.key) {
                let Some((table, namespace)) = table_oid(&i.table) else {
                    continue;
                };
                let attnums: Vec<String> = i.attnums.iter().map(i16::to_string).collect();
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
                    ("conkey", format!("{{{}}}", attnums.join(",")).into()),
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
            let uuids: HashSet<(i32, i16)> = uuid_columns(engine)
                .into_iter()
                .filter_map(|(t, attnum)| table_oid(&t).map(|(oid, _)| (oid, attnum)))
                .collect();
            batches = batches
                .into_iter()
                .map(|b| {
                    with_flag(b, "atthasdef", |oid, attnum| {
                        defaults.contains(&(oid, attnum.unwrap_or(0)))
                    })
                })
                .map(|b| b.and_then(|b| with_uuid_types(b, &uuids)))
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

/// `int2vector`'s text: the numbers, space-separated.
fn int2vector(values: &[i16]) -> String {
    values
        .iter()
        .map(i16::to_string)
        .collect::<Vec<_>>()
        .join(" ")
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

/// `(table, attnum)` of every `uuid` column (text to Arrow, so `datafusion-pg-catalog`
/// types it `text`).
fn uuid_columns(engine: &Engine) -> Vec<(String, i16)> {
    declared_columns(engine, |c| (c.sql_type == "uuid").then_some(()))
        .into_iter()
        .map(|(table, attnum, ())| (table, attnum))
        .collect()
}

/// `pg_attribute` rows of `uuid` columns typed `uuid` (OID 2950).
fn with_uuid_types(batch: RecordBatch, uuids: &HashSet<(i32, i16)>) -> DfResult<RecordBatch> {
    const UUID_OID: i32 = 2950;
    let schema = batch.schema();
    let (Ok(rel_at), Ok(num_at), Ok(type_at)) = (
        schema.index_of("attrelid"),
        schema.index_of("attnum"),
        schema.index_of("atttypid"),
    ) else {
        return Ok(batch);
    };
    if uuids.is_empty() {
        return Ok(batch);
    }
    let rels = arrow::compute::cast(batch.column(rel_at), &DataType::Int32)?;
    let rels = rels.as_primitive::<Int32Type>();
    let nums = arrow::compute::cast(batch.column(num_at), &DataType::Int16)?;
    let nums = nums.as_primitive::<arrow::datatypes::Int16Type>();
    let types = arrow::compute::cast(batch.column(type_at), &DataType::Int32)?;
    let types = types.as_primitive::<Int32Type>();
    let patched: Int32Array = (0..batch.num_rows())
        .map(|i| {
            if uuids.contains(&(rels.value(i), nums.value(i))) {
                Some(UUID_OID)
            } else {
                types.is_valid(i).then(|| types.value(i))
            }
        })
        .collect();
    let patched = arrow::compute::cast(&patched, schema.field(type_at).data_type())?;
    let mut columns = batch.columns().to_vec();
    columns[type_at] = patched;
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

/// The OID and namespace OID of each relation of the `public` schema, by name, from
/// `pg_class` (`batches` when they are `pg_class`'s own).
async fn relation_oids(
    catalog: &dyn SchemaProvider,
    batches: &[RecordBatch],
    name: &str,
) -> DfResult<HashMap<String, (i32, i32)>> {
    let class = if name == "pg_class" {
        batches.to_vec()
    } else {
        match catalog.table("pg_class").await? {
            Some(t) => scan(t.as_ref()).await?,
            None => return Ok(HashMap::new()),
        }
    };
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
    let mut out = HashMap::new();
    for b in &class {
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
            if Some(spaces.value(i)) == public && names.is_valid(i) {
                out.insert(names.value(i).to_owned(), (oids.value(i), spaces.value(i)));
            }
        }
    }
    Ok(out)
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
        assert_eq!(int2vector(&row.attnums), "2 1");
    }
}
