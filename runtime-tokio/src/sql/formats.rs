//! Values on the wire, in PostgreSQL's text and binary formats: results as
//! DataRow fields, and Bind parameters read back into values of the types
//! the statement was prepared with.
//!
//! The binary formats are PostgreSQL's: a date is an int4 of days since
//! 2000-01-01, a timestamp or timestamptz an int8 of microseconds since
//! 2000-01-01 00:00 (UTC for timestamptz), an interval an int8 of
//! microseconds, an int4 of days and an int4 of months; a uuid its 16 bytes,
//! a bytea its bytes, a jsonb a version byte (1) and its text, a character(n)
//! its text. A timestamptz parameter in text without a zone is read in the
//! session's `TimeZone`.

use bytes::{BufMut, BytesMut};
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};
use shardforge_core::numeric::Numeric;
use shardforge_core::sql::cast;
use shardforge_core::sql::datetime::{self, Interval, TimeZone, TimestampTz};
use shardforge_core::sql::jsonb;
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
        Value::Text(value) | Value::Char(value) => value.as_bytes().to_vec(),
        Value::Bytea(bytes) => bytes.clone(),
        Value::Uuid(bytes) => bytes.to_vec(),
        Value::Date(days) => days.to_be_bytes().to_vec(),
        Value::Timestamp(micros) | Value::TimestampTz(TimestampTz { micros, .. }) => micros.to_be_bytes().to_vec(),
        Value::Interval(span) => {
            let mut bytes = span.micros.to_be_bytes().to_vec();
            bytes.extend_from_slice(&span.days.to_be_bytes());
            bytes.extend_from_slice(&span.months.to_be_bytes());
            bytes
        }
        Value::Jsonb(json) => {
            let mut bytes = vec![JSONB_VERSION];
            bytes.extend_from_slice(json.to_string().as_bytes());
            bytes
        }
    }
}

/// The version byte before jsonb's text in its binary format.
const JSONB_VERSION: u8 = 1;

/// A binary timestamp in range (the infinities included), as `timestamp_recv` checks it.
fn received_timestamp(micros: i64) -> SqlResult<i64> {
    if micros == i64::MIN || micros == i64::MAX {
        return Ok(micros);
    }
    datetime::checked_timestamp(micros)
}

fn bad_binary(index: usize) -> SqlError {
    SqlError::new(SqlState("22P03"), format!("incorrect binary data format in bind parameter {}", index + 1))
}

/// Parameter `index` of a Bind, of `data_type`, from `bytes` in `format`;
/// `time_zone` is the session's, for timestamptz text without a zone.
pub fn parameter(
    bytes: Option<&[u8]>,
    data_type: DataType,
    format: i16,
    index: usize,
    time_zone: TimeZone,
) -> SqlResult<Value> {
    let Some(bytes) = bytes else { return Ok(Value::Null) };
    let utf8 = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| SqlError::new(SqlState("22021"), "invalid byte sequence for encoding \"UTF8\""))
    };
    if format == TEXT {
        return cast::parse_text_in(&utf8(bytes)?, data_type, Some(time_zone));
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
        DataType::Char(_) => cast::parse_text(&utf8(bytes)?, data_type)?,
        DataType::Bytea => Value::Bytea(bytes.to_vec()),
        DataType::Uuid => Value::Uuid(fixed(16)?.try_into().expect("16 bytes")),
        DataType::Date => {
            let days = i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes"));
            // As `date_recv` checks it: the infinities, or a date in range.
            Value::Date(if days == i32::MIN || days == i32::MAX {
                days
            } else {
                datetime::checked_date(i64::from(days))?
            })
        }
        DataType::Timestamp => {
            Value::Timestamp(received_timestamp(i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")))?)
        }
        DataType::TimestampTz => {
            let micros = received_timestamp(i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")))?;
            Value::TimestampTz(TimestampTz { micros, shown_in: time_zone })
        }
        DataType::Interval => {
            let bytes = fixed(16)?;
            Value::Interval(Interval {
                micros: i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
                days: i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
                months: i32::from_be_bytes(bytes[12..].try_into().expect("4 bytes")),
            })
        }
        DataType::Jsonb => match bytes.split_first() {
            Some((&JSONB_VERSION, text)) => Value::Jsonb(Box::new(jsonb::parse(&utf8(text)?)?)),
            Some((version, _)) => {
                return Err(SqlError::new(SqlState("22P03"), format!("unsupported jsonb version number {version}")))
            }
            None => return Err(bad_binary(index)),
        },
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
        1042 => DataType::Char(None),
        17 => DataType::Bytea,
        2950 => DataType::Uuid,
        1082 => DataType::Date,
        1114 => DataType::Timestamp,
        1184 => DataType::TimestampTz,
        1186 => DataType::Interval,
        3802 => DataType::Jsonb,
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
            (Value::Char("ab  ".into()), DataType::Char(Some(4))),
            (Value::Bytea(vec![0, 0x5c, 0xff]), DataType::Bytea),
            (Value::Uuid(*b"0123456789abcdef"), DataType::Uuid),
            (Value::Date(-10_957), DataType::Date),
            (Value::Date(i32::MAX), DataType::Date),
            (Value::Timestamp(1_234_567_890_123), DataType::Timestamp),
            (Value::TimestampTz(TimestampTz::utc(-1)), DataType::TimestampTz),
            (Value::Interval(Interval { months: 14, days: -3, micros: 14_706_000_001 }), DataType::Interval),
            (Value::Jsonb(Box::new(jsonb::parse(r#"{"b": [1.50, null], "a": "é"}"#).unwrap())), DataType::Jsonb),
        ];
        for (value, data_type) in values {
            for format in [TEXT, BINARY] {
                let mut data = BytesMut::new();
                put_field(&mut data, &value, format);
                let length = i32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
                let back = parameter(Some(&data[4..4 + length]), data_type, format, 0, TimeZone::UTC).unwrap();
                assert_eq!(back.to_text(), value.to_text(), "{value:?} in format {format}");
            }
        }
    }

    #[test]
    fn binary_formats_are_postgresqls() {
        let field = |value: Value| {
            let mut data = BytesMut::new();
            put_field(&mut data, &value, BINARY);
            data[4..].to_vec()
        };
        // 2024-01-02 is day 8767 since 2000-01-01; `1 year 2 mons 3 days 04:05:06` is
        // 14706000000 µs, 3 days, 14 months.
        assert_eq!(field(Value::Date(8767)), 8767i32.to_be_bytes());
        let span = Value::Interval(Interval { months: 14, days: 3, micros: 14_706_000_000 });
        assert_eq!(
            field(span),
            [&14_706_000_000i64.to_be_bytes()[..], &3i32.to_be_bytes(), &14i32.to_be_bytes()].concat()
        );
        assert_eq!(field(Value::Jsonb(Box::new(jsonb::parse("[1]").unwrap()))), b"\x01[1]");
        let zoned = TimeZone { utc_offset_seconds: 7200 };
        let instant = parameter(Some(b"2000-01-01 02:00"), DataType::TimestampTz, TEXT, 0, zoned).unwrap();
        assert_eq!(field(instant), 0i64.to_be_bytes(), "local time of the session's zone");
        assert_eq!(
            parameter(Some(&[2, b'1']), DataType::Jsonb, BINARY, 0, TimeZone::UTC).unwrap_err().state.0,
            "22P03"
        );
        assert_eq!(
            parameter(Some(&(i64::MAX - 1).to_be_bytes()), DataType::Timestamp, BINARY, 0, TimeZone::UTC)
                .unwrap_err()
                .state,
            SqlState::DATETIME_FIELD_OVERFLOW
        );
        assert_eq!(declared_type(1184).unwrap(), Some(DataType::TimestampTz));
    }

    #[test]
    fn malformed_parameters_are_errors() {
        let utc = TimeZone::UTC;
        assert_eq!(parameter(Some(&[1, 2, 3]), DataType::Int4, BINARY, 0, utc).unwrap_err().state.0, "22P03");
        assert_eq!(parameter(Some(b"x"), DataType::Int4, TEXT, 1, utc).unwrap_err().state.0, "22P02");
        assert_eq!(parameter(Some(&[0xff]), DataType::Text, TEXT, 0, utc).unwrap_err().state.0, "22021");
        assert_eq!(parameter(None, DataType::Int4, BINARY, 0, utc).unwrap(), Value::Null);
        assert_eq!(parameter(Some(&[1, 2]), DataType::Date, BINARY, 0, utc).unwrap_err().state.0, "22P03");
        assert_eq!(format_at(&[BINARY], 3), BINARY);
        assert_eq!(format_at(&[TEXT, BINARY], 1), BINARY);
    }
}
