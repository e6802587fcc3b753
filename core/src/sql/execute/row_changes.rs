//! Rows written with their index entries: every insert, update and delete of
//! a table row goes through here, so a secondary index never misses a change.
//!
//! Uniqueness is checked by reading before writing, in the statement's
//! transaction: the read makes a concurrent writer of the same value conflict
//! with this one (serializable isolation does the rest), and a check inside
//! one statement sees the statement's earlier rows (the write buffer is read
//! through). As in PostgreSQL, each row is checked as it is written, not at
//! the end of the statement.

use super::super::catalog::{IndexDescriptor, TableDescriptor};
use super::super::error::{SqlError, SqlResult, SqlState};
use super::super::kv::KeyValueTransaction;
use super::super::types::Value;
use super::index_entries::{entries_of, entry_of, row_key_of_entry};
use super::table_rows::{decode_row, key_of_row, value_of_row};
use crate::keys::Key;

/// An existing row that a new row collides with on a unique index.
pub struct Conflict<'t> {
    pub index: &'t IndexDescriptor,
    /// The primary-index key of the existing row.
    pub existing: Key,
}

/// The first unique index (the primary key first) on which `row` collides
/// with a stored row other than the one at `own` (an updated row's old key).
pub async fn find_conflict<'t>(
    kv: &mut impl KeyValueTransaction,
    table: &'t TableDescriptor,
    row: &[Value],
    own: Option<&Key>,
) -> SqlResult<Option<Conflict<'t>>> {
    let key = key_of_row(table, row)?;
    if Some(&key) != own && kv.get(&key).await?.is_some() {
        return Ok(Some(Conflict { index: &table.primary_index, existing: key }));
    }
    for index in table.indexes.iter().filter(|index| index.unique) {
        let entry = entry_of(table, index, row)?;
        if !entry.is_exclusive {
            continue;
        }
        if let Some(value) = kv.get(&entry.key).await? {
            let existing = row_key_of_entry(table, index, &entry.key.0, &value)?;
            if Some(&existing) != own {
                return Ok(Some(Conflict { index, existing }));
            }
        }
    }
    Ok(None)
}

/// The stored row at primary-index key `key`.
pub async fn read_row(kv: &mut impl KeyValueTransaction, table: &TableDescriptor, key: &Key) -> SqlResult<Vec<Value>> {
    let value = kv.get(key).await?.ok_or_else(|| SqlError::corrupted("an index entry whose row is missing"))?;
    decode_row(table, &key.0, &value)
}

/// Stores a new row and its entries; the caller has checked for conflicts.
pub async fn insert_row(kv: &mut impl KeyValueTransaction, table: &TableDescriptor, row: &[Value]) -> SqlResult<()> {
    kv.put(&key_of_row(table, row)?, Some(value_of_row(table, row))).await?;
    for (_, entry) in entries_of(table, row)? {
        kv.put(&entry.key, Some(entry.value)).await?;
    }
    Ok(())
}

/// Replaces `old` with `new`, moving the row and any entry whose key changed;
/// 23505 if `new` collides with another row.
pub async fn update_row(
    kv: &mut impl KeyValueTransaction,
    table: &TableDescriptor,
    old: &[Value],
    new: &[Value],
) -> SqlResult<()> {
    let (old_key, new_key) = (key_of_row(table, old)?, key_of_row(table, new)?);
    if let Some(conflict) = find_conflict(kv, table, new, Some(&old_key)).await? {
        return Err(duplicate_key(table, conflict.index, new));
    }
    if old_key != new_key {
        kv.put(&old_key, None).await?;
    }
    kv.put(&new_key, Some(value_of_row(table, new))).await?;
    for ((_, old_entry), (_, new_entry)) in entries_of(table, old)?.into_iter().zip(entries_of(table, new)?) {
        if old_entry == new_entry {
            continue;
        }
        if old_entry.key != new_entry.key {
            kv.put(&old_entry.key, None).await?;
        }
        kv.put(&new_entry.key, Some(new_entry.value)).await?;
    }
    Ok(())
}

/// Deletes a stored row and its entries.
pub async fn delete_row(kv: &mut impl KeyValueTransaction, table: &TableDescriptor, row: &[Value]) -> SqlResult<()> {
    kv.put(&key_of_row(table, row)?, None).await?;
    for (_, entry) in entries_of(table, row)? {
        kv.put(&entry.key, None).await?;
    }
    Ok(())
}

/// 23505 for `row` against `index`, worded as PostgreSQL words it.
pub fn duplicate_key(table: &TableDescriptor, index: &IndexDescriptor, row: &[Value]) -> SqlError {
    SqlError::new(
        SqlState::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{}\"", index.name),
    )
    .with_detail(format!("Key {} already exists.", describe_key(table, index, row)))
}

/// `(a, b)=(1, x)`: an index's columns and `row`'s values of them.
pub fn describe_key(table: &TableDescriptor, index: &IndexDescriptor, row: &[Value]) -> String {
    let column = |id| table.position_of(id).expect("index columns are columns of their table");
    let names: Vec<&str> = index.columns.iter().map(|(id, _)| table.columns[column(*id)].name.as_str()).collect();
    let values: Vec<String> =
        index.columns.iter().map(|(id, _)| row[column(*id)].to_text().unwrap_or_else(|| "null".into())).collect();
    format!("({})=({})", names.join(", "), values.join(", "))
}
