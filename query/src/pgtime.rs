//! Timestamp text input as PostgreSQL reads it.
//!
//! Arrow's string-to-timestamp cast wants seconds (`'2024-01-01 01:00'` fails) and reads a
//! value without an offset as UTC. PostgreSQL reads `YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]]`
//! followed by an optional zone (`Z`, `UTC`, `+05`, `+0530`, `-05:30`, or a zone name such
//! as `Europe/Berlin`), and a `timestamptz` without a zone in the session's `TimeZone`; a
//! `timestamp` ignores a zone. The per-session analyzer rule [`TextCasts`] replaces
//! each cast from text to a timestamp with [`parse`] under the session's `TimeZone` when the
//! statement runs. Bad text is 22007, as in PostgreSQL. The same rule makes a cast of a
//! timestamp to text PostgreSQL's text (`2024-01-01 01:00:00+00`, in the session's
//! `TimeZone`) rather than Arrow's ISO 8601.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use arrow::array::timezone::Tz;
use arrow::array::{ArrayRef, AsArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use parking_lot::RwLock;

use crate::datestyle::{date_fields, BadDate, DateStyle, Order};
use crate::error::QueryError;
use crate::pgtext::TextStyle;
use crate::settings::Settings;

/// Nanoseconds since the epoch of `text` as a `timestamptz` (`zone` for a value without
/// one), or as a `timestamp` when `zone` is `None` (a zone in the text is then ignored).
/// A numeric date such as `03/05/2024` is read in the `DateStyle` field order `order`.
pub fn parse(text: &str, zone: Option<&Tz>, order: Order) -> Option<i64> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("epoch") {
        return Some(0);
    }
    if let Some(ns) = special(t, zone) {
        return Some(ns);
    }
    if let Some(iso) = with_month_name(t) {
        return parse(&iso, zone, order);
    }
    let (date, rest) = t.split_at(t.find([' ', 'T', 't']).unwrap_or(t.len()));
    let date = date_fields(date, order).ok()?;
    let rest = rest.get(1..).unwrap_or("").trim_start();
    // The time: digits, colons and a fraction; what follows is the zone.
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (time, zone_text) = rest.split_at(end);
    let time = match time {
        "" => NaiveTime::MIN,
        t => parse_time(t)?,
    };
    let local = NaiveDateTime::new(date, time);
    let Some(default_zone) = zone else {
        return local.and_utc().timestamp_nanos_opt();
    };
    let zone_text = zone_text.trim();
    let instant = match zone_text {
        "" => default_zone.from_local_datetime(&local).earliest()?,
        z if z.eq_ignore_ascii_case("z")
            || z.eq_ignore_ascii_case("utc")
            || z.eq_ignore_ascii_case("gmt") =>
        {
            Tz::from_str("+00:00")
                .ok()?
                .from_local_datetime(&local)
                .earliest()?
        }
        z => zone_named(z)?.from_local_datetime(&local).earliest()?,
    };
    instant.naive_utc().and_utc().timestamp_nanos_opt()
}

/// `now`, `today`, `tomorrow` and `yesterday` (midnight in `zone`, the session's
/// `TimeZone`, for a `timestamptz`; in UTC for a `timestamp`).
fn special(t: &str, zone: Option<&Tz>) -> Option<i64> {
    let now = chrono::Utc::now();
    let days = match t.to_ascii_lowercase().as_str() {
        "now" => return now.timestamp_nanos_opt(),
        "today" => 0,
        "tomorrow" => 1,
        "yesterday" => -1,
        _ => return None,
    };
    let local_today = match zone {
        Some(z) => now.with_timezone(z).date_naive(),
        None => now.date_naive(),
    };
    let midnight = (local_today + chrono::Duration::days(days)).and_time(NaiveTime::MIN);
    match zone {
        Some(z) => z
            .from_local_datetime(&midnight)
            .earliest()?
            .timestamp_nanos_opt(),
        None => midnight.and_utc().timestamp_nanos_opt(),
    }
}

/// A date written with a month name (`Jan 1 2024`, `January 1, 2024 10:00`, `1 Jan 2024`,
/// `Mon Jan 01 10:00:00 2024 UTC`, `2024-Jan-01`, `01-Jan-2024`) as `2024-01-01 ...`, the
/// other words (time, zone) kept in order; `None` without a month name.
fn with_month_name(t: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let month_of = |w: &str| {
        let w = w.to_ascii_lowercase();
        let full = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        MONTHS
            .iter()
            .position(|m| w == *m)
            .or_else(|| full.iter().position(|m| w == *m))
            .or_else(|| (w == "sept").then_some(8))
    };
    let is_weekday = |w: &str| {
        let w = w.to_ascii_lowercase();
        w.len() >= 3 && WEEKDAYS.iter().any(|d| w.starts_with(d))
    };
    // Words: spaces and commas separate; `2024-Jan-01` splits on its dashes.
    let mut words: Vec<String> = Vec::new();
    for w in t.split([' ', ',']).filter(|w| !w.is_empty()) {
        let parts: Vec<&str> = w.split('-').collect();
        if parts.len() == 3 && parts.iter().any(|p| month_of(p).is_some()) {
            words.extend(parts.iter().map(|p| p.to_string()));
        } else {
            words.push(w.to_owned());
        }
    }
    let m = words.iter().position(|w| month_of(w).is_some())?;
    let month = month_of(&words[m])? + 1;
    let mut day = None;
    let mut year = None;
    let mut rest = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if i == m || (i < m && is_weekday(w)) || (i == 0 && is_weekday(w)) {
            continue;
        }
        let digits = w.bytes().all(|b| b.is_ascii_digit());
        if digits && w.len() <= 2 && day.is_none() {
            day = Some(w.parse::<u32>().ok()?);
        } else if digits && w.len() >= 3 && year.is_none() {
            year = Some(w.parse::<i32>().ok()?);
        } else {
            rest.push(w.as_str());
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month as u32, day?)?;
    let mut out = date.format("%Y-%m-%d").to_string();
    for w in rest {
        out.push(' ');
        out.push_str(w);
    }
    Some(out)
}

/// PostgreSQL's error for timestamp text it cannot read: 22008 when its date has a field
/// out of range in the field order `order` (`13/05/2024` in `MDY`), else 22007.
fn bad_text(text: &str, with_zone: bool, order: Order) -> QueryError {
    let type_name = if with_zone {
        "timestamp with time zone"
    } else {
        "timestamp without time zone"
    };
    let date = text.trim().split([' ', 'T']).next().unwrap_or("");
    bad_date(text, type_name, date_fields(date, order).err())
}

/// 22008 for [`BadDate::Range`], 22007 otherwise, in PostgreSQL's words.
fn bad_date(text: &str, type_name: &str, why: Option<BadDate>) -> QueryError {
    match why {
        Some(BadDate::Range) => QueryError::DatetimeOverflow(format!(
            "date/time field value out of range: \"{text}\" (perhaps you need a different \"datestyle\" setting)"
        )),
        _ => QueryError::InvalidDatetimeFormat(format!(
            "invalid input syntax for type {type_name}: \"{text}\""
        )),
    }
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (up to nanoseconds).
fn parse_time(t: &str) -> Option<NaiveTime> {
    let (hms, fraction) = match t.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, format!("{f:0<9}").parse::<u32>().ok()?)
        }
        Some(_) => return None,
        None => (t, 0),
    };
    let parts: Vec<u32> = hms
        .split(':')
        .map(|p| {
            (!p.is_empty() && p.len() <= 2)
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m] => NaiveTime::from_hms_nano_opt(*h, *m, 0, fraction),
        [h, m, s] => NaiveTime::from_hms_nano_opt(*h, *m, *s, fraction),
        _ => None,
    }
}

/// `+05`, `-0530`, `+05:30` or a zone name.
fn zone_named(z: &str) -> Option<Tz> {
    let b = z.as_bytes();
    if matches!(b.first(), Some(b'+' | b'-'))
        && b[1..].iter().all(|c| c.is_ascii_digit() || *c == b':')
    {
        let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            1 | 2 => (digits.as_str(), "00"),
            4 => digits.split_at(2),
            _ => return None,
        };
        return Tz::from_str(&format!("{}{h:0>2}:{m}", &z[..1])).ok();
    }
    Tz::from_str(z).ok()
}

/// `value` converted to the date or timestamp type `to` by [`parse`] or
/// [`crate::datestyle::date_in`] when it is text, under `zone` for a `timestamptz` and in
/// the field order `order`; `None` when either is not such a type (a plain cast applies
/// then).
pub fn cast_text(
    value: &ScalarValue,
    to: &DataType,
    zone: &str,
    order: Order,
) -> Option<Result<ScalarValue, QueryError>> {
    let (ScalarValue::Utf8(text) | ScalarValue::Utf8View(text) | ScalarValue::LargeUtf8(text)) =
        value
    else {
        return None;
    };
    if *to == DataType::Date32 {
        let Some(text) = text else {
            return Some(Ok(ScalarValue::Date32(None)));
        };
        return Some(
            crate::datestyle::date_in(text, order)
                .map(|d| ScalarValue::Date32(Some(d)))
                .map_err(|why| bad_date(text, "date", Some(why))),
        );
    }
    let DataType::Timestamp(_, target_zone) = to else {
        return None;
    };
    let Some(text) = text else {
        return Some(ScalarValue::try_from(to).map_err(QueryError::from));
    };
    let zone = match target_zone {
        Some(_) => Some(
            Tz::from_str(zone)
                .or_else(|_| Tz::from_str("+00:00"))
                .ok()?,
        ),
        None => None,
    };
    let Some(ns) = parse(text, zone.as_ref(), order) else {
        return Some(Err(bad_text(text, target_zone.is_some(), order)));
    };
    let parsed =
        ScalarValue::TimestampNanosecond(Some(ns), target_zone.as_ref().map(|_| "UTC".into()));
    Some(parsed.cast_to(to).map_err(QueryError::from))
}

/// Replaces casts between text and timestamps with [`parse`] and PostgreSQL's output under
/// the session's `TimeZone`, and those of intervals, times and `bytea` with
/// [`crate::pgvalue`]'s (in the session's `IntervalStyle` and `bytea_output`).
#[derive(Debug)]
pub struct TextCasts {
    settings: Arc<RwLock<Settings>>,
}

impl TextCasts {
    pub fn new(settings: Arc<RwLock<Settings>>) -> TextCasts {
        TextCasts { settings }
    }
}

impl AnalyzerRule for TextCasts {
    fn name(&self) -> &str {
        "strata_text_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        let style = crate::pgtext::TextStyle::of(&self.settings.read());
        crate::arithmetic::rewrite_expressions(plan, |e, schema| rewrite(e, schema, &style))
    }
}

fn rewrite(e: Expr, schema: &DFSchema, style: &TextStyle) -> DfResult<Transformed<Expr>> {
    let Expr::Cast(Cast { expr, field }) = &e else {
        return Ok(Transformed::no(e));
    };
    let data_type = field.data_type();
    let Ok(from) = expr.get_type(schema) else {
        return Ok(Transformed::no(e));
    };
    if let Some(replaced) = crate::pgvalue::casts::rewrite(expr, &from, data_type, style) {
        return Ok(Transformed::yes(replaced));
    }
    let is_text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    if is_text(data_type) {
        // Text output as PostgreSQL's in the session's `DateStyle` and `TimeZone`
        // (`2024-01-01 01:00:00+00`), not Arrow's ISO 8601.
        let style_name = lit(style.date_style.name());
        let args = match &from {
            DataType::Timestamp(_, from_zone) => {
                let ns = Expr::Cast(Cast::new(
                    expr.clone(),
                    DataType::Timestamp(TimeUnit::Nanosecond, from_zone.clone()),
                ));
                match from_zone {
                    Some(_) => vec![ns, style_name, lit(style.time_zone.as_str())],
                    None => vec![ns, style_name],
                }
            }
            DataType::Date32 => vec![expr.as_ref().clone(), style_name],
            _ => return Ok(Transformed::no(e)),
        };
        let text = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&OUTPUT), args));
        return Ok(Transformed::yes(if *data_type == DataType::Utf8 {
            text
        } else {
            Expr::Cast(Cast::new(Box::new(text), data_type.clone()))
        }));
    }
    if !is_text(&from) {
        return Ok(Transformed::no(e));
    }
    let order = lit(style.date_style.name());
    let (udf, args, produced) = match data_type {
        DataType::Date32 => (
            &DATE_IN,
            vec![expr.as_ref().clone(), order],
            DataType::Date32,
        ),
        DataType::Timestamp(_, target_zone) => {
            let (udf, args) = match target_zone {
                Some(_) => (
                    &TIMESTAMPTZ_IN,
                    vec![expr.as_ref().clone(), order, lit(style.time_zone.as_str())],
                ),
                None => (&TIMESTAMP_IN, vec![expr.as_ref().clone(), order]),
            };
            let produced = DataType::Timestamp(
                TimeUnit::Nanosecond,
                target_zone.as_ref().map(|_| "UTC".into()),
            );
            (udf, args, produced)
        }
        _ => return Ok(Transformed::no(e)),
    };
    let parsed = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(udf), args));
    Ok(Transformed::yes(if produced == *data_type {
        parsed
    } else {
        Expr::Cast(Cast::new(Box::new(parsed), data_type.clone()))
    }))
}

/// The `DateStyle` named by a UDF's literal argument `i` (the default if there is none).
fn style_arg(args: &ScalarFunctionArgs, i: usize) -> DateStyle {
    match args.args.get(i) {
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))) => DateStyle::parse(s),
        _ => DateStyle::default(),
    }
}

static OUTPUT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(Output {
        signature: Signature::variadic_any(Volatility::Immutable),
    }))
});

/// `datetime_out(value, datestyle [, zone])`: a date or a nanosecond timestamp as
/// PostgreSQL's text in `datestyle` (the setting's value), a `timestamptz` in `zone` (the
/// session's `TimeZone`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Output {
    signature: Signature,
}

impl ScalarUDFImpl for Output {
    fn name(&self) -> &str {
        "strata_datetime_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let style = TextStyle {
            date_style: style_arg(&args, 1),
            time_zone: match args.args.get(2) {
                Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)))) => z.clone(),
                _ => "UTC".into(),
            },
            ..TextStyle::default()
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].clone().into_array(args.number_rows.max(1))?;
        let text = crate::pgtext::column(&values, &style)?;
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(text))
    }
}

static TIMESTAMPTZ_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Target::Timestamptz));
static TIMESTAMP_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Target::Timestamp));
static DATE_IN: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Target::Date));

/// What an [`Input`] reads text as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Timestamptz,
    Timestamp,
    Date,
}

/// `timestamptz_in(text, datestyle, zone)`, `timestamp_in(text, datestyle)` or
/// `date_in(text, datestyle)`: text read as PostgreSQL reads it, numeric dates in the field
/// order of `datestyle` (the setting's value).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Input {
    target: Target,
    signature: Signature,
}

impl Input {
    fn udf(target: Target) -> Arc<ScalarUDF> {
        let arity = if target == Target::Timestamptz { 3 } else { 2 };
        Arc::new(ScalarUDF::new_from_impl(Input {
            target,
            signature: Signature::any(arity, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for Input {
    fn name(&self) -> &str {
        match self.target {
            Target::Timestamptz => "strata_timestamptz_in",
            Target::Timestamp => "strata_timestamp_in",
            Target::Date => "strata_date_in",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(match self.target {
            Target::Timestamptz => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            Target::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            Target::Date => DataType::Date32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let order = style_arg(&args, 1).order;
        let zone = match args.args.get(2) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)))) => Some(
                Tz::from_str(z)
                    .or_else(|_| Tz::from_str("+00:00"))
                    .map_err(|e| QueryError::InvalidParameterValue(e.to_string()))?,
            ),
            _ => None,
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let text: ArrayRef = args.args[0].clone().into_array(args.number_rows.max(1))?;
        let text = arrow::compute::cast(&text, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let array: ArrayRef = if self.target == Target::Date {
            let days = text
                .iter()
                .map(|v| match v {
                    None => Ok(None),
                    Some(s) => crate::datestyle::date_in(s, order)
                        .map(Some)
                        .map_err(|why| bad_date(s, "date", Some(why))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(arrow::array::Date32Array::from(days))
        } else {
            let with_zone = self.target == Target::Timestamptz;
            let values = text
                .iter()
                .map(|v| match v {
                    None => Ok(None),
                    Some(s) => parse(s, zone.as_ref(), order)
                        .map(Some)
                        .ok_or_else(|| bad_text(s, with_zone, order)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(
                TimestampNanosecondArray::from(values)
                    .with_timezone_opt(with_zone.then_some("UTC")),
            )
        };
        crate::arithmetic::shaped_like_inputs(scalar, array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Option<i64> {
        parse(s, Some(&Tz::from_str("+00:00").unwrap()), Order::Mdy)
    }

    #[test]
    fn reads_postgres_timestamp_forms() {
        let h1 = 1_704_070_800_000_000_000; // 2024-01-01 01:00:00 UTC
        assert_eq!(utc("2024-01-01 01:00"), Some(h1));
        assert_eq!(utc("2024-01-01T01:00:00Z"), Some(h1));
        assert_eq!(utc("2024-01-01 01:00:00+00"), Some(h1));
        assert_eq!(utc("2024-01-01 02:00:00+01"), Some(h1));
        assert_eq!(utc("2024-01-01 06:30:00+0530"), Some(h1));
        assert_eq!(utc("2023-12-31 20:00:00-05:00"), Some(h1));
        assert_eq!(utc("2024-01-01 01:00:00 UTC"), Some(h1));
        assert_eq!(utc("2024-01-01 02:00 Europe/Berlin"), Some(h1));
        assert_eq!(utc("2024-01-01 01:00:00.5"), Some(h1 + 500_000_000));
        assert_eq!(utc("2024-01-01 01:00:00.123456789"), Some(h1 + 123_456_789));
        assert_eq!(utc("2024-01-01"), Some(h1 - 3_600_000_000_000));
        assert_eq!(utc("epoch"), Some(0));
        // Month names, in PostgreSQL's orders.
        assert_eq!(utc("Jan 1 2024 01:00"), Some(h1));
        assert_eq!(utc("January 1, 2024 01:00:00"), Some(h1));
        assert_eq!(utc("1 Jan 2024 01:00"), Some(h1));
        assert_eq!(utc("Mon Jan 01 01:00:00 2024 UTC"), Some(h1));
        assert_eq!(utc("2024-Jan-01 01:00"), Some(h1));
        assert_eq!(utc("01-jan-2024 02:00+01"), Some(h1));
        // `today` is midnight; `now` is close to the clock.
        let day = 86_400_000_000_000;
        let today = utc("today").unwrap();
        assert_eq!(today % day, 0);
        assert_eq!(utc("tomorrow").unwrap() - today, day);
        assert_eq!(today - utc("yesterday").unwrap(), day);
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        assert!((utc("now").unwrap() - now).abs() < 60 * 1_000_000_000);
        let berlin = Tz::from_str("Europe/Berlin").unwrap();
        assert_eq!(
            parse("2024-01-01 02:00", Some(&berlin), Order::Mdy),
            Some(h1)
        );
        // A timestamp ignores the zone.
        assert_eq!(parse("2024-01-01 01:00:00+05", None, Order::Mdy), Some(h1));
        for bad in [
            "2024-13-01",
            "2024-01-01 25:00",
            "not a date",
            "2024-01-01 01:00 Mars/Base",
            "2024-01-01 1:2:3:4",
            "",
        ] {
            assert_eq!(utc(bad), None, "{bad}");
        }
    }
}
