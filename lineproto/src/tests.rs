use super::*;
use proptest::prelude::*;

fn one(s: &str) -> Line<'_> {
    let mut lines: Vec<_> = parse(s.as_bytes(), Options::default()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn fail(s: &str) -> ParseError {
    let mut lines: Vec<_> = parse(s.as_bytes(), Options::default()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0).expect_err(s)
}

fn tags<'a>(l: &'a Line<'_>) -> Vec<(&'a str, &'a str)> {
    l.tags
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect()
}

#[test]
fn a_full_line() {
    let l =
        one("cpu,host=A,region=west usage=64.2,count=3i,n=7u,ok=t,msg=\"hi\" 1590488773254420000");
    assert_eq!(l.measurement, "cpu");
    assert_eq!(tags(&l), [("host", "A"), ("region", "west")]);
    assert_eq!(
        l.fields,
        vec![
            ("usage".into(), FieldValue::Float(64.2)),
            ("count".into(), FieldValue::Integer(3)),
            ("n".into(), FieldValue::Unsigned(7)),
            ("ok".into(), FieldValue::Boolean(true)),
            ("msg".into(), FieldValue::String("hi".into())),
        ]
    );
    assert_eq!(l.timestamp, Some(1590488773254420000));
    assert_eq!(l.number, 1);
}

#[test]
fn timestamp_is_optional_and_may_be_negative() {
    assert_eq!(one("m v=1").timestamp, None);
    assert_eq!(one("m v=1 -5").timestamp, Some(-5));
    assert_eq!(one("m v=1   42  ").timestamp, Some(42));
}

#[test]
fn measurement_escapes() {
    assert_eq!(one(r"my\ cpu,a=b v=1").measurement, "my cpu");
    assert_eq!(one(r"my\,cpu v=1").measurement, "my,cpu");
    // '=' needs no escape in a measurement; other backslashes are literal.
    assert_eq!(one(r"a=b v=1").measurement, "a=b");
    assert_eq!(one(r"a\=b v=1").measurement, r"a\=b");
    assert_eq!(one(r"a\b v=1").measurement, r"a\b");
    // A borrowed name when nothing is escaped.
    assert!(matches!(one("plain v=1").measurement, Cow::Borrowed(_)));
}

#[test]
fn tag_and_field_key_escapes() {
    let l = one(r"m,k\ 1=v\ 1,k\,2=v\,2,k\=3=v\=3 f\ 1=1,f\,2=2,f\=3=3");
    assert_eq!(tags(&l), [("k 1", "v 1"), ("k,2", "v,2"), ("k=3", "v=3")]);
    let keys: Vec<&str> = l.fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["f 1", "f,2", "f=3"]);
    // A backslash before anything else stays, and `\\` is two backslashes.
    let l = one(r"m,k=a\b,j=c\\d v=1");
    assert_eq!(tags(&l), [("k", r"a\b"), ("j", r"c\\d")]);
    // Backslash-backslash-comma: the first is literal, the second escapes the comma.
    let l = one(r"m,k=a\\,b v=1");
    assert_eq!(tags(&l), [("k", r"a\,b")]);
}

#[test]
fn string_field_escapes_and_newlines() {
    let l = one(r#"m s="say \"hi\"",b="back\\slash",o="a\nb",e="""#);
    let v: Vec<&FieldValue> = l.fields.iter().map(|(_, v)| v).collect();
    assert_eq!(v[0], &FieldValue::String(r#"say "hi""#.into()));
    assert_eq!(v[1], &FieldValue::String(r"back\slash".into()));
    // Only \" and \\ are escapes inside strings.
    assert_eq!(v[2], &FieldValue::String(r"a\nb".into()));
    assert_eq!(v[3], &FieldValue::String("".into()));
    // Separators inside quotes are content.
    let l = one(r#"m s="a, b=c d" 5"#);
    assert_eq!(l.fields[0].1, FieldValue::String("a, b=c d".into()));
    assert_eq!(l.timestamp, Some(5));
    // A literal newline inside a string does not end the line.
    let all: Vec<_> = parse(b"m s=\"two\nlines\" 1\nm v=2 2\n", Options::default()).collect();
    assert_eq!(all.len(), 2);
    let first = all[0].as_ref().unwrap();
    assert_eq!(first.fields[0].1, FieldValue::String("two\nlines".into()));
    assert_eq!(all[1].as_ref().unwrap().number, 3);
}

#[test]
fn every_boolean_form() {
    for (s, b) in [
        ("t", true),
        ("T", true),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("f", false),
        ("F", false),
        ("false", false),
        ("False", false),
        ("FALSE", false),
    ] {
        let line = format!("m v={s}");
        assert_eq!(one(&line).fields[0].1, FieldValue::Boolean(b), "{s}");
    }
    assert!(matches!(
        fail("m v=tRUE").kind,
        ErrorKind::InvalidFieldValue(_)
    ));
    assert!(matches!(
        fail("m v=yes").kind,
        ErrorKind::InvalidFieldValue(_)
    ));
}

#[test]
fn numbers() {
    let f = |s: &str| one(&format!("m v={s}")).fields[0].1.clone().into_owned();
    assert_eq!(f("1"), FieldValue::Float(1.0));
    assert_eq!(f("-1.5"), FieldValue::Float(-1.5));
    assert_eq!(f("1e3"), FieldValue::Float(1000.0));
    assert_eq!(f("1.5E-2"), FieldValue::Float(0.015));
    assert_eq!(f(".5"), FieldValue::Float(0.5));
    assert_eq!(f("2."), FieldValue::Float(2.0));
    assert_eq!(f("-12i"), FieldValue::Integer(-12));
    assert_eq!(f("9223372036854775807i"), FieldValue::Integer(i64::MAX));
    assert_eq!(f("-9223372036854775808i"), FieldValue::Integer(i64::MIN));
    assert_eq!(f("18446744073709551615u"), FieldValue::Unsigned(u64::MAX));
    for bad in [
        "1.5i", "-1u", "1x", "--1", "+1", "1e", "e5", ".", "-", "1.2.3", "NaN", "inf", "0x10",
        "1_000",
    ] {
        let e = fail(&format!("m v={bad}"));
        assert!(
            matches!(e.kind, ErrorKind::InvalidFieldValue(_)),
            "{bad}: {e}"
        );
    }
    assert!(matches!(
        fail("m v=9223372036854775808i").kind,
        ErrorKind::IntegerOutOfRange(_)
    ));
    assert!(matches!(
        fail("m v=18446744073709551616u").kind,
        ErrorKind::IntegerOutOfRange(_)
    ));
    // Overflowing floats are rejected, not turned into infinity.
    assert!(matches!(
        fail("m v=1e400").kind,
        ErrorKind::InvalidFieldValue(_)
    ));
}

#[test]
fn errors_name_the_line_column_and_reason() {
    let body = b"ok v=1\nbad\n\n# comment\nm,t v=1\nm v= 5\nm v=1 12x\nm,=v v=1\nm,k= v=1\n,t=v v=1\nm v=\"open\n";
    let items: Vec<_> = parse(body, Options::default()).collect();
    let errs: Vec<(usize, usize, ErrorKind)> = items
        .iter()
        .filter_map(|i| i.as_ref().err())
        .map(|e| (e.line, e.column, e.kind.clone()))
        .collect();
    assert!(items[0].is_ok());
    assert_eq!(
        errs,
        vec![
            (2, 4, ErrorKind::MissingFields),
            (5, 4, ErrorKind::MissingEquals("t".into())),
            (6, 5, ErrorKind::MissingFieldValue),
            (7, 7, ErrorKind::InvalidTimestamp("12x".into())),
            (8, 3, ErrorKind::MissingTagKey),
            (9, 5, ErrorKind::MissingTagValue),
            (10, 1, ErrorKind::MissingMeasurement),
            (11, 5, ErrorKind::UnterminatedString),
        ]
    );
    let e = fail("m v=1,w 5");
    assert_eq!(e.kind, ErrorKind::MissingEquals("w".into()));
    let e = fail("m =1");
    assert_eq!(e.kind, ErrorKind::MissingFieldKey);
    let e = fail("m v=1 5 6");
    assert_eq!(e.kind, ErrorKind::TrailingText("6".into()));
    assert_eq!(
        e.to_string(),
        "line 1, column 9: unexpected text after the timestamp: \"6\""
    );
    let e = fail("m ");
    assert_eq!(e.kind, ErrorKind::MissingFields);
}

#[test]
fn good_lines_around_bad_ones_are_kept() {
    let body = b"a v=1 1\nb v=oops 2\nc v=3 3\n";
    let items: Vec<_> = parse(body, Options::default()).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().measurement, "a");
    assert_eq!(items[1].as_ref().unwrap_err().line, 2);
    assert_eq!(items[2].as_ref().unwrap().measurement, "c");
    assert_eq!(items[2].as_ref().unwrap().number, 3);
}

#[test]
fn crlf_blank_and_comment_lines() {
    let body = b"\r\n  \n# a comment v=1\n   # indented comment\r\nm v=1 5\r\nn v=2\r\n";
    let items: Vec<_> = parse(body, Options::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!((items[0].number, items[0].timestamp), (5, Some(5)));
    assert_eq!((items[1].number, items[1].timestamp), (6, None));
}

#[test]
fn invalid_utf8_is_an_error_for_that_line_only() {
    let body = b"m,k=\xff v=1\nm v=\"\xfe\"\nm v=1\n";
    let items: Vec<_> = parse(body, Options::default()).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap_err().kind, ErrorKind::InvalidUtf8);
    assert_eq!(items[1].as_ref().unwrap_err().kind, ErrorKind::InvalidUtf8);
    assert!(items[2].is_ok());
}

#[test]
fn long_lines_are_rejected_whole() {
    let long = format!("m v=\"{}\"\nm v=1\n", "x".repeat(100));
    let opts = Options { max_line_bytes: 50 };
    let items: Vec<_> = parse(long.as_bytes(), opts).collect();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap_err().kind,
        ErrorKind::LineTooLong {
            length: 106,
            limit: 50
        }
    );
    assert!(items[1].is_ok());
}

/// A name that survives escaping: no trailing backslash, not starting with '#'.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ ,=\\\\\"é-]{1,12}".prop_filter("representable", |s| {
        !s.ends_with('\\') && !s.starts_with('#') && !s.starts_with(' ')
    })
}

fn field_value() -> impl Strategy<Value = FieldValue<'static>> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(FieldValue::Float),
        any::<i64>().prop_map(FieldValue::Integer),
        any::<u64>().prop_map(FieldValue::Unsigned),
        any::<bool>().prop_map(FieldValue::Boolean),
        "[ -~\n]{0,20}".prop_map(|s| FieldValue::String(s.into())),
    ]
}

/// The float grammar written out (what `parse_float` must accept, and nothing else).
fn float_grammar(s: &[u8]) -> bool {
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let (mantissa, exponent) = match s.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"+")
            .or_else(|| e.strip_prefix(b"-"))
            .unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[test]
fn float_spellings() {
    for ok in [
        "1", "-1", "1.5", ".5", "5.", "-.5", "1e9", "1E-9", "1.5e+3", "007", "-0",
    ] {
        assert!(parse_float(ok.as_bytes()).is_some(), "{ok}");
    }
    for bad in [
        "+1", "inf", "-inf", "NaN", "nan", "infinity", "1e999", "-1e999", ".", "-", "e5", "1e",
        "1e+", "1.2.3", "--1", "1_0", " 1", "1 ", "0x10", "1.5é",
    ] {
        assert!(parse_float(bad.as_bytes()).is_none(), "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    /// `parse_float` accepts exactly the float grammar (finite values), over strings made
    /// of the characters that matter.
    #[test]
    fn parse_float_accepts_exactly_the_grammar(s in "[-+0-9.eEinfaINFA]{1,8}") {
        let b = s.as_bytes();
        let expect = float_grammar(b)
            && s.parse::<f64>().is_ok_and(f64::is_finite);
        prop_assert_eq!(parse_float(b).is_some(), expect, "{}", s);
        if expect {
            let want = s.parse::<f64>().unwrap();
            prop_assert_eq!(parse_float(b).map(f64::to_bits), Some(want.to_bits()), "{}", s);
        }
    }

    /// Decimals of up to 20 digits (the fast path takes up to 15) have the value
    /// `str::parse` gives, to the bit.
    #[test]
    fn parse_float_values_match_str_parse(s in "-?[0-9]{0,10}\\.?[0-9]{0,10}") {
        let want = s.parse::<f64>().ok();
        prop_assert_eq!(parse_float(s.as_bytes()).map(f64::to_bits), want.map(f64::to_bits), "{}", s);
    }

    /// `scan_int` reads the longest `-?digits` run and converts it as `str::parse` does,
    /// or declines (more than 19 digits, out of range, no digit).
    #[test]
    fn scan_int_matches_str_parse(s in "-?[0-9]{0,21}[ ,x.]?[0-9]?") {
        let b = s.as_bytes();
        let sign = usize::from(b.first() == Some(&b'-'));
        let digits = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
        let run = sign + digits;
        let want = if (1..=19).contains(&digits) {
            s[..run].parse::<i64>().ok().map(|v| (v, run))
        } else {
            None
        };
        prop_assert_eq!(scan_int(b, 0), want, "{}", s);
    }

    /// Integers convert as `str::parse` does, including both ends of the range.
    #[test]
    fn parse_int_matches_str_parse(s in "-?[0-9]{1,21}") {
        prop_assert_eq!(parse_int(s.as_bytes()), s.parse::<i64>().ok(), "{}", s);
        let d = s.strip_prefix('-').unwrap_or(&s);
        prop_assert_eq!(parse_uint(d.as_bytes()), d.parse::<u64>().ok(), "{}", d);
    }
}

proptest! {
    /// Printing a line and parsing it back gives the same line.
    #[test]
    fn display_round_trips(
        measurement in name(),
        tag_list in prop::collection::vec((name(), name()), 0..4),
        field_list in prop::collection::vec((name(), field_value()), 1..4),
        timestamp in prop::option::of(any::<i64>()),
    ) {
        let line = Line {
            number: 1,
            measurement: measurement.into(),
            tags: tag_list.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            fields: field_list.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            timestamp,
        };
        let text = line.to_string();
        let parsed: Vec<_> = parse(text.as_bytes(), Options::default()).collect();
        prop_assert_eq!(parsed.len(), 1, "{}", text);
        let got = parsed[0].clone().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(got, line);
    }

    /// Arbitrary bytes never panic, and every item is a line or a located error.
    #[test]
    fn arbitrary_input_never_panics(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
        for item in parse(&body, Options { max_line_bytes: 100 }) {
            match item {
                Ok(l) => prop_assert!(l.number >= 1 && l.number <= lines),
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines && e.column >= 1),
            }
        }
    }
}

#[test]
fn lines_parsed_into_an_arena_share_series_and_field_keys() {
    // Line 2 fails after its tags and first field were parsed; lines 1 and 5 share a
    // series and field keys; line 4 has line 1's series with other field keys.
    let body =
        b"a,t=1 x=1 1\nc,t=9,k=8 w=1,x= 5\nb y=2i,z=\"s\" 2\na,t=1 x=2,y=3i 3\na,t=1 x=4 4\n";
    let mut arena = Arena::default();
    let mut lines = parse(body, Options::default());
    let mut got = Vec::new();
    while let Some(item) = lines.next_in(&mut arena) {
        got.push(item);
    }
    assert_eq!(got.len(), 5);
    assert_eq!(got[1].as_ref().unwrap_err().line, 2);
    let l: Vec<&ArenaLine> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
    // The bad line left no values behind; value ranges follow each other.
    let values: Vec<_> = l.iter().map(|l| l.values.clone()).collect();
    assert_eq!(values, [0..1, 1..3, 3..5, 5..6]);
    assert_eq!(l[0].series, l[2].series);
    assert_eq!(l[0].series, l[3].series);
    assert_eq!(l[0].field_keys, l[3].field_keys);
    assert_ne!(l[0].field_keys, l[2].field_keys);
    assert_eq!(arena.series(l[1].series).measurement, "b");
    assert_eq!(
        arena.series(l[0].series).tags,
        vec![("t".into(), "1".into())]
    );
    assert_eq!(
        arena.field_keys(l[1].field_keys),
        [
            ("y".into(), FieldKind::Integer),
            ("z".into(), FieldKind::String)
        ]
    );
    assert_eq!(arena.values(l[3]), [FieldValue::Float(4.0)]);
    assert_eq!((l[3].number, l[3].timestamp), (5, Some(4)));
    // The same lines through the iterator, which parses each line on its own.
    let same: Vec<Line<'_>> = parse(body, Options::default())
        .filter_map(Result::ok)
        .collect();
    let from_arena: Vec<Line<'_>> = l.iter().map(|l| arena.line(l)).collect();
    assert_eq!(same, from_arena);
}

#[test]
fn a_series_key_ending_in_an_escaped_space_is_parsed_in_full() {
    // The first space of line 2 is escaped (its candidate key `m,t=a\` is no stored key);
    // lines 3 and 4 end their series at a tab, which is never stored.
    let body = b"m,t=a v=1\nm,t=a\\ b v=2\nm,t=a\tv=3\nm,t=a\tv=4\n";
    let mut arena = Arena::default();
    let mut lines = parse(body, Options::default());
    let mut got = Vec::new();
    while let Some(item) = lines.next_in(&mut arena) {
        got.push(arena.line(&item.unwrap()));
    }
    let same: Vec<Line<'_>> = parse(body, Options::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, same);
    assert_eq!(got[1].tags, vec![("t".into(), "a b".into())]);
    assert_eq!(got[3].tags, vec![("t".into(), "a".into())]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    /// Parsing a body into one arena (series and field keys looked up by their bytes)
    /// gives the lines that parsing each line on its own gives. Bodies repeat a few
    /// lines, with variations, so that lookups hit, nearly hit and miss.
    #[test]
    fn a_shared_arena_parses_as_lines_on_their_own(
        lines in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "m", "m,t=a", "m,t=a\\", "m,t=a\\ b", "m,t=\\,", "n,t=a,u=b", "m,t=é",
                    "m,t=a,", "m,=a", "", "#m", "m,t=<ff>",
                ]),
                prop::sample::select(vec![" ", " ", "  ", "\t", "\\ ", ""]),
                prop::sample::select(vec![
                    "x=1", "x=1i", "x=2.5", "y=\"s\"", "x=t", "x=3u", "x=-3u", "x=1,y=2",
                    "x=1,y=2i", "y=2,x=1", "x\\ =1", "x=", "x=1,", "=1", "x=\"a\nb\"", "x=<ff>",
                    "<ff>=1", "x=1,y=2,z=3", "x =1", "x\\\\=1", "x\\\\==1",
                ]),
                prop::sample::select(vec!["", " 1", " -5", " x", "  7 ", " 1 2"]),
                prop::sample::select(vec!["\n", "\n", "\r\n", "\n\n", ""]),
            ),
            0..30,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(series, sep, fields, ts, end)| format!("{series}{sep}{fields}{ts}{end}"))
            .collect();
        // "<ff>" stands for a byte that is not UTF-8.
        let body: Vec<u8> = text
            .split("<ff>")
            .collect::<Vec<_>>()
            .join("\u{1}")
            .bytes()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect();
        let opts = Options { max_line_bytes: 64 };
        let alone: Vec<_> = parse(&body, opts).collect();
        let mut arena = Arena::default();
        let mut lines = parse(&body, opts);
        let mut shared = Vec::new();
        while let Some(item) = lines.next_in(&mut arena) {
            if let Ok(l) = &item {
                let kinds: Vec<FieldKind> =
                    arena.field_keys(l.field_keys).iter().map(|(_, k)| *k).collect();
                let of_values: Vec<FieldKind> = arena.values(l).iter().map(FieldValue::kind).collect();
                prop_assert_eq!(kinds, of_values);
            }
            shared.push(item.map(|l| arena.line(&l)));
        }
        prop_assert_eq!(alone, shared);
    }
}
