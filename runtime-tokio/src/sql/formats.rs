//! Values on the wire, in PostgreSQL's text and binary formats: results as
//! DataRow fields, and Bind parameters read back into values of the types
//! the statement was prepared with.

use bytes::{BufMut, BytesMut};
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};
use shardforge_core::numeric::Numeric;
use shardforge_core::sql::cast;
use shardforge_core::sql::plan::OutputColumn;
use shardforge_core::sql::types::{DataType, Value};
use shardforge_core::sql::{SqlError, SqlResult, SqlState};

pub const TEXT: i16 = 0;
pub const BINARY: i16 = 1;

/// The format of column (or parameter) `index` under `codes`: none means text
/// for all, one applies to all, otherwise one per position.
pub fn format_at(codes: &[i16], index: usize) -> i16 {
    match codes {
        [] => TEXT,
        [only] => *only,
        codes => codes.get(index).copied().unwrap_or(TEXT),
    }
}

/// Appends one DataRow field: its length and bytes, or -1 for NULL.
pub fn put_field(data: &mut BytesMut, value: &Value, format: i16) {
    if value.is_null() {
        data.put_i32(-1);
        return;
    }
    let bytes = if format == BINARY { binary(value) } else { value.to_text().expect("not null").into_bytes() };
    data.put_i32(bytes.len() as i32);
    data.put_slice(&bytes);
}

/// One DataRow of `row`, each field in the format `formats` gives it.
pub fn data_row(row: &[Value], formats: &[i16]) -> DataRow {
    let mut data = BytesMut::new();
    for (index, value) in row.iter().enumerate() {
        put_field(&mut data, value, format_at(formats, index));
    }
    DataRow::new(data, row.len() as i16)
}

/// The RowDescription of `columns`, each in the format `formats` gives it.
pub fn row_description(columns: &[OutputColumn], formats: &[i16]) -> RowDescription {
    let fields = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let data_type = column.data_type;
            let format = format_at(formats, index);
            FieldDescription::new(
                column.name.clone(),
                0,
                0,
                data_type.oid(),
                data_type.wire_size(),
                data_type.type_modifier(),
                format,
            )
        })
        .collect();
    RowDescription::new(fields)
}

fn binary(value: &Value) -> Vec<u8> {
    match value {
        Value::Null => Vec::new(),
        Value::Bool(value) => vec![u8::from(*value)],
        Value::Int2(value) => value.to_be_bytes().to_vec(),
        Value::Int4(value) => value.to_be_bytes().to_vec(),
        Value::Int8(value) => value.to_be_bytes().to_vec(),
        Value::Float4(value) => value.to_bits().to_be_bytes().to_vec(),
        Value::Float8(value) => value.to_bits().to_be_bytes().to_vec(),
        Value::Numeric(value) => value.to_wire_binary(),
        Value::Text(value) => value.as_bytes().to_vec(),
    }
}

fn bad_binary(index: usize) -> SqlError {
    SqlError::new(SqlState("22P03"), format!("incorrect binary data format in bind parameter {}", index + 1))
}

/// Parameter `index` of a Bind, of `data_type`, from `bytes` in `format`.
pub fn parameter(bytes: Option<&[u8]>, data_type: DataType, format: i16, index: usize) -> SqlResult<Value> {
    let Some(bytes) = bytes else { return Ok(Value::Null) };
    if format == TEXT {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| SqlError::new(SqlState("22021"), "invalid byte sequence for encoding \"UTF8\""))?;
        return cast::parse_text(text, data_type);
    }
    if format != BINARY {
        return Err(SqlError::new(SqlState("08P01"), format!("unsupported format code: {format}")));
    }
    let fixed = |length: usize| -> SqlResult<&[u8]> {
        if bytes.len() == length {
            Ok(bytes)
        } else {
            Err(bad_binary(index))
        }
    };
    Ok(match data_type {
        DataType::Bool => match fixed(1)? {
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            _ => return Err(bad_binary(index)),
        },
        DataType::Int2 => Value::Int2(i16::from_be_bytes(fixed(2)?.try_into().expect("2 bytes"))),
        DataType::Int4 => Value::Int4(i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes"))),
        DataType::Int8 => Value::Int8(i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes"))),
        DataType::Float4 => Value::Float4(f32::from_bits(u32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")))),
        DataType::Float8 => Value::Float8(f64::from_bits(u64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")))),
        DataType::Numeric(typmod) => {
            let numeric = Numeric::from_wire_binary(bytes).map_err(|_| bad_binary(index))?;
            cast::cast(Value::Numeric(numeric), DataType::Numeric(typmod))?
        }
        DataType::Text | DataType::Varchar(_) | DataType::Unknown => {
            Value::Text(String::from_utf8(bytes.to_vec()).map_err(|_| bad_binary(index))?)
        }
    })
}

/// The type a client names by OID in Parse; None for 0 (unspecified).
pub fn declared_type(oid: u32) -> SqlResult<Option<DataType>> {
    Ok(Some(match oid {
        0 | 705 => return Ok(None),
        16 => DataType::Bool,
        21 => DataType::Int2,
        23 => DataType::Int4,
        20 => DataType::Int8,
        700 => DataType::Float4,
        701 => DataType::Float8,
        1700 => DataType::Numeric(None),
        25 => DataType::Text,
        1043 => DataType::Varchar(None),
        other => return Err(SqlError::unsupported(format!("parameters of type OID {other}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_fields_and_parameters_round_trip() {
        let values = [
            (Value::Bool(true), DataType::Bool),
            (Value::Int2(-2), DataType::Int2),
            (Value::Int4(1 << 20), DataType::Int4),
            (Value::Int8(-1 << 40), DataType::Int8),
            (Value::Float8(0.1), DataType::Float8),
            (Value::Float4(1.5), DataType::Float4),
            (Value::Numeric("-12.340".parse().unwrap()), DataType::Numeric(None)),
            (Value::Text("héllo".into()), DataType::Text),
        ];
        for (value, data_type) in values {
            for format in [TEXT, BINARY] {
                let mut data = BytesMut::new();
                put_field(&mut data, &value, format);
                let length = i32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
                let back = parameter(Some(&data[4..4 + length]), data_type, format, 0).unwrap();
                assert_eq!(back.to_text(), value.to_text(), "{value:?} in format {format}");
            }
        }
    }

    #[test]
    fn malformed_parameters_are_errors() {
        assert_eq!(parameter(Some(&[1, 2, 3]), DataType::Int4, BINARY, 0).unwrap_err().state.0, "22P03");
        assert_eq!(parameter(Some(b"x"), DataType::Int4, TEXT, 1).unwrap_err().state.0, "22P02");
        assert_eq!(parameter(Some(&[0xff]), DataType::Text, TEXT, 0).unwrap_err().state.0, "22021");
        assert_eq!(parameter(None, DataType::Int4, BINARY, 0).unwrap(), Value::Null);
        assert_eq!(format_at(&[BINARY], 3), BINARY);
        assert_eq!(format_at(&[TEXT, BINARY], 1), BINARY);
    }
}
