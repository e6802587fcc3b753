//! Joins: the right input is read once into memory — a hash table keyed by
//! the join's equalities, or a list when there are none (a nested loop) —
//! then each left row is matched against it as it streams by. The right
//! side is what a join holds; the planner puts the table to hold there.
//!
//! NULL never equals anything, so a right row whose key holds a NULL is left
//! out of the table and a left row whose key holds one matches nothing (a
//! LEFT join still emits it, with NULLs).

use std::collections::{BTreeMap, VecDeque};

use super::super::error::SqlResult;
use super::super::expression::{truth, Context, Expression};
use super::super::kv::KeyValueTransaction;
use super::super::plan::{JoinKind, Node};
use super::super::row::{write_key_value, Direction};
use super::super::types::Value;
use super::{Cursor, Row};
use crate::keys::KeyWriter;

pub struct JoinCursor {
    left: Cursor,
    right: Option<Cursor>,
    kind: JoinKind,
    right_width: usize,
    equalities: Vec<(Expression, Expression)>,
    condition: Option<Expression>,
    /// The right input by key (all under one empty key without equalities).
    table: BTreeMap<Vec<u8>, Vec<Row>>,
    pending: VecDeque<Row>,
}

impl JoinCursor {
    pub fn new(
        left: Node,
        right: Node,
        kind: JoinKind,
        right_width: usize,
        equalities: Vec<(Expression, Expression)>,
        condition: Option<Expression>,
    ) -> JoinCursor {
        JoinCursor {
            left: Cursor::new(left),
            right: Some(Cursor::new(right)),
            kind,
            right_width,
            equalities,
            condition,
            table: BTreeMap::new(),
            pending: VecDeque::new(),
        }
    }

    pub async fn next<K: KeyValueTransaction>(&mut self, kv: &mut K, context: &Context<'_>) -> SqlResult<Option<Row>> {
        if let Some(mut right) = self.right.take() {
            while let Some(row) = right.next(kv, context).await? {
                let expressions = self.equalities.iter().map(|(_, right)| right);
                if let Some(key) = key_of(expressions, &row, context)? {
                    self.table.entry(key).or_default().push(row);
                }
            }
        }
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Ok(Some(row));
            }
            let Some(left) = self.left.next(kv, context).await? else { return Ok(None) };
            let key = key_of(self.equalities.iter().map(|(left, _)| left), &left, context)?;
            let candidates = key.and_then(|key| self.table.get(&key)).map(Vec::as_slice).unwrap_or_default();
            for right in candidates {
                let joined: Row = left.iter().chain(right).cloned().collect();
                let keep = match &self.condition {
                    Some(condition) => truth(condition.evaluate(&joined, context)?)? == Some(true),
                    None => true,
                };
                if keep {
                    self.pending.push_back(joined);
                }
            }
            if self.pending.is_empty() && self.kind == JoinKind::Left {
                let mut padded = left;
                padded.extend(std::iter::repeat_n(Value::Null, self.right_width));
                self.pending.push_back(padded);
            }
        }
    }
}

/// The hash key of `row` under `expressions`, or None when a value is NULL.
fn key_of<'e>(
    expressions: impl Iterator<Item = &'e Expression>,
    row: &[Value],
    context: &Context,
) -> SqlResult<Option<Vec<u8>>> {
    let mut writer = KeyWriter::new();
    for expression in expressions {
        let value = expression.evaluate(row, context)?;
        if value.is_null() {
            return Ok(None);
        }
        write_key_value(&mut writer, &value, Direction::Ascending)?;
    }
    Ok(Some(writer.finish()))
}
