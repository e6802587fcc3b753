//! Table descriptors: what the catalog knows about one table, stored as one
//! row of the descriptors system table and read in the statement's transaction.
//!
//! A descriptor carries a version, bumped by every schema change, and a state.
//! Today DDL runs as one transaction, so a descriptor is either `Public` or
//! gone; the states of F1's online schema change (an index that is only
//! deleted from, then written, then backfilled, then public) are in the format
//! already, so that online schema changes come without a format change.
//!
//! The encoding is `encoding`'s length-prefixed binary with a format version
//! first; decoding refuses anything else, without panicking.

use super::super::error::{SqlError, SqlResult};
use super::super::row::{ColumnId, DescriptorId, Direction, IndexId};
use super::super::types::DataType;
use crate::encoding::{Reader, Writer};

/// Where a descriptor, or one of its indexes, stands in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DescriptorState {
    /// In use by every statement.
    Public,
    /// Being added: deletes maintain it, nothing else (F1's delete-only).
    DeleteOnly,
    /// Being added: writes maintain it, reads do not use it (F1's write-only).
    WriteOnly,
    /// Dropped; its data waits to be cleared.
    Dropped,
}

/// One column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDescriptor {
    pub id: ColumnId,
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    /// The DEFAULT expression as SQL text, parsed again when used.
    pub default: Option<String>,
    /// A column the user did not declare (the row id of a table without a
    /// primary key): not in `SELECT *`.
    pub hidden: bool,
}

/// One index: the primary one holds the rows, a secondary one points at them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDescriptor {
    pub id: IndexId,
    pub name: String,
    pub unique: bool,
    pub columns: Vec<(ColumnId, Direction)>,
    pub state: DescriptorState,
    /// The index of a PRIMARY KEY or UNIQUE constraint: it goes with its
    /// constraint, not by DROP INDEX (PostgreSQL's rule).
    pub backs_constraint: bool,
}

/// A CHECK constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckConstraint {
    pub name: String,
    /// The condition as SQL text.
    pub expression: String,
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDescriptor {
    pub id: DescriptorId,
    pub version: u64,
    pub state: DescriptorState,
    pub database: DescriptorId,
    pub schema: DescriptorId,
    pub name: String,
    pub columns: Vec<ColumnDescriptor>,
    pub next_column_id: ColumnId,
    pub primary_index: IndexDescriptor,
    pub indexes: Vec<IndexDescriptor>,
    pub next_index_id: IndexId,
    pub checks: Vec<CheckConstraint>,
}

impl TableDescriptor {
    pub fn column(&self, name: &str) -> Option<&ColumnDescriptor> {
        self.columns.iter().find(|column| column.name == name)
    }

    pub fn column_by_id(&self, id: ColumnId) -> Option<&ColumnDescriptor> {
        self.columns.iter().find(|column| column.id == id)
    }

    /// The position of column `id` in [`TableDescriptor::columns`].
    pub fn position_of(&self, id: ColumnId) -> Option<usize> {
        self.columns.iter().position(|column| column.id == id)
    }

    /// The secondary index `id`.
    pub fn index(&self, id: IndexId) -> Option<&IndexDescriptor> {
        self.indexes.iter().find(|index| index.id == id)
    }

    /// The primary index and every secondary one, by id.
    pub fn all_indexes(&self) -> impl Iterator<Item = &IndexDescriptor> {
        std::iter::once(&self.primary_index).chain(&self.indexes)
    }

    /// The indexes whose names are relations of the schema: all but the
    /// primary index of a table without a declared primary key, which in
    /// PostgreSQL would have no index at all.
    pub fn named_indexes(&self) -> impl Iterator<Item = &IndexDescriptor> {
        let hidden_key =
            self.primary_index.columns.iter().all(|(id, _)| self.column_by_id(*id).is_some_and(|column| column.hidden));
        self.all_indexes().filter(move |index| !(hidden_key && index.id == self.primary_index.id))
    }

    /// The columns a `SELECT *` shows, in declaration order.
    pub fn visible_columns(&self) -> impl Iterator<Item = (usize, &ColumnDescriptor)> {
        self.columns.iter().enumerate().filter(|(_, column)| !column.hidden)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u8(FORMAT_VERSION).u64(self.id.0).u64(self.version).u8(state_code(self.state));
        writer.u64(self.database.0).u64(self.schema.0).bytes(self.name.as_bytes());
        writer.u64(self.columns.len() as u64);
        for column in &self.columns {
            writer.u64(u64::from(column.id.0)).bytes(column.name.as_bytes());
            write_type(&mut writer, column.data_type);
            writer.u8(u8::from(column.nullable)).u8(u8::from(column.hidden));
            write_optional(&mut writer, column.default.as_deref());
        }
        writer.u64(u64::from(self.next_column_id.0));
        write_index(&mut writer, &self.primary_index);
        writer.u64(self.indexes.len() as u64);
        for index in &self.indexes {
            write_index(&mut writer, index);
        }
        writer.u64(self.next_index_id.0).u64(self.checks.len() as u64);
        for check in &self.checks {
            writer.bytes(check.name.as_bytes()).bytes(check.expression.as_bytes());
        }
        writer.finish()
    }

    pub fn decode(bytes: &[u8]) -> SqlResult<TableDescriptor> {
        decode(bytes).map_err(|error| SqlError::corrupted(format!("a table descriptor: {error}")))
    }
}

/// Version 2 added [`IndexDescriptor::backs_constraint`]; version 1 reads as false.
const FORMAT_VERSION: u8 = 2;

fn decode(bytes: &[u8]) -> Result<TableDescriptor, String> {
    let mut reader = Reader::new(bytes);
    let reader = &mut reader;
    let format = reader.u8().map_err(|error| error.to_string())?;
    if format != FORMAT_VERSION && format != 1 {
        return Err(format!("format version {format}"));
    }
    let read = |reader: &mut Reader| -> Result<TableDescriptor, crate::encoding::DecodeError> {
        let id = DescriptorId(reader.u64()?);
        let version = reader.u64()?;
        let state = read_state(reader)?;
        let (database, schema) = (DescriptorId(reader.u64()?), DescriptorId(reader.u64()?));
        let name = read_string(reader)?;
        let mut columns = Vec::new();
        for _ in 0..read_count(reader)? {
            let id = ColumnId(read_u32(reader)?);
            let name = read_string(reader)?;
            let data_type = read_type(reader)?;
            let (nullable, hidden) = (read_bool(reader)?, read_bool(reader)?);
            let default = read_optional(reader)?;
            columns.push(ColumnDescriptor { id, name, data_type, nullable, default, hidden });
        }
        let next_column_id = ColumnId(read_u32(reader)?);
        let primary_index = read_index(reader, format)?;
        let indexes = (0..read_count(reader)?).map(|_| read_index(reader, format)).collect::<Result<_, _>>()?;
        let next_index_id = IndexId(reader.u64()?);
        let mut checks = Vec::new();
        for _ in 0..read_count(reader)? {
            checks.push(CheckConstraint { name: read_string(reader)?, expression: read_string(reader)? });
        }
        Ok(TableDescriptor {
            id,
            version,
            state,
            database,
            schema,
            name,
            columns,
            next_column_id,
            primary_index,
            indexes,
            next_index_id,
            checks,
        })
    };
    let descriptor = read(reader).map_err(|error| error.to_string())?;
    std::mem::replace(reader, Reader::new(&[])).finish().map_err(|error| error.to_string())?;
    Ok(descriptor)
}

type Decoded<T> = Result<T, crate::encoding::DecodeError>;

fn invalid(what: &str) -> crate::encoding::DecodeError {
    crate::encoding::DecodeError(what.to_string())
}

fn read_count(reader: &mut Reader) -> Decoded<u64> {
    let count = reader.u64()?;
    // Every element takes at least a byte: a larger count is corruption, not a reason to loop.
    if count > 1 << 20 {
        return Err(invalid("a count out of range"));
    }
    Ok(count)
}

fn read_u32(reader: &mut Reader) -> Decoded<u32> {
    u32::try_from(reader.u64()?).map_err(|_| invalid("an id out of range"))
}

fn read_bool(reader: &mut Reader) -> Decoded<bool> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(invalid("a boolean other than 0 or 1")),
    }
}

fn read_string(reader: &mut Reader) -> Decoded<String> {
    String::from_utf8(reader.bytes()?.to_vec()).map_err(|_| invalid("a name that is not UTF-8"))
}

fn write_optional(writer: &mut Writer, value: Option<&str>) {
    match value {
        None => writer.u8(0),
        Some(text) => writer.u8(1).bytes(text.as_bytes()),
    };
}

fn read_optional(reader: &mut Reader) -> Decoded<Option<String>> {
    Ok(if read_bool(reader)? { Some(read_string(reader)?) } else { None })
}

fn state_code(state: DescriptorState) -> u8 {
    match state {
        DescriptorState::Public => 1,
        DescriptorState::DeleteOnly => 2,
        DescriptorState::WriteOnly => 3,
        DescriptorState::Dropped => 4,
    }
}

fn read_state(reader: &mut Reader) -> Decoded<DescriptorState> {
    Ok(match reader.u8()? {
        1 => DescriptorState::Public,
        2 => DescriptorState::DeleteOnly,
        3 => DescriptorState::WriteOnly,
        4 => DescriptorState::Dropped,
        _ => return Err(invalid("an unknown state")),
    })
}

fn write_type(writer: &mut Writer, data_type: DataType) {
    let (code, length) = match data_type {
        DataType::Bool => (1, 0),
        DataType::Int2 => (2, 0),
        DataType::Int4 => (3, 0),
        DataType::Int8 => (4, 0),
        DataType::Float4 => (5, 0),
        DataType::Float8 => (6, 0),
        DataType::Text => (7, 0),
        DataType::Varchar(None) => (8, 0),
        DataType::Varchar(Some(length)) => (9, u64::from(length)),
        DataType::Numeric(None) => (10, 0),
        DataType::Numeric(Some((precision, scale))) => (11, (u64::from(precision) << 16) | u64::from(scale as u16)),
        DataType::Char(None) => (12, 0),
        DataType::Char(Some(length)) => (13, u64::from(length)),
        DataType::Bytea => (14, 0),
        DataType::Uuid => (15, 0),
        DataType::Date => (16, 0),
        DataType::Timestamp => (17, 0),
        DataType::TimestampTz => (18, 0),
        DataType::Interval => (19, 0),
        DataType::Jsonb => (20, 0),
        DataType::Unknown => unreachable!("columns have known types"),
    };
    writer.u8(code).u64(length);
}

fn read_type(reader: &mut Reader) -> Decoded<DataType> {
    let (code, length) = (reader.u8()?, reader.u64()?);
    let length = u32::try_from(length).map_err(|_| invalid("a type length out of range"))?;
    Ok(match (code, length) {
        (1, 0) => DataType::Bool,
        (2, 0) => DataType::Int2,
        (3, 0) => DataType::Int4,
        (4, 0) => DataType::Int8,
        (5, 0) => DataType::Float4,
        (6, 0) => DataType::Float8,
        (7, 0) => DataType::Text,
        (8, 0) => DataType::Varchar(None),
        (9, length) if length > 0 => DataType::Varchar(Some(length)),
        (10, 0) => DataType::Numeric(None),
        (11, modifier) => DataType::Numeric(Some(((modifier >> 16) as u16, modifier as u16 as i16))),
        (12, 0) => DataType::Char(None),
        (13, length) if length > 0 => DataType::Char(Some(length)),
        (14, 0) => DataType::Bytea,
        (15, 0) => DataType::Uuid,
        (16, 0) => DataType::Date,
        (17, 0) => DataType::Timestamp,
        (18, 0) => DataType::TimestampTz,
        (19, 0) => DataType::Interval,
        (20, 0) => DataType::Jsonb,
        _ => return Err(invalid("an unknown type")),
    })
}

fn write_index(writer: &mut Writer, index: &IndexDescriptor) {
    writer.u64(index.id.0).bytes(index.name.as_bytes()).u8(u8::from(index.unique)).u8(state_code(index.state));
    writer.u64(index.columns.len() as u64);
    for (column, direction) in &index.columns {
        writer.u64(u64::from(column.0)).u8(u8::from(*direction == Direction::Descending));
    }
    writer.u8(u8::from(index.backs_constraint));
}

fn read_index(reader: &mut Reader, format: u8) -> Decoded<IndexDescriptor> {
    let id = IndexId(reader.u64()?);
    let name = read_string(reader)?;
    let unique = read_bool(reader)?;
    let state = read_state(reader)?;
    let mut columns = Vec::new();
    for _ in 0..read_count(reader)? {
        let column = ColumnId(read_u32(reader)?);
        let direction = if read_bool(reader)? { Direction::Descending } else { Direction::Ascending };
        columns.push((column, direction));
    }
    let backs_constraint = format >= 2 && read_bool(reader)?;
    Ok(IndexDescriptor { id, name, unique, columns, state, backs_constraint })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn accounts() -> TableDescriptor {
        let column = |id, name: &str, data_type, nullable| ColumnDescriptor {
            id: ColumnId(id),
            name: name.into(),
            data_type,
            nullable,
            default: None,
            hidden: false,
        };
        TableDescriptor {
            id: DescriptorId(104),
            version: 3,
            state: DescriptorState::Public,
            database: DescriptorId(1),
            schema: DescriptorId(2),
            name: "accounts".into(),
            columns: vec![
                column(1, "id", DataType::Int8, false),
                ColumnDescriptor { default: Some("0".into()), ..column(2, "balance", DataType::Int4, true) },
                column(4, "owner", DataType::Varchar(Some(40)), true),
                column(5, "rate", DataType::Numeric(Some((10, -2))), true),
            ],
            next_column_id: ColumnId(6),
            primary_index: IndexDescriptor {
                id: IndexId::PRIMARY,
                name: "accounts_pkey".into(),
                unique: true,
                columns: vec![(ColumnId(1), Direction::Ascending)],
                state: DescriptorState::Public,
                backs_constraint: true,
            },
            indexes: vec![IndexDescriptor {
                id: IndexId(2),
                name: "accounts_owner_idx".into(),
                unique: false,
                columns: vec![(ColumnId(4), Direction::Descending)],
                state: DescriptorState::WriteOnly,
                backs_constraint: false,
            }],
            next_index_id: IndexId(3),
            checks: vec![CheckConstraint { name: "accounts_balance_check".into(), expression: "balance >= 0".into() }],
        }
    }

    #[test]
    fn a_descriptor_round_trips_and_every_truncation_is_an_error() {
        let descriptor = accounts();
        let bytes = descriptor.encode();
        assert_eq!(TableDescriptor::decode(&bytes), Ok(descriptor));
        for length in 0..bytes.len() {
            assert!(TableDescriptor::decode(&bytes[..length]).is_err(), "a descriptor cut at {length} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(TableDescriptor::decode(&longer).is_err(), "trailing bytes");
    }
}
