//! The ordered key space: byte strings whose byte-wise lexicographic order is the
//! natural order of the values they encode. Ranges cut this space into spans, MVCC
//! stores versions under it, and SQL rows and index entries are tuples written into it.
//!
//! # Keys and spans
//! A [`Key`] is any byte string; [`Key::MIN`], the empty string, is the smallest. A span
//! ends at a [`KeyEnd`]: just before a key, or `Unbounded` at the end of the key space,
//! above every key. An enum rather than `Option<Key>` because `None` reads as "no end"
//! in one place and "empty" in another, and because the derived order puts `Unbounded`
//! after every `Before`, so ends compare like the keys they stand for.
//!
//! # Tuples
//! [`KeyWriter`] appends typed values; [`KeyReader`] reads them back in the same order,
//! asking for the type it expects. Each value opens with a one-byte tag, so a reader
//! never mistakes one type for another and tuples of mixed types still order (by tag at
//! the first position where their types differ, an order that means nothing but is total):
//!
//! | tag  | value          | payload                                         |
//! |------|----------------|-------------------------------------------------|
//! | 0x01 | null           | none                                            |
//! | 0x02 | bool           | 0x00 false, 0x01 true                           |
//! | 0x03 | u64            | 8 bytes big-endian                              |
//! | 0x04 | u64 descending | 8 bytes big-endian of the bitwise complement    |
//! | 0x05 | i64            | 8 bytes big-endian with the sign bit flipped    |
//! | 0x06 | bytes          | escaped, see below                              |
//! | 0x07 | string         | UTF-8, escaped like bytes                       |
//!
//! Null has the lowest tag, so an optional value, written as [`KeyWriter::null`] or as
//! the value, sorts absent first. Tags 0x00 and 0xff are never used: since every tag is
//! above 0x00, [`Key::next`] of a tuple sorts before every longer tuple starting with it.
//! Flipping the sign bit moves negative numbers below positive ones; the complement
//! reverses order, which stores MVCC versions newest first under one key.
//!
//! Variable-length values are escaped: 0x00 becomes 0x00 0xff and the value ends with
//! 0x00 0x01. Other bytes stand for themselves, so memcmp stays cheap on common data.
//! An end marker 0x00 0x01 sorts below any continuation (a byte of at least 0x01, or an
//! escaped zero 0x00 0xff), so "a" < "a\0" < "ab"; and no escaped value is a prefix of
//! another, so the fields after it never take part in deciding its order.
//!
//! Decoding is canonical: it rejects every byte string the writer cannot produce
//! (unknown escapes, bool payloads other than 0 or 1, invalid UTF-8, trailing bytes), so
//! equal keys mean equal tuples. Malformed input is a [`KeyDecodeError`], never a panic.
//!
//! Left out until something needs them: descending i64, bytes and strings (complement
//! the payload or the escaped form, for SQL `DESC` indexes), floats, decimals, and
//! descending nulls. New types take new tags; existing tags never change meaning.

use std::fmt;

/// A key of the ordered key space; byte-wise order is key order.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub Vec<u8>);

impl Key {
    /// The smallest key, where the key space starts: the empty byte string.
    pub const MIN: Key = Key(Vec::new());

    /// The smallest key greater than this one: no key fits between `k` and `k ++ 0x00`.
    pub fn next(&self) -> Key {
        let mut bytes = self.0.clone();
        bytes.push(0x00);
        Key(bytes)
    }

    /// The smallest key greater than every key starting with this one, or `None` when
    /// this prefix is empty or all 0xff, so that its keys run to the end of the key space.
    pub fn prefix_end(&self) -> Option<Key> {
        let mut bytes = self.0.clone();
        while let Some(last) = bytes.pop() {
            if last < 0xff {
                bytes.push(last + 1);
                return Some(Key(bytes));
            }
        }
        None
    }
}

/// Shows printable ASCII as itself and other bytes as `\xNN`, as keys are mostly text
/// with binary fields between.
impl fmt::Debug for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Key(\"")?;
        for byte in &self.0 {
            write!(formatter, "{}", std::ascii::escape_default(*byte))?;
        }
        formatter.write_str("\")")
    }
}

/// The exclusive end of a span of keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyEnd {
    /// The span stops just before this key.
    Before(Key),
    /// The span runs to the end of the key space, above every key.
    Unbounded,
}

impl KeyEnd {
    /// The end of the span holding exactly the keys that start with `prefix`.
    pub fn of_prefix(prefix: &Key) -> KeyEnd {
        prefix.prefix_end().map_or(KeyEnd::Unbounded, KeyEnd::Before)
    }

    /// Whether `key` lies below this end, that is inside a span ending here.
    pub fn is_above(&self, key: &Key) -> bool {
        match self {
            KeyEnd::Before(end) => key < end,
            KeyEnd::Unbounded => true,
        }
    }
}

const TAG_NULL: u8 = 0x01;
const TAG_BOOL: u8 = 0x02;
const TAG_U64: u8 = 0x03;
const TAG_U64_DESCENDING: u8 = 0x04;
const TAG_I64: u8 = 0x05;
const TAG_BYTES: u8 = 0x06;
const TAG_STRING: u8 = 0x07;

/// Inside an escaped value, 0x00 opens a two-byte sequence: a zero, or the end.
const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xff;
const END: u8 = 0x01;

/// Moves negative numbers below positive ones in unsigned order; its own inverse.
fn flip_sign(bits: u64) -> u64 {
    bits ^ (1 << 63)
}

/// Appends tagged, order-preserving values to a key.
#[derive(Clone, Debug, Default)]
pub struct KeyWriter {
    bytes: Vec<u8>,
}

impl KeyWriter {
    pub fn new() -> KeyWriter {
        KeyWriter::default()
    }

    /// Continues an existing key, such as a table's prefix.
    pub fn starting_with(prefix: Key) -> KeyWriter {
        KeyWriter { bytes: prefix.0 }
    }

    /// An absent value: sorts before every value of every type.
    pub fn null(&mut self) -> &mut Self {
        self.bytes.push(TAG_NULL);
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.fixed(TAG_BOOL, &[u8::from(value)])
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.fixed(TAG_U64, &value.to_be_bytes())
    }

    /// Larger values sort first: MVCC versions, newest first.
    pub fn u64_descending(&mut self, value: u64) -> &mut Self {
        self.fixed(TAG_U64_DESCENDING, &(!value).to_be_bytes())
    }

    pub fn i64(&mut self, value: i64) -> &mut Self {
        // `as` reinterprets the two's complement bits, which `flip_sign` then reorders.
        self.fixed(TAG_I64, &flip_sign(value as u64).to_be_bytes())
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.escaped(TAG_BYTES, value)
    }

    pub fn string(&mut self, value: &str) -> &mut Self {
        self.escaped(TAG_STRING, value.as_bytes())
    }

    /// Appends bytes verbatim, untagged: fixed namespace prefixes and markers whose
    /// order and decoding the caller's own layout makes unambiguous.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// The bytes written so far, as the storage engine takes them; the writer starts again empty.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// Like [`KeyWriter::finish`], as a [`Key`].
    pub fn finish_key(&mut self) -> Key {
        Key(self.finish())
    }

    fn fixed(&mut self, tag: u8, payload: &[u8]) -> &mut Self {
        self.bytes.push(tag);
        self.bytes.extend_from_slice(payload);
        self
    }

    fn escaped(&mut self, tag: u8, value: &[u8]) -> &mut Self {
        self.bytes.push(tag);
        for &byte in value {
            self.bytes.push(byte);
            if byte == ESCAPE {
                self.bytes.push(ESCAPED_ZERO);
            }
        }
        self.bytes.extend_from_slice(&[ESCAPE, END]);
        self
    }
}

/// A key that does not decode as the tuple asked for: corruption, or a bug in the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyDecodeError {
    /// The key ends inside a value.
    Truncated { length_bytes: usize },
    /// The value at `offset` has another type than the one asked for.
    UnexpectedTag { offset: usize, expected: u8, found: u8 },
    /// A 0x00 inside an escaped value is followed by neither 0xff nor 0x01.
    InvalidEscape { offset: usize, found: u8 },
    /// A boolean payload other than 0x00 or 0x01.
    InvalidBool { offset: usize, found: u8 },
    /// The string whose tag is at `offset` is not UTF-8.
    InvalidUtf8 { offset: usize },
    /// Bytes remain after the last value asked for.
    TrailingBytes { offset: usize, count: usize },
}

impl fmt::Display for KeyDecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        use KeyDecodeError::*;
        match self {
            Truncated { length_bytes } => write!(formatter, "key of {length_bytes} bytes ends inside a value"),
            UnexpectedTag { offset, expected, found } => {
                write!(formatter, "key byte {offset}: expected tag {expected:#04x}, found {found:#04x}")
            }
            InvalidEscape { offset, found } => write!(formatter, "key byte {offset}: escape 0x00 then {found:#04x}"),
            InvalidBool { offset, found } => write!(formatter, "key byte {offset}: boolean {found:#04x}"),
            InvalidUtf8 { offset } => write!(formatter, "key byte {offset}: string is not UTF-8"),
            TrailingBytes { offset, count } => write!(formatter, "key byte {offset}: {count} bytes after the values"),
        }
    }
}

impl std::error::Error for KeyDecodeError {}

/// Reads a key's values back in the order they were written. After an error other than
/// an unexpected tag (which consumes nothing) the reader's position is unspecified.
#[derive(Clone, Debug)]
pub struct KeyReader<'a> {
    key: &'a [u8],
    position: usize,
}

impl<'a> KeyReader<'a> {
    pub fn new(key: &'a [u8]) -> KeyReader<'a> {
        KeyReader { key, position: 0 }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.key[self.position..]
    }

    /// Fails unless every byte was read, so a key with extra fields is not taken for a shorter one.
    pub fn finish(&self) -> Result<(), KeyDecodeError> {
        match self.remaining().len() {
            0 => Ok(()),
            count => Err(KeyDecodeError::TrailingBytes { offset: self.position, count }),
        }
    }

    /// Consumes a null and returns true, or consumes nothing and returns false: an
    /// optional value is `if reader.take_null() { None } else { Some(reader.u64()?) }`.
    pub fn take_null(&mut self) -> bool {
        let is_null = self.remaining().first() == Some(&TAG_NULL);
        self.position += usize::from(is_null);
        is_null
    }

    /// Reads one byte verbatim: the counterpart of [`KeyWriter::raw`].
    pub fn raw_byte(&mut self) -> Result<u8, KeyDecodeError> {
        let byte = *self.remaining().first().ok_or_else(|| self.truncated())?;
        self.position += 1;
        Ok(byte)
    }

    pub fn bool(&mut self) -> Result<bool, KeyDecodeError> {
        let offset = self.position + 1;
        match self.fixed::<1>(TAG_BOOL)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [found] => Err(KeyDecodeError::InvalidBool { offset, found }),
        }
    }

    pub fn u64(&mut self) -> Result<u64, KeyDecodeError> {
        self.fixed(TAG_U64).map(u64::from_be_bytes)
    }

    pub fn u64_descending(&mut self) -> Result<u64, KeyDecodeError> {
        self.fixed(TAG_U64_DESCENDING).map(|payload| !u64::from_be_bytes(payload))
    }

    pub fn i64(&mut self) -> Result<i64, KeyDecodeError> {
        self.fixed(TAG_I64).map(|payload| flip_sign(u64::from_be_bytes(payload)) as i64)
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, KeyDecodeError> {
        self.escaped(TAG_BYTES)
    }

    pub fn string(&mut self) -> Result<String, KeyDecodeError> {
        let offset = self.position;
        let bytes = self.escaped(TAG_STRING)?;
        String::from_utf8(bytes).map_err(|_| KeyDecodeError::InvalidUtf8 { offset })
    }

    fn tag(&mut self, expected: u8) -> Result<(), KeyDecodeError> {
        let offset = self.position;
        match self.remaining().first() {
            None => Err(self.truncated()),
            Some(&found) if found != expected => Err(KeyDecodeError::UnexpectedTag { offset, expected, found }),
            Some(_) => {
                self.position += 1;
                Ok(())
            }
        }
    }

    fn fixed<const LENGTH_BYTES: usize>(&mut self, tag: u8) -> Result<[u8; LENGTH_BYTES], KeyDecodeError> {
        self.tag(tag)?;
        let payload = *self.remaining().first_chunk::<LENGTH_BYTES>().ok_or_else(|| self.truncated())?;
        self.position += LENGTH_BYTES;
        Ok(payload)
    }

    fn escaped(&mut self, tag: u8) -> Result<Vec<u8>, KeyDecodeError> {
        self.tag(tag)?;
        let mut value = Vec::new();
        loop {
            match *self.remaining() {
                [ESCAPE, END, ..] => {
                    self.position += 2;
                    return Ok(value);
                }
                [ESCAPE, ESCAPED_ZERO, ..] => {
                    value.push(0x00);
                    self.position += 2;
                }
                [ESCAPE, found, ..] => return Err(KeyDecodeError::InvalidEscape { offset: self.position, found }),
                [] | [ESCAPE] => return Err(self.truncated()),
                [byte, ..] => {
                    value.push(byte);
                    self.position += 1;
                }
            }
        }
    }

    fn truncated(&self) -> KeyDecodeError {
        KeyDecodeError::Truncated { length_bytes: self.key.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    }

    const FIELD_KINDS: usize = 7;

    /// Values of one kind, drawn from small sets often enough that tuples share prefixes.
    fn field_of_kind(kind: usize) -> BoxedStrategy<Field> {
        let number = || prop_oneof![0..3u64, Just(u64::MAX), any::<u64>()];
        let byte = prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()];
        let character = prop_oneof![Just('\0'), Just('a'), Just('b'), any::<char>()];
        match kind {
            0 => any::<bool>().prop_map(Field::Bool).boxed(),
            1 => number().prop_map(Field::U64).boxed(),
            2 => number().prop_map(|value| Field::U64Descending(Reverse(value))).boxed(),
            3 => prop_oneof![-2..2i64, Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(Field::I64).boxed(),
            4 => vec(byte, 0..4).prop_map(Field::Bytes).boxed(),
            5 => vec(character, 0..4).prop_map(|characters| Field::String(characters.into_iter().collect())).boxed(),
            _ => proptest::option::of(number()).prop_map(Field::OptionalU64).boxed(),
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
                Field::OptionalU64(_) => {
                    Field::OptionalU64(if reader.take_null() { None } else { Some(reader.u64()?) })
                }
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
        let keys =
            ["", "a", "a\0", "a\0\0", "a\x01", "ab", "b"].map(|value| KeyWriter::new().string(value).finish_key());
        assert!(ascending(&keys), "{keys:?}");
    }

    #[test]
    fn numbers_sort_naturally_and_descending_ones_reversed() {
        let signed = [i64::MIN, -1, 0, 1, i64::MAX].map(|value| KeyWriter::new().i64(value).finish_key());
        let newest_first = [u64::MAX, 2, 1, 0].map(|version| KeyWriter::new().u64_descending(version).finish_key());
        assert!(ascending(&signed) && ascending(&newest_first), "{signed:?} {newest_first:?}");
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
}
