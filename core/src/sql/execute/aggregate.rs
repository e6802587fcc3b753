//! Aggregation: rows grouped by their GROUP BY values, and count, sum, avg,
//! min and max per group with PostgreSQL's result types — sum of integers is
//! bigint (of bigints, numeric), avg of integers and numerics is numeric, of
//! floats double precision, and an aggregate over no rows is NULL (count 0).
//!
//! Groups are kept in a map ordered by the order-preserving key encoding of
//! their values, so equal values (NULLs included, as GROUP BY wants) fall in
//! one group and the output order is deterministic.

use std::collections::BTreeMap;

use super::super::cast;
use super::super::error::{SqlError, SqlResult};
use super::super::expression::{Context, Expression};
use super::super::plan::{AggregateCall, AggregateFunction};
use super::super::row::{self, Direction};
use super::super::types::{DataType, Value};
use super::Row;
use crate::keys::KeyWriter;
use crate::numeric::Numeric;

/// One call's running state within one group.
#[derive(Clone, Debug)]
struct Accumulator {
    count: i64,
    integer_sum: i128,
    numeric_sum: Option<Numeric>,
    float_sum: f64,
    best: Option<Value>,
}

impl Accumulator {
    fn new() -> Accumulator {
        Accumulator { count: 0, integer_sum: 0, numeric_sum: None, float_sum: 0.0, best: None }
    }

    fn add(&mut self, call: &AggregateCall, value: Value) -> SqlResult<()> {
        if value.is_null() {
            return Ok(());
        }
        self.count += 1;
        match call.function {
            AggregateFunction::Count => {}
            AggregateFunction::Minimum | AggregateFunction::Maximum => {
                let replace = match &self.best {
                    None => true,
                    Some(best) => {
                        let order = value.sort_order(best);
                        if call.function == AggregateFunction::Minimum {
                            order.is_lt()
                        } else {
                            order.is_gt()
                        }
                    }
                };
                if replace {
                    self.best = Some(value);
                }
            }
            AggregateFunction::Sum | AggregateFunction::Average => match value {
                Value::Numeric(numeric) => {
                    self.numeric_sum = Some(match self.numeric_sum.take() {
                        None => numeric,
                        Some(sum) => sum.add(&numeric)?,
                    })
                }
                Value::Float4(_) | Value::Float8(_) => self.float_sum += cast::to_float(&value).expect("a float"),
                integer => {
                    let wide =
                        cast::to_wide_integer(&integer).ok_or_else(|| SqlError::internal("sum of a non-number"))?;
                    // i128 holds the sum of 2^64 bigints: no overflow short of that.
                    self.integer_sum += wide;
                }
            },
        }
        Ok(())
    }

    fn finish(&self, call: &AggregateCall) -> SqlResult<Value> {
        if call.function == AggregateFunction::Count {
            return Ok(Value::Int8(self.count));
        }
        if self.count == 0 {
            return Ok(Value::Null);
        }
        let integer_sum = || -> SqlResult<Numeric> { Ok(self.integer_sum.to_string().parse::<Numeric>()?) };
        Ok(match (call.function, call.argument_type) {
            (AggregateFunction::Minimum | AggregateFunction::Maximum, _) => self.best.clone().unwrap_or(Value::Null),
            (AggregateFunction::Sum, DataType::Int2 | DataType::Int4) => {
                Value::Int8(i64::try_from(self.integer_sum).map_err(|_| cast::integer_out_of_range(DataType::Int8))?)
            }
            (AggregateFunction::Sum, DataType::Int8) => Value::Numeric(integer_sum()?),
            (AggregateFunction::Sum, DataType::Float4) => Value::Float4(self.float_sum as f32),
            (AggregateFunction::Sum, DataType::Float8) => Value::Float8(self.float_sum),
            (AggregateFunction::Sum, _) => Value::Numeric(self.numeric_sum.clone().unwrap_or_else(|| Numeric::zero(0))),
            (AggregateFunction::Average, DataType::Float4 | DataType::Float8) => {
                Value::Float8(self.float_sum / self.count as f64)
            }
            (AggregateFunction::Average, data_type) => {
                let sum = if data_type.is_integer() {
                    integer_sum()?
                } else {
                    self.numeric_sum.clone().unwrap_or_else(|| Numeric::zero(0))
                };
                Value::Numeric(sum.divide(&Numeric::from(self.count))?)
            }
            (AggregateFunction::Count, _) => unreachable!("counted above"),
        })
    }
}

/// The groups met so far, each with its calls' running state.
pub struct Grouping {
    groups: BTreeMap<Vec<u8>, (Vec<Value>, Vec<Accumulator>)>,
}

impl Grouping {
    /// No groups yet; without GROUP BY, the one group there always is.
    pub fn new(group_by: &[Expression], calls: &[AggregateCall]) -> Grouping {
        let mut groups = BTreeMap::new();
        if group_by.is_empty() {
            groups.insert(Vec::new(), (Vec::new(), vec![Accumulator::new(); calls.len()]));
        }
        Grouping { groups }
    }

    /// Adds one input row to its group.
    pub fn add(
        &mut self,
        row: &Row,
        group_by: &[Expression],
        calls: &[AggregateCall],
        context: &Context,
    ) -> SqlResult<()> {
        let values: Vec<Value> =
            group_by.iter().map(|expression| expression.evaluate(row, context)).collect::<SqlResult<_>>()?;
        let mut key = KeyWriter::new();
        for value in &values {
            row::write_key_value(&mut key, value, Direction::Ascending)?;
        }
        let (_, accumulators) =
            self.groups.entry(key.finish()).or_insert_with(|| (values, vec![Accumulator::new(); calls.len()]));
        for (call, accumulator) in calls.iter().zip(accumulators.iter_mut()) {
            let value = match &call.argument {
                None => Value::Bool(true),
                Some(argument) => argument.evaluate(row, context)?,
            };
            accumulator.add(call, value)?;
        }
        Ok(())
    }

    /// Every group's row: its values, then its calls' results, in group-key order.
    pub fn finish(self, calls: &[AggregateCall]) -> SqlResult<Vec<Row>> {
        self.groups
            .into_values()
            .map(|(mut values, accumulators)| {
                for (call, accumulator) in calls.iter().zip(&accumulators) {
                    values.push(accumulator.finish(call)?);
                }
                Ok(values)
            })
            .collect()
    }
}
