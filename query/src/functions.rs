//! SQL functions Postgres clients call that DataFusion lacks or spells differently:
//! `version()`, `pg_sleep(seconds)`, `current_setting(name)`, `json_build_object(...)`,
//! `pg_table_is_visible(oid)`, `pg_collation_is_visible(oid)`, `to_regtype(name)`,
//! `pg_get_serial_sequence(table, column)`, and Strata's `strata.subject_hash(value)`.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Float64Type};
use async_trait::async_trait;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use parking_lot::RwLock;

use crate::error::QueryError;
use crate::settings::{Settings, SERVER_VERSION};

/// `version()`: the Postgres-compatible version string drivers parse.
pub fn version() -> ScalarUDF {
    let text = format!(
        "PostgreSQL {SERVER_VERSION} (Strata {}) on {}-linux, compiled by rustc",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))
        }),
    )
}

/// `current_schemas(include_implicit)` over one session's `search_path`: the schemas on it
/// that exist, in order, with `pg_catalog` first when `include_implicit` is true and the
/// path does not name it (PostgreSQL searches it first then).
pub fn current_schemas(settings: Arc<RwLock<Settings>>) -> ScalarUDF {
    const SCHEMAS: [&str; 4] = ["public", "system", "information_schema", "pg_catalog"];
    create_udf(
        "current_schemas",
        vec![DataType::Boolean],
        DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        ))),
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let implicit = args[0].to_array(1)?;
            let implicit = implicit.as_boolean();
            // `$user` names no schema Strata has: an empty name drops it.
            let path: Vec<String> = settings
                .read()
                .search_path("")
                .into_iter()
                .filter(|s| SCHEMAS.contains(&s.as_str()))
                .collect();
            let mut b = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
            for i in 0..implicit.len() {
                if !implicit.is_valid(i) {
                    b.append_null();
                    continue;
                }
                if implicit.value(i) && !path.iter().any(|s| s == "pg_catalog") {
                    b.values().append_value("pg_catalog");
                }
                for s in &path {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(b.finish()))
        }),
    )
}

/// `session_user` for one session: its user (`current_user` and `user` are read as
/// `session_user`; Strata has no `SET ROLE`). Replaces `datafusion-pg-catalog`'s, which
/// answers `postgres` to everyone.
pub fn session_user(user: &str) -> ScalarUDF {
    let user = user.to_owned();
    create_udf(
        "session_user",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(user.clone()))))
        }),
    )
}

/// `current_setting(name)` over one session's parameters.
pub fn current_setting(settings: Arc<RwLock<Settings>>) -> ScalarUDF {
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let lookup = |name: Option<&str>| -> DfResult<Option<String>> {
                match name {
                    None => Ok(None),
                    Some(n) => settings
                        .read()
                        .get(n)
                        .map(|v| Some(v.to_owned()))
                        .map_err(DataFusionError::from),
                }
            };
            match &args[0] {
                ColumnarValue::Scalar(s) => {
                    let name = match s {
                        ScalarValue::Utf8(v)
                        | ScalarValue::Utf8View(v)
                        | ScalarValue::LargeUtf8(v) => v.clone(),
                        _ => None,
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(lookup(
                        name.as_deref(),
                    )?)))
                }
                ColumnarValue::Array(a) => {
                    let a = arrow::compute::cast(a, &DataType::Utf8)?;
                    let names = a.as_string::<i32>();
                    let out = names
                        .iter()
                        .map(lookup)
                        .collect::<DfResult<StringArray>>()?;
                    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
                }
            }
        }),
    )
}

/// `to_regtype(name)`: the OID of a built-in type by name or alias (NULL if unknown), as
/// psycopg's type introspection (`TypeInfo.fetch`) asks for it.
pub fn to_regtype() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let lookup = |s: Option<&str>| s.and_then(type_oid);
            match &args[0] {
                ColumnarValue::Scalar(s) => {
                    let name = match s {
                        ScalarValue::Utf8(v)
                        | ScalarValue::Utf8View(v)
                        | ScalarValue::LargeUtf8(v) => v.clone(),
                        _ => None,
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Int32(lookup(
                        name.as_deref(),
                    ))))
                }
                ColumnarValue::Array(a) => {
                    let a = arrow::compute::cast(a, &DataType::Utf8)?;
                    let out: arrow::array::Int32Array =
                        a.as_string::<i32>().iter().map(lookup).collect();
                    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
                }
            }
        }),
    )
}

/// `pg_get_serial_sequence(table, column)`: always NULL, since Strata has no sequences
/// (SQLAlchemy's inspector asks it for every column).
pub fn pg_get_serial_sequence() -> ScalarUDF {
    create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = args.iter().find_map(|a| match a {
                ColumnarValue::Array(a) => Some(a.len()),
                ColumnarValue::Scalar(_) => None,
            });
            Ok(match rows {
                Some(n) => ColumnarValue::Array(arrow::array::new_null_array(&DataType::Utf8, n)),
                None => ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            })
        }),
    )
}

/// OIDs of the built-in types Strata uses, by name and common alias.
fn type_oid(name: &str) -> Option<i32> {
    let n = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .to_ascii_lowercase();
    Some(match n.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "char" => 18,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "unknown" => 705,
        "varchar" | "character varying" => 1043,
        "bpchar" | "character" => 1042,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        "_bool" => 1000,
        "_int2" => 1005,
        "_int4" => 1007,
        "_text" => 1009,
        "_int8" => 1016,
        "_float4" => 1021,
        "_float8" => 1022,
        "_varchar" => 1015,
        "_timestamp" => 1115,
        "_timestamptz" => 1185,
        "_numeric" => 1231,
        _ => return None,
    })
}

/// `pg_sleep(seconds)`: sleeps without holding a runtime thread, so a cancel request or
/// statement timeout interrupts it like any other query.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        // Postgres returns void; an always-NULL text column is the closest Arrow shape
        // clients accept.
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::Internal(
            "pg_sleep must be invoked asynchronously".into(),
        ))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let seconds = match &args.args[0] {
            ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(v) => v.unwrap_or(0.0),
                _ => 0.0,
            },
            ColumnarValue::Array(a) => {
                let a = arrow::compute::cast(a, &DataType::Float64)?;
                a.as_primitive::<Float64Type>().iter().flatten().sum()
            }
        };
        if !seconds.is_finite() || seconds > 86_400.0 * 365.0 {
            return Err(
                QueryError::InvalidText(format!("pg_sleep: invalid duration {seconds} s")).into(),
            );
        }
        if seconds > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        }
        let n = args.number_rows;
        Ok(ColumnarValue::Array(arrow::array::new_null_array(
            &DataType::Utf8,
            n.max(1),
        )))
    }
}

/// The `pg_sleep` UDF.
pub fn pg_sleep() -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(PgSleep {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Volatile),
    }))
    .into_scalar_udf()
}

/// `json_build_object(key, value, ...)`: a JSON object text, keys and values in argument
/// order, formatted as Postgres does (`{"a" : 1, "b" : "x"}`). SQLAlchemy's column
/// reflection selects it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(QueryError::InvalidParameterValue(
                "argument list must have even number of elements".into(),
            )
            .into());
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = arrow::array::StringBuilder::new();
        for row in 0..rows {
            let mut text = String::from("{");
            for (i, pair) in arrays.chunks(2).enumerate() {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                if key.is_null() {
                    return Err(QueryError::NullValueNotAllowed(
                        "null value not allowed for object key".into(),
                    )
                    .into());
                }
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(&json_string(&scalar_text(&key)));
                text.push_str(" : ");
                text.push_str(&json_value(&ScalarValue::try_from_array(&pair[1], row)?));
            }
            text.push('}');
            out.append_value(text);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The `json_build_object` UDF.
pub fn json_build_object() -> ScalarUDF {
    ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

/// A value's text, as Postgres would print it (strings without quotes).
fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as JSON: numbers and booleans bare, NULL as `null`, everything else a string.
fn json_value(v: &ScalarValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    match v {
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_) => v.to_string(),
        ScalarValue::Float32(Some(f)) if f.is_finite() => v.to_string(),
        ScalarValue::Float64(Some(f)) if f.is_finite() => v.to_string(),
        ScalarValue::Decimal128(..) | ScalarValue::Decimal256(..) => v.to_string(),
        other => json_string(&scalar_text(other)),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `pg_collation_is_visible(oid)`: true. Strata's collations all live in `pg_catalog`,
/// which is always on the search path.
pub fn pg_collation_is_visible() -> ScalarUDF {
    create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            Ok(match &args[0] {
                ColumnarValue::Scalar(s) => {
                    ColumnarValue::Scalar(ScalarValue::Boolean((!s.is_null()).then_some(true)))
                }
                ColumnarValue::Array(a) => {
                    let out: arrow::array::BooleanArray = (0..a.len())
                        .map(|i| a.is_valid(i).then_some(true))
                        .collect();
                    ColumnarValue::Array(Arc::new(out) as ArrayRef)
                }
            })
        }),
    )
}

/// `strata_like_pattern(pattern, escape)`: a LIKE pattern written with another escape
/// character (`LIKE 'pg/_%' ESCAPE '/'`, as SQLAlchemy writes) in backslash form, the only
/// escape DataFusion's LIKE takes. An empty escape means none (backslashes are literal).
pub fn like_pattern() -> ScalarUDF {
    create_udf(
        "strata_like_pattern",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let n = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    ColumnarValue::Scalar(_) => None,
                })
                .unwrap_or(1);
            let patterns = args[0].to_array(n)?;
            let escapes = args[1].to_array(n)?;
            let (patterns, escapes) = (patterns.as_string::<i32>(), escapes.as_string::<i32>());
            let out: arrow::array::StringArray = patterns
                .iter()
                .zip(escapes.iter())
                .map(|(p, e)| Some(backslash_pattern(p?, e?.chars().next())))
                .collect();
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
        }),
    )
}

/// `pattern` with escape character `escape` rewritten to use backslashes.
fn backslash_pattern(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            out.push('\\');
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// `pg_table_is_visible(oid)` for one session: false for the relations in `hidden`
/// (those of schemas not on the session's search path, computed before each statement
/// that calls the function), true otherwise.
pub fn pg_table_is_visible(hidden: Arc<RwLock<std::collections::HashSet<i32>>>) -> ScalarUDF {
    create_udf(
        "pg_table_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let hidden = hidden.read();
            let visible = |oid: Option<i32>| oid.map(|o| !hidden.contains(&o));
            Ok(match &args[0] {
                ColumnarValue::Scalar(s) => {
                    let oid = match s.cast_to(&DataType::Int32)? {
                        ScalarValue::Int32(v) => v,
                        _ => None,
                    };
                    ColumnarValue::Scalar(ScalarValue::Boolean(visible(oid)))
                }
                ColumnarValue::Array(a) => {
                    let a = arrow::compute::cast(a, &DataType::Int32)?;
                    let out: arrow::array::BooleanArray = a
                        .as_primitive::<arrow::datatypes::Int32Type>()
                        .iter()
                        .map(visible)
                        .collect();
                    ColumnarValue::Array(Arc::new(out) as ArrayRef)
                }
            })
        }),
    )
}

/// `strata.subject_hash(value)`: the keyed hash erasure receipts name a subject by
/// (`system.erasures.subject_hash`), so an officer who knows the value finds its receipt.
/// Also callable as `subject_hash(value)`.
pub fn subject_hash(engine: Arc<strata_storage::Engine>) -> ScalarUDF {
    create_udf(
        "strata.subject_hash",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            Ok(match &args[0] {
                ColumnarValue::Scalar(s) => ColumnarValue::Scalar(ScalarValue::Utf8(match s {
                    ScalarValue::Utf8(Some(v))
                    | ScalarValue::Utf8View(Some(v))
                    | ScalarValue::LargeUtf8(Some(v)) => Some(engine.subject_hash(v)),
                    _ => None,
                })),
                ColumnarValue::Array(a) => {
                    let a = arrow::compute::cast(a, &DataType::Utf8)?;
                    let out: StringArray = a
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(|v| engine.subject_hash(v)))
                        .collect();
                    ColumnarValue::Array(Arc::new(out) as ArrayRef)
                }
            })
        }),
    )
    .with_aliases(["subject_hash"])
}

/// `pg_get_indexdef(oid [, column, pretty])` and `pg_get_constraintdef(oid [, pretty])`:
/// the text of Strata's indexes and keys (see [`crate::pg_catalog::relations`]), NULL
/// for an OID that is none of them. With a `column` above 0, `pg_get_indexdef` gives that
/// index column's name (quoted where PostgreSQL quotes), as PostgreSQL does.
pub fn definitions(engine: Arc<strata_storage::Engine>) -> [ScalarUDF; 2] {
    let make = |name: &'static str, constraint: bool| {
        ScalarUDF::new_from_impl(DefinitionOf {
            name,
            constraint,
            engine: Arc::clone(&engine),
            signature: Signature::variadic_any(Volatility::Stable),
        })
    };
    [
        make("pg_get_indexdef", false),
        make("pg_get_constraintdef", true),
    ]
}

#[derive(Debug)]
struct DefinitionOf {
    name: &'static str,
    constraint: bool,
    engine: Arc<strata_storage::Engine>,
    signature: Signature,
}

impl PartialEq for DefinitionOf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.engine, &other.engine)
    }
}

impl Eq for DefinitionOf {}

impl std::hash::Hash for DefinitionOf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for DefinitionOf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(first) = args.args.first() else {
            return Err(QueryError::UndefinedFunction(format!("{}()", self.name)).into());
        };
        let scalar = matches!(first, ColumnarValue::Scalar(_));
        let oids = arrow::compute::cast(&first.to_array(args.number_rows)?, &DataType::Int32)?;
        let columns = match (self.constraint, args.args.get(1)) {
            (false, Some(c)) => Some(arrow::compute::cast(
                &c.to_array(args.number_rows)?,
                &DataType::Int32,
            )?),
            _ => None,
        };
        let columns = columns
            .as_ref()
            .map(|c| c.as_primitive::<arrow::datatypes::Int32Type>());
        let mut rows = std::collections::HashMap::new();
        for i in crate::pg_catalog::relations::indexes(&self.engine) {
            let oid = if self.constraint {
                if !i.key {
                    continue;
                }
                i.constraint_oid()
            } else {
                i.oid()
            };
            rows.insert(oid, i);
        }
        let out: arrow::array::StringArray = oids
            .as_primitive::<arrow::datatypes::Int32Type>()
            .iter()
            .enumerate()
            .map(|(n, oid)| {
                let row = rows.get(&oid?)?;
                let column = columns.map_or(Some(0), |c| c.is_valid(n).then(|| c.value(n)));
                match column? {
                    _ if self.constraint => Some(row.constraint_definition()),
                    0 => Some(row.definition()),
                    c => row
                        .columns
                        .get(usize::try_from(c).ok()? - 1)
                        .map(|name| crate::pg_catalog::relations::quote(name)),
                }
            })
            .collect();
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
    }
}

/// `pg_get_expr(text, relation [, pretty])`: Strata's catalogs keep expressions (column
/// defaults in `pg_attrdef.adbin`) as SQL text, so this returns the text as it is.
pub fn pg_get_expr() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetExpr {
        signature: Signature::variadic_any(Volatility::Stable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgGetExpr {
    signature: Signature,
}

impl ScalarUDFImpl for PgGetExpr {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => {
                Ok(ColumnarValue::Scalar(s.cast_to(&DataType::Utf8)?))
            }
            Some(ColumnarValue::Array(a)) => Ok(ColumnarValue::Array(arrow::compute::cast(
                a,
                &DataType::Utf8,
            )?)),
            None => Err(QueryError::UndefinedFunction("pg_get_expr()".into()).into()),
        }
    }
}

/// `pg_size_pretty(bytes)`: PostgreSQL 15's text for a size (`10239 bytes`, `10 kB`,
/// `19 GB`), half-rounded at each unit as it does.
pub fn pg_size_pretty() -> ScalarUDF {
    create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let sizes = args[0].to_array(1)?;
            let sizes = arrow::compute::cast(&sizes, &DataType::Int64)?;
            let out: StringArray = sizes
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|s| s.map(size_pretty))
                .collect();
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
        }),
    )
}

/// PostgreSQL 15's `pg_size_pretty` (`src/backend/utils/adt/dbsize.c`): each unit is used
/// below its limit, the size divided down with one spare bit kept for half-rounding.
fn size_pretty(bytes: i64) -> String {
    // (name, limit, half-rounded, bits of the unit)
    const UNITS: [(&str, i64, bool, u32); 5] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1);
        if next.is_none() || size.abs() < *limit {
            let size = if *round { half_rounded(size) } else { size };
            return format!("{size} {name}");
        }
        if let Some((_, _, next_round, next_bits)) = next {
            let shift = next_bits - bits - u32::from(*next_round) + u32::from(*round);
            size /= 1i64 << shift;
        }
    }
    format!("{bytes} bytes")
}

/// `pg_type_is_visible(oid)`: every type Strata has is in `pg_catalog`, which is always
/// searched, so every type is visible (NULL for NULL).
pub fn pg_type_is_visible() -> ScalarUDF {
    create_udf(
        "pg_type_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let oids = args[0].to_array(1)?;
            let out: arrow::array::BooleanArray = (0..oids.len())
                .map(|i| oids.is_valid(i).then_some(true))
                .collect();
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
        }),
    )
}

/// `pg_tablespace_location(oid)`: the empty text PostgreSQL gives its built-in tablespaces,
/// the only ones there are.
pub fn pg_tablespace_location() -> ScalarUDF {
    create_udf(
        "pg_tablespace_location",
        vec![DataType::Int32],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let oids = args[0].to_array(1)?;
            let out: StringArray = (0..oids.len())
                .map(|i| oids.is_valid(i).then_some(""))
                .collect();
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
        }),
    )
}

/// `pg_get_userbyid(oid)`: the role's name, or PostgreSQL's `unknown (OID=n)`.
pub fn pg_get_userbyid(roles: crate::pg_catalog::roles::Roles) -> ScalarUDF {
    create_udf(
        "pg_get_userbyid",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let oids = args[0].to_array(1)?;
            let oids = arrow::compute::cast(&oids, &DataType::Int32)?;
            let oids = oids.as_primitive::<arrow::datatypes::Int32Type>();
            let names = roles.names();
            let out: StringArray = oids
                .iter()
                .map(|o| {
                    o.map(|o| {
                        names
                            .get(&o)
                            .cloned()
                            .unwrap_or_else(|| format!("unknown (OID={o})"))
                    })
                })
                .collect();
            crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
        }),
    )
}

#[cfg(test)]
mod size_tests {
    use super::size_pretty;

    /// Each pair was printed by PostgreSQL 15.18's `pg_size_pretty`.
    #[test]
    fn sizes_print_as_postgresql_prints_them() {
        for (bytes, text) in [
            (0, "0 bytes"),
            (1, "1 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (10751, "10 kB"),
            (10752, "11 kB"),
            (20479 * 512, "10 MB"),
            (20479 * 512 + 512, "10 MB"),
            (1048575, "1024 kB"),
            (1048576, "1024 kB"),
            (20_000_000_000, "19 GB"),
            (2_000_000_000_000_000, "1819 TB"),
            (-10240, "-10 kB"),
            (-20_480_000, "-20 MB"),
        ] {
            assert_eq!(size_pretty(bytes), text, "{bytes}");
        }
    }
}

/// `pg_typeof(value)`: the PostgreSQL name of its argument's type (`integer`, `text`,
/// `timestamp with time zone`, `unknown` for a bare NULL), as text rather than `regtype`.
pub fn pg_typeof() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTypeof {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        fn name(t: &DataType) -> String {
            match t {
                DataType::Null => "unknown".into(),
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    format!("{}[]", name(f.data_type()))
                }
                other => crate::information_schema::PgColumnType::of(other)
                    .data_type
                    .to_owned(),
            }
        }
        let field = &args.arg_fields[0];
        let type_name = match crate::types::text_type(field) {
            Some((_, _)) => crate::information_schema::PgColumnType::of_field(field)
                .data_type
                .to_owned(),
            None => name(field.data_type()),
        };
        let text = ScalarValue::Utf8(Some(type_name));
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(text),
            ColumnarValue::Array(a) => ColumnarValue::Array(text.to_array_of_size(a.len())?),
        })
    }
}

#[cfg(test)]
mod like_tests {
    use super::backslash_pattern;

    #[test]
    fn other_escape_characters_become_backslashes() {
        assert_eq!(backslash_pattern("pg/_%", Some('/')), "pg\\_%");
        assert_eq!(backslash_pattern("a\\b//c", Some('/')), "a\\\\b\\/c");
        assert_eq!(backslash_pattern("a\\_b", None), "a\\\\_b");
    }
}

/// `strata_in_list(value, list)`: SQL's `value IN (...)` over the elements of an array (a
/// subquery's values gathered by `array_agg`, see [`crate::rewrite`]), with its NULL rules:
/// true if an element equals `value`; else NULL if `value` is NULL or an element is NULL;
/// else false. An empty or NULL list (the `array_agg` of no rows) gives false.
pub fn in_list() -> ScalarUDF {
    ScalarUDF::new_from_impl(InList {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct InList {
    signature: Signature,
}

impl ScalarUDFImpl for InList {
    fn name(&self) -> &str {
        "strata_in_list"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = args.number_rows.max(1);
        let values = args.args[0].to_array(n)?;
        let lists = args.args[1].to_array(n)?;
        let lists = match lists.data_type() {
            DataType::List(_) => lists,
            DataType::Null => {
                let none = arrow::array::BooleanArray::from(vec![false; n]);
                return crate::arithmetic::shaped_like_inputs(scalar, Arc::new(none));
            }
            other => {
                let item = match other {
                    DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type().clone(),
                    _ => {
                        return Err(DataFusionError::Plan(format!(
                            "strata_in_list needs a list, not {other}"
                        )))
                    }
                };
                arrow::compute::cast(&lists, &DataType::new_list(item, true))?
            }
        };
        let lists = lists.as_list::<i32>();
        let mut out = arrow::array::BooleanBuilder::with_capacity(n);
        for i in 0..n {
            if lists.is_null(i) || lists.value(i).is_empty() {
                out.append_value(false);
                continue;
            }
            if values.is_null(i) {
                out.append_null();
                continue;
            }
            let value = values.slice(i, 1);
            let mut elements = lists.value(i);
            if elements.data_type() != value.data_type() {
                elements = arrow::compute::cast(&elements, value.data_type())?;
            }
            let equal =
                arrow::compute::kernels::cmp::eq(&elements, &arrow::array::Scalar::new(value))?;
            if equal.true_count() > 0 {
                out.append_value(true);
            } else if equal.null_count() > 0 {
                out.append_null();
            } else {
                out.append_value(false);
            }
        }
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out.finish()))
    }
}
