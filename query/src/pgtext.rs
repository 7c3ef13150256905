//! PostgreSQL's text output for floating-point values, which clients and tools compare
//! against: `20` (not `20.0`), `1e+20`, `1.5e-05`, `Infinity`, `NaN`.
//!
//! With `extra_float_digits` >= 1 (the default) Postgres prints the shortest string that
//! reads back as the same value, in exponent form when the decimal exponent is below -4 or
//! at least 15 (`double precision`) or 6 (`real`). With 0 or less it rounds to 15 (6)
//! significant digits plus the setting, `%g` style.
//!
//! Dates and timestamps print in the session's `DateStyle` ([`crate::datestyle`]; ISO:
//! `2024-01-01 00:00:00+00`, fraction only when non-zero, at most microseconds),
//! `timestamptz` in the session's `TimeZone`. Intervals, times and `bytea`
//! print as [`crate::pgvalue`] says, in the session's `IntervalStyle` and `bytea_output`.
//! [`column`] turns a whole column into that text: what the wire protocol sends for a
//! text-format column and what `COPY ... TO` writes.

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, IntervalMonthDayNanoType, IntervalUnit,
    Time64MicrosecondType, TimeUnit, TimestampNanosecondType,
};
use arrow::error::ArrowError;

use crate::datestyle::{DateStyle, Zone};
use crate::pgvalue::{self, IntervalStyle};

/// How a session prints values in text format: its `extra_float_digits`, `TimeZone`,
/// `DateStyle`, `IntervalStyle` and `bytea_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStyle {
    pub extra_float_digits: i32,
    pub time_zone: String,
    pub date_style: DateStyle,
    pub interval_style: IntervalStyle,
    /// `bytea_output = escape` (else hex).
    pub bytea_escape: bool,
}

impl Default for TextStyle {
    fn default() -> Self {
        TextStyle {
            extra_float_digits: 1,
            time_zone: "UTC".into(),
            date_style: DateStyle::default(),
            interval_style: IntervalStyle::Postgres,
            bytea_escape: false,
        }
    }
}

impl TextStyle {
    /// The style of a session with these parameters.
    pub fn of(settings: &crate::Settings) -> TextStyle {
        TextStyle {
            extra_float_digits: settings
                .get("extra_float_digits")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            time_zone: settings.time_zone().to_owned(),
            date_style: settings.date_style(),
            interval_style: settings
                .get("intervalstyle")
                .ok()
                .and_then(IntervalStyle::parse)
                .unwrap_or_default(),
            bytea_escape: settings
                .get("bytea_output")
                .is_ok_and(|v| v.eq_ignore_ascii_case("escape")),
        }
    }
}

/// True for the Arrow types whose values [`column`] prints differently from `arrow-pg`'s
/// text (booleans it prints as PostgreSQL does, `t`/`f`).
pub fn differs(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float32
            | DataType::Float64
            | DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Interval(_)
            | DataType::Time64(_)
            | DataType::Binary
            | DataType::LargeBinary
    )
}

/// PostgreSQL's text of every value of `a` (NULL stays NULL).
pub fn column(a: &ArrayRef, style: &TextStyle) -> Result<StringArray, ArrowError> {
    fn each<T: AsRef<str>>(
        n: usize,
        valid: impl Fn(usize) -> bool,
        f: impl Fn(usize) -> T,
    ) -> StringArray {
        let mut b = StringBuilder::with_capacity(n, 8 * n);
        for i in 0..n {
            if valid(i) {
                b.append_value(f(i));
            } else {
                b.append_null();
            }
        }
        b.finish()
    }
    let n = a.len();
    let valid = |i: usize| a.is_valid(i);
    Ok(match a.data_type() {
        DataType::Boolean => {
            let b = a.as_boolean();
            each(n, valid, |i| if b.value(i) { "t" } else { "f" })
        }
        DataType::Float64 => {
            let f = a.as_primitive::<Float64Type>();
            each(n, valid, |i| float8(f.value(i), style.extra_float_digits))
        }
        DataType::Float32 => {
            let f = a.as_primitive::<Float32Type>();
            each(n, valid, |i| float4(f.value(i), style.extra_float_digits))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            let t = a.as_primitive::<TimestampNanosecondType>();
            let d = style.date_style;
            match tz {
                Some(_) => {
                    let zone = Zone::resolve(&style.time_zone);
                    each(n, valid, |i| d.timestamptz(t.value(i), &zone))
                }
                None => each(n, valid, |i| d.timestamp(t.value(i))),
            }
        }
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>();
            each(n, valid, |i| style.date_style.date(days.value(i)))
        }
        DataType::Timestamp(_, tz) => {
            let ns = DataType::Timestamp(TimeUnit::Nanosecond, tz.clone());
            return column(&arrow::compute::cast(a, &ns)?, style);
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = a.as_primitive::<IntervalMonthDayNanoType>();
            each(n, valid, |i| {
                let x = v.value(i);
                pgvalue::interval_out(
                    pgvalue::Interval {
                        months: x.months,
                        days: x.days,
                        nanos: x.nanoseconds,
                    },
                    style.interval_style,
                )
            })
        }
        DataType::Interval(_) => {
            let mdn = DataType::Interval(IntervalUnit::MonthDayNano);
            return column(&arrow::compute::cast(a, &mdn)?, style);
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let t = a.as_primitive::<Time64MicrosecondType>();
            each(n, valid, |i| pgvalue::time_out(t.value(i)))
        }
        DataType::Time64(_) | DataType::Time32(_) => {
            let us = DataType::Time64(TimeUnit::Microsecond);
            return column(&arrow::compute::cast(a, &us)?, style);
        }
        DataType::Binary => {
            let b = a.as_binary::<i32>();
            each(n, valid, |i| {
                pgvalue::bytea_out(b.value(i), style.bytea_escape)
            })
        }
        DataType::LargeBinary => {
            let b = a.as_binary::<i64>();
            each(n, valid, |i| {
                pgvalue::bytea_out(b.value(i), style.bytea_escape)
            })
        }
        _ => {
            let options = arrow::util::display::FormatOptions::default();
            let fmt = arrow::util::display::ArrayFormatter::try_new(a.as_ref(), &options)?;
            each(n, valid, |i| fmt.value(i).to_string())
        }
    })
}

/// `int2vector` / `oidvector` text of each list of `a` (`pg_index.indkey`): the numbers,
/// space-separated.
pub fn vector(a: &ArrayRef) -> Result<StringArray, ArrowError> {
    let lists = a
        .as_list_opt::<i32>()
        .ok_or_else(|| ArrowError::CastError("a vector that is not a list".into()))?;
    Ok(lists
        .iter()
        .map(|l| {
            l.map(|l| {
                let text = arrow::compute::cast(&l, &DataType::Utf8)?;
                Ok::<_, ArrowError>(
                    text.as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or("0"))
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
            .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .collect())
}

/// `double precision` text.
pub fn float8(v: f64, extra_float_digits: i32) -> String {
    format_float(v, extra_float_digits, 15, |d| format!("{d:e}"))
}

/// `real` text.
pub fn float4(v: f32, extra_float_digits: i32) -> String {
    format_float(v as f64, extra_float_digits, 6, |_| format!("{v:e}"))
}

fn format_float(v: f64, extra: i32, dig: i32, shortest: impl Fn(f64) -> String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (negative, digits, exp) = if extra >= 1 {
        // Rust's `{:e}` is the shortest round-trip form: `d.ddde[-]x`.
        let s = shortest(v);
        decompose(&s)
    } else {
        let sig = (dig + extra).max(1) as usize;
        let s = format!("{:.*e}", sig - 1, v);
        let (n, d, e) = decompose(&s);
        (n, d.trim_end_matches('0').to_owned(), e)
    };
    let digits = if digits.is_empty() {
        "0".to_owned()
    } else {
        digits
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= dig {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `-1.2345e-7` into (negative, "12345", -7).
fn decompose(s: &str) -> (bool, String, i32) {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (negative, digits, exp.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_postgres_output() {
        let cases: &[(f64, &str)] = &[
            (20.0, "20"),
            (10.5, "10.5"),
            (0.1, "0.1"),
            (-2.25, "-2.25"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (0.0, "0"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (v, want) in cases {
            assert_eq!(float8(*v, 1), *want, "{v}");
        }
        assert!(float8(f64::NAN, 1) == "NaN");
        assert_eq!(float8(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(float4(1.5, 1), "1.5");
        assert_eq!(float4(1e6, 1), "1e+06");
        assert_eq!(float4(100000.0, 1), "100000");
        assert_eq!(float4(0.1, 1), "0.1");
    }

    #[test]
    fn timestamps_print_like_postgres() {
        let t = 1_704_067_200_000_000_000; // 2024-01-01 00:00:00 UTC
        let column_of = |a: ArrayRef, zone: &str| {
            let style = TextStyle {
                time_zone: zone.into(),
                ..TextStyle::default()
            };
            column(&a, &style).unwrap().value(0).to_owned()
        };
        let tz = |ns: i64, zone: &str| {
            column_of(
                std::sync::Arc::new(
                    arrow::array::TimestampNanosecondArray::from(vec![ns]).with_timezone("UTC"),
                ),
                zone,
            )
        };
        assert_eq!(tz(t, "UTC"), "2024-01-01 00:00:00+00");
        assert_eq!(tz(t + 1_500_000, "UTC"), "2024-01-01 00:00:00.0015+00");
        assert_eq!(tz(t, "Asia/Kolkata"), "2024-01-01 05:30:00+05:30");
        assert_eq!(tz(t, "America/New_York"), "2023-12-31 19:00:00-05");
        let plain = arrow::array::TimestampNanosecondArray::from(vec![t - 1_000]);
        assert_eq!(
            column_of(std::sync::Arc::new(plain), "UTC"),
            "2023-12-31 23:59:59.999999"
        );
        let date = arrow::array::Date32Array::from(vec![19_723]);
        assert_eq!(column_of(std::sync::Arc::new(date), "UTC"), "2024-01-01");
    }
}
