//! Delete predicates: which rows a `DELETE` or a subject erasure removes.
//!
//! A [`Predicate`] constrains the time column and tag columns only. Those are a point's
//! identity (series key and time), so every version of a point matches or none does: a
//! predicate can be applied to each source (memtable, segment, cold object) on its own, before
//! or after deduplication, and physical purge file by file gives the same rows as masking at
//! read time. SQL's three-valued logic holds: a tag compared with a value is NULL when the
//! tag is NULL, and a row is removed only where the predicate is TRUE.
//!
//! A condition on field values cannot be kept that way (an older version of a point may
//! match where the visible one does not): [`Predicate::Points`] lists instead the points
//! such a condition matched when the erasure ran (`Engine::erase_where`), by series key and
//! time, which again every version of a point matches or none does.
//!
//! [`Bound`] is a predicate resolved against a table schema (column indices). It evaluates
//! on decoded columns ([`Bound::eval`]) and, without decoding anything, on what a file's
//! metadata says ([`Bound::prune`]): its time span and the distinct values of its tags.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::kernels::boolean::{and_kleene, not, or_kleene};
use arrow::datatypes::TimestampNanosecondType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scan::{Cols, TagFilter, TimeRange};
use crate::schema::{TableSchema, NULL_TIME};

/// Rows to remove, over a table's time and tag columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    /// Every row.
    All,
    /// Time in `[start, end)` (nanoseconds). A NULL time (stored as [`NULL_TIME`]) is
    /// inside when `start` is `NULL_TIME` (so `ts IS NULL` is `[NULL_TIME, NULL_TIME + 1)`),
    /// as with a scan's [`TimeRange`]; otherwise the predicate is NULL for it, as a SQL
    /// comparison with NULL is.
    Time {
        start: i64,
        end: i64,
    },
    /// The tag's value is one of `values` (NULL when the tag is NULL).
    TagIn {
        column: String,
        values: Vec<String>,
    },
    /// The tag is NULL.
    TagIsNull {
        column: String,
    },
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// These points: a row matches when its values of the tag columns `columns` and its
    /// time are those of one of `series` (NULL equal to NULL here: it is a key).
    Points {
        columns: Vec<String>,
        series: Vec<SeriesPoints>,
    },
}

/// The points of one series a [`Predicate::Points`] lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPoints {
    /// The series' value of each of the predicate's columns.
    pub tags: Vec<Option<String>>,
    /// Times, ascending, distinct.
    pub times: Vec<i64>,
}

/// A series key as one string (each value length-prefixed, NULL as `-`), for lookups.
fn series_key<'a>(out: &mut String, values: impl IntoIterator<Item = Option<&'a str>>) {
    use std::fmt::Write;
    out.clear();
    for v in values {
        match v {
            None => out.push('-'),
            Some(v) => {
                let _ = write!(out, "{}:{v}", v.len());
            }
        }
    }
}

impl Predicate {
    /// `column = value` on a tag.
    pub fn tag_eq(column: impl Into<String>, value: impl Into<String>) -> Predicate {
        Predicate::TagIn {
            column: column.into(),
            values: vec![value.into()],
        }
    }

    /// Resolves column names against `schema`: the time column and tags only.
    pub(crate) fn bind(&self, schema: &TableSchema) -> Result<Bound> {
        let tag = |column: &str| -> Result<usize> {
            match schema.tags.iter().position(|t| t == column) {
                Some(i) => Ok(i + 1),
                None if column == schema.time_column
                    || schema.fields.iter().any(|f| f.name == column) =>
                {
                    Err(Error::UnsupportedPredicate {
                        table: schema.name.clone(),
                        reason: format!(
                            "{column:?} is not a tag column; only the time column and tags can be compared with values here"
                        ),
                    })
                }
                None => Err(Error::ColumnNotFound {
                    table: schema.name.clone(),
                    column: column.to_owned(),
                }),
            }
        };
        Ok(match self {
            Predicate::All => Bound::All,
            Predicate::Time { start, end } => Bound::Time(TimeRange {
                start: *start,
                end: *end,
            }),
            Predicate::TagIn { column, values } => Bound::TagIn {
                column: tag(column)?,
                values: values.iter().cloned().collect(),
            },
            Predicate::TagIsNull { column } => Bound::TagIsNull {
                column: tag(column)?,
            },
            Predicate::And(ps) => {
                Bound::And(ps.iter().map(|p| p.bind(schema)).collect::<Result<_>>()?)
            }
            Predicate::Or(ps) => {
                Bound::Or(ps.iter().map(|p| p.bind(schema)).collect::<Result<_>>()?)
            }
            Predicate::Not(p) => Bound::Not(Box::new(p.bind(schema)?)),
            Predicate::Points { columns, series } => {
                let columns = columns.iter().map(|c| tag(c)).collect::<Result<Vec<_>>>()?;
                let mut points = PointSet {
                    columns,
                    series: std::collections::HashMap::with_capacity(series.len()),
                    values: Vec::new(),
                    span: (i64::MAX, i64::MIN),
                };
                points.values = vec![(HashSet::new(), false); points.columns.len()];
                let mut key = String::new();
                for s in series {
                    if s.tags.len() != points.columns.len() {
                        return Err(Error::Internal {
                            reason: "a point list's series has the wrong number of tags".into(),
                        });
                    }
                    let (Some(&first), Some(&last)) = (s.times.first(), s.times.last()) else {
                        continue;
                    };
                    points.span = (points.span.0.min(first), points.span.1.max(last));
                    for (slot, v) in points.values.iter_mut().zip(&s.tags) {
                        match v {
                            Some(v) => {
                                slot.0.insert(v.clone());
                            }
                            None => slot.1 = true,
                        }
                    }
                    series_key(&mut key, s.tags.iter().map(Option::as_deref));
                    points.series.insert(key.clone(), s.times.clone());
                }
                Bound::Points(std::sync::Arc::new(points))
            }
        })
    }

    /// Points listed, for a [`Predicate::Points`] (0 for other predicates).
    pub fn points(&self) -> usize {
        match self {
            Predicate::Points { series, .. } => series.iter().map(|s| s.times.len()).sum(),
            _ => 0,
        }
    }
}

/// Column `i` of `cols`, which a predicate reads and its scan therefore decoded.
fn read_column(cols: &Cols, i: usize) -> Result<&arrow::array::ArrayRef> {
    cols.cols
        .get(i)
        .and_then(Option::as_ref)
        .ok_or(Error::Internal {
            reason: format!("delete predicate needs column {i}, which was not read"),
        })
}

/// A [`Predicate::Points`] resolved: times by series key, and per column the values (and
/// whether NULL) some series has, for pruning.
#[derive(Debug)]
pub(crate) struct PointSet {
    columns: Vec<usize>,
    series: std::collections::HashMap<String, Vec<i64>>,
    values: Vec<(HashSet<String>, bool)>,
    /// Smallest and largest time listed.
    span: (i64, i64),
}

impl PointSet {
    fn eval(&self, cols: &Cols) -> Result<BooleanArray> {
        let column = |i: usize| read_column(cols, i);
        let ts = column(0)?.as_primitive::<TimestampNanosecondType>();
        let tags = self
            .columns
            .iter()
            .map(|&c| column(c).map(|a| a.as_string::<i32>()))
            .collect::<Result<Vec<_>>>()?;
        let mut key = String::new();
        Ok((0..cols.rows)
            .map(|i| {
                let t = ts.value(i);
                if t < self.span.0 || t > self.span.1 {
                    return Some(false);
                }
                series_key(
                    &mut key,
                    tags.iter().map(|a| a.is_valid(i).then(|| a.value(i))),
                );
                Some(
                    self.series
                        .get(key.as_str())
                        .is_some_and(|times| times.binary_search(&t).is_ok()),
                )
            })
            .collect())
    }

    fn prune(&self, facts: &dyn FileFacts) -> Coverage {
        let (min, max) = facts.span();
        if self.series.is_empty() || self.span.1 < min || self.span.0 > max {
            return Coverage::None;
        }
        for (i, &c) in self.columns.iter().enumerate() {
            let (wanted, wants_null) = &self.values[i];
            let possible = match facts.tag_values(c) {
                Some((present, has_null)) => {
                    (*wants_null && has_null) || present.iter().any(|v| wanted.contains(*v))
                }
                None => *wants_null || wanted.iter().any(|v| facts.may_hold(c, v)),
            };
            if !possible {
                return Coverage::None;
            }
        }
        Coverage::Some
    }
}

/// What metadata says a predicate does to a file's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// No row can match.
    None,
    /// Some rows may match.
    Some,
    /// Every row matches.
    All,
}

/// What a file's metadata says about it, for [`Bound::prune`].
pub(crate) trait FileFacts {
    /// Smallest and largest time of its rows (inclusive).
    fn span(&self) -> (i64, i64);
    /// The distinct non-NULL values of table column `column` (a tag) and whether any row
    /// holds NULL there; `None` when unknown.
    fn tag_values(&self, column: usize) -> Option<(Vec<&str>, bool)>;
    /// Whether some row may hold `value` in table column `column` (a tag), where
    /// `tag_values` does not know: `false` only when none can (a bloom filter says so).
    fn may_hold(&self, _column: usize, _value: &str) -> bool {
        true
    }
}

/// A predicate resolved against a table schema (table column indices: 0 is time, tags
/// from 1).
#[derive(Debug, Clone)]
pub(crate) enum Bound {
    All,
    Time(TimeRange),
    TagIn {
        column: usize,
        values: HashSet<String>,
    },
    TagIsNull {
        column: usize,
    },
    And(Vec<Bound>),
    Or(Vec<Bound>),
    Not(Box<Bound>),
    Points(std::sync::Arc<PointSet>),
}

impl Bound {
    /// Table columns the predicate reads.
    pub(crate) fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Bound::All => {}
            Bound::Time(_) => out.push(0),
            Bound::TagIn { column, .. } | Bound::TagIsNull { column } => out.push(*column),
            Bound::And(ps) | Bound::Or(ps) => ps.iter().for_each(|p| p.columns(out)),
            Bound::Not(p) => p.columns(out),
            Bound::Points(p) => {
                out.push(0);
                out.extend(&p.columns);
            }
        }
    }

    /// The predicate on each row of `cols` (which must hold the columns it reads): TRUE,
    /// FALSE or NULL.
    pub(crate) fn eval(&self, cols: &Cols) -> Result<BooleanArray> {
        let n = cols.rows;
        let column = |i: usize| read_column(cols, i);
        Ok(match self {
            Bound::All => BooleanArray::from(vec![true; n]),
            Bound::Time(r) => {
                let ts = column(0)?.as_primitive::<TimestampNanosecondType>();
                let null = (r.start == NULL_TIME).then_some(true);
                ts.values()
                    .iter()
                    .map(|&t| {
                        if t == NULL_TIME {
                            null
                        } else {
                            Some(t >= r.start && t < r.end)
                        }
                    })
                    .collect()
            }
            Bound::TagIn { column: c, values } => {
                let col = column(*c)?;
                let s = col.as_string::<i32>();
                s.iter().map(|v| v.map(|v| values.contains(v))).collect()
            }
            Bound::TagIsNull { column: c } => {
                let col = column(*c)?;
                (0..n).map(|i| Some(col.is_null(i))).collect()
            }
            Bound::And(ps) => {
                let mut acc = BooleanArray::from(vec![true; n]);
                for p in ps {
                    acc = and_kleene(&acc, &p.eval(cols)?)?;
                }
                acc
            }
            Bound::Or(ps) => {
                let mut acc = BooleanArray::from(vec![false; n]);
                for p in ps {
                    acc = or_kleene(&acc, &p.eval(cols)?)?;
                }
                acc
            }
            Bound::Not(p) => not(&p.eval(cols)?)?,
            Bound::Points(p) => p.eval(cols)?,
        })
    }

    /// Rows where the predicate is TRUE.
    pub(crate) fn matches(&self, cols: &Cols) -> Result<BooleanArray> {
        let m = self.eval(cols)?;
        Ok(match m.nulls() {
            None => m,
            Some(_) => m.iter().map(|v| Some(v == Some(true))).collect(),
        })
    }

    /// What the predicate does to a file, from its metadata alone.
    pub(crate) fn prune(&self, facts: &dyn FileFacts) -> Coverage {
        match self {
            Bound::All => Coverage::All,
            // A NULL time makes a comparison NULL, which a NOT keeps NULL: a file that may
            // hold one is decided row by row.
            Bound::Time(r) if facts.span().0 == NULL_TIME && r.start != NULL_TIME => Coverage::Some,
            Bound::Time(r) => {
                let (min, max) = facts.span();
                if !r.overlaps(min, max) {
                    Coverage::None
                } else if r.covers(min, max) {
                    Coverage::All
                } else {
                    Coverage::Some
                }
            }
            Bound::TagIn { column, values } => match facts.tag_values(*column) {
                None if !values.iter().any(|v| facts.may_hold(*column, v)) => Coverage::None,
                None => Coverage::Some,
                Some((present, has_null)) => {
                    if !present.iter().any(|v| values.contains(*v)) {
                        Coverage::None
                    } else if !has_null && present.iter().all(|v| values.contains(*v)) {
                        Coverage::All
                    } else {
                        Coverage::Some
                    }
                }
            },
            Bound::TagIsNull { column } => match facts.tag_values(*column) {
                None => Coverage::Some,
                Some((_, false)) => Coverage::None,
                Some((present, true)) if present.is_empty() => Coverage::All,
                Some(_) => Coverage::Some,
            },
            Bound::And(ps) => {
                let mut all = true;
                for p in ps {
                    match p.prune(facts) {
                        Coverage::None => return Coverage::None,
                        Coverage::Some => all = false,
                        Coverage::All => {}
                    }
                }
                if all {
                    Coverage::All
                } else {
                    Coverage::Some
                }
            }
            Bound::Or(ps) => {
                let mut none = true;
                for p in ps {
                    match p.prune(facts) {
                        Coverage::All => return Coverage::All,
                        Coverage::Some => none = false,
                        Coverage::None => {}
                    }
                }
                if none {
                    Coverage::None
                } else {
                    Coverage::Some
                }
            }
            // NOT of a predicate that is FALSE or NULL everywhere may still be NULL
            // everywhere, so only "every row matches" turns into a certainty.
            Bound::Not(p) => match p.prune(facts) {
                Coverage::All => Coverage::None,
                _ => Coverage::Some,
            },
            Bound::Points(p) => p.prune(facts),
        }
    }

    /// A time range holding every matching row.
    pub(crate) fn time_envelope(&self) -> TimeRange {
        match self {
            Bound::Time(r) => *r,
            Bound::And(ps) => ps.iter().fold(TimeRange::ALL, |acc, p| {
                let r = p.time_envelope();
                TimeRange {
                    start: acc.start.max(r.start),
                    end: acc.end.min(r.end),
                }
            }),
            Bound::Or(ps) if !ps.is_empty() => ps
                .iter()
                .map(Bound::time_envelope)
                .reduce(|a, b| TimeRange {
                    start: a.start.min(b.start),
                    end: a.end.max(b.end),
                })
                .unwrap_or(TimeRange::ALL),
            Bound::Points(p) if p.series.is_empty() => TimeRange { start: 0, end: 0 },
            Bound::Points(p) => TimeRange {
                start: p.span.0,
                end: p.span.1.saturating_add(1),
            },
            _ => TimeRange::ALL,
        }
    }

    /// Tag filters every matching row passes (from `tag IN (...)` terms joined by AND).
    pub(crate) fn tag_envelope(&self, schema: &TableSchema) -> Vec<TagFilter> {
        let filter = |column: usize, values: &HashSet<String>| {
            let mut values: Vec<String> = values.iter().cloned().collect();
            values.sort();
            TagFilter {
                column: schema.tags[column - 1].clone(),
                values,
            }
        };
        match self {
            Bound::TagIn { column, values } => vec![filter(*column, values)],
            Bound::And(ps) => ps.iter().flat_map(|p| p.tag_envelope(schema)).collect(),
            // A column no listed series has NULL in: one of its values.
            Bound::Points(p) => p
                .columns
                .iter()
                .zip(&p.values)
                .filter(|(_, (_, null))| !null)
                .map(|(&c, (values, _))| filter(c, values))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A pending erasure's predicate on one table, as scans and rewrites apply it: it removes
/// the matching rows written at or before `lsn` from every source that was not already
/// purged of it.
#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    /// The erasure's id; ids grow, so a file's `purged` mark says which it has seen.
    pub(crate) id: u64,
    pub(crate) lsn: u64,
    pub(crate) pred: Bound,
}

impl Tombstone {
    /// Whether it concerns a file whose rows were written at or before `max_lsn` and which
    /// was purged of every erasure up to `purged`.
    pub(crate) fn applies_to(&self, max_lsn: u64, purged: u64) -> bool {
        max_lsn <= self.lsn && purged < self.id
    }
}

/// Rows of `cols` that none of `tombstones` removes; `None` when it removes none. `lsn`
/// gives each row's LSN where the rows come from a memtable; `None` means every tombstone
/// passed in applies to every row.
pub(crate) fn keep_mask(
    cols: &Cols,
    tombstones: &[&Tombstone],
    lsn: Option<&[u64]>,
) -> Result<Option<BooleanArray>> {
    let mut removed: Option<BooleanArray> = None;
    for t in tombstones {
        let mut m = t.pred.matches(cols)?;
        if let Some(lsn) = lsn {
            m = m
                .iter()
                .zip(lsn)
                .map(|(v, &l)| Some(v == Some(true) && l <= t.lsn))
                .collect();
        }
        if m.true_count() == 0 {
            continue;
        }
        removed = Some(match removed {
            None => m,
            Some(prev) => arrow::compute::or(&prev, &m)?,
        });
    }
    removed.map(|r| Ok(not(&r)?)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
    use std::sync::Arc;

    fn schema() -> TableSchema {
        TableSchema::new(
            "t",
            "time",
            ["host", "user_id"],
            [("v", crate::FieldType::Float)],
        )
    }

    fn cols(rows: &[(i64, Option<&str>, Option<&str>)]) -> Cols {
        let ts: ArrayRef = Arc::new(TimestampNanosecondArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let host: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>());
        let user: ArrayRef = Arc::new(rows.iter().map(|r| r.2).collect::<StringArray>());
        Cols {
            rows: rows.len(),
            cols: vec![Some(ts), Some(host), Some(user), None],
        }
    }

    struct Facts {
        span: (i64, i64),
        hosts: Option<(Vec<&'static str>, bool)>,
    }

    impl FileFacts for Facts {
        fn span(&self) -> (i64, i64) {
            self.span
        }
        fn tag_values(&self, column: usize) -> Option<(Vec<&str>, bool)> {
            (column == 1).then(|| self.hosts.clone()).flatten()
        }
    }

    #[test]
    fn evaluation_follows_three_valued_logic() {
        let c = cols(&[
            (1, Some("a"), Some("u1")),
            (2, Some("b"), None),
            (3, None, Some("u1")),
        ]);
        let s = schema();
        let eval = |p: Predicate| -> Vec<bool> {
            let m = p.bind(&s).unwrap().matches(&c).unwrap();
            m.iter().map(|v| v.unwrap()).collect()
        };
        assert_eq!(eval(Predicate::tag_eq("host", "a")), [true, false, false]);
        // NOT (host = 'a') is NULL where host is NULL: that row stays.
        assert_eq!(
            eval(Predicate::Not(Box::new(Predicate::tag_eq("host", "a")))),
            [false, true, false]
        );
        assert_eq!(
            eval(Predicate::TagIsNull {
                column: "host".into()
            }),
            [false, false, true]
        );
        assert_eq!(
            eval(Predicate::Or(vec![
                Predicate::tag_eq("user_id", "u1"),
                Predicate::Time { start: 2, end: 3 }
            ])),
            [true, true, true]
        );
        assert_eq!(
            eval(Predicate::And(vec![
                Predicate::tag_eq("user_id", "u1"),
                Predicate::Time { start: 2, end: 10 }
            ])),
            [false, false, true]
        );
        assert_eq!(eval(Predicate::All), [true, true, true]);
    }

    #[test]
    fn only_time_and_tags_can_be_constrained() {
        let s = schema();
        let err = Predicate::tag_eq("v", "1").bind(&s).unwrap_err();
        assert!(matches!(err, Error::UnsupportedPredicate { .. }), "{err}");
        let err = Predicate::tag_eq("nope", "1").bind(&s).unwrap_err();
        assert!(matches!(err, Error::ColumnNotFound { .. }), "{err}");
    }

    #[test]
    fn pruning_never_contradicts_evaluation() {
        let s = schema();
        let file = Facts {
            span: (10, 20),
            hosts: Some((vec!["a", "b"], false)),
        };
        let prune = |p: Predicate| p.bind(&s).unwrap().prune(&file);
        assert_eq!(prune(Predicate::Time { start: 0, end: 10 }), Coverage::None);
        assert_eq!(prune(Predicate::Time { start: 0, end: 21 }), Coverage::All);
        assert_eq!(
            prune(Predicate::Time { start: 15, end: 30 }),
            Coverage::Some
        );
        assert_eq!(prune(Predicate::tag_eq("host", "c")), Coverage::None);
        assert_eq!(
            prune(Predicate::TagIn {
                column: "host".into(),
                values: vec!["a".into(), "b".into()]
            }),
            Coverage::All
        );
        assert_eq!(prune(Predicate::tag_eq("user_id", "u1")), Coverage::Some);
        assert_eq!(
            prune(Predicate::Not(Box::new(Predicate::tag_eq("host", "c")))),
            Coverage::Some
        );
        let with_null = Facts {
            span: (10, 20),
            hosts: Some((vec!["a"], true)),
        };
        let p = Predicate::tag_eq("host", "a").bind(&s).unwrap();
        assert_eq!(p.prune(&with_null), Coverage::Some);
        let envelope = Predicate::And(vec![
            Predicate::Time { start: 5, end: 50 },
            Predicate::tag_eq("host", "a"),
            Predicate::Or(vec![
                Predicate::Time { start: 0, end: 10 },
                Predicate::Time { start: 40, end: 60 },
            ]),
        ])
        .bind(&s)
        .unwrap();
        assert_eq!(envelope.time_envelope(), TimeRange { start: 5, end: 50 });
        assert_eq!(envelope.tag_envelope(&s).len(), 1);
    }
}
