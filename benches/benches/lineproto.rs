//! Line-protocol parsing into one arena (`Lines::next_in`, as HTTP ingest does) on a
//! 5,000-line TSBS cpu-only request: the usual case, where lines repeat a hundred series
//! and one list of field keys, next to the same lines with a series of their own each
//! (every series key is new, so every line's tags are parsed and stored).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_lineproto::{parse, Arena, Options};
use strata_tools::tsbs::{CpuOnly, CpuOnlyConfig};

const LINES: usize = 5_000;

/// The first `LINES` lines of TSBS cpu-only, 100 hosts.
fn tsbs_body() -> Vec<u8> {
    let mut generator = CpuOnly::new(CpuOnlyConfig::default());
    let rows: Vec<_> = generator.by_ref().take(LINES).collect();
    let mut lp = Vec::new();
    for row in &rows {
        generator.write_line(&mut lp, row).expect("write to a Vec");
    }
    lp
}

/// The same lines, each with a hostname of its own.
fn unique_series_body(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).expect("generated text");
    let mut out = String::with_capacity(body.len() + LINES * 8);
    for (i, line) in text.lines().enumerate() {
        out.push_str(&line.replacen("hostname=host_", &format!("hostname=h{i}_"), 1));
        out.push('\n');
    }
    out.into_bytes()
}

fn count_lines(body: &[u8]) -> usize {
    let mut arena = Arena::default();
    let mut lines = parse(body, Options::default());
    let mut n = 0;
    while let Some(item) = lines.next_in(&mut arena) {
        n += usize::from(item.is_ok());
    }
    n
}

fn lineproto(c: &mut Criterion) {
    let repeated = tsbs_body();
    let unique = unique_series_body(&repeated);
    assert_eq!(count_lines(&repeated), LINES);
    assert_eq!(count_lines(&unique), LINES);
    let mut group = c.benchmark_group("lineproto");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("parse_tsbs_5000_lines_100_series", |b| {
        b.iter(|| count_lines(&repeated))
    });
    group.bench_function("parse_tsbs_5000_lines_5000_series", |b| {
        b.iter(|| count_lines(&unique))
    });
    group.finish();
}

criterion_group!(benches, lineproto);
criterion_main!(benches);
