//! Binding DDL: CREATE/DROP TABLE and CREATE/DROP INDEX become plans that
//! carry whole descriptors.
//!
//! Names nobody gave are PostgreSQL's: `t_pkey` for a primary key, `t_a_key`
//! for a UNIQUE constraint on `a`, `t_a_b_idx` for an index on `a, b`, each
//! with a number appended when taken (`t_a_idx1`). A PRIMARY KEY or UNIQUE
//! constraint is enforced by a unique index of the same name, which goes with
//! its constraint rather than by DROP INDEX.

use std::sync::Arc;

use sqlparser::ast::{self, ColumnOption, Expr, OrderBySort, TableConstraint};

use super::expression::{data_type_of, fold, Scope, ScopeColumn};
use super::sequences::{sequence_options, serial_type};
use super::{table_name, Binder, ROW_ID_COLUMN};
use crate::sql::catalog::{
    self, ColumnDescriptor, DescriptorState, IndexDescriptor, Relation, SequenceDescriptor, SequenceOptions,
    TableDescriptor,
};
use crate::sql::error::{Notice, SqlError, SqlResult, SqlState};
use crate::sql::kv::KeyValueTransaction;
use crate::sql::plan::Plan;
use crate::sql::row::{ColumnId, DescriptorId, Direction, IndexId};
use crate::sql::types::DataType;

/// A PRIMARY KEY or UNIQUE constraint as declared.
struct KeyConstraint {
    name: Option<String>,
    columns: Vec<(String, Direction)>,
}

impl<K: KeyValueTransaction> Binder<'_, K> {
    pub(super) async fn create_table(&mut self, create: &ast::CreateTable) -> SqlResult<Plan> {
        if create.query.is_some() || create.like.is_some() || create.clone.is_some() {
            return Err(SqlError::unsupported("CREATE TABLE AS and LIKE"));
        }
        if create.temporary {
            return Err(SqlError::unsupported("temporary tables"));
        }
        let name = table_name(&create.name)?;
        let mut columns: Vec<ColumnDescriptor> = Vec::new();
        let mut primary_key: Option<KeyConstraint> = None;
        let mut uniques = Vec::new();
        let mut checks = Vec::new();
        let mut owned_sequences: Vec<(ColumnId, SequenceOptions)> = Vec::new();
        for (index, column) in create.columns.iter().enumerate() {
            let column_name = fold(&column.name);
            if columns.iter().any(|existing| existing.name == column_name) {
                return Err(SqlError::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column \"{column_name}\" specified more than once"),
                ));
            }
            let serial = serial_type(&column.data_type);
            let data_type = match serial {
                Some(data_type) => data_type,
                None => data_type_of(&column.data_type)?,
            };
            let mut descriptor = ColumnDescriptor {
                id: ColumnId(index as u32 + 1),
                name: column_name.clone(),
                data_type,
                nullable: serial.is_none(),
                default: None,
                hidden: false,
            };
            if serial.is_some() {
                let options = SequenceOptions { data_type: Some(data_type), ..Default::default() };
                owned_sequences.push((descriptor.id, options));
            }
            for option in &column.options {
                let constraint_name = option.name.as_ref().map(fold);
                let this_column = || vec![(column_name.clone(), Direction::Ascending)];
                match &option.option {
                    ColumnOption::Null => {}
                    ColumnOption::NotNull => descriptor.nullable = false,
                    ColumnOption::Default(expression) => {
                        // Bound now, so that a bad default fails the CREATE, not the first INSERT.
                        let scope = Scope::default();
                        let bound = self.expressions(&scope).bind(expression)?;
                        self.expressions(&scope).coerce(bound, data_type)?;
                        descriptor.default = Some(expression.to_string());
                    }
                    ColumnOption::PrimaryKey(_) => {
                        if primary_key.is_some() {
                            return Err(multiple_primary_keys(&name));
                        }
                        primary_key = Some(KeyConstraint { name: constraint_name, columns: this_column() });
                    }
                    ColumnOption::Unique(unique) => {
                        refuse_unique_options(unique)?;
                        uniques.push(KeyConstraint { name: constraint_name, columns: this_column() });
                    }
                    ColumnOption::Check(check) => checks.push(catalog::CheckConstraint {
                        name: constraint_name.unwrap_or_else(|| format!("{name}_{column_name}_check")),
                        expression: check.expr.to_string(),
                    }),
                    ColumnOption::Generated {
                        generated_as: ast::GeneratedAs::ByDefault,
                        sequence_options: identity_options,
                        generation_expr: None,
                        ..
                    } => {
                        if !matches!(data_type, DataType::Int2 | DataType::Int4 | DataType::Int8) {
                            return Err(SqlError::new(
                                SqlState::INVALID_PARAMETER_VALUE,
                                "identity column type must be smallint, integer, or bigint",
                            ));
                        }
                        let mut options = sequence_options(identity_options.as_deref().unwrap_or_default())?;
                        options.data_type = Some(data_type);
                        descriptor.nullable = false;
                        owned_sequences.push((descriptor.id, options));
                    }
                    ColumnOption::Generated { .. } => {
                        return Err(SqlError::unsupported("GENERATED ALWAYS and generated columns"))
                    }
                    other => return Err(SqlError::unsupported(format!("the column option {other}"))),
                }
            }
            columns.push(descriptor);
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::PrimaryKey(key) => {
                    if primary_key.is_some() {
                        return Err(multiple_primary_keys(&name));
                    }
                    let columns = key.columns.iter().map(index_column).collect::<SqlResult<_>>()?;
                    primary_key = Some(KeyConstraint { name: key.name.as_ref().map(fold), columns });
                }
                TableConstraint::Unique(unique) => {
                    refuse_unique_options(unique)?;
                    let columns = unique.columns.iter().map(index_column).collect::<SqlResult<_>>()?;
                    uniques.push(KeyConstraint { name: unique.name.as_ref().map(fold), columns });
                }
                TableConstraint::Check(check) => checks.push(catalog::CheckConstraint {
                    name: check.name.as_ref().map(fold).unwrap_or_else(|| format!("{name}_check")),
                    expression: check.expr.to_string(),
                }),
                other => return Err(SqlError::unsupported(format!("the constraint {other}"))),
            }
        }
        let mut taken: Vec<String> = vec![name.clone()];
        let primary_index = match primary_key {
            Some(key) => {
                let key_columns = column_ids(&columns, &key.columns)?;
                let index_name = self.constraint_name(key.name, format!("{name}_pkey"), &mut taken).await?;
                constraint_index(IndexId::PRIMARY, index_name, key_columns)
            }
            None => {
                let id = ColumnId(columns.len() as u32 + 1);
                columns.push(ColumnDescriptor {
                    id,
                    name: ROW_ID_COLUMN.into(),
                    data_type: DataType::Int8,
                    nullable: false,
                    default: None,
                    hidden: true,
                });
                // A hidden key backs no constraint, but DROP INDEX must not take it either.
                constraint_index(IndexId::PRIMARY, format!("{name}_pkey"), vec![(id, Direction::Ascending)])
            }
        };
        let primary_key_ids: Vec<ColumnId> = primary_index.columns.iter().map(|(id, _)| *id).collect();
        // The primary key's columns are NOT NULL; a UNIQUE constraint's are not.
        for column in columns.iter_mut().filter(|column| primary_key_ids.contains(&column.id)) {
            column.nullable = false;
        }
        let mut indexes = Vec::new();
        for unique in uniques {
            let ids = column_ids(&columns, &unique.columns)?;
            let base = format!("{name}_{}_key", joined_names(&unique.columns));
            let index_name = self.constraint_name(unique.name, base, &mut taken).await?;
            let id = IndexId(IndexId::PRIMARY.0 + 1 + indexes.len() as u64);
            let mut index = constraint_index(id, index_name, ids);
            index.unique = true;
            indexes.push(index);
        }
        let mut sequences = Vec::new();
        for (column, options) in owned_sequences {
            let position = columns.iter().position(|candidate| candidate.id == column).expect("a declared column");
            let base = format!("{name}_{}_seq", columns[position].name);
            let sequence_name = self.constraint_name(None, base, &mut taken).await?;
            let mut sequence = SequenceDescriptor::new(sequence_name.clone(), &options)?;
            sequence.owner = Some((DescriptorId(0), column));
            columns[position].default = Some(format!("nextval('{sequence_name}')"));
            sequences.push(sequence);
        }
        self.check_checks(&name, &columns, &checks)?;
        let next_column_id = ColumnId(columns.len() as u32 + 1);
        let next_index_id = IndexId(IndexId::PRIMARY.0 + 1 + indexes.len() as u64);
        let descriptor = TableDescriptor {
            id: DescriptorId(0),
            version: 1,
            state: DescriptorState::Public,
            database: catalog::DEFAULT_DATABASE,
            schema: catalog::PUBLIC_SCHEMA,
            name,
            columns,
            next_column_id,
            primary_index,
            indexes,
            next_index_id,
            checks,
        };
        Ok(Plan::CreateTable { descriptor, sequences, if_not_exists: create.if_not_exists })
    }

    /// A constraint's given name, or a free one made from `base`.
    async fn constraint_name(
        &mut self,
        given: Option<String>,
        base: String,
        taken: &mut Vec<String>,
    ) -> SqlResult<String> {
        let name = match given {
            Some(name) => name,
            None => catalog::free_name(self.kv, &base, taken).await?,
        };
        if taken.contains(&name) {
            return Err(SqlError::new(SqlState::DUPLICATE_TABLE, format!("relation \"{name}\" already exists")));
        }
        taken.push(name.clone());
        Ok(name)
    }

    /// Binds each CHECK against the new table's columns, so a bad one fails the CREATE.
    fn check_checks(
        &mut self,
        table: &str,
        columns: &[ColumnDescriptor],
        checks: &[catalog::CheckConstraint],
    ) -> SqlResult<()> {
        let scope = Scope {
            columns: columns
                .iter()
                .map(|column| ScopeColumn {
                    table: table.to_string(),
                    name: column.name.clone(),
                    data_type: column.data_type,
                    hidden: column.hidden,
                })
                .collect(),
        };
        for check in checks {
            let parsed = crate::sql::parser::parse_expression(&check.expression)?;
            self.expressions(&scope).bind_condition(&parsed, "CHECK")?;
        }
        Ok(())
    }

    pub(super) async fn create_index(&mut self, create: &ast::CreateIndex) -> SqlResult<Plan> {
        if !create.include.is_empty() || create.predicate.is_some() || create.nulls_distinct == Some(false) {
            return Err(SqlError::unsupported("partial, covering and NULLS NOT DISTINCT indexes"));
        }
        if let Some(method) = create.using.as_ref().filter(|method| !matches!(method, ast::IndexType::BTree)) {
            return Err(SqlError::unsupported(format!("the index method {method}")));
        }
        refuse_storage_parameters(&create.with)?;
        let table = self.table(&create.table_name).await?;
        let declared = create.columns.iter().map(index_column).collect::<SqlResult<Vec<_>>>()?;
        let columns = declared
            .iter()
            .map(|(name, direction)| {
                let column = table.column(name).filter(|column| !column.hidden);
                let column = column.ok_or_else(|| {
                    SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" does not exist"))
                })?;
                Ok((column.id, *direction))
            })
            .collect::<SqlResult<Vec<_>>>()?;
        let name = match &create.name {
            Some(name) => table_name(name)?,
            None => {
                let base = format!("{}_{}_idx", table.name, joined_names(&declared));
                catalog::free_name(self.kv, &base, &[]).await?
            }
        };
        let index = IndexDescriptor {
            id: IndexId(0),
            name,
            unique: create.unique,
            columns,
            state: DescriptorState::Public,
            backs_constraint: false,
        };
        Ok(Plan::CreateIndex { table, index, if_not_exists: create.if_not_exists })
    }

    pub(super) async fn drop_index(&mut self, names: &[ast::ObjectName], if_exists: bool) -> SqlResult<Plan> {
        let mut indexes = Vec::new();
        for name in names {
            let name = table_name(name)?;
            match catalog::relation(self.kv, &name).await? {
                None if if_exists => {
                    self.notices.push(Notice::new(format!("index \"{name}\" does not exist, skipping")))
                }
                None => {
                    return Err(SqlError::new(SqlState::UNDEFINED_OBJECT, format!("index \"{name}\" does not exist")))
                }
                Some(Relation::Table(_)) => {
                    return Err(catalog::wrong_object_type(format!("\"{name}\" is not an index"))
                        .with_hint("Use DROP TABLE to remove a table."))
                }
                Some(Relation::Sequence(_)) => {
                    return Err(catalog::wrong_object_type(format!("\"{name}\" is not an index"))
                        .with_hint("Use DROP SEQUENCE to remove a sequence."))
                }
                Some(Relation::Index { table, index }) => {
                    let descriptor = catalog::table(self.kv, table)
                        .await?
                        .ok_or_else(|| SqlError::corrupted(format!("index {name:?} of a missing table")))?;
                    let backs_constraint = index == descriptor.primary_index.id
                        || descriptor.index(index).is_none_or(|index| index.backs_constraint);
                    if backs_constraint {
                        return Err(SqlError::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            format!(
                                "cannot drop index {name} because constraint {name} on table {} requires it",
                                descriptor.name
                            ),
                        )
                        .with_hint(format!("You can drop constraint {name} on table {} instead.", descriptor.name)));
                    }
                    indexes.push((table, index));
                }
            }
        }
        Ok(Plan::DropIndex { indexes })
    }

    pub(super) async fn drop_table(&mut self, names: &[ast::ObjectName], if_exists: bool) -> SqlResult<Plan> {
        let mut tables = Vec::new();
        for name in names {
            let name = table_name(name)?;
            match catalog::relation(self.kv, &name).await? {
                Some(Relation::Table(id)) => {
                    let table = catalog::table(self.kv, id).await?;
                    tables
                        .push(Arc::new(table.ok_or_else(|| SqlError::corrupted(format!("{name:?} names no table")))?));
                }
                Some(Relation::Index { .. }) => {
                    return Err(catalog::wrong_object_type(format!("\"{name}\" is not a table"))
                        .with_hint("Use DROP INDEX to remove an index."))
                }
                Some(Relation::Sequence(_)) => {
                    return Err(catalog::wrong_object_type(format!("\"{name}\" is not a table"))
                        .with_hint("Use DROP SEQUENCE to remove a sequence."))
                }
                None if if_exists => {
                    self.notices.push(Notice::new(format!("table \"{name}\" does not exist, skipping")))
                }
                None => {
                    return Err(SqlError::new(SqlState::UNDEFINED_TABLE, format!("table \"{name}\" does not exist")))
                }
            }
        }
        Ok(Plan::DropTable { tables })
    }
}

fn constraint_index(id: IndexId, name: String, columns: Vec<(ColumnId, Direction)>) -> IndexDescriptor {
    IndexDescriptor { id, name, unique: true, columns, state: DescriptorState::Public, backs_constraint: true }
}

/// One column of an index or key: a plain column name, ascending or descending.
fn index_column(column: &ast::IndexColumn) -> SqlResult<(String, Direction)> {
    let Expr::Identifier(identifier) = &column.column.expr else {
        return Err(SqlError::unsupported(format!("indexes on expressions ({})", column.column.expr)));
    };
    if column.operator_class.is_some() {
        return Err(SqlError::unsupported("operator classes"));
    }
    let direction = match &column.column.options.sort {
        None | Some(OrderBySort::Asc) => Direction::Ascending,
        Some(OrderBySort::Desc) => Direction::Descending,
        Some(OrderBySort::Using(_)) => return Err(SqlError::unsupported("USING in an index column")),
    };
    // NULLS LAST for ASC and NULLS FIRST for DESC are the defaults, and all the keys encode.
    let default_nulls_first = direction == Direction::Descending;
    if column.column.options.nulls_first.is_some_and(|first| first != default_nulls_first) {
        return Err(SqlError::unsupported("index columns with non-default NULLS order"));
    }
    Ok((fold(identifier), direction))
}

/// `a_b`: the column names a constraint or index is named after.
fn joined_names(columns: &[(String, Direction)]) -> String {
    columns.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join("_")
}

fn column_ids(columns: &[ColumnDescriptor], names: &[(String, Direction)]) -> SqlResult<Vec<(ColumnId, Direction)>> {
    names
        .iter()
        .map(|(name, direction)| {
            let column = columns.iter().find(|column| column.name == *name).ok_or_else(|| {
                SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" named in key does not exist"))
            })?;
            Ok((column.id, *direction))
        })
        .collect()
}

fn refuse_unique_options(unique: &ast::UniqueConstraint) -> SqlResult<()> {
    if !unique.include.is_empty() || matches!(unique.nulls_distinct, ast::NullsDistinctOption::NotDistinct) {
        return Err(SqlError::unsupported("UNIQUE with INCLUDE or NULLS NOT DISTINCT"));
    }
    Ok(())
}

/// `WITH (fillfactor = 70)` is accepted and means nothing here: ranges, not
/// pages, hold the rows. Any other storage parameter is refused.
fn refuse_storage_parameters(with: &[Expr]) -> SqlResult<()> {
    for parameter in with {
        let name = match parameter {
            Expr::BinaryOp { left, .. } => left.to_string().to_lowercase(),
            other => other.to_string().to_lowercase(),
        };
        if name != "fillfactor" {
            return Err(SqlError::new(SqlState::INVALID_PARAMETER_VALUE, format!("unrecognized parameter \"{name}\"")));
        }
    }
    Ok(())
}

fn multiple_primary_keys(table: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_TABLE_DEFINITION,
        format!("multiple primary keys for table \"{table}\" are not allowed"),
    )
}
