//! Property tests of the key encoding: order, round trips, canonical decoding.

use super::*;
use crate::numeric::Numeric;
use proptest::collection::vec;
use proptest::prelude::*;
use std::cmp::Reverse;

/// One value of a test tuple; the public API needs no such enum. The derived order is
/// the natural order of tuples with the same types (descending fields reversed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Bool(bool),
    U64(u64),
    U64Descending(Reverse<u64>),
    I64(i64),
    Bytes(Vec<u8>),
    String(String),
    OptionalU64(Option<u64>),
    I64Descending(Reverse<i64>),
    BytesDescending(Reverse<Vec<u8>>),
    StringDescending(Reverse<String>),
    F64(PgFloat),
    F64Descending(Reverse<PgFloat>),
    /// Nulls last: `(true, 0)` is null, and sorts after every `(false, value)`.
    U64NullLast((bool, u64)),
    Numeric(Numeric),
    NumericDescending(Reverse<Numeric>),
}

const FIELD_KINDS: usize = 15;

/// A float compared as PostgreSQL compares them: -0 equals 0, NaN equals NaN and
/// is greater than every other value.
#[derive(Clone, Copy, Debug)]
struct PgFloat(f64);

impl Ord for PgFloat {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0.is_nan(), other.0.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => self.0.partial_cmp(&other.0).expect("no NaN"),
        }
    }
}

impl PartialOrd for PgFloat {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PgFloat {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for PgFloat {}

fn float() -> impl Strategy<Value = PgFloat> {
    let special = prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0001)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(-1.5),
        Just(1.5),
    ];
    prop_oneof![special, any::<f64>()].prop_map(PgFloat)
}

/// Numerics from a small set of digits and exponents, so that equal values with
/// different scales (1.5, 1.50) and shared digit prefixes come up, plus the specials.
fn numeric() -> impl Strategy<Value = Numeric> {
    let finite = (any::<bool>(), vec(prop_oneof![Just(0u8), Just(9), 0..10u8], 1..8), -6..6i32, 0..3usize).prop_map(
        |(negative, digits, exponent, extra_zeros)| {
            let digits: String = digits.iter().map(|digit| char::from(b'0' + digit)).collect();
            let sign = if negative { "-" } else { "" };
            format!("{sign}{digits}.{}e{exponent}", "0".repeat(extra_zeros)).parse().expect("well formed")
        },
    );
    let special = prop_oneof![Just(Numeric::NaN), Just(Numeric::Infinity), Just(Numeric::NegativeInfinity)];
    prop_oneof![6 => finite, 1 => special, 1 => Just(Numeric::zero(1))]
}

/// Values of one kind, drawn from small sets often enough that tuples share prefixes.
fn field_of_kind(kind: usize) -> BoxedStrategy<Field> {
    let number = || prop_oneof![0..3u64, Just(u64::MAX), any::<u64>()];
    let byte = || prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()];
    let character = || prop_oneof![Just('\0'), Just('a'), Just('b'), any::<char>()];
    match kind {
        0 => any::<bool>().prop_map(Field::Bool).boxed(),
        1 => number().prop_map(Field::U64).boxed(),
        2 => number().prop_map(|value| Field::U64Descending(Reverse(value))).boxed(),
        3 => prop_oneof![-2..2i64, Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(Field::I64).boxed(),
        4 => vec(byte(), 0..4).prop_map(Field::Bytes).boxed(),
        5 => vec(character(), 0..4).prop_map(|characters| Field::String(characters.into_iter().collect())).boxed(),
        6 => proptest::option::of(number()).prop_map(Field::OptionalU64).boxed(),
        7 => prop_oneof![-2..2i64, Just(i64::MIN), Just(i64::MAX), any::<i64>()]
            .prop_map(|value| Field::I64Descending(Reverse(value)))
            .boxed(),
        8 => vec(byte(), 0..4).prop_map(|value| Field::BytesDescending(Reverse(value))).boxed(),
        9 => vec(character(), 0..4)
            .prop_map(|characters| Field::StringDescending(Reverse(characters.into_iter().collect())))
            .boxed(),
        10 => float().prop_map(Field::F64).boxed(),
        11 => float().prop_map(|value| Field::F64Descending(Reverse(value))).boxed(),
        12 => numeric().prop_map(Field::Numeric).boxed(),
        13 => numeric().prop_map(|value| Field::NumericDescending(Reverse(value))).boxed(),
        _ => proptest::option::of(number())
            .prop_map(|value| Field::U64NullLast(value.map_or((true, 0), |value| (false, value))))
            .boxed(),
    }
}

fn tuple(length: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Field>> {
    vec((0..FIELD_KINDS).prop_flat_map(field_of_kind), length)
}

/// Two tuples with the same sequence of types.
fn tuple_pair() -> impl Strategy<Value = (Vec<Field>, Vec<Field>)> {
    vec(0..FIELD_KINDS, 0..5).prop_flat_map(|kinds| {
        let fields: Vec<_> = kinds.into_iter().map(field_of_kind).collect();
        (fields.clone(), fields)
    })
}

fn short_key() -> impl Strategy<Value = Key> {
    vec(prop_oneof![Just(0u8), Just(1), Just(0xfe), Just(0xff)], 0..4).prop_map(Key)
}

fn encode(tuple: &[Field]) -> Key {
    let mut writer = KeyWriter::new();
    for field in tuple {
        match field {
            Field::Bool(value) => writer.bool(*value),
            Field::U64(value) | Field::OptionalU64(Some(value)) => writer.u64(*value),
            Field::U64Descending(Reverse(value)) => writer.u64_descending(*value),
            Field::I64(value) => writer.i64(*value),
            Field::Bytes(value) => writer.bytes(value),
            Field::String(value) => writer.string(value),
            Field::OptionalU64(None) => writer.null(),
            Field::I64Descending(Reverse(value)) => writer.i64_descending(*value),
            Field::BytesDescending(Reverse(value)) => writer.bytes_descending(value),
            Field::StringDescending(Reverse(value)) => writer.string_descending(value),
            Field::F64(PgFloat(value)) => writer.f64(*value),
            Field::F64Descending(Reverse(PgFloat(value))) => writer.f64_descending(*value),
            Field::U64NullLast((true, _)) => writer.null_last(),
            Field::U64NullLast((false, value)) => writer.u64(*value),
            Field::Numeric(value) => writer.numeric(value),
            Field::NumericDescending(Reverse(value)) => writer.numeric_descending(value),
        };
    }
    writer.finish_key()
}

/// Decodes a tuple with the same types as `template`.
fn decode(key: &[u8], template: &[Field]) -> Result<Vec<Field>, KeyDecodeError> {
    let mut reader = KeyReader::new(key);
    let mut tuple = Vec::new();
    for field in template {
        tuple.push(match field {
            Field::Bool(_) => Field::Bool(reader.bool()?),
            Field::U64(_) => Field::U64(reader.u64()?),
            Field::U64Descending(_) => Field::U64Descending(Reverse(reader.u64_descending()?)),
            Field::I64(_) => Field::I64(reader.i64()?),
            Field::Bytes(_) => Field::Bytes(reader.bytes()?),
            Field::String(_) => Field::String(reader.string()?),
            Field::OptionalU64(_) => Field::OptionalU64(if reader.take_null() { None } else { Some(reader.u64()?) }),
            Field::I64Descending(_) => Field::I64Descending(Reverse(reader.i64_descending()?)),
            Field::BytesDescending(_) => Field::BytesDescending(Reverse(reader.bytes_descending()?)),
            Field::StringDescending(_) => Field::StringDescending(Reverse(reader.string_descending()?)),
            Field::F64(_) => Field::F64(PgFloat(reader.f64()?)),
            Field::F64Descending(_) => Field::F64Descending(Reverse(PgFloat(reader.f64_descending()?))),
            Field::U64NullLast(_) => {
                Field::U64NullLast(if reader.take_null_last() { (true, 0) } else { (false, reader.u64()?) })
            }
            Field::Numeric(_) => Field::Numeric(reader.numeric()?),
            Field::NumericDescending(_) => Field::NumericDescending(Reverse(reader.numeric_descending()?)),
        });
    }
    reader.finish().map(|()| tuple)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn tuples_round_trip(tuple in tuple(0..6)) {
        prop_assert_eq!(decode(&encode(&tuple).0, &tuple), Ok(tuple.clone()));
    }

    #[test]
    fn keys_order_like_their_tuples((a, b) in tuple_pair()) {
        prop_assert_eq!(encode(&a).cmp(&encode(&b)), a.cmp(&b));
    }

    #[test]
    fn a_tuple_sorts_before_its_extensions_and_below_its_prefix_end(prefix in tuple(0..4), more in tuple(1..4)) {
        let (prefix_key, extended) = (encode(&prefix), encode(&[prefix, more].concat()));
        prop_assert!(extended.0.starts_with(&prefix_key.0));
        prop_assert!(prefix_key < prefix_key.next() && prefix_key.next() < extended);
        prop_assert!(KeyEnd::of_prefix(&prefix_key).is_above(&extended));
    }

    #[test]
    fn prefix_end_bounds_exactly_the_keys_with_the_prefix(prefix in short_key(), key in short_key()) {
        let inside = prefix <= key && KeyEnd::of_prefix(&prefix).is_above(&key);
        prop_assert_eq!(inside, key.0.starts_with(&prefix.0));
        prop_assert!(!(prefix < key && key < prefix.next()));
    }

    #[test]
    fn arbitrary_bytes_decode_without_panic_and_canonically(
        bytes in vec(prop_oneof![0..8u8, Just(0xff), any::<u8>()], 0..24),
        template in tuple(0..5),
    ) {
        if let Ok(tuple) = decode(&bytes, &template) {
            prop_assert_eq!(encode(&tuple).0, bytes);
        }
    }

    #[test]
    fn corrupted_keys_decode_without_panic(tuple in tuple(1..5), cut: prop::sample::Index, byte: u8) {
        let mut bytes = encode(&tuple).0;
        let position = cut.index(bytes.len());
        bytes[position] = byte;
        let _ = decode(&bytes, &tuple);
        let _ = decode(&bytes[..position], &tuple);
    }
}

fn ascending(keys: &[Key]) -> bool {
    keys.windows(2).all(|pair| pair[0] < pair[1])
}

#[test]
fn strings_sort_prefixes_first() {
    let keys = ["", "a", "a\0", "a\0\0", "a\x01", "ab", "b"].map(|value| KeyWriter::new().string(value).finish_key());
    assert!(ascending(&keys), "{keys:?}");
}

#[test]
fn numbers_sort_naturally_and_descending_ones_reversed() {
    let signed = [i64::MIN, -1, 0, 1, i64::MAX].map(|value| KeyWriter::new().i64(value).finish_key());
    let newest_first = [u64::MAX, 2, 1, 0].map(|version| KeyWriter::new().u64_descending(version).finish_key());
    assert!(ascending(&signed) && ascending(&newest_first), "{signed:?} {newest_first:?}");
}

#[test]
fn descending_values_sort_in_reverse_and_floats_as_postgresql_orders_them() {
    let strings =
        ["b", "ab", "a\x01", "a\0", "a", ""].map(|value| KeyWriter::new().string_descending(value).finish_key());
    let signed = [i64::MAX, 1, 0, -1, i64::MIN].map(|value| KeyWriter::new().i64_descending(value).finish_key());
    let floats = [f64::NEG_INFINITY, -1.0, -f64::MIN_POSITIVE, 0.0, 1.0, f64::INFINITY, f64::NAN]
        .map(|value| KeyWriter::new().f64(value).finish_key());
    assert!(ascending(&strings) && ascending(&signed) && ascending(&floats), "{strings:?} {signed:?} {floats:?}");
    assert_eq!(KeyWriter::new().f64(-0.0).finish_key(), KeyWriter::new().f64(0.0).finish_key());
    assert_eq!(KeyWriter::new().f64(-f64::NAN).finish_key(), KeyWriter::new().f64(f64::NAN).finish_key());
    let negative_zero = [TAG_F64].into_iter().chain((!(1u64 << 63)).to_be_bytes()).collect::<Vec<_>>();
    assert_eq!(KeyReader::new(&negative_zero).f64(), Err(KeyDecodeError::NonCanonicalFloat { offset: 1 }));
}

#[test]
fn null_last_sorts_after_every_value() {
    let null = KeyWriter::new().null_last().finish_key();
    let values = [Field::Bool(true), Field::U64(u64::MAX), Field::StringDescending(Reverse(String::new()))];
    assert!(values.iter().all(|value| encode(std::slice::from_ref(value)) < null));
}

#[test]
fn null_sorts_before_every_value() {
    let null = KeyWriter::new().null().finish_key();
    let values = [Field::Bool(false), Field::U64(0), Field::Bytes(vec![]), Field::String(String::new())];
    assert!(values.iter().all(|value| null < encode(std::slice::from_ref(value))));
}

#[test]
fn layout_and_debug() {
    let key = KeyWriter::starting_with(Key(b"t".to_vec())).u64(1).string("a\0").finish_key();
    assert_eq!(format!("{key:?}"), r#"Key("t\x03\x00\x00\x00\x00\x00\x00\x00\x01\x07a\x00\xff\x00\x01")"#);
}

#[test]
fn next_and_prefix_end() {
    assert_eq!(Key(b"ab".to_vec()).next(), Key(b"ab\0".to_vec()));
    assert_eq!(Key(b"a\xff\xff".to_vec()).prefix_end(), Some(Key(b"b".to_vec())));
    assert_eq!(Key(vec![0xff]).prefix_end(), None);
    assert_eq!(KeyEnd::of_prefix(&Key::MIN), KeyEnd::Unbounded);
    assert!(KeyEnd::Before(Key(vec![0xff; 8])) < KeyEnd::Unbounded);
}

#[test]
fn malformed_keys_are_errors() {
    use KeyDecodeError::*;
    assert_eq!(KeyReader::new(&[TAG_U64, 1]).u64(), Err(Truncated { length_bytes: 2 }));
    assert_eq!(KeyReader::new(&[TAG_NULL]).u64(), Err(UnexpectedTag { offset: 0, expected: 3, found: 1 }));
    assert_eq!(KeyReader::new(&[TAG_BYTES, 7, 0, 2]).bytes(), Err(InvalidEscape { offset: 2, found: 2 }));
    assert_eq!(KeyReader::new(&[TAG_BOOL, 2]).bool(), Err(InvalidBool { offset: 1, found: 2 }));
    assert_eq!(KeyReader::new(&[TAG_STRING, 0xff, 0, 1]).string(), Err(InvalidUtf8 { offset: 0 }));
    let error = KeyReader::new(&[TAG_NULL, 9]).finish().unwrap_err();
    assert_eq!(error.to_string(), "key byte 0: 2 bytes after the values");
}

fn numeric_key(text: &str) -> Key {
    KeyWriter::new().numeric(&text.parse().expect("well formed")).finish_key()
}

#[test]
fn numerics_sort_as_postgresql_orders_them_and_equal_ones_share_a_key() {
    let values = [
        "-Infinity",
        "-1e100",
        "-12",
        "-1.23",
        "-1.2",
        "-1",
        "-0.001",
        "0",
        "1e-100",
        "0.5",
        "1",
        "1.2",
        "1.23",
        "1.3",
        "9.99",
        "10",
        "1e100",
        "Infinity",
        "NaN",
    ];
    let keys = values.map(numeric_key);
    assert!(ascending(&keys), "{keys:?}");
    assert_eq!(numeric_key("1.0"), numeric_key("1.00"));
    assert_eq!(numeric_key("-0.0"), numeric_key("0"));
    let descending =
        values.map(|text| KeyWriter::new().numeric_descending(&text.parse().expect("well formed")).finish_key());
    assert!(descending.windows(2).all(|pair| pair[0] > pair[1]), "{descending:?}");
}

#[test]
fn numeric_key_layout_and_decoded_scale() {
    // Tag, positive, exponent 0 with the sign flipped, pairs 12 and 30 as 13 and 31, end.
    assert_eq!(numeric_key("1.230").0, [TAG_NUMERIC, 0x04, 0x80, 0, 0, 0, 13, 31, 0x00]);
    let decoded = KeyReader::new(&numeric_key("1.230").0).numeric().expect("decodes");
    assert_eq!(decoded.to_string(), "1.23");
    let decoded = KeyReader::new(&numeric_key("12e3").0).numeric().expect("decodes");
    assert_eq!(decoded.to_string(), "12000");
}

#[test]
fn numeric_keys_the_writer_never_writes_are_refused() {
    let refused = |payload: &[u8]| {
        let key: Vec<u8> = [TAG_NUMERIC].into_iter().chain(payload.iter().copied()).collect();
        KeyReader::new(&key).numeric()
    };
    let non_canonical = Err(KeyDecodeError::NonCanonicalNumeric { offset: 1 });
    assert_eq!(refused(&[0x07]), non_canonical, "unknown class");
    assert_eq!(refused(&[0x04, 0x80, 0, 0, 0, 0x00]), non_canonical, "no digits");
    assert_eq!(refused(&[0x04, 0x80, 0, 0, 0, 101, 0x00]), non_canonical, "pair above 99");
    assert_eq!(refused(&[0x04, 0x80, 0, 0, 0, 13, 1, 0x00]), non_canonical, "trailing zero pair");
    assert_eq!(refused(&[0x04, 0x80, 0, 0, 0, 2, 0x00]), non_canonical, "leading zero digit");
    assert_eq!(refused(&[0x04, 0x80, 0x02, 0, 0, 2, 0x00]), non_canonical, "beyond the largest exponent");
    assert_eq!(refused(&[0x04, 0x80, 0, 0]), Err(KeyDecodeError::Truncated { length_bytes: 5 }));
}
