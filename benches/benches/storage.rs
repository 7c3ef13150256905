//! Storage engine micro-benchmarks on TSBS cpu-only data: encode and decode of every column
//! encoding, memtable insert, and scans (full, projected, one host over one hour).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata_benches::decoded_bytes;
use strata_storage::internals::{self, Memtable};
use strata_storage::{Engine, EngineConfig, FsyncPolicy, ScanRequest, WriteBatch};
use strata_tools::tsbs::{CpuOnly, CpuOnlyConfig, DEFAULT_START_NS, INTERVAL_NS};

/// Rows per segment block: codecs see one block's worth of one series at a time.
const BLOCK: usize = 8192;

fn one_series(decimals: Option<u32>) -> (Vec<i64>, Vec<f64>) {
    let rows: Vec<_> = CpuOnly::new(CpuOnlyConfig {
        hosts: 1,
        duration_ns: BLOCK as i64 * INTERVAL_NS,
        decimals,
        ..CpuOnlyConfig::default()
    })
    .collect();
    (
        rows.iter().map(|r| r.ts).collect(),
        rows.iter().map(|r| r.values[0]).collect(),
    )
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.measurement_time(Duration::from_secs(3));
    let (ts, floats2) = one_series(Some(2));
    let (_, floats_full) = one_series(None);
    let ints: Vec<i64> = floats2.iter().map(|v| (v * 100.0) as i64).collect();
    let codes: Vec<u32> = (0..BLOCK as u32).map(|i| 1 + i / 1024).collect();
    let bools: Vec<bool> = floats2.iter().map(|v| *v > 50.0).collect();
    let strings: Vec<String> = floats2.iter().map(|v| format!("status-{v}")).collect();
    group.throughput(Throughput::Bytes((BLOCK * 8) as u64));

    macro_rules! pair {
        ($name:literal, $values:expr, $enc:path, $dec:path) => {{
            let values = $values;
            let mut encoded = Vec::new();
            $enc(values, &mut encoded);
            group.bench_function(BenchmarkId::new("encode", $name), |b| {
                let mut out = Vec::with_capacity(encoded.len() * 2);
                b.iter(|| {
                    out.clear();
                    $enc(std::hint::black_box(values), &mut out);
                })
            });
            group.bench_function(BenchmarkId::new("decode", $name), |b| {
                b.iter(|| $dec(std::hint::black_box(&encoded), BLOCK).expect("decode"))
            });
        }};
    }
    pair!(
        "timestamps_dod",
        &ts[..],
        internals::encode_timestamps,
        internals::decode_timestamps
    );
    pair!(
        "f64_2_decimals",
        &floats2[..],
        internals::encode_f64,
        internals::decode_f64
    );
    pair!(
        "f64_full_precision",
        &floats_full[..],
        internals::encode_f64,
        internals::decode_f64
    );
    pair!(
        "i64_walk",
        &ints[..],
        internals::encode_i64,
        internals::decode_i64
    );
    pair!(
        "tag_codes_rle",
        &codes[..],
        internals::encode_rle,
        internals::decode_rle
    );
    pair!(
        "bool_bits",
        &bools[..],
        internals::encode_bits,
        internals::decode_bits
    );
    {
        let mut encoded = Vec::new();
        internals::encode_strings(strings.iter().map(String::as_str), &mut encoded);
        group.bench_function(BenchmarkId::new("encode", "text"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                internals::encode_strings(strings.iter().map(String::as_str), &mut out);
            })
        });
        group.bench_function(BenchmarkId::new("decode", "text"), |b| {
            b.iter(|| {
                internals::decode_strings(std::hint::black_box(&encoded), BLOCK).expect("decode")
            })
        });
    }
    group.finish();
}

fn tsbs(hosts: usize, duration_ns: i64) -> CpuOnly {
    CpuOnly::new(CpuOnlyConfig {
        hosts,
        duration_ns,
        ..CpuOnlyConfig::default()
    })
}

fn memtable(c: &mut Criterion) {
    let schema = CpuOnly::schema();
    let mut batch = WriteBatch::new(&schema);
    let rows = tsbs(100, 3_600_000_000_000)
        .fill_batch(&mut batch, usize::MAX)
        .expect("generate");
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("insert_tsbs_100_hosts_1h", |b| {
        b.iter(|| {
            let mut m = Memtable::new(&schema);
            m.insert(&batch, 1);
            m
        })
    });
    let mut m = Memtable::new(&schema);
    m.insert(&batch, 1);
    group.bench_function("sorted_batch_tsbs_100_hosts_1h", |b| {
        b.iter(|| m.to_batch(&schema).expect("to_batch"))
    });
    group.bench_function("flush_batch_tsbs_100_hosts_1h", |b| {
        b.iter(|| m.to_flush_batch(&schema).expect("to_flush_batch"))
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EngineConfig::new(dir.path());
    config.fsync = FsyncPolicy::Never;
    let engine = Engine::open(config).expect("open");
    let schema = CpuOnly::schema();
    engine.create_table(schema.clone()).expect("create");
    let mut generator = tsbs(100, 6 * 3_600_000_000_000);
    loop {
        let mut batch = WriteBatch::new(&schema);
        if generator.fill_batch(&mut batch, 10_000).expect("generate") == 0 {
            break;
        }
        engine.write(&batch).expect("write");
    }
    engine.flush().expect("flush");
    engine.compact().expect("compact");

    let hour = 3_600_000_000_000;
    let requests = [
        ("all_columns", ScanRequest::new("cpu")),
        (
            "time_and_fields",
            ScanRequest::new("cpu")
                .with_projection(std::iter::once("time").chain(strata_tools::tsbs::FIELD_NAMES)),
        ),
        (
            "one_host_one_hour",
            ScanRequest::new("cpu")
                .with_tag_in("hostname", ["host_7"])
                .with_time_range(DEFAULT_START_NS + hour, DEFAULT_START_NS + 2 * hour),
        ),
    ];
    let mut group = c.benchmark_group("scan_tsbs_100_hosts_6h");
    group.sample_size(20);
    for (name, req) in requests {
        let bytes: usize = engine
            .scan(&req)
            .expect("scan")
            .map(|b| decoded_bytes(&b.expect("batch")))
            .sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                engine
                    .scan(&req)
                    .expect("scan")
                    .map(|b| b.expect("batch").num_rows())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codecs, memtable, scan);
criterion_main!(benches);
