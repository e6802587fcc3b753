//! Binding ALTER TABLE (ADD, DROP and RENAME COLUMN, RENAME TO) and TRUNCATE.
//!
//! The changes are checked against the descriptor as each earlier change of
//! the same statement leaves it, when they run (`execute::schema_changes`);
//! here they are only parsed, typed and bound.

use sqlparser::ast::{self, AlterTableOperation, ColumnOption};

use super::expression::{data_type_of, fold, Scope};
use super::sequences::serial_type;
use super::{table_name, Binder};
use crate::sql::catalog::{self, CheckConstraint, ColumnDescriptor};
use crate::sql::error::{Notice, SqlError, SqlResult, SqlState};
use crate::sql::kv::KeyValueTransaction;
use crate::sql::plan::{Plan, TableChange};
use crate::sql::row::ColumnId;
use std::sync::Arc;

impl<K: KeyValueTransaction> Binder<'_, K> {
    pub(super) async fn alter_table(&mut self, alter: &ast::AlterTable) -> SqlResult<Plan> {
        let name = table_name(&alter.name)?;
        let Some(table) = catalog::table_by_name(self.kv, &name).await? else {
            if alter.if_exists {
                self.notices.push(Notice::new(format!("relation \"{name}\" does not exist, skipping")));
                return Ok(Plan::AlterTable { table: Arc::new(empty_table()), changes: Vec::new() });
            }
            return Err(SqlError::new(SqlState::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist")));
        };
        let mut changes = Vec::new();
        for operation in &alter.operations {
            changes.push(match operation {
                AlterTableOperation::AddColumn { if_not_exists, column_def, column_position: None, .. } => {
                    let column_name = fold(&column_def.name);
                    if *if_not_exists && table.column(&column_name).is_some() {
                        self.notices.push(Notice::new(format!(
                            "column \"{column_name}\" of relation \"{name}\" already exists, skipping"
                        )));
                        continue;
                    }
                    self.new_column(&name, column_def)?
                }
                AlterTableOperation::DropColumn { column_names, if_exists, .. } => {
                    let [column] = column_names.as_slice() else {
                        return Err(SqlError::unsupported("dropping several columns in one clause"));
                    };
                    let column_name = fold(column);
                    if table.column(&column_name).is_none_or(|column| column.hidden) {
                        if *if_exists {
                            self.notices.push(Notice::new(format!(
                                "column \"{column_name}\" of relation \"{name}\" does not exist, skipping"
                            )));
                            continue;
                        }
                        return Err(undefined_column(&column_name, &name));
                    }
                    TableChange::DropColumn { name: column_name }
                }
                AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                    TableChange::RenameColumn { from: fold(old_column_name), to: fold(new_column_name) }
                }
                AlterTableOperation::RenameTable { table_name: kind } => {
                    let (ast::RenameTableNameKind::As(to) | ast::RenameTableNameKind::To(to)) = kind;
                    TableChange::Rename { to: table_name(to)? }
                }
                other => return Err(SqlError::unsupported(format!("ALTER TABLE {other}"))),
            });
        }
        Ok(Plan::AlterTable { table: Arc::new(table), changes })
    }

    /// ADD COLUMN's column: a type, NULL or NOT NULL, DEFAULT and CHECK.
    fn new_column(&mut self, table: &str, column: &ast::ColumnDef) -> SqlResult<TableChange> {
        if serial_type(&column.data_type).is_some() {
            return Err(SqlError::unsupported("adding a serial column"));
        }
        let name = fold(&column.name);
        let data_type = data_type_of(&column.data_type)?;
        let mut descriptor = ColumnDescriptor {
            id: ColumnId(0),
            name: name.clone(),
            data_type,
            nullable: true,
            default: None,
            hidden: false,
        };
        let mut default = None;
        let mut checks = Vec::new();
        for option in &column.options {
            match &option.option {
                ColumnOption::Null => {}
                ColumnOption::NotNull => descriptor.nullable = false,
                ColumnOption::Default(expression) => {
                    let scope = Scope::default();
                    let bound = self.expressions(&scope).bind(expression)?;
                    default = Some(self.expressions(&scope).coerce(bound, data_type)?.expression);
                    descriptor.default = Some(expression.to_string());
                }
                ColumnOption::Check(check) => checks.push(CheckConstraint {
                    name: option.name.as_ref().map(fold).unwrap_or_else(|| format!("{table}_{name}_check")),
                    expression: check.expr.to_string(),
                }),
                other => return Err(SqlError::unsupported(format!("ADD COLUMN with {other}"))),
            }
        }
        Ok(TableChange::AddColumn { column: descriptor, default, checks })
    }

    pub(super) async fn truncate(&mut self, truncate: &ast::Truncate) -> SqlResult<Plan> {
        let mut tables = Vec::new();
        for target in &truncate.table_names {
            tables.push(self.table(&target.name).await?);
        }
        let restart_identity = matches!(truncate.identity, Some(ast::TruncateIdentityOption::Restart));
        Ok(Plan::Truncate { tables, restart_identity })
    }
}

pub fn undefined_column(column: &str, table: &str) -> SqlError {
    SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{column}\" of relation \"{table}\" does not exist"))
}

/// ALTER TABLE IF EXISTS of a missing table: a plan that changes nothing.
fn empty_table() -> catalog::TableDescriptor {
    use crate::sql::catalog::{DescriptorState, IndexDescriptor};
    use crate::sql::row::{DescriptorId, IndexId};
    catalog::TableDescriptor {
        id: DescriptorId(0),
        version: 0,
        state: DescriptorState::Dropped,
        database: catalog::DEFAULT_DATABASE,
        schema: catalog::PUBLIC_SCHEMA,
        name: String::new(),
        columns: Vec::new(),
        next_column_id: ColumnId(1),
        primary_index: IndexDescriptor {
            id: IndexId::PRIMARY,
            name: String::new(),
            unique: true,
            columns: Vec::new(),
            state: DescriptorState::Dropped,
            backs_constraint: false,
        },
        indexes: Vec::new(),
        next_index_id: IndexId(2),
        checks: Vec::new(),
    }
}
