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
//!
//! [`Engine::erase_where`] adds, per table, a caller's test over whole rows (a `DELETE`'s
//! condition on field values, which a [`Predicate`] cannot hold): the count pass then also
//! collects the series key and time of every visible row that passes it, in the same
//! snapshot, and the erasure keeps those points ([`Predicate::Points`]). Every version of
//! such a point written at or before `L` goes, so an older version can never reappear from
//! under a deleted one.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;

use super::{now_ns, Engine};
use crate::catalog::TableState;
use crate::erasure::{ErasedTable, Erasure, ErasureRequest, ErasureState};
use crate::error::{Error, Result};
use crate::predicate::{Bound, Predicate, SeriesPoints};
use crate::scan::{Cols, ScanRequest};
use crate::schema::NULL_TIME;

/// Points one erasure by a row test may list. They stay in the catalog, which is copied
/// at every commit and rewritten at every persist, until the purge is done, and every scan
/// of the table resolves them meanwhile: a bound keeps both cheap.
pub const MAX_ERASED_POINTS: usize = 100_000;

/// A caller's test over whole rows, choosing among the rows of a table's predicate those an
/// erasure removes ([`Engine::erase_where`]).
pub struct RowFilter<E> {
    /// Storage columns the test reads: the batch it is given has these, in this order,
    /// under their names and with their storage types.
    pub columns: Vec<String>,
    /// TRUE for rows to remove (FALSE and NULL keep them).
    pub test: RowTest<E>,
}

/// The test of a [`RowFilter`].
pub type RowTest<E> =
    Box<dyn Fn(&RecordBatch) -> std::result::Result<BooleanArray, E> + Send + Sync>;

impl<E> std::fmt::Debug for RowFilter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFilter")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Applies an erasure: the rows are invisible to every scan started after this returns,
    /// also after a crash, and the purge job removes them from every file. Returns the
    /// pending receipt (its id and the rows that became invisible per table).
    pub fn erase(&self, req: &ErasureRequest) -> Result<Erasure> {
        self.erase_where::<Error>(req, &[])
    }

    /// [`Engine::erase`] where `filters[i]`, if given, further chooses which rows of
    /// `req.tables[i]`'s predicate go (see the module documentation). Fails with
    /// [`Error::UnsupportedPredicate`] for an append-only table (its rows have no key), with
    /// [`Error::TooManyPoints`] when more than [`MAX_ERASED_POINTS`] rows pass; a test's own
    /// error is returned as is.
    pub fn erase_where<E: From<Error>>(
        &self,
        req: &ErasureRequest,
        filters: &[Option<RowFilter<E>>],
    ) -> std::result::Result<Erasure, E> {
        let inner = &self.inner;
        if inner.is_shut_down() {
            return Err(Error::Closed.into());
        }
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        let mut bound = Vec::with_capacity(req.tables.len());
        for (i, (name, pred)) in req.tables.iter().enumerate() {
            let table = Arc::clone(current.table(name)?);
            let b = pred.bind(&table.schema)?;
            let filter = filters.get(i).and_then(Option::as_ref);
            if filter.is_some() && table.schema.append_only {
                return Err(Error::UnsupportedPredicate {
                    table: name.clone(),
                    reason: "the rows of an append-only table have no key, so a DELETE from it may compare only the time column and tags with values".into(),
                }
                .into());
            }
            bound.push((table, pred.clone(), b, filter));
        }
        let (lsn, scans) = {
            let _generation = inner.generation.write();
            let lsn = inner.wal.last_lsn();
            inner.wal.roll().map_err(Error::from)?;
            let scans = bound
                .iter()
                .map(|(t, _, b, f)| self.start_scan(&count_request(t, b, *f), true))
                .collect::<Result<Vec<_>>>()?;
            (lsn, scans)
        };
        let mut tables = Vec::with_capacity(bound.len());
        for ((table, pred, b, filter), scan) in bound.iter().zip(scans) {
            let mut rows = 0u64;
            // The batch's leading columns; a row test's field columns follow.
            let columns = read_columns(b, filter.map(|_| table.schema.tags.len()));
            let mut points = filter.map(|_| Points::new(&table.schema));
            for batch in scan {
                let batch = batch?;
                let mut cols = Cols {
                    rows: batch.num_rows(),
                    cols: vec![None; table.schema.num_columns()],
                };
                for (c, array) in columns.iter().zip(batch.columns()) {
                    cols.cols[*c] = Some(Arc::clone(array));
                }
                let mut m = b.matches(&cols)?;
                if let (Some(f), Some(points)) = (filter, points.as_mut()) {
                    let passed = (f.test)(&test_batch(&batch, f)?)?;
                    m = arrow::compute::and_kleene(&m, &passed).map_err(Error::from)?;
                    match points.add(&cols, &m) {
                        Added::Ok => {}
                        Added::TooMany => {
                            return Err(Error::TooManyPoints {
                                table: table.schema.name.clone(),
                                limit: MAX_ERASED_POINTS,
                            }
                            .into())
                        }
                        Added::NullTime => {
                            return Err(Error::UnsupportedPredicate {
                                table: table.schema.name.clone(),
                                reason: "the condition on fields matches a row whose time is NULL, which has no key to delete it by; add \"AND time_column IS NOT NULL\", or delete such rows by the time column and tags alone".into(),
                            }
                            .into())
                        }
                    }
                }
                rows += m.true_count() as u64;
            }
            tables.push(ErasedTable {
                table: table.schema.name.clone(),
                table_id: table.id,
                lsn: lsn.0,
                predicate: Some(match points {
                    Some(p) => p.into_predicate(),
                    None => pred.clone(),
                }),
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
/// With `key_tags`, also a point's key: the time column and the first `key_tags` columns
/// after it (every tag).
fn read_columns(b: &Bound, key_tags: Option<usize>) -> Vec<usize> {
    let mut cols = Vec::new();
    b.columns(&mut cols);
    cols.push(0);
    if let Some(n) = key_tags {
        cols.extend(1..=n);
    }
    cols.sort_unstable();
    cols.dedup();
    cols
}

/// The scan that counts a predicate's rows: its columns (and a row test's), pruned by its
/// time and tag envelopes.
fn count_request<E>(table: &TableState, b: &Bound, filter: Option<&RowFilter<E>>) -> ScanRequest {
    let names: Vec<&str> = table.schema.column_names().collect();
    let envelope = b.time_envelope();
    let key_tags = filter.map(|_| table.schema.tags.len());
    let mut columns: Vec<&str> = read_columns(b, key_tags)
        .into_iter()
        .map(|c| names[c])
        .collect();
    // A row test's columns the predicate does not read come last.
    if let Some(f) = filter {
        for c in &f.columns {
            if !columns.contains(&c.as_str()) {
                columns.push(c);
            }
        }
    }
    let mut req = ScanRequest::new(&table.schema.name)
        .with_projection(columns)
        .with_time_range(envelope.start, envelope.end)
        .with_readers(2);
    req.tag_filters = b.tag_envelope(&table.schema);
    req
}

/// The columns of a count scan's batch a row test reads, in its order.
fn test_batch<E>(batch: &RecordBatch, f: &RowFilter<E>) -> Result<RecordBatch> {
    let schema = batch.schema();
    let indices = f
        .columns
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| Error::Internal {
                reason: format!("row test column {c:?} was not read"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(batch.project(&indices)?)
}

/// The points a row test passed, by series.
struct Points {
    columns: Vec<String>,
    tags: usize,
    series: HashMap<Vec<Option<String>>, Vec<i64>>,
    count: usize,
}

/// What [`Points::add`] made of a batch's matching rows.
enum Added {
    Ok,
    /// Past [`MAX_ERASED_POINTS`].
    TooMany,
    /// A matching row has a NULL time: rows with a NULL time share their point (series,
    /// NULL) with each other, so it cannot name the one row.
    NullTime,
}

impl Points {
    fn new(schema: &crate::schema::TableSchema) -> Self {
        Points {
            columns: schema.tags.clone(),
            tags: schema.tags.len(),
            series: HashMap::new(),
            count: 0,
        }
    }

    /// Adds the rows of `cols` where `m` is TRUE.
    fn add(&mut self, cols: &Cols, m: &BooleanArray) -> Added {
        if m.true_count() == 0 {
            return Added::Ok;
        }
        let ts = cols.cols[0]
            .as_ref()
            .expect("the time column is read")
            .as_primitive::<TimestampNanosecondType>();
        let tags: Vec<_> = (1..=self.tags)
            .map(|c| {
                cols.cols[c]
                    .as_ref()
                    .expect("every tag is read")
                    .as_string::<i32>()
            })
            .collect();
        for i in (0..cols.rows).filter(|&i| m.value(i) && m.is_valid(i)) {
            if ts.value(i) == NULL_TIME {
                return Added::NullTime;
            }
            let key: Vec<Option<String>> = tags
                .iter()
                .map(|a| a.is_valid(i).then(|| a.value(i).to_owned()))
                .collect();
            self.series.entry(key).or_default().push(ts.value(i));
            self.count += 1;
            if self.count > MAX_ERASED_POINTS {
                return Added::TooMany;
            }
        }
        Added::Ok
    }

    fn into_predicate(self) -> Predicate {
        let mut series: Vec<SeriesPoints> = self
            .series
            .into_iter()
            .map(|(tags, mut times)| {
                times.sort_unstable();
                times.dedup();
                SeriesPoints { tags, times }
            })
            .collect();
        series.sort_by(|a, b| a.tags.cmp(&b.tags));
        Predicate::Points {
            columns: self.columns,
            series,
        }
    }
}
