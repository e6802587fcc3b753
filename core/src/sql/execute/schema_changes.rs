//! DDL: statements that change the catalog, each inside the statement's
//! transaction like any other write, so a failure (a duplicate found while
//! backfilling a unique index) leaves nothing behind.
//!
//! CREATE INDEX backfills in the same transaction: it reads the table in
//! bounded batches and writes one entry per row. The writes stay buffered
//! until the commit, so a very large table makes a very large transaction;
//! F1's states (write-only, then backfilled, then public, each a transaction
//! of its own) are what lifts that limit, and the descriptor format has them.

use super::super::catalog;
use super::super::error::{Notice, SqlError, SqlResult, SqlState};
use super::super::expression::Context;
use super::super::kv::KeyValueTransaction;
use super::super::plan::{Access, Node, Plan};
use super::index_entries::entry_of;
use super::row_changes::describe_key;
use super::{Cursor, Output};
use std::sync::Arc;

pub async fn execute<K: KeyValueTransaction>(
    plan: Plan,
    kv: &mut K,
    context: &Context<'_>,
    notices: &mut Vec<Notice>,
) -> SqlResult<Output> {
    let command = |tag: &str| Ok(Output::Command { tag: tag.into() });
    match plan {
        Plan::CreateTable { mut descriptor, sequences, if_not_exists } => {
            if if_not_exists && catalog::relation(kv, &descriptor.name).await?.is_some() {
                notices.push(Notice::new(format!("relation \"{}\" already exists, skipping", descriptor.name)));
                return command("CREATE TABLE");
            }
            descriptor.id = catalog::allocate_id(kv).await?;
            catalog::create_table(kv, &descriptor).await?;
            for mut sequence in sequences {
                sequence.id = catalog::allocate_id(kv).await?;
                sequence.owner = sequence.owner.map(|(_, column)| (descriptor.id, column));
                catalog::create_sequence(kv, &sequence).await?;
            }
            command("CREATE TABLE")
        }
        Plan::CreateSequence { mut sequence, if_not_exists } => {
            if if_not_exists && catalog::relation(kv, &sequence.name).await?.is_some() {
                notices.push(Notice::new(format!("relation \"{}\" already exists, skipping", sequence.name)));
                return command("CREATE SEQUENCE");
            }
            sequence.id = catalog::allocate_id(kv).await?;
            catalog::create_sequence(kv, &sequence).await?;
            command("CREATE SEQUENCE")
        }
        Plan::DropSequence { sequences } => {
            for sequence in &sequences {
                catalog::drop_sequence(kv, sequence).await?;
            }
            command("DROP SEQUENCE")
        }
        Plan::DropTable { tables } => {
            for table in &tables {
                catalog::drop_table(kv, table).await?;
            }
            command("DROP TABLE")
        }
        Plan::CreateIndex { table, mut index, if_not_exists } => {
            if if_not_exists && catalog::relation(kv, &index.name).await?.is_some() {
                notices.push(Notice::new(format!("relation \"{}\" already exists, skipping", index.name)));
                return command("CREATE INDEX");
            }
            let mut descriptor = (*table).clone();
            index.id = descriptor.next_index_id;
            catalog::add_index(kv, &mut descriptor, index.clone()).await?;
            backfill(kv, context, Arc::new(descriptor), &index).await?;
            command("CREATE INDEX")
        }
        Plan::DropIndex { indexes } => {
            for (table, index) in indexes {
                // Read again: an earlier index of the same statement changed the descriptor.
                let mut descriptor = catalog::table(kv, table)
                    .await?
                    .ok_or_else(|| SqlError::corrupted(format!("an index of missing table {table:?}")))?;
                catalog::drop_index(kv, &mut descriptor, index).await?;
            }
            command("DROP INDEX")
        }
        other => unreachable!("not a schema change: {other}"),
    }
}

/// Writes `index`'s entry for every row of `table` (whose descriptor has the
/// index already); 23505 at the first two rows with one unique value.
async fn backfill<K: KeyValueTransaction>(
    kv: &mut K,
    context: &Context<'_>,
    table: Arc<catalog::TableDescriptor>,
    index: &catalog::IndexDescriptor,
) -> SqlResult<()> {
    let mut rows = Cursor::new(Node::Scan { table: table.clone(), access: Access::Full });
    while let Some(row) = rows.next(kv, context).await? {
        let entry = entry_of(&table, index, &row)?;
        if entry.is_exclusive && kv.get(&entry.key).await?.is_some() {
            return Err(SqlError::new(
                SqlState::UNIQUE_VIOLATION,
                format!("could not create unique index \"{}\"", index.name),
            )
            .with_detail(format!("Key {} is duplicated.", describe_key(&table, index, &row))));
        }
        kv.put(&entry.key, Some(entry.value)).await?;
    }
    Ok(())
}
