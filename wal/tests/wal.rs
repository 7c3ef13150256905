//! WAL behaviour through the public API, on real files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use strata_wal::{
    CorruptionKind, Error, FsyncPolicy, Lsn, Record, Wal, WalConfig, WalReader, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};

fn open(config: &WalConfig) -> (Wal, Vec<Record>) {
    let mut reader = WalReader::open(&config.dir).unwrap();
    let mut records = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        records.push(r);
    }
    let wal = Wal::start(config.clone(), reader.finish().unwrap()).unwrap();
    (wal, records)
}

fn replay(dir: &Path) -> Result<Vec<Record>, Error> {
    let mut reader = WalReader::open(dir)?;
    let mut records = Vec::new();
    while let Some(r) = reader.next_record()? {
        records.push(r);
    }
    reader.finish()?;
    Ok(records)
}

fn payload(i: u64) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat((i % 17) as usize)).into_bytes()
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_across_restarts_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_size = 256; // force many rollovers
    {
        let (wal, records) = open(&config);
        assert!(records.is_empty());
        for i in 1..=50u64 {
            assert_eq!(wal.append((i % 3) as u8, payload(i)).unwrap(), Lsn(i));
        }
    }
    assert!(segment_files(dir.path()).len() > 5);
    {
        let (wal, records) = open(&config);
        assert_eq!(records.len(), 50);
        for (i, r) in records.iter().enumerate() {
            let i = i as u64 + 1;
            assert_eq!(r.lsn, Lsn(i));
            assert_eq!(r.kind, (i % 3) as u8);
            assert_eq!(r.payload, payload(i));
        }
        assert_eq!(wal.append(9, b"after restart".to_vec()).unwrap(), Lsn(51));
    }
    let records = replay(dir.path()).unwrap();
    assert_eq!(records.len(), 51);
    assert_eq!(records[50].payload, b"after restart");
}

#[test]
fn every_policy_round_trips() {
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_millis(5)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = WalConfig::new(dir.path());
        config.fsync = policy;
        {
            let (wal, _) = open(&config);
            for i in 1..=20 {
                wal.append(1, payload(i)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(replay(dir.path()).unwrap().len(), 20, "{policy:?}");
    }
}

#[test]
fn torn_tail_at_every_byte_offset_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    {
        let (wal, _) = open(&config);
        for i in 1..=5 {
            wal.append(1, payload(i)).unwrap();
        }
    }
    let file = segment_files(dir.path()).pop().unwrap();
    let full = std::fs::read(&file).unwrap();
    let last_len = RECORD_HEADER_LEN + payload(5).len();
    let last_start = full.len() - last_len;
    for cut in last_start..full.len() {
        std::fs::write(&file, &full[..cut]).unwrap();
        let (wal, records) = open(&config);
        assert_eq!(records.len(), 4, "cut at {cut}");
        assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, last_start);
        // The log continues cleanly after the cut.
        assert_eq!(wal.append(2, b"next".to_vec()).unwrap(), Lsn(5));
        drop(wal);
        let records = replay(dir.path()).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(records[4].payload, b"next");
    }
}

#[test]
fn zero_filled_tail_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    {
        let (wal, _) = open(&config);
        wal.append(1, payload(1)).unwrap();
    }
    let file = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(replay(dir.path()).unwrap().len(), 1);
}

/// Appends records `1..=n` (payloads from [`payload`]) and closes the log.
fn append_records(config: &WalConfig, n: u64) {
    let (wal, _) = open(config);
    for i in 1..=n {
        wal.append(1, payload(i)).unwrap();
    }
}

/// Five records in one file; returns the file, its bytes and where the final record starts.
fn five_records(config: &WalConfig) -> (std::path::PathBuf, Vec<u8>, usize) {
    append_records(config, 5);
    let file = segment_files(&config.dir).pop().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let final_start = bytes.len() - RECORD_HEADER_LEN - payload(5).len();
    (file, bytes, final_start)
}

/// Bytes no record can be mistaken for (a power cut can leave stale blocks, not zeros).
fn garbage(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 151 + 7) as u8 | 1).collect()
}

#[test]
fn a_damaged_final_record_of_the_newest_file_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (file, full, final_start) = five_records(&config);
    // Its last bytes were lost and stale bytes read back instead, with and without more
    // stale bytes after it (the file's size had grown past the record).
    for extra in [0, 1, 4096] {
        for keep in [0, 3, RECORD_HEADER_LEN, RECORD_HEADER_LEN + 2] {
            let mut bytes = full[..final_start + keep].to_vec();
            bytes.extend(garbage(full.len() - final_start - keep + extra));
            std::fs::write(&file, &bytes).unwrap();
            let (wal, records) = open(&config);
            assert_eq!(records.len(), 4, "keep {keep}, extra {extra}");
            assert_eq!(
                std::fs::metadata(&file).unwrap().len() as usize,
                final_start
            );
            assert_eq!(wal.append(2, b"next".to_vec()).unwrap(), Lsn(5));
            drop(wal);
            assert_eq!(replay(dir.path()).unwrap()[4].payload, b"next");
        }
    }
}

#[test]
fn a_damaged_record_followed_by_a_valid_one_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (file, mut bytes, final_start) = five_records(&config);
    // The fourth record's payload: the fifth, still valid, follows it.
    let fourth = final_start - payload(4).len() - RECORD_HEADER_LEN;
    bytes[final_start - 1] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    match replay(dir.path()) {
        Err(Error::Corruption {
            file: f,
            offset,
            kind,
        }) => {
            assert_eq!(f, file);
            assert_eq!(offset as usize, fourth);
            assert!(
                matches!(kind, CorruptionKind::PayloadChecksum { .. }),
                "{kind:?}"
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Nothing was truncated.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}

#[test]
fn a_torn_header_of_a_new_empty_newest_file_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_size = 150;
    append_records(&config, 6);
    let files = segment_files(dir.path());
    let kept = replay(dir.path()).unwrap().len();
    // A further file was being created when the power went: its header is stale bytes.
    let next_lsn = kept as u64 + 1;
    let torn = dir.path().join(format!("{next_lsn:020}.wal"));
    std::fs::write(&torn, garbage(SEGMENT_HEADER_LEN)).unwrap();
    let (wal, records) = open(&config);
    assert_eq!(records.len(), kept);
    assert_eq!(wal.append(2, b"next".to_vec()).unwrap(), Lsn(next_lsn));
    drop(wal);
    assert_eq!(replay(dir.path()).unwrap().len(), kept + 1);
    // A damaged header of a file that is not the newest is corruption.
    let mut first = std::fs::read(&files[0]).unwrap();
    first[0] ^= 1;
    std::fs::write(&files[0], &first).unwrap();
    assert!(matches!(
        replay(dir.path()),
        Err(Error::Corruption {
            kind: CorruptionKind::BadMagic,
            ..
        })
    ));
}

#[test]
fn a_flipped_bit_anywhere_but_the_final_record_is_reported_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_size = 150;
    append_records(&config, 12);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let newest = files.last().unwrap();
    let final_start = originals.last().unwrap().len() - RECORD_HEADER_LEN - payload(12).len();
    for (f, original) in files.iter().zip(&originals) {
        for offset in 0..original.len() {
            for bit in [0u8, 3, 7] {
                let mut bytes = original.clone();
                bytes[offset] ^= 1 << bit;
                std::fs::write(f, &bytes).unwrap();
                if f == newest && offset >= final_start {
                    // The final record of the newest file: a torn tail, cut off.
                    let records = replay(dir.path()).unwrap();
                    assert_eq!(records.len(), 11, "flip at {offset} of the final record");
                    assert_eq!(std::fs::metadata(f).unwrap().len() as usize, final_start);
                    continue;
                }
                match replay(dir.path()) {
                    Err(Error::Corruption {
                        file,
                        offset: at,
                        kind,
                    }) => {
                        assert_eq!(&file, f, "flip at {offset}");
                        // The reported offset is the start of the damaged record (or 0 for
                        // the segment header), never past the flipped byte.
                        assert!(at as usize <= offset, "reported {at} for flip at {offset}");
                        if offset < SEGMENT_HEADER_LEN {
                            assert!(
                                matches!(
                                    kind,
                                    CorruptionKind::BadMagic
                                        | CorruptionKind::UnknownVersion { .. }
                                ) || offset >= 12,
                                "{kind:?}"
                            );
                        }
                    }
                    Err(other) => panic!("flip at {offset} bit {bit}: unexpected {other}"),
                    Ok(records) => {
                        // Only the reserved header bytes carry no meaning.
                        assert!(
                            (12..16).contains(&offset),
                            "flip at {offset} of {} went unnoticed ({} records)",
                            f.display(),
                            records.len()
                        );
                    }
                }
            }
            std::fs::write(f, original).unwrap();
        }
    }
}

#[test]
fn concurrent_appenders_are_all_acknowledged_and_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let threads = 16;
    let per_thread = 200;
    {
        let (wal, _) = open(&config);
        let wal = Arc::new(wal);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = Arc::clone(&wal);
                std::thread::spawn(move || {
                    let mut lsns = Vec::new();
                    for i in 0..per_thread {
                        let body = format!("{t}:{i}").into_bytes();
                        lsns.push(wal.append(t as u8, body).unwrap());
                    }
                    lsns
                })
            })
            .collect();
        let mut all: Vec<Lsn> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(
            all.len(),
            threads * per_thread,
            "every append got its own lsn"
        );
    }
    let records = replay(dir.path()).unwrap();
    assert_eq!(records.len(), threads * per_thread);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.lsn, Lsn(i as u64 + 1), "replayed in sequence order");
    }
    // Each thread's own records appear in the order it appended them.
    for t in 0..threads {
        let mine: Vec<usize> = records
            .iter()
            .filter(|r| r.kind == t as u8)
            .map(|r| {
                let s = String::from_utf8(r.payload.clone()).unwrap();
                s.split(':').nth(1).unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(mine, (0..per_thread).collect::<Vec<_>>());
    }
}

#[test]
fn checkpoint_deletes_covered_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_size = 200;
    let (wal, _) = open(&config);
    for i in 1..=30 {
        wal.append(1, payload(i)).unwrap();
    }
    let before = segment_files(dir.path()).len();
    let deleted = wal.checkpoint(Lsn(15)).unwrap();
    assert!(deleted > 0);
    assert_eq!(segment_files(dir.path()).len(), before - deleted);
    drop(wal);
    let records = replay(dir.path()).unwrap();
    // Everything above the checkpoint survives; nothing at or below it needs to.
    assert!(records.iter().any(|r| r.lsn == Lsn(16)));
    assert_eq!(records.last().unwrap().lsn, Lsn(30));
    // Checkpointing everything leaves an empty active segment that continues the sequence.
    let (wal, _) = open(&config);
    wal.checkpoint(Lsn(30)).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(wal.append(1, b"x".to_vec()).unwrap(), Lsn(31));
    drop(wal);
    let records = replay(dir.path()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].lsn, Lsn(31));
}

#[test]
fn raising_the_next_lsn_starts_a_fresh_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    {
        let (wal, _) = open(&config);
        wal.append(1, b"a".to_vec()).unwrap();
    }
    let mut reader = WalReader::open(dir.path()).unwrap();
    while reader.next_record().unwrap().is_some() {}
    let mut recovered = reader.finish().unwrap();
    recovered.ensure_next_lsn_above(Lsn(100));
    let wal = Wal::start(config.clone(), recovered).unwrap();
    assert_eq!(wal.append(1, b"b".to_vec()).unwrap(), Lsn(101));
    drop(wal);
    let records = replay(dir.path()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].lsn, Lsn(101));
}

#[test]
fn closed_wal_rejects_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(&WalConfig::new(dir.path()));
    wal.close();
    assert!(matches!(wal.append(1, vec![1]), Err(Error::Closed)));
}
