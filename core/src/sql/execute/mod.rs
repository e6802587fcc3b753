//! The executor: pulls rows through a plan's nodes one at a time, reading the
//! key space through the statement's transaction.
//!
//! Each node is a [`Cursor`] whose `next` is an `async` call (a scan waits for
//! ranges), boxed because cursors nest. A scan reads its span in batches of
//! [`SCAN_BATCH_ROWS`] with bounded scans, so a query holds one batch per scan,
//! not a table; only a sort holds all its input, which it must.

mod aggregate;
pub mod index_entries;
mod join;
mod row_changes;
mod schema_changes;
pub mod table_rows;
mod write;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use self::write::execute_write;
use super::catalog::TableDescriptor;
use super::error::{SqlError, SqlResult, SqlState};
use super::expression::{truth, Context, Expression};
use super::kv::KeyValueTransaction;
use super::plan::{Access, AggregateCall, Node, OutputColumn, SortKey};
use super::row::{self, IndexId};
use super::sequences;
use super::types::Value;
use crate::keys::{Key, KeyEnd};

/// Rows read per bounded scan.
pub const SCAN_BATCH_ROWS: usize = 256;

pub type Row = Vec<Value>;

/// What a statement returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A result set, and the tag its CommandComplete carries (`SELECT 3`, `INSERT 0 1` with RETURNING).
    Rows { columns: Vec<OutputColumn>, rows: Vec<Row>, tag: String },
    /// A command's tag: `INSERT 0 1`, `CREATE TABLE`.
    Command { tag: String },
}

type NextRow<'s> = Pin<Box<dyn Future<Output = SqlResult<Option<Row>>> + 's>>;

/// One node, running.
pub enum Cursor {
    Nothing {
        done: bool,
    },
    Values {
        rows: std::vec::IntoIter<Vec<Expression>>,
    },
    Scan {
        table: Arc<TableDescriptor>,
        next_start: Option<Key>,
        end: KeyEnd,
        batch: VecDeque<Row>,
    },
    Point {
        table: Arc<TableDescriptor>,
        /// The listed keys' values, until the first call turns them into keys.
        keys: Option<Vec<Vec<Expression>>>,
        pending: VecDeque<Key>,
    },
    /// Rows found through a secondary index: its entries under a prefix, each
    /// followed to its row.
    IndexScan {
        table: Arc<TableDescriptor>,
        index: IndexId,
        /// The leading columns' values, until the first call turns them into a span.
        values: Option<Vec<Expression>>,
        next_start: Option<Key>,
        end: Option<KeyEnd>,
        rows: VecDeque<Key>,
    },
    Filter {
        input: Box<Cursor>,
        predicate: Expression,
    },
    Join(Box<join::JoinCursor>),
    Sort {
        input: Box<Cursor>,
        keys: Vec<SortKey>,
        sorted: Option<std::vec::IntoIter<Row>>,
    },
    Project {
        input: Box<Cursor>,
        expressions: Vec<Expression>,
        /// Whether the expressions call nextval or setval, to be prepared per row.
        calls_sequences: bool,
    },
    Aggregate {
        input: Box<Cursor>,
        group_by: Vec<Expression>,
        calls: Vec<AggregateCall>,
        groups: Option<std::vec::IntoIter<Row>>,
    },
    Limit {
        input: Box<Cursor>,
        limit: Option<Expression>,
        offset: Option<Expression>,
        counts: Option<(Option<u64>, u64)>,
    },
}

impl Cursor {
    pub fn new(node: Node) -> Cursor {
        match node {
            Node::Nothing => Cursor::Nothing { done: false },
            Node::Values { rows } => Cursor::Values { rows: rows.into_iter() },
            Node::Scan { table, access: Access::Full } => {
                let prefix = row::index_prefix(table.id, table.primary_index.id);
                let end = KeyEnd::of_prefix(&prefix);
                Cursor::Scan { table, next_start: Some(prefix), end, batch: VecDeque::new() }
            }
            Node::Scan { table, access: Access::PrimaryKeys(keys) } => {
                Cursor::Point { table, keys: Some(keys), pending: VecDeque::new() }
            }
            Node::Scan { table, access: Access::Index { index, values } } => Cursor::IndexScan {
                table,
                index,
                values: Some(values),
                next_start: None,
                end: None,
                rows: VecDeque::new(),
            },
            Node::Filter { input, predicate } => Cursor::Filter { input: Box::new(Cursor::new(*input)), predicate },
            Node::Join { left, right, kind, right_width, equalities, condition } => {
                Cursor::Join(Box::new(join::JoinCursor::new(*left, *right, kind, right_width, equalities, condition)))
            }
            Node::Sort { input, keys } => Cursor::Sort { input: Box::new(Cursor::new(*input)), keys, sorted: None },
            Node::Project { input, expressions } => {
                let calls_sequences = expressions.iter().any(sequences::calls_sequences);
                Cursor::Project { input: Box::new(Cursor::new(*input)), expressions, calls_sequences }
            }
            Node::Aggregate { input, group_by, calls } => {
                Cursor::Aggregate { input: Box::new(Cursor::new(*input)), group_by, calls, groups: None }
            }
            Node::Limit { input, limit, offset } => {
                Cursor::Limit { input: Box::new(Cursor::new(*input)), limit, offset, counts: None }
            }
        }
    }

    /// The next row, or None when the node is exhausted.
    pub fn next<'s, K: KeyValueTransaction>(&'s mut self, kv: &'s mut K, context: &'s Context<'s>) -> NextRow<'s> {
        Box::pin(async move {
            match self {
                Cursor::Nothing { done } => Ok((!std::mem::replace(done, true)).then(Vec::new)),
                Cursor::Values { rows } => match rows.next() {
                    None => Ok(None),
                    Some(row) => {
                        if row.iter().any(sequences::calls_sequences) {
                            sequences::prepare_in(&row, kv, context).await?;
                        }
                        Ok(Some(
                            row.iter().map(|expression| expression.evaluate(&[], context)).collect::<SqlResult<_>>()?,
                        ))
                    }
                },
                Cursor::Scan { table, next_start, end, batch } => {
                    while batch.is_empty() {
                        let Some(start) = next_start.take() else { return Ok(None) };
                        let scanned = kv.scan(&start, end, SCAN_BATCH_ROWS).await?;
                        *next_start = scanned.resume;
                        for (key, value) in &scanned.rows {
                            batch.push_back(table_rows::decode_row(table, key, value)?);
                        }
                    }
                    Ok(batch.pop_front())
                }
                Cursor::Point { table, keys, pending } => {
                    if let Some(listed) = keys.take() {
                        *pending = point_keys(table, &listed, context)?.into();
                    }
                    while let Some(key) = pending.pop_front() {
                        if let Some(value) = kv.get(&key).await? {
                            return Ok(Some(table_rows::decode_row(table, &key.0, &value)?));
                        }
                    }
                    Ok(None)
                }
                Cursor::IndexScan { table, index, values, next_start, end, rows } => {
                    let index = table.index(*index).ok_or_else(|| SqlError::internal("a scan of a missing index"))?;
                    if let Some(expressions) = values.take() {
                        let values: Vec<Value> = expressions
                            .iter()
                            .map(|expression| expression.evaluate(&[], context))
                            .collect::<SqlResult<_>>()?;
                        // `email = NULL` is never true: nothing to read.
                        if !values.iter().any(Value::is_null) {
                            let prefix = index_entries::entry_prefix(table, index, &values)?;
                            *end = Some(KeyEnd::of_prefix(&prefix));
                            *next_start = Some(prefix);
                        }
                    }
                    loop {
                        if let Some(key) = rows.pop_front() {
                            return Ok(Some(row_changes::read_row(kv, table, &key).await?));
                        }
                        let (Some(start), Some(end)) = (next_start.take(), end.as_ref()) else { return Ok(None) };
                        let scanned = kv.scan(&start, end, SCAN_BATCH_ROWS).await?;
                        *next_start = scanned.resume;
                        for (key, value) in &scanned.rows {
                            rows.push_back(index_entries::row_key_of_entry(table, index, key, value)?);
                        }
                    }
                }
                Cursor::Filter { input, predicate } => loop {
                    let Some(row) = input.next(kv, context).await? else { return Ok(None) };
                    if truth(predicate.evaluate(&row, context)?)? == Some(true) {
                        return Ok(Some(row));
                    }
                },
                Cursor::Join(join) => join.next(kv, context).await,
                Cursor::Sort { input, keys, sorted } => {
                    if sorted.is_none() {
                        let mut rows = Vec::new();
                        while let Some(row) = input.next(kv, context).await? {
                            let sort_values: Vec<Value> = keys
                                .iter()
                                .map(|key| key.expression.evaluate(&row, context))
                                .collect::<SqlResult<_>>()?;
                            rows.push((sort_values, row));
                        }
                        rows.sort_by(|(left, _), (right, _)| compare_sort_values(keys, left, right));
                        *sorted = Some(rows.into_iter().map(|(_, row)| row).collect::<Vec<_>>().into_iter());
                    }
                    Ok(sorted.as_mut().expect("sorted above").next())
                }
                Cursor::Project { input, expressions, calls_sequences } => {
                    let Some(row) = input.next(kv, context).await? else { return Ok(None) };
                    if *calls_sequences {
                        sequences::prepare_in(expressions.iter(), kv, context).await?;
                    }
                    Ok(Some(
                        expressions
                            .iter()
                            .map(|expression| expression.evaluate(&row, context))
                            .collect::<SqlResult<_>>()?,
                    ))
                }
                Cursor::Aggregate { input, group_by, calls, groups } => {
                    if groups.is_none() {
                        let mut grouping = aggregate::Grouping::new(group_by, calls);
                        while let Some(row) = input.next(kv, context).await? {
                            grouping.add(&row, group_by, calls, context)?;
                        }
                        *groups = Some(grouping.finish(calls)?.into_iter());
                    }
                    Ok(groups.as_mut().expect("grouped above").next())
                }
                Cursor::Limit { input, limit, offset, counts } => {
                    if counts.is_none() {
                        let count = |expression: &Option<Expression>, what: &str| -> SqlResult<Option<u64>> {
                            match expression.as_ref().map(|expression| expression.evaluate(&[], context)).transpose()? {
                                None | Some(Value::Null) => Ok(None),
                                Some(Value::Int8(count)) if count >= 0 => Ok(Some(count as u64)),
                                Some(_) => {
                                    Err(SqlError::new(SqlState("2201W"), format!("{what} must not be negative")))
                                }
                            }
                        };
                        *counts = Some((count(limit, "LIMIT")?, count(offset, "OFFSET")?.unwrap_or(0)));
                    }
                    let (remaining, to_skip) = counts.as_mut().expect("set above");
                    if *remaining == Some(0) {
                        return Ok(None);
                    }
                    while *to_skip > 0 {
                        if input.next(kv, context).await?.is_none() {
                            return Ok(None);
                        }
                        *to_skip -= 1;
                    }
                    let row = input.next(kv, context).await?;
                    if let (Some(_), Some(remaining)) = (&row, remaining.as_mut()) {
                        *remaining -= 1;
                    }
                    Ok(row)
                }
            }
        })
    }
}

/// The keys a point lookup reads, in key order and each once; a key with a
/// NULL matches nothing (`id = NULL` is never true).
fn point_keys(table: &TableDescriptor, listed: &[Vec<Expression>], context: &Context) -> SqlResult<Vec<Key>> {
    let mut keys = Vec::with_capacity(listed.len());
    for expressions in listed {
        let values: Vec<Value> =
            expressions.iter().map(|expression| expression.evaluate(&[], context)).collect::<SqlResult<_>>()?;
        if values.iter().any(Value::is_null) {
            continue;
        }
        let values: Vec<&Value> = values.iter().collect();
        keys.push(table_rows::key_of_values(table, &values)?);
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// ORDER BY's comparison of two rows' sort values.
fn compare_sort_values(keys: &[SortKey], left: &[Value], right: &[Value]) -> std::cmp::Ordering {
    for ((key, left), right) in keys.iter().zip(left).zip(right) {
        let order = match (left.is_null(), right.is_null()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => {
                if key.nulls_first {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            }
            (false, true) => {
                if key.nulls_first {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            }
            (false, false) => {
                let order = left.sort_order(right);
                if key.descending {
                    order.reverse()
                } else {
                    order
                }
            }
        };
        if order != std::cmp::Ordering::Equal {
            return order;
        }
    }
    std::cmp::Ordering::Equal
}

/// Every row of `node`.
pub async fn collect<K: KeyValueTransaction>(node: Node, kv: &mut K, context: &Context<'_>) -> SqlResult<Vec<Row>> {
    let mut cursor = Cursor::new(node);
    let mut rows = Vec::new();
    while let Some(row) = cursor.next(kv, context).await? {
        rows.push(row);
    }
    Ok(rows)
}
