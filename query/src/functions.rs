//! SQL functions Postgres clients call that DataFusion lacks or spells differently:
//! `version()`, `pg_sleep(seconds)`, `current_setting(name)`.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, AsArray, StringArray};
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
