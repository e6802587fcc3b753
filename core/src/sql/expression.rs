//! Bound expressions — names resolved to row positions, operands already of
//! the types their operator takes — and their evaluation with PostgreSQL's
//! semantics: NULL propagates through operators, AND and OR follow
//! three-valued logic, integer arithmetic fails on overflow (22003) rather
//! than wrapping, division by zero is 22012, and a float operation that turns
//! finite operands into an infinity is an overflow.
//!
//! The binder guarantees the operand types: both sides of an arithmetic or
//! comparison operator have one type (it inserts casts), so evaluation never
//! has to guess, and a mismatch here is a bug (an internal error, not a panic).

use std::cmp::Ordering;

use super::cast::{self, integer_out_of_range};
use super::datetime::{self, TimeZone};
use super::error::{SqlError, SqlResult, SqlState};
use super::types::{DataType, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOperator {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Concatenate,
    /// `jsonb -> text` (a field) or `jsonb -> integer` (an element).
    JsonGet,
    /// `->>`: the same as text.
    JsonGetText,
}

impl BinaryOperator {
    pub fn is_comparison(self) -> bool {
        use BinaryOperator::*;
        matches!(self, Equal | NotEqual | Less | LessOrEqual | Greater | GreaterOrEqual)
    }

    pub fn symbol(self) -> &'static str {
        use BinaryOperator::*;
        match self {
            Add => "+",
            Subtract => "-",
            Multiply => "*",
            Divide => "/",
            Modulo => "%",
            Equal => "=",
            NotEqual => "<>",
            Less => "<",
            LessOrEqual => "<=",
            Greater => ">",
            GreaterOrEqual => ">=",
            Concatenate => "||",
            JsonGet => "->",
            JsonGetText => "->>",
        }
    }
}

/// Functions of no table data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Version,
    CurrentDatabase,
    CurrentSchema,
    CurrentUser,
    Abs,
    Lower,
    Upper,
    Length,
    /// `nextval('s')`: a value prepared by `sequences::prepare`.
    NextValue,
    CurrentValue,
    /// `setval('s', value [, is_called])`: performed by `sequences::prepare`; returns `value`.
    SetValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expression {
    Constant(Value),
    /// The value at this position of the input row.
    Column(usize),
    /// `$n`, 0-based, of the type the binder inferred.
    Parameter(usize, DataType),
    Binary {
        operator: BinaryOperator,
        left: Box<Expression>,
        right: Box<Expression>,
    },
    Negate(Box<Expression>),
    Not(Box<Expression>),
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
    IsNull {
        expression: Box<Expression>,
        negated: bool,
    },
    Cast {
        expression: Box<Expression>,
        to: DataType,
    },
    Function {
        function: Function,
        arguments: Vec<Expression>,
    },
}

/// What an expression may look at besides its row.
pub struct Context<'a> {
    pub parameters: &'a [Value],
    pub user: &'a str,
    /// The session's sequence values; None where no sequence can be called (constant folding).
    pub sequences: Option<&'a std::cell::RefCell<super::sequences::SequenceValues>>,
    /// The session's `TimeZone`; None where it is not known (constant
    /// folding), so that what depends on it is left for evaluation.
    pub time_zone: Option<TimeZone>,
}

impl Expression {
    pub fn evaluate(&self, row: &[Value], context: &Context) -> SqlResult<Value> {
        Ok(match self {
            Expression::Constant(value) => value.clone(),
            Expression::Column(position) => {
                row.get(*position).cloned().ok_or_else(|| SqlError::internal(format!("no column {position}")))?
            }
            Expression::Parameter(index, data_type) => {
                let value = context.parameters.get(*index).cloned();
                let missing = || SqlError::new(SqlState("42P02"), format!("there is no parameter ${}", index + 1));
                let value = value.ok_or_else(missing)?;
                cast::cast_in(value, *data_type, context.time_zone)?
            }
            Expression::Binary { operator, left, right } => {
                let (left, right) = (left.evaluate(row, context)?, right.evaluate(row, context)?);
                if left.is_null() || right.is_null() {
                    return Ok(Value::Null);
                }
                binary(*operator, &left, &right, context.time_zone)?
            }
            Expression::Negate(operand) => negate(operand.evaluate(row, context)?)?,
            Expression::Not(operand) => match operand.evaluate(row, context)? {
                Value::Bool(value) => Value::Bool(!value),
                Value::Null => Value::Null,
                other => return Err(mismatch("NOT", &other)),
            },
            Expression::And(left, right) => {
                let left = truth(left.evaluate(row, context)?)?;
                if left == Some(false) {
                    return Ok(Value::Bool(false));
                }
                match (left, truth(right.evaluate(row, context)?)?) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                }
            }
            Expression::Or(left, right) => {
                let left = truth(left.evaluate(row, context)?)?;
                if left == Some(true) {
                    return Ok(Value::Bool(true));
                }
                match (left, truth(right.evaluate(row, context)?)?) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                }
            }
            Expression::IsNull { expression, negated } => {
                Value::Bool(expression.evaluate(row, context)?.is_null() != *negated)
            }
            Expression::Cast { expression, to } => {
                cast::cast_in(expression.evaluate(row, context)?, *to, context.time_zone)?
            }
            Expression::Function { function, arguments } => {
                let arguments: Vec<Value> =
                    arguments.iter().map(|argument| argument.evaluate(row, context)).collect::<SqlResult<_>>()?;
                call(*function, &arguments, context)?
            }
        })
    }

    /// Whether the expression reads no row and no parameter (constant folding).
    pub fn is_constant(&self) -> bool {
        match self {
            Expression::Constant(_) => true,
            Expression::Column(_) | Expression::Parameter(..) => false,
            Expression::Binary { left, right, .. } | Expression::And(left, right) | Expression::Or(left, right) => {
                left.is_constant() && right.is_constant()
            }
            Expression::Negate(operand) | Expression::Not(operand) => operand.is_constant(),
            Expression::IsNull { expression, .. } | Expression::Cast { expression, .. } => expression.is_constant(),
            Expression::Function { function, arguments } => {
                !matches!(
                    function,
                    Function::CurrentUser | Function::NextValue | Function::CurrentValue | Function::SetValue
                ) && arguments.iter().all(Expression::is_constant)
            }
        }
    }
}

/// A WHERE condition's verdict: only true keeps a row.
pub fn truth(value: Value) -> SqlResult<Option<bool>> {
    match value {
        Value::Bool(value) => Ok(Some(value)),
        Value::Null => Ok(None),
        other => Err(SqlError::new(
            SqlState::DATATYPE_MISMATCH,
            format!("argument of boolean operator must be type boolean, not type {}", other.data_type()),
        )),
    }
}

fn mismatch(operator: &str, value: &Value) -> SqlError {
    SqlError::internal(format!("operator {operator} bound to an operand of type {}", value.data_type()))
}

fn negate(value: Value) -> SqlResult<Value> {
    Ok(match value {
        Value::Null => Value::Null,
        Value::Int2(value) => Value::Int2(value.checked_neg().ok_or_else(|| integer_out_of_range(DataType::Int2))?),
        Value::Int4(value) => Value::Int4(value.checked_neg().ok_or_else(|| integer_out_of_range(DataType::Int4))?),
        Value::Int8(value) => Value::Int8(value.checked_neg().ok_or_else(|| integer_out_of_range(DataType::Int8))?),
        Value::Float4(value) => Value::Float4(-value),
        Value::Float8(value) => Value::Float8(-value),
        Value::Numeric(value) => Value::Numeric(value.negate()),
        Value::Interval(span) => datetime::arithmetic::negate(span)?,
        other => return Err(mismatch("-", &other)),
    })
}

fn binary(operator: BinaryOperator, left: &Value, right: &Value, zone: Option<TimeZone>) -> SqlResult<Value> {
    use BinaryOperator::*;
    if matches!(operator, JsonGet | JsonGetText) {
        return json_get(operator, left, right);
    }
    if let Some(result) = datetime::arithmetic::binary(operator, left, right, zone.unwrap_or_default()) {
        // Folding has no zone: timestamptz calendar arithmetic waits for evaluation.
        if zone.is_none() && (matches!(left, Value::TimestampTz(_)) || matches!(right, Value::TimestampTz(_))) {
            return Err(SqlError::internal("timestamptz arithmetic without the session's time zone"));
        }
        return result;
    }
    if operator.is_comparison() {
        let order = left.compare(right).ok_or_else(|| mismatch(operator.symbol(), right))?;
        return Ok(Value::Bool(match operator {
            Equal => order == Ordering::Equal,
            NotEqual => order != Ordering::Equal,
            Less => order == Ordering::Less,
            LessOrEqual => order != Ordering::Greater,
            Greater => order == Ordering::Greater,
            GreaterOrEqual => order != Ordering::Less,
            _ => unreachable!("a comparison"),
        }));
    }
    if operator == Concatenate {
        let (Some(left), Some(right)) = (left.to_text(), right.to_text()) else { unreachable!("not null") };
        return Ok(Value::Text(left + &right));
    }
    match (left, right) {
        (Value::Int2(a), Value::Int2(b)) => integer(operator, i64::from(*a), i64::from(*b), DataType::Int2),
        (Value::Int4(a), Value::Int4(b)) => integer(operator, i64::from(*a), i64::from(*b), DataType::Int4),
        (Value::Int8(a), Value::Int8(b)) => integer(operator, *a, *b, DataType::Int8),
        (Value::Float4(a), Value::Float4(b)) => {
            float(operator, f64::from(*a), f64::from(*b)).map(|value| Value::Float4(value as f32))
        }
        (Value::Float8(a), Value::Float8(b)) => float(operator, *a, *b).map(Value::Float8),
        (Value::Numeric(a), Value::Numeric(b)) => Ok(Value::Numeric(match operator {
            Add => a.add(b)?,
            Subtract => a.subtract(b)?,
            Multiply => a.multiply(b)?,
            Divide => a.divide(b)?,
            Modulo => a.modulo(b)?,
            _ => unreachable!("arithmetic"),
        })),
        _ => Err(mismatch(operator.symbol(), left)),
    }
}

/// `->` and `->>`: a field by text, an element by integer; NULL when absent.
fn json_get(operator: BinaryOperator, left: &Value, right: &Value) -> SqlResult<Value> {
    let Value::Jsonb(json) = left else { return Err(mismatch(operator.symbol(), left)) };
    let found = match right {
        Value::Text(key) => json.field(key),
        Value::Int4(index) => json.element(i64::from(*index)),
        other => return Err(mismatch(operator.symbol(), other)),
    };
    Ok(match (found, operator) {
        (None, _) => Value::Null,
        (Some(found), BinaryOperator::JsonGet) => Value::Jsonb(Box::new(found.clone())),
        (Some(found), _) => found.as_text().map_or(Value::Null, Value::Text),
    })
}

fn integer(operator: BinaryOperator, left: i64, right: i64, data_type: DataType) -> SqlResult<Value> {
    use BinaryOperator::*;
    let divide_by_zero = || SqlError::new(SqlState::DIVISION_BY_ZERO, "division by zero");
    let result = match operator {
        Add => left.checked_add(right),
        Subtract => left.checked_sub(right),
        Multiply => left.checked_mul(right),
        Divide if right == 0 => return Err(divide_by_zero()),
        Divide => left.checked_div(right),
        Modulo if right == 0 => return Err(divide_by_zero()),
        // i64::MIN % -1 overflows in Rust; PostgreSQL answers 0.
        Modulo => Some(left.checked_rem(right).unwrap_or(0)),
        _ => unreachable!("arithmetic"),
    };
    let result = result.ok_or_else(|| integer_out_of_range(data_type))?;
    cast::integer_value(i128::from(result), data_type).ok_or_else(|| integer_out_of_range(data_type))
}

fn float(operator: BinaryOperator, left: f64, right: f64) -> SqlResult<f64> {
    use BinaryOperator::*;
    let result = match operator {
        Add => left + right,
        Subtract => left - right,
        Multiply => left * right,
        Divide if right == 0.0 => return Err(SqlError::new(SqlState::DIVISION_BY_ZERO, "division by zero")),
        Divide => left / right,
        Modulo => {
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                "operator does not exist: double precision % double precision",
            ))
        }
        _ => unreachable!("arithmetic"),
    };
    if result.is_infinite() && left.is_finite() && right.is_finite() {
        return Err(SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow"));
    }
    Ok(result)
}

/// The version string clients parse (SQLAlchemy wants `PostgreSQL \d+.\d+`).
pub const VERSION: &str = "PostgreSQL 15.0 (ShardForge 0.1.0) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit";

fn call(function: Function, arguments: &[Value], context: &Context) -> SqlResult<Value> {
    if !matches!(
        function,
        Function::Version | Function::CurrentDatabase | Function::CurrentSchema | Function::CurrentUser
    ) && arguments.iter().any(Value::is_null)
    {
        return Ok(Value::Null);
    }
    Ok(match (function, arguments) {
        (Function::Version, []) => Value::Text(VERSION.into()),
        (Function::CurrentDatabase, []) => Value::Text(super::catalog::DEFAULT_DATABASE_NAME.into()),
        (Function::CurrentSchema, []) => Value::Text(super::catalog::PUBLIC_SCHEMA_NAME.into()),
        (Function::CurrentUser, []) => Value::Text(context.user.into()),
        (Function::Abs, [value]) => match value {
            Value::Float4(value) => Value::Float4(value.abs()),
            Value::Float8(value) => Value::Float8(value.abs()),
            Value::Numeric(value) => Value::Numeric(value.abs()),
            Value::Int2(value) => Value::Int2(value.checked_abs().ok_or_else(|| integer_out_of_range(DataType::Int2))?),
            Value::Int4(value) => Value::Int4(value.checked_abs().ok_or_else(|| integer_out_of_range(DataType::Int4))?),
            Value::Int8(value) => Value::Int8(value.checked_abs().ok_or_else(|| integer_out_of_range(DataType::Int8))?),
            other => return Err(mismatch("abs", other)),
        },
        (Function::Lower, [Value::Text(text)]) => Value::Text(text.to_lowercase()),
        (Function::Upper, [Value::Text(text)]) => Value::Text(text.to_uppercase()),
        (Function::Length, [Value::Text(text)]) => Value::Int4(text.chars().count() as i32),
        (Function::NextValue | Function::CurrentValue, [Value::Text(name)]) => {
            let sequences = context.sequences.ok_or_else(|| SqlError::unsupported("sequence functions here"))?;
            if function == Function::NextValue {
                sequences.borrow_mut().next_value(name)?
            } else {
                sequences.borrow().current_value(name)?
            }
        }
        (Function::SetValue, [Value::Text(_), value, ..]) => value.clone(),
        (function, arguments) => return Err(SqlError::internal(format!("{function:?} bound to {arguments:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(value: Value) -> Box<Expression> {
        Box::new(Expression::Constant(value))
    }

    fn evaluate(expression: Expression) -> SqlResult<Value> {
        expression.evaluate(
            &[],
            &Context { parameters: &[], user: "postgres", sequences: None, time_zone: Some(TimeZone::UTC) },
        )
    }

    fn binary_of(operator: BinaryOperator, left: Value, right: Value) -> SqlResult<Value> {
        evaluate(Expression::Binary { operator, left: constant(left), right: constant(right) })
    }

    #[test]
    fn three_valued_logic() {
        let null = || constant(Value::Null);
        let boolean = |value| constant(Value::Bool(value));
        assert_eq!(evaluate(Expression::And(null(), boolean(false))).unwrap(), Value::Bool(false));
        assert_eq!(evaluate(Expression::And(null(), boolean(true))).unwrap(), Value::Null);
        assert_eq!(evaluate(Expression::Or(null(), boolean(true))).unwrap(), Value::Bool(true));
        assert_eq!(evaluate(Expression::Or(boolean(false), null())).unwrap(), Value::Null);
        assert_eq!(evaluate(Expression::Not(null())).unwrap(), Value::Null);
        assert_eq!(binary_of(BinaryOperator::Equal, Value::Null, Value::Int4(1)).unwrap(), Value::Null);
        let is_null = Expression::IsNull { expression: null(), negated: false };
        assert_eq!(evaluate(is_null).unwrap(), Value::Bool(true));
    }

    #[test]
    fn integer_arithmetic_overflows_at_its_own_width() {
        let error = binary_of(BinaryOperator::Add, Value::Int4(i32::MAX), Value::Int4(1)).unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
        );
        let error = binary_of(BinaryOperator::Multiply, Value::Int2(300), Value::Int2(300)).unwrap_err();
        assert_eq!(error.message, "smallint out of range");
        assert_eq!(
            binary_of(BinaryOperator::Add, Value::Int8(i64::from(i32::MAX)), Value::Int8(1)).unwrap(),
            Value::Int8(1 << 31)
        );
        let error = binary_of(BinaryOperator::Divide, Value::Int8(1), Value::Int8(0)).unwrap_err();
        assert_eq!((error.state, error.message.as_str()), (SqlState::DIVISION_BY_ZERO, "division by zero"));
        assert_eq!(
            binary_of(BinaryOperator::Divide, Value::Int4(-7), Value::Int4(2)).unwrap(),
            Value::Int4(-3),
            "truncates"
        );
        assert_eq!(binary_of(BinaryOperator::Modulo, Value::Int4(-7), Value::Int4(2)).unwrap(), Value::Int4(-1));
        assert_eq!(binary_of(BinaryOperator::Modulo, Value::Int8(i64::MIN), Value::Int8(-1)).unwrap(), Value::Int8(0));
        let error = binary_of(BinaryOperator::Divide, Value::Int4(i32::MIN), Value::Int4(-1)).unwrap_err();
        assert_eq!(error.message, "integer out of range");
        assert!(evaluate(Expression::Negate(constant(Value::Int8(i64::MIN)))).is_err());
    }

    #[test]
    fn float_overflow_and_division_by_zero_are_errors_but_infinity_propagates() {
        let error = binary_of(BinaryOperator::Multiply, Value::Float8(1e300), Value::Float8(1e300)).unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow")
        );
        assert_eq!(
            binary_of(BinaryOperator::Add, Value::Float8(f64::INFINITY), Value::Float8(1.0)).unwrap(),
            Value::Float8(f64::INFINITY)
        );
        assert_eq!(
            binary_of(BinaryOperator::Divide, Value::Float8(1.0), Value::Float8(0.0)).unwrap_err().state,
            SqlState::DIVISION_BY_ZERO
        );
    }

    #[test]
    fn comparisons_and_concatenation() {
        assert_eq!(
            binary_of(BinaryOperator::Less, Value::Text("a".into()), Value::Text("b".into())).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            binary_of(BinaryOperator::Equal, Value::Float8(f64::NAN), Value::Float8(f64::NAN)).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            binary_of(BinaryOperator::Concatenate, Value::Text("a".into()), Value::Int4(1)).unwrap(),
            Value::Text("a1".into())
        );
        let function =
            |function, value| evaluate(Expression::Function { function, arguments: vec![Expression::Constant(value)] });
        assert_eq!(function(Function::Abs, Value::Int4(-3)).unwrap(), Value::Int4(3));
        assert_eq!(function(Function::Length, Value::Text("héllo".into())).unwrap(), Value::Int4(5));
        assert_eq!(function(Function::Upper, Value::Null).unwrap(), Value::Null);
    }
}
