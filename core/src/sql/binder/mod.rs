//! The binder: a parsed statement, checked against the catalog, becomes a
//! [`Plan`]. Tables are looked up in the statement's own transaction, so a
//! statement sees the schema its transaction sees (its own DDL included).
//!
//! What is not supported yet is refused here with SQLSTATE 0A000 naming the
//! feature, never silently ignored.

pub mod alter;
pub mod expression;
mod join;
mod on_conflict;
mod schema;
mod sequences;

use std::sync::Arc;

use sqlparser::ast::{
    self, Expr, FromTable, GroupByExpr, LimitClause, ObjectName, OnInsert, OrderByKind, Query, Select, SelectItem,
    SetExpr, Statement, TableFactor, TableObject,
};

use self::expression::{
    fold, has_aggregate, output_name, Aggregation, Bound, ExpressionBinder, Parameters, Scope, ScopeColumn,
};
use super::catalog::{self, TableDescriptor};
use super::error::{Notice, SqlError, SqlResult, SqlState};
use super::expression::Expression;
use super::kv::KeyValueTransaction;
use super::plan::{Access, Node, OnConflict, OutputColumn, Plan, Returning, SortKey};
use super::types::{DataType, Value};

/// The name of the hidden primary-key column of a table declared without one.
pub const ROW_ID_COLUMN: &str = "rowid";

/// Binds statements in one transaction.
pub struct Binder<'a, K: KeyValueTransaction> {
    kv: &'a mut K,
    pub parameters: Parameters,
    /// Notices for the client (`table "t" does not exist, skipping`).
    pub notices: Vec<Notice>,
    /// While the clauses above an aggregation bind: its groups and calls.
    aggregation: Option<Aggregation>,
}

fn undefined_table(name: &str) -> SqlError {
    SqlError::new(SqlState::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist"))
}

/// A table name in the one schema there is: `t` or `public.t`.
pub fn table_name(name: &ObjectName) -> SqlResult<String> {
    let parts: Vec<String> = name.0.iter().map(|part| part.as_ident().map(fold).unwrap_or_default()).collect();
    match parts.as_slice() {
        [table] => Ok(table.clone()),
        [schema, table] if schema == catalog::PUBLIC_SCHEMA_NAME || schema == "pg_temp" => Ok(table.clone()),
        [schema, _] => Err(SqlError::new(SqlState("3F000"), format!("schema \"{schema}\" does not exist"))),
        _ => Err(SqlError::unsupported(format!("the name {name}"))),
    }
}

fn table_scope(table: &TableDescriptor, alias: &str) -> Scope {
    let columns = table
        .columns
        .iter()
        .map(|column| ScopeColumn {
            table: alias.to_string(),
            name: column.name.clone(),
            data_type: column.data_type,
            hidden: column.hidden,
        })
        .collect();
    Scope { columns }
}

impl<'a, K: KeyValueTransaction> Binder<'a, K> {
    /// `parameter_types`: what the client declared or the values are, by `$n - 1`; None
    /// (or unknown) for a parameter whose type the statement decides.
    pub fn new(kv: &'a mut K, parameter_types: &[Option<DataType>]) -> Binder<'a, K> {
        let types =
            parameter_types.iter().map(|data_type| data_type.filter(|known| *known != DataType::Unknown)).collect();
        let parameters = Parameters { types };
        Binder { kv, parameters, notices: Vec::new(), aggregation: None }
    }

    async fn table(&mut self, name: &ObjectName) -> SqlResult<Arc<TableDescriptor>> {
        let at = name.0.first().and_then(|part| part.as_ident()).map(|identifier| identifier.span.start);
        let table_name = table_name(name)?;
        let table = catalog::table_by_name(self.kv, &table_name).await?;
        let missing = || {
            let error = undefined_table(&table_name);
            match at {
                Some(at) => error.at_location(at.line, at.column),
                None => error,
            }
        };
        table.map(Arc::new).ok_or_else(missing)
    }

    fn expressions<'s>(&'s mut self, scope: &'s Scope) -> ExpressionBinder<'s> {
        ExpressionBinder { scope, parameters: &mut self.parameters, aggregation: self.aggregation.as_mut() }
    }

    pub async fn bind(&mut self, statement: &Statement) -> SqlResult<Plan> {
        match statement {
            Statement::Query(query) => {
                let (root, columns) = self.query(query).await?;
                Ok(Plan::Query { root, columns })
            }
            Statement::Insert(insert) => self.insert(insert).await,
            Statement::Update(update) => self.update(update).await,
            Statement::Delete(delete) => self.delete(delete).await,
            Statement::CreateTable(create) => self.create_table(create).await,
            Statement::CreateIndex(create) => self.create_index(create).await,
            Statement::Drop { object_type: ast::ObjectType::Table, if_exists, names, .. } => {
                self.drop_table(names, *if_exists).await
            }
            Statement::Drop { object_type: ast::ObjectType::Index, if_exists, names, .. } => {
                self.drop_index(names, *if_exists).await
            }
            Statement::Drop { object_type: ast::ObjectType::Sequence, if_exists, names, .. } => {
                self.drop_sequence(names, *if_exists).await
            }
            Statement::AlterTable(alter) => self.alter_table(alter).await,
            Statement::Truncate(truncate) => self.truncate(truncate).await,
            Statement::CreateSequence { temporary, if_not_exists, name, sequence_options } => {
                self.create_sequence(name, sequence_options, *if_not_exists, *temporary).await
            }
            Statement::Explain { statement, analyze: false, .. } => {
                let plan = Box::pin(self.bind(statement)).await?;
                Ok(Plan::Explain(Box::new(plan)))
            }
            other => Err(SqlError::unsupported(statement_kind(other))),
        }
    }

    async fn query(&mut self, query: &Query) -> SqlResult<(Node, Vec<OutputColumn>)> {
        if query.with.is_some() {
            return Err(SqlError::unsupported("WITH"));
        }
        if query.fetch.is_some() || !query.locks.is_empty() {
            return Err(SqlError::unsupported("FETCH and locking clauses"));
        }
        let order_by = match &query.order_by {
            None => &[][..],
            Some(order_by) => match &order_by.kind {
                OrderByKind::Expressions(expressions) => &expressions[..],
                OrderByKind::All(_) => return Err(SqlError::unsupported("ORDER BY ALL")),
            },
        };
        let (node, columns) = match query.body.as_ref() {
            SetExpr::Select(select) => self.select(select, order_by).await?,
            SetExpr::Values(values) => {
                if !order_by.is_empty() {
                    return Err(SqlError::unsupported("ORDER BY on VALUES"));
                }
                self.values(values)?
            }
            SetExpr::Query(inner) => Box::pin(self.query(inner)).await?,
            _ => return Err(SqlError::unsupported("UNION, INTERSECT and EXCEPT")),
        };
        let node = match &query.limit_clause {
            None => node,
            Some(LimitClause::LimitOffset { limit, offset, limit_by }) if limit_by.is_empty() => {
                let scope = Scope::default();
                let mut bind_count = |expression: &Expr, what: &str| -> SqlResult<Expression> {
                    let bound = self.expressions(&scope).bind(expression)?;
                    let bound = match bound.data_type {
                        DataType::Unknown | DataType::Int2 | DataType::Int4 | DataType::Int8 => {
                            self.expressions(&scope).coerce(bound, DataType::Int8)?
                        }
                        other => {
                            return Err(SqlError::new(
                                SqlState::DATATYPE_MISMATCH,
                                format!("argument of {what} must be type bigint, not type {other}"),
                            ))
                        }
                    };
                    Ok(bound.expression)
                };
                let limit = limit.as_ref().map(|limit| bind_count(limit, "LIMIT")).transpose()?;
                let offset = offset.as_ref().map(|offset| bind_count(&offset.value, "OFFSET")).transpose()?;
                Node::Limit { input: Box::new(node), limit, offset }
            }
            Some(_) => return Err(SqlError::unsupported("this LIMIT form")),
        };
        Ok((node, columns))
    }

    fn values(&mut self, values: &ast::Values) -> SqlResult<(Node, Vec<OutputColumn>)> {
        let scope = Scope::default();
        let mut rows: Vec<Vec<Bound>> = Vec::new();
        for row in &values.rows {
            let row = row
                .content
                .iter()
                .map(|expression| self.expressions(&scope).bind(expression))
                .collect::<SqlResult<Vec<_>>>()?;
            if rows.first().is_some_and(|first| first.len() != row.len()) {
                return Err(SqlError::syntax("VALUES lists must all be the same length"));
            }
            rows.push(row);
        }
        let width = rows.first().map_or(0, Vec::len);
        let mut columns = Vec::new();
        for position in 0..width {
            // The column's type: the first known type among its values (unknown ones read as it).
            let data_type =
                rows.iter().map(|row| row[position].data_type).find(|data_type| *data_type != DataType::Unknown);
            let data_type = data_type.unwrap_or(DataType::Text);
            for row in &mut rows {
                let bound = std::mem::replace(
                    &mut row[position],
                    Bound { expression: Expression::Constant(Value::Null), data_type },
                );
                row[position] = self.expressions(&scope).coerce(bound, data_type)?;
            }
            columns.push(OutputColumn { name: format!("column{}", position + 1), data_type });
        }
        let rows = rows.into_iter().map(|row| row.into_iter().map(|bound| bound.expression).collect()).collect();
        Ok((Node::Values { rows }, columns))
    }

    /// The FROM clause: nothing, or one table.
    async fn from(&mut self, from: &[ast::TableWithJoins]) -> SqlResult<(Node, Scope)> {
        self.bind_from(from).await
    }

    async fn select(&mut self, select: &Select, order_by: &[ast::OrderByExpr]) -> SqlResult<(Node, Vec<OutputColumn>)> {
        if select.distinct.is_some() {
            return Err(SqlError::unsupported("DISTINCT"));
        }
        let group_by = match &select.group_by {
            GroupByExpr::Expressions(expressions, modifiers) if modifiers.is_empty() => expressions,
            _ => return Err(SqlError::unsupported("this GROUP BY form")),
        };
        if select.into.is_some() {
            return Err(SqlError::unsupported("SELECT INTO"));
        }
        let (mut node, scope) = self.from(&select.from).await?;
        if let Some(selection) = &select.selection {
            if has_aggregate(selection) {
                return Err(SqlError::new(SqlState::GROUPING_ERROR, "aggregate functions are not allowed in WHERE"));
            }
            let predicate = self.expressions(&scope).bind_condition(selection, "WHERE")?;
            node = Node::Filter { input: Box::new(node), predicate };
        }
        let projected_aggregate = select.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(expression) | SelectItem::ExprWithAlias { expr: expression, .. } => {
                has_aggregate(expression)
            }
            _ => false,
        });
        let aggregating = !group_by.is_empty()
            || select.having.is_some()
            || projected_aggregate
            || order_by.iter().any(|item| has_aggregate(&item.expr));
        let mut having = None;
        if aggregating {
            let mut groups = Vec::new();
            for expression in group_by {
                let syntax = self.group_syntax(expression, &select.projection)?;
                let bound = self.expressions(&scope).bind(&syntax)?;
                groups.push((syntax, bound));
            }
            self.aggregation = Some(Aggregation { group_by: groups, calls: Vec::new() });
            if let Some(condition) = &select.having {
                having = Some(self.expressions(&scope).bind_condition(condition, "HAVING"));
            }
        }
        let projection = self.projection(&select.projection, &scope);
        let sorted = projection
            .as_ref()
            .ok()
            .filter(|_| !order_by.is_empty())
            .map(|(expressions, columns)| self.sort_keys(order_by, &scope, expressions, columns));
        let aggregation = self.aggregation.take();
        let (expressions, columns) = projection?;
        if let Some(aggregation) = aggregation {
            let group_by = aggregation.group_by.into_iter().map(|(_, bound)| bound.expression).collect();
            node = Node::Aggregate { input: Box::new(node), group_by, calls: aggregation.calls };
            if let Some(predicate) = having.transpose()? {
                node = Node::Filter { input: Box::new(node), predicate };
            }
        }
        if let Some(keys) = sorted.transpose()? {
            node = Node::Sort { input: Box::new(node), keys };
        }
        Ok((Node::Project { input: Box::new(node), expressions }, columns))
    }

    /// A GROUP BY item as the expression it groups by: a select-list position
    /// (`GROUP BY 1`) or alias stands for that item's expression.
    fn group_syntax(&self, expression: &Expr, projection: &[SelectItem]) -> SqlResult<Expr> {
        let item_expression = |item: &SelectItem| match item {
            SelectItem::UnnamedExpr(expression) | SelectItem::ExprWithAlias { expr: expression, .. } => {
                Some(expression.clone())
            }
            _ => None,
        };
        match expression {
            Expr::Value(value) if matches!(value.value, ast::Value::Number(..)) => {
                let ast::Value::Number(text, _) = &value.value else { unreachable!() };
                let position = text.parse::<usize>().ok().filter(|position| (1..=projection.len()).contains(position));
                position.and_then(|position| item_expression(&projection[position - 1])).ok_or_else(|| {
                    SqlError::new(
                        SqlState::INVALID_COLUMN_REFERENCE,
                        format!("GROUP BY position {text} is not in select list"),
                    )
                })
            }
            Expr::Identifier(identifier) => {
                let aliased = projection.iter().find_map(|item| match item {
                    SelectItem::ExprWithAlias { expr, alias } if fold(alias) == fold(identifier) => Some(expr.clone()),
                    _ => None,
                });
                Ok(aliased.unwrap_or_else(|| expression.clone()))
            }
            other => Ok(other.clone()),
        }
    }

    fn projection(&mut self, items: &[SelectItem], scope: &Scope) -> SqlResult<(Vec<Expression>, Vec<OutputColumn>)> {
        let mut expressions = Vec::new();
        let mut columns = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(expression) | SelectItem::ExprWithAlias { expr: expression, .. } => {
                    let bound = self.expressions(scope).bind(expression)?;
                    let bound = match bound.data_type {
                        DataType::Unknown => self.expressions(scope).coerce(bound, DataType::Text)?,
                        _ => bound,
                    };
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => fold(alias),
                        _ => output_name(expression),
                    };
                    expressions.push(bound.expression);
                    columns.push(OutputColumn { name, data_type: bound.data_type });
                }
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    if let (Some(_), Some(first)) =
                        (&self.aggregation, scope.columns.iter().find(|column| !column.hidden))
                    {
                        return Err(SqlError::new(
                            SqlState::GROUPING_ERROR,
                            format!(
                                "column \"{}.{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                                first.table, first.name
                            ),
                        ));
                    }
                    if scope.columns.is_empty() {
                        return Err(SqlError::syntax("SELECT * with no tables specified is not valid"));
                    }
                    let only = match item {
                        SelectItem::QualifiedWildcard(ast::SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                            let name = name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
                            if !scope.columns.iter().any(|column| column.table == name) {
                                return Err(SqlError::new(
                                    SqlState::UNDEFINED_TABLE,
                                    format!("missing FROM-clause entry for table \"{name}\""),
                                ));
                            }
                            Some(name)
                        }
                        SelectItem::QualifiedWildcard(..) => return Err(SqlError::unsupported("expression.*")),
                        _ => None,
                    };
                    for (position, column) in scope.columns.iter().enumerate() {
                        if column.hidden || only.as_ref().is_some_and(|only| *only != column.table) {
                            continue;
                        }
                        expressions.push(Expression::Column(position));
                        columns.push(OutputColumn { name: column.name.clone(), data_type: column.data_type });
                    }
                }
                SelectItem::ExprWithAliases { .. } => {
                    return Err(SqlError::unsupported("several aliases for one expression"))
                }
            }
        }
        Ok((expressions, columns))
    }

    /// ORDER BY items: an output column's position (`ORDER BY 2`) or name, or
    /// any expression over the input.
    fn sort_keys(
        &mut self,
        order_by: &[ast::OrderByExpr],
        scope: &Scope,
        projected: &[Expression],
        columns: &[OutputColumn],
    ) -> SqlResult<Vec<SortKey>> {
        let mut keys = Vec::new();
        for item in order_by {
            let expression = match &item.expr {
                Expr::Value(value) if matches!(value.value, ast::Value::Number(..)) => {
                    let ast::Value::Number(text, _) = &value.value else { unreachable!() };
                    let position =
                        text.parse::<usize>().ok().filter(|position| (1..=projected.len()).contains(position));
                    let position = position.ok_or_else(|| {
                        SqlError::new(
                            SqlState::INVALID_COLUMN_REFERENCE,
                            format!("ORDER BY position {text} is not in select list"),
                        )
                    })?;
                    projected[position - 1].clone()
                }
                Expr::Identifier(identifier) if columns.iter().any(|column| column.name == fold(identifier)) => {
                    let position = columns.iter().position(|column| column.name == fold(identifier)).expect("found");
                    projected[position].clone()
                }
                expression => self.expressions(scope).bind(expression)?.expression,
            };
            let descending = match &item.options.sort {
                None | Some(ast::OrderBySort::Asc) => false,
                Some(ast::OrderBySort::Desc) => true,
                Some(ast::OrderBySort::Using(_)) => return Err(SqlError::unsupported("ORDER BY ... USING")),
            };
            // PostgreSQL: NULLs sort as if larger than every value unless told otherwise.
            let nulls_first = item.options.nulls_first.unwrap_or(descending);
            keys.push(SortKey { expression, descending, nulls_first });
        }
        Ok(keys)
    }

    fn returning(&mut self, items: &Option<Vec<SelectItem>>, table: &TableDescriptor) -> SqlResult<Option<Returning>> {
        let Some(items) = items else { return Ok(None) };
        let scope = table_scope(table, &table.name);
        let (expressions, columns) = self.projection(items, &scope)?;
        Ok(Some(Returning { expressions, columns }))
    }

    async fn insert(&mut self, insert: &ast::Insert) -> SqlResult<Plan> {
        let TableObject::TableName(name) = &insert.table else {
            return Err(SqlError::unsupported("INSERT into a function"));
        };
        let table = self.table(name).await?;
        let targets: Vec<usize> = if insert.columns.is_empty() {
            table.visible_columns().map(|(position, _)| position).collect()
        } else {
            let mut targets = Vec::new();
            for column in &insert.columns {
                let name = column.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
                let position = table.columns.iter().position(|candidate| candidate.name == name).ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{name}\" of relation \"{}\" does not exist", table.name),
                    )
                })?;
                if targets.contains(&position) {
                    return Err(SqlError::syntax(format!("column \"{name}\" specified more than once")));
                }
                targets.push(position);
            }
            targets
        };
        let defaults = self.defaults(&table)?;
        let source = match insert.source.as_deref() {
            Some(query) => match query.body.as_ref() {
                SetExpr::Values(values) if query.order_by.is_none() && query.limit_clause.is_none() => {
                    self.insert_values(values, &table, &targets, &defaults, !insert.columns.is_empty())?
                }
                _ => {
                    let (node, columns) = self.query(query).await?;
                    if columns.len() > targets.len() {
                        return Err(SqlError::syntax("INSERT has more expressions than target columns"));
                    }
                    if columns.len() < targets.len() && !insert.columns.is_empty() {
                        return Err(SqlError::syntax("INSERT has more target columns than expressions"));
                    }
                    // The assignment casts happen as rows are stored (`cast::assign`).
                    node
                }
            },
            None => Node::Values { rows: vec![Vec::new()] },
        };
        let on_conflict = match &insert.on {
            None => OnConflict::Error,
            Some(OnInsert::OnConflict(conflict)) => {
                self.on_conflict(conflict, &table, insert.table_alias.as_ref()).await?
            }
            Some(_) => return Err(SqlError::unsupported("ON DUPLICATE KEY UPDATE")),
        };
        let returning = self.returning(&insert.returning, &table)?;
        Ok(Plan::Insert { table, targets, source, defaults, on_conflict, returning })
    }

    /// Each column's DEFAULT, bound (a default names no column).
    fn defaults(&mut self, table: &TableDescriptor) -> SqlResult<Vec<Option<Expression>>> {
        let scope = Scope::default();
        table
            .columns
            .iter()
            .map(|column| {
                let Some(text) = &column.default else { return Ok(None) };
                let parsed = super::parser::parse_expression(text)?;
                let bound = self.expressions(&scope).bind(&parsed)?;
                Ok(Some(self.expressions(&scope).coerce(bound, column.data_type)?.expression))
            })
            .collect()
    }

    fn insert_values(
        &mut self,
        values: &ast::Values,
        table: &TableDescriptor,
        targets: &[usize],
        defaults: &[Option<Expression>],
        explicit_columns: bool,
    ) -> SqlResult<Node> {
        let scope = Scope::default();
        let mut rows = Vec::new();
        for row in &values.rows {
            if row.content.len() > targets.len() {
                return Err(SqlError::syntax("INSERT has more expressions than target columns"));
            }
            if row.content.len() < targets.len() && explicit_columns {
                return Err(SqlError::syntax("INSERT has more target columns than expressions"));
            }
            let mut bound_row = Vec::new();
            for (expression, &position) in row.content.iter().zip(targets) {
                let column = &table.columns[position];
                let bound = match expression {
                    Expr::Identifier(identifier)
                        if identifier.quote_style.is_none() && identifier.value.eq_ignore_ascii_case("default") =>
                    {
                        defaults[position].clone().unwrap_or(Expression::Constant(Value::Null))
                    }
                    expression => {
                        let bound = self.expressions(&scope).bind(expression)?;
                        match bound.data_type {
                            DataType::Unknown => self.expressions(&scope).coerce(bound, column.data_type)?.expression,
                            _ => bound.expression,
                        }
                    }
                };
                bound_row.push(bound);
            }
            // Columns listed but not given a value in this row take their defaults.
            for &position in &targets[row.content.len()..] {
                bound_row.push(defaults[position].clone().unwrap_or(Expression::Constant(Value::Null)));
            }
            rows.push(bound_row);
        }
        Ok(Node::Values { rows })
    }

    /// The rows of a single-table UPDATE or DELETE: a scan, filtered.
    async fn target_rows(
        &mut self,
        relation: &TableFactor,
        selection: &Option<Expr>,
    ) -> SqlResult<(Arc<TableDescriptor>, Scope, Node)> {
        let TableFactor::Table { name, alias, args: None, .. } = relation else {
            return Err(SqlError::unsupported("this target table"));
        };
        let table = self.table(name).await?;
        let alias = alias.as_ref().map(|alias| fold(&alias.name)).unwrap_or_else(|| table.name.clone());
        let scope = table_scope(&table, &alias);
        let mut node = Node::Scan { table: table.clone(), access: Access::Full };
        if let Some(selection) = selection {
            let predicate = self.expressions(&scope).bind_condition(selection, "WHERE")?;
            node = Node::Filter { input: Box::new(node), predicate };
        }
        Ok((table, scope, node))
    }

    async fn update(&mut self, update: &ast::Update) -> SqlResult<Plan> {
        if update.from.is_some() || !update.table.joins.is_empty() {
            return Err(SqlError::unsupported("UPDATE ... FROM"));
        }
        let (table, scope, source) = self.target_rows(&update.table.relation, &update.selection).await?;
        let assignments = self.assignments(&table, &scope, &update.assignments)?;
        let returning = self.returning(&update.returning, &table)?;
        Ok(Plan::Update { table, source, assignments, returning })
    }

    /// SET's assignments: a column position each, and its new value over `scope`'s row.
    fn assignments(
        &mut self,
        table: &TableDescriptor,
        scope: &Scope,
        assignments: &[ast::Assignment],
    ) -> SqlResult<Vec<(usize, Expression)>> {
        let mut bound = Vec::new();
        for assignment in assignments {
            let ast::AssignmentTarget::ColumnName(name) = &assignment.target else {
                return Err(SqlError::unsupported("assigning to several columns at once"));
            };
            let name = name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
            let position = table.columns.iter().position(|column| column.name == name).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{name}\" of relation \"{}\" does not exist", table.name),
                )
            })?;
            let column_type = table.columns[position].data_type;
            let expression = match &assignment.value {
                Expr::Identifier(identifier)
                    if identifier.quote_style.is_none() && identifier.value.eq_ignore_ascii_case("default") =>
                {
                    self.defaults(table)?[position].clone().unwrap_or(Expression::Constant(Value::Null))
                }
                value => {
                    let bound = self.expressions(scope).bind(value)?;
                    match bound.data_type {
                        DataType::Unknown => self.expressions(scope).coerce(bound, column_type)?.expression,
                        _ => bound.expression,
                    }
                }
            };
            bound.push((position, expression));
        }
        Ok(bound)
    }

    async fn delete(&mut self, delete: &ast::Delete) -> SqlResult<Plan> {
        let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
        if delete.using.is_some() || tables.len() != 1 || !tables[0].joins.is_empty() {
            return Err(SqlError::unsupported("DELETE ... USING"));
        }
        let (table, _, source) = self.target_rows(&tables[0].relation, &delete.selection).await?;
        let returning = self.returning(&delete.returning, &table)?;
        Ok(Plan::Delete { table, source, returning })
    }
}

/// A statement's name for "… is not supported".
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    words.join(" ").to_uppercase()
}
