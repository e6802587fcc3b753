//! A table's rows as keys and values of its primary index (the layout is in
//! `row`): a row is a vector of values in the descriptor's column order.

use super::super::catalog::TableDescriptor;
use super::super::error::{SqlError, SqlResult};
use super::super::row::{self, FAMILY_DEFAULT};
use super::super::types::Value;
use crate::keys::{Key, KeyReader, KeyWriter};

/// The primary-index key of the row whose key columns hold `key_values`.
pub fn key_of_values(table: &TableDescriptor, key_values: &[&Value]) -> SqlResult<Key> {
    let mut writer = row::index_key_writer(table.id, table.primary_index.id);
    for ((_, direction), value) in table.primary_index.columns.iter().zip(key_values) {
        row::write_key_value(&mut writer, value, *direction)?;
    }
    writer.u64(FAMILY_DEFAULT);
    Ok(writer.finish_key())
}

/// The primary-index key of `row`.
pub fn key_of_row(table: &TableDescriptor, row: &[Value]) -> SqlResult<Key> {
    let values: Vec<&Value> = table.primary_index.columns.iter().map(|(id, _)| &row[position(table, *id)]).collect();
    key_of_values(table, &values)
}

/// `row`'s primary-key values alone, key-encoded: what a secondary index
/// entry carries to find its row.
pub fn primary_key_bytes(table: &TableDescriptor, row: &[Value]) -> SqlResult<Vec<u8>> {
    let mut writer = KeyWriter::new();
    for (id, direction) in &table.primary_index.columns {
        row::write_key_value(&mut writer, &row[position(table, *id)], *direction)?;
    }
    Ok(writer.finish())
}

/// The primary-index key of the row whose [`primary_key_bytes`] are `bytes`.
pub fn key_of_primary_key_bytes(table: &TableDescriptor, bytes: &[u8]) -> Key {
    let mut writer = row::index_key_writer(table.id, table.primary_index.id);
    writer.raw(bytes).u64(FAMILY_DEFAULT);
    writer.finish_key()
}

fn position(table: &TableDescriptor, id: row::ColumnId) -> usize {
    table.position_of(id).expect("index columns are columns of their table")
}

/// The stored value of `row`: every column outside the primary key.
pub fn value_of_row(table: &TableDescriptor, row: &[Value]) -> Vec<u8> {
    let key_columns: Vec<row::ColumnId> = table.primary_index.columns.iter().map(|(id, _)| *id).collect();
    let mut columns: Vec<(row::ColumnId, &Value)> = table
        .columns
        .iter()
        .zip(row)
        .filter(|(column, _)| !key_columns.contains(&column.id))
        .map(|(column, value)| (column.id, value))
        .collect();
    columns.sort_by_key(|(id, _)| *id);
    row::encode_row_value(columns)
}

/// The row stored at `key` with `value`.
pub fn decode_row(table: &TableDescriptor, key: &[u8], value: &[u8]) -> SqlResult<Vec<Value>> {
    let mut row = vec![Value::Null; table.columns.len()];
    let prefix = row::index_prefix(table.id, table.primary_index.id);
    let rest =
        key.strip_prefix(prefix.0.as_slice()).ok_or_else(|| SqlError::corrupted("a row key outside its table"))?;
    let mut reader = KeyReader::new(rest);
    for (id, direction) in &table.primary_index.columns {
        let position = position(table, *id);
        row[position] = row::read_key_value(&mut reader, table.columns[position].data_type, *direction)?;
    }
    let family = reader.u64().map_err(|error| SqlError::corrupted(format!("a row key's family: {error}")))?;
    reader.finish().map_err(|error| SqlError::corrupted(format!("a row key: {error}")))?;
    if family != FAMILY_DEFAULT {
        return Err(SqlError::corrupted(format!("a row of family {family}")));
    }
    for (id, stored) in row::decode_row_value(value)? {
        // Columns dropped since the row was written are skipped.
        if let Some(position) = table.position_of(id) {
            if stored.data_type() != table.columns[position].data_type
                && !types_match(&stored, table.columns[position].data_type)
            {
                return Err(SqlError::corrupted(format!(
                    "column {} holds a {}",
                    table.columns[position].name,
                    stored.data_type()
                )));
            }
            row[position] = stored;
        }
    }
    Ok(row)
}

fn types_match(value: &Value, column: super::super::types::DataType) -> bool {
    use super::super::types::DataType;
    matches!(
        (value, column),
        (Value::Text(_), DataType::Text | DataType::Varchar(_))
            | (Value::Numeric(_), DataType::Numeric(_))
            | (Value::Char(_), DataType::Char(_))
    )
}

/// The text PostgreSQL shows in "Failing row contains (...)".
pub fn describe_row(table: &TableDescriptor, row: &[Value]) -> String {
    let values: Vec<String> =
        table.visible_columns().map(|(position, _)| row[position].to_text().unwrap_or_else(|| "null".into())).collect();
    format!("({})", values.join(", "))
}
