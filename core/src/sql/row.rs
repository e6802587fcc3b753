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

use super::character;
use super::datetime::{calendar, Interval, TimestampTz};
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
        // Without its trailing blanks, which comparison ignores; the reader pads it again.
        Value::Char(value) if ascending => writer.string(character::trimmed(value)),
        Value::Char(value) => writer.string_descending(character::trimmed(value)),
        Value::Bytea(bytes) if ascending => writer.bytes(bytes),
        Value::Bytea(bytes) => writer.bytes_descending(bytes),
        Value::Uuid(bytes) if ascending => writer.bytes(bytes),
        Value::Uuid(bytes) => writer.bytes_descending(bytes),
        Value::Date(days) => integer(writer, i64::from(*days), ascending),
        Value::Timestamp(micros) | Value::TimestampTz(TimestampTz { micros, .. }) => {
            integer(writer, *micros, ascending)
        }
        Value::Interval(span) => interval_key(writer, *span, ascending),
        Value::Jsonb(_) => return Err(SqlError::unsupported("jsonb key columns")),
    };
    Ok(())
}

/// An interval's key: its span (a month as 30 days), which orders it as
/// PostgreSQL compares it, then its months and days, from which the reader
/// recovers the fields. `1 mon` and `30 days` are equal values with
/// neighbouring, distinct keys, so a primary key holds both, where
/// PostgreSQL's unique index would refuse the second.
fn interval_key(writer: &mut KeyWriter, span: Interval, ascending: bool) -> &mut KeyWriter {
    let total = span.span_micros();
    let (high, low) = ((total >> 64) as i64, total as u64);
    if ascending {
        writer.i64(high).u64(low).i64(i64::from(span.months)).i64(i64::from(span.days))
    } else {
        writer
            .i64_descending(high)
            .u64_descending(low)
            .i64_descending(i64::from(span.months))
            .i64_descending(i64::from(span.days))
    }
}

fn read_interval_key(reader: &mut KeyReader, ascending: bool) -> Result<Option<Interval>, crate::keys::KeyDecodeError> {
    let (high, low, months, days) = if ascending {
        (reader.i64()?, reader.u64()?, reader.i64()?, reader.i64()?)
    } else {
        (reader.i64_descending()?, reader.u64_descending()?, reader.i64_descending()?, reader.i64_descending()?)
    };
    let total = (i128::from(high) << 64) | i128::from(low);
    let (Ok(months), Ok(days)) = (i32::try_from(months), i32::try_from(days)) else { return Ok(None) };
    let days_micros = (i128::from(months) * i128::from(calendar::DAYS_PER_MONTH) + i128::from(days))
        * i128::from(calendar::MICROS_PER_DAY);
    Ok(i64::try_from(total - days_micros).ok().map(|micros| Interval { months, days, micros }))
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
        DataType::Char(length) => {
            let text = if ascending { reader.string() } else { reader.string_descending() }.map_err(corrupted)?;
            Value::Char(character::padded(&text, length))
        }
        DataType::Bytea => {
            Value::Bytea(if ascending { reader.bytes() } else { reader.bytes_descending() }.map_err(corrupted)?)
        }
        DataType::Uuid => {
            let bytes = if ascending { reader.bytes() } else { reader.bytes_descending() }.map_err(corrupted)?;
            Value::Uuid(bytes.try_into().map_err(|_| out_of_range())?)
        }
        DataType::Date => Value::Date(i32::try_from(integer(reader).map_err(corrupted)?).map_err(|_| out_of_range())?),
        DataType::Timestamp => Value::Timestamp(integer(reader).map_err(corrupted)?),
        DataType::TimestampTz => Value::TimestampTz(TimestampTz::utc(integer(reader).map_err(corrupted)?)),
        DataType::Interval => {
            Value::Interval(read_interval_key(reader, ascending).map_err(corrupted)?.ok_or_else(out_of_range)?)
        }
        DataType::Jsonb => return Err(SqlError::internal("a jsonb key column")),
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
const VALUE_CHAR: u8 = 0x0a;
const VALUE_BYTEA: u8 = 0x0b;
const VALUE_UUID: u8 = 0x0c;
const VALUE_DATE: u8 = 0x0d;
const VALUE_TIMESTAMP: u8 = 0x0e;
const VALUE_TIMESTAMPTZ: u8 = 0x0f;
const VALUE_INTERVAL: u8 = 0x10;
/// jsonb as its normalised text, read back through the parser.
const VALUE_JSONB: u8 = 0x11;

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
            length_prefixed(bytes, VALUE_NUMERIC, &encoded);
        }
        Value::Char(value) => length_prefixed(bytes, VALUE_CHAR, value.as_bytes()),
        Value::Bytea(value) => length_prefixed(bytes, VALUE_BYTEA, value),
        Value::Uuid(value) => tagged(bytes, VALUE_UUID, value),
        Value::Date(days) => tagged(bytes, VALUE_DATE, &days.to_be_bytes()),
        Value::Timestamp(micros) => tagged(bytes, VALUE_TIMESTAMP, &micros.to_be_bytes()),
        Value::TimestampTz(instant) => tagged(bytes, VALUE_TIMESTAMPTZ, &instant.micros.to_be_bytes()),
        Value::Interval(span) => {
            bytes.push(VALUE_INTERVAL);
            bytes.extend_from_slice(&span.months.to_be_bytes());
            bytes.extend_from_slice(&span.days.to_be_bytes());
            bytes.extend_from_slice(&span.micros.to_be_bytes());
        }
        Value::Jsonb(json) => length_prefixed(bytes, VALUE_JSONB, json.to_string().as_bytes()),
    }
}

fn length_prefixed(bytes: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    bytes.push(tag);
    write_varint(bytes, payload.len() as u64);
    bytes.extend_from_slice(payload);
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

    fn length_prefixed(&mut self) -> SqlResult<&[u8]> {
        let length = usize::try_from(self.varint()?).map_err(|_| self.corrupted("a value too long"))?;
        self.take(length)
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
                let encoded = self.length_prefixed()?;
                Value::Numeric(Numeric::decode_value(encoded).map_err(|error| self.corrupted(&error.message))?)
            }
            VALUE_CHAR => {
                let text = self.length_prefixed()?.to_vec();
                Value::Char(String::from_utf8(text).map_err(|_| self.corrupted("a text that is not UTF-8"))?)
            }
            VALUE_BYTEA => Value::Bytea(self.length_prefixed()?.to_vec()),
            VALUE_UUID => Value::Uuid(self.array()?),
            VALUE_DATE => Value::Date(i32::from_be_bytes(self.array()?)),
            VALUE_TIMESTAMP => Value::Timestamp(i64::from_be_bytes(self.array()?)),
            VALUE_TIMESTAMPTZ => Value::TimestampTz(TimestampTz::utc(i64::from_be_bytes(self.array()?))),
            VALUE_INTERVAL => Value::Interval(Interval {
                months: i32::from_be_bytes(self.array()?),
                days: i32::from_be_bytes(self.array()?),
                micros: i64::from_be_bytes(self.array()?),
            }),
            VALUE_JSONB => {
                let parsed = std::str::from_utf8(self.length_prefixed()?).map(super::jsonb::parse);
                let json = match parsed {
                    Ok(Ok(json)) => json,
                    _ => return Err(self.corrupted("jsonb that does not parse")),
                };
                Value::Jsonb(Box::new(json))
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
