//! WAL append throughput under each fsync policy, with one writer and with eight writers
//! sharing group commits. Each record is 1 KiB (about a 10-row TSBS batch).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata_wal::{FsyncPolicy, Wal, WalConfig, WalReader};

const RECORD: usize = 1024;

fn open(dir: &std::path::Path, fsync: FsyncPolicy) -> Wal {
    let recovered = WalReader::open(dir)
        .and_then(|r| r.finish())
        .expect("recover wal");
    let mut config = WalConfig::new(dir);
    config.fsync = fsync;
    Wal::start(config, recovered).expect("start wal")
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let policies = [
        ("always", FsyncPolicy::Always),
        (
            "interval_10ms",
            FsyncPolicy::Interval(Duration::from_millis(10)),
        ),
        ("none", FsyncPolicy::Never),
    ];
    for (name, policy) in policies {
        for writers in [1usize, 8] {
            let dir = tempfile::tempdir().expect("tempdir");
            let wal = Arc::new(open(dir.path(), policy));
            group.throughput(Throughput::Bytes((RECORD * writers) as u64));
            group.bench_with_input(
                BenchmarkId::new(name, format!("{writers}_writers")),
                &writers,
                |b, &writers| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for _ in 0..writers {
                                let wal = Arc::clone(&wal);
                                s.spawn(move || {
                                    for _ in 0..iters {
                                        wal.append(1, vec![7u8; RECORD]).expect("append");
                                    }
                                });
                            }
                        });
                        let elapsed = start.elapsed();
                        wal.checkpoint(wal.last_lsn()).expect("checkpoint");
                        elapsed
                    });
                },
            );
            wal.close();
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
