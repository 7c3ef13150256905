//! The erasure ledger: one receipt per `DELETE`, subject erasure and retention drop.
//!
//! An erasure is *pending* while any file may still hold its rows: it lives in the catalog
//! with each table's predicate and LSN (the tombstone scans apply), and every rewrite that
//! removes its rows records the file and the rows in the same catalog commit. Once nothing
//! holds its rows (memtables flushed, WAL files gone, every file rewritten or deleted) and a
//! verification pass found none, the receipt, *without* the predicate, is appended durably
//! to `erasures.log` and only then removed from the catalog. A crash between the two leaves
//! both; start-up drops the pending copy of a receipt the log already holds.
//!
//! A receipt never holds an erased subject's value: a subject is named by a keyed hash
//! ([`SubjectKey::hash`], HMAC-SHA-256 under a random key kept in the data directory), so an
//! officer who knows the value can find its receipt while the value is stored nowhere.
//!
//! `erasures.log` (layout in `storage/FORMAT.md`): `b"STRATERL"`, u32 LE version (1), then
//! records of u32 LE length, u32 LE CRC32 of the body, and a JSON body ([`Erasure`]). A torn
//! last record (a crash while appending) is cut off at open.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::predicate::Predicate;

const LOG_FILE: &str = "erasures.log";
const LOG_MAGIC: &[u8; 8] = b"STRATERL";
const LOG_VERSION: u32 = 1;
const KEY_FILE: &str = "SUBJECT_KEY";

/// What asked for an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureKind {
    /// `DELETE` or `TRUNCATE`.
    Delete,
    /// `ERASE SUBJECT`.
    Subject,
    /// Partitions past a table's retention, dropped by the retention job.
    Retention,
}

impl ErasureKind {
    pub fn name(self) -> &'static str {
        match self {
            ErasureKind::Delete => "delete",
            ErasureKind::Subject => "subject",
            ErasureKind::Retention => "retention",
        }
    }
}

/// Where an erasure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureState {
    /// No query returns the rows; files may still hold them.
    Invisible,
    /// No file holds them; the verification pass has not run yet.
    Purged,
    /// A pass re-read every file that held them and found none.
    Verified,
}

impl ErasureState {
    pub fn name(self) -> &'static str {
        match self {
            ErasureState::Invisible => "invisible",
            ErasureState::Purged => "purged",
            ErasureState::Verified => "verified",
        }
    }
}

/// A file an erasure rewrote or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// `local` (a segment) or `cold` (an object in the cold store).
    pub tier: String,
    /// The segment's path under the data directory, or the object's key.
    pub file: String,
    pub sha256_before: String,
    /// `None` when the file was deleted rather than rewritten.
    pub file_after: Option<String>,
    pub sha256_after: Option<String>,
    pub rows_before: u64,
    pub rows_after: u64,
}

/// One table's part of an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedTable {
    pub table: String,
    pub table_id: u64,
    /// The erasure removes rows written at or before this LSN.
    pub lsn: u64,
    /// The rows to remove; dropped from a finished receipt (it may name a subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) predicate: Option<Predicate>,
    /// Rows that became invisible when the statement returned.
    pub rows: u64,
    /// Row versions physically removed from memtables (and so from the WAL).
    pub removed_memtable: u64,
    /// ... from local segments.
    pub removed_local: u64,
    /// ... from cold objects.
    pub removed_cold: u64,
    pub files: Vec<FileChange>,
}

/// A receipt: what was erased, for whom, where, and whether it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub id: u64,
    pub kind: ErasureKind,
    pub requested_by: String,
    /// Unix time in nanoseconds.
    pub requested_at_ns: i64,
    /// [`SubjectKey::hash`] of the erased subject, for [`ErasureKind::Subject`].
    pub subject_hash: Option<String>,
    pub tables: Vec<ErasedTable>,
    pub state: ErasureState,
    pub purged_at_ns: Option<i64>,
    pub verified_at_ns: Option<i64>,
    /// What the verification pass checked and found.
    pub verification: Option<String>,
}

impl Erasure {
    /// Rows that became invisible, over every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// What an erasure is asked to remove.
#[derive(Debug, Clone)]
pub struct ErasureRequest {
    pub kind: ErasureKind,
    pub requested_by: String,
    pub subject_hash: Option<String>,
    /// (table, rows to remove) pairs; one erasure covers them all atomically.
    pub tables: Vec<(String, Predicate)>,
}

/// Finished receipts, appended to `erasures.log`.
#[derive(Debug)]
pub(crate) struct ReceiptLog {
    path: PathBuf,
    file: std::fs::File,
    receipts: Vec<Erasure>,
}

impl ReceiptLog {
    /// Opens (creating) the log of `dir`, cutting off a torn last record.
    pub(crate) fn open(dir: &Path) -> Result<ReceiptLog> {
        let path = dir.join(LOG_FILE);
        let mut bytes = Vec::new();
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
        let corrupt = |offset: usize, reason: String| Error::Corruption {
            file: path.clone(),
            offset: offset as u64,
            reason,
        };
        let mut receipts: Vec<Erasure> = Vec::new();
        let mut valid = 0;
        if !bytes.is_empty() {
            if bytes.len() < 12 || &bytes[..8] != LOG_MAGIC {
                return Err(corrupt(0, "bad erasure log magic".into()));
            }
            let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            if version != LOG_VERSION {
                return Err(Error::UnsupportedVersion {
                    file: path,
                    version,
                    supported: LOG_VERSION,
                });
            }
            let mut at = 12;
            valid = 12;
            while at + 8 <= bytes.len() {
                let len =
                    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
                        as usize;
                let crc = u32::from_le_bytes([
                    bytes[at + 4],
                    bytes[at + 5],
                    bytes[at + 6],
                    bytes[at + 7],
                ]);
                let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                    break;
                };
                if crc32fast::hash(body) != crc {
                    if at + 8 + len == bytes.len() {
                        break; // a torn last record
                    }
                    return Err(corrupt(at, "erasure receipt checksum mismatch".into()));
                }
                let receipt: Erasure = serde_json::from_slice(body)
                    .map_err(|e| corrupt(at, format!("erasure receipt json: {e}")))?;
                match receipts.iter_mut().find(|r| r.id == receipt.id) {
                    Some(r) => *r = receipt,
                    None => receipts.push(receipt),
                }
                at += 8 + len;
                valid = at;
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if valid < bytes.len() {
            tracing::warn!(file = %path.display(), cut = bytes.len() - valid, "cutting a torn erasure receipt");
            file.set_len(valid as u64)
                .map_err(|e| Error::io(&path, e))?;
        }
        if valid == 0 {
            let mut header = LOG_MAGIC.to_vec();
            header.extend_from_slice(&LOG_VERSION.to_le_bytes());
            file.write_all(&header).map_err(|e| Error::io(&path, e))?;
        }
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        crate::catalog::sync_dir(dir)?;
        Ok(ReceiptLog {
            path,
            file,
            receipts,
        })
    }

    /// Appends a finished receipt durably. Its predicates must already be dropped.
    pub(crate) fn append(&mut self, receipt: &Erasure) -> Result<()> {
        debug_assert!(receipt.tables.iter().all(|t| t.predicate.is_none()));
        let body = serde_json::to_vec(receipt).map_err(|e| Error::Internal {
            reason: format!("erasure receipt does not serialize: {e}"),
        })?;
        let mut rec = Vec::with_capacity(body.len() + 8);
        rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        rec.extend_from_slice(&body);
        self.file
            .write_all(&rec)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        match self.receipts.iter_mut().find(|r| r.id == receipt.id) {
            Some(r) => *r = receipt.clone(),
            None => self.receipts.push(receipt.clone()),
        }
        Ok(())
    }

    pub(crate) fn receipts(&self) -> &[Erasure] {
        &self.receipts
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.receipts.iter().any(|r| r.id == id)
    }
}

/// The key subject hashes are computed with: 32 random bytes in `SUBJECT_KEY`, made when
/// the data directory is.
#[derive(Clone)]
pub(crate) struct SubjectKey([u8; 32]);

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

impl SubjectKey {
    /// Loads the key of `dir`, creating it durably if there is none.
    pub(crate) fn open(dir: &Path) -> Result<SubjectKey> {
        let path = dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::Corruption {
                    file: path.clone(),
                    offset: 0,
                    reason: format!("subject key has {} bytes, not 32", bytes.len()),
                })?;
                Ok(SubjectKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
                let tmp = dir.join(format!("{KEY_FILE}.tmp"));
                let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                f.write_all(&key)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| Error::io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
                crate::catalog::sync_dir(dir)?;
                Ok(SubjectKey(key))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// HMAC-SHA-256 of `value`, in lowercase hex.
    pub(crate) fn hash(&self, value: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(value.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a local file, in hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: u64) -> Erasure {
        Erasure {
            id,
            kind: ErasureKind::Subject,
            requested_by: "strata".into(),
            requested_at_ns: 1,
            subject_hash: Some("ab".into()),
            tables: Vec::new(),
            state: ErasureState::Verified,
            purged_at_ns: Some(2),
            verified_at_ns: Some(3),
            verification: None,
        }
    }

    #[test]
    fn the_log_keeps_receipts_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = ReceiptLog::open(dir.path()).unwrap();
            log.append(&receipt(1)).unwrap();
            log.append(&receipt(2)).unwrap();
        }
        let path = dir.path().join(LOG_FILE);
        let full = std::fs::metadata(&path).unwrap().len();
        // A crash halfway through a third record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
        drop(f);
        let mut log = ReceiptLog::open(dir.path()).unwrap();
        assert_eq!(log.receipts().len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
        log.append(&receipt(3)).unwrap();
        drop(log);
        let log = ReceiptLog::open(dir.path()).unwrap();
        let ids: Vec<u64> = log.receipts().iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn subject_hashes_are_keyed_and_stable() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ka = SubjectKey::open(a.path()).unwrap();
        let again = SubjectKey::open(a.path()).unwrap();
        let kb = SubjectKey::open(b.path()).unwrap();
        assert_eq!(ka.hash("u123"), again.hash("u123"));
        assert_ne!(ka.hash("u123"), kb.hash("u123"));
        assert_ne!(ka.hash("u123"), ka.hash("u124"));
        assert_eq!(ka.hash("u123").len(), 64);
    }
}
