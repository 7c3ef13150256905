//! `DateStyle`: how dates and timestamps print, and in which order the fields of a
//! numeric date are read, written after PostgreSQL's `EncodeDateOnly`/`EncodeDateTime`
//! and `DecodeDate` (src/backend/utils/adt/datetime.c).
//!
//! The setting has two parts, an output form and a field order (`ISO, MDY` by default):
//!
//! | form       | `date`        | `timestamp`                  | `timestamptz` adds   |
//! |------------|---------------|------------------------------|----------------------|
//! | `ISO`      | `2024-03-05`  | `2024-03-05 14:07:08.5`      | `+01` (offset)       |
//! | `SQL`      | `03/05/2024`  | `03/05/2024 14:07:08.5`      | ` CET` (abbreviation)|
//! | `Postgres` | `03-05-2024`  | `Tue Mar 05 14:07:08.5 2024` | ` CET`               |
//! | `German`   | `05.03.2024`  | `05.03.2024 14:07:08.5`      | ` CET`               |
//!
//! With `DMY` the `SQL` and `Postgres` forms put the day first (`05/03/2024`,
//! `Tue 05 Mar 14:07:08.5 2024`); `YMD` prints as `MDY`. On input the order decides how
//! `03/05/2024`, `03-05-24` and `03.05.2024` read; a first field of three or more digits is
//! always the year (`2024/03/05`), and `20240305` is `YYYYMMDD`. A two-digit year is
//! 1970-2069, as in PostgreSQL.

use arrow::array::timezone::Tz;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};

/// The output form of `DateStyle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    #[default]
    Iso,
    Sql,
    Postgres,
    German,
}

/// The field order of `DateStyle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Mdy,
    Dmy,
    Ymd,
}

/// A session's `DateStyle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateStyle {
    pub form: Form,
    pub order: Order,
}

/// Why date text does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadDate {
    /// Not a date's shape (22007).
    Syntax,
    /// A date's shape with a field out of range, such as month 13 (22008).
    Range,
}

impl DateStyle {
    /// The style a `SET DateStyle = value` gives a session whose style is `current`: each
    /// comma-separated word sets the form or the order, a part not named is kept, and
    /// `German` alone also sets `DMY`, as in PostgreSQL. `None` for an unknown word or two
    /// words for one part.
    pub fn set(value: &str, current: DateStyle) -> Option<DateStyle> {
        let (mut form, mut order) = (None, None);
        for word in value.split([',', ' ']).filter(|w| !w.is_empty()) {
            let w = word.to_ascii_uppercase();
            let (f, o) = match w.as_str() {
                "ISO" => (Some(Form::Iso), None),
                "SQL" => (Some(Form::Sql), None),
                "POSTGRES" => (Some(Form::Postgres), None),
                "GERMAN" => (Some(Form::German), None),
                "MDY" | "US" | "NONEURO" | "NONEUROPEAN" => (None, Some(Order::Mdy)),
                "DMY" | "EURO" | "EUROPEAN" => (None, Some(Order::Dmy)),
                "YMD" => (None, Some(Order::Ymd)),
                "DEFAULT" => (Some(Form::Iso), Some(Order::Mdy)),
                _ => return None,
            };
            if (f.is_some() && form.is_some_and(|x| Some(x) != f))
                || (o.is_some() && order.is_some_and(|x| Some(x) != o))
            {
                return None;
            }
            form = f.or(form);
            order = o.or(order);
        }
        if form.is_none() && order.is_none() {
            return None;
        }
        let order = match (form, order) {
            (_, Some(o)) => o,
            (Some(Form::German), None) => Order::Dmy,
            (_, None) => current.order,
        };
        Some(DateStyle {
            form: form.unwrap_or(current.form),
            order,
        })
    }

    /// The style a setting's stored value names (the default for anything else).
    pub fn parse(setting: &str) -> DateStyle {
        DateStyle::set(setting, DateStyle::default()).unwrap_or_default()
    }

    /// The setting's value as `SHOW DateStyle` prints it: `ISO, MDY`.
    pub fn name(&self) -> String {
        let form = match self.form {
            Form::Iso => "ISO",
            Form::Sql => "SQL",
            Form::Postgres => "Postgres",
            Form::German => "German",
        };
        let order = match self.order {
            Order::Mdy => "MDY",
            Order::Dmy => "DMY",
            Order::Ymd => "YMD",
        };
        format!("{form}, {order}")
    }

    /// A date's text (`days` since 1970-01-01).
    pub fn date(&self, days: i32) -> String {
        match NaiveDate::from_num_days_from_ce_opt(days.saturating_add(UNIX_EPOCH_CE)) {
            Some(d) => {
                let mut s = String::with_capacity(14);
                self.push_date(&mut s, d);
                push_era(&mut s, d);
                s
            }
            // Beyond chrono's range, which is wider than PostgreSQL's date range.
            None => days.to_string(),
        }
    }

    /// A `timestamp`'s text (nanoseconds since the epoch, printed to microseconds).
    pub fn timestamp(&self, ns: i64) -> String {
        let t = chrono::DateTime::from_timestamp_nanos(ns).naive_utc();
        let mut s = String::with_capacity(32);
        self.push_date_time(&mut s, t, ns);
        s
    }

    /// A `timestamptz`'s text in the time zone `zone`, with the offset (`ISO`) or the
    /// zone's abbreviation.
    pub fn timestamptz(&self, ns: i64, zone: &Zone) -> String {
        let utc = chrono::DateTime::from_timestamp_nanos(ns).naive_utc();
        let iso = self.form == Form::Iso;
        let (local, offset_secs, abbreviation) = zone.local(utc, !iso);
        let mut s = String::with_capacity(40);
        self.push_date_time(&mut s, local, ns);
        if iso {
            let off = offset_secs.abs();
            s.push(if offset_secs < 0 { '-' } else { '+' });
            s.push_str(&format!("{:02}", off / 3600));
            if off % 3600 != 0 {
                s.push_str(&format!(":{:02}", (off % 3600) / 60));
            }
        } else {
            // PostgreSQL prints the zone after the year in the Postgres form too.
            s.push(' ');
            match abbreviation {
                Some(a) => s.push_str(&a),
                None => s.push_str(&numeric_abbreviation(offset_secs)),
            }
        }
        s
    }

    fn push_date(&self, s: &mut String, d: NaiveDate) {
        let (y, m, day) = (year_of_era(d), d.month(), d.day());
        match (self.form, self.order) {
            (Form::Iso, _) => s.push_str(&format!("{y:04}-{m:02}-{day:02}")),
            (Form::Sql, Order::Dmy) => s.push_str(&format!("{day:02}/{m:02}/{y:04}")),
            (Form::Sql, _) => s.push_str(&format!("{m:02}/{day:02}/{y:04}")),
            (Form::Postgres, Order::Dmy) => s.push_str(&format!("{day:02}-{m:02}-{y:04}")),
            (Form::Postgres, _) => s.push_str(&format!("{m:02}-{day:02}-{y:04}")),
            (Form::German, _) => s.push_str(&format!("{day:02}.{m:02}.{y:04}")),
        }
    }

    fn push_date_time(&self, s: &mut String, t: NaiveDateTime, ns: i64) {
        let clock = |s: &mut String| {
            s.push_str(&format!(
                "{:02}:{:02}:{:02}",
                t.hour(),
                t.minute(),
                t.second()
            ));
            push_fraction(s, ns);
        };
        if self.form == Form::Postgres {
            let d = t.date();
            let weekday = &WEEKDAYS[d.weekday().num_days_from_sunday() as usize];
            let month = &MONTHS[d.month0() as usize];
            if self.order == Order::Dmy {
                s.push_str(&format!("{weekday} {:02} {month} ", d.day()));
            } else {
                s.push_str(&format!("{weekday} {month} {:02} ", d.day()));
            }
            clock(s);
            s.push_str(&format!(" {:04}", year_of_era(d)));
        } else {
            self.push_date(s, t.date());
            s.push(' ');
            clock(s);
        }
        push_era(s, t.date());
    }
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_CE: i32 = 719_163;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The year as PostgreSQL prints it: 1 BC is year 1 with ` BC` after the value.
fn year_of_era(d: NaiveDate) -> i32 {
    if d.year() <= 0 {
        1 - d.year()
    } else {
        d.year()
    }
}

fn push_era(s: &mut String, d: NaiveDate) {
    if d.year() <= 0 {
        s.push_str(" BC");
    }
}

/// `.5`, `.123456`: the microseconds of `ns`, trailing zeros dropped, nothing for none.
fn push_fraction(s: &mut String, ns: i64) {
    let micros = ns.rem_euclid(1_000_000_000) / 1_000;
    if micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
}

/// A `TimeZone` setting resolved once, for printing many `timestamptz` values.
#[derive(Debug, Clone)]
pub enum Zone {
    Utc,
    /// A zone of the time zone database (`Europe/Berlin`).
    Named(chrono_tz::Tz),
    /// A fixed offset (`+05:30`).
    Fixed(Tz),
}

impl Zone {
    /// The zone `zone` names (an IANA name or an offset; UTC if it does not parse).
    pub fn resolve(zone: &str) -> Zone {
        if zone.eq_ignore_ascii_case("utc") {
            Zone::Utc
        } else if let Ok(named) = zone.parse::<chrono_tz::Tz>() {
            Zone::Named(named)
        } else {
            zone.parse::<Tz>().map_or(Zone::Utc, Zone::Fixed)
        }
    }

    /// `utc` as local time in this zone, its offset in seconds east of UTC, and, if
    /// `abbreviated`, the zone's abbreviation at that instant (`CET`, `EDT`, `UTC`; `None`
    /// where the time zone database has no letters, for [`numeric_abbreviation`]).
    fn local(&self, utc: NaiveDateTime, abbreviated: bool) -> (NaiveDateTime, i32, Option<String>) {
        use chrono_tz::OffsetName;
        match self {
            Zone::Utc => (utc, 0, abbreviated.then(|| "UTC".to_owned())),
            Zone::Named(named) => {
                let local = named.from_utc_datetime(&utc);
                let offset = local.offset().fix().local_minus_utc();
                let abbreviation = abbreviated
                    .then(|| local.offset().abbreviation().map(str::to_owned))
                    .flatten();
                (local.naive_local(), offset, abbreviation)
            }
            Zone::Fixed(fixed) => {
                let local = fixed.from_utc_datetime(&utc);
                (
                    local.naive_local(),
                    local.offset().fix().local_minus_utc(),
                    None,
                )
            }
        }
    }
}

/// `+04`, `-03`, `+0545`: the time zone database's spelling of a zone without letters.
fn numeric_abbreviation(offset_secs: i32) -> String {
    let off = offset_secs.abs();
    let sign = if offset_secs < 0 { '-' } else { '+' };
    match (off % 3600) / 60 {
        0 => format!("{sign}{:02}", off / 3600),
        m => format!("{sign}{:02}{m:02}", off / 3600),
    }
}

/// Reads the date of date or timestamp text: `2024-03-05`, `2024/3/5`, `20240305`, or
/// `03/05/2024`, `03-05-24`, `03.05.2024` in the field order `order`; a trailing ` BC`
/// is read by the caller. Month names are read by [`crate::pgtime`].
pub fn date_fields(text: &str, order: Order) -> Result<NaiveDate, BadDate> {
    let b = text.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let n = |r: std::ops::Range<usize>| text[r].parse::<u32>().map_err(|_| BadDate::Syntax);
        return ymd(n(0..4)? as i32, n(4..6)?, n(6..8)?);
    }
    let separator = b
        .iter()
        .find(|c| matches!(c, b'-' | b'/' | b'.'))
        .ok_or(BadDate::Syntax)?;
    let fields: Vec<&str> = text.split(*separator as char).collect();
    let [a, m, c] = fields.as_slice() else {
        return Err(BadDate::Syntax);
    };
    for f in [a, m, c] {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return Err(BadDate::Syntax);
        }
    }
    let n = |f: &str| f.parse::<u32>().map_err(|_| BadDate::Syntax);
    let year = |f: &str| -> Result<i32, BadDate> {
        let y = n(f)? as i32;
        Ok(if f.len() <= 2 {
            if y < 70 {
                2000 + y
            } else {
                1900 + y
            }
        } else {
            y
        })
    };
    if a.len() > 2 {
        return ymd(year(a)?, n(m)?, n(c)?);
    }
    match order {
        Order::Mdy => ymd(year(c)?, n(a)?, n(m)?),
        Order::Dmy => ymd(year(c)?, n(m)?, n(a)?),
        Order::Ymd => ymd(year(a)?, n(m)?, n(c)?),
    }
}

fn ymd(y: i32, m: u32, d: u32) -> Result<NaiveDate, BadDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or(BadDate::Range)
}

/// Date text as PostgreSQL's `date_in` reads it under `order` (besides the numeric forms
/// of [`date_fields`]: month names, `epoch`, `today`, `tomorrow`, `yesterday`, a time part
/// that is ignored, and ` BC`), as days since 1970-01-01.
pub fn date_in(text: &str, order: Order) -> Result<i32, BadDate> {
    let t = text.trim();
    let (t, bc) = match t
        .len()
        .checked_sub(3)
        .filter(|&i| t.is_char_boundary(i) && t[i..].eq_ignore_ascii_case(" bc"))
    {
        Some(i) => (t[..i].trim_end(), true),
        None => (t, false),
    };
    let first = t.split([' ', 'T']).next().unwrap_or("");
    let date = match date_fields(first, order) {
        Ok(d) => d,
        // `Jan 1 2024`, `today`, `2024-01-01 10:00`: read as a timestamp and keep the day.
        Err(BadDate::Syntax) => {
            let ns = crate::pgtime::parse(t, None, order).ok_or(BadDate::Syntax)?;
            chrono::DateTime::from_timestamp_nanos(ns).date_naive()
        }
        Err(e) => return Err(e),
    };
    let date = if bc {
        // Year n BC is chrono's year 1 - n.
        NaiveDate::from_ymd_opt(1 - date.year(), date.month(), date.day()).ok_or(BadDate::Range)?
    } else {
        date
    };
    Ok(date.num_days_from_ce() - UNIX_EPOCH_CE)
}

#[cfg(test)]
mod tests;
