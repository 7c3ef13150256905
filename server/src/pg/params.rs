//! Bound parameters to values. `arrow-pg` decodes most types; text-format intervals are
//! read here with PostgreSQL's interval syntax ([`strata_query::pgvalue::interval_in`]),
//! which drivers use freely (pg8000 sends `1 days 7200 seconds 0 microseconds`) and
//! `arrow-pg`'s parser refuses.

use arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::portal::Portal;
use pgwire::api::results::FieldFormat;
use pgwire::api::Type;
use pgwire::error::PgWireResult;
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
    let is_interval = |i: usize| match declared.get(i).copied().flatten() {
        Some(t) if *t != Type::UNKNOWN && t.oid() != 0 => *t == Type::INTERVAL,
        _ => matches!(
            inferred.get(i).copied().flatten(),
            Some(DataType::Interval(_))
        ),
    };
    let ours: Vec<(usize, ScalarValue)> = portal
        .parameters
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            portal.parameter_format.format_for(*i) == FieldFormat::Text && is_interval(*i)
        })
        .map(|(i, v)| {
            let value = match v {
                None => ScalarValue::IntervalMonthDayNano(None),
                Some(bytes) => {
                    let text = std::str::from_utf8(bytes).unwrap_or("");
                    let iv = strata_query::pgvalue::interval_in(text).ok_or_else(|| {
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
    // The others through arrow-pg, ours left NULL there and filled in after.
    let mut rest = Portal::new_cursor(
        portal.name.clone(),
        std::sync::Arc::clone(&portal.statement),
    );
    rest.parameter_format = portal.parameter_format.clone();
    rest.parameters = portal.parameters.clone();
    rest.result_column_format = portal.result_column_format.clone();
    for (i, _) in &ours {
        rest.parameters[*i] = None;
    }
    let decoded = arrow_pg::datatypes::df::deserialize_parameters_with_server_types(
        &rest, &inferred, &declared,
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
