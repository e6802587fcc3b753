//! Rule-based rewrites of a bound plan, each a pass over the tree:
//!
//! 1. **Constant folding**: an expression that reads no row and no parameter
//!    is evaluated once, here (`1 + 2` becomes `3`). One whose evaluation fails
//!    is left alone, so the error comes when, and only if, the row is reached.
//! 2. **Primary-key lookup**: a filter over a full scan whose conjuncts pin
//!    every primary-key column to a constant or a parameter becomes a point
//!    lookup of one key; the other conjuncts stay as a filter on that row.
//!
//! 3. **Index lookup**: failing that, a secondary index whose leading columns
//!    the conjuncts pin (`email = $1`) is read under those values; the most
//!    columns pinned wins, a unique index pinned whole before a partial one.
//!
//! Spans for ranges of a key (`id > 5`) and limit push-down come later.

use super::catalog::{IndexDescriptor, TableDescriptor};
use super::expression::{BinaryOperator, Context, Expression};
use super::plan::{Access, Node, Plan};

pub fn optimize(plan: Plan) -> Plan {
    match plan {
        Plan::Query { root, columns } => Plan::Query { root: node(root), columns },
        Plan::Insert { table, targets, source, defaults, on_conflict, returning } => {
            Plan::Insert { table, targets, source: node(source), defaults, on_conflict, returning }
        }
        Plan::Update { table, source, assignments, returning } => {
            let assignments =
                assignments.into_iter().map(|(position, expression)| (position, fold(expression))).collect();
            Plan::Update { table, source: node(source), assignments, returning }
        }
        Plan::Delete { table, source, returning } => Plan::Delete { table, source: node(source), returning },
        Plan::Explain(plan) => Plan::Explain(Box::new(optimize(*plan))),
        other => other,
    }
}

fn node(tree: Node) -> Node {
    match tree {
        Node::Filter { input, predicate } if matches!(*input, Node::Join { .. }) => {
            push_into_join(*input, fold(predicate))
        }
        Node::Join { left, right, kind, right_width, mut equalities, condition } => {
            let mut conjuncts = Vec::new();
            if let Some(condition) = condition {
                split_conjuncts(fold(condition), &mut conjuncts);
            }
            let left_width = left.width();
            let mut rest = Vec::new();
            for conjunct in conjuncts {
                match equality_across(&conjunct, left_width) {
                    Some(pair) => equalities.push(pair),
                    None => rest.push(conjunct),
                }
            }
            let condition = rest.into_iter().reduce(|left, right| Expression::And(Box::new(left), Box::new(right)));
            Node::Join {
                left: Box::new(node(*left)),
                right: Box::new(node(*right)),
                kind,
                right_width,
                equalities,
                condition,
            }
        }
        Node::Filter { input, predicate } => {
            let predicate = fold(predicate);
            match node(*input) {
                Node::Scan { table, access: Access::Full } => {
                    let mut conjuncts = Vec::new();
                    split_conjuncts(predicate, &mut conjuncts);
                    let key_positions: Vec<usize> = table
                        .primary_index
                        .columns
                        .iter()
                        .map(|(id, _)| table.position_of(*id).expect("key columns are columns"))
                        .collect();
                    let access = match pin_key(&key_positions, &mut conjuncts)
                        .or_else(|| key_list(&key_positions, &mut conjuncts))
                    {
                        Some(keys) => Access::PrimaryKeys(keys),
                        None => index_access(&table, &mut conjuncts).unwrap_or(Access::Full),
                    };
                    with_filter(Node::Scan { table, access }, conjuncts)
                }
                input => Node::Filter { input: Box::new(input), predicate },
            }
        }
        Node::Values { rows } => {
            Node::Values { rows: rows.into_iter().map(|row| row.into_iter().map(fold).collect()).collect() }
        }
        Node::Sort { input, keys } => Node::Sort {
            input: Box::new(node(*input)),
            keys: keys
                .into_iter()
                .map(|key| super::plan::SortKey { expression: fold(key.expression), ..key })
                .collect(),
        },
        Node::Project { input, expressions } => {
            Node::Project { input: Box::new(node(*input)), expressions: expressions.into_iter().map(fold).collect() }
        }
        Node::Aggregate { input, group_by, calls } => Node::Aggregate {
            input: Box::new(node(*input)),
            group_by: group_by.into_iter().map(fold).collect(),
            calls: calls
                .into_iter()
                .map(|call| super::plan::AggregateCall { argument: call.argument.map(fold), ..call })
                .collect(),
        },
        Node::Limit { input, limit, offset } => {
            Node::Limit { input: Box::new(node(*input)), limit: limit.map(fold), offset: offset.map(fold) }
        }
        other => other,
    }
}

/// WHERE over a join: each conjunct that reads only one side's columns moves
/// into that side (only the left side of a LEFT join: filtering its right
/// side first would keep rows the WHERE drops), the rest stay above.
fn push_into_join(join: Node, predicate: Expression) -> Node {
    let Node::Join { left, right, kind, right_width, equalities, condition } = join else { unreachable!("a join") };
    let left_width = left.width();
    let mut conjuncts = Vec::new();
    split_conjuncts(predicate, &mut conjuncts);
    let (mut to_left, mut to_right, mut above) = (Vec::new(), Vec::new(), Vec::new());
    for conjunct in conjuncts {
        let mut columns = Vec::new();
        columns_of(&conjunct, &mut columns);
        if columns.is_empty() {
            above.push(conjunct);
        } else if columns.iter().all(|column| *column < left_width) {
            to_left.push(conjunct);
        } else if columns.iter().all(|column| *column >= left_width) && kind == super::plan::JoinKind::Inner {
            to_right.push(shift_columns(conjunct, left_width));
        } else {
            above.push(conjunct);
        }
    }
    let join = Node::Join {
        left: Box::new(with_filter(*left, to_left)),
        right: Box::new(with_filter(*right, to_right)),
        kind,
        right_width,
        equalities,
        condition,
    };
    with_filter(node(join), above)
}

/// `left = right` where one side reads only the left input's columns and the
/// other only the right input's: the pair, the right one in its own positions.
fn equality_across(conjunct: &Expression, left_width: usize) -> Option<(Expression, Expression)> {
    let Expression::Binary { operator: BinaryOperator::Equal, left, right } = conjunct else { return None };
    let side = |expression: &Expression| {
        let mut columns = Vec::new();
        columns_of(expression, &mut columns);
        if columns.is_empty() {
            None
        } else if columns.iter().all(|column| *column < left_width) {
            Some(true)
        } else if columns.iter().all(|column| *column >= left_width) {
            Some(false)
        } else {
            None
        }
    };
    match (side(left)?, side(right)?) {
        (true, false) => Some(((**left).clone(), shift_columns((**right).clone(), left_width))),
        (false, true) => Some(((**right).clone(), shift_columns((**left).clone(), left_width))),
        _ => None,
    }
}

/// The row positions `expression` reads.
fn columns_of(expression: &Expression, into: &mut Vec<usize>) {
    match expression {
        Expression::Column(position) => into.push(*position),
        Expression::Constant(_) | Expression::Parameter(..) => {}
        Expression::Binary { left, right, .. } | Expression::And(left, right) | Expression::Or(left, right) => {
            columns_of(left, into);
            columns_of(right, into);
        }
        Expression::Negate(operand) | Expression::Not(operand) => columns_of(operand, into),
        Expression::IsNull { expression, .. } | Expression::Cast { expression, .. } => columns_of(expression, into),
        Expression::Function { arguments, .. } => arguments.iter().for_each(|argument| columns_of(argument, into)),
    }
}

/// `expression` with every column position lowered by `offset`.
fn shift_columns(expression: Expression, offset: usize) -> Expression {
    let shift = |expression: Box<Expression>| Box::new(shift_columns(*expression, offset));
    match expression {
        Expression::Column(position) => Expression::Column(position - offset),
        Expression::Binary { operator, left, right } => {
            Expression::Binary { operator, left: shift(left), right: shift(right) }
        }
        Expression::And(left, right) => Expression::And(shift(left), shift(right)),
        Expression::Or(left, right) => Expression::Or(shift(left), shift(right)),
        Expression::Negate(operand) => Expression::Negate(shift(operand)),
        Expression::Not(operand) => Expression::Not(shift(operand)),
        Expression::IsNull { expression, negated } => Expression::IsNull { expression: shift(expression), negated },
        Expression::Cast { expression, to } => Expression::Cast { expression: shift(expression), to },
        Expression::Function { function, arguments } => Expression::Function {
            function,
            arguments: arguments.into_iter().map(|argument| shift_columns(argument, offset)).collect(),
        },
        other @ (Expression::Constant(_) | Expression::Parameter(..)) => other,
    }
}

fn with_filter(input: Node, conjuncts: Vec<Expression>) -> Node {
    let predicate = conjuncts.into_iter().reduce(|left, right| Expression::And(Box::new(left), Box::new(right)));
    match predicate {
        Some(predicate) => Node::Filter { input: Box::new(input), predicate },
        None => input,
    }
}

fn split_conjuncts(expression: Expression, into: &mut Vec<Expression>) {
    match expression {
        Expression::And(left, right) => {
            split_conjuncts(*left, into);
            split_conjuncts(*right, into);
        }
        other => into.push(other),
    }
}

/// For a one-column key, the keys a conjunct `key = a OR key = b ...` (what
/// `key IN (a, b)` binds to) lists; that conjunct is taken out.
fn key_list(key_positions: &[usize], conjuncts: &mut Vec<Expression>) -> Option<Vec<Vec<Expression>>> {
    let [position] = key_positions else { return None };
    let (index, values) = conjuncts.iter().enumerate().find_map(|(index, conjunct)| {
        let mut values = Vec::new();
        listed_values(conjunct, *position, &mut values).then_some((index, values))
    })?;
    conjuncts.remove(index);
    Some(values.into_iter().map(|value| vec![value]).collect())
}

fn listed_values(expression: &Expression, position: usize, into: &mut Vec<Expression>) -> bool {
    match expression {
        Expression::Or(left, right) => listed_values(left, position, into) && listed_values(right, position, into),
        other => match pinned_value(other, position) {
            Some(value) => {
                into.push(value);
                true
            }
            None => false,
        },
    }
}

/// The secondary index whose leading columns the conjuncts pin most of
/// (a unique index pinned whole first), read under those values; the
/// conjuncts it uses are taken out.
fn index_access(table: &TableDescriptor, conjuncts: &mut Vec<Expression>) -> Option<Access> {
    let position = |id| table.position_of(id).expect("index columns are columns");
    let pinned_count = |index: &IndexDescriptor| {
        index
            .columns
            .iter()
            .take_while(|(id, _)| conjuncts.iter().any(|c| pinned_value(c, position(*id)).is_some()))
            .count()
    };
    let rank = |index: &IndexDescriptor| {
        let pinned = pinned_count(index);
        (pinned, index.unique && pinned == index.columns.len())
    };
    let best = table.indexes.iter().filter(|index| rank(index).0 > 0).max_by_key(|index| rank(index))?;
    let positions: Vec<usize> = best.columns[..pinned_count(best)].iter().map(|(id, _)| position(*id)).collect();
    let values = pin_key(&positions, conjuncts)?.pop()?;
    Some(Access::Index { index: best.id, values })
}

/// The value of each key column if conjuncts `column = value` pin them all;
/// those conjuncts are taken out of `conjuncts`.
fn pin_key(key_positions: &[usize], conjuncts: &mut Vec<Expression>) -> Option<Vec<Vec<Expression>>> {
    let mut values = Vec::new();
    let mut used = Vec::new();
    for &position in key_positions {
        let found = conjuncts.iter().enumerate().find_map(|(index, conjunct)| {
            pinned_value(conjunct, position).filter(|_| !used.contains(&index)).map(|value| (index, value))
        })?;
        used.push(found.0);
        values.push(found.1);
    }
    used.sort_unstable();
    for index in used.into_iter().rev() {
        conjuncts.remove(index);
    }
    Some(vec![values])
}

fn pinned_value(conjunct: &Expression, position: usize) -> Option<Expression> {
    let Expression::Binary { operator: BinaryOperator::Equal, left, right } = conjunct else { return None };
    let is_value = |expression: &Expression| matches!(expression, Expression::Constant(_) | Expression::Parameter(..));
    match (left.as_ref(), right.as_ref()) {
        (Expression::Column(column), value) | (value, Expression::Column(column))
            if *column == position && is_value(value) =>
        {
            Some(value.clone())
        }
        _ => None,
    }
}

/// Folds constant subexpressions.
pub fn fold(expression: Expression) -> Expression {
    // No time zone: what depends on the session's zone is left for evaluation.
    let context = Context { parameters: &[], user: "", sequences: None, time_zone: None };
    let folded = match expression {
        Expression::Binary { operator, left, right } => {
            Expression::Binary { operator, left: Box::new(fold(*left)), right: Box::new(fold(*right)) }
        }
        Expression::And(left, right) => Expression::And(Box::new(fold(*left)), Box::new(fold(*right))),
        Expression::Or(left, right) => Expression::Or(Box::new(fold(*left)), Box::new(fold(*right))),
        Expression::Not(operand) => Expression::Not(Box::new(fold(*operand))),
        Expression::Negate(operand) => Expression::Negate(Box::new(fold(*operand))),
        Expression::IsNull { expression, negated } => {
            Expression::IsNull { expression: Box::new(fold(*expression)), negated }
        }
        Expression::Cast { expression, to } => Expression::Cast { expression: Box::new(fold(*expression)), to },
        Expression::Function { function, arguments } => {
            Expression::Function { function, arguments: arguments.into_iter().map(fold).collect() }
        }
        other => other,
    };
    if matches!(folded, Expression::Constant(_)) || !folded.is_constant() {
        return folded;
    }
    match folded.evaluate(&[], &context) {
        Ok(value) => Expression::Constant(value),
        Err(_) => folded,
    }
}
