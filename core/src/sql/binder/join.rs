//! Binding FROM: tables, and joins between them (INNER, LEFT, CROSS, and a
//! comma list as cross joins), into one [`Node`] whose row is the left
//! input's columns then the right input's, and a scope naming them all.
//!
//! A join's ON condition binds against both sides. The optimizer splits it
//! into the equalities a hash join can key on and the rest, and pushes WHERE
//! conjuncts that read one side into that side.

use sqlparser::ast::{self, JoinConstraint, JoinOperator, TableFactor};

use super::expression::{fold, Scope};
use super::{table_scope, Binder};
use crate::sql::error::{SqlError, SqlResult, SqlState};
use crate::sql::kv::KeyValueTransaction;
use crate::sql::plan::{Access, JoinKind, Node};

impl<K: KeyValueTransaction> Binder<'_, K> {
    pub(super) async fn bind_from(&mut self, from: &[ast::TableWithJoins]) -> SqlResult<(Node, Scope)> {
        let mut joined: Option<(Node, Scope)> = None;
        for item in from {
            let mut current = self.relation(&item.relation).await?;
            for join in &item.joins {
                let right = self.relation(&join.relation).await?;
                current = self.join(current, right, &join.join_operator)?;
            }
            joined = Some(match joined {
                None => current,
                Some(left) => self.join(left, current, &JoinOperator::CrossJoin(JoinConstraint::None))?,
            });
        }
        Ok(joined.unwrap_or((Node::Nothing, Scope::default())))
    }

    async fn relation(&mut self, relation: &TableFactor) -> SqlResult<(Node, Scope)> {
        match relation {
            TableFactor::Table { name, alias, args: None, .. } => {
                let descriptor = self.table(name).await?;
                let alias = match alias {
                    Some(alias) if alias.columns.is_empty() => fold(&alias.name),
                    Some(_) => return Err(SqlError::unsupported("column aliases on a table")),
                    None => descriptor.name.clone(),
                };
                let scope = table_scope(&descriptor, &alias);
                Ok((Node::Scan { table: descriptor, access: Access::Full }, scope))
            }
            TableFactor::NestedJoin { table_with_joins, alias: None } => {
                Box::pin(self.bind_from(std::slice::from_ref(table_with_joins.as_ref()))).await
            }
            _ => Err(SqlError::unsupported("this FROM item")),
        }
    }

    fn join(&mut self, left: (Node, Scope), right: (Node, Scope), operator: &JoinOperator) -> SqlResult<(Node, Scope)> {
        let (left_node, mut scope) = left;
        let (right_node, right_scope) = right;
        for column in right_scope.columns.iter().take(1) {
            if scope.columns.iter().any(|existing| existing.table == column.table) {
                return Err(SqlError::new(
                    SqlState::DUPLICATE_ALIAS,
                    format!("table name \"{}\" specified more than once", column.table),
                ));
            }
        }
        let right_width = right_scope.columns.len();
        scope.columns.extend(right_scope.columns);
        let (kind, constraint) = match operator {
            JoinOperator::Join(constraint) | JoinOperator::Inner(constraint) => (JoinKind::Inner, constraint),
            JoinOperator::Left(constraint) | JoinOperator::LeftOuter(constraint) => (JoinKind::Left, constraint),
            JoinOperator::CrossJoin(constraint) => (JoinKind::Inner, constraint),
            other => return Err(SqlError::unsupported(format!("the join {}", join_name(other)))),
        };
        let condition = match constraint {
            JoinConstraint::On(condition) => Some(self.expressions(&scope).bind_condition(condition, "JOIN/ON")?),
            JoinConstraint::None => None,
            JoinConstraint::Using(_) | JoinConstraint::UsingAlias(..) => {
                return Err(SqlError::unsupported("JOIN ... USING"))
            }
            JoinConstraint::Natural => return Err(SqlError::unsupported("NATURAL JOIN")),
        };
        if condition.is_none() && kind == JoinKind::Left {
            return Err(SqlError::syntax("syntax error at end of input"));
        }
        let node = Node::Join {
            left: Box::new(left_node),
            right: Box::new(right_node),
            kind,
            right_width,
            equalities: Vec::new(),
            condition,
        };
        Ok((node, scope))
    }
}

fn join_name(operator: &JoinOperator) -> &'static str {
    match operator {
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT JOIN",
        JoinOperator::FullOuter(_) => "FULL JOIN",
        _ => "kind used here",
    }
}
