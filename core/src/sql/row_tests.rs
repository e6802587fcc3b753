use std::cmp::Ordering;

use proptest::prelude::*;

use super::*;
use crate::sql::datetime::{Interval, TimestampTz};

fn value_of(data_type: DataType) -> BoxedStrategy<Value> {
    let value = match data_type {
        DataType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        DataType::Int2 => any::<i16>().prop_map(Value::Int2).boxed(),
        DataType::Int4 => any::<i32>().prop_map(Value::Int4).boxed(),
        DataType::Int8 => any::<i64>().prop_map(Value::Int8).boxed(),
        DataType::Float4 => any::<f32>().prop_map(Value::Float4).boxed(),
        DataType::Float8 => any::<f64>().prop_map(Value::Float8).boxed(),
        DataType::Numeric(_) => (any::<i64>(), 0u32..6)
            .prop_map(|(units, scale)| {
                let text = format!("{units}e-{scale}");
                Value::Numeric(text.parse::<crate::numeric::Numeric>().expect("a valid numeric"))
            })
            .boxed(),
        DataType::Char(length) => {
            "[ab ]{0,5}".prop_map(move |text| Value::Char(crate::sql::character::padded(&text, length))).boxed()
        }
        DataType::Bytea => proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::Bytea).boxed(),
        DataType::Uuid => any::<[u8; 16]>().prop_map(Value::Uuid).boxed(),
        DataType::Date => prop_oneof![
            any::<i32>().prop_map(Value::Date),
            Just(Value::Date(i32::MIN)),
            Just(Value::Date(i32::MAX)),
            (-10i32..10).prop_map(Value::Date),
        ]
        .boxed(),
        DataType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
        DataType::TimestampTz => any::<i64>().prop_map(|micros| Value::TimestampTz(TimestampTz::utc(micros))).boxed(),
        DataType::Interval => (any::<i32>(), any::<i32>(), any::<i64>(), 0..3)
            .prop_map(|(months, days, micros, scale)| {
                // Small fields too, so that spans tie and cross signs.
                let (months, days, micros) = match scale {
                    0 => (months, days, micros),
                    1 => (months % 3, days % 90, micros % (3 * 86_400_000_000)),
                    _ => (months % 2, (days % 2) * 30, 0),
                };
                Value::Interval(Interval { months, days, micros })
            })
            .boxed(),
        DataType::Jsonb => proptest::collection::vec((".{0,3}", any::<i32>()), 0..3)
            .prop_map(|pairs| {
                let members: Vec<String> = pairs.iter().map(|(key, value)| format!("{:?}: {value}", key)).collect();
                let text = format!("{{{}}}", members.join(", "));
                Value::Jsonb(Box::new(crate::sql::jsonb::parse(&text).unwrap_or(crate::sql::jsonb::Jsonb::Null)))
            })
            .boxed(),
        _ => ".{0,6}".prop_map(Value::Text).boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 6 => value].boxed()
}

fn typed_pair() -> impl Strategy<Value = (DataType, Value, Value)> {
    let types = [
        DataType::Bool,
        DataType::Int2,
        DataType::Int4,
        DataType::Int8,
        DataType::Float4,
        DataType::Float8,
        DataType::Numeric(None),
        DataType::Text,
        DataType::Char(Some(5)),
        DataType::Bytea,
        DataType::Uuid,
        DataType::Date,
        DataType::Timestamp,
        DataType::TimestampTz,
    ];
    proptest::sample::select(types.to_vec())
        .prop_flat_map(|data_type| (Just(data_type), value_of(data_type), value_of(data_type)))
}

fn key_of(value: &Value, direction: Direction) -> Vec<u8> {
    let mut writer = index_key_writer(DescriptorId(7), IndexId::PRIMARY);
    write_key_value(&mut writer, value, direction).unwrap();
    writer.finish()
}

/// Two values equal as SQL values when they sort equal (so -0 = 0 and NaN = NaN).
fn same(left: &Value, right: &Value) -> bool {
    left.sort_order(right) == Ordering::Equal
}

proptest! {
    #[test]
    fn key_order_is_sql_order_with_nulls_last_ascending_and_first_descending((data_type, left, right) in typed_pair()) {
        let ascending = key_of(&left, Direction::Ascending).cmp(&key_of(&right, Direction::Ascending));
        prop_assert_eq!(ascending, left.sort_order(&right));
        let descending = key_of(&left, Direction::Descending).cmp(&key_of(&right, Direction::Descending));
        prop_assert_eq!(descending, left.sort_order(&right).reverse());
        for direction in [Direction::Ascending, Direction::Descending] {
            let key = key_of(&left, direction);
            let mut reader = KeyReader::new(&key[index_prefix(DescriptorId(7), IndexId::PRIMARY).0.len()..]);
            let read = read_key_value(&mut reader, data_type, direction).unwrap();
            prop_assert!(same(&read, &left), "{:?} read back as {:?}", left, read);
            prop_assert!(reader.finish().is_ok());
        }
    }

    /// Intervals that compare equal (`1 mon`, `30 days`) have distinct
    /// neighbouring keys, so that the reader recovers their fields; every
    /// other pair's keys order as the values do.
    #[test]
    fn interval_keys_order_as_intervals_compare_and_read_back_exactly(left in value_of(DataType::Interval), right in value_of(DataType::Interval)) {
        for direction in [Direction::Ascending, Direction::Descending] {
            let order = key_of(&left, direction).cmp(&key_of(&right, direction));
            let expected = if direction == Direction::Ascending { left.sort_order(&right) } else { left.sort_order(&right).reverse() };
            if expected != Ordering::Equal {
                prop_assert_eq!(order, expected);
            }
            let key = key_of(&left, direction);
            let mut reader = KeyReader::new(&key[index_prefix(DescriptorId(7), IndexId::PRIMARY).0.len()..]);
            let read = read_key_value(&mut reader, DataType::Interval, direction).unwrap();
            match (&read, &left) {
                (Value::Interval(read), Value::Interval(left)) => {
                    prop_assert_eq!((read.months, read.days, read.micros), (left.months, left.days, left.micros));
                }
                _ => prop_assert!(read.is_null() && left.is_null()),
            }
        }
    }

    #[test]
    fn new_type_row_values_round_trip(values in proptest::collection::vec(
        proptest::sample::select(vec![DataType::Char(Some(5)), DataType::Bytea, DataType::Uuid, DataType::Date, DataType::Timestamp, DataType::TimestampTz, DataType::Interval, DataType::Jsonb])
            .prop_flat_map(value_of), 0..8)) {
        let columns: Vec<(ColumnId, Value)> = values.iter().enumerate().map(|(index, value)| (ColumnId(index as u32 + 1), value.clone())).collect();
        let bytes = encode_row_value(columns.iter().map(|(id, value)| (*id, value)));
        let decoded = decode_row_value(&bytes).unwrap();
        let expected: Vec<_> = columns.iter().filter(|(_, value)| !value.is_null()).cloned().collect();
        prop_assert_eq!(decoded.len(), expected.len());
        for ((_, value), (_, expected_value)) in decoded.iter().zip(&expected) {
            prop_assert_eq!(value.to_text(), expected_value.to_text());
        }
    }

    #[test]
    fn row_values_round_trip_without_their_nulls(values in proptest::collection::vec(value_of(DataType::Int8).prop_union(value_of(DataType::Text)).or(value_of(DataType::Float8)).or(value_of(DataType::Numeric(None))), 0..8), gaps in proptest::collection::vec(1u32..300, 8)) {
        let mut id = 0;
        let columns: Vec<(ColumnId, Value)> = values.iter().zip(&gaps).map(|(value, gap)| { id += gap; (ColumnId(id), value.clone()) }).collect();
        let bytes = encode_row_value(columns.iter().map(|(id, value)| (*id, value)));
        let decoded = decode_row_value(&bytes).unwrap();
        let expected: Vec<_> = columns.iter().filter(|(_, value)| !value.is_null()).cloned().collect();
        prop_assert_eq!(decoded.len(), expected.len());
        for ((id, value), (expected_id, expected_value)) in decoded.iter().zip(&expected) {
            prop_assert_eq!(id, expected_id);
            prop_assert!(same(value, expected_value) && value.data_type() == expected_value.data_type());
        }
    }

    #[test]
    fn garbage_row_values_are_errors_not_panics(bytes: Vec<u8>) {
        let _ = decode_row_value(&bytes);
    }

    #[test]
    fn garbage_keys_are_errors_not_panics(bytes: Vec<u8>, which in 0usize..14, descending: bool) {
        let types = [DataType::Bool, DataType::Int2, DataType::Int4, DataType::Int8, DataType::Float4, DataType::Float8, DataType::Text,
            DataType::Char(Some(3)), DataType::Bytea, DataType::Uuid, DataType::Date, DataType::Timestamp, DataType::TimestampTz, DataType::Interval];
        let direction = if descending { Direction::Descending } else { Direction::Ascending };
        let _ = read_key_value(&mut KeyReader::new(&bytes), types[which], direction);
    }
}

#[test]
fn a_table_is_one_span_below_the_next_table_and_inside_the_system_prefix() {
    let row = {
        let mut writer = index_key_writer(DescriptorId(5), IndexId(2));
        write_key_value(&mut writer, &Value::Int8(i64::MAX), Direction::Ascending).unwrap();
        writer.finish_key()
    };
    assert!(row.0.starts_with(&table_prefix(DescriptorId(5)).0));
    assert!(row < table_prefix(DescriptorId(6)));
    assert!(row.0.starts_with(&index_prefix(DescriptorId(5), IndexId(2)).0));
    assert_eq!(row.0[0], crate::kv::SYSTEM_PREFIX, "the kv API refuses SQL keys");
}

#[test]
fn a_narrower_integer_out_of_its_range_is_corruption() {
    let key = {
        let mut writer = KeyWriter::new();
        write_key_value(&mut writer, &Value::Int8(1 << 40), Direction::Ascending).unwrap();
        writer.finish()
    };
    let error = read_key_value(&mut KeyReader::new(&key), DataType::Int4, Direction::Ascending).unwrap_err();
    assert_eq!(error.state, super::super::error::SqlState::DATA_CORRUPTED);
}

#[test]
fn null_columns_take_no_bytes_and_ids_are_deltas() {
    let columns = [(ColumnId(1), Value::Int4(7)), (ColumnId(2), Value::Null), (ColumnId(200), Value::Bool(true))];
    let bytes = encode_row_value(columns.iter().map(|(id, value)| (*id, value)));
    assert_eq!(bytes, [1, VALUE_INT4, 0, 0, 0, 7, 0xc7, 0x01, VALUE_BOOL_TRUE]);
}

#[test]
fn redundant_varints_and_unordered_ids_are_refused() {
    assert!(decode_row_value(&[0x81, 0x00, VALUE_BOOL_TRUE]).is_err(), "a padded varint");
    assert!(decode_row_value(&[0x00, VALUE_BOOL_TRUE]).is_err(), "a zero id delta");
}
