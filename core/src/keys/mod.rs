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
//! | 0x08 | i64 descending | the complement of the i64 payload               |
//! | 0x09 | bytes descending  | the complement of the escaped bytes          |
//! | 0x0a | string descending | the complement of the escaped string         |
//! | 0x0b | f64            | 8 bytes, ordered as PostgreSQL orders floats    |
//! | 0x0c | f64 descending | the complement of the f64 payload               |
//! | 0x0d | numeric        | class, exponent and digit pairs, see below      |
//! | 0x0e | numeric descending | the complement of the numeric payload       |
//! | 0xfe | null, last     | none                                            |
//!
//! Null has the lowest tag, so an optional value, written as [`KeyWriter::null`] or as
//! the value, sorts absent first; [`KeyWriter::null_last`] sorts it after every value
//! (PostgreSQL's default for an ascending index; a descending one puts nulls first,
//! [`KeyWriter::null`] before the descending values). Tags 0x00 and 0xff are never used: since every tag is
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
//! A descending value is the complement of its ascending form, tag aside: the order
//! of every byte reverses, and the complemented end marker (0xff 0xfe) sorts above
//! any complemented continuation, so a string sorts after its extensions.
//!
//! Floats order as PostgreSQL orders them: -0 equals 0 (both are written as 0), and
//! NaN equals NaN and sorts above every other value, +infinity included (every NaN
//! is written as one). The payload is the IEEE bits, complemented when negative and
//! with the sign flipped otherwise, which makes unsigned order numeric order.
//!
//! Numerics (PostgreSQL's NUMERIC, [`Numeric`]) order as PostgreSQL orders them:
//! -Infinity, negatives, zero, positives, +Infinity, then NaN. The payload opens with
//! that class as a byte (0x01 to 0x06 in this order); zero, NaN and the infinities
//! are the class byte alone. A positive value then has the decimal exponent of its
//! first digit (as 4 bytes big-endian, sign bit flipped) and its significant digits,
//! two to a byte as `1 + 10 * first + second` (1 to 100; an odd count pads a zero,
//! unambiguous as the last digit is never zero), ended by 0x00. A larger exponent is
//! a larger value, and with equal exponents the digits compare as decimal fractions,
//! the end byte below any pair putting a prefix first (1.2 < 1.23). A negative value
//! is its magnitude's exponent and digits complemented, reversing their order. Equal
//! numerics are equal keys: the display scale is not encoded (1.0 and 1.00 are one
//! key), and a decoded numeric shows exactly the digits it has after the point.
//!
//! New types take new tags; existing tags never change meaning.

use crate::numeric::{FiniteNumeric, Numeric};
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
const TAG_I64_DESCENDING: u8 = 0x08;
const TAG_BYTES_DESCENDING: u8 = 0x09;
const TAG_STRING_DESCENDING: u8 = 0x0a;
const TAG_F64: u8 = 0x0b;
const TAG_F64_DESCENDING: u8 = 0x0c;
const TAG_NUMERIC: u8 = 0x0d;
const TAG_NUMERIC_DESCENDING: u8 = 0x0e;
const TAG_NULL_LAST: u8 = 0xfe;

/// The classes that open a numeric payload, in numeric order.
const NUMERIC_NEGATIVE_INFINITY: u8 = 0x01;
const NUMERIC_NEGATIVE: u8 = 0x02;
const NUMERIC_ZERO: u8 = 0x03;
const NUMERIC_POSITIVE: u8 = 0x04;
const NUMERIC_INFINITY: u8 = 0x05;
const NUMERIC_NAN: u8 = 0x06;
/// Ends a numeric's digit pairs, below every pair (1 to 100).
const NUMERIC_DIGITS_END: u8 = 0x00;
const NUMERIC_PAIR_MAX: u8 = 100;

/// Inside an escaped value, 0x00 opens a two-byte sequence: a zero, or the end.
const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xff;
const END: u8 = 0x01;

/// Moves negative numbers below positive ones in unsigned order; its own inverse.
fn flip_sign(bits: u64) -> u64 {
    bits ^ (1 << 63)
}

/// A float's payload (see the module doc): -0 as 0, every NaN as one, above +infinity.
fn float_payload(value: f64) -> u64 {
    let canonical = if value == 0.0 {
        0.0
    } else if value.is_nan() {
        f64::NAN
    } else {
        value
    };
    let bits = canonical.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        flip_sign(bits)
    }
}

/// The float whose payload is `payload` (the inverse of [`float_payload`] on its image).
fn float_of_payload(payload: u64) -> f64 {
    if payload >> 63 == 1 {
        f64::from_bits(flip_sign(payload))
    } else {
        f64::from_bits(!payload)
    }
}

/// Appends the numeric payload of `value` (see the module doc) to `out`.
fn write_numeric_payload(value: &Numeric, out: &mut Vec<u8>) {
    let finite = match value {
        Numeric::NegativeInfinity => return out.push(NUMERIC_NEGATIVE_INFINITY),
        Numeric::Infinity => return out.push(NUMERIC_INFINITY),
        Numeric::NaN => return out.push(NUMERIC_NAN),
        Numeric::Finite(finite) if finite.is_zero() => return out.push(NUMERIC_ZERO),
        Numeric::Finite(finite) => finite,
    };
    out.push(if finite.is_negative() { NUMERIC_NEGATIVE } else { NUMERIC_POSITIVE });
    let start = out.len();
    // `as` reinterprets the two's complement bits, which flipping the sign reorders.
    out.extend_from_slice(&(finite.exponent() as u32 ^ (1 << 31)).to_be_bytes());
    for pair in finite.digits().chunks(2) {
        out.push(1 + 10 * pair[0] + pair.get(1).copied().unwrap_or(0));
    }
    out.push(NUMERIC_DIGITS_END);
    if finite.is_negative() {
        out[start..].iter_mut().for_each(|byte| *byte = !*byte);
    }
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

    /// An absent value that sorts after every value of every type.
    pub fn null_last(&mut self) -> &mut Self {
        self.bytes.push(TAG_NULL_LAST);
        self
    }

    pub fn i64_descending(&mut self, value: i64) -> &mut Self {
        self.fixed(TAG_I64_DESCENDING, &(!flip_sign(value as u64)).to_be_bytes())
    }

    pub fn bytes_descending(&mut self, value: &[u8]) -> &mut Self {
        self.escaped_descending(TAG_BYTES_DESCENDING, value)
    }

    pub fn string_descending(&mut self, value: &str) -> &mut Self {
        self.escaped_descending(TAG_STRING_DESCENDING, value.as_bytes())
    }

    pub fn f64(&mut self, value: f64) -> &mut Self {
        self.fixed(TAG_F64, &float_payload(value).to_be_bytes())
    }

    pub fn f64_descending(&mut self, value: f64) -> &mut Self {
        self.fixed(TAG_F64_DESCENDING, &(!float_payload(value)).to_be_bytes())
    }

    /// Equal numerics (1.0 and 1.00) write the same bytes: the scale is not kept.
    pub fn numeric(&mut self, value: &Numeric) -> &mut Self {
        self.bytes.push(TAG_NUMERIC);
        write_numeric_payload(value, &mut self.bytes);
        self
    }

    pub fn numeric_descending(&mut self, value: &Numeric) -> &mut Self {
        self.bytes.push(TAG_NUMERIC_DESCENDING);
        let start = self.bytes.len();
        write_numeric_payload(value, &mut self.bytes);
        self.bytes[start..].iter_mut().for_each(|byte| *byte = !*byte);
        self
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

    /// The escaped form of `value`, complemented (the tag stays as it is).
    fn escaped_descending(&mut self, tag: u8, value: &[u8]) -> &mut Self {
        let start = self.bytes.len() + 1;
        self.escaped(tag, value);
        self.bytes[start..].iter_mut().for_each(|byte| *byte = !*byte);
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
    /// The float payload at `offset` is one the writer never produces (-0, or another NaN).
    NonCanonicalFloat { offset: usize },
    /// The numeric payload at `offset` is one the writer never produces.
    NonCanonicalNumeric { offset: usize },
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
            NonCanonicalFloat { offset } => write!(formatter, "key byte {offset}: a float the encoding never writes"),
            NonCanonicalNumeric { offset } => {
                write!(formatter, "key byte {offset}: a numeric the encoding never writes")
            }
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
        self.take_tag(TAG_NULL)
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
        self.escaped(TAG_BYTES, 0x00)
    }

    pub fn string(&mut self) -> Result<String, KeyDecodeError> {
        self.escaped_string(TAG_STRING, 0x00)
    }

    /// Consumes a null written by [`KeyWriter::null_last`] and returns true, or
    /// consumes nothing and returns false.
    pub fn take_null_last(&mut self) -> bool {
        self.take_tag(TAG_NULL_LAST)
    }

    /// Consumes `tag` if it comes next; whether it did.
    fn take_tag(&mut self, tag: u8) -> bool {
        let found = self.remaining().first() == Some(&tag);
        self.position += usize::from(found);
        found
    }

    pub fn i64_descending(&mut self) -> Result<i64, KeyDecodeError> {
        self.fixed(TAG_I64_DESCENDING).map(|payload| flip_sign(!u64::from_be_bytes(payload)) as i64)
    }

    pub fn bytes_descending(&mut self) -> Result<Vec<u8>, KeyDecodeError> {
        self.escaped(TAG_BYTES_DESCENDING, 0xff)
    }

    pub fn string_descending(&mut self) -> Result<String, KeyDecodeError> {
        self.escaped_string(TAG_STRING_DESCENDING, 0xff)
    }

    /// An escaped value (see [`KeyReader::escaped`]) that must be UTF-8.
    fn escaped_string(&mut self, tag: u8, mask: u8) -> Result<String, KeyDecodeError> {
        let offset = self.position;
        let bytes = self.escaped(tag, mask)?;
        String::from_utf8(bytes).map_err(|_| KeyDecodeError::InvalidUtf8 { offset })
    }

    pub fn f64(&mut self) -> Result<f64, KeyDecodeError> {
        self.float(TAG_F64, 0)
    }

    pub fn f64_descending(&mut self) -> Result<f64, KeyDecodeError> {
        self.float(TAG_F64_DESCENDING, u64::MAX)
    }

    /// The float under `tag` (its payload XORed with `mask`), unless the writer
    /// would have written it otherwise (a -0, or a NaN other than the one NaN it writes).
    fn float(&mut self, tag: u8, mask: u64) -> Result<f64, KeyDecodeError> {
        let offset = self.position + 1;
        let payload = u64::from_be_bytes(self.fixed(tag)?) ^ mask;
        let value = float_of_payload(payload);
        if float_payload(value) != payload {
            return Err(KeyDecodeError::NonCanonicalFloat { offset });
        }
        Ok(value)
    }

    /// A numeric, shown with as many digits after the point as it has (the key does
    /// not keep the scale it was written with).
    pub fn numeric(&mut self) -> Result<Numeric, KeyDecodeError> {
        self.tag(TAG_NUMERIC)?;
        self.numeric_payload(0x00)
    }

    pub fn numeric_descending(&mut self) -> Result<Numeric, KeyDecodeError> {
        self.tag(TAG_NUMERIC_DESCENDING)?;
        self.numeric_payload(0xff)
    }

    /// The numeric payload, each byte XORed with `mask` first, refusing every payload
    /// the writer would not write (a class or pair byte out of range, a zero digit
    /// first or last, a value beyond NUMERIC's limits).
    fn numeric_payload(&mut self, mask: u8) -> Result<Numeric, KeyDecodeError> {
        let offset = self.position;
        let non_canonical = KeyDecodeError::NonCanonicalNumeric { offset };
        let negative = match self.raw_byte()? ^ mask {
            NUMERIC_NEGATIVE_INFINITY => return Ok(Numeric::NegativeInfinity),
            NUMERIC_ZERO => return Ok(Numeric::zero(0)),
            NUMERIC_INFINITY => return Ok(Numeric::Infinity),
            NUMERIC_NAN => return Ok(Numeric::NaN),
            NUMERIC_NEGATIVE => true,
            NUMERIC_POSITIVE => false,
            _ => return Err(non_canonical),
        };
        // A negative value's magnitude is written complemented.
        let mask = if negative { !mask } else { mask };
        let exponent_bytes = *self.remaining().first_chunk::<4>().ok_or_else(|| self.truncated())?;
        self.position += 4;
        let exponent = (u32::from_be_bytes(exponent_bytes.map(|byte| byte ^ mask)) ^ (1 << 31)) as i32;
        let mut digits = Vec::new();
        loop {
            match self.raw_byte()? ^ mask {
                NUMERIC_DIGITS_END => break,
                pair @ 1..=NUMERIC_PAIR_MAX => digits.extend([(pair - 1) / 10, (pair - 1) % 10]),
                _ => return Err(non_canonical),
            }
        }
        // The zero an odd count was padded with; a second zero is refused below.
        if digits.last() == Some(&0) {
            digits.pop();
        }
        let scale =
            u16::try_from((digits.len() as i64 - 1 - i64::from(exponent)).max(0)).map_err(|_| non_canonical.clone())?;
        match FiniteNumeric::new(negative, digits, exponent, scale) {
            Ok(value) if !value.is_zero() => Ok(Numeric::Finite(value)),
            _ => Err(non_canonical),
        }
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

    /// An escaped value, each of its bytes XORed with `mask` first (0xff: a
    /// descending value, written complemented).
    fn escaped(&mut self, tag: u8, mask: u8) -> Result<Vec<u8>, KeyDecodeError> {
        self.tag(tag)?;
        let mut value = Vec::new();
        loop {
            let remaining = self.remaining();
            let (first, second) = (remaining.first().map(|byte| byte ^ mask), remaining.get(1).map(|byte| byte ^ mask));
            match (first, second) {
                (Some(ESCAPE), Some(END)) => {
                    self.position += 2;
                    return Ok(value);
                }
                (Some(ESCAPE), Some(ESCAPED_ZERO)) => {
                    value.push(0x00);
                    self.position += 2;
                }
                (Some(ESCAPE), Some(found)) => {
                    return Err(KeyDecodeError::InvalidEscape { offset: self.position, found: found ^ mask })
                }
                (None, _) | (Some(ESCAPE), None) => return Err(self.truncated()),
                (Some(byte), _) => {
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
mod tests;
