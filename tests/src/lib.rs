//! Integration tests that drive real processes: crash recovery of the storage engine
//! (`tests/storage_crash.rs` with the `storage-crash-writer` helper binary) and the cold
//! tier on a real S3 server (`tests/cold_s3.rs`, with [`s3::S3Server`]); the crash tests
//! also run on [`powerloss::PowerLossFs`], which loses every write not fsynced.
//!
//! Shared by the helper and the tests: the deterministic rows of batch `n`.

pub mod powerloss;
pub mod s3;

/// Rows per crash-test batch.
pub const ROWS_PER_BATCH: i64 = 50;
/// Distinct hosts in the crash-test data.
pub const HOSTS: i64 = 10;

/// The (host, ts, value) rows of batch `n`: timestamps are unique per batch so every row
/// is its own point; the value records which batch wrote it.
pub fn batch_rows(n: i64) -> impl Iterator<Item = (String, i64, f64)> {
    (0..ROWS_PER_BATCH).map(move |j| (format!("h{}", j % HOSTS), n * 1_000 + j, n as f64))
}
