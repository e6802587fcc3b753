//! `nextval`, `currval` and `setval`: functions with a side effect, which the
//! synchronous expression evaluator cannot perform itself (taking a value is
//! a transaction of its own).
//!
//! So the executor prepares them: before it evaluates expressions that call
//! them (a select list, a VALUES row, an INSERT's defaults, an UPDATE's SET),
//! [`prepare`] takes as many values from each named sequence as the calls
//! will consume, through `KeyValueTransaction::update_outside`, and runs each
//! `setval`; evaluation then hands the prepared values out in call order. A
//! call met anywhere else (a WHERE clause) has nothing prepared and is refused
//! with 0A000, never evaluated twice or skipped silently.
//!
//! As in PostgreSQL, a value handed out is never handed out again, even when
//! its transaction rolls back; `currval` is the session's own last value.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use super::catalog;
use super::error::{SqlError, SqlResult, SqlState};
use super::expression::{Expression, Function};
use super::kv::KeyValueTransaction;
use super::types::Value;

/// One session's sequence state.
#[derive(Debug, Default)]
pub struct SequenceValues {
    /// `currval`: the last value this session took from each sequence, by name.
    current: BTreeMap<String, i64>,
    /// Values taken for the calls about to be evaluated, by sequence name.
    prepared: BTreeMap<String, VecDeque<i64>>,
}

impl SequenceValues {
    /// The value for the next `nextval(name)` call of the prepared expressions.
    pub fn next_value(&mut self, name: &str) -> SqlResult<Value> {
        let name = sequence_name(name);
        let value = self.prepared.get_mut(&name).and_then(VecDeque::pop_front);
        let value = value.ok_or_else(|| SqlError::unsupported("nextval, currval or setval in this clause"))?;
        self.current.insert(name, value);
        Ok(Value::Int8(value))
    }

    pub fn current_value(&self, name: &str) -> SqlResult<Value> {
        let name = sequence_name(name);
        self.current.get(&name).map(|value| Value::Int8(*value)).ok_or_else(|| {
            SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("currval of sequence \"{name}\" is not yet defined in this session"),
            )
        })
    }
}

/// The sequence a call names: its first argument, a constant name read as
/// PostgreSQL reads `'name'::regclass` (folded to lower case unless quoted,
/// `public.` allowed).
fn named_sequence(arguments: &[Expression]) -> SqlResult<String> {
    match arguments.first() {
        Some(Expression::Constant(Value::Text(name))) => Ok(sequence_name(name)),
        _ => Err(SqlError::unsupported("a sequence named by a computed value")),
    }
}

/// A sequence name as text, folded as an identifier.
pub fn sequence_name(text: &str) -> String {
    let text = text.trim();
    let text = text.strip_prefix("public.").unwrap_or(text);
    match text.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => text.to_lowercase(),
    }
}

fn constant(expression: Option<&Expression>) -> SqlResult<Option<Value>> {
    match expression {
        None => Ok(None),
        Some(Expression::Constant(value)) => Ok(Some(value.clone())),
        Some(_) => Err(SqlError::unsupported("setval with a computed value")),
    }
}

/// Collects the sequence calls of `expression`, in evaluation order.
fn calls<'e>(expression: &'e Expression, into: &mut Vec<(Function, &'e [Expression])>) {
    match expression {
        Expression::Function { function, arguments } => {
            arguments.iter().for_each(|argument| calls(argument, into));
            if matches!(function, Function::NextValue | Function::SetValue) {
                into.push((*function, arguments));
            }
        }
        Expression::Binary { left, right, .. } | Expression::And(left, right) | Expression::Or(left, right) => {
            calls(left, into);
            calls(right, into);
        }
        Expression::Negate(operand) | Expression::Not(operand) => calls(operand, into),
        Expression::IsNull { expression, .. } | Expression::Cast { expression, .. } => calls(expression, into),
        Expression::Constant(_) | Expression::Column(_) | Expression::Parameter(..) => {}
    }
}

/// Whether evaluating `expression` takes or sets a sequence value.
pub fn calls_sequences(expression: &Expression) -> bool {
    let mut found = Vec::new();
    calls(expression, &mut found);
    !found.is_empty()
}

/// [`prepare`] for the session's values in `context`, when there are any.
pub async fn prepare_in<'e>(
    expressions: impl IntoIterator<Item = &'e Expression>,
    kv: &mut impl KeyValueTransaction,
    context: &super::expression::Context<'_>,
) -> SqlResult<()> {
    match context.sequences {
        Some(sequences) => prepare(expressions, kv, sequences).await,
        None => Ok(()),
    }
}

/// Takes the values the `nextval` calls of `expressions` will consume and
/// runs their `setval` calls (whose results `nextval`'s queue does not hold:
/// `setval` returns its argument, the evaluator computes it).
pub async fn prepare<'e>(
    expressions: impl IntoIterator<Item = &'e Expression>,
    kv: &mut impl KeyValueTransaction,
    values: &RefCell<SequenceValues>,
) -> SqlResult<()> {
    let mut found = Vec::new();
    for expression in expressions {
        calls(expression, &mut found);
    }
    for (function, arguments) in found {
        let name = named_sequence(arguments)?;
        let sequence = catalog::sequence_by_name(kv, &name).await?;
        let key = catalog::sequence_value_key(sequence.id);
        match function {
            Function::NextValue => {
                let mut taken = None;
                kv.update_outside(&key, &mut |current| {
                    let current = current.map(catalog::decode_sequence_value).transpose()?;
                    let next = sequence.next_after(current).ok_or_else(|| sequence.exhausted())?;
                    taken = Some(next);
                    Ok(catalog::encode_sequence_value(next))
                })
                .await?;
                let taken = taken.expect("set by the committed change");
                values.borrow_mut().prepared.entry(name).or_default().push_back(taken);
            }
            Function::SetValue => {
                let value = match constant(arguments.get(1))? {
                    Some(Value::Int8(value)) => value,
                    Some(Value::Null) | None => return Ok(()),
                    Some(other) => return Err(SqlError::internal(format!("setval bound to {other:?}"))),
                };
                if value < sequence.minimum || value > sequence.maximum {
                    return Err(SqlError::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!(
                            "setval: value {value} is out of bounds for sequence \"{name}\" ({}..{})",
                            sequence.minimum, sequence.maximum
                        ),
                    ));
                }
                let is_called = !matches!(constant(arguments.get(2))?, Some(Value::Bool(false)));
                // Not called: the next nextval returns `value` itself.
                let stored = if is_called {
                    value
                } else {
                    value
                        .checked_sub(sequence.increment)
                        .ok_or_else(|| SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range"))?
                };
                kv.update_outside(&key, &mut |_| Ok(catalog::encode_sequence_value(stored))).await?;
                if is_called {
                    values.borrow_mut().current.insert(name, value);
                }
            }
            _ => unreachable!("only nextval and setval are collected"),
        }
    }
    Ok(())
}
