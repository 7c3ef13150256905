//! Erasures: `DELETE`, `TRUNCATE` and subject erasure become invisible at once.
//!
//! [`Engine::erase`] takes, under the `maintenance` lock (no flush, compaction, tiering or
//! DDL commits meanwhile) and briefly the exclusive generation lock (no write lands
//! meanwhile), the WAL's last LSN `L`, rolls the WAL so that the records up to `L` end a WAL
//! file, and snapshots every table it erases from. Writes go on while it counts, in those
//! snapshots, the visible rows the predicates match: that is the exact count, because the
//! erasure removes precisely the matching rows written at or before `L`. It then commits a
//! catalog version listing the erasure as pending; from that commit on, every scan applies
//! its tombstones, and the purge job (`purge`) removes the rows physically. Rows written
//! after `L` (a client re-inserting them, say) are not touched.

use std::sync::Arc;

use super::{now_ns, Engine};
use crate::catalog::TableState;
use crate::erasure::{ErasedTable, Erasure, ErasureRequest, ErasureState};
use crate::error::{Error, Result};
use crate::predicate::Bound;
use crate::scan::{Cols, ScanRequest};

impl Engine {
    /// Applies an erasure: the rows are invisible to every scan started after this returns,
    /// also after a crash, and the purge job removes them from every file. Returns the
    /// pending receipt (its id and the rows that became invisible per table).
    pub fn erase(&self, req: &ErasureRequest) -> Result<Erasure> {
        let inner = &self.inner;
        if inner.is_shut_down() {
            return Err(Error::Closed);
        }
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        let mut bound = Vec::with_capacity(req.tables.len());
        for (name, pred) in &req.tables {
            let table = Arc::clone(current.table(name)?);
            let b = pred.bind(&table.schema)?;
            bound.push((table, pred.clone(), b));
        }
        let (lsn, scans) = {
            let _generation = inner.generation.write();
            let lsn = inner.wal.last_lsn();
            inner.wal.roll()?;
            let scans = bound
                .iter()
                .map(|(t, _, b)| self.start_scan(&count_request(t, b), true))
                .collect::<Result<Vec<_>>>()?;
            (lsn, scans)
        };
        let mut tables = Vec::with_capacity(bound.len());
        for ((table, pred, b), scan) in bound.iter().zip(scans) {
            let mut rows = 0u64;
            let columns = read_columns(b);
            for batch in scan {
                let batch = batch?;
                let mut cols = Cols {
                    rows: batch.num_rows(),
                    cols: vec![None; table.schema.num_columns()],
                };
                for (c, array) in columns.iter().zip(batch.columns()) {
                    cols.cols[*c] = Some(Arc::clone(array));
                }
                rows += b.matches(&cols)?.true_count() as u64;
            }
            tables.push(ErasedTable {
                table: table.schema.name.clone(),
                table_id: table.id,
                lsn: lsn.0,
                predicate: Some(pred.clone()),
                rows,
                removed_memtable: 0,
                removed_local: 0,
                removed_cold: 0,
                files: Vec::new(),
            });
        }
        let current = inner.state.lock().version.clone();
        let mut next = (*current).clone();
        let erasure = Erasure {
            id: next.next_erasure_id,
            kind: req.kind,
            requested_by: req.requested_by.clone(),
            requested_at_ns: now_ns(),
            subject_hash: req.subject_hash.clone(),
            tables,
            state: ErasureState::Invisible,
            purged_at_ns: None,
            verified_at_ns: None,
            verification: None,
        };
        next.next_erasure_id += 1;
        next.erasures.push(erasure.clone());
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        inner.jobs.wake();
        tracing::info!(
            erasure = erasure.id,
            kind = erasure.kind.name(),
            rows = erasure.rows(),
            "erasure applied; purge pending"
        );
        Ok(erasure)
    }

    /// Every erasure receipt: filed ones (verified) and pending ones, oldest first.
    pub fn erasures(&self) -> Vec<Erasure> {
        let mut out: Vec<Erasure> = self.inner.receipts.lock().receipts().to_vec();
        let pending = self.inner.state.lock().version.erasures.clone();
        for mut e in pending {
            if out.iter().any(|r| r.id == e.id) {
                continue;
            }
            for t in &mut e.tables {
                t.predicate = None;
            }
            out.push(e);
        }
        out.sort_by_key(|e| e.id);
        out
    }

    /// The keyed hash receipts name a subject by (HMAC-SHA-256 under this data directory's
    /// key, hex).
    pub fn subject_hash(&self, value: &str) -> String {
        self.inner.subject_key.hash(value)
    }
}

/// Table columns a predicate reads, in order (the time column when it reads none).
fn read_columns(b: &Bound) -> Vec<usize> {
    let mut cols = Vec::new();
    b.columns(&mut cols);
    cols.push(0);
    cols.sort_unstable();
    cols.dedup();
    cols
}

/// The scan that counts a predicate's rows: its columns, pruned by its time and tag
/// envelopes.
fn count_request(table: &TableState, b: &Bound) -> ScanRequest {
    let names: Vec<&str> = table.schema.column_names().collect();
    let envelope = b.time_envelope();
    let mut req = ScanRequest::new(&table.schema.name)
        .with_projection(read_columns(b).into_iter().map(|c| names[c]))
        .with_time_range(envelope.start, envelope.end)
        .with_readers(2);
    req.tag_filters = b.tag_envelope(&table.schema);
    req
}
