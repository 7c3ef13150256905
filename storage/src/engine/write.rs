//! The write path: schema check, back-pressure, WAL append, memtable insert.
//!
//! A write is acknowledged once its WAL record is durable (per the fsync policy) and its
//! rows are in the active memtables, so a scan started after `write` returns sees them.
//! The generation lock is held shared from the WAL append to the memtable insert (see the
//! ordering rules in `engine.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_wal::Lsn;

use super::{Engine, Inner, MemKey};
use crate::batch::{WriteBatch, WAL_KIND_WRITE};
use crate::catalog::TableState;
use crate::error::{Error, Result};
use crate::group::{self, WAL_KIND_GROUP};
use crate::memtable::Memtable;
use crate::schema::TableSchema;

/// What a successful write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReceipt {
    /// LSN of the WAL record holding the rows.
    pub lsn: Lsn,
    pub rows: usize,
}

impl Engine {
    /// Writes a batch: durable in the WAL (per the fsync policy) and visible to scans when
    /// this returns. Past the memory limit it waits for a flush, then fails with the
    /// retryable [`Error::MemoryLimit`].
    pub fn write(&self, batch: &WriteBatch) -> Result<WriteReceipt> {
        let inner = &self.inner;
        if inner.is_shut_down() {
            return Err(Error::Closed);
        }
        if batch.is_empty() {
            return Ok(WriteReceipt {
                lsn: inner.wal.last_lsn(),
                rows: 0,
            });
        }
        let table = Arc::clone(inner.state.lock().version.table(&batch.table)?);
        check_batch(&table.schema, batch)?;
        inner.wait_for_memory()?;
        let payload = batch.encode(table.id);
        let (lsn, active_bytes) = {
            let _generation = inner.generation.read();
            let lsn = inner.wal.append(WAL_KIND_WRITE, payload)?;
            let mut st = inner.state.lock();
            // The schema as of now, not as of the check above: a column added in between
            // must exist in any memtable this write creates.
            let Some(current) = current_table(&st, &batch.table, table.id) else {
                // Dropped since the check. The record names the old table id, so replay
                // ignores it too: the write did not happen.
                return Err(Error::TableNotFound {
                    table: batch.table.clone(),
                });
            };
            let added = apply(&mut st.active, &current, batch, lsn.0);
            st.active_bytes += added;
            st.active_since.get_or_insert_with(Instant::now);
            (lsn, st.active_bytes)
        };
        if active_bytes >= inner.config.flush_threshold_bytes {
            inner.jobs.wake();
        }
        Ok(WriteReceipt {
            lsn,
            rows: batch.len(),
        })
    }

    /// Writes batches (of one table or several) as one atomic group: after a crash either
    /// all of them are there or none, and a scan sees all of them or none. Durable and
    /// visible when this returns, like [`Engine::write`]. A batch whose table is dropped
    /// before the group is applied is skipped, as if the drop came after the commit (replay
    /// does the same, by table id).
    pub fn write_group(&self, batches: &[WriteBatch]) -> Result<WriteReceipt> {
        let inner = &self.inner;
        if inner.is_shut_down() {
            return Err(Error::Closed);
        }
        let batches: Vec<&WriteBatch> = batches.iter().filter(|b| !b.is_empty()).collect();
        if batches.is_empty() {
            return Ok(WriteReceipt {
                lsn: inner.wal.last_lsn(),
                rows: 0,
            });
        }
        let tables: Vec<Arc<TableState>> = {
            let st = inner.state.lock();
            batches
                .iter()
                .map(|b| st.version.table(&b.table).map(Arc::clone))
                .collect::<Result<_>>()?
        };
        for (batch, table) in batches.iter().zip(&tables) {
            check_batch(&table.schema, batch)?;
        }
        inner.wait_for_memory()?;
        let encoded = batches
            .iter()
            .zip(&tables)
            .map(|(b, t)| b.encode(t.id))
            .collect();
        let parts = group::split(encoded, inner.config.group_record_bytes);
        // Held from the first record to the memtable insert: no flush (whose checkpoint
        // could delete the first records) runs in between.
        let _generation = inner.generation.read();
        let mut first = 0;
        let mut lsn = Lsn(0);
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            lsn = inner
                .wal
                .append(WAL_KIND_GROUP, group::encode_part(first, last, part))?;
            if i == 0 {
                first = lsn.0;
            }
            if !last {
                fail::fail_point!("group::between_records");
            }
        }
        let active_bytes = {
            let mut st = inner.state.lock();
            let mut added = 0;
            for (batch, table) in batches.iter().zip(&tables) {
                let Some(current) = current_table(&st, &batch.table, table.id) else {
                    continue;
                };
                added += apply(&mut st.active, &current, batch, lsn.0);
            }
            st.active_bytes += added;
            st.active_since.get_or_insert_with(Instant::now);
            st.active_bytes
        };
        if active_bytes >= inner.config.flush_threshold_bytes {
            inner.jobs.wake();
        }
        Ok(WriteReceipt {
            lsn,
            rows: batches.iter().map(|b| b.len()).sum(),
        })
    }
}

impl Inner {
    /// Waits while unflushed memtables hold `memory_limit_bytes` or more, asking the
    /// scheduler for a flush, for at most `backpressure_wait`.
    fn wait_for_memory(&self) -> Result<()> {
        let limit = self.config.memory_limit_bytes;
        let deadline = Instant::now() + self.config.backpressure_wait;
        loop {
            let used = self.state.lock().unflushed_bytes();
            if used < limit {
                return Ok(());
            }
            if !self.config.background || self.is_shut_down() || Instant::now() >= deadline {
                return Err(Error::MemoryLimit { used, limit });
            }
            self.jobs.wake();
            let mut guard = self.memory_lock.lock();
            self.memory_freed
                .wait_for(&mut guard, Duration::from_millis(20));
        }
    }
}

/// The table `name` as of now, if it is still the one with id `id` (not dropped, nor
/// dropped and created again): its current schema, columns added since a check included.
fn current_table(st: &super::State, name: &str, id: u64) -> Option<Arc<TableState>> {
    st.version.tables.get(name).filter(|t| t.id == id).cloned()
}

/// Checks that a batch fits the table: known tags and fields of matching types.
fn check_batch(schema: &TableSchema, batch: &WriteBatch) -> Result<()> {
    for t in &batch.tag_names {
        if !schema.tags.contains(t) {
            return Err(Error::ColumnNotFound {
                table: schema.name.clone(),
                column: t.clone(),
            });
        }
    }
    for f in &batch.fields {
        match schema.fields.iter().find(|d| d.name == f.name) {
            None => {
                return Err(Error::ColumnNotFound {
                    table: schema.name.clone(),
                    column: f.name.clone(),
                })
            }
            Some(d) if d.ty != f.ty => {
                return Err(Error::TypeMismatch {
                    table: schema.name.clone(),
                    column: f.name.clone(),
                    expected: d.ty,
                    found: f.ty,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Inserts a batch into the memtables of its partitions; returns bytes added.
pub(super) fn apply(
    active: &mut HashMap<MemKey, Memtable>,
    table: &TableState,
    batch: &WriteBatch,
    lsn: u64,
) -> usize {
    let schema = &table.schema;
    let first = schema.partition_start(batch.ts[0]);
    let all_same = batch.ts.iter().all(|&t| schema.partition_start(t) == first);
    let groups: Vec<(i64, Vec<usize>)> = if all_same {
        vec![(first, (0..batch.len()).collect())]
    } else {
        let mut by_part: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, &t) in batch.ts.iter().enumerate() {
            by_part
                .entry(schema.partition_start(t))
                .or_default()
                .push(i);
        }
        by_part.into_iter().collect()
    };
    let mut added = 0;
    for (part, rows) in groups {
        let mem = active
            .entry((table.id, part))
            .or_insert_with(|| Memtable::new(schema));
        added += mem.insert(batch, &rows, lsn);
    }
    added
}
