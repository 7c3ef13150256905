//! Fuzzes the line-protocol parser: any input must parse without panicking, every item
//! must be a located line or error, a parsed line printed back must parse to itself, and
//! parsing into an arena (`Lines::next_in`) must give the same lines as the iterator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_lineproto::{parse, Arena, Line, Options};

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
        in_arena.push(item);
    }
    let items: Vec<_> = parse(data, opts).collect();
    assert_eq!(items.len(), in_arena.len());
    for (a, b) in items.iter().zip(&in_arena) {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.number, &a.measurement, a.timestamp), (b.number, &b.measurement, b.timestamp));
                assert_eq!(a.tags, arena.tags[b.tags.clone()]);
                assert_eq!(a.fields, arena.fields[b.fields.clone()]);
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("iterator gave {a:?}, next_in gave {b:?}"),
        }
    }
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
