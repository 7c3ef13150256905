//! Integer arithmetic that fails on overflow, as PostgreSQL's does.
//!
//! DataFusion's `+`, `-` and `*` wrap around on integers: `9223372036854775807 + 1` is
//! `-9223372036854775808`. PostgreSQL raises 22003 "bigint out of range". The analyzer rule
//! [`CheckedArithmetic`] runs after type coercion and replaces each `+`, `-` and `*` whose
//! operands are integers of one type with a checked function of the same output name, so
//! both constant folding and execution fail rather than answer wrong. Floats, decimals,
//! times and intervals keep DataFusion's operators.

use std::sync::{Arc, LazyLock};

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::QueryError;
use crate::information_schema::PgColumnType;

/// Replaces integer `+ - *` with their checked forms; see the module docs.
#[derive(Debug, Default)]
pub struct CheckedArithmetic;

impl AnalyzerRule for CheckedArithmetic {
    fn name(&self) -> &str {
        "strata_checked_arithmetic"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        rewrite_expressions(plan, checked)
    }
}

/// Rewrites every expression of `plan` and its subqueries bottom-up with `f`, which is given
/// the schema the expression is evaluated against (its node's inputs, or a scan's table);
/// output names stay as they were, so the plan's schema does not change. The walk of
/// DataFusion's own type coercion, for Strata's analyzer rules that run after it.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    f: impl Fn(Expr, &DFSchema) -> DfResult<Transformed<Expr>>,
) -> DfResult<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let mut schema = merge_schema(&plan.inputs());
        if let LogicalPlan::TableScan(scan) = &plan {
            schema.merge(&DFSchema::try_from_qualified_schema(
                scan.table_name.clone(),
                &scan.source.schema(),
            )?);
        }
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|e| {
            let name = names.save(&e);
            e.transform_up(|e| f(e, &schema))
                .map(|t| t.update_data(|e| name.restore(e)))
        })
    })
    .map(|t| t.data)
}

fn checked(e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let udf = match op {
        Operator::Plus => &ADD,
        Operator::Minus => &SUBTRACT,
        Operator::Multiply => &MULTIPLY,
        _ => return Ok(Transformed::no(e)),
    };
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    if l != r || !l.is_integer() {
        return Ok(Transformed::no(e));
    }
    let args = vec![left.as_ref().clone(), right.as_ref().clone()];
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::clone(udf), args),
    )))
}

static ADD: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Checked::udf(Operator::Plus));
static SUBTRACT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Checked::udf(Operator::Minus));
static MULTIPLY: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Checked::udf(Operator::Multiply));

/// One checked operator on two integers of the same type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Operator,
    name: &'static str,
    signature: Signature,
}

impl Checked {
    fn udf(op: Operator) -> Arc<ScalarUDF> {
        let name = match op {
            Operator::Plus => "strata_checked_add",
            Operator::Minus => "strata_checked_subtract",
            _ => "strata_checked_multiply",
        };
        Arc::new(ScalarUDF::new_from_impl(Checked {
            op,
            name,
            signature: Signature::any(2, Volatility::Immutable),
        }))
    }

    fn apply(&self, l: &ArrayRef, r: &ArrayRef) -> DfResult<ArrayRef> {
        use arrow::compute::kernels::numeric;
        let result = match self.op {
            Operator::Plus => numeric::add(l, r),
            Operator::Minus => numeric::sub(l, r),
            _ => numeric::mul(l, r),
        };
        result.map_err(|e| match e {
            arrow::error::ArrowError::ArithmeticOverflow(_) => QueryError::OutOfRange(format!(
                "{} out of range",
                PgColumnType::of(l.data_type()).data_type
            ))
            .into(),
            other => DataFusionError::from(other),
        })
    }
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = self.apply(&arrays[0], &arrays[1])?;
        shaped_like_inputs(scalar, result)
    }
}

/// A function's result as its inputs came: one value when every input was a scalar (so
/// constant folding gets a constant), else the array.
pub(crate) fn shaped_like_inputs(scalar: bool, result: ArrayRef) -> DfResult<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

/// Integer literals typed as PostgreSQL types them: `integer` when the value fits in 32
/// bits, `bigint` otherwise (DataFusion makes every integer literal `bigint`, so `SELECT 1`
/// reached clients as `int8`: a string in node-postgres, a `Long` in JDBC). Applied to a
/// statement's plan as soon as it is planned, before its result schema is read and before
/// type coercion, which widens the literal wherever the other operand or the function
/// needs it; `2147483647 + 1` then fails with 22003 "integer out of range", as in
/// PostgreSQL. LIMIT/OFFSET and VALUES lists keep DataFusion's types (they type their
/// own literals), and every node's schema is recomputed after. A view's own literals keep
/// `bigint`: its plan is inlined later, by the analyzer.
#[derive(Debug, Default)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn name(&self) -> &str {
        "strata_integer_literals"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            if matches!(plan, LogicalPlan::Limit(_) | LogicalPlan::Values(_)) {
                return Ok(Transformed::no(plan));
            }
            let names = NamePreserver::new(&plan);
            let mapped = plan.map_expressions(|e| {
                let name = names.save(&e);
                e.transform_up(|e| match e {
                    Expr::Literal(ScalarValue::Int64(Some(v)), meta) => match i32::try_from(v) {
                        Ok(v) => Ok(Transformed::yes(Expr::Literal(
                            ScalarValue::Int32(Some(v)),
                            meta,
                        ))),
                        Err(_) => Ok(Transformed::no(Expr::Literal(
                            ScalarValue::Int64(Some(v)),
                            meta,
                        ))),
                    },
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.update_data(|e| name.restore(e)))
            })?;
            // A node whose own expressions did not change may still read a changed input.
            mapped.map_data(|p| p.recompute_schema().map(Transformed::yes).map(|t| t.data))
        })
        .map(|t| t.data)
    }
}
