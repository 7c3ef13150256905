//! Filter pushdown: which WHERE conjuncts the storage scan evaluates itself.
//!
//! The engine filters exactly on two kinds of predicate, both of which also prune: a time
//! range on the time column (partitions, segments and blocks by their time statistics) and
//! `tag IN (...)` on a tag column (segments and rows by tag bitmaps). A conjunct that is
//! entirely one of those is pushed as `Exact`, so DataFusion does not re-check it; every
//! other conjunct stays in a DataFusion filter above the scan.
//!
//! Recognised shapes, with the column on either side: `time <op> literal` for `<`, `<=`,
//! `>`, `>=`, `=`; `time BETWEEN a AND b`; `tag = 'v'`; `tag IN ('a', 'b')`; and an OR of
//! equalities on one tag.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use strata_storage::{ScanRequest, TagFilter, TimeRange, NULL_TIME};

use crate::table::{Role, TableDef};

/// One conjunct the engine can evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Time(TimeRange),
    Tag(TagFilter),
}

/// Translates one conjunct, or `None` if the engine cannot evaluate it exactly.
pub fn translate(def: &TableDef, expr: &Expr) -> Option<Pushed> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::Or {
                return tag_or(def, expr).map(Pushed::Tag);
            }
            let (col, op, lit) = match (column_of(left), column_of(right)) {
                (Some(c), None) => (c, *op, literal(right)?),
                (None, Some(c)) => (c, op.swap()?, literal(left)?),
                _ => return None,
            };
            match role_of(def, col)? {
                Role::Time => time_cmp(op, time_ns(&lit)?).map(Pushed::Time),
                Role::Tag if op == Operator::Eq => Some(Pushed::Tag(TagFilter {
                    column: col.to_owned(),
                    values: vec![string(&lit)?],
                })),
                _ => None,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let col = column_of(expr)?;
            if role_of(def, col)? != Role::Time {
                return None;
            }
            let low = time_ns(&literal(low)?)?;
            let high = time_ns(&literal(high)?)?;
            Some(Pushed::Time(TimeRange {
                start: low.max(LOWEST),
                end: high.saturating_add(1),
            }))
        }
        Expr::InList(list) if !list.negated => {
            let col = column_of(&list.expr)?;
            if role_of(def, col)? != Role::Tag {
                return None;
            }
            let values = list
                .list
                .iter()
                .map(|e| string(&literal(e)?))
                .collect::<Option<Vec<_>>>()?;
            Some(Pushed::Tag(TagFilter {
                column: col.to_owned(),
                values,
            }))
        }
        _ => None,
    }
}

/// Adds translated conjuncts to a request: time ranges intersect, tag filters AND.
pub fn apply(mut req: ScanRequest, pushed: &[Pushed]) -> ScanRequest {
    for p in pushed {
        match p {
            Pushed::Time(r) => {
                req.time_range = TimeRange {
                    start: req.time_range.start.max(r.start),
                    end: req.time_range.end.min(r.end),
                }
            }
            Pushed::Tag(t) => req.tag_filters.push(t.clone()),
        }
    }
    req
}

/// `tag = 'a' OR tag = 'b' OR tag IN (...)`, all on one tag.
fn tag_or(def: &TableDef, expr: &Expr) -> Option<TagFilter> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut l = tag_or(def, left)?;
            let r = tag_or(def, right)?;
            if l.column != r.column {
                return None;
            }
            l.values.extend(r.values);
            Some(l)
        }
        other => match translate(def, other)? {
            Pushed::Tag(t) => Some(t),
            Pushed::Time(_) => None,
        },
    }
}

/// The lowest start of a range from a comparison: a NULL time (stored as `NULL_TIME`)
/// compares as NULL, so no comparison matches it.
pub(crate) const LOWEST: i64 = NULL_TIME + 1;

fn time_cmp(op: Operator, v: i64) -> Option<TimeRange> {
    let (start, end) = match op {
        Operator::Eq => (v, v.checked_add(1)?),
        Operator::Gt => (v.checked_add(1)?, i64::MAX),
        Operator::GtEq => (v, i64::MAX),
        Operator::Lt => (LOWEST, v),
        Operator::LtEq => (LOWEST, v.checked_add(1)?),
        _ => return None,
    };
    Some(TimeRange {
        start: start.max(LOWEST),
        end,
    })
}

pub(crate) fn column_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

pub(crate) fn role_of(def: &TableDef, name: &str) -> Option<Role> {
    def.columns.iter().find(|c| c.name == name).map(|c| c.role)
}

pub(crate) fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        _ => None,
    }
}

pub(crate) fn time_ns(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampMicrosecond(Some(x), _) => x.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000_000),
        _ => None,
    }
}

pub(crate) fn string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}
