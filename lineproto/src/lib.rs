//! InfluxDB line protocol, parsed without copying.
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]
//! ```
//!
//! [`parse`] walks a request body and yields one [`Line`] or one [`ParseError`] per
//! non-empty, non-comment line, so a caller can store the good lines of a request and
//! report the bad ones (InfluxDB's partial-write semantics). Errors carry the 1-based line
//! number and byte column of the problem and a reason a user can act on.
//! [`Lines::next_in`] yields the same lines into a shared [`Arena`] that stores each distinct
//! series (measurement and tag set) and each distinct field-key list once, for callers
//! that parse large bodies: a line whose series key bytes were seen before in the body
//! has its tags looked up instead of parsed, and a line with the previous line's field
//! keys stores only its values.
//!
//! The rules, as InfluxDB 1.x and 2.x accept them:
//! - Lines end at `\n` (a preceding `\r` is dropped). A quoted string field value may
//!   contain newlines; they do not end the line. Empty lines and lines whose first
//!   non-blank character is `#` are skipped.
//! - Measurement: ends at an unescaped `,` or space; `\,` and `\ ` are escapes, any other
//!   backslash is literal. It may not be empty.
//! - Tag keys, tag values and field keys: end at an unescaped `,`, `=` or space; `\,`, `\=`,
//!   `\ ` are escapes (and `\\` is a literal backslash pair, as InfluxDB keeps it), any other
//!   backslash is literal. Keys and tag values may not be empty.
//! - Field values: `"string"` (escapes `\"` and `\\`; any other backslash is literal),
//!   `t`/`T`/`true`/`True`/`TRUE` and the matching false forms, integers `-12i`, unsigned
//!   integers `12u`, and floats (`-1.5`, `1e9`, `.5`, `1.`; no NaN or infinity). At least
//!   one field is required.
//! - Timestamp: an optional signed integer in the request's precision; fields and
//!   timestamp are separated by one or more spaces.
//!
//! - Text: names, keys and string values must be UTF-8 (a line holding invalid UTF-8 there
//!   is rejected, the others kept); other bytes are never taken as text.
//!
//! Invariants: [`parse`] never panics and always makes progress, whatever the input; every
//! byte of the body belongs to exactly one yielded item or to a skipped empty/comment
//! line; and [`Lines::next_in`] into one arena yields exactly the lines that parsing each
//! line on its own yields (the `Iterator` impl does that). The fuzz target in
//! `lineproto/fuzz` and the property tests check all three.

mod arena;
mod number;
mod parser;

use std::borrow::Cow;
use std::fmt;

pub use arena::{Arena, ArenaLine, FieldKeys, Series};
#[cfg(test)]
use number::{parse_float, parse_int, parse_uint, scan_int};
use parser::{find_newline, line_length, LineParser};

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// 1-based line number of the line's first byte in the body.
    pub number: usize,
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// In the request's precision; `None` means "now" to the caller.
    pub timestamp: Option<i64>,
}

/// A field's value, typed by its syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Cow<'a, str>),
    Boolean(bool),
}

impl FieldValue<'_> {
    /// The same value, owning its string.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Float(v) => FieldValue::Float(v),
            FieldValue::Integer(v) => FieldValue::Integer(v),
            FieldValue::Unsigned(v) => FieldValue::Unsigned(v),
            FieldValue::Boolean(v) => FieldValue::Boolean(v),
            FieldValue::String(s) => FieldValue::String(Cow::Owned(s.into_owned())),
        }
    }

    /// The value's type.
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldValue::Float(_) => FieldKind::Float,
            FieldValue::Integer(_) => FieldKind::Integer,
            FieldValue::Unsigned(_) => FieldKind::Unsigned,
            FieldValue::String(_) => FieldKind::String,
            FieldValue::Boolean(_) => FieldKind::Boolean,
        }
    }

    /// The InfluxDB name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        self.kind().name()
    }
}

/// The type of a [`FieldValue`], as its syntax gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}

impl FieldKind {
    /// The InfluxDB name of the type, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Float => "float",
            FieldKind::Integer => "integer",
            FieldKind::Unsigned => "unsigned",
            FieldKind::String => "string",
            FieldKind::Boolean => "boolean",
        }
    }
}

/// Why a line was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte offset in the line.
    pub column: usize,
    pub kind: ErrorKind,
}

/// The reasons a line is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("missing measurement")]
    MissingMeasurement,
    #[error("missing tag key")]
    MissingTagKey,
    #[error("missing tag value")]
    MissingTagValue,
    #[error("missing fields")]
    MissingFields,
    #[error("missing field key")]
    MissingFieldKey,
    #[error("missing field value")]
    MissingFieldValue,
    #[error("expected '=' after key {0:?}")]
    MissingEquals(String),
    #[error("invalid field value {0:?}")]
    InvalidFieldValue(String),
    #[error("integer value {0:?} out of range")]
    IntegerOutOfRange(String),
    #[error("unterminated string field value")]
    UnterminatedString,
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    #[error("unexpected text after the timestamp: {0:?}")]
    TrailingText(String),
    #[error("line is {length} bytes, over the limit of {limit}")]
    LineTooLong { length: usize, limit: usize },
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

/// Options for [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest accepted line in bytes; longer lines are rejected whole.
    pub max_line_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_line_bytes: 64 * 1024,
        }
    }
}

/// Parses a request body: one item per line that is neither empty nor a comment.
pub fn parse(body: &[u8], options: Options) -> Lines<'_> {
    Lines {
        body,
        pos: 0,
        line: 1,
        options,
    }
}

/// The iterator returned by [`parse`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    body: &'a [u8],
    pos: usize,
    /// Line number of `body[pos]`.
    line: usize,
    options: Options,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, ParseError>;

    /// Each line is parsed on its own (a fresh arena per line): the reference that
    /// [`Lines::next_in`] is tested against.
    fn next(&mut self) -> Option<Self::Item> {
        let mut arena = Arena::default();
        let item = self.next_in(&mut arena)?;
        Some(item.map(|l| arena.line(&l)))
    }
}

impl<'a> Lines<'a> {
    /// The next line, parsed into `arena`. A line that fails leaves no values behind (it
    /// may leave a series or field list that no line refers to).
    pub fn next_in(&mut self, arena: &mut Arena<'a>) -> Option<Result<ArenaLine, ParseError>> {
        loop {
            if self.pos >= self.body.len() {
                return None;
            }
            let start = self.pos;
            let number = self.line;
            let rest = &self.body[start..];
            // Skip leading blanks; an empty or comment line is consumed silently.
            let indent = rest
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t' || b == b'\r')
                .count();
            match rest.get(indent) {
                None => {
                    self.pos = self.body.len();
                    return None;
                }
                Some(b'\n') => {
                    self.advance_to(start + indent + 1);
                    continue;
                }
                Some(b'#') => {
                    let end = find_newline(rest, indent).map_or(self.body.len(), |e| start + e + 1);
                    self.advance_to(end);
                    continue;
                }
                Some(_) => {}
            }
            let mut p = LineParser::new(rest, indent);
            let result = p.line(number, arena);
            let consumed = match &result {
                // A good line ends at its newline (consumed) or the end of the body.
                Ok(_) => p.pos,
                // A bad line is skipped through the next newline after the error. Within
                // an unterminated string that newline may have been meant as content,
                // but without the closing quote there is no better resynchronisation.
                Err(_) => find_newline(rest, p.pos).map_or(rest.len(), |e| e + 1),
            };
            let length = line_length(rest, consumed);
            if length > self.options.max_line_bytes {
                self.advance_to(start + consumed);
                return Some(Err(ParseError {
                    line: number,
                    column: 1,
                    kind: ErrorKind::LineTooLong {
                        length,
                        limit: self.options.max_line_bytes,
                    },
                }));
            }
            match &result {
                Ok(_) => {
                    // A good line's newlines are the ones inside its strings plus its
                    // terminator: no second pass over its bytes.
                    self.line += p.newlines
                        + usize::from(rest.get(consumed.wrapping_sub(1)) == Some(&b'\n'));
                    self.pos = start + consumed;
                }
                Err(_) => self.advance_to(start + consumed),
            }
            return Some(result);
        }
    }

    /// Bytes of the body read so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Moves to `end`, counting the newlines passed.
    fn advance_to(&mut self, end: usize) {
        let end = end.min(self.body.len());
        self.line += self.body[self.pos..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.pos = end;
    }
}

impl fmt::Display for Line<'_> {
    /// The line in canonical line protocol (escaped, no timestamp precision change).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.measurement, &[',', ' '])?;
        for (k, v) in &self.tags {
            f.write_str(",")?;
            write_escaped(f, k, &[',', '=', ' '])?;
            f.write_str("=")?;
            write_escaped(f, v, &[',', '=', ' '])?;
        }
        for (i, (k, v)) in self.fields.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            write_escaped(f, k, &[',', '=', ' '])?;
            f.write_str("=")?;
            match v {
                FieldValue::Float(x) => write!(f, "{x:?}")?,
                FieldValue::Integer(x) => write!(f, "{x}i")?,
                FieldValue::Unsigned(x) => write!(f, "{x}u")?,
                FieldValue::Boolean(x) => write!(f, "{x}")?,
                FieldValue::String(s) => {
                    f.write_str("\"")?;
                    for c in s.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        if let Some(ts) = self.timestamp {
            write!(f, " {ts}")?;
        }
        Ok(())
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str, special: &[char]) -> fmt::Result {
    for c in s.chars() {
        if special.contains(&c) {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
