//! Retention: partitions wholly older than `now - retention` are dropped in every tier (the
//! `retention` job, one per table with a `retention`).
//!
//! Rows older than the cutoff are hidden from the moment they expire: every scan narrows its
//! time range to the table's retention. A partition whose whole time range has expired is
//! dropped by one catalog commit that no longer lists its segments and cold objects, and
//! that records a pending erasure of kind `retention` with every file and its SHA-256; the
//! segments are deleted once no scan reads them, the objects by the cold garbage collection,
//! and the purge job then files the receipt once they are gone. Rows past the cutoff in a
//! partition that is only partly expired go when it is next rewritten (flush, compaction,
//! tiering, purge), or with the partition.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use super::jobs::{JobKey, JobKind, Moved, Pending};
use super::purge::local_name;
use super::{now_ns, Inner};
use crate::catalog::{segment_path, TableState};
use crate::erasure::{sha256_file, ErasedTable, Erasure, ErasureKind, ErasureState, FileChange};
use crate::error::Result;

/// Partitions of `table` wholly older than its retention at `now`, in either tier.
fn expired_partitions(table: &TableState, now: i64) -> Vec<i64> {
    let Some(cutoff) = table.schema.retention_cutoff(now) else {
        return Vec::new();
    };
    let interval = table.schema.partition_interval_ns;
    table
        .partitions
        .keys()
        .chain(table.cold.keys())
        .copied()
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .filter(|&p| p.saturating_add(interval) <= cutoff)
        .collect()
}

impl Inner {
    /// One retention job per table with a `retention`, due when a partition has expired.
    pub(super) fn retention_pending(&self) -> Vec<Pending> {
        let version = self.state.lock().version.clone();
        let now = now_ns();
        version
            .tables
            .iter()
            .filter(|(_, t)| t.schema.retention_ns.is_some())
            .map(|(name, t)| {
                let due = !expired_partitions(t, now).is_empty();
                Pending {
                    key: JobKey {
                        kind: JobKind::Retention,
                        table: Some(t.id),
                    },
                    table: Some(name.clone()),
                    due,
                    next_run: due.then(SystemTime::now),
                }
            })
            .collect()
    }

    /// The retention job of one table: drops its expired partitions.
    pub(super) fn apply_retention(&self, table_id: u64) -> Result<Moved> {
        let version = self.state.lock().version.clone();
        let Some(table) = version.tables.values().find(|t| t.id == table_id) else {
            return Ok(Moved::default());
        };
        let parts = expired_partitions(table, now_ns());
        if parts.is_empty() {
            return Ok(Moved::default());
        }
        // Hash the files first, outside the lock; the commit checks they are still the
        // partitions' files.
        let mut files = Vec::new();
        let (mut local, mut cold) = (0u64, 0u64);
        for &p in &parts {
            for s in table.partitions.get(&p).into_iter().flatten() {
                let path = segment_path(&self.config.dir, table.id, p, s.entry.id);
                files.push(FileChange {
                    tier: "local".into(),
                    file: local_name(table.id, p, s.entry.id),
                    sha256_before: sha256_file(&path)?,
                    file_after: None,
                    sha256_after: None,
                    rows_before: s.entry.rows,
                    rows_after: 0,
                });
                local += s.entry.rows;
            }
            for c in table.cold.get(&p).into_iter().flatten() {
                let sha = match &c.entry.sha256 {
                    Some(sha) => sha.clone(),
                    None => self.cold.checksum(&c.entry.key)?.sha256,
                };
                files.push(FileChange {
                    tier: "cold".into(),
                    file: c.entry.key.clone(),
                    sha256_before: sha,
                    file_after: None,
                    sha256_after: None,
                    rows_before: c.entry.rows,
                    rows_after: 0,
                });
                cold += c.entry.rows;
            }
        }
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let Some((name, now_table)) = current.table_by_id(table_id) else {
            return Ok(Moved::default());
        };
        let unchanged = parts.iter().all(|p| {
            let ids = |t: &TableState| {
                (
                    t.partitions
                        .get(p)
                        .map(|s| s.iter().map(|s| s.entry.id).collect::<Vec<_>>()),
                    t.cold
                        .get(p)
                        .map(|c| c.iter().map(|c| c.entry.id).collect::<Vec<_>>()),
                )
            };
            ids(table) == ids(&now_table)
        });
        if !unchanged {
            return Ok(Moved::default()); // a later run looks again
        }
        let mut next = (*current).clone();
        let mut t = (*now_table).clone();
        let mut dropped_segments = Vec::new();
        let mut dropped_cold = Vec::new();
        for p in &parts {
            dropped_segments.extend(t.partitions.remove(p).into_iter().flatten());
            dropped_cold.extend(t.cold.remove(p).into_iter().flatten());
        }
        next.cold_garbage
            .extend(dropped_cold.iter().map(|c| c.entry.key.clone()));
        let now = now_ns();
        next.erasures.push(Erasure {
            id: next.next_erasure_id,
            kind: ErasureKind::Retention,
            requested_by: "retention".into(),
            requested_at_ns: now,
            subject_hash: None,
            tables: vec![ErasedTable {
                table: name.clone(),
                table_id,
                lsn: 0,
                predicate: None,
                rows: local + cold,
                removed_memtable: 0,
                removed_local: local,
                removed_cold: cold,
                files,
            }],
            state: ErasureState::Purged,
            purged_at_ns: Some(now),
            verified_at_ns: None,
            verification: None,
        });
        next.next_erasure_id += 1;
        next.tables.insert(name.clone(), Arc::new(t));
        next.persist(&self.config.dir)?;
        self.state.lock().version = Arc::new(next);
        for s in &dropped_segments {
            s.mark_obsolete();
        }
        self.retire_cold(&dropped_cold);
        drop(_m);
        tracing::info!(table = %name, partitions = parts.len(), rows = local + cold, "expired partitions dropped");
        self.jobs.wake();
        Ok(Moved {
            rows: local + cold,
            bytes: 0,
        })
    }
}
