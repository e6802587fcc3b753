//! DDL: statements that change the catalog, each inside the statement's
//! transaction like any other write, so a failure (a duplicate found while
//! backfilling a unique index) leaves nothing behind.
//!
//! CREATE INDEX backfills in the same transaction: it reads the table in
//! bounded batches and writes one entry per row. The writes stay buffered
//! until the commit, so a very large table makes a very large transaction;
//! F1's states (write-only, then backfilled, then public, each a transaction
//! of its own) are what lifts that limit, and the descriptor format has them.

use super::super::binder::alter::undefined_column;
use super::super::cast;
use super::super::catalog::{self, CheckConstraint, TableDescriptor};
use super::super::error::{Notice, SqlError, SqlResult, SqlState};
use super::super::expression::{truth, Context, Expression};
use super::super::kv::KeyValueTransaction;
use super::super::plan::{Access, Node, Plan, TableChange};
use super::super::row::{ColumnId, DescriptorId, IndexId};
use super::index_entries::entry_of;
use super::row_changes::describe_key;
use super::table_rows::{key_of_row, value_of_row};
use super::write::bound_checks;
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
        Plan::Truncate { tables, restart_identity } => {
            for table in &tables {
                let mut descriptor = current(kv, table.id).await?;
                catalog::truncate_table(kv, &mut descriptor, restart_identity).await?;
            }
            command("TRUNCATE TABLE")
        }
        Plan::AlterTable { table, changes } => {
            if changes.is_empty() {
                return command("ALTER TABLE");
            }
            let mut descriptor = current(kv, table.id).await?;
            for change in changes {
                alter_table(kv, context, &mut descriptor, change).await?;
            }
            descriptor.version += 1;
            catalog::update_table(kv, &descriptor).await?;
            command("ALTER TABLE")
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

/// The descriptor of table `id` as the transaction sees it now.
async fn current(kv: &mut impl KeyValueTransaction, id: DescriptorId) -> SqlResult<TableDescriptor> {
    catalog::table(kv, id).await?.ok_or_else(|| SqlError::corrupted(format!("table {id:?} vanished")))
}

fn duplicate_column(column: &str, table: &str) -> SqlError {
    SqlError::new(SqlState::DUPLICATE_COLUMN, format!("column \"{column}\" of relation \"{table}\" already exists"))
}

/// Applies one ALTER TABLE change to `descriptor` (stored by the caller).
async fn alter_table<K: KeyValueTransaction>(
    kv: &mut K,
    context: &Context<'_>,
    descriptor: &mut TableDescriptor,
    change: TableChange,
) -> SqlResult<()> {
    match change {
        TableChange::AddColumn { mut column, default, checks } => {
            if descriptor.column(&column.name).is_some() {
                return Err(duplicate_column(&column.name, &descriptor.name));
            }
            column.id = descriptor.next_column_id;
            descriptor.next_column_id = ColumnId(column.id.0 + 1);
            let needs_rows = default.is_some() || !column.nullable || !checks.is_empty();
            descriptor.columns.push(column);
            descriptor.checks.extend(checks.iter().cloned());
            if needs_rows {
                fill_new_column(kv, context, descriptor, default, &checks).await?;
            }
        }
        TableChange::DropColumn { name } => {
            let column = descriptor.column(&name).ok_or_else(|| undefined_column(&name, &descriptor.name))?.id;
            if descriptor.primary_index.columns.iter().any(|(id, _)| *id == column) {
                return Err(SqlError::unsupported("dropping a primary-key column"));
            }
            let dependent: Vec<IndexId> = descriptor
                .indexes
                .iter()
                .filter(|index| index.columns.iter().any(|(id, _)| *id == column))
                .map(|index| index.id)
                .collect();
            for index in dependent {
                catalog::drop_index(kv, descriptor, index).await?;
            }
            descriptor.columns.retain(|candidate| candidate.id != column);
            // A CHECK that names the column goes with it, as in PostgreSQL.
            let checks = std::mem::take(&mut descriptor.checks);
            for check in checks {
                let probe = TableDescriptor { checks: vec![check.clone()], ..descriptor.clone() };
                if bound_checks(&probe).is_ok() {
                    descriptor.checks.push(check);
                }
            }
        }
        TableChange::RenameColumn { from, to } => {
            let position =
                descriptor.columns.iter().position(|column| column.name == from && !column.hidden).ok_or_else(
                    || SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{from}\" does not exist")),
                )?;
            if descriptor.column(&to).is_some() {
                return Err(duplicate_column(&to, &descriptor.name));
            }
            descriptor.columns[position].name = to;
            if bound_checks(descriptor).is_err() {
                return Err(SqlError::unsupported("renaming a column that a CHECK constraint names"));
            }
        }
        TableChange::Rename { to } => catalog::rename_table(kv, descriptor, &to).await?,
    }
    Ok(())
}

/// Gives every row the new (last) column's default, refusing a NULL in a NOT
/// NULL column and a row that breaks one of the new `checks`.
async fn fill_new_column<K: KeyValueTransaction>(
    kv: &mut K,
    context: &Context<'_>,
    descriptor: &TableDescriptor,
    default: Option<Expression>,
    checks: &[CheckConstraint],
) -> SqlResult<()> {
    let table = Arc::new(descriptor.clone());
    let position = table.columns.len() - 1;
    let column = &table.columns[position];
    let bound: Vec<(String, Expression)> =
        bound_checks(&table)?.into_iter().filter(|(name, _)| checks.iter().any(|check| check.name == *name)).collect();
    let mut rows = Cursor::new(Node::Scan { table: table.clone(), access: Access::Full });
    while let Some(mut row) = rows.next(kv, context).await? {
        if let Some(default) = &default {
            let zone = context.time_zone.unwrap_or_default();
            row[position] = cast::assign(default.evaluate(&[], context)?, column.data_type, &column.name, zone)?;
        }
        if row[position].is_null() && !column.nullable {
            return Err(SqlError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!("column \"{}\" of relation \"{}\" contains null values", column.name, table.name),
            ));
        }
        for (name, check) in &bound {
            if truth(check.evaluate(&row, context)?)? == Some(false) {
                return Err(SqlError::new(
                    SqlState::CHECK_VIOLATION,
                    format!("check constraint \"{name}\" of relation \"{}\" is violated by some row", table.name),
                ));
            }
        }
        kv.put(&key_of_row(&table, &row)?, Some(value_of_row(&table, &row))).await?;
    }
    Ok(())
}
