//! Plans: what a bound statement does, as a tree of row-producing nodes for
//! queries and a few statement-level operations around them.
//!
//! A node produces rows (vectors of [`Value`]s, positions fixed at bind time):
//! a [`Node::Scan`] produces a table's columns in descriptor order, a
//! [`Node::Project`] the expressions of a select list. The optimizer rewrites
//! trees (constant folding, a filter on the primary key turned into a point
//! lookup); the executor pulls rows from the root one at a time.

use std::fmt;
use std::sync::Arc;

use super::catalog::{CheckConstraint, ColumnDescriptor, IndexDescriptor, SequenceDescriptor, TableDescriptor};
use super::expression::Expression;
use super::row::{DescriptorId, IndexId};
use super::types::{DataType, Value};

/// A column of a result, as RowDescription describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputColumn {
    pub name: String,
    pub data_type: DataType,
}

/// How a scan reaches its table's rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// Every row, in primary-key order.
    Full,
    /// The rows whose primary keys have these values (each one value per key
    /// column): `id = 1`, or `id IN (1, 2)` for a one-column key.
    PrimaryKeys(Vec<Vec<Expression>>),
    /// The rows a secondary index lists under these values of its leading
    /// columns (`email = $1`), in the index's order.
    Index { index: IndexId, values: Vec<Expression> },
}

/// What an INSERT does with a row that collides with a stored one on a unique index.
#[derive(Clone, Debug, PartialEq)]
pub enum OnConflict {
    /// 23505.
    Error,
    /// Skips the row when it collides on one of `arbiters` (on any unique
    /// index when None); a collision on another index is still 23505.
    DoNothing { arbiters: Option<Vec<IndexId>> },
    /// Updates the stored row it collides with on one of `arbiters`: each
    /// assignment and the predicate read the stored row's columns, then the
    /// proposed row's (`excluded`), in table column order.
    DoUpdate { arbiters: Vec<IndexId>, assignments: Vec<(usize, Expression)>, predicate: Option<Expression> },
}

/// One aggregate call of an aggregating query.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateCall {
    pub function: AggregateFunction,
    /// None for `count(*)`.
    pub argument: Option<Expression>,
    pub argument_type: DataType,
    pub data_type: DataType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    Sum,
    Average,
    Minimum,
    Maximum,
}

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Pairs that meet the condition.
    Inner,
    /// Those, and each left row that meets none, with NULLs for the right side.
    Left,
}

/// One ORDER BY item, evaluated on the sort's input.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expression: Expression,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// One row of no columns: a SELECT without FROM.
    Nothing,
    Values {
        rows: Vec<Vec<Expression>>,
    },
    Scan {
        table: Arc<TableDescriptor>,
        access: Access,
    },
    Filter {
        input: Box<Node>,
        predicate: Expression,
    },
    /// Rows of `left` joined with rows of `right`: a row is the left row's
    /// values then the right row's (`right_width` of them). `equalities`
    /// pair an expression over the left row with one over the right row
    /// (their own positions): a hash join on them; `condition` (over the
    /// joined row) decides the rest.
    Join {
        left: Box<Node>,
        right: Box<Node>,
        kind: JoinKind,
        right_width: usize,
        equalities: Vec<(Expression, Expression)>,
        condition: Option<Expression>,
    },
    Sort {
        input: Box<Node>,
        keys: Vec<SortKey>,
    },
    Project {
        input: Box<Node>,
        expressions: Vec<Expression>,
    },
    /// Groups the input by `group_by` and computes `calls` per group; a row
    /// per group: the group's values, then the calls' results. Without
    /// GROUP BY, one row even for no input.
    Aggregate {
        input: Box<Node>,
        group_by: Vec<Expression>,
        calls: Vec<AggregateCall>,
    },
    /// Skips `offset` rows, then passes at most `limit`; both evaluated once, at the start.
    Limit {
        input: Box<Node>,
        limit: Option<Expression>,
        offset: Option<Expression>,
    },
}

/// One change of an ALTER TABLE.
#[derive(Clone, Debug, PartialEq)]
pub enum TableChange {
    /// A new column (its id is assigned when it runs); existing rows take
    /// `default` (bound), checked against NOT NULL and `checks`.
    AddColumn {
        column: ColumnDescriptor,
        default: Option<Expression>,
        checks: Vec<CheckConstraint>,
    },
    /// Drops a column, with the secondary indexes and CHECKs that name it.
    DropColumn {
        name: String,
    },
    RenameColumn {
        from: String,
        to: String,
    },
    Rename {
        to: String,
    },
}

impl Node {
    /// How many values each row of this node holds.
    pub fn width(&self) -> usize {
        match self {
            Node::Nothing => 0,
            Node::Values { rows } => rows.first().map_or(0, Vec::len),
            Node::Scan { table, .. } => table.columns.len(),
            Node::Filter { input, .. } | Node::Sort { input, .. } | Node::Limit { input, .. } => input.width(),
            Node::Join { left, right_width, .. } => left.width() + right_width,
            Node::Project { expressions, .. } => expressions.len(),
            Node::Aggregate { group_by, calls, .. } => group_by.len() + calls.len(),
        }
    }
}

/// What a RETURNING clause produces from each changed row (in table column order).
#[derive(Clone, Debug, PartialEq)]
pub struct Returning {
    pub expressions: Vec<Expression>,
    pub columns: Vec<OutputColumn>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Query {
        root: Node,
        columns: Vec<OutputColumn>,
    },
    /// Rows of `source` (one value per `targets` entry) become rows of `table`:
    /// `targets[i]` is the table column position the i-th source value fills;
    /// every other column takes its default (`defaults`, by position) or NULL.
    Insert {
        table: Arc<TableDescriptor>,
        targets: Vec<usize>,
        source: Node,
        defaults: Vec<Option<Expression>>,
        on_conflict: OnConflict,
        returning: Option<Returning>,
    },
    /// `source` yields the rows to change, in table column order; each
    /// assignment sets one column position from an expression over the old row.
    Update {
        table: Arc<TableDescriptor>,
        source: Node,
        assignments: Vec<(usize, Expression)>,
        returning: Option<Returning>,
    },
    Delete {
        table: Arc<TableDescriptor>,
        source: Node,
        returning: Option<Returning>,
    },
    /// A new table and the sequences its serial and identity columns own
    /// (their owner's table id is the new table's, assigned when it runs).
    CreateTable {
        descriptor: TableDescriptor,
        sequences: Vec<SequenceDescriptor>,
        if_not_exists: bool,
    },
    CreateSequence {
        sequence: SequenceDescriptor,
        if_not_exists: bool,
    },
    DropSequence {
        sequences: Vec<SequenceDescriptor>,
    },
    DropTable {
        tables: Vec<Arc<TableDescriptor>>,
    },
    /// A new secondary index of `table` (its id is assigned when it runs),
    /// backfilled from the table's rows.
    CreateIndex {
        table: Arc<TableDescriptor>,
        index: IndexDescriptor,
        if_not_exists: bool,
    },
    DropIndex {
        indexes: Vec<(DescriptorId, IndexId)>,
    },
    Truncate {
        tables: Vec<Arc<TableDescriptor>>,
        restart_identity: bool,
    },
    /// ALTER TABLE's changes, applied in order.
    AlterTable {
        table: Arc<TableDescriptor>,
        changes: Vec<TableChange>,
    },
    /// EXPLAIN: the plan's text, one row a line.
    Explain(Box<Plan>),
}

impl Plan {
    /// The columns the statement returns rows of; empty for a command.
    pub fn output_columns(&self) -> Vec<OutputColumn> {
        match self {
            Plan::Query { columns, .. } => columns.clone(),
            Plan::Insert { returning, .. } | Plan::Update { returning, .. } | Plan::Delete { returning, .. } => {
                returning.as_ref().map(|returning| returning.columns.clone()).unwrap_or_default()
            }
            Plan::Explain(_) => vec![OutputColumn { name: "QUERY PLAN".into(), data_type: DataType::Text }],
            Plan::CreateTable { .. }
            | Plan::DropTable { .. }
            | Plan::CreateIndex { .. }
            | Plan::DropIndex { .. }
            | Plan::CreateSequence { .. }
            | Plan::DropSequence { .. }
            | Plan::Truncate { .. }
            | Plan::AlterTable { .. } => Vec::new(),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Query { root, .. } => write_node(formatter, root, 0),
            Plan::Insert { table, source, .. } => {
                writeln!(formatter, "Insert on {}", table.name)?;
                write_node(formatter, source, 1)
            }
            Plan::Update { table, source, .. } => {
                writeln!(formatter, "Update on {}", table.name)?;
                write_node(formatter, source, 1)
            }
            Plan::Delete { table, source, .. } => {
                writeln!(formatter, "Delete on {}", table.name)?;
                write_node(formatter, source, 1)
            }
            Plan::CreateTable { descriptor, .. } => writeln!(formatter, "Create table {}", descriptor.name),
            Plan::DropTable { tables } => {
                let names: Vec<&str> = tables.iter().map(|table| table.name.as_str()).collect();
                writeln!(formatter, "Drop table {}", names.join(", "))
            }
            Plan::CreateIndex { table, index, .. } => {
                writeln!(formatter, "Create index {} on {}", index.name, table.name)
            }
            Plan::DropIndex { indexes } => writeln!(formatter, "Drop {} indexes", indexes.len()),
            Plan::CreateSequence { sequence, .. } => writeln!(formatter, "Create sequence {}", sequence.name),
            Plan::DropSequence { sequences } => writeln!(formatter, "Drop {} sequences", sequences.len()),
            Plan::Truncate { tables, .. } => writeln!(formatter, "Truncate {} tables", tables.len()),
            Plan::AlterTable { table, changes } => {
                writeln!(formatter, "Alter table {} ({} changes)", table.name, changes.len())
            }
            Plan::Explain(plan) => write!(formatter, "{plan}"),
        }
    }
}

fn write_node(formatter: &mut fmt::Formatter<'_>, node: &Node, depth: usize) -> fmt::Result {
    let indent = if depth == 0 { String::new() } else { format!("{}->  ", "      ".repeat(depth - 1)) };
    match node {
        Node::Nothing => writeln!(formatter, "{indent}Result"),
        Node::Values { rows } => writeln!(formatter, "{indent}Values ({} rows)", rows.len()),
        Node::Scan { table, access: Access::Full } => {
            writeln!(formatter, "{indent}Scan on {} (primary key order)", table.name)
        }
        Node::Scan { table, access: Access::PrimaryKeys(keys) } => {
            let keys: Vec<String> = keys
                .iter()
                .map(|values| format!("({})", values.iter().map(describe).collect::<Vec<_>>().join(", ")))
                .collect();
            writeln!(
                formatter,
                "{indent}Point lookup on {}@{} {}",
                table.name,
                table.primary_index.name,
                keys.join(" ")
            )
        }
        Node::Scan { table, access: Access::Index { index, values } } => {
            let name = table.index(*index).map(|index| index.name.as_str()).unwrap_or("?");
            let values: Vec<String> = values.iter().map(describe).collect();
            writeln!(formatter, "{indent}Index lookup on {}@{name} ({})", table.name, values.join(", "))
        }
        Node::Filter { input, predicate } => {
            writeln!(formatter, "{indent}Filter: {}", describe(predicate))?;
            write_node(formatter, input, depth + 1)
        }
        Node::Join { left, right, kind, equalities, condition, .. } => {
            let method = if equalities.is_empty() { "Nested loop" } else { "Hash join" };
            let kind = if *kind == JoinKind::Left { " left" } else { "" };
            let keys: Vec<String> = equalities
                .iter()
                .map(|(left, right)| format!("{} = right {}", describe(left), describe(right)))
                .collect();
            let on = if keys.is_empty() { String::new() } else { format!(" on {}", keys.join(" and ")) };
            let filter =
                condition.as_ref().map(|condition| format!(" filter {}", describe(condition))).unwrap_or_default();
            writeln!(formatter, "{indent}{method}{kind}{on}{filter}")?;
            write_node(formatter, left, depth + 1)?;
            write_node(formatter, right, depth + 1)
        }
        Node::Sort { input, keys } => {
            let keys: Vec<String> = keys
                .iter()
                .map(|key| format!("{}{}", describe(&key.expression), if key.descending { " DESC" } else { "" }))
                .collect();
            writeln!(formatter, "{indent}Sort: {}", keys.join(", "))?;
            write_node(formatter, input, depth + 1)
        }
        Node::Project { input, .. } => write_node(formatter, input, depth),
        Node::Aggregate { input, group_by, calls } => {
            let keys: Vec<String> = group_by.iter().map(describe).collect();
            let calls: Vec<String> = calls
                .iter()
                .map(|call| {
                    format!(
                        "{:?}({})",
                        call.function,
                        call.argument.as_ref().map(describe).unwrap_or_else(|| "*".into())
                    )
                })
                .collect();
            let by = if keys.is_empty() { String::new() } else { format!(" by {}", keys.join(", ")) };
            writeln!(formatter, "{indent}Aggregate {}{by}", calls.join(", "))?;
            write_node(formatter, input, depth + 1)
        }
        Node::Limit { input, limit, offset } => {
            let limit = limit.as_ref().map(describe).unwrap_or_else(|| "ALL".into());
            let offset = offset.as_ref().map(describe).unwrap_or_else(|| "0".into());
            writeln!(formatter, "{indent}Limit {limit} offset {offset}")?;
            write_node(formatter, input, depth + 1)
        }
    }
}

/// A short text for an expression in EXPLAIN.
fn describe(expression: &Expression) -> String {
    match expression {
        Expression::Constant(value) => value.to_text().map_or("NULL".into(), |text| match value {
            Value::Text(_) => format!("'{text}'"),
            _ => text,
        }),
        Expression::Column(position) => format!("#{position}"),
        Expression::Parameter(index, _) => format!("${}", index + 1),
        Expression::Binary { operator, left, right } => {
            format!("({} {} {})", describe(left), operator.symbol(), describe(right))
        }
        Expression::And(left, right) => format!("({} AND {})", describe(left), describe(right)),
        Expression::Or(left, right) => format!("({} OR {})", describe(left), describe(right)),
        Expression::Not(operand) => format!("(NOT {})", describe(operand)),
        Expression::Negate(operand) => format!("(-{})", describe(operand)),
        Expression::IsNull { expression, negated } => {
            format!("({} IS {}NULL)", describe(expression), if *negated { "NOT " } else { "" })
        }
        Expression::Cast { expression, to } => format!("({})::{to}", describe(expression)),
        Expression::Function { function, arguments } => {
            let arguments: Vec<String> = arguments.iter().map(describe).collect();
            format!("{function:?}({})", arguments.join(", "))
        }
    }
}
