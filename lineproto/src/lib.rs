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
//! [`Lines::next_in`] yields the same lines with their tags and fields appended to a shared
//! [`Arena`] instead of two vectors per line, for callers that parse large bodies.
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
//! Invariant: [`parse`] never panics and always makes progress, whatever the input (the
//! fuzz target in `lineproto/fuzz` checks it); every byte of the body belongs to exactly
//! one yielded item or to a skipped empty/comment line.

use std::borrow::Cow;
use std::fmt;

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

/// A line whose tags and fields were appended to an [`Arena`]: `tags` and `fields` index
/// into it. [`Lines::next_in`] yields these so that a request's lines share two vectors
/// instead of allocating two per line.
#[derive(Debug, Clone, PartialEq)]
pub struct ArenaLine<'a> {
    /// 1-based line number of the line's first byte in the body.
    pub number: usize,
    pub measurement: Cow<'a, str>,
    pub tags: std::ops::Range<usize>,
    pub fields: std::ops::Range<usize>,
    /// In the request's precision; `None` means "now" to the caller.
    pub timestamp: Option<i64>,
}

/// Tags and fields of the lines parsed by [`Lines::next_in`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arena<'a> {
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
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

    /// The InfluxDB name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::String(_) => "string",
            FieldValue::Boolean(_) => "boolean",
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
        // One validation of the whole body (a fast pass over ASCII) instead of one per
        // token; a body with invalid UTF-8 somewhere falls back to checking each token,
        // so that only the lines holding it are rejected.
        text: std::str::from_utf8(body).ok(),
        pos: 0,
        line: 1,
        options,
        hint: (0, 0),
    }
}

/// The iterator returned by [`parse`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    body: &'a [u8],
    /// `body`, if it is all valid UTF-8.
    text: Option<&'a str>,
    pos: usize,
    /// Line number of `body[pos]`.
    line: usize,
    options: Options,
    /// Tag and field counts of the last good line: lines of one source share a shape, so
    /// these size the next line's vectors in one allocation each.
    hint: (usize, usize),
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut arena = Arena {
            tags: Vec::with_capacity(self.hint.0),
            fields: Vec::with_capacity(self.hint.1.max(1)),
        };
        let item = self.next_in(&mut arena)?;
        Some(item.map(|l| Line {
            number: l.number,
            measurement: l.measurement,
            tags: arena.tags,
            fields: arena.fields,
            timestamp: l.timestamp,
        }))
    }
}

impl<'a> Lines<'a> {
    /// The next line, with its tags and fields appended to `arena` (nothing is appended
    /// for an error).
    pub fn next_in(&mut self, arena: &mut Arena<'a>) -> Option<Result<ArenaLine<'a>, ParseError>> {
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
            let mut p = LineParser {
                buf: rest,
                text: self.text.and_then(|t| t.get(start..)),
                pos: indent,
                line_start: 0,
                newlines: 0,
            };
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
                Ok(line) => {
                    // A good line's newlines are the ones inside its strings plus its
                    // terminator: no second pass over its bytes.
                    self.hint = (line.tags.len(), line.fields.len());
                    self.line += p.newlines
                        + usize::from(rest.get(consumed.wrapping_sub(1)) == Some(&b'\n'));
                    self.pos = start + consumed;
                }
                Err(_) => self.advance_to(start + consumed),
            }
            return Some(result);
        }
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

/// Bytes of the line without its terminating newline (and `\r`).
fn line_length(rest: &[u8], consumed: usize) -> usize {
    let mut n = consumed;
    if n > 0 && rest[n - 1] == b'\n' {
        n -= 1;
    }
    if n > 0 && rest[n - 1] == b'\r' {
        n -= 1;
    }
    n
}

fn find_newline(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// Parses one line starting at `pos` of `buf`.
struct LineParser<'a> {
    buf: &'a [u8],
    /// `buf` as text, when the whole body is valid UTF-8.
    text: Option<&'a str>,
    pos: usize,
    /// Offset of the current physical line's start, for columns.
    line_start: usize,
    /// Newlines passed inside string values, for line numbers of errors.
    newlines: usize,
}

/// Which escapes apply to a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    /// Ends at `,` or space; escapes `\,` and `\ `.
    Measurement,
    /// Ends at `,`, `=` or space; escapes `\,`, `\=`, `\ `.
    Key,
}

impl<'a> LineParser<'a> {
    fn err(&self, at: usize, kind: ErrorKind) -> ParseError {
        ParseError {
            line: 0, // filled in by `line`
            column: at.saturating_sub(self.line_start) + 1,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
            || (self.peek() == Some(b'\r')
                && matches!(self.buf.get(self.pos + 1), None | Some(b'\n')))
    }

    fn line(&mut self, number: usize, arena: &mut Arena<'a>) -> Result<ArenaLine<'a>, ParseError> {
        let (tags, fields) = (arena.tags.len(), arena.fields.len());
        self.line_body(number, arena).map_err(|mut e| {
            arena.tags.truncate(tags);
            arena.fields.truncate(fields);
            e.line = number + self.newlines;
            e
        })
    }

    fn line_body(
        &mut self,
        number: usize,
        arena: &mut Arena<'a>,
    ) -> Result<ArenaLine<'a>, ParseError> {
        let measurement = self.name(NameKind::Measurement)?;
        if measurement.is_empty() {
            return Err(self.err(self.pos, ErrorKind::MissingMeasurement));
        }
        let tags_start = arena.tags.len();
        let tags = &mut arena.tags;
        while self.peek() == Some(b',') {
            self.pos += 1;
            let key_at = self.pos;
            let key = self.name(NameKind::Key)?;
            if key.is_empty() {
                return Err(self.err(key_at, ErrorKind::MissingTagKey));
            }
            if self.peek() != Some(b'=') {
                return Err(self.err(self.pos, ErrorKind::MissingEquals(key.into_owned())));
            }
            self.pos += 1;
            let value_at = self.pos;
            let value = self.name(NameKind::Key)?;
            if value.is_empty() {
                return Err(self.err(value_at, ErrorKind::MissingTagValue));
            }
            tags.push((key, value));
        }
        if self.skip_spaces() == 0 || self.at_line_end() {
            return Err(self.err(self.pos, ErrorKind::MissingFields));
        }
        let fields_start = arena.fields.len();
        let fields = &mut arena.fields;
        loop {
            let key_at = self.pos;
            let key = self.name(NameKind::Key)?;
            if key.is_empty() {
                return Err(self.err(key_at, ErrorKind::MissingFieldKey));
            }
            if self.peek() != Some(b'=') {
                return Err(self.err(self.pos, ErrorKind::MissingEquals(key.into_owned())));
            }
            self.pos += 1;
            let value = self.field_value()?;
            fields.push((key, value));
            if self.peek() == Some(b',') {
                self.pos += 1;
                continue;
            }
            break;
        }
        let timestamp = if self.skip_spaces() > 0 && !self.at_line_end() {
            Some(self.timestamp()?)
        } else {
            None
        };
        self.skip_spaces();
        if !self.at_line_end() {
            let end = find_newline(self.buf, self.pos).unwrap_or(self.buf.len());
            let text = String::from_utf8_lossy(&self.buf[self.pos..end]).into_owned();
            let kind = if timestamp.is_some() {
                ErrorKind::TrailingText(text)
            } else {
                ErrorKind::InvalidFieldValue(text)
            };
            return Err(self.err(self.pos, kind));
        }
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
        Ok(ArenaLine {
            number,
            measurement,
            tags: tags_start..arena.tags.len(),
            fields: fields_start..arena.fields.len(),
            timestamp,
        })
    }

    /// `buf[start..end]` as text. Tokens start and end next to ASCII delimiters, so in a
    /// valid body they are always on character boundaries.
    fn str_at(&self, start: usize, end: usize) -> Result<&'a str, ParseError> {
        if let Some(t) = self.text.and_then(|t| t.get(start..end)) {
            return Ok(t);
        }
        std::str::from_utf8(&self.buf[start..end])
            .map_err(|e| self.err(start + e.valid_up_to(), ErrorKind::InvalidUtf8))
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ') | Some(b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A measurement, key or tag value, unescaped.
    fn name(&mut self, kind: NameKind) -> Result<Cow<'a, str>, ParseError> {
        let start = self.pos;
        let mut escaped = false;
        while let Some(b) = self.peek() {
            match b {
                b'\\' => {
                    if let Some(&n) = self.buf.get(self.pos + 1) {
                        if is_escapable(kind, n) {
                            escaped = true;
                            self.pos += 2;
                            continue;
                        }
                    }
                    self.pos += 1;
                }
                b',' | b' ' | b'\t' | b'\n' => break,
                b'\r' if matches!(self.buf.get(self.pos + 1), None | Some(b'\n')) => break,
                b'=' if kind == NameKind::Key => break,
                _ => self.pos += 1,
            }
        }
        let text = self.str_at(start, self.pos)?;
        if !escaped {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(&n) = chars.peek() {
                    if n.is_ascii() && is_escapable(kind, n as u8) {
                        out.push(n);
                        chars.next();
                        continue;
                    }
                }
            }
            out.push(c);
        }
        Ok(Cow::Owned(out))
    }

    fn field_value(&mut self) -> Result<FieldValue<'a>, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => return self.string_value(),
            None | Some(b',') | Some(b' ') | Some(b'\t') | Some(b'\n') | Some(b'\r') => {
                return Err(self.err(start, ErrorKind::MissingFieldValue))
            }
            _ => {}
        }
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b' ' | b'\t' | b'\n') || (b == b'\r' && self.at_line_end()) {
                break;
            }
            self.pos += 1;
        }
        let raw = &self.buf[start..self.pos];
        let text = || String::from_utf8_lossy(raw).into_owned();
        match raw {
            b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Ok(FieldValue::Boolean(true)),
            b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Ok(FieldValue::Boolean(false)),
            _ => {}
        }
        let (last, body) = raw.split_last().expect("a value has at least one byte");
        match last {
            b'i' => {
                if !is_integer(body, true) {
                    return Err(self.err(start, ErrorKind::InvalidFieldValue(text())));
                }
                let s = std::str::from_utf8(body).expect("ASCII digits");
                s.parse()
                    .map(FieldValue::Integer)
                    .map_err(|_| self.err(start, ErrorKind::IntegerOutOfRange(text())))
            }
            b'u' => {
                if !is_integer(body, false) {
                    return Err(self.err(start, ErrorKind::InvalidFieldValue(text())));
                }
                let s = std::str::from_utf8(body).expect("ASCII digits");
                s.parse()
                    .map(FieldValue::Unsigned)
                    .map_err(|_| self.err(start, ErrorKind::IntegerOutOfRange(text())))
            }
            _ => match parse_float(raw) {
                Some(v) => Ok(FieldValue::Float(v)),
                None => Err(self.err(start, ErrorKind::InvalidFieldValue(text()))),
            },
        }
    }

    /// A quoted string; `self.pos` is at the opening quote.
    fn string_value(&mut self) -> Result<FieldValue<'a>, ParseError> {
        let open = self.pos;
        let (open_newlines, open_line_start) = (self.newlines, self.line_start);
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => {
                    // Reported where the string opened.
                    self.newlines = open_newlines;
                    self.line_start = open_line_start;
                    return Err(self.err(open, ErrorKind::UnterminatedString));
                }
                Some(b'"') => break,
                Some(b'\\') if matches!(self.buf.get(self.pos + 1), Some(b'"') | Some(b'\\')) => {
                    escaped = true;
                    self.pos += 2;
                }
                Some(b'\n') => {
                    self.pos += 1;
                    self.newlines += 1;
                    self.line_start = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
        let end = self.pos;
        self.pos += 1; // closing quote
        let text = self.str_at(start, end)?;
        if !escaped {
            return Ok(FieldValue::String(Cow::Borrowed(text)));
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && matches!(chars.peek(), Some('"') | Some('\\')) {
                out.push(chars.next().expect("peeked"));
            } else {
                out.push(c);
            }
        }
        Ok(FieldValue::String(Cow::Owned(out)))
    }

    fn timestamp(&mut self) -> Result<i64, ParseError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b' ' | b'\t' | b'\n') || (b == b'\r' && self.at_line_end()) {
                break;
            }
            self.pos += 1;
        }
        let raw = &self.buf[start..self.pos];
        let text = || String::from_utf8_lossy(raw).into_owned();
        if !is_integer(raw, true) {
            return Err(self.err(start, ErrorKind::InvalidTimestamp(text())));
        }
        std::str::from_utf8(raw)
            .expect("ASCII digits")
            .parse()
            .map_err(|_| self.err(start, ErrorKind::InvalidTimestamp(text())))
    }
}

fn is_escapable(kind: NameKind, b: u8) -> bool {
    match kind {
        NameKind::Measurement => matches!(b, b',' | b' '),
        NameKind::Key => matches!(b, b',' | b'=' | b' '),
    }
}

/// `-?[0-9]+` (the sign only if `signed`).
fn is_integer(s: &[u8], signed: bool) -> bool {
    let digits = match s {
        [b'-', rest @ ..] if signed => rest,
        _ => s,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `-?(digits[.digits?] | .digits)([eE][+-]?digits)?`
/// A float field value: `-`? digits with an optional fraction (at least one digit in all)
/// and an optional exponent `e`/`E` `+`/`-`? digits; finite. Rust's own float grammar is the
/// same except that it also takes a leading `+` and `inf`/`nan` spellings, which the sign
/// check and the finiteness check turn away, so one pass of `str::parse` does both the
/// syntax check and the conversion (the tests compare it with the grammar written out).
fn parse_float(s: &[u8]) -> Option<f64> {
    if s.first() == Some(&b'+') {
        return None;
    }
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
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
