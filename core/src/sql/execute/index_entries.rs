//! Secondary index entries: how a row appears in each of its table's other
//! indexes, and the way back from an entry to the row.
//!
//! ```text
//! non-unique:                <indexed values> <primary key>  -> empty
//! unique, no NULL indexed:   <indexed values>                -> <primary key>
//! unique, a NULL indexed:    <indexed values> <primary key>  -> <primary key>
//! ```
//!
//! A unique entry's key is its indexed values alone, so two rows with the same
//! values meet at one key and the second is refused (23505) — checked before
//! it is written, in the writer's transaction, so two concurrent writers of
//! one value conflict like writers of one key. PostgreSQL's unique indexes
//! treat NULLs as distinct (`NULLS DISTINCT`, the default): a unique entry
//! with a NULL indexed value is keyed like a non-unique one, so any number of
//! them coexist. A unique entry keeps the primary key in its value either way,
//! so reading it back needs no look at the key's shape.

use super::super::catalog::{IndexDescriptor, TableDescriptor};
use super::super::error::{SqlError, SqlResult};
use super::super::row;
use super::super::types::Value;
use super::table_rows::{key_of_primary_key_bytes, primary_key_bytes};
use crate::keys::{Key, KeyReader};

/// One row's entry in one secondary index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub value: Vec<u8>,
    /// Whether the key holds no primary key, so that it must not exist yet:
    /// a unique index's entry without NULL indexed values.
    pub is_exclusive: bool,
}

/// `row`'s entry in `index` of `table`.
pub fn entry_of(table: &TableDescriptor, index: &IndexDescriptor, row: &[Value]) -> SqlResult<Entry> {
    let mut writer = row::index_key_writer(table.id, index.id);
    let mut has_null = false;
    for (id, direction) in &index.columns {
        let value = &row[table.position_of(*id).expect("index columns are columns of their table")];
        has_null |= value.is_null();
        row::write_key_value(&mut writer, value, *direction)?;
    }
    let primary_key = primary_key_bytes(table, row)?;
    let is_exclusive = index.unique && !has_null;
    if !is_exclusive {
        writer.raw(&primary_key);
    }
    let value = if index.unique { primary_key } else { Vec::new() };
    Ok(Entry { key: writer.finish_key(), value, is_exclusive })
}

/// Every secondary index entry of `row`, in index order.
pub fn entries_of<'t>(table: &'t TableDescriptor, row: &[Value]) -> SqlResult<Vec<(&'t IndexDescriptor, Entry)>> {
    table.indexes.iter().map(|index| Ok((index, entry_of(table, index, row)?))).collect()
}

/// The primary-index key of the row that the entry `key` → `value` of `index` points at.
pub fn row_key_of_entry(table: &TableDescriptor, index: &IndexDescriptor, key: &[u8], value: &[u8]) -> SqlResult<Key> {
    if index.unique {
        return Ok(key_of_primary_key_bytes(table, value));
    }
    let prefix = row::index_prefix(table.id, index.id);
    let rest =
        key.strip_prefix(prefix.0.as_slice()).ok_or_else(|| SqlError::corrupted("an entry outside its index"))?;
    let mut reader = KeyReader::new(rest);
    for (id, direction) in &index.columns {
        let position = table.position_of(*id).expect("index columns are columns of their table");
        row::read_key_value(&mut reader, table.columns[position].data_type, *direction)?;
    }
    if reader.remaining().is_empty() {
        return Err(SqlError::corrupted(format!("an entry of {} without its row's key", index.name)));
    }
    Ok(key_of_primary_key_bytes(table, reader.remaining()))
}

/// The start of every entry of `index` whose leading columns hold `values`.
pub fn entry_prefix(table: &TableDescriptor, index: &IndexDescriptor, values: &[Value]) -> SqlResult<Key> {
    let mut writer = row::index_key_writer(table.id, index.id);
    for ((_, direction), value) in index.columns.iter().zip(values) {
        row::write_key_value(&mut writer, value, *direction)?;
    }
    Ok(writer.finish_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::{ColumnDescriptor, DescriptorState};
    use crate::sql::row::{ColumnId, DescriptorId, Direction, IndexId};
    use crate::sql::types::DataType;

    fn table(unique: bool) -> TableDescriptor {
        let column = |id, name: &str, data_type| ColumnDescriptor {
            id: ColumnId(id),
            name: name.into(),
            data_type,
            nullable: true,
            default: None,
            hidden: false,
        };
        let index = |id, name: &str, columns, unique| IndexDescriptor {
            id: IndexId(id),
            name: name.into(),
            unique,
            columns,
            state: DescriptorState::Public,
            backs_constraint: false,
        };
        TableDescriptor {
            id: DescriptorId(100),
            version: 1,
            state: DescriptorState::Public,
            database: DescriptorId(1),
            schema: DescriptorId(2),
            name: "t".into(),
            columns: vec![column(1, "id", DataType::Int4), column(2, "email", DataType::Text)],
            next_column_id: ColumnId(3),
            primary_index: index(1, "t_pkey", vec![(ColumnId(1), Direction::Descending)], true),
            indexes: vec![index(2, "t_email", vec![(ColumnId(2), Direction::Ascending)], unique)],
            next_index_id: IndexId(3),
            checks: Vec::new(),
        }
    }

    #[test]
    fn every_entry_leads_back_to_its_row() {
        for unique in [false, true] {
            let table = table(unique);
            for email in [Value::Text("ada@example.com".into()), Value::Null] {
                let row = vec![Value::Int4(7), email.clone()];
                let entry = entry_of(&table, &table.indexes[0], &row).unwrap();
                let back = row_key_of_entry(&table, &table.indexes[0], &entry.key.0, &entry.value).unwrap();
                assert_eq!(back, super::super::table_rows::key_of_row(&table, &row).unwrap());
                assert_eq!(entry.is_exclusive, unique && !email.is_null());
                let prefix = entry_prefix(&table, &table.indexes[0], &[email]).unwrap();
                assert!(entry.key.0.starts_with(&prefix.0));
            }
        }
    }

    #[test]
    fn a_unique_entry_is_keyed_by_its_values_alone_unless_one_is_null() {
        let table = table(true);
        let entry = |id, email: Value| entry_of(&table, &table.indexes[0], &[Value::Int4(id), email]).unwrap();
        let text = || Value::Text("x".into());
        assert_eq!(entry(1, text()).key, entry(2, text()).key, "one value, one key: the second is a duplicate");
        assert_ne!(entry(1, Value::Null).key, entry(2, Value::Null).key, "NULLs are distinct");
        let table = self::table(false);
        let plain = |id| entry_of(&table, &table.indexes[0], &[Value::Int4(id), text()]).unwrap();
        assert_ne!(plain(1).key, plain(2).key, "non-unique entries carry the primary key");
    }
}
