//! Bound parameters to values. `arrow-pg` decodes most types; read here are text-format
//! intervals, with PostgreSQL's interval syntax ([`strata_query::pgvalue::interval_in`],
//! which drivers use freely: pg8000 sends `1 days 7200 seconds 0 microseconds`, which
//! `arrow-pg`'s parser refuses), text-format times (`13:14:15.5`, which node-postgres
//! sends and `arrow-pg` refuses without all six fraction digits), and `uuid`s in either
//! format (checked text to Strata).

use arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::portal::Portal;
use pgwire::api::results::FieldFormat;
use pgwire::api::Type;
use pgwire::error::PgWireResult;
use strata_query::pgvalue;
use strata_query::QueryError;

use super::encode::error;
use super::Stored;

/// The values of `portal`'s parameters.
pub(crate) fn decode(portal: &Portal<Stored>) -> PgWireResult<ParamValues> {
    let stored = &portal.statement.statement;
    let inferred: Vec<Option<&DataType>> = stored.param_types.iter().map(Option::as_ref).collect();
    let declared: Vec<Option<&Type>> = portal
        .statement
        .parameter_types
        .iter()
        .map(Option::as_ref)
        .collect();
    // What the client said the parameter is, unless it left that to the server.
    let declared_as = |i: usize| {
        declared
            .get(i)
            .copied()
            .flatten()
            .filter(|t| **t != Type::UNKNOWN && t.oid() != 0)
    };
    let is_interval = |i: usize| match declared_as(i) {
        Some(t) => *t == Type::INTERVAL,
        None => matches!(
            inferred.get(i).copied().flatten(),
            Some(DataType::Interval(_))
        ),
    };
    let is_time = |i: usize| match declared_as(i) {
        Some(t) => *t == Type::TIME,
        None => matches!(
            inferred.get(i).copied().flatten(),
            Some(DataType::Time64(_))
        ),
    };
    let is_uuid = |i: usize| match declared_as(i) {
        Some(t) => *t == Type::UUID,
        None => stored.param_uuid.get(i).copied().unwrap_or(false),
    };
    let text = |i: usize| portal.parameter_format.format_for(i) == FieldFormat::Text;
    let ours: Vec<(usize, ScalarValue)> = portal
        .parameters
        .iter()
        .enumerate()
        .filter(|(i, _)| is_uuid(*i) || (text(*i) && (is_interval(*i) || is_time(*i))))
        .map(|(i, v)| {
            let value = match v {
                None if is_uuid(i) => ScalarValue::Utf8(None),
                None if is_time(i) => ScalarValue::Time64Microsecond(None),
                None => ScalarValue::IntervalMonthDayNano(None),
                Some(bytes) if is_uuid(i) => {
                    let uuid = if text(i) {
                        pgvalue::uuid_in(std::str::from_utf8(bytes).unwrap_or(""))
                    } else {
                        <[u8; 16]>::try_from(bytes.as_ref()).map_err(|_| {
                            QueryError::InvalidBinary(format!(
                                "incorrect binary data format for type uuid ({} bytes)",
                                bytes.len()
                            ))
                        })
                    }
                    .map_err(|e| error(&e))?;
                    ScalarValue::Utf8(Some(pgvalue::uuid_out(&uuid)))
                }
                Some(bytes) if is_time(i) => {
                    let text = std::str::from_utf8(bytes).unwrap_or("");
                    ScalarValue::Time64Microsecond(Some(
                        pgvalue::time_in(text).map_err(|e| error(&e))?,
                    ))
                }
                Some(bytes) => {
                    let text = std::str::from_utf8(bytes).unwrap_or("");
                    let iv = pgvalue::interval_in(text).ok_or_else(|| {
                        error(&QueryError::InvalidDatetimeFormat(format!(
                            "invalid input syntax for type interval: \"{text}\""
                        )))
                    })?;
                    ScalarValue::new_interval_mdn(iv.months, iv.days, iv.nanos)
                }
            };
            Ok((i, value))
        })
        .collect::<PgWireResult<_>>()?;
    if ours.is_empty() {
        return arrow_pg::datatypes::df::deserialize_parameters_with_server_types(
            portal, &inferred, &declared,
        );
    }
    // The others through arrow-pg, ours left NULL there, without the type the client
    // declared (arrow-pg refuses a `uuid` even when NULL), and filled in after.
    let mut client_types = portal.statement.parameter_types.clone();
    for (i, _) in &ours {
        if let Some(slot) = client_types.get_mut(*i) {
            *slot = None;
        }
    }
    let statement = pgwire::api::stmt::StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        client_types,
    );
    let mut rest = Portal::new_cursor(portal.name.clone(), std::sync::Arc::new(statement));
    rest.parameter_format = portal.parameter_format.clone();
    rest.parameters = portal.parameters.clone();
    rest.result_column_format = portal.result_column_format.clone();
    let mut declared_rest = declared.clone();
    for (i, _) in &ours {
        rest.parameters[*i] = None;
        if let Some(slot) = declared_rest.get_mut(*i) {
            *slot = None;
        }
    }
    let decoded = arrow_pg::datatypes::df::deserialize_parameters_with_server_types(
        &rest,
        &inferred,
        &declared_rest,
    )?;
    let ParamValues::List(mut values) = decoded else {
        return Ok(decoded);
    };
    for (i, v) in ours {
        if let Some(slot) = values.get_mut(i) {
            *slot = v.into();
        }
    }
    Ok(ParamValues::List(values))
}
