//! Two binary forms of a value: the compact one rows store, and PostgreSQL's wire format.
//!
//! # Storage
//! A kind byte — 0x00 NaN, 0x01 Infinity, 0x02 -Infinity, 0x03 zero or positive,
//! 0x04 negative — then, for finite values, the scale as an unsigned LEB128 varint;
//! then, unless the value is zero, the exponent as a zigzag LEB128 varint and the
//! digits two to a byte (high nibble first, an odd count padded with a zero nibble,
//! unambiguous since the last digit is never zero). `12.50` takes five bytes:
//! 03 02 02 12 50, kind, scale 2, exponent 1 zigzagged, digits 1 2 5 and the padding.
//! Decoding is canonical: only bytes the encoder writes decode.
//!
//! # Wire (numeric_send and numeric_recv)
//! Big-endian int16s: the number of base-10000 digits, the weight of the first, the
//! sign (0x0000 positive, 0x4000 negative, 0xC000 NaN, 0xD000 Infinity, 0xF000
//! -Infinity) and the scale, then the digits, groups aligned at the point with leading
//! and trailing zero groups left out. PostgreSQL sends the infinities with scale 32
//! (its header bits read as a scale), and so does this. Receiving accepts what
//! PostgreSQL accepts: zero groups anywhere, any weight, digits beyond the scale
//! (dropped, as PostgreSQL truncates them).

use super::arithmetic::leading_group;
use super::{FiniteNumeric, Numeric, NumericError};

const KIND_NAN: u8 = 0x00;
const KIND_INFINITY: u8 = 0x01;
const KIND_NEGATIVE_INFINITY: u8 = 0x02;
const KIND_POSITIVE: u8 = 0x03;
const KIND_NEGATIVE: u8 = 0x04;

const WIRE_POSITIVE: u16 = 0x0000;
const WIRE_NEGATIVE: u16 = 0x4000;
const WIRE_NAN: u16 = 0xc000;
const WIRE_INFINITY: u16 = 0xd000;
const WIRE_NEGATIVE_INFINITY: u16 = 0xf000;
/// The scale PostgreSQL 15 sends with an infinity.
const WIRE_INFINITY_SCALE: u16 = 32;
/// The mask of the wire scale's valid bits (PostgreSQL's NUMERIC_DSCALE_MASK).
const WIRE_SCALE_MASK: u16 = 0x3fff;

impl Numeric {
    /// Appends the storage encoding (see the module doc of `encoding`).
    pub fn encode_value(&self, out: &mut Vec<u8>) {
        let value = match self {
            Numeric::NaN => return out.push(KIND_NAN),
            Numeric::Infinity => return out.push(KIND_INFINITY),
            Numeric::NegativeInfinity => return out.push(KIND_NEGATIVE_INFINITY),
            Numeric::Finite(value) => value,
        };
        out.push(if value.negative { KIND_NEGATIVE } else { KIND_POSITIVE });
        write_varint(out, u64::from(value.scale));
        if value.is_zero() {
            return;
        }
        let exponent = i64::from(value.exponent);
        write_varint(out, ((exponent << 1) ^ (exponent >> 63)) as u64);
        for pair in value.digits.chunks(2) {
            out.push(pair[0] << 4 | pair.get(1).copied().unwrap_or(0));
        }
    }

    /// The value [`Numeric::encode_value`] wrote as exactly `bytes`.
    pub fn decode_value(bytes: &[u8]) -> Result<Numeric, NumericError> {
        let (&kind, rest) = bytes.split_first().ok_or_else(|| NumericError::corrupt("empty"))?;
        let special = match kind {
            KIND_NAN => Some(Numeric::NaN),
            KIND_INFINITY => Some(Numeric::Infinity),
            KIND_NEGATIVE_INFINITY => Some(Numeric::NegativeInfinity),
            KIND_POSITIVE | KIND_NEGATIVE => None,
            _ => return Err(NumericError::corrupt("unknown kind")),
        };
        if let Some(special) = special {
            return if rest.is_empty() { Ok(special) } else { Err(NumericError::corrupt("trailing bytes")) };
        }
        let (scale, rest) = read_varint(rest)?;
        let scale = u16::try_from(scale).map_err(|_| NumericError::corrupt("scale"))?;
        if rest.is_empty() {
            return FiniteNumeric::new(kind == KIND_NEGATIVE, Vec::new(), 0, scale).map(Numeric::Finite);
        }
        let (zigzag, packed) = read_varint(rest)?;
        let exponent = i32::try_from((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
            .map_err(|_| NumericError::corrupt("exponent"))?;
        let mut digits: Vec<u8> = packed.iter().flat_map(|&byte| [byte >> 4, byte & 0x0f]).collect();
        if digits.last() == Some(&0) {
            digits.pop();
        }
        // An empty digit list here would be a zero with an exponent: refused by `new`.
        if digits.is_empty() {
            return Err(NumericError::corrupt("no digits"));
        }
        FiniteNumeric::new(kind == KIND_NEGATIVE, digits, exponent, scale).map(Numeric::Finite)
    }

    /// PostgreSQL's numeric_send.
    pub fn to_wire_binary(&self) -> Vec<u8> {
        let (sign, weight, scale, groups) = match self {
            Numeric::NaN => (WIRE_NAN, 0, 0, Vec::new()),
            Numeric::Infinity => (WIRE_INFINITY, 0, WIRE_INFINITY_SCALE, Vec::new()),
            Numeric::NegativeInfinity => (WIRE_NEGATIVE_INFINITY, 0, WIRE_INFINITY_SCALE, Vec::new()),
            Numeric::Finite(value) => {
                let (weight, groups) = base_10000_groups(value);
                (if value.negative { WIRE_NEGATIVE } else { WIRE_POSITIVE }, weight, value.scale, groups)
            }
        };
        let mut out = Vec::with_capacity(8 + 2 * groups.len());
        // At most 36864 groups (below 10^131072 down to 10^-16383) and weights within
        // int16: every field fits.
        for field in [groups.len() as u16, weight as u16, sign, scale] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        for group in groups {
            out.extend_from_slice(&group.to_be_bytes());
        }
        out
    }

    /// PostgreSQL's numeric_recv of exactly `bytes`, refusing what it refuses.
    pub fn from_wire_binary(bytes: &[u8]) -> Result<Numeric, NumericError> {
        let field = |index: usize| -> Result<u16, NumericError> {
            let pair = bytes.get(2 * index..2 * index + 2).ok_or_else(insufficient_data)?;
            Ok(u16::from_be_bytes([pair[0], pair[1]]))
        };
        let (count, weight, sign, scale) = (usize::from(field(0)?), field(1)? as i16, field(2)?, field(3)?);
        if ![WIRE_POSITIVE, WIRE_NEGATIVE, WIRE_NAN, WIRE_INFINITY, WIRE_NEGATIVE_INFINITY].contains(&sign) {
            return Err(binary_error("invalid sign in external \"numeric\" value"));
        }
        if scale & WIRE_SCALE_MASK != scale {
            return Err(binary_error("invalid scale in external \"numeric\" value"));
        }
        let groups = (0..count).map(|index| field(4 + index)).collect::<Result<Vec<_>, _>>()?;
        if groups.iter().any(|&group| group >= 10_000) {
            return Err(binary_error("invalid digit in external \"numeric\" value"));
        }
        if bytes.len() != 8 + 2 * count {
            return Err(binary_error("incorrect binary data format"));
        }
        match sign {
            WIRE_NAN => Ok(Numeric::NaN),
            WIRE_INFINITY => Ok(Numeric::Infinity),
            WIRE_NEGATIVE_INFINITY => Ok(Numeric::NegativeInfinity),
            _ => finite_from_groups(sign == WIRE_NEGATIVE, weight, &groups, scale).map(Numeric::Finite),
        }
    }
}

/// The weight of the first base-10000 group and the groups down to the last nonzero one.
fn base_10000_groups(value: &FiniteNumeric) -> (i16, Vec<u16>) {
    if value.is_zero() {
        return (0, Vec::new());
    }
    let (weight, _) = leading_group(value);
    let last_weight = value.last_exponent().div_euclid(4);
    let mut groups = vec![0u16; (weight - last_weight + 1) as usize];
    for (index, &digit) in value.digits.iter().enumerate() {
        let exponent = i64::from(value.exponent) - index as i64;
        let group = (weight - exponent.div_euclid(4)) as usize;
        groups[group] += u16::from(digit) * 10u16.pow(exponent.rem_euclid(4) as u32);
    }
    (weight as i16, groups)
}

/// The value of received groups, its digits beyond `scale` dropped as numeric_recv's
/// trunc_var drops them, and its limits checked as make_result checks them.
fn finite_from_groups(negative: bool, weight: i16, groups: &[u16], scale: u16) -> Result<FiniteNumeric, NumericError> {
    let mut digits = Vec::with_capacity(4 * groups.len());
    for group in groups {
        digits.extend([group / 1000, group / 100 % 10, group / 10 % 10, group % 10].map(|digit| digit as u8));
    }
    let exponent = 4 * i64::from(weight) + 3;
    // Digits at 10^-(scale + 1) and below go; `kept` counts those that stay.
    let kept = (exponent + i64::from(scale) + 1).clamp(0, digits.len() as i64) as usize;
    digits.truncate(kept);
    FiniteNumeric::normalize(negative, digits, exponent, i64::from(scale))
}

fn insufficient_data() -> NumericError {
    NumericError::new("08P01", "insufficient data left in message")
}

fn binary_error(message: &str) -> NumericError {
    NumericError::new("22P03", message)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// An unsigned LEB128 varint at the start of `bytes`, refusing overlong forms (so that
/// one value has one encoding) and any above 35 bits (no field needs more), and the
/// bytes after it.
fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), NumericError> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            if byte == 0 && index > 0 {
                return Err(NumericError::corrupt("overlong varint"));
            }
            return Ok((value, &bytes[index + 1..]));
        }
    }
    Err(NumericError::corrupt("truncated varint"))
}
