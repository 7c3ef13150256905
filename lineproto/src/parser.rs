//! The parser of one line.

use std::borrow::Cow;

use crate::arena::{Arena, ArenaLine, Series};
use crate::number::{parse_float, parse_int, parse_uint, scan_decimal, scan_int};
use crate::{ErrorKind, FieldKind, FieldValue, ParseError};

/// Bytes of the line without its terminating newline (and `\r`).
pub(crate) fn line_length(rest: &[u8], consumed: usize) -> usize {
    let mut n = consumed;
    if n > 0 && rest[n - 1] == b'\n' {
        n -= 1;
    }
    if n > 0 && rest[n - 1] == b'\r' {
        n -= 1;
    }
    n
}

pub(crate) fn find_newline(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\n', buf.get(from..)?).map(|i| from + i)
}

/// Parses one line starting at `pos` of `buf`.
pub(crate) struct LineParser<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    /// Offset of the current physical line's start, for columns.
    line_start: usize,
    /// Newlines passed inside string values, for line numbers of errors.
    pub(crate) newlines: usize,
    /// A prefix of `buf` known to be valid UTF-8 (set while parsing a new series, whose
    /// dozen names are then sliced from it instead of checked one by one).
    text: &'a str,
}

/// Which escapes apply to a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    /// Ends at `,` or space; escapes `\,` and `\ `.
    Measurement,
    /// Ends at `,`, `=` or space; escapes `\,`, `\=`, `\ `.
    Key,
}

/// A name's bytes `start..end` in the line; `escaped` if they hold an escape.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

impl<'a> LineParser<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        LineParser {
            buf,
            pos,
            line_start: 0,
            newlines: 0,
            text: "",
        }
    }

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

    /// Whether a field value that starts earlier ends at `at`: the end of the buffer, a
    /// `,`, a blank, or the line's end. (A timestamp ends the same way except at a `,`.)
    fn ends_value(&self, at: usize) -> bool {
        match self.buf.get(at) {
            None | Some(b',' | b' ' | b'\t' | b'\n') => true,
            Some(b'\r') => matches!(self.buf.get(at + 1), None | Some(b'\n')),
            Some(_) => false,
        }
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
            || (self.peek() == Some(b'\r')
                && matches!(self.buf.get(self.pos + 1), None | Some(b'\n')))
    }

    pub(crate) fn line(
        &mut self,
        number: usize,
        arena: &mut Arena<'a>,
    ) -> Result<ArenaLine, ParseError> {
        let values = arena.values_len();
        self.line_body(number, arena).map_err(|mut e| {
            arena.truncate_values(values);
            e.line = number + self.newlines;
            e
        })
    }

    fn line_body(&mut self, number: usize, arena: &mut Arena<'a>) -> Result<ArenaLine, ParseError> {
        let series = self.series(arena)?;
        if self.skip_spaces() == 0 || self.at_line_end() {
            return Err(self.err(self.pos, ErrorKind::MissingFields));
        }
        let (field_keys, values) = self.fields(arena)?;
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
            series,
            field_keys,
            values,
            timestamp,
        })
    }

    /// Measurement and tags, up to the space before the fields; looked up by their bytes
    /// when an earlier line had the same.
    fn series(&mut self, arena: &mut Arena<'a>) -> Result<u32, ParseError> {
        let start = self.pos;
        let rest = &self.buf[start..];
        // The candidate key ends at the first space; if that space is escaped, or the
        // key ends otherwise, no stored key (each ends at an unescaped space and holds
        // no newline) has these bytes, and the line is parsed in full.
        let candidate = memchr::memchr2(b' ', b'\n', rest);
        if let Some(end) = candidate {
            if rest[end] == b' ' {
                if let Some(id) = arena.find_series(&rest[..end]) {
                    self.pos = start + end;
                    return Ok(id);
                }
            }
        }
        // A new series: check its bytes as text once. Names past an escaped space, or
        // in bytes that are not all UTF-8, are checked one by one as before.
        let end = start + candidate.unwrap_or(rest.len());
        self.text = std::str::from_utf8(&self.buf[..end]).unwrap_or("");
        let measurement = self.name(NameKind::Measurement)?;
        if measurement.is_empty() {
            return Err(self.err(self.pos, ErrorKind::MissingMeasurement));
        }
        // Series of one source have as many tags as the last one did.
        let mut tags = Vec::with_capacity(arena.tags_hint());
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
        let key = (self.peek() == Some(b' ')).then(|| &self.buf[start..self.pos]);
        Ok(arena.add_series(key, Series { measurement, tags }))
    }

    /// The fields: their values go to the arena; their keys are compared with the last
    /// line's and stored only when they differ.
    fn fields(
        &mut self,
        arena: &mut Arena<'a>,
    ) -> Result<(u32, std::ops::Range<usize>), ParseError> {
        let (guess, expected, plain, values) = arena.guess_and_values();
        let first = values.len();
        // The keys so far, once they stop matching `expected`.
        let mut keys: Option<Vec<(Cow<'a, str>, FieldKind)>> = None;
        loop {
            let i = values.len() - first;
            // An expected key with no byte that ends or escapes a key, followed by `=`,
            // is what scanning would find: compare its bytes instead of scanning.
            let (span, same) = match expected.get(i) {
                Some((k, _))
                    if plain
                        && keys.is_none()
                        && self.buf[self.pos..].starts_with(k.as_bytes())
                        && self.buf.get(self.pos + k.len()) == Some(&b'=') =>
                {
                    let start = self.pos;
                    self.pos += k.len();
                    let span = Span {
                        start,
                        end: self.pos,
                        escaped: false,
                    };
                    (span, true)
                }
                _ => {
                    let span = self.scan_name(NameKind::Key);
                    if span.start == span.end {
                        return Err(self.err(span.start, ErrorKind::MissingFieldKey));
                    }
                    let raw = &self.buf[span.start..span.end];
                    // A key equal to the expected one is valid text: no UTF-8 check, no
                    // copy.
                    let same = keys.is_none()
                        && !span.escaped
                        && expected.get(i).is_some_and(|(k, _)| k.as_bytes() == raw);
                    (span, same)
                }
            };
            let key = if same {
                None
            } else {
                Some(self.name_text(span, NameKind::Key)?)
            };
            if self.peek() != Some(b'=') {
                let key = key.unwrap_or_else(|| expected[i].0.clone());
                return Err(self.err(self.pos, ErrorKind::MissingEquals(key.into_owned())));
            }
            self.pos += 1;
            let value = self.field_value()?;
            let kind = value.kind();
            if keys.is_none() && !(same && expected[i].1 == kind) {
                keys = Some(expected[..i].to_vec());
            }
            if let Some(keys) = &mut keys {
                keys.push((key.unwrap_or_else(|| expected[i].0.clone()), kind));
            }
            values.push(value);
            if self.peek() == Some(b',') {
                self.pos += 1;
                continue;
            }
            break;
        }
        let range = first..values.len();
        let id = match (keys, guess) {
            (None, Some(id)) if range.len() == expected.len() => {
                arena.reuse_field_keys(id);
                id
            }
            (None, _) => {
                let keys = expected[..range.len()].to_vec();
                arena.intern_field_keys(keys)
            }
            (Some(keys), _) => arena.intern_field_keys(keys),
        };
        Ok((id, range))
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ') | Some(b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Moves past a measurement, key or tag value.
    fn scan_name(&mut self, kind: NameKind) -> Span {
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
        Span {
            start,
            end: self.pos,
            escaped,
        }
    }

    /// A measurement, key or tag value, unescaped.
    fn name(&mut self, kind: NameKind) -> Result<Cow<'a, str>, ParseError> {
        let span = self.scan_name(kind);
        self.name_text(span, kind)
    }

    /// The text of a scanned name, unescaped.
    fn name_text(&self, span: Span, kind: NameKind) -> Result<Cow<'a, str>, ParseError> {
        let text = self.str_at(span.start, span.end)?;
        if !span.escaped {
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

    /// `buf[start..end]` as text.
    fn str_at(&self, start: usize, end: usize) -> Result<&'a str, ParseError> {
        // Tokens start and end next to ASCII delimiters: on character boundaries.
        if let Some(t) = self.text.get(start..end) {
            return Ok(t);
        }
        std::str::from_utf8(&self.buf[start..end])
            .map_err(|e| self.err(start + e.valid_up_to(), ErrorKind::InvalidUtf8))
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
        // The common case, a plain decimal, is converted as it is read.
        if let Some((v, end)) = scan_decimal(self.buf, start) {
            if self.ends_value(end) {
                self.pos = end;
                return Ok(FieldValue::Float(v));
            }
        }
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b' ' | b'\t' | b'\n') || (b == b'\r' && self.at_line_end()) {
                break;
            }
            self.pos += 1;
        }
        let raw = &self.buf[start..self.pos];
        let text = || String::from_utf8_lossy(raw).into_owned();
        let (last, body) = raw.split_last().expect("a value has at least one byte");
        match last {
            b'i' | b'u' => {
                let signed = *last == b'i';
                if !is_integer(body, signed) {
                    return Err(self.err(start, ErrorKind::InvalidFieldValue(text())));
                }
                let value = if signed {
                    parse_int(body).map(FieldValue::Integer)
                } else {
                    parse_uint(body).map(FieldValue::Unsigned)
                };
                value.ok_or_else(|| self.err(start, ErrorKind::IntegerOutOfRange(text())))
            }
            _ => match raw {
                b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok(FieldValue::Boolean(true)),
                b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok(FieldValue::Boolean(false)),
                _ => match parse_float(raw) {
                    Some(v) => Ok(FieldValue::Float(v)),
                    None => Err(self.err(start, ErrorKind::InvalidFieldValue(text()))),
                },
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
        // The common case is converted as it is read.
        if let Some((v, end)) = scan_int(self.buf, start) {
            if self.buf.get(end) != Some(&b',') && self.ends_value(end) {
                self.pos = end;
                return Ok(v);
            }
        }
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
        parse_int(raw).ok_or_else(|| self.err(start, ErrorKind::InvalidTimestamp(text())))
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
