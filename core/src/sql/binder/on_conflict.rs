//! INSERT ... ON CONFLICT: the arbiter indexes a conflict target names, and
//! DO UPDATE's assignments over the stored row and the proposed one.
//!
//! As in PostgreSQL, a target of columns names the unique indexes (the
//! primary key's included) whose columns are exactly those, in any order;
//! `ON CONSTRAINT name` names one. DO UPDATE needs a target. Its expressions
//! see the stored row under the table's name (or alias) and the proposed row
//! as `excluded`; a column name both have must be qualified (42702).

use sqlparser::ast::{self, ConflictTarget, OnConflictAction};

use super::expression::{fold, ScopeColumn};
use super::{table_scope, Binder};
use crate::sql::catalog::TableDescriptor;
use crate::sql::error::{SqlError, SqlResult, SqlState};
use crate::sql::kv::KeyValueTransaction;
use crate::sql::plan::OnConflict;
use crate::sql::row::IndexId;

impl<K: KeyValueTransaction> Binder<'_, K> {
    pub(super) async fn on_conflict(
        &mut self,
        conflict: &ast::OnConflict,
        table: &TableDescriptor,
        alias: Option<&ast::TableAliasWithoutColumns>,
    ) -> SqlResult<OnConflict> {
        let arbiters = conflict.conflict_target.as_ref().map(|target| arbiters(target, table)).transpose()?;
        match &conflict.action {
            OnConflictAction::DoNothing => Ok(OnConflict::DoNothing { arbiters }),
            OnConflictAction::DoUpdate(update) => {
                let Some(arbiters) = arbiters else {
                    return Err(SqlError::syntax(
                        "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                    )
                    .with_hint("For example, ON CONFLICT (column_name)."));
                };
                let name = alias.map(|alias| fold(&alias.alias)).unwrap_or_else(|| table.name.clone());
                let mut scope = table_scope(table, &name);
                scope.columns.extend(table.columns.iter().map(|column| ScopeColumn {
                    table: "excluded".into(),
                    name: column.name.clone(),
                    data_type: column.data_type,
                    hidden: column.hidden,
                }));
                let assignments = self.assignments(table, &scope, &update.assignments)?;
                let predicate = match &update.selection {
                    Some(selection) => Some(self.expressions(&scope).bind_condition(selection, "WHERE")?),
                    None => None,
                };
                Ok(OnConflict::DoUpdate { arbiters, assignments, predicate })
            }
        }
    }
}

/// The unique indexes a conflict target names; 42P10 when none matches.
fn arbiters(target: &ConflictTarget, table: &TableDescriptor) -> SqlResult<Vec<IndexId>> {
    let found: Vec<IndexId> = match target {
        ConflictTarget::Columns { predicate: Some(_), .. } => {
            return Err(SqlError::unsupported("ON CONFLICT with an index predicate"))
        }
        ConflictTarget::Columns { columns, predicate: None } => {
            let mut named = Vec::new();
            for column in columns {
                let name = fold(column);
                let column = table.column(&name).filter(|column| !column.hidden).ok_or_else(|| {
                    SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" does not exist"))
                })?;
                named.push(column.id);
            }
            named.sort_unstable();
            named.dedup();
            table
                .all_indexes()
                .filter(|index| index.unique)
                .filter(|index| {
                    let mut columns: Vec<_> = index.columns.iter().map(|(id, _)| *id).collect();
                    columns.sort_unstable();
                    columns == named
                })
                .map(|index| index.id)
                .collect()
        }
        ConflictTarget::OnConstraint(name) => {
            let name = name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
            let index = table.all_indexes().find(|index| index.name == name && index.backs_constraint);
            let index = index.ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("constraint \"{name}\" for table \"{}\" does not exist", table.name),
                )
            })?;
            vec![index.id]
        }
    };
    if found.is_empty() {
        return Err(SqlError::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        ));
    }
    Ok(found)
}
