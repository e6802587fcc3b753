//! Statements that write: INSERT, UPDATE, DELETE, and the DDL that changes
//! the catalog. Each runs inside the statement's transaction, so a failure
//! half-way (a duplicate key on the tenth row) leaves nothing: the session
//! rolls the statement's transaction back.
//!
//! UPDATE and DELETE first collect the rows their filter selects, then change
//! them: a row moved by an update of its key is never met again by the same
//! scan. That holds the selected rows in memory; bounded batches come with the
//! streaming of large writes.

use super::super::binder::expression::{ExpressionBinder, Parameters, Scope, ScopeColumn};
use super::super::cast;
use super::super::catalog::TableDescriptor;
use super::super::error::{Notice, SqlError, SqlResult, SqlState};
use super::super::expression::{truth, Context, Expression};
use super::super::kv::KeyValueTransaction;
use super::super::plan::{OnConflict, Plan, Returning};
use super::super::sequences;
use super::super::types::Value;
use super::row_changes::{delete_row, duplicate_key, find_conflict, insert_row, read_row, update_row, Conflict};
use super::table_rows::describe_row;
use super::{collect, schema_changes, Output, Row};
use crate::keys::Key;

/// Runs a plan that is not a query; `row_id` draws the hidden key of a row
/// inserted into a table without a primary key.
pub async fn execute_write<K: KeyValueTransaction>(
    plan: Plan,
    kv: &mut K,
    context: &Context<'_>,
    notices: &mut Vec<Notice>,
    row_id: &mut impl FnMut() -> i64,
) -> SqlResult<Output> {
    match plan {
        Plan::Insert { table, targets, source, defaults, on_conflict, returning } => {
            let checks = bound_checks(&table)?;
            let source_rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            let mut inserted = 0u64;
            let mut updated_keys = Vec::new();
            let defaults_call_sequences = defaults.iter().flatten().any(sequences::calls_sequences);
            for source_row in source_rows {
                let mut row = vec![Value::Null; table.columns.len()];
                if defaults_call_sequences {
                    let used = defaults.iter().enumerate().filter(|(position, _)| !targets.contains(position));
                    sequences::prepare_in(used.filter_map(|(_, default)| default.as_ref()), kv, context).await?;
                }
                for (position, default) in defaults.iter().enumerate() {
                    if let Some(default) = default.as_ref().filter(|_| !targets.contains(&position)) {
                        row[position] = default.evaluate(&[], context)?;
                    }
                }
                for (value, &position) in source_row.into_iter().zip(&targets) {
                    row[position] = value;
                }
                for (position, column) in table.columns.iter().enumerate() {
                    if column.hidden && row[position].is_null() {
                        row[position] = Value::Int8(row_id());
                    }
                }
                let row = checked_row(&table, row, &checks, context)?;
                let written = match find_conflict(kv, &table, &row, None).await? {
                    None => {
                        insert_row(kv, &table, &row).await?;
                        Some(row)
                    }
                    Some(conflict) => {
                        let change = ConflictChange { table: &table, checks: &checks, context };
                        change.resolve(kv, &on_conflict, conflict, row, &mut updated_keys).await?
                    }
                };
                if let Some(row) = written {
                    inserted += 1;
                    push_returning(&returning, &row, context, &mut returned)?;
                }
            }
            Ok(finish(returning, returned, format!("INSERT 0 {inserted}")))
        }
        Plan::Update { table, source, assignments, returning } => {
            let checks = bound_checks(&table)?;
            let rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            let assignments_call_sequences = assignments.iter().any(|(_, value)| sequences::calls_sequences(value));
            for old in &rows {
                if assignments_call_sequences {
                    sequences::prepare_in(assignments.iter().map(|(_, value)| value), kv, context).await?;
                }
                let mut new = old.clone();
                for (position, expression) in &assignments {
                    new[*position] = expression.evaluate(old, context)?;
                }
                let new = checked_row(&table, new, &checks, context)?;
                update_row(kv, &table, old, &new).await?;
                push_returning(&returning, &new, context, &mut returned)?;
            }
            Ok(finish(returning, returned, format!("UPDATE {}", rows.len())))
        }
        Plan::Delete { table, source, returning } => {
            let rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            for row in &rows {
                delete_row(kv, &table, row).await?;
                push_returning(&returning, row, context, &mut returned)?;
            }
            Ok(finish(returning, returned, format!("DELETE {}", rows.len())))
        }
        Plan::CreateTable { .. }
        | Plan::DropTable { .. }
        | Plan::CreateIndex { .. }
        | Plan::DropIndex { .. }
        | Plan::CreateSequence { .. }
        | Plan::DropSequence { .. }
        | Plan::Truncate { .. }
        | Plan::AlterTable { .. } => schema_changes::execute(plan, kv, context, notices).await,
        Plan::Explain(plan) => {
            let text = plan.to_string();
            let rows = text.lines().map(|line| vec![Value::Text(line.to_string())]).collect::<Vec<_>>();
            let columns = Plan::Explain(plan).output_columns();
            Ok(Output::Rows { columns, rows, tag: "EXPLAIN".into() })
        }
        Plan::Query { .. } => unreachable!("queries run through cursors"),
    }
}

fn finish(returning: Option<Returning>, rows: Vec<Row>, tag: String) -> Output {
    match returning {
        Some(returning) => Output::Rows { columns: returning.columns, rows, tag },
        None => Output::Command { tag },
    }
}

fn push_returning(
    returning: &Option<Returning>,
    row: &[Value],
    context: &Context,
    into: &mut Vec<Row>,
) -> SqlResult<()> {
    if let Some(returning) = returning {
        into.push(
            returning
                .expressions
                .iter()
                .map(|expression| expression.evaluate(row, context))
                .collect::<SqlResult<_>>()?,
        );
    }
    Ok(())
}

/// The table's CHECK constraints, bound against its row.
pub(super) fn bound_checks(table: &TableDescriptor) -> SqlResult<Vec<(String, Expression)>> {
    let scope = Scope {
        columns: table
            .columns
            .iter()
            .map(|column| ScopeColumn {
                table: table.name.clone(),
                name: column.name.clone(),
                data_type: column.data_type,
                hidden: column.hidden,
            })
            .collect(),
    };
    let mut parameters = Parameters::default();
    table
        .checks
        .iter()
        .map(|check| {
            let parsed = super::super::parser::parse_expression(&check.expression)?;
            let mut binder = ExpressionBinder { scope: &scope, parameters: &mut parameters, aggregation: None };
            Ok((check.name.clone(), binder.bind_condition(&parsed, "CHECK")?))
        })
        .collect()
}

/// `row` with every value cast to its column's type, or the constraint it breaks.
fn checked_row(
    table: &TableDescriptor,
    row: Row,
    checks: &[(String, Expression)],
    context: &Context,
) -> SqlResult<Row> {
    let row: Row = row
        .into_iter()
        .zip(&table.columns)
        .map(|(value, column)| {
            cast::assign(value, column.data_type, &column.name, context.time_zone.unwrap_or_default())
        })
        .collect::<SqlResult<_>>()?;
    for (value, column) in row.iter().zip(&table.columns) {
        if value.is_null() && !column.nullable {
            return Err(SqlError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    column.name, table.name
                ),
            )
            .with_detail(format!("Failing row contains {}.", describe_row(table, &row))));
        }
    }
    for (name, check) in checks {
        // A check passes unless it is false: NULL passes, as in PostgreSQL.
        if truth(check.evaluate(&row, context)?)? == Some(false) {
            return Err(SqlError::new(
                SqlState::CHECK_VIOLATION,
                format!("new row for relation \"{}\" violates check constraint \"{name}\"", table.name),
            )
            .with_detail(format!("Failing row contains {}.", describe_row(table, &row))));
        }
    }
    Ok(row)
}

/// What an INSERT's row that collides with a stored row becomes.
struct ConflictChange<'a> {
    table: &'a TableDescriptor,
    checks: &'a [(String, Expression)],
    context: &'a Context<'a>,
}

impl ConflictChange<'_> {
    /// The row written instead of `proposed` (the updated stored row), or None
    /// when nothing is written; 23505 when ON CONFLICT does not cover the collision.
    async fn resolve<K: KeyValueTransaction>(
        &self,
        kv: &mut K,
        on_conflict: &OnConflict,
        conflict: Conflict<'_>,
        proposed: Row,
        updated_keys: &mut Vec<Key>,
    ) -> SqlResult<Option<Row>> {
        let covered = |arbiters: &[super::super::row::IndexId]| arbiters.contains(&conflict.index.id);
        match on_conflict {
            OnConflict::DoNothing { arbiters: None } => Ok(None),
            OnConflict::DoNothing { arbiters: Some(arbiters) } if covered(arbiters) => Ok(None),
            OnConflict::DoUpdate { arbiters, assignments, predicate } if covered(arbiters) => {
                if updated_keys.contains(&conflict.existing) {
                    return Err(SqlError::new(
                        SqlState::CARDINALITY_VIOLATION,
                        "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    )
                    .with_hint(
                        "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                    ));
                }
                let stored = read_row(kv, self.table, &conflict.existing).await?;
                let both: Row = stored.iter().chain(&proposed).cloned().collect();
                if let Some(predicate) = predicate {
                    if truth(predicate.evaluate(&both, self.context)?)? != Some(true) {
                        return Ok(None);
                    }
                }
                let mut new = stored.clone();
                for (position, expression) in assignments {
                    new[*position] = expression.evaluate(&both, self.context)?;
                }
                let new = checked_row(self.table, new, self.checks, self.context)?;
                update_row(kv, self.table, &stored, &new).await?;
                updated_keys.push(super::table_rows::key_of_row(self.table, &new)?);
                Ok(Some(new))
            }
            _ => Err(duplicate_key(self.table, conflict.index, &proposed)),
        }
    }
}
