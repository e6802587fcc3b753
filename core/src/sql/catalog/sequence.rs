//! Sequence descriptors: what CREATE SEQUENCE (or a `serial` column) declares,
//! stored as a row of the sequences system table.
//!
//! A sequence's value is a row of its own (`catalog::sequence_value_key`),
//! changed outside the statement's transaction (see `sql::sequences`), as
//! PostgreSQL's sequences are: a value once handed out is never handed out
//! again, even when the transaction that took it rolls back.

use super::super::error::{SqlError, SqlResult, SqlState};
use super::super::row::{ColumnId, DescriptorId};
use super::super::types::DataType;
use crate::encoding::{Reader, Writer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceDescriptor {
    pub id: DescriptorId,
    pub name: String,
    /// smallint, integer or bigint: its range bounds the defaults of `minimum` and `maximum`.
    pub data_type: DataType,
    pub start: i64,
    pub increment: i64,
    pub minimum: i64,
    pub maximum: i64,
    pub cycle: bool,
    /// The column whose `serial` or identity made it: it goes with the column's table.
    pub owner: Option<(DescriptorId, ColumnId)>,
}

/// The options of CREATE SEQUENCE, each None when not given.
#[derive(Clone, Debug, Default)]
pub struct SequenceOptions {
    pub data_type: Option<DataType>,
    pub start: Option<i64>,
    pub increment: Option<i64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub cycle: bool,
}

fn invalid(message: String) -> SqlError {
    SqlError::new(SqlState::INVALID_PARAMETER_VALUE, message)
}

impl SequenceDescriptor {
    /// A descriptor from declared options with PostgreSQL's defaults and checks.
    pub fn new(name: String, options: &SequenceOptions) -> SqlResult<SequenceDescriptor> {
        let data_type = options.data_type.unwrap_or(DataType::Int8);
        let (type_minimum, type_maximum) = match data_type {
            DataType::Int2 => (i64::from(i16::MIN), i64::from(i16::MAX)),
            DataType::Int4 => (i64::from(i32::MIN), i64::from(i32::MAX)),
            DataType::Int8 => (i64::MIN, i64::MAX),
            _ => return Err(invalid("sequence type must be smallint, integer, or bigint".into())),
        };
        let increment = options.increment.unwrap_or(1);
        if increment == 0 {
            return Err(invalid("INCREMENT must not be zero".into()));
        }
        let ascending = increment > 0;
        let minimum = options.minimum.unwrap_or(if ascending { 1 } else { type_minimum });
        let maximum = options.maximum.unwrap_or(if ascending { type_maximum } else { -1 });
        for (what, value) in [("MINVALUE", minimum), ("MAXVALUE", maximum)] {
            if value < type_minimum || value > type_maximum {
                return Err(invalid(format!("{what} ({value}) is out of range for sequence data type {data_type}")));
            }
        }
        if minimum >= maximum {
            return Err(invalid(format!("MINVALUE ({minimum}) must be less than MAXVALUE ({maximum})")));
        }
        let start = options.start.unwrap_or(if ascending { minimum } else { maximum });
        if start < minimum {
            return Err(invalid(format!("START value ({start}) cannot be less than MINVALUE ({minimum})")));
        }
        if start > maximum {
            return Err(invalid(format!("START value ({start}) cannot be greater than MAXVALUE ({maximum})")));
        }
        Ok(SequenceDescriptor {
            id: DescriptorId(0),
            name,
            data_type,
            start,
            increment,
            minimum,
            maximum,
            cycle: options.cycle,
            owner: None,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u8(FORMAT_VERSION).u64(self.id.0).bytes(self.name.as_bytes());
        let type_code = match self.data_type {
            DataType::Int2 => 2,
            DataType::Int4 => 4,
            _ => 8,
        };
        writer.u8(type_code);
        for value in [self.start, self.increment, self.minimum, self.maximum] {
            writer.u64(value as u64);
        }
        writer.u8(u8::from(self.cycle));
        match self.owner {
            None => writer.u8(0),
            Some((table, column)) => writer.u8(1).u64(table.0).u64(u64::from(column.0)),
        };
        writer.finish()
    }

    pub fn decode(bytes: &[u8]) -> SqlResult<SequenceDescriptor> {
        decode(bytes).map_err(|error| SqlError::corrupted(format!("a sequence descriptor: {error}")))
    }

    /// The value after `current` (None: the first value), or None when the
    /// sequence is exhausted and does not cycle.
    pub fn next_after(&self, current: Option<i64>) -> Option<i64> {
        let Some(current) = current else { return Some(self.start) };
        match current.checked_add(self.increment) {
            Some(next) if next >= self.minimum && next <= self.maximum => Some(next),
            _ if self.cycle => Some(if self.increment > 0 { self.minimum } else { self.maximum }),
            _ => None,
        }
    }

    /// PostgreSQL's error for an exhausted sequence.
    pub fn exhausted(&self) -> SqlError {
        let (which, bound) = if self.increment > 0 { ("maximum", self.maximum) } else { ("minimum", self.minimum) };
        SqlError::new(
            SqlState("2200H"),
            format!("nextval: reached {which} value of sequence \"{}\" ({bound})", self.name),
        )
    }
}

const FORMAT_VERSION: u8 = 1;

fn decode(bytes: &[u8]) -> Result<SequenceDescriptor, crate::encoding::DecodeError> {
    let bad = |what: &str| crate::encoding::DecodeError(what.to_string());
    let mut reader = Reader::new(bytes);
    if reader.u8()? != FORMAT_VERSION {
        return Err(bad("an unknown format version"));
    }
    let id = DescriptorId(reader.u64()?);
    let name = String::from_utf8(reader.bytes()?.to_vec()).map_err(|_| bad("a name that is not UTF-8"))?;
    let data_type = match reader.u8()? {
        2 => DataType::Int2,
        4 => DataType::Int4,
        8 => DataType::Int8,
        _ => return Err(bad("an unknown sequence type")),
    };
    let mut numbers = [0i64; 4];
    for number in &mut numbers {
        *number = reader.u64()? as i64;
    }
    let [start, increment, minimum, maximum] = numbers;
    let cycle = reader.u8()? == 1;
    let owner = match reader.u8()? {
        0 => None,
        1 => {
            let table = DescriptorId(reader.u64()?);
            let column = u32::try_from(reader.u64()?).map_err(|_| bad("a column id out of range"))?;
            Some((table, ColumnId(column)))
        }
        _ => return Err(bad("an unknown owner marker")),
    };
    reader.finish()?;
    Ok(SequenceDescriptor { id, name, data_type, start, increment, minimum, maximum, cycle, owner })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_round_trips_and_truncations_are_errors() {
        let mut sequence = SequenceDescriptor::new("s".into(), &SequenceOptions::default()).unwrap();
        sequence.owner = Some((DescriptorId(101), ColumnId(1)));
        let bytes = sequence.encode();
        assert_eq!(SequenceDescriptor::decode(&bytes), Ok(sequence));
        for length in 0..bytes.len() {
            assert!(SequenceDescriptor::decode(&bytes[..length]).is_err());
        }
    }

    #[test]
    fn values_step_within_bounds_and_cycle_only_when_asked() {
        let options = SequenceOptions { increment: Some(-2), minimum: Some(1), maximum: Some(5), ..Default::default() };
        let descending = SequenceDescriptor::new("d".into(), &options).unwrap();
        assert_eq!(descending.next_after(None), Some(5));
        assert_eq!(descending.next_after(Some(3)), Some(1));
        assert_eq!(descending.next_after(Some(1)), None);
        let cycling = SequenceDescriptor { cycle: true, ..descending };
        assert_eq!(cycling.next_after(Some(1)), Some(5));
        let small = SequenceOptions { data_type: Some(DataType::Int2), ..Default::default() };
        let small = SequenceDescriptor::new("s".into(), &small).unwrap();
        assert_eq!(small.next_after(Some(32767)), None);
        assert_eq!(small.exhausted().message, "nextval: reached maximum value of sequence \"s\" (32767)");
        let bad = SequenceOptions { start: Some(0), ..Default::default() };
        assert_eq!(
            SequenceDescriptor::new("b".into(), &bad).unwrap_err().message,
            "START value (0) cannot be less than MINVALUE (1)"
        );
    }
}
