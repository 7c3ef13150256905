//! Fuzzes the line-protocol parser: any input must parse without panicking, every item
//! must be a located line or error, a parsed line printed back must parse to itself, and
//! parsing into one arena (`Lines::next_in`, which looks up series and field keys seen
//! earlier in the body) must give the same lines as the iterator, which parses each line
//! on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_lineproto::{parse, Arena, FieldKind, FieldValue, Line, Options};

/// A name or value ending in a backslash cannot be printed unambiguously (its backslash
/// would escape the separator after it; InfluxDB has the same limitation).
fn printable(line: &Line<'_>) -> bool {
    let ends = |s: &str| s.ends_with('\\');
    !ends(&line.measurement)
        && line.tags.iter().all(|(k, v)| !ends(k) && !ends(v))
        && line.fields.iter().all(|(k, _)| !ends(k))
}

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let opts = Options { max_line_bytes: 4096 };
    let mut arena = Arena::default();
    let mut in_arena = Vec::new();
    let mut it = parse(data, opts);
    while let Some(item) = it.next_in(&mut arena) {
        if let Ok(l) = &item {
            let kinds: Vec<FieldKind> = arena.field_keys(l.field_keys).iter().map(|(_, k)| *k).collect();
            let of_values: Vec<FieldKind> = arena.values(l).iter().map(FieldValue::kind).collect();
            assert_eq!(kinds, of_values);
        }
        in_arena.push(item.map(|l| arena.line(&l)));
    }
    let items: Vec<_> = parse(data, opts).collect();
    assert_eq!(items, in_arena);
    for item in parse(data, opts) {
        match item {
            Ok(line) => {
                assert!(line.number >= 1 && line.number <= lines);
                assert!(!line.fields.is_empty());
                if printable(&line) {
                    let printed = line.to_string();
                    let again: Vec<_> = parse(
                        printed.as_bytes(),
                        Options { max_line_bytes: usize::MAX },
                    )
                    .collect();
                    match again.as_slice() {
                        [Ok(back)] => {
                            assert_eq!(back.measurement, line.measurement, "{printed}");
                            assert_eq!(back.tags, line.tags, "{printed}");
                            assert_eq!(back.fields, line.fields, "{printed}");
                            assert_eq!(back.timestamp, line.timestamp, "{printed}");
                        }
                        other => panic!("{printed:?} parsed back as {other:?}"),
                    }
                }
            }
            Err(e) => assert!(e.line >= 1 && e.line <= lines && e.column >= 1),
        }
    }
});
