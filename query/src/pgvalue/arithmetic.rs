//! `interval * number`, `number * interval` and `interval / number`, which DataFusion does
//! not have, as PostgreSQL computes them ([`super::interval_mul`]). [`IntervalArithmetic`]
//! is asked by DataFusion's SQL planner about each binary operator and plans these as a
//! call of `strata_interval_mul` (the planner would otherwise refuse them).

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoArray};
use arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::error::QueryError;

/// The planner hook: SQL planning asks it about every binary operator.
#[derive(Debug)]
pub struct IntervalArithmetic;

impl ExprPlanner for IntervalArithmetic {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let is_interval = |x: &Expr| matches!(x.get_type(schema), Ok(DataType::Interval(_)));
        let is_number = |x: &Expr| x.get_type(schema).is_ok_and(|t| t.is_numeric());
        let (interval, factor, divide) = match expr.op {
            BinaryOperator::Multiply if is_interval(&expr.left) && is_number(&expr.right) => {
                (&expr.left, &expr.right, false)
            }
            BinaryOperator::Multiply if is_number(&expr.left) && is_interval(&expr.right) => {
                (&expr.right, &expr.left, false)
            }
            BinaryOperator::Divide if is_interval(&expr.left) && is_number(&expr.right) => {
                (&expr.left, &expr.right, true)
            }
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let mdn = DataType::Interval(IntervalUnit::MonthDayNano);
        let interval = Expr::Cast(Cast::new(Box::new(interval.clone()), mdn));
        let factor = Expr::Cast(Cast::new(Box::new(factor.clone()), DataType::Float64));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&MUL), vec![interval, factor, lit(divide)]),
        )))
    }
}

static MUL: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(IntervalMul {
        signature: Signature::any(3, Volatility::Immutable),
    }))
});

/// `strata_interval_mul(interval, factor, divide)`: `interval * factor`, or
/// `interval / factor` when `divide` (22012 for a zero divisor); 22008 on overflow.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalMul {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalMul {
    fn name(&self) -> &str {
        "strata_interval_mul"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let divide = matches!(
            args.args.get(2),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let scalar = args
            .args
            .iter()
            .take(2)
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = args.number_rows.max(1);
        let intervals: ArrayRef = args.args[0].clone().into_array(n)?;
        let factors: ArrayRef = args.args[1].clone().into_array(n)?;
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let factors = factors.as_primitive::<Float64Type>();
        let out = (0..intervals.len())
            .map(|i| {
                if intervals.is_null(i) || factors.is_null(i) {
                    return Ok(None);
                }
                let v = intervals.value(i);
                let f = factors.value(i);
                let f = if divide {
                    if f == 0.0 {
                        return Err(QueryError::DivisionByZero);
                    }
                    1.0 / f
                } else {
                    f
                };
                let v = super::Interval {
                    months: v.months,
                    days: v.days,
                    nanos: v.nanoseconds,
                };
                let r = super::interval_mul(v, f)
                    .ok_or_else(|| QueryError::DatetimeOverflow("interval out of range".into()))?;
                Ok(Some(IntervalMonthDayNano::new(r.months, r.days, r.nanos)))
            })
            .collect::<Result<IntervalMonthDayNanoArray, QueryError>>()?;
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
    }
}
