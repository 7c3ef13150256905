//! PostgreSQL's text input and output of `interval`, `time` and `bytea`, the types whose
//! text Arrow spells differently (`1 days 2 hours` for `1 day 02:00:00`, the raw bytes of
//! `'\x01'`), written after PostgreSQL's `interval_in`/`EncodeInterval`, `time_in`/`time_out`
//! and `byteain`/`byteaout` (src/backend/utils/adt/{datetime,date,varlena}.c).
//!
//! Intervals are Arrow's month-day-nanosecond triple; PostgreSQL keeps microseconds, so input
//! is rounded to microseconds and output prints at most six fractional digits.

use std::fmt::Write;

use crate::error::QueryError;

/// Nanoseconds per microsecond, second, minute, hour and day.
const US: i64 = 1_000;
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// An interval as Arrow keeps it: months, days and nanoseconds, each with its own sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub nanos: i64,
}

/// How intervals print (`IntervalStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalStyle {
    #[default]
    Postgres,
    PostgresVerbose,
    SqlStandard,
    Iso8601,
}

impl IntervalStyle {
    /// The style a setting value names (`postgres`, `postgres_verbose`, `sql_standard`,
    /// `iso_8601`), case-insensitively.
    pub fn parse(s: &str) -> Option<IntervalStyle> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "postgres" => IntervalStyle::Postgres,
            "postgres_verbose" => IntervalStyle::PostgresVerbose,
            "sql_standard" => IntervalStyle::SqlStandard,
            "iso_8601" => IntervalStyle::Iso8601,
            _ => return None,
        })
    }

    /// The setting's value for this style.
    pub fn name(self) -> &'static str {
        match self {
            IntervalStyle::Postgres => "postgres",
            IntervalStyle::PostgresVerbose => "postgres_verbose",
            IntervalStyle::SqlStandard => "sql_standard",
            IntervalStyle::Iso8601 => "iso_8601",
        }
    }
}

/// `interval` text input: PostgreSQL's `1 year 2 mons 3 days 04:05:06.5`, `-1 days +02:00`,
/// units with or without a space (`3h`, `90 min`, `1.5 days`), `@ ... ago`, a bare number
/// (seconds) and ISO 8601 (`P1Y2M3DT4H5M6.5S`). `None` if the text is not an interval.
pub fn interval_in(text: &str) -> Option<Interval> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let mut acc = Acc::default();
    if let Some(iso) = t.strip_prefix(['P', 'p']) {
        iso_8601(iso, &mut acc)?;
    } else {
        postgres_interval(t, &mut acc)?;
    }
    acc.finish()
}

/// Months, days and nanoseconds, summed wide so that overflow is detected at the end.
#[derive(Default)]
struct Acc {
    months: f64,
    days: f64,
    nanos: f64,
}

impl Acc {
    /// Adds `n` of `unit` (a unit spelling PostgreSQL accepts); `None` for an unknown unit.
    fn add(&mut self, n: f64, unit: &str) -> Option<()> {
        let u = unit.to_ascii_lowercase();
        match u.as_str() {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => {
                self.nanos += n * US as f64
            }
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => {
                self.nanos += n * 1_000_000.0
            }
            "second" | "seconds" | "s" | "sec" | "secs" => self.nanos += n * SEC as f64,
            "minute" | "minutes" | "m" | "min" | "mins" => self.nanos += n * MIN as f64,
            "hour" | "hours" | "h" | "hr" | "hrs" => self.nanos += n * HOUR as f64,
            "day" | "days" | "d" => self.spill_days(n),
            "week" | "weeks" | "w" => self.spill_days(n * 7.0),
            "month" | "months" | "mon" | "mons" => self.spill_months(n),
            "year" | "years" | "y" | "yr" | "yrs" => self.spill_months(n * 12.0),
            "decade" | "decades" | "dec" | "decs" => self.spill_months(n * 120.0),
            "century" | "centuries" | "c" | "cent" => self.spill_months(n * 1200.0),
            "millennium" | "millennia" | "mil" | "mils" => self.spill_months(n * 12000.0),
            _ => return None,
        }
        Some(())
    }

    /// Whole days to days, the fraction to time (as PostgreSQL's `AdjustFractDays`).
    fn spill_days(&mut self, n: f64) {
        let whole = n.trunc();
        self.days += whole;
        self.nanos += (n - whole) * DAY as f64;
    }

    /// Whole months to months, the fraction to 30-day months (`AdjustFractMons`).
    fn spill_months(&mut self, n: f64) {
        let whole = n.trunc();
        self.months += whole;
        self.spill_days((n - whole) * 30.0);
    }

    fn negate(&mut self) {
        self.months = -self.months;
        self.days = -self.days;
        self.nanos = -self.nanos;
    }

    fn finish(self) -> Option<Interval> {
        let fits = |v: f64, max: f64| v.is_finite() && v.abs() <= max;
        let nanos = (self.nanos / US as f64).round() * US as f64;
        if !fits(self.months, i32::MAX as f64)
            || !fits(self.days, i32::MAX as f64)
            || !fits(nanos, i64::MAX as f64 / 2.0)
        {
            return None;
        }
        Some(Interval {
            months: self.months as i32,
            days: self.days as i32,
            nanos: nanos as i64,
        })
    }
}

/// The words of PostgreSQL's interval syntax.
fn postgres_interval(t: &str, acc: &mut Acc) -> Option<()> {
    let mut words: Vec<&str> = t.split_whitespace().collect();
    if words.first() == Some(&"@") {
        words.remove(0);
    } else if let Some(w) = words.first_mut() {
        if let Some(rest) = w.strip_prefix('@') {
            *w = rest;
        }
    }
    let ago = words.last().is_some_and(|w| w.eq_ignore_ascii_case("ago"));
    if ago {
        words.pop();
    }
    if words.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        i += 1;
        if w.contains(':') {
            acc.nanos += clock(w)? as f64;
            continue;
        }
        // A number, then its unit: attached (`3h`) or the next word; none means seconds
        // when it is the last word.
        let split = w
            .char_indices()
            .find(|&(k, c)| k > 0 && c.is_ascii_alphabetic())
            .map_or(w.len(), |(k, _)| k);
        let (num, unit) = w.split_at(split);
        let n: f64 = num.parse().ok().filter(|n: &f64| n.is_finite())?;
        let unit = if !unit.is_empty() {
            unit
        } else if i < words.len() && words[i].starts_with(|c: char| c.is_ascii_alphabetic()) {
            i += 1;
            words[i - 1]
        } else if i == words.len() {
            "seconds"
        } else {
            return None;
        };
        acc.add(n, unit)?;
    }
    if ago {
        acc.negate();
    }
    Some(())
}

/// `[-]h:mm[:ss[.frac]]` (or `mm:ss.frac`) in nanoseconds.
fn clock(w: &str) -> Option<i64> {
    let (negative, w) = match w.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let parts: Vec<&str> = w.split(':').collect();
    let int = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let nanos = match parts.as_slice() {
        // `1:30.5` is minutes and seconds, `1:30` hours and minutes.
        [m, s] if s.contains('.') => int(m)? * MIN + seconds(s)?,
        [h, m] => int(h)? * HOUR + int(m)? * MIN,
        [h, m, s] => int(h)?.checked_mul(HOUR)? + int(m)? * MIN + seconds(s)?,
        _ => return None,
    };
    Some(if negative { -nanos } else { nanos })
}

/// `ss[.frac]` in nanoseconds (rounded to microseconds).
fn seconds(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_ns = if frac.is_empty() {
        0
    } else {
        let f: f64 = format!("0.{frac}").parse().ok()?;
        ((f * 1e6).round() as i64) * US
    };
    Some(whole.checked_mul(SEC)? + frac_ns)
}

/// ISO 8601 after the `P`: `1Y2M3DT4H5M6.5S` (also `W` for weeks).
fn iso_8601(s: &str, acc: &mut Acc) -> Option<()> {
    let (date, time) = match s.find(['T', 't']) {
        Some(k) => (&s[..k], Some(&s[k + 1..])),
        None => (s, None),
    };
    let fields = |part: &str, units: &dyn Fn(char) -> Option<&'static str>, acc: &mut Acc| {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
                num.push(c);
            } else {
                let n: f64 = num.parse().ok()?;
                acc.add(n, units(c.to_ascii_uppercase())?)?;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    fields(
        date,
        &|c| match c {
            'Y' => Some("years"),
            'M' => Some("months"),
            'W' => Some("weeks"),
            'D' => Some("days"),
            _ => None,
        },
        acc,
    )?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        fields(
            time,
            &|c| match c {
                'H' => Some("hours"),
                'M' => Some("minutes"),
                'S' => Some("seconds"),
                _ => None,
            },
            acc,
        )?;
    }
    Some(())
}

/// `interval` text output in `style`, as PostgreSQL's `EncodeInterval`.
pub fn interval_out(v: Interval, style: IntervalStyle) -> String {
    let year = v.months / 12;
    let mon = v.months % 12;
    let mday = i64::from(v.days);
    // Microseconds, truncated toward zero as PostgreSQL keeps them.
    let time = v.nanos / US;
    let hour = time / 3_600_000_000;
    let min = (time / 60_000_000) % 60;
    let sec = (time / 1_000_000) % 60;
    let fsec = time % 1_000_000;
    let mut out = String::new();
    match style {
        IntervalStyle::Postgres => {
            let (mut is_zero, mut is_before) = (true, false);
            for (value, unit) in [
                (i64::from(year), "year"),
                (i64::from(mon), "mon"),
                (mday, "day"),
            ] {
                if value == 0 {
                    continue;
                }
                let _ = write!(
                    out,
                    "{}{}{value} {unit}{}",
                    if is_zero { "" } else { " " },
                    if is_before && value > 0 { "+" } else { "" },
                    if value != 1 { "s" } else { "" }
                );
                is_before = value < 0;
                is_zero = false;
            }
            if is_zero || time != 0 {
                let minus = hour < 0 || min < 0 || sec < 0 || fsec < 0;
                let _ = write!(
                    out,
                    "{}{}{:02}:{:02}:",
                    if is_zero { "" } else { " " },
                    if minus {
                        "-"
                    } else if is_before {
                        "+"
                    } else {
                        ""
                    },
                    hour.abs(),
                    min.abs()
                );
                append_seconds(&mut out, sec, fsec, true);
            }
        }
        IntervalStyle::PostgresVerbose => {
            out.push('@');
            let (mut is_zero, mut is_before) = (true, false);
            for (value, unit) in [
                (i64::from(year), "year"),
                (i64::from(mon), "mon"),
                (mday, "day"),
                (hour, "hour"),
                (min, "min"),
            ] {
                if value == 0 {
                    continue;
                }
                let mut value = value;
                if is_zero {
                    is_before = value < 0;
                    value = value.abs();
                } else if is_before {
                    value = -value;
                }
                let _ = write!(out, " {value} {unit}{}", if value == 1 { "" } else { "s" });
                is_zero = false;
            }
            if sec != 0 || fsec != 0 {
                out.push(' ');
                if sec < 0 || (sec == 0 && fsec < 0) {
                    if is_zero {
                        is_before = true;
                    } else if !is_before {
                        out.push('-');
                    }
                } else if is_before {
                    out.push('-');
                }
                append_seconds(&mut out, sec, fsec, false);
                let plural = sec.abs() != 1 || fsec != 0;
                let _ = write!(out, " sec{}", if plural { "s" } else { "" });
                is_zero = false;
            }
            if is_zero {
                out.push_str(" 0");
            }
            if is_before {
                out.push_str(" ago");
            }
        }
        IntervalStyle::SqlStandard => {
            let (mut year, mut mon, mut mday) = (i64::from(year), i64::from(mon), mday);
            let (mut hour, mut min, mut sec, mut fsec) = (hour, min, sec, fsec);
            let all = [year, mon, mday, hour, min, sec, fsec];
            let has_negative = all.iter().any(|&x| x < 0);
            let has_positive = all.iter().any(|&x| x > 0);
            let has_year_month = year != 0 || mon != 0;
            let has_day_time = mday != 0 || time != 0;
            // PostgreSQL's `sql_standard_value`: one sign, and not both year-month and day-time.
            let standard = !(has_negative && has_positive || has_year_month && has_day_time);
            if has_negative && standard {
                out.push('-');
                year = -year;
                mon = -mon;
                mday = -mday;
                hour = -hour;
                min = -min;
                sec = -sec;
                fsec = -fsec;
            }
            if !has_negative && !has_positive {
                out.push('0');
            } else if !standard {
                let year_sign = if year < 0 || mon < 0 { '-' } else { '+' };
                let day_sign = if mday < 0 { '-' } else { '+' };
                let sec_sign = if hour < 0 || min < 0 || sec < 0 || fsec < 0 {
                    '-'
                } else {
                    '+'
                };
                let _ = write!(
                    out,
                    "{year_sign}{}-{} {day_sign}{} {sec_sign}{}:{:02}:",
                    year.abs(),
                    mon.abs(),
                    mday.abs(),
                    hour.abs(),
                    min.abs()
                );
                append_seconds(&mut out, sec, fsec, true);
            } else if has_year_month {
                let _ = write!(out, "{year}-{mon}");
            } else if mday != 0 {
                let _ = write!(out, "{mday} {hour}:{:02}:", min.abs());
                append_seconds(&mut out, sec, fsec, true);
            } else {
                let _ = write!(out, "{hour}:{:02}:", min.abs());
                append_seconds(&mut out, sec, fsec, true);
            }
        }
        IntervalStyle::Iso8601 => {
            if year == 0 && mon == 0 && mday == 0 && time == 0 {
                return "PT0S".into();
            }
            out.push('P');
            for (value, unit) in [(i64::from(year), 'Y'), (i64::from(mon), 'M'), (mday, 'D')] {
                if value != 0 {
                    let _ = write!(out, "{value}{unit}");
                }
            }
            if time != 0 {
                out.push('T');
            }
            for (value, unit) in [(hour, 'H'), (min, 'M')] {
                if value != 0 {
                    let _ = write!(out, "{value}{unit}");
                }
            }
            if sec != 0 || fsec != 0 {
                if sec < 0 || fsec < 0 {
                    out.push('-');
                }
                append_seconds(&mut out, sec, fsec, false);
                out.push('S');
            }
        }
    }
    out
}

/// Seconds and microseconds without sign, the fraction without trailing zeros
/// (PostgreSQL's `AppendSeconds`); `fill` pads the seconds to two digits.
fn append_seconds(out: &mut String, sec: i64, fsec: i64, fill: bool) {
    if fill {
        let _ = write!(out, "{:02}", sec.abs());
    } else {
        let _ = write!(out, "{}", sec.abs());
    }
    if fsec != 0 {
        let frac = format!("{:06}", fsec.abs());
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// `interval * factor` as PostgreSQL's `interval_mul`: each field scaled, a month's
/// fraction cascading into days (30 per month) and a day's into time; `None` if a field
/// overflows.
pub fn interval_mul(v: Interval, factor: f64) -> Option<Interval> {
    let round_us = |x: f64| (x * 1e6).round() / 1e6;
    let orig_month = f64::from(v.months) * factor;
    let orig_day = f64::from(v.days) * factor;
    let fits = |x: f64| x.is_finite() && x.abs() < f64::from(i32::MAX);
    if !fits(orig_month) || !fits(orig_day) {
        return None;
    }
    let month = orig_month.trunc();
    let mut day = orig_day.trunc();
    let month_remainder_days = round_us((orig_month - month) * 30.0);
    let mut sec_remainder =
        round_us((orig_day - day + month_remainder_days - month_remainder_days.trunc()) * 86_400.0);
    if sec_remainder.abs() >= 86_400.0 {
        let whole = (sec_remainder / 86_400.0).trunc();
        day += whole;
        sec_remainder -= whole * 86_400.0;
    }
    day += month_remainder_days.trunc();
    let us = ((v.nanos / US) as f64 * factor + sec_remainder * 1e6).round();
    if !fits(day) || !us.is_finite() || us.abs() > (i64::MAX / 1_000) as f64 {
        return None;
    }
    Some(Interval {
        months: month as i32,
        days: day as i32,
        nanos: us as i64 * US,
    })
}

/// PostgreSQL's binary `interval`: i64 microseconds, i32 days, i32 months, big-endian.
pub fn interval_binary(months: i32, days: i32, nanos: i64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(nanos / US).to_be_bytes());
    b[8..12].copy_from_slice(&days.to_be_bytes());
    b[12..].copy_from_slice(&months.to_be_bytes());
    b
}

/// `time` text input: `hh:mm[:ss[.frac]]` with an optional `am`/`pm`, `24:00:00`, or
/// `allballs`; microseconds since midnight. Errors as PostgreSQL's: 22007 for text that is
/// not a time, 22008 for fields out of range.
pub fn time_in(text: &str) -> Result<i64, QueryError> {
    let syntax = || {
        QueryError::InvalidDatetimeFormat(format!("invalid input syntax for type time: \"{text}\""))
    };
    let range =
        || QueryError::DatetimeOverflow(format!("date/time field value out of range: \"{text}\""));
    let (h, m, s_ns) = time_fields(text).ok_or_else(syntax)?;
    // PostgreSQL takes a 60th second (`12:00:60` is 12:01:00).
    if h > 24 || m > 59 || s_ns >= 61 * SEC {
        return Err(range());
    }
    let us = h * 3_600_000_000 + m * 60_000_000 + s_ns / US;
    if us > 86_400_000_000 {
        return Err(range());
    }
    Ok(us)
}

/// Hours, minutes and nanoseconds of a time's text, unchecked.
fn time_fields(text: &str) -> Option<(i64, i64, i64)> {
    let t = text.trim().to_ascii_lowercase();
    if t == "allballs" {
        return Some((0, 0, 0));
    }
    let (clock_text, meridiem) = match t.strip_suffix("am").or_else(|| t.strip_suffix("a.m.")) {
        Some(rest) => (rest.trim_end(), Some(false)),
        None => match t.strip_suffix("pm").or_else(|| t.strip_suffix("p.m.")) {
            Some(rest) => (rest.trim_end(), Some(true)),
            None => (t.as_str(), None),
        },
    };
    let parts: Vec<&str> = clock_text.split(':').collect();
    let int = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (mut h, m, s_ns) = match parts.as_slice() {
        [h, m] => (int(h)?, int(m)?, 0),
        [h, m, s] => (int(h)?, int(m)?, seconds(s)?),
        _ => return None,
    };
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&h) {
            return None;
        }
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    Some((h, m, s_ns))
}

/// `time` text output: `hh:mm:ss[.frac]`.
pub fn time_out(us: i64) -> String {
    let mut out = format!("{:02}:{:02}:", us / 3_600_000_000, (us / 60_000_000) % 60);
    append_seconds(&mut out, (us / 1_000_000) % 60, us % 1_000_000, true);
    out
}

/// `uuid` text input as PostgreSQL reads it: 32 hex digits, optionally in braces, with
/// hyphens between groups of four (`a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`,
/// `{A0EEBC999C0B4EF8BB6D6BB9BD380A11}`); the canonical lower-case hyphenated text, or
/// 22P02.
pub fn uuid_in(text: &str) -> Result<[u8; 16], QueryError> {
    let bad = || QueryError::InvalidText(format!("invalid input syntax for type uuid: \"{text}\""));
    let t = text.trim();
    let t = match t.strip_prefix('{') {
        Some(inner) => inner.strip_suffix('}').ok_or_else(bad)?,
        None => t,
    };
    let mut out = [0u8; 16];
    let mut digits = 0;
    let mut prev_hyphen = true;
    for c in t.chars() {
        if c == '-' {
            // Hyphens only after a group of four digits, never doubled or at the end.
            if prev_hyphen || digits % 4 != 0 {
                return Err(bad());
            }
            prev_hyphen = true;
            continue;
        }
        let d = c.to_digit(16).ok_or_else(bad)? as u8;
        if digits == 32 {
            return Err(bad());
        }
        out[digits / 2] |= if digits % 2 == 0 { d << 4 } else { d };
        digits += 1;
        prev_hyphen = false;
    }
    if digits != 32 || prev_hyphen {
        return Err(bad());
    }
    Ok(out)
}

/// `uuid` text output: lower-case, hyphenated 8-4-4-4-12.
pub fn uuid_out(v: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in v.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `bytea` text input: hex (`\x0102ff`, whitespace between digit pairs allowed) or the
/// escape format (`\\` for a backslash, `\ooo` octal, any other byte as itself). Errors
/// are PostgreSQL's: 22023 for bad hex, 22P02 for a bad escape.
pub fn bytea_in(text: &str) -> Result<Vec<u8>, QueryError> {
    let b = text.as_bytes();
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let value = |c: u8| -> Result<u8, QueryError> {
            (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| {
                QueryError::InvalidParameterValue(format!(
                    "invalid hexadecimal digit: \"{}\"",
                    c as char
                ))
            })
        };
        if !digits.len().is_multiple_of(2) {
            return Err(QueryError::InvalidParameterValue(
                "invalid hexadecimal data: odd number of digits".into(),
            ));
        }
        return digits
            .chunks(2)
            .map(|p| Ok(value(p[0])? << 4 | value(p[1])?))
            .collect();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if let Some(oct) = b.get(i + 1..i + 4).filter(|o| {
            (b'0'..=b'3').contains(&o[0]) && o[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        }) {
            out.push((oct[0] - b'0') << 6 | (oct[1] - b'0') << 3 | (oct[2] - b'0'));
            i += 4;
        } else {
            return Err(QueryError::InvalidText(
                "invalid input syntax for type bytea".into(),
            ));
        }
    }
    Ok(out)
}

/// `bytea` text output: `\x` and hex digits (`bytea_output = hex`), or the escape format
/// (`escape`: printable ASCII as itself, a backslash doubled, other bytes `\ooo`).
pub fn bytea_out(v: &[u8], escape: bool) -> String {
    let mut out = String::with_capacity(2 + 2 * v.len());
    if escape {
        for &c in v {
            match c {
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(c as char),
                _ => {
                    let _ = write!(out, "\\{c:03o}");
                }
            }
        }
    } else {
        out.push_str("\\x");
        for &c in v {
            let _ = write!(out, "{c:02x}");
        }
    }
    out
}

pub mod arithmetic;
pub mod casts;
#[cfg(test)]
mod tests;
