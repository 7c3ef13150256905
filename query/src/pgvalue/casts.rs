//! Casts between text and `interval`, `time` and `bytea` with PostgreSQL's text forms:
//! [`rewrite`] (called by the per-session analyzer rule in [`crate::pgtime`]) replaces such
//! a cast with a function over [`super`]'s input or output, so `'1 day 02:00'::interval`,
//! `'\x01ff'::bytea` and `interval '90 min'::text` mean what they mean in PostgreSQL
//! rather than Arrow's parse (or, for `bytea`, the text's own bytes).

use std::sync::{Arc, LazyLock};

use arrow::array::Time64MicrosecondBuilder;
use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, IntervalMonthDayNanoBuilder};
use arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::QueryError;
use crate::pgtext::TextStyle;

/// The types whose text this module reads and prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Interval,
    Time,
    Bytea,
}

impl Kind {
    fn of(t: &DataType) -> Option<Kind> {
        Some(match t {
            DataType::Interval(IntervalUnit::MonthDayNano) => Kind::Interval,
            // SQL `time` is `Time64(ns)` to DataFusion, `Time64(us)` in tables.
            DataType::Time64(_) => Kind::Time,
            DataType::Binary => Kind::Bytea,
            _ => return None,
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            Kind::Time => DataType::Time64(TimeUnit::Microsecond),
            Kind::Bytea => DataType::Binary,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Interval => "interval",
            Kind::Time => "time without time zone",
            Kind::Bytea => "bytea",
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// The replacement for a cast of `expr` (of type `from`) to `to`, if it is one of ours.
pub(crate) fn rewrite(
    expr: &Expr,
    from: &DataType,
    to: &DataType,
    style: &TextStyle,
) -> Option<Expr> {
    if is_text(from) {
        let kind = Kind::of(to)?;
        let text = match from {
            DataType::Utf8 => expr.clone(),
            _ => Expr::Cast(Cast::new(Box::new(expr.clone()), DataType::Utf8)),
        };
        let parsed =
            Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(input(kind)), vec![text]));
        return Some(if *to == kind.data_type() {
            parsed
        } else {
            Expr::Cast(Cast::new(Box::new(parsed), to.clone()))
        });
    }
    if is_text(to) {
        // Intervals and times of other units are Arrow's; cast them to ours first.
        let kind = match from {
            DataType::Interval(_) => Kind::Interval,
            DataType::Time64(_) | DataType::Time32(_) => Kind::Time,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Kind::Bytea,
            _ => return None,
        };
        let value = if *from == kind.data_type() {
            expr.clone()
        } else {
            Expr::Cast(Cast::new(Box::new(expr.clone()), kind.data_type()))
        };
        let style_arg = match kind {
            Kind::Interval => style.interval_style.name().to_owned(),
            Kind::Bytea if style.bytea_escape => "escape".to_owned(),
            _ => String::new(),
        };
        let text = Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::clone(&OUTPUT),
            vec![value, lit(style_arg)],
        ));
        return Some(if *to == DataType::Utf8 {
            text
        } else {
            Expr::Cast(Cast::new(Box::new(text), to.clone()))
        });
    }
    None
}

fn input(kind: Kind) -> &'static Arc<ScalarUDF> {
    static INTERVAL: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Kind::Interval));
    static TIME: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Kind::Time));
    static BYTEA: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| Input::udf(Kind::Bytea));
    match kind {
        Kind::Interval => &INTERVAL,
        Kind::Time => &TIME,
        Kind::Bytea => &BYTEA,
    }
}

/// `interval_in(text)`, `time_in(text)`, `bytea_in(text)`: 22007/22P02 on bad text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Input {
    kind: Kind,
    signature: Signature,
}

impl Input {
    fn udf(kind: Kind) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Input {
            kind,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for Input {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Interval => "strata_interval_in",
            Kind::Time => "strata_time_in",
            Kind::Bytea => "strata_bytea_in",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.kind.data_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let text: ArrayRef = args.args[0].clone().into_array(args.number_rows.max(1))?;
        let text = text.as_string::<i32>();
        let syntax = |s: &str| {
            QueryError::InvalidDatetimeFormat(format!(
                "invalid input syntax for type {}: \"{s}\"",
                self.kind.name()
            ))
        };
        let out: ArrayRef = match self.kind {
            Kind::Interval => {
                let mut b = IntervalMonthDayNanoBuilder::with_capacity(text.len());
                for v in text.iter() {
                    match v {
                        None => b.append_null(),
                        Some(s) => {
                            let i = super::interval_in(s).ok_or_else(|| syntax(s))?;
                            b.append_value(IntervalMonthDayNano::new(i.months, i.days, i.nanos));
                        }
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Time => {
                let mut b = Time64MicrosecondBuilder::with_capacity(text.len());
                for v in text.iter() {
                    match v {
                        None => b.append_null(),
                        Some(s) => b.append_value(super::time_in(s)?),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Bytea => {
                let mut b = BinaryBuilder::with_capacity(text.len(), text.value_data().len());
                for v in text.iter() {
                    match v {
                        None => b.append_null(),
                        Some(s) => b.append_value(super::bytea_in(s)?),
                    }
                }
                Arc::new(b.finish())
            }
        };
        crate::arithmetic::shaped_like_inputs(scalar, out)
    }
}

static OUTPUT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(Output {
        signature: Signature::any(2, Volatility::Immutable),
    }))
});

/// `value_out(value, style)`: an interval, time or bytea as PostgreSQL's text; `style` is
/// the `IntervalStyle` setting's value, or `escape` for `bytea_output = escape`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Output {
    signature: Signature,
}

impl ScalarUDFImpl for Output {
    fn name(&self) -> &str {
        "strata_value_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let style_arg = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))) => s.clone(),
            _ => String::new(),
        };
        let style = TextStyle {
            interval_style: super::IntervalStyle::parse(&style_arg).unwrap_or_default(),
            bytea_escape: style_arg == "escape",
            ..TextStyle::default()
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].clone().into_array(args.number_rows.max(1))?;
        let text = crate::pgtext::column(&values, &style)?;
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(text))
    }
}

/// Gives a text literal compared with an interval the interval type, as PostgreSQL types an
/// untyped literal by the other operand (`iv > '1 hour'`); DataFusion has no comparison of
/// intervals with text. Runs before type coercion; the cast it adds is then read by
/// [`rewrite`].
#[derive(Debug)]
pub struct UntypedLiterals;

impl datafusion::optimizer::AnalyzerRule for UntypedLiterals {
    fn name(&self) -> &str {
        "strata_untyped_literals"
    }

    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::logical_expr::{BinaryExpr, ExprSchemable};
        crate::arithmetic::rewrite_expressions(plan, |e, schema| {
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
                return Ok(Transformed::no(e));
            };
            use datafusion::logical_expr::Operator as O;
            if !matches!(op, O::Eq | O::NotEq | O::Lt | O::LtEq | O::Gt | O::GtEq) {
                return Ok(Transformed::no(e));
            }
            let is_text_literal = |x: &Expr| matches!(x, Expr::Literal(ScalarValue::Utf8(_), _));
            let interval = |x: &Expr| match x.get_type(schema) {
                Ok(t @ DataType::Interval(_)) => Some(t),
                _ => None,
            };
            let typed =
                |lit: &Expr, t: DataType| Box::new(Expr::Cast(Cast::new(Box::new(lit.clone()), t)));
            let (left, right) = match (interval(left), interval(right)) {
                (Some(t), None) if is_text_literal(right) => (left.clone(), typed(right, t)),
                (None, Some(t)) if is_text_literal(left) => (typed(left, t), right.clone()),
                _ => return Ok(Transformed::no(e)),
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left,
                op: *op,
                right,
            })))
        })
    }
}

/// `strata_uuid_in(text)`: what `x::uuid` becomes (see `rewrite.rs`): the canonical text of
/// a `uuid`, 22P02 for text that is not one; its result field says `uuid`, so clients see
/// the type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UuidIn {
    signature: Signature,
}

impl UuidIn {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(UuidIn {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for UuidIn {
    fn name(&self) -> &str {
        "strata_uuid_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(
        &self,
        _: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<arrow::datatypes::FieldRef> {
        Ok(Arc::new(
            crate::types::SqlType::Uuid.arrow_field(self.name(), true),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].clone().into_array(args.number_rows.max(1))?;
        let text = arrow::compute::cast(&values, &DataType::Utf8)?;
        let out = text
            .as_string::<i32>()
            .iter()
            .map(|v| {
                v.map(|s| super::uuid_in(s).map(|u| super::uuid_out(&u)))
                    .transpose()
            })
            .collect::<Result<arrow::array::StringArray, QueryError>>()?;
        crate::arithmetic::shaped_like_inputs(scalar, Arc::new(out))
    }
}
