//! `DELETE FROM t [WHERE ...]`, `TRUNCATE t [, ...]` and `ERASE SUBJECT 'v' [FROM t, ...]`.
//!
//! Each runs as one storage erasure ([`strata_storage::Engine::erase`]): the rows are
//! invisible when the statement returns, the tag carries the exact count (`DELETE n`), and a
//! receipt appears in `system.erasures`.
//!
//! A `DELETE`'s condition is planned by DataFusion as `SELECT * FROM t WHERE <condition>`
//! (so parameters, casts and functions such as `now()` are typed and folded as in any
//! query), then translated to a storage predicate: comparisons of the time column with
//! values, `=`, `<>`, `IN`, `IS [NOT] NULL` on tags, `BETWEEN` on time, joined by `AND`,
//! `OR` and `NOT`. The conjuncts that do not translate (conditions on fields, `LIKE` on a
//! tag, functions of columns ...) become a row test ([`strata_storage::RowFilter`]) that the
//! erasure evaluates, with DataFusion's physical expressions, on the rows the translated part
//! matches, in the snapshot it deletes from ([`strata_storage::Engine::erase_where`]). Such a
//! DELETE is refused (0A000) on an append-only table, whose rows have no key, and may remove
//! at most [`strata_storage::MAX_ERASED_POINTS`] rows at once (54000 beyond).
//!
//! `ERASE SUBJECT` (Strata's statement, rewritten by `crate::rewrite` into
//! `CALL strata.erase_subject(value [, 'table', ...])`) erases the rows whose
//! `subject_column` equals the value in every table that declares one, or in the tables
//! named. Only a superuser may run it. Its receipt names the subject by
//! `strata.subject_hash(value)`, never by the value.

use std::sync::Arc;

use arrow::array::AsArray;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::sqlparser::ast;
use strata_storage::{
    Engine, Erasure, ErasureKind, ErasureRequest, Predicate, RowFilter, NULL_TIME,
};

use crate::error::{QueryError, Result};
use crate::pushdown::{column_of, literal, role_of, string, time_ns, LOWEST};
use crate::table::{Role, TableDef};

/// The one table a `DELETE` names.
pub fn delete_target(delete: &ast::Delete, database: &str) -> Result<String> {
    if delete.using.is_some() || delete.returning.is_some() || delete.limit.is_some() {
        return Err(QueryError::Unsupported(
            "DELETE with USING, RETURNING or LIMIT".into(),
        ));
    }
    if !delete.order_by.is_empty() || !delete.tables.is_empty() {
        return Err(QueryError::Unsupported(
            "DELETE with ORDER BY or several tables".into(),
        ));
    }
    let from = match &delete.from {
        ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
    };
    let [one] = from.as_slice() else {
        return Err(QueryError::Unsupported("DELETE from several tables".into()));
    };
    if !one.joins.is_empty() {
        return Err(QueryError::Unsupported("DELETE with a join".into()));
    }
    let ast::TableFactor::Table { name, .. } = &one.relation else {
        return Err(QueryError::Unsupported(format!(
            "DELETE FROM {}",
            one.relation
        )));
    };
    crate::ddl::table_name(name, database)
}

/// The query whose filter is a `DELETE`'s condition.
pub fn condition_query(table: &str, selection: &ast::Expr) -> String {
    format!(
        "SELECT * FROM \"{}\" WHERE {selection}",
        table.replace('"', "\"\"")
    )
}

/// A `DELETE`'s condition as storage takes it.
#[derive(Debug)]
pub struct Condition {
    /// What storage keeps as a predicate (time and tags).
    pub predicate: Predicate,
    /// The rest, tested row by row when the erasure runs.
    pub residual: Option<RowFilter<QueryError>>,
}

/// The condition of a planned condition query (parameters already bound).
pub fn condition_of(state: &SessionState, def: &TableDef, plan: LogicalPlan) -> Result<Condition> {
    let analyzed = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})?;
    let mut filter = None;
    analyzed.apply(|node| {
        if let LogicalPlan::Filter(f) = node {
            filter = Some((f.predicate.clone(), Arc::clone(f.input.schema())));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let Some((expr, schema)) = filter else {
        return Ok(Condition {
            predicate: Predicate::All,
            residual: None,
        });
    };
    // `now()` and the like fold to the statement's start time, as in a query.
    let context = SimplifyContext::builder()
        .with_schema(schema)
        .with_config_options(Arc::clone(state.config_options()))
        .with_current_time()
        .build();
    let expr = ExprSimplifier::new(context).simplify(expr)?;
    if let Some(predicate) = translate(def, &expr) {
        return Ok(Condition {
            predicate,
            residual: None,
        });
    }
    let mut kept = Vec::new();
    let mut rest = Vec::new();
    for c in split_conjunction(&expr) {
        match translate(def, c) {
            Some(p) => kept.push(p),
            None => rest.push(c.clone()),
        }
    }
    let predicate = match kept.len() {
        0 => Predicate::All,
        1 => kept.pop().expect("one"),
        _ => Predicate::And(kept),
    };
    let residual = match conjunction(rest) {
        Some(r) => Some(row_filter(state, def, r)?),
        None => None,
    };
    Ok(Condition {
        predicate,
        residual,
    })
}

/// A condition storage cannot keep, as a test over the rows of a storage batch holding the
/// columns it reads (converted to their declared types, then evaluated as DataFusion does).
fn row_filter(state: &SessionState, def: &TableDef, expr: Expr) -> Result<RowFilter<QueryError>> {
    let expr = unnormalize_col(expr);
    let mut names: Vec<String> = expr.column_refs().iter().map(|c| c.name.clone()).collect();
    names.sort();
    names.dedup();
    let projection = names
        .iter()
        .map(|n| {
            def.columns
                .iter()
                .position(|c| c.name == *n)
                .ok_or_else(|| {
                    QueryError::Unsupported(format!("DELETE by a condition on column {n:?}"))
                })
        })
        .collect::<Result<Vec<usize>>>()?;
    let schema = DFSchema::try_from(def.project(&projection).as_ref().clone())?;
    let physical = state.create_physical_expr(expr, &schema)?;
    let def = def.clone();
    Ok(RowFilter {
        columns: names,
        test: Box::new(move |batch| {
            let batch = def.from_storage(&projection, batch)?;
            let value = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
            value.as_boolean_opt().cloned().ok_or_else(|| {
                QueryError::DatatypeMismatch(format!(
                    "argument of WHERE must be type boolean, not {}",
                    value.data_type()
                ))
            })
        }),
    })
}

/// A condition as a storage predicate, or `None` if it uses what storage cannot keep.
fn translate(def: &TableDef, e: &Expr) -> Option<Predicate> {
    let never = || Predicate::Or(Vec::new());
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Some(Predicate::And(vec![
                translate(def, left)?,
                translate(def, right)?,
            ])),
            Operator::Or => Some(Predicate::Or(vec![
                translate(def, left)?,
                translate(def, right)?,
            ])),
            _ => {
                let (col, op, lit) = match (column_of(left), column_of(right)) {
                    (Some(c), None) => (c, *op, literal(right)?),
                    (None, Some(c)) => (c, op.swap()?, literal(left)?),
                    _ => return None,
                };
                if lit.is_null() {
                    return Some(never()); // a comparison with NULL is never true
                }
                match role_of(def, col)? {
                    Role::Time => time_cmp(op, time_ns(&lit)?),
                    Role::Tag => {
                        let eq = Predicate::tag_eq(col, string(&lit)?);
                        match op {
                            Operator::Eq => Some(eq),
                            Operator::NotEq => Some(Predicate::Not(Box::new(eq))),
                            _ => None,
                        }
                    }
                    Role::Field(_) => None,
                }
            }
        },
        Expr::Not(inner) => Some(Predicate::Not(Box::new(translate(def, inner)?))),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let col = column_of(inner)?;
            let p = match role_of(def, col)? {
                Role::Tag => Predicate::TagIsNull {
                    column: col.to_owned(),
                },
                Role::Time => Predicate::Time {
                    start: NULL_TIME,
                    end: NULL_TIME + 1,
                },
                Role::Field(_) => return None,
            };
            Some(if matches!(e, Expr::IsNotNull(_)) {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let col = column_of(expr)?;
            let values: Vec<ScalarValue> = list.iter().map(literal).collect::<Option<_>>()?;
            let p = match role_of(def, col)? {
                Role::Tag => Predicate::TagIn {
                    column: col.to_owned(),
                    values: values
                        .iter()
                        .filter(|v| !v.is_null())
                        .map(string)
                        .collect::<Option<_>>()?,
                },
                Role::Time => Predicate::Or(
                    values
                        .iter()
                        .filter(|v| !v.is_null())
                        .map(|v| time_cmp(Operator::Eq, time_ns(v)?))
                        .collect::<Option<_>>()?,
                ),
                Role::Field(_) => return None,
            };
            // `x NOT IN (..., NULL)` is never true.
            if *negated && values.iter().any(ScalarValue::is_null) {
                return Some(never());
            }
            Some(if *negated {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let col = column_of(expr)?;
            if role_of(def, col)? != Role::Time {
                return None;
            }
            let low = time_ns(&literal(low)?)?;
            let high = time_ns(&literal(high)?)?;
            let p = Predicate::Time {
                start: low.max(LOWEST),
                end: high.saturating_add(1),
            };
            Some(if *negated {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::Literal(v, _) => match v {
            ScalarValue::Boolean(Some(true)) => Some(Predicate::All),
            ScalarValue::Boolean(_) | ScalarValue::Null => Some(never()),
            _ => None,
        },
        _ => None,
    }
}

/// `time <op> v` as a predicate.
fn time_cmp(op: Operator, v: i64) -> Option<Predicate> {
    // No comparison matches a NULL time (stored as the lowest i64).
    let range = |start: i64, end: i64| Predicate::Time {
        start: start.max(LOWEST),
        end,
    };
    Some(match op {
        Operator::Eq => range(v, v.checked_add(1)?),
        Operator::NotEq => Predicate::Not(Box::new(range(v, v.checked_add(1)?))),
        Operator::Gt => range(v.checked_add(1)?, i64::MAX),
        Operator::GtEq => range(v, i64::MAX),
        Operator::Lt => range(LOWEST, v),
        Operator::LtEq => range(LOWEST, v.checked_add(1)?),
        _ => return None,
    })
}

/// Runs an erasure of `tables` (each with its predicate, and for a DELETE by a condition
/// on fields its row test) for `user`.
pub fn erase(
    engine: &Engine,
    kind: ErasureKind,
    user: &str,
    subject_hash: Option<String>,
    tables: Vec<(String, Predicate, Option<RowFilter<QueryError>>)>,
) -> Result<Erasure> {
    for (t, _, _) in &tables {
        crate::ddl::schema_of(engine, t)?;
    }
    let (tables, filters): (Vec<_>, Vec<_>) =
        tables.into_iter().map(|(t, p, f)| ((t, p), f)).unzip();
    engine.erase_where(
        &ErasureRequest {
            kind,
            requested_by: user.to_owned(),
            subject_hash,
            tables,
        },
        &filters,
    )
}

/// The tables `ERASE SUBJECT` reaches: those named (each must declare a subject column), or
/// every table that declares one. Each with the predicate `subject_column = value`.
pub fn subject_tables(
    engine: &Engine,
    value: &str,
    named: &[String],
) -> Result<Vec<(String, Predicate)>> {
    let mut out = Vec::new();
    if named.is_empty() {
        for t in engine.table_names() {
            if let Ok(s) = engine.table_schema(&t) {
                if let Some(col) = s.subject_column {
                    out.push((t, Predicate::tag_eq(col, value)));
                }
            }
        }
        return Ok(out);
    }
    for t in named {
        let schema = crate::ddl::schema_of(engine, t)?;
        let Some(col) = schema.subject_column else {
            return Err(QueryError::InvalidParameterValue(format!(
                "table \"{t}\" declares no subject_column (ALTER TABLE \"{t}\" SET (subject_column = ...))"
            )));
        };
        if !out.iter().any(|(n, _)| n == t) {
            out.push((t.clone(), Predicate::tag_eq(col, value)));
        }
    }
    Ok(out)
}
