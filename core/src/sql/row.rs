//! How table rows and index entries sit in the key space.
//!
//! Every SQL key starts with [`SQL_PREFIX`], inside the system prefix that the
//! `kv` API refuses, so a KV client can neither read nor write table data.
//! After it, as a key tuple (`keys`): the table id, the index id, the index's
//! columns, and for a row of the primary index its column family:
//!
//! ```text
//! \x00sql/ <table u64> <index u64> <primary key values...> <family u64>   -> row value
//! \x00sql/ <table u64> <index u64> <indexed values...> <primary key...>  -> empty   (non-unique)
//! \x00sql/ <table u64> <index u64> <indexed values...>                   -> primary key (unique)
//! ```
//!
//! One table's rows are one contiguous span, ordered by primary key, so a
//! primary-key range is a key range and ranges split along tables and keys.
//! Key values use the order-preserving tuple encoding; an ascending column
//! writes NULL after every value and a descending one before, PostgreSQL's
//! defaults (`NULLS LAST` for ASC, `NULLS FIRST` for DESC).
//!
//! Only family 0 exists today; the family field is there so that splitting a
//! wide table's columns across several keys later changes no key already written.
//!
//! A row's value is its non-NULL columns in column-id order, each as the
//! difference from the previous column id (an unsigned LEB128 varint) and the
//! value with a one-byte type tag. NULLs are left out, so ADD COLUMN (a new id,
//! NULL or defaulted by the reader) rewrites nothing, and DROP COLUMN leaves
//! bytes the reader skips by id.

use super::error::{SqlError, SqlResult};
use super::types::{DataType, Value};
use crate::keys::{Key, KeyReader, KeyWriter};
use crate::numeric::Numeric;

/// The first bytes of every SQL key.
pub const SQL_PREFIX: &[u8] = b"\x00sql/";

/// A table (or sequence, or other catalog object): a descriptor id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DescriptorId(pub u64);

/// An index of one table; a table's primary index starts as [`IndexId::PRIMARY`]
/// (TRUNCATE gives every index of the table a new id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexId(pub u64);

impl IndexId {
    pub const PRIMARY: IndexId = IndexId(1);
}

/// A column of one table, never reused after a drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnId(pub u32);

/// The family of a row's key; only family 0 exists so far.
pub const FAMILY_DEFAULT: u64 = 0;

/// The order of an index column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Ascending,
    Descending,
}

/// The key writer positioned after `table`'s `index` prefix.
pub fn index_key_writer(table: DescriptorId, index: IndexId) -> KeyWriter {
    let mut writer = KeyWriter::new();
    writer.raw(SQL_PREFIX).u64(table.0).u64(index.0);
    writer
}

/// The prefix of every key of `table`'s `index`.
pub fn index_prefix(table: DescriptorId, index: IndexId) -> Key {
    index_key_writer(table, index).finish_key()
}

/// The prefix of every key of `table`, all its indexes.
pub fn table_prefix(table: DescriptorId) -> Key {
    KeyWriter::starting_with(Key(SQL_PREFIX.to_vec())).u64(table.0).finish_key()
}

/// Appends one indexed value in the order `direction` asks for.
pub fn write_key_value(writer: &mut KeyWriter, value: &Value, direction: Direction) -> SqlResult<()> {
    let ascending = direction == Direction::Ascending;
    match value {
        Value::Null if ascending => writer.null_last(),
        Value::Null => writer.null(),
        Value::Bool(value) if ascending => writer.bool(*value),
        Value::Bool(value) => writer.u64_descending(u64::from(*value)),
        Value::Int2(value) => integer(writer, i64::from(*value), ascending),
        Value::Int4(value) => integer(writer, i64::from(*value), ascending),
        Value::Int8(value) => integer(writer, *value, ascending),
        Value::Float4(value) => float(writer, f64::from(*value), ascending),
        Value::Float8(value) => float(writer, *value, ascending),
        Value::Numeric(value) if ascending => writer.numeric(value),
        Value::Numeric(value) => writer.numeric_descending(value),
        Value::Text(value) if ascending => writer.string(value),
        Value::Text(value) => writer.string_descending(value),
    };
    Ok(())
}

fn integer(writer: &mut KeyWriter, value: i64, ascending: bool) -> &mut KeyWriter {
    if ascending {
        writer.i64(value)
    } else {
        writer.i64_descending(value)
    }
}

fn float(writer: &mut KeyWriter, value: f64, ascending: bool) -> &mut KeyWriter {
    if ascending {
        writer.f64(value)
    } else {
        writer.f64_descending(value)
    }
}

/// Reads one indexed value of `data_type` written by [`write_key_value`].
pub fn read_key_value(reader: &mut KeyReader, data_type: DataType, direction: Direction) -> SqlResult<Value> {
    let ascending = direction == Direction::Ascending;
    let is_null = if ascending { reader.take_null_last() } else { reader.take_null() };
    if is_null {
        return Ok(Value::Null);
    }
    let corrupted = |error| SqlError::corrupted(format!("a key value of type {data_type}: {error}"));
    let out_of_range = || SqlError::corrupted(format!("a key value out of range for {data_type}"));
    let integer = |reader: &mut KeyReader| if ascending { reader.i64() } else { reader.i64_descending() };
    let float = |reader: &mut KeyReader| if ascending { reader.f64() } else { reader.f64_descending() };
    Ok(match data_type {
        DataType::Bool if ascending => Value::Bool(reader.bool().map_err(corrupted)?),
        DataType::Bool => match reader.u64_descending().map_err(corrupted)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return Err(out_of_range()),
        },
        DataType::Int2 => Value::Int2(i16::try_from(integer(reader).map_err(corrupted)?).map_err(|_| out_of_range())?),
        DataType::Int4 => Value::Int4(i32::try_from(integer(reader).map_err(corrupted)?).map_err(|_| out_of_range())?),
        DataType::Int8 => Value::Int8(integer(reader).map_err(corrupted)?),
        DataType::Float4 => {
            let wide = float(reader).map_err(corrupted)?;
            let narrow = wide as f32;
            // Only values that came from a float4 are canonical (NaN aside, which is one value).
            if f64::from(narrow) != wide && !wide.is_nan() {
                return Err(out_of_range());
            }
            Value::Float4(narrow)
        }
        DataType::Float8 => Value::Float8(float(reader).map_err(corrupted)?),
        DataType::Numeric(_) => {
            Value::Numeric(if ascending { reader.numeric() } else { reader.numeric_descending() }.map_err(corrupted)?)
        }
        DataType::Text | DataType::Varchar(_) => {
            Value::Text(if ascending { reader.string() } else { reader.string_descending() }.map_err(corrupted)?)
        }
        DataType::Unknown => return Err(SqlError::internal("a key column of unknown type")),
    })
}

const VALUE_BOOL_FALSE: u8 = 0x01;
const VALUE_BOOL_TRUE: u8 = 0x02;
const VALUE_INT2: u8 = 0x03;
const VALUE_INT4: u8 = 0x04;
const VALUE_INT8: u8 = 0x05;
const VALUE_FLOAT4: u8 = 0x06;
const VALUE_FLOAT8: u8 = 0x07;
const VALUE_TEXT: u8 = 0x08;
const VALUE_NUMERIC: u8 = 0x09;

/// Encodes a row's stored columns: `columns` in ascending id order; NULLs are left out.
pub fn encode_row_value<'a>(columns: impl IntoIterator<Item = (ColumnId, &'a Value)>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut previous = 0u32;
    for (column, value) in columns {
        if value.is_null() {
            continue;
        }
        assert!(column.0 > previous, "column ids ascend and start at 1");
        write_varint(&mut bytes, u64::from(column.0 - previous));
        previous = column.0;
        encode_value(&mut bytes, value);
    }
    bytes
}

fn encode_value(bytes: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => unreachable!("NULLs are left out"),
        Value::Bool(false) => bytes.push(VALUE_BOOL_FALSE),
        Value::Bool(true) => bytes.push(VALUE_BOOL_TRUE),
        Value::Int2(value) => tagged(bytes, VALUE_INT2, &value.to_be_bytes()),
        Value::Int4(value) => tagged(bytes, VALUE_INT4, &value.to_be_bytes()),
        Value::Int8(value) => tagged(bytes, VALUE_INT8, &value.to_be_bytes()),
        Value::Float4(value) => tagged(bytes, VALUE_FLOAT4, &value.to_bits().to_be_bytes()),
        Value::Float8(value) => tagged(bytes, VALUE_FLOAT8, &value.to_bits().to_be_bytes()),
        Value::Text(value) => {
            bytes.push(VALUE_TEXT);
            write_varint(bytes, value.len() as u64);
            bytes.extend_from_slice(value.as_bytes());
        }
        Value::Numeric(value) => {
            let mut encoded = Vec::new();
            value.encode_value(&mut encoded);
            bytes.push(VALUE_NUMERIC);
            write_varint(bytes, encoded.len() as u64);
            bytes.extend_from_slice(&encoded);
        }
    }
}

fn tagged(bytes: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    bytes.push(tag);
    bytes.extend_from_slice(payload);
}

/// Decodes a row value into its (column id, value) pairs, in id order.
pub fn decode_row_value(bytes: &[u8]) -> SqlResult<Vec<(ColumnId, Value)>> {
    let mut reader = ValueReader { bytes, position: 0 };
    let mut columns = Vec::new();
    let mut previous = 0u64;
    while reader.position < bytes.len() {
        let delta = reader.varint()?;
        let column = previous.checked_add(delta).filter(|id| delta > 0 && *id <= u64::from(u32::MAX));
        let column = column.ok_or_else(|| reader.corrupted("a column id out of order"))?;
        previous = column;
        columns.push((ColumnId(column as u32), reader.value()?));
    }
    Ok(columns)
}

struct ValueReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl ValueReader<'_> {
    fn corrupted(&self, what: &str) -> SqlError {
        SqlError::corrupted(format!("row value byte {}: {what}", self.position))
    }

    fn take(&mut self, count: usize) -> SqlResult<&[u8]> {
        let end = self.position.checked_add(count).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| self.corrupted("truncated"))?;
        let taken = &self.bytes[self.position..end];
        self.position = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> SqlResult<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn varint(&mut self) -> SqlResult<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.array::<1>()?[0];
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.corrupted("a varint above 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(self.corrupted("a varint with a redundant byte"));
                }
                return Ok(value);
            }
        }
        Err(self.corrupted("a varint above 64 bits"))
    }

    fn value(&mut self) -> SqlResult<Value> {
        let tag = self.array::<1>()?[0];
        Ok(match tag {
            VALUE_BOOL_FALSE => Value::Bool(false),
            VALUE_BOOL_TRUE => Value::Bool(true),
            VALUE_INT2 => Value::Int2(i16::from_be_bytes(self.array()?)),
            VALUE_INT4 => Value::Int4(i32::from_be_bytes(self.array()?)),
            VALUE_INT8 => Value::Int8(i64::from_be_bytes(self.array()?)),
            VALUE_FLOAT4 => Value::Float4(f32::from_bits(u32::from_be_bytes(self.array()?))),
            VALUE_FLOAT8 => Value::Float8(f64::from_bits(u64::from_be_bytes(self.array()?))),
            VALUE_TEXT => {
                let length = usize::try_from(self.varint()?).map_err(|_| self.corrupted("a text too long"))?;
                let text = self.take(length)?.to_vec();
                Value::Text(String::from_utf8(text).map_err(|_| self.corrupted("a text that is not UTF-8"))?)
            }
            VALUE_NUMERIC => {
                let length = usize::try_from(self.varint()?).map_err(|_| self.corrupted("a numeric too long"))?;
                let encoded = self.take(length)?;
                Value::Numeric(Numeric::decode_value(encoded).map_err(|error| self.corrupted(&error.message))?)
            }
            _ => return Err(self.corrupted("an unknown value tag")),
        })
    }
}

fn write_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
