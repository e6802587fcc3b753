//! The type rules of the operators on dates, times, intervals and jsonb,
//! PostgreSQL's operator resolution for them:
//!
//! - `date + integer`, `integer + date`, `date - integer` are dates;
//!   `date - date` is an integer (days); `date ± interval` is a timestamp.
//! - `timestamp ± interval` is a timestamp, `timestamptz ± interval` a
//!   timestamptz, and a difference of two of one type an interval.
//! - `interval ± interval`, `interval * number`, `number * interval` and
//!   `interval / number` are intervals (the number as double precision).
//! - Against a quoted literal the literal takes the type the operator wants
//!   (`timestamp - '2024-01-01'` subtracts a timestamp, `timestamp + '1
//!   day'` adds an interval), except that `date + 'x'` is ambiguous in
//!   PostgreSQL (42725) and here too.
//! - Mixed date and time types compare and subtract in the wider one
//!   (date < timestamp < timestamptz).
//! - `jsonb -> text`, `jsonb -> integer` are jsonb, `->>` text; a quoted
//!   literal key is text.

use super::super::super::error::{SqlError, SqlResult, SqlState};
use super::super::super::expression::{BinaryOperator, Expression};
use super::super::super::types::DataType;
use super::{no_operator, Bound, ExpressionBinder};

/// The wider of two date and time types, for comparison and subtraction.
pub fn wider_datetime(left: DataType, right: DataType) -> DataType {
    let rank = |data_type| match data_type {
        DataType::Date => 1,
        DataType::Timestamp => 2,
        _ => 3,
    };
    if rank(left) >= rank(right) {
        left
    } else {
        right
    }
}

/// Whether the operands call for these rules rather than numeric arithmetic.
pub fn is_temporal_arithmetic(left: DataType, right: DataType) -> bool {
    let temporal = |data_type: DataType| data_type.is_datetime() || data_type == DataType::Interval;
    temporal(left) || temporal(right)
}

impl ExpressionBinder<'_> {
    /// Binds `left operator right` over date, time and interval operands.
    pub(super) fn temporal_arithmetic(
        &mut self,
        operator: BinaryOperator,
        left: Bound,
        right: Bound,
    ) -> SqlResult<Bound> {
        use BinaryOperator::*;
        use DataType::*;
        let symbol = operator.symbol();
        let (left_type, right_type) = (left.data_type, right.data_type);
        let integer = |data_type: DataType| matches!(data_type, Int2 | Int4);
        let number = |data_type: DataType| data_type.is_numeric() || data_type == Unknown;
        // (left's type, right's type, the result's), the operands coerced to the first two.
        let (left_to, right_to, result) = match (operator, left_type, right_type) {
            (Add, Date, Unknown) | (Add, Unknown, Date) => {
                return Err(SqlError::new(
                    SqlState("42725"),
                    format!("operator is not unique: {left_type} {symbol} {right_type}"),
                )
                .with_hint("Could not choose a best candidate operator. You might need to add explicit type casts."));
            }
            (Add, Date, other) | (Subtract, Date, other) if integer(other) => (Date, Int4, Date),
            (Add, other, Date) if integer(other) => (Int4, Date, Date),
            (Add | Subtract, Date, Interval) => (Timestamp, Interval, Timestamp),
            (Add, Interval, Date) => (Interval, Timestamp, Timestamp),
            (Add, Timestamp | TimestampTz, Interval | Unknown) | (Subtract, Timestamp | TimestampTz, Interval) => {
                (left_type, Interval, left_type)
            }
            (Add, Interval | Unknown, Timestamp | TimestampTz) => (Interval, right_type, right_type),
            (Subtract, Date, Date | Unknown) | (Subtract, Unknown, Date) => (Date, Date, Int4),
            (Subtract, left_kind, right_kind)
                if (left_kind.is_datetime() || left_kind == Unknown)
                    && (right_kind.is_datetime() || right_kind == Unknown) =>
            {
                let wider = match (left_kind, right_kind) {
                    (Unknown, other) | (other, Unknown) => other,
                    (left_kind, right_kind) => wider_datetime(left_kind, right_kind),
                };
                (wider, wider, Interval)
            }
            (Add | Subtract, Interval, Interval | Unknown) | (Add, Unknown, Interval) => (Interval, Interval, Interval),
            (Multiply, Interval, other) if number(other) => (Interval, Float8, Interval),
            (Multiply, other, Interval) if number(other) => (Float8, Interval, Interval),
            (Divide, Interval, other) if number(other) => (Interval, Float8, Interval),
            _ => return Err(no_operator(symbol, left_type, right_type)),
        };
        let (left, right) = (self.coerce(left, left_to)?, self.coerce(right, right_to)?);
        let expression =
            Expression::Binary { operator, left: Box::new(left.expression), right: Box::new(right.expression) };
        Ok(Bound { expression, data_type: result })
    }

    /// Binds `json -> key` and `json ->> key`.
    pub(super) fn json_get(&mut self, operator: BinaryOperator, left: Bound, right: Bound) -> SqlResult<Bound> {
        let (left_type, right_type) = (left.data_type, right.data_type);
        let left = match left_type {
            DataType::Jsonb => left,
            DataType::Unknown => self.coerce(left, DataType::Jsonb)?,
            _ => return Err(no_operator(operator.symbol(), left_type, right_type)),
        };
        let right = match right_type {
            DataType::Unknown => self.coerce(right, DataType::Text)?,
            DataType::Int2 => self.coerce(right, DataType::Int4)?,
            data_type if data_type.is_string() || data_type == DataType::Int4 => {
                self.coerce(right, if data_type == DataType::Int4 { DataType::Int4 } else { DataType::Text })?
            }
            _ => return Err(no_operator(operator.symbol(), DataType::Jsonb, right_type)),
        };
        let data_type = if operator == BinaryOperator::JsonGet { DataType::Jsonb } else { DataType::Text };
        let expression =
            Expression::Binary { operator, left: Box::new(left.expression), right: Box::new(right.expression) };
        Ok(Bound { expression, data_type })
    }
}
