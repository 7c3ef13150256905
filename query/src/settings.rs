//! Session parameters: `SET`, `SHOW`, `RESET` and `current_setting()`.
//!
//! The parameters Postgres drivers send or read are known here with their Postgres
//! defaults; a known parameter's value is validated where Strata acts on it
//! (`client_encoding`, `standard_conforming_strings`, `statement_timeout`,
//! `extra_float_digits`, `TimeZone`, `DateStyle`, `strata.pushdown`) and stored otherwise.
//! Unknown plain names are an error (42704), as in Postgres; names with a dot are custom
//! parameters and are accepted.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{QueryError, Result};

/// The server version reported to clients (`server_version`, `version()`). Drivers decide
/// which catalog queries to send from it, so it names the Postgres release whose catalog
/// and protocol behaviour Strata follows.
pub const SERVER_VERSION: &str = "16.4";

/// Known parameters and their defaults (lower-case names).
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("block_size", "8192"),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "on"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("max_function_args", "100"),
    ("max_identifier_length", "63"),
    ("max_index_keys", "32"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160004"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("strata.pushdown", "on"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// Parameters whose changes are reported to the client (ParameterStatus), as Postgres does.
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "standard_conforming_strings",
    "timezone",
    "integer_datetimes",
];

/// Read-only parameters.
const READ_ONLY: &[&str] = &[
    "block_size",
    "integer_datetimes",
    "is_superuser",
    "max_function_args",
    "max_identifier_length",
    "max_index_keys",
    "server_encoding",
    "server_version",
    "server_version_num",
];

/// The Postgres spelling of a parameter name, for `SHOW` column headers and
/// ParameterStatus messages.
pub fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "timezone" => "TimeZone",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

/// One session's parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            values: DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl Settings {
    /// The session's `TimeZone` (an IANA name or offset; `UTC` by default).
    pub fn time_zone(&self) -> &str {
        self.get("timezone").unwrap_or("UTC")
    }

    /// The session's `DateStyle`.
    pub fn date_style(&self) -> crate::datestyle::DateStyle {
        crate::datestyle::DateStyle::parse(self.get("datestyle").unwrap_or("ISO, MDY"))
    }

    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Result<&str> {
        let name = name.to_ascii_lowercase();
        self.values
            .get(&name)
            .map(String::as_str)
            .ok_or(QueryError::UnknownSetting(name))
    }

    /// A known parameter's default (`None` for custom ones).
    pub fn default_of(name: &str) -> Option<&'static str> {
        DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    /// True for parameters a session cannot change (`server_version`, ...).
    pub fn is_read_only(name: &str) -> bool {
        READ_ONLY.contains(&name)
    }

    /// Every parameter, sorted by name.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets a parameter, validating the values Strata acts on. Returns the stored value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<String> {
        let name = name.to_ascii_lowercase();
        let known = self.values.contains_key(&name);
        if !known && !name.contains('.') {
            return Err(QueryError::UnknownSetting(name));
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(QueryError::ReadOnlySetting(name));
        }
        let invalid = || QueryError::InvalidSetting {
            name: display_name(&name).to_owned(),
            value: value.to_owned(),
        };
        let stored = match name.as_str() {
            "client_encoding" => {
                // PostgreSQL compares encoding names by their letters and digits only
                // (asyncpg sends `'utf-8'`, quotes included).
                let letters: String = value
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                match letters.as_str() {
                    "utf8" | "unicode" => "UTF8".to_owned(),
                    _ => {
                        return Err(QueryError::Unsupported(format!(
                            "client_encoding {value:?} (only UTF8)"
                        )))
                    }
                }
            }
            "standard_conforming_strings" => match parse_bool(value) {
                Some(true) => "on".to_owned(),
                Some(false) => {
                    return Err(QueryError::Unsupported(
                        "standard_conforming_strings = off".into(),
                    ))
                }
                None => return Err(invalid()),
            },
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                parse_duration_ms(value).ok_or_else(invalid)?.to_string()
            }
            "extra_float_digits" => match value.trim().parse::<i32>() {
                Ok(n) if (-15..=3).contains(&n) => n.to_string(),
                _ => return Err(invalid()),
            },
            "timezone" => {
                let v = value.trim();
                if v.eq_ignore_ascii_case("utc") || v.eq_ignore_ascii_case("gmt") || v == "Z" {
                    "UTC".to_owned()
                } else if v.parse::<arrow::array::timezone::Tz>().is_ok() {
                    v.to_owned()
                } else {
                    return Err(invalid());
                }
            }
            "datestyle" => {
                let current = crate::datestyle::DateStyle::parse(&self.values["datestyle"]);
                crate::datestyle::DateStyle::set(value, current)
                    .ok_or_else(invalid)?
                    .name()
            }
            "intervalstyle" => match crate::pgvalue::IntervalStyle::parse(value) {
                Some(style) => style.name().to_owned(),
                None => return Err(invalid()),
            },
            "bytea_output" => match value.trim().to_ascii_lowercase().as_str() {
                v @ ("hex" | "escape") => v.to_owned(),
                _ => return Err(invalid()),
            },
            "strata.pushdown" => match parse_bool(value) {
                Some(true) => "on".to_owned(),
                Some(false) => "off".to_owned(),
                None => return Err(invalid()),
            },
            "transaction_isolation" | "default_transaction_isolation" => {
                let v = value.trim().to_ascii_lowercase();
                match v.as_str() {
                    "read uncommitted" | "read committed" => v,
                    "repeatable read" | "serializable" => {
                        return Err(QueryError::Unsupported(format!(
                            "transaction isolation level {} (Strata's transactions are READ COMMITTED)",
                            v.to_uppercase()
                        )))
                    }
                    _ => return Err(invalid()),
                }
            }
            "transaction_read_only" | "default_transaction_read_only" => match parse_bool(value) {
                Some(true) => "on".to_owned(),
                Some(false) => "off".to_owned(),
                None => return Err(invalid()),
            },
            _ => value.to_owned(),
        };
        self.values.insert(name, stored.clone());
        Ok(stored)
    }

    /// The settings a connection starts with: the defaults, then the parameters of its
    /// startup message (`application_name`, `DateStyle`, `TimeZone`, ...) and the `-c
    /// name=value` (or `--name=value`) settings in its `options`, as PostgreSQL applies
    /// them. A bad value of a known parameter is an error; names Strata does not know are
    /// skipped (PostgreSQL knows many parameters Strata does not act on, and drivers send
    /// some), as are the protocol's own `user`, `database` and `replication`.
    pub fn at_startup<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Settings> {
        let mut settings = Settings::default();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in params {
            match name {
                "user" | "database" | "replication" => {}
                "options" => pairs.extend(startup_options(value)?),
                _ => pairs.push((name.to_owned(), value.to_owned())),
            }
        }
        for (name, value) in pairs {
            match settings.set(&name, &value) {
                Err(QueryError::UnknownSetting(_)) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(settings)
    }

    /// Back to the default (custom parameters are removed).
    pub fn reset(&mut self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        match DEFAULTS.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                self.values.insert(name, v.to_string());
                Ok(())
            }
            None if name.contains('.') => {
                self.values.remove(&name);
                Ok(())
            }
            None => Err(QueryError::UnknownSetting(name)),
        }
    }

    /// `RESET ALL`.
    pub fn reset_all(&mut self) {
        *self = Settings::default();
    }

    /// `statement_timeout`, if set.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let ms: u64 = self.values.get("statement_timeout")?.parse().ok()?;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// Whether filter pushdown and pruning are on (`strata.pushdown`).
    /// The schemas of `search_path`, unquoted, with `$user` replaced by `user`.
    pub fn search_path(&self, user: &str) -> Vec<String> {
        self.get("search_path")
            .unwrap_or_default()
            .split(',')
            .map(|s| {
                let s = s.trim();
                let unquoted = s
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .map(|s| s.replace("\"\"", "\""));
                match unquoted {
                    Some(u) if u == "$user" => user.to_owned(),
                    Some(u) => u,
                    None if s == "$user" => user.to_owned(),
                    None => s.to_lowercase(),
                }
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn pushdown(&self) -> bool {
        self.values.get("strata.pushdown").is_none_or(|v| v == "on")
    }
}

/// The `name=value` pairs of a startup `options` string: words separated by spaces (a
/// backslash keeps the next character, spaces included), each `-c name=value`,
/// `-cname=value` or `--name=value` (dashes in the name read as underscores).
fn startup_options(options: &str) -> Result<Vec<(String, String)>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let bad = |w: &str| QueryError::InvalidSetting {
        name: "options".into(),
        value: w.to_owned(),
    };
    let mut pairs = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next().ok_or_else(|| bad(&w))?
        } else if let Some(rest) = w.strip_prefix("-c") {
            rest.to_owned()
        } else if let Some(rest) = w.strip_prefix("--") {
            match rest.split_once('=') {
                Some((name, value)) => format!("{}={value}", name.replace('-', "_")),
                None => return Err(bad(&w)),
            }
        } else {
            return Err(bad(&w));
        };
        let (name, value) = setting.split_once('=').ok_or_else(|| bad(&setting))?;
        pairs.push((name.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Postgres time parameters: a bare number is milliseconds; units ms, s, min, h, d.
fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_validate_and_reset() {
        let mut s = Settings::default();
        assert_eq!(s.set("statement_timeout", "5s").unwrap(), "5000");
        assert_eq!(s.statement_timeout(), Some(Duration::from_secs(5)));
        assert!(matches!(
            s.set("statement_timeout", "soon"),
            Err(QueryError::InvalidSetting { .. })
        ));
        assert_eq!(s.set("DateStyle", "ISO").unwrap(), "ISO, MDY");
        assert_eq!(s.set("datestyle", "DMY").unwrap(), "ISO, DMY");
        assert_eq!(s.set("intervalstyle", "ISO_8601").unwrap(), "iso_8601");
        assert!(s.set("intervalstyle", "german").is_err());
        assert_eq!(s.set("bytea_output", "Escape").unwrap(), "escape");
        assert!(s.set("bytea_output", "base64").is_err());
        assert!(matches!(
            s.set("no_such_thing", "1"),
            Err(QueryError::UnknownSetting(_))
        ));
        assert!(s.set("myapp.flag", "x").is_ok());
        assert_eq!(s.get("myapp.flag").unwrap(), "x");
        assert!(matches!(
            s.set("client_encoding", "LATIN1"),
            Err(QueryError::Unsupported(_))
        ));
        assert!(s.set("TimeZone", "Europe/Berlin").is_ok());
        assert!(s.set("TimeZone", "Mars/Olympus").is_err());
        s.reset("timezone").unwrap();
        assert_eq!(s.get("TimeZone").unwrap(), "UTC");
        assert!(s.set("server_version", "1").is_err());
    }

    #[test]
    fn startup_parameters_and_options_apply() {
        let s = Settings::at_startup([
            ("user", "strata"),
            ("database", "strata"),
            ("application_name", "psql"),
            ("DateStyle", "German"),
            ("work_mem", "64MB"),
            ("options", r"-c TimeZone=Europe/Berlin -cextra_float_digits=2 --statement-timeout=5s -c myapp.note=a\ b"),
        ])
        .unwrap();
        assert_eq!(s.get("application_name").unwrap(), "psql");
        assert_eq!(s.get("DateStyle").unwrap(), "German, DMY");
        assert_eq!(s.time_zone(), "Europe/Berlin");
        assert_eq!(s.get("extra_float_digits").unwrap(), "2");
        assert_eq!(s.statement_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(s.get("myapp.note").unwrap(), "a b");
        assert!(s.get("work_mem").is_err(), "unknown names are skipped");
        assert!(matches!(
            Settings::at_startup([("DateStyle", "Klingon")]),
            Err(QueryError::InvalidSetting { .. })
        ));
        assert!(Settings::at_startup([("options", "-c")]).is_err());
        assert!(Settings::at_startup([("options", "verbose")]).is_err());
    }
}
