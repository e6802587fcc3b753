//! The catalog: descriptors, names and id counters, all rows of system tables
//! in the key space, read and written in the statement's own transaction. DDL
//! is therefore transactional: a CREATE TABLE inside BEGIN..ROLLBACK leaves
//! nothing behind, and two sessions creating one name conflict like any two
//! writers of one key.
//!
//! ```text
//! descriptors  /1/1/<id>                          -> table descriptor
//! namespace    /2/1/<database>/<schema>/<name>    -> table id, or table id and index id
//! counters     /3/1/<counter name>                -> next value
//! sequences    /4/1/<id>                          -> sequence descriptor
//! sequence values /5/1/<id>                       -> last value handed out
//! retired spans /6/1/<table>/<index>              -> empty: an index TRUNCATE left
//! ```
//! (each under the SQL prefix of `row`). Index names share the namespace with
//! tables, as PostgreSQL's relations do: `create table t_pkey` fails once a
//! table `t` has a primary key. Ids 1 to 99 are the system's: the
//! three system tables, the `postgres` database (1) and its `public` schema
//! (2) are built in rather than stored; user descriptors start at 100.

pub mod descriptor;
pub mod sequence;

pub use descriptor::{CheckConstraint, ColumnDescriptor, DescriptorState, IndexDescriptor, TableDescriptor};
pub use sequence::{SequenceDescriptor, SequenceOptions};

use super::error::{SqlError, SqlResult, SqlState};
use super::kv::KeyValueTransaction;
use super::row::{index_key_writer, index_prefix, table_prefix, DescriptorId, IndexId};
use crate::keys::{Key, KeyEnd, KeyReader};

pub const DESCRIPTORS_TABLE: DescriptorId = DescriptorId(1);
pub const NAMESPACE_TABLE: DescriptorId = DescriptorId(2);
pub const COUNTERS_TABLE: DescriptorId = DescriptorId(3);
pub const SEQUENCES_TABLE: DescriptorId = DescriptorId(4);
pub const SEQUENCE_VALUES_TABLE: DescriptorId = DescriptorId(5);
/// Index spans no descriptor names any more, kept for the collector that will
/// clear them with a range deletion (TRUNCATE leaves them, to be instant).
pub const RETIRED_SPANS_TABLE: DescriptorId = DescriptorId(6);
/// The one database so far.
pub const DEFAULT_DATABASE: DescriptorId = DescriptorId(1);
pub const DEFAULT_DATABASE_NAME: &str = "postgres";
/// The one schema so far.
pub const PUBLIC_SCHEMA: DescriptorId = DescriptorId(2);
pub const PUBLIC_SCHEMA_NAME: &str = "public";
/// The first id given to a user's descriptor.
pub const FIRST_USER_ID: u64 = 100;
const DESCRIPTOR_ID_COUNTER: &str = "descriptor id";
/// Rows deleted per scan while a table's data is cleared.
const CLEAR_BATCH_ROWS: usize = 1024;

fn descriptor_key(id: DescriptorId) -> Key {
    index_key_writer(DESCRIPTORS_TABLE, IndexId::PRIMARY).u64(id.0).finish_key()
}

fn name_key(database: DescriptorId, schema: DescriptorId, name: &str) -> Key {
    index_key_writer(NAMESPACE_TABLE, IndexId::PRIMARY).u64(database.0).u64(schema.0).string(name).finish_key()
}

fn counter_key(name: &str) -> Key {
    index_key_writer(COUNTERS_TABLE, IndexId::PRIMARY).string(name).finish_key()
}

fn decode_u64(bytes: &[u8], what: &str) -> SqlResult<u64> {
    let bytes: [u8; 8] =
        bytes.try_into().map_err(|_| SqlError::corrupted(format!("{what} of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// What a name in a schema stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Table(DescriptorId),
    Index { table: DescriptorId, index: IndexId },
    Sequence(DescriptorId),
}

impl Relation {
    /// A kind byte, then the ids.
    fn encode(self) -> Vec<u8> {
        match self {
            Relation::Table(id) => [&[1u8][..], &id.0.to_be_bytes()].concat(),
            Relation::Index { table, index } => [&[2u8][..], &table.0.to_be_bytes(), &index.0.to_be_bytes()].concat(),
            Relation::Sequence(id) => [&[3u8][..], &id.0.to_be_bytes()].concat(),
        }
    }

    fn decode(bytes: &[u8]) -> SqlResult<Relation> {
        let id = |bytes: &[u8]| decode_u64(bytes, "a namespace entry").map(DescriptorId);
        match (bytes.first(), bytes.len()) {
            (Some(1), 9) => Ok(Relation::Table(id(&bytes[1..])?)),
            (Some(2), 17) => Ok(Relation::Index {
                table: id(&bytes[1..9])?,
                index: IndexId(decode_u64(&bytes[9..], "an index id")?),
            }),
            (Some(3), 9) => Ok(Relation::Sequence(id(&bytes[1..])?)),
            _ => Err(SqlError::corrupted(format!("a namespace entry {bytes:?}"))),
        }
    }
}

/// What `name` names in the public schema, if anything.
pub async fn relation(kv: &mut impl KeyValueTransaction, name: &str) -> SqlResult<Option<Relation>> {
    let found = kv.get(&name_key(DEFAULT_DATABASE, PUBLIC_SCHEMA, name)).await?;
    found.map(|bytes| Relation::decode(&bytes)).transpose()
}

/// 42809, as PostgreSQL answers a name of the wrong kind of relation.
pub fn wrong_object_type(message: String) -> SqlError {
    SqlError::new(SqlState::WRONG_OBJECT_TYPE, message)
}

pub async fn table(kv: &mut impl KeyValueTransaction, id: DescriptorId) -> SqlResult<Option<TableDescriptor>> {
    let found = kv.get(&descriptor_key(id)).await?;
    found.map(|bytes| TableDescriptor::decode(&bytes)).transpose()
}

/// The table `name` names in the public schema, if any; an index's name is
/// an error (42809).
pub async fn table_by_name(kv: &mut impl KeyValueTransaction, name: &str) -> SqlResult<Option<TableDescriptor>> {
    let id = match relation(kv, name).await? {
        None => return Ok(None),
        Some(Relation::Table(id)) => id,
        Some(Relation::Index { .. }) => return Err(wrong_object_type(format!("\"{name}\" is an index"))),
        Some(Relation::Sequence(_)) => return Err(SqlError::unsupported(format!("reading sequence \"{name}\""))),
    };
    let descriptor = table(kv, id).await?;
    let descriptor =
        descriptor.ok_or_else(|| SqlError::corrupted(format!("name {name:?} points at missing {id:?}")))?;
    Ok(Some(descriptor))
}

/// Allocates the next descriptor id.
pub async fn allocate_id(kv: &mut impl KeyValueTransaction) -> SqlResult<DescriptorId> {
    let key = counter_key(DESCRIPTOR_ID_COUNTER);
    let next = match kv.get(&key).await? {
        Some(bytes) => decode_u64(&bytes, "the descriptor id counter")?,
        None => FIRST_USER_ID,
    };
    kv.put(&key, Some((next + 1).to_be_bytes().to_vec())).await?;
    Ok(DescriptorId(next))
}

fn duplicate_relation(name: &str) -> SqlError {
    SqlError::new(SqlState::DUPLICATE_TABLE, format!("relation \"{name}\" already exists"))
}

/// Enters `name` into the public schema; 42P07 if it is taken.
async fn claim_name(kv: &mut impl KeyValueTransaction, name: &str, relation: Relation) -> SqlResult<()> {
    let key = name_key(DEFAULT_DATABASE, PUBLIC_SCHEMA, name);
    if kv.get(&key).await?.is_some() {
        return Err(duplicate_relation(name));
    }
    kv.put(&key, Some(relation.encode())).await
}

/// `base`, or `base1`, `base2`, ... : the first name neither in the schema nor
/// in `taken`, as PostgreSQL names an index or constraint nobody named.
pub async fn free_name(kv: &mut impl KeyValueTransaction, base: &str, taken: &[String]) -> SqlResult<String> {
    for suffix in 0u32.. {
        let name = if suffix == 0 { base.to_string() } else { format!("{base}{suffix}") };
        if !taken.contains(&name) && relation(kv, &name).await?.is_none() {
            return Ok(name);
        }
    }
    unreachable!("some suffix is free")
}

/// Stores a new table under its name and its indexes under theirs; 42P07 if a name is taken.
pub async fn create_table(kv: &mut impl KeyValueTransaction, descriptor: &TableDescriptor) -> SqlResult<()> {
    claim_name(kv, &descriptor.name, Relation::Table(descriptor.id)).await?;
    for index in descriptor.named_indexes() {
        claim_name(kv, &index.name, Relation::Index { table: descriptor.id, index: index.id }).await?;
    }
    kv.put(&descriptor_key(descriptor.id), Some(descriptor.encode())).await
}

/// Adds `index` to the table (whose descriptor the caller has not changed):
/// its name, and the descriptor with the index and a new version. The caller
/// backfills the entries.
pub async fn add_index(
    kv: &mut impl KeyValueTransaction,
    descriptor: &mut TableDescriptor,
    index: IndexDescriptor,
) -> SqlResult<()> {
    claim_name(kv, &index.name, Relation::Index { table: descriptor.id, index: index.id }).await?;
    descriptor.next_index_id = IndexId(descriptor.next_index_id.0.max(index.id.0) + 1);
    descriptor.indexes.push(index);
    descriptor.version += 1;
    update_table(kv, descriptor).await
}

/// Removes secondary index `index`: its name, its entry in the descriptor
/// (with a new version) and its entries.
pub async fn drop_index(
    kv: &mut impl KeyValueTransaction,
    descriptor: &mut TableDescriptor,
    index: IndexId,
) -> SqlResult<()> {
    let position = descriptor.indexes.iter().position(|candidate| candidate.id == index);
    let position = position.ok_or_else(|| SqlError::corrupted(format!("{index:?} is not an index of its table")))?;
    let removed = descriptor.indexes.remove(position);
    kv.put(&name_key(descriptor.database, descriptor.schema, &removed.name), None).await?;
    descriptor.version += 1;
    update_table(kv, descriptor).await?;
    clear_index(kv, descriptor.id, index).await
}

/// Stores a changed descriptor (the caller bumped its version).
pub async fn update_table(kv: &mut impl KeyValueTransaction, descriptor: &TableDescriptor) -> SqlResult<()> {
    kv.put(&descriptor_key(descriptor.id), Some(descriptor.encode())).await
}

/// Removes a table: its name, its descriptor and every row of every index.
/// The rows are deleted one by one in this transaction, bounded in memory by
/// batches but not in intents; a range tombstone is the better tool, later.
pub async fn drop_table(kv: &mut impl KeyValueTransaction, descriptor: &TableDescriptor) -> SqlResult<()> {
    kv.put(&name_key(descriptor.database, descriptor.schema, &descriptor.name), None).await?;
    for index in descriptor.named_indexes() {
        kv.put(&name_key(descriptor.database, descriptor.schema, &index.name), None).await?;
    }
    kv.put(&descriptor_key(descriptor.id), None).await?;
    for sequence in owned_sequences(kv, descriptor.id).await? {
        drop_sequence(kv, &sequence).await?;
    }
    clear_span(kv, table_prefix(descriptor.id)).await
}

/// The sequences the columns of table `table` own.
async fn owned_sequences(kv: &mut impl KeyValueTransaction, table: DescriptorId) -> SqlResult<Vec<SequenceDescriptor>> {
    let prefix = index_prefix(SEQUENCES_TABLE, IndexId::PRIMARY);
    let end = KeyEnd::of_prefix(&prefix);
    let mut start = prefix;
    let mut owned = Vec::new();
    loop {
        let scanned = kv.scan(&start, &end, CLEAR_BATCH_ROWS).await?;
        for (_, value) in &scanned.rows {
            let sequence = SequenceDescriptor::decode(value)?;
            if sequence.owner.is_some_and(|(owner, _)| owner == table) {
                owned.push(sequence);
            }
        }
        match scanned.resume {
            Some(resume) => start = resume,
            None => return Ok(owned),
        }
    }
}

/// Deletes every row of one index (TRUNCATE's old index ids, a dropped index).
pub async fn clear_index(kv: &mut impl KeyValueTransaction, table: DescriptorId, index: IndexId) -> SqlResult<()> {
    clear_span(kv, index_prefix(table, index)).await
}

async fn clear_span(kv: &mut impl KeyValueTransaction, prefix: Key) -> SqlResult<()> {
    let end = KeyEnd::of_prefix(&prefix);
    let mut start = prefix;
    loop {
        let scanned = kv.scan(&start, &end, CLEAR_BATCH_ROWS).await?;
        for (key, _) in &scanned.rows {
            kv.put(&Key(key.clone()), None).await?;
        }
        match scanned.resume {
            Some(resume) => start = resume,
            None => return Ok(()),
        }
    }
}

/// The tables of the public schema, by name (indexes left out).
pub async fn table_names(kv: &mut impl KeyValueTransaction) -> SqlResult<Vec<(String, DescriptorId)>> {
    let prefix =
        index_key_writer(NAMESPACE_TABLE, IndexId::PRIMARY).u64(DEFAULT_DATABASE.0).u64(PUBLIC_SCHEMA.0).finish_key();
    let end = KeyEnd::of_prefix(&prefix);
    let mut rows = Vec::new();
    let mut start = prefix.clone();
    loop {
        let scanned = kv.scan(&start, &end, CLEAR_BATCH_ROWS).await?;
        rows.extend(scanned.rows);
        match scanned.resume {
            Some(resume) => start = resume,
            None => break,
        }
    }
    let mut tables = Vec::new();
    for (key, value) in &rows {
        let mut reader = KeyReader::new(&key[prefix.0.len()..]);
        let name = reader.string().map_err(|error| SqlError::corrupted(format!("a namespace key: {error}")))?;
        if let Relation::Table(id) = Relation::decode(value)? {
            tables.push((name, id));
        }
    }
    Ok(tables)
}

fn sequence_key(id: DescriptorId) -> Key {
    index_key_writer(SEQUENCES_TABLE, IndexId::PRIMARY).u64(id.0).finish_key()
}

/// Where sequence `id` keeps the last value it handed out (absent: none yet).
pub fn sequence_value_key(id: DescriptorId) -> Key {
    index_key_writer(SEQUENCE_VALUES_TABLE, IndexId::PRIMARY).u64(id.0).finish_key()
}

/// A sequence value row's bytes: the last value handed out.
pub fn encode_sequence_value(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub fn decode_sequence_value(bytes: &[u8]) -> SqlResult<i64> {
    Ok(decode_u64(bytes, "a sequence value")? as i64)
}

/// Stores a new sequence under its name; 42P07 if the name is taken.
pub async fn create_sequence(kv: &mut impl KeyValueTransaction, sequence: &SequenceDescriptor) -> SqlResult<()> {
    claim_name(kv, &sequence.name, Relation::Sequence(sequence.id)).await?;
    kv.put(&sequence_key(sequence.id), Some(sequence.encode())).await
}

pub async fn sequence(kv: &mut impl KeyValueTransaction, id: DescriptorId) -> SqlResult<Option<SequenceDescriptor>> {
    let found = kv.get(&sequence_key(id)).await?;
    found.map(|bytes| SequenceDescriptor::decode(&bytes)).transpose()
}

/// The sequence `name` names, or 42P01 (42809 for another kind of relation).
pub async fn sequence_by_name(kv: &mut impl KeyValueTransaction, name: &str) -> SqlResult<SequenceDescriptor> {
    match relation(kv, name).await? {
        Some(Relation::Sequence(id)) => sequence(kv, id)
            .await?
            .ok_or_else(|| SqlError::corrupted(format!("name {name:?} points at missing sequence {id:?}"))),
        Some(_) => Err(wrong_object_type(format!("\"{name}\" is not a sequence"))),
        None => Err(SqlError::new(SqlState::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist"))),
    }
}

/// Removes a sequence: its name, its descriptor and its value.
pub async fn drop_sequence(kv: &mut impl KeyValueTransaction, sequence: &SequenceDescriptor) -> SqlResult<()> {
    kv.put(&name_key(DEFAULT_DATABASE, PUBLIC_SCHEMA, &sequence.name), None).await?;
    kv.put(&sequence_key(sequence.id), None).await?;
    kv.put(&sequence_value_key(sequence.id), None).await
}

/// Empties a table by giving each of its indexes a new id (and its name the
/// new id): the old entries stay where they were, out of every reader's
/// sight, listed in the retired spans table. RESTART IDENTITY also rewinds
/// the sequences its columns own.
pub async fn truncate_table(
    kv: &mut impl KeyValueTransaction,
    descriptor: &mut TableDescriptor,
    restart_identity: bool,
) -> SqlResult<()> {
    let named: Vec<IndexId> = descriptor.named_indexes().map(|index| index.id).collect();
    let table = descriptor.id;
    let mut next = descriptor.next_index_id;
    for index in std::iter::once(&mut descriptor.primary_index).chain(descriptor.indexes.iter_mut()) {
        let retired = index_key_writer(RETIRED_SPANS_TABLE, IndexId::PRIMARY).u64(table.0).u64(index.id.0).finish_key();
        kv.put(&retired, Some(Vec::new())).await?;
        let was_named = named.contains(&index.id);
        index.id = next;
        next = IndexId(next.0 + 1);
        if was_named {
            let name = name_key(descriptor.database, descriptor.schema, &index.name);
            kv.put(&name, Some(Relation::Index { table, index: index.id }.encode())).await?;
        }
    }
    descriptor.next_index_id = next;
    descriptor.version += 1;
    update_table(kv, descriptor).await?;
    if restart_identity {
        for sequence in owned_sequences(kv, table).await? {
            kv.put(&sequence_value_key(sequence.id), None).await?;
        }
    }
    Ok(())
}

/// Gives a table a new name; 42P07 if it is taken.
pub async fn rename_table(
    kv: &mut impl KeyValueTransaction,
    descriptor: &mut TableDescriptor,
    name: &str,
) -> SqlResult<()> {
    claim_name(kv, name, Relation::Table(descriptor.id)).await?;
    kv.put(&name_key(descriptor.database, descriptor.schema, &descriptor.name), None).await?;
    descriptor.name = name.to_string();
    descriptor.version += 1;
    update_table(kv, descriptor).await
}
