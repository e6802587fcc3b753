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
use super::super::catalog::{self, TableDescriptor};
use super::super::error::{Notice, SqlError, SqlResult, SqlState};
use super::super::expression::{truth, Context, Expression};
use super::super::kv::KeyValueTransaction;
use super::super::plan::{Plan, Returning};
use super::super::types::Value;
use super::table_rows::{describe_row, key_of_row, value_of_row};
use super::{collect, Output, Row};

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
        Plan::Insert { table, targets, source, defaults, on_conflict_do_nothing, returning } => {
            let checks = bound_checks(&table)?;
            let source_rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            let mut inserted = 0u64;
            for source_row in source_rows {
                let mut row = vec![Value::Null; table.columns.len()];
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
                let key = key_of_row(&table, &row)?;
                if kv.get(&key).await?.is_some() {
                    if on_conflict_do_nothing {
                        continue;
                    }
                    return Err(duplicate_key(&table, &row));
                }
                kv.put(&key, Some(value_of_row(&table, &row))).await?;
                inserted += 1;
                push_returning(&returning, &row, context, &mut returned)?;
            }
            Ok(finish(returning, returned, format!("INSERT 0 {inserted}")))
        }
        Plan::Update { table, source, assignments, returning } => {
            let checks = bound_checks(&table)?;
            let rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            for old in &rows {
                let mut new = old.clone();
                for (position, expression) in &assignments {
                    new[*position] = expression.evaluate(old, context)?;
                }
                let new = checked_row(&table, new, &checks, context)?;
                let (old_key, new_key) = (key_of_row(&table, old)?, key_of_row(&table, &new)?);
                if old_key != new_key {
                    if kv.get(&new_key).await?.is_some() {
                        return Err(duplicate_key(&table, &new));
                    }
                    kv.put(&old_key, None).await?;
                }
                kv.put(&new_key, Some(value_of_row(&table, &new))).await?;
                push_returning(&returning, &new, context, &mut returned)?;
            }
            Ok(finish(returning, returned, format!("UPDATE {}", rows.len())))
        }
        Plan::Delete { table, source, returning } => {
            let rows = collect(source, kv, context).await?;
            let mut returned = Vec::new();
            for row in &rows {
                kv.put(&key_of_row(&table, row)?, None).await?;
                push_returning(&returning, row, context, &mut returned)?;
            }
            Ok(finish(returning, returned, format!("DELETE {}", rows.len())))
        }
        Plan::CreateTable { mut descriptor, if_not_exists } => {
            if catalog::table_by_name(kv, &descriptor.name).await?.is_some() && if_not_exists {
                notices.push(Notice::new(format!("relation \"{}\" already exists, skipping", descriptor.name)));
                return Ok(Output::Command { tag: "CREATE TABLE".into() });
            }
            descriptor.id = catalog::allocate_id(kv).await?;
            catalog::create_table(kv, &descriptor).await?;
            Ok(Output::Command { tag: "CREATE TABLE".into() })
        }
        Plan::DropTable { tables } => {
            for table in &tables {
                catalog::drop_table(kv, table).await?;
            }
            Ok(Output::Command { tag: "DROP TABLE".into() })
        }
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
fn bound_checks(table: &TableDescriptor) -> SqlResult<Vec<(String, Expression)>> {
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

fn duplicate_key(table: &TableDescriptor, row: &[Value]) -> SqlError {
    let index = &table.primary_index;
    let names: Vec<&str> = index
        .columns
        .iter()
        .map(|(id, _)| table.column_by_id(*id).map(|column| column.name.as_str()).unwrap_or("?"))
        .collect();
    let values: Vec<String> = index
        .columns
        .iter()
        .map(|(id, _)| {
            table.position_of(*id).and_then(|position| row[position].to_text()).unwrap_or_else(|| "null".into())
        })
        .collect();
    SqlError::new(
        SqlState::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{}\"", index.name),
    )
    .with_detail(format!("Key ({})=({}) already exists.", names.join(", "), values.join(", ")))
}
