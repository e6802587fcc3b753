//! Binding expressions: names to row positions, literals and parameters to
//! types, and operators to operand types, with PostgreSQL's rules:
//!
//! - An integer literal is `integer`, or `bigint` when it does not fit, or
//!   `numeric` beyond that; a literal with a point or an exponent is `numeric`.
//! - A quoted literal is of unknown type until its context decides: compared
//!   with an integer column it is read as an integer, now, at bind time (so
//!   `where id = 'x'` fails with 22P02 before anything runs).
//! - A parameter `$n` takes the type its context gives it the first time one
//!   does (`id = $1` makes `$1` the column's type); one no context types is text.
//! - Arithmetic and comparison between numeric types run in the wider type,
//!   ordered smallint < integer < bigint < numeric < real < double precision,
//!   except that `real` stays `real` only against `real`: PostgreSQL's operator
//!   resolution picks `double precision` for every mixed float operation.

use sqlparser::ast::{
    self, BinaryOperator as AstOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use super::super::cast;
use super::super::error::{SqlError, SqlResult, SqlState};
use super::super::expression::{BinaryOperator, Expression, Function};
use super::super::plan::{AggregateCall, AggregateFunction};
use super::super::types::{DataType, Value};
use crate::numeric::Numeric;

#[path = "operators.rs"]
mod operators;

/// An expression with its type.
#[derive(Clone, Debug)]
pub struct Bound {
    pub expression: Expression,
    pub data_type: DataType,
}

/// The columns an expression can name: a table's, in its row order.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
}

#[derive(Clone, Debug)]
pub struct ScopeColumn {
    /// The table's name or alias.
    pub table: String,
    pub name: String,
    pub data_type: DataType,
    /// Left out of `*` (a table's hidden row id).
    pub hidden: bool,
}

/// The types parameters have been given so far, by `$n - 1`.
#[derive(Clone, Debug, Default)]
pub struct Parameters {
    pub types: Vec<Option<DataType>>,
}

impl Parameters {
    /// Every parameter's type, text for those nothing typed.
    pub fn resolved(&self) -> Vec<DataType> {
        self.types.iter().map(|data_type| data_type.unwrap_or(DataType::Text)).collect()
    }
}

/// A name as PostgreSQL folds it: unquoted names are lower-cased.
pub fn fold(identifier: &ast::Ident) -> String {
    match identifier.quote_style {
        Some(_) => identifier.value.clone(),
        None => identifier.value.to_lowercase(),
    }
}

fn undefined_column(name: &str) -> SqlError {
    SqlError::new(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" does not exist"))
}

pub(super) fn no_operator(symbol: &str, left: DataType, right: DataType) -> SqlError {
    SqlError::new(SqlState::UNDEFINED_FUNCTION, format!("operator does not exist: {left} {symbol} {right}"))
        .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

impl Scope {
    fn resolve(&self, table: Option<&str>, name: &str) -> SqlResult<(usize, DataType)> {
        let mut found = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, column)| column.name == name && table.is_none_or(|table| table == column.table));
        let Some((position, column)) = found.next() else {
            return Err(match table {
                Some(table) if !self.columns.iter().any(|column| column.table == table) => {
                    SqlError::new(SqlState::UNDEFINED_TABLE, format!("missing FROM-clause entry for table \"{table}\""))
                }
                Some(table) => undefined_column(&format!("{table}.{name}")),
                None => undefined_column(name),
            });
        };
        if found.next().is_some() {
            return Err(SqlError::new(SqlState::AMBIGUOUS_COLUMN, format!("column reference \"{name}\" is ambiguous")));
        }
        Ok((position, column.data_type))
    }
}

/// Binds expressions against one scope.
pub struct ExpressionBinder<'a> {
    pub scope: &'a Scope,
    pub parameters: &'a mut Parameters,
    /// Set while binding the select list, HAVING or ORDER BY of an aggregating
    /// query: expressions then read the aggregate's output row.
    pub aggregation: Option<&'a mut Aggregation>,
}

/// The grouping of an aggregating query, gathered while its clauses bind: the
/// GROUP BY expressions (matched by their syntax, as PostgreSQL matches them)
/// and every aggregate call met. The aggregate's output row is the group
/// values, then the aggregates' results.
#[derive(Debug, Default)]
pub struct Aggregation {
    pub group_by: Vec<(Expr, Bound)>,
    pub calls: Vec<AggregateCall>,
}

impl Aggregation {
    fn position_of_call(&mut self, call: AggregateCall) -> usize {
        let position = match self.calls.iter().position(|existing| *existing == call) {
            Some(position) => position,
            None => {
                self.calls.push(call);
                self.calls.len() - 1
            }
        };
        self.group_by.len() + position
    }
}

/// Whether `name` is an aggregate function this engine knows.
pub fn is_aggregate(name: &str) -> bool {
    matches!(name, "count" | "sum" | "avg" | "min" | "max")
}

/// Whether `expression` calls an aggregate anywhere (outside subqueries), in
/// the expression forms the binder knows.
pub fn has_aggregate(expression: &Expr) -> bool {
    match expression {
        Expr::Function(function) => {
            let name = function.name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
            is_aggregate(&name)
                || match &function.args {
                    FunctionArguments::List(list) => list.args.iter().any(|argument| {
                        matches!(argument, FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) if has_aggregate(inner))
                    }),
                    _ => false,
                }
        }
        Expr::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => has_aggregate(expr),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => has_aggregate(inner),
        Expr::Between { expr, low, high, .. } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        Expr::In { expr, target: ast::InTarget::List(list), .. } => {
            has_aggregate(expr) || list.iter().any(has_aggregate)
        }
        _ => false,
    }
}

fn grouping_error(name: &str) -> SqlError {
    SqlError::new(
        SqlState::GROUPING_ERROR,
        format!("column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"),
    )
}

impl ExpressionBinder<'_> {
    pub fn bind(&mut self, expression: &Expr) -> SqlResult<Bound> {
        if self.aggregation.is_some() {
            if let Some(bound) = self.bind_over_groups(expression)? {
                return Ok(bound);
            }
        }
        Ok(match expression {
            Expr::Identifier(identifier) => {
                let at = identifier.span.start;
                let resolved = self.scope.resolve(None, &fold(identifier));
                let (position, data_type) = resolved.map_err(|error| error.at_location(at.line, at.column))?;
                Bound { expression: Expression::Column(position), data_type }
            }
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [table, column] => {
                    let at = table.span.start;
                    let resolved = self.scope.resolve(Some(&fold(table)), &fold(column));
                    let (position, data_type) = resolved.map_err(|error| error.at_location(at.line, at.column))?;
                    Bound { expression: Expression::Column(position), data_type }
                }
                _ => return Err(SqlError::unsupported(format!("the name {expression}"))),
            },
            Expr::Value(value) => self.literal(&value.value)?,
            Expr::Nested(inner) => self.bind(inner)?,
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right)?,
            Expr::UnaryOp { op, expr } => self.unary(*op, expr)?,
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let bound = self.bind(inner)?;
                let negated = matches!(expression, Expr::IsNotNull(_));
                Bound {
                    expression: Expression::IsNull { expression: Box::new(bound.expression), negated },
                    data_type: DataType::Bool,
                }
            }
            Expr::Cast { expr, data_type, .. } => {
                let to = data_type_of(data_type)?;
                let bound = self.bind(expr)?;
                self.cast(bound, to)?
            }
            Expr::Between { expr, negated, low, high } => {
                let (bound, low, high) = (self.bind(expr)?, self.bind(low)?, self.bind(high)?);
                let low = self.compare(BinaryOperator::GreaterOrEqual, bound.clone(), low)?;
                let high = self.compare(BinaryOperator::LessOrEqual, bound, high)?;
                let both = Expression::And(Box::new(low), Box::new(high));
                let expression = if *negated { Expression::Not(Box::new(both)) } else { both };
                Bound { expression, data_type: DataType::Bool }
            }
            Expr::In { expr, target: ast::InTarget::List(list), negated, .. } => {
                let bound = self.bind(expr)?;
                let mut any: Option<Expression> = None;
                for item in list {
                    let item = self.bind(item)?;
                    let equal = self.compare(BinaryOperator::Equal, bound.clone(), item)?;
                    any = Some(match any {
                        None => equal,
                        Some(previous) => Expression::Or(Box::new(previous), Box::new(equal)),
                    });
                }
                let any = any.ok_or_else(|| SqlError::syntax("syntax error at or near \")\""))?;
                let expression = if *negated { Expression::Not(Box::new(any)) } else { any };
                Bound { expression, data_type: DataType::Bool }
            }
            Expr::Function(function) => self.function(function)?,
            Expr::TypedString(typed) => {
                let to = data_type_of(&typed.data_type)?;
                let text = match &typed.value.value {
                    ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => text.clone(),
                    other => return Err(SqlError::unsupported(format!("the literal {other}"))),
                };
                let literal =
                    Bound { expression: Expression::Constant(Value::Text(text)), data_type: DataType::Unknown };
                self.cast(literal, to)?
            }
            Expr::Interval(interval) => self.interval_literal(interval)?,
            other => return Err(SqlError::unsupported(format!("the expression {other}"))),
        })
    }

    /// In an aggregating query: a GROUP BY expression or an aggregate call
    /// becomes a column of the aggregate's output; a column outside both is a
    /// grouping error; anything else binds as usual (None).
    fn bind_over_groups(&mut self, expression: &Expr) -> SqlResult<Option<Bound>> {
        let aggregation = self.aggregation.as_deref_mut().expect("aggregating");
        if let Some(position) = aggregation.group_by.iter().position(|(syntax, _)| syntax == expression) {
            let data_type = aggregation.group_by[position].1.data_type;
            return Ok(Some(Bound { expression: Expression::Column(position), data_type }));
        }
        match expression {
            Expr::Identifier(identifier) => {
                let name = fold(identifier);
                match self.scope.columns.iter().find(|column| column.name == name) {
                    Some(column) => Err(grouping_error(&format!("{}.{name}", column.table))),
                    None => Err(undefined_column(&name)),
                }
            }
            Expr::CompoundIdentifier(parts) => {
                Err(grouping_error(&parts.iter().map(fold).collect::<Vec<_>>().join(".")))
            }
            Expr::Function(function) => {
                let name = function.name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
                if !is_aggregate(&name) {
                    return Ok(None);
                }
                let call = self.aggregate_call(&name, function)?;
                let data_type = call.data_type;
                let aggregation = self.aggregation.as_deref_mut().expect("aggregating");
                let position = aggregation.position_of_call(call);
                Ok(Some(Bound { expression: Expression::Column(position), data_type }))
            }
            _ => Ok(None),
        }
    }

    /// Binds an aggregate's argument against the input rows.
    fn aggregate_call(&mut self, name: &str, function: &ast::Function) -> SqlResult<AggregateCall> {
        let FunctionArguments::List(list) = &function.args else {
            return Err(SqlError::syntax(format!("syntax error at or near \"{name}\"")));
        };
        if list.duplicate_treatment.is_some()
            || !list.clauses.is_empty()
            || function.over.is_some()
            || function.filter.is_some()
        {
            return Err(SqlError::unsupported(format!("DISTINCT, ORDER BY, FILTER or OVER in {name}()")));
        }
        let argument = match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if name == "count" => None,
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))] => {
                if has_aggregate(argument) {
                    return Err(SqlError::new(SqlState::GROUPING_ERROR, "aggregate function calls cannot be nested"));
                }
                let mut inner =
                    ExpressionBinder { scope: self.scope, parameters: &mut *self.parameters, aggregation: None };
                let bound = inner.bind(argument)?;
                Some(match bound.data_type {
                    DataType::Unknown => {
                        inner.coerce(bound, if name == "count" { DataType::Text } else { DataType::Numeric(None) })?
                    }
                    _ => bound,
                })
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {name} with these arguments does not exist"),
                ))
            }
        };
        let argument_type = argument.as_ref().map_or(DataType::Int8, |bound| bound.data_type);
        let (function, data_type) =
            match name {
                "count" => (AggregateFunction::Count, DataType::Int8),
                "min" | "max" => {
                    let function = if name == "min" { AggregateFunction::Minimum } else { AggregateFunction::Maximum };
                    (function, argument_type)
                }
                "sum" | "avg" if argument_type.is_numeric() => {
                    let numeric = DataType::Numeric(None);
                    if name == "sum" {
                        let data_type = match argument_type {
                            DataType::Int2 | DataType::Int4 => DataType::Int8,
                            DataType::Int8 | DataType::Numeric(_) => numeric,
                            float => float,
                        };
                        (AggregateFunction::Sum, data_type)
                    } else {
                        (AggregateFunction::Average, if argument_type.is_float() { DataType::Float8 } else { numeric })
                    }
                }
                _ => return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {name}({argument_type}) does not exist"),
                )
                .with_hint(
                    "No function matches the given name and argument types. You might need to add explicit type casts.",
                )),
            };
        let argument = argument.map(|bound| bound.expression);
        Ok(AggregateCall { function, argument, argument_type, data_type })
    }

    /// Binds `expression` and makes it a boolean (WHERE, CHECK).
    pub fn bind_condition(&mut self, expression: &Expr, clause: &str) -> SqlResult<Expression> {
        let bound = self.bind(expression)?;
        let bound = match bound.data_type {
            DataType::Unknown => self.coerce(bound, DataType::Bool)?,
            DataType::Bool => bound,
            other => {
                return Err(SqlError::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!("argument of {clause} must be type boolean, not type {other}"),
                ))
            }
        };
        Ok(bound.expression)
    }

    fn literal(&mut self, value: &ast::Value) -> SqlResult<Bound> {
        let constant = |value: Value, data_type| Bound { expression: Expression::Constant(value), data_type };
        Ok(match value {
            ast::Value::Number(text, _) => number_literal(text)?,
            ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => {
                constant(Value::Text(text.clone()), DataType::Unknown)
            }
            ast::Value::Boolean(value) => constant(Value::Bool(*value), DataType::Bool),
            ast::Value::Null => constant(Value::Null, DataType::Unknown),
            ast::Value::Placeholder(name) => {
                let index = name
                    .strip_prefix('$')
                    .and_then(|number| number.parse::<usize>().ok())
                    .filter(|number| (1..=65_535).contains(number))
                    .ok_or_else(|| SqlError::syntax(format!("syntax error at or near \"{name}\"")))?
                    - 1;
                if self.parameters.types.len() <= index {
                    self.parameters.types.resize(index + 1, None);
                }
                let data_type = self.parameters.types[index].unwrap_or(DataType::Unknown);
                Bound { expression: Expression::Parameter(index, data_type), data_type }
            }
            other => return Err(SqlError::unsupported(format!("the literal {other}"))),
        })
    }

    fn unary(&mut self, operator: UnaryOperator, operand: &Expr) -> SqlResult<Bound> {
        // A negative literal is one literal: -2147483648 is an integer, not a bigint negated.
        if let (UnaryOperator::Minus, Expr::Value(value)) = (operator, operand) {
            if let ast::Value::Number(text, _) = &value.value {
                return number_literal(&format!("-{text}"));
            }
        }
        let bound = self.bind(operand)?;
        match operator {
            UnaryOperator::Not => {
                let bound = self.boolean(bound, "NOT")?;
                Ok(Bound { expression: Expression::Not(Box::new(bound)), data_type: DataType::Bool })
            }
            UnaryOperator::Minus | UnaryOperator::Plus => {
                let bound = if bound.data_type == DataType::Unknown {
                    self.coerce(bound, DataType::Numeric(None))?
                } else {
                    bound
                };
                if !bound.data_type.is_numeric() && bound.data_type != DataType::Interval {
                    let symbol = if operator == UnaryOperator::Minus { "-" } else { "+" };
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {symbol} {}", bound.data_type),
                    ));
                }
                if operator == UnaryOperator::Plus {
                    return Ok(bound);
                }
                Ok(Bound { expression: Expression::Negate(Box::new(bound.expression)), data_type: bound.data_type })
            }
            other => Err(SqlError::unsupported(format!("the operator {other}"))),
        }
    }

    fn boolean(&mut self, bound: Bound, operator: &str) -> SqlResult<Expression> {
        match bound.data_type {
            DataType::Bool => Ok(bound.expression),
            DataType::Unknown => Ok(self.coerce(bound, DataType::Bool)?.expression),
            other => Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!("argument of {operator} must be type boolean, not type {other}"),
            )),
        }
    }

    fn binary(&mut self, left: &Expr, operator: &AstOperator, right: &Expr) -> SqlResult<Bound> {
        let (left, right) = (self.bind(left)?, self.bind(right)?);
        let operator = match operator {
            AstOperator::And | AstOperator::Or => {
                let name = if *operator == AstOperator::And { "AND" } else { "OR" };
                let (left, right) = (Box::new(self.boolean(left, name)?), Box::new(self.boolean(right, name)?));
                let expression = if name == "AND" { Expression::And(left, right) } else { Expression::Or(left, right) };
                return Ok(Bound { expression, data_type: DataType::Bool });
            }
            AstOperator::Plus => BinaryOperator::Add,
            AstOperator::Minus => BinaryOperator::Subtract,
            AstOperator::Multiply => BinaryOperator::Multiply,
            AstOperator::Divide => BinaryOperator::Divide,
            AstOperator::Modulo => BinaryOperator::Modulo,
            AstOperator::StringConcat => BinaryOperator::Concatenate,
            AstOperator::Eq => BinaryOperator::Equal,
            AstOperator::NotEq => BinaryOperator::NotEqual,
            AstOperator::Lt => BinaryOperator::Less,
            AstOperator::LtEq => BinaryOperator::LessOrEqual,
            AstOperator::Gt => BinaryOperator::Greater,
            AstOperator::GtEq => BinaryOperator::GreaterOrEqual,
            AstOperator::Arrow => return self.json_get(BinaryOperator::JsonGet, left, right),
            AstOperator::LongArrow => return self.json_get(BinaryOperator::JsonGetText, left, right),
            other => return Err(SqlError::unsupported(format!("the operator {other}"))),
        };
        if operator.is_comparison() {
            let expression = self.compare(operator, left, right)?;
            return Ok(Bound { expression, data_type: DataType::Bool });
        }
        if operator == BinaryOperator::Concatenate {
            return self.concatenate(left, right);
        }
        self.arithmetic(operator, left, right)
    }

    /// Both sides of a comparison in one type.
    pub fn compare(&mut self, operator: BinaryOperator, left: Bound, right: Bound) -> SqlResult<Expression> {
        let (left, right) = self.unify(operator.symbol(), left, right)?;
        Ok(Expression::Binary { operator, left: Box::new(left.expression), right: Box::new(right.expression) })
    }

    fn arithmetic(&mut self, operator: BinaryOperator, left: Bound, right: Bound) -> SqlResult<Bound> {
        let symbol = operator.symbol();
        let (left_type, right_type) = (left.data_type, right.data_type);
        if operators::is_temporal_arithmetic(left_type, right_type) {
            return self.temporal_arithmetic(operator, left, right);
        }
        if left_type == DataType::Unknown && right_type == DataType::Unknown {
            return Err(SqlError::new(SqlState("42725"), format!("operator is not unique: unknown {symbol} unknown")));
        }
        let (left, right) = self.unify(symbol, left, right)?;
        let data_type = left.data_type;
        if !data_type.is_numeric() || (operator == BinaryOperator::Modulo && data_type.is_float()) {
            return Err(no_operator(symbol, left_type, right_type));
        }
        let expression =
            Expression::Binary { operator, left: Box::new(left.expression), right: Box::new(right.expression) };
        Ok(Bound { expression, data_type })
    }

    fn concatenate(&mut self, left: Bound, right: Bound) -> SqlResult<Bound> {
        let stringy = |data_type: DataType| data_type.is_string() || data_type == DataType::Unknown;
        if !stringy(left.data_type) && !stringy(right.data_type) {
            return Err(no_operator("||", left.data_type, right.data_type));
        }
        // A character(n) operand loses its trailing blanks, a timestamptz is shown in the session's zone.
        let text = |binder: &mut Self, bound: Bound| match bound.data_type {
            DataType::Unknown | DataType::Char(_) | DataType::TimestampTz => binder.coerce(bound, DataType::Text),
            _ => Ok(bound),
        };
        let (left, right) = (text(self, left)?, text(self, right)?);
        let expression = Expression::Binary {
            operator: BinaryOperator::Concatenate,
            left: Box::new(left.expression),
            right: Box::new(right.expression),
        };
        Ok(Bound { expression, data_type: DataType::Text })
    }

    /// Brings two operands to one type, or says no operator takes them.
    fn unify(&mut self, symbol: &str, left: Bound, right: Bound) -> SqlResult<(Bound, Bound)> {
        let (left_type, right_type) = (left.data_type, right.data_type);
        let target = match (left_type, right_type) {
            (DataType::Unknown, DataType::Unknown) => DataType::Text,
            (DataType::Unknown, other) | (other, DataType::Unknown) => other,
            (left, right) if left == right => left,
            (left, right) if left.is_string() && right.is_string() => DataType::Text,
            (DataType::Char(_), DataType::Char(_)) => DataType::Char(None),
            (DataType::Char(_), other) | (other, DataType::Char(_)) if other.is_string() => DataType::Text,
            (left, right) if left.is_numeric() && right.is_numeric() => wider_numeric(left, right),
            (left, right) if left.is_datetime() && right.is_datetime() => operators::wider_datetime(left, right),
            _ => return Err(no_operator(symbol, left_type, right_type)),
        };
        let target = match target {
            DataType::Varchar(_) => DataType::Text,
            DataType::Numeric(_) => DataType::Numeric(None),
            other => other,
        };
        Ok((self.coerce(left, target)?, self.coerce(right, target)?))
    }

    /// `bound` as a value of `to`: an unknown literal is read now, an untyped
    /// parameter takes the type, anything else is cast when evaluated.
    pub fn coerce(&mut self, bound: Bound, to: DataType) -> SqlResult<Bound> {
        let same = bound.data_type == to
            || (to.is_string()
                && bound.data_type.is_string()
                && matches!(to, DataType::Text | DataType::Varchar(None)))
            || (matches!(to, DataType::Numeric(None)) && matches!(bound.data_type, DataType::Numeric(_)))
            || (to == DataType::Char(None) && matches!(bound.data_type, DataType::Char(_)));
        if same {
            return Ok(Bound { expression: bound.expression, data_type: to });
        }
        match bound.expression {
            Expression::Constant(Value::Null) => {
                Ok(Bound { expression: Expression::Constant(Value::Null), data_type: to })
            }
            // A timestamptz literal without a zone is local time: read when the session's zone is known.
            Expression::Constant(Value::Text(text))
                if bound.data_type == DataType::Unknown && to != DataType::TimestampTz =>
            {
                Ok(Bound { expression: Expression::Constant(cast::parse_text(&text, to)?), data_type: to })
            }
            Expression::Parameter(index, DataType::Unknown) => {
                self.parameters.types[index] = Some(to);
                Ok(Bound { expression: Expression::Parameter(index, to), data_type: to })
            }
            expression => {
                Ok(Bound { expression: Expression::Cast { expression: Box::new(expression), to }, data_type: to })
            }
        }
    }

    /// An explicit cast: like a coercion, but a constant is converted now.
    fn cast(&mut self, bound: Bound, to: DataType) -> SqlResult<Bound> {
        if let Expression::Constant(value) = &bound.expression {
            if bound.data_type != DataType::Unknown && !cast::needs_time_zone(bound.data_type, to) {
                return Ok(Bound { expression: Expression::Constant(cast::cast(value.clone(), to)?), data_type: to });
            }
        }
        let coerced = self.coerce(bound, to)?;
        // A typmod cast of a typed value still applies the typmod when evaluated.
        Ok(match coerced.expression {
            // A literal read as `character(n)` is cut to n by the cast, as PostgreSQL's cast does.
            Expression::Constant(value @ Value::Char(_)) if matches!(to, DataType::Char(Some(_))) => {
                Bound { expression: Expression::Constant(cast::cast(value, to)?), data_type: to }
            }
            Expression::Column(_) | Expression::Parameter(..)
                if matches!(to, DataType::Varchar(Some(_)) | DataType::Numeric(Some(_)) | DataType::Char(Some(_))) =>
            {
                Bound { expression: Expression::Cast { expression: Box::new(coerced.expression), to }, data_type: to }
            }
            _ => coerced,
        })
    }

    fn function(&mut self, function: &ast::Function) -> SqlResult<Bound> {
        let name = function.name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
        let arguments = match &function.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => list
                .args
                .iter()
                .map(|argument| match argument {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(expression)) => self.bind(expression),
                    other => Err(SqlError::unsupported(format!("the function argument {other}"))),
                })
                .collect::<SqlResult<Vec<_>>>()?,
            FunctionArguments::Subquery(_) => return Err(SqlError::unsupported("a subquery as a function argument")),
        };
        let text = DataType::Text;
        let (function_kind, data_type, arguments) = match (name.as_str(), arguments.len()) {
            ("version", 0) => (Function::Version, text, arguments),
            ("current_database", 0) => (Function::CurrentDatabase, text, arguments),
            ("current_schema", 0) => (Function::CurrentSchema, text, arguments),
            ("current_user" | "session_user" | "user", 0) => (Function::CurrentUser, text, arguments),
            ("lower" | "upper" | "length", 1) => {
                let argument = self.coerce_string(arguments.into_iter().next().expect("one argument"))?;
                let (kind, data_type) = match name.as_str() {
                    "lower" => (Function::Lower, text),
                    "upper" => (Function::Upper, text),
                    _ => (Function::Length, DataType::Int4),
                };
                (kind, data_type, vec![argument])
            }
            ("nextval" | "currval", 1) => {
                let sequence = self.coerce_string(arguments.into_iter().next().expect("one argument"))?;
                let kind = if name == "nextval" { Function::NextValue } else { Function::CurrentValue };
                (kind, DataType::Int8, vec![sequence])
            }
            ("setval", 2 | 3) => {
                let mut arguments = arguments.into_iter();
                let sequence = self.coerce_string(arguments.next().expect("two arguments"))?;
                let mut bound = vec![sequence, self.coerce(arguments.next().expect("two arguments"), DataType::Int8)?];
                if let Some(is_called) = arguments.next() {
                    bound.push(self.coerce(is_called, DataType::Bool)?);
                }
                (Function::SetValue, DataType::Int8, bound)
            }
            ("abs", 1) => {
                let argument = arguments.into_iter().next().expect("one argument");
                let argument = if argument.data_type == DataType::Unknown {
                    self.coerce(argument, DataType::Float8)?
                } else {
                    argument
                };
                if !argument.data_type.is_numeric() {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function abs({}) does not exist", argument.data_type),
                    ));
                }
                let data_type = if let DataType::Numeric(_) = argument.data_type {
                    DataType::Numeric(None)
                } else {
                    argument.data_type
                };
                (Function::Abs, data_type, vec![argument])
            }
            _ => {
                let types: Vec<String> = arguments.iter().map(|argument| argument.data_type.name()).collect();
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {name}({}) does not exist", types.join(", ")),
                )
                .with_hint(
                    "No function matches the given name and argument types. You might need to add explicit type casts.",
                ));
            }
        };
        let arguments = arguments.into_iter().map(|argument| argument.expression).collect();
        Ok(Bound { expression: Expression::Function { function: function_kind, arguments }, data_type })
    }

    /// `interval '1 day'`, and `interval '3' day` (the unit after the literal).
    fn interval_literal(&mut self, interval: &ast::Interval) -> SqlResult<Bound> {
        let text = match interval.value.as_ref() {
            Expr::Value(value) => match &value.value {
                ast::Value::SingleQuotedString(text) => text.clone(),
                other => return Err(SqlError::unsupported(format!("the interval literal {other}"))),
            },
            other => return Err(SqlError::unsupported(format!("the interval literal {other}"))),
        };
        let text = match (&interval.leading_field, &interval.last_field, interval.fractional_seconds_precision) {
            (None, None, None) => text,
            (Some(unit), None, None) if text.trim().parse::<f64>().is_ok() => format!("{text} {unit}"),
            _ => return Err(SqlError::unsupported("interval fields (YEAR TO MONTH and the like)")),
        };
        let literal = Bound { expression: Expression::Constant(Value::Text(text)), data_type: DataType::Unknown };
        self.cast(literal, DataType::Interval)
    }

    fn coerce_string(&mut self, bound: Bound) -> SqlResult<Bound> {
        match bound.data_type {
            data_type if data_type.is_string() => Ok(bound),
            // `character(n)` goes to text without its trailing blanks: length('ab  '::char(4)) is 2.
            _ => self.coerce(bound, DataType::Text),
        }
    }
}

fn numeric_rank(data_type: DataType) -> u8 {
    match data_type {
        DataType::Int2 => 1,
        DataType::Int4 => 2,
        DataType::Int8 => 3,
        DataType::Numeric(_) => 4,
        DataType::Float4 => 5,
        _ => 6,
    }
}

fn wider_numeric(left: DataType, right: DataType) -> DataType {
    let wider = if numeric_rank(left) >= numeric_rank(right) { left } else { right };
    match wider {
        DataType::Float4 if left != right => DataType::Float8,
        other => other,
    }
}

/// A numeric literal: integer, bigint or numeric, as PostgreSQL types it.
fn number_literal(text: &str) -> SqlResult<Bound> {
    let constant = |value: Value, data_type| Ok(Bound { expression: Expression::Constant(value), data_type });
    if text.bytes().all(|byte| byte.is_ascii_digit() || byte == b'-') {
        if let Ok(value) = text.parse::<i32>() {
            return constant(Value::Int4(value), DataType::Int4);
        }
        if let Ok(value) = text.parse::<i64>() {
            return constant(Value::Int8(value), DataType::Int8);
        }
    }
    let numeric: Numeric = text.parse()?;
    constant(Value::Numeric(numeric), DataType::Numeric(None))
}

/// The n of `character(n)`, PostgreSQL's limits and wording.
fn char_length(length: &Option<ast::CharacterLength>) -> SqlResult<Option<u32>> {
    match length {
        None => Ok(None),
        Some(ast::CharacterLength::IntegerLength { length, .. }) => match u32::try_from(*length) {
            Ok(0) => Err(SqlError::new(SqlState::INVALID_PARAMETER_VALUE, "length for type char must be at least 1")),
            Ok(length) if length <= super::super::character::LENGTH_MAX => Ok(Some(length)),
            _ => Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("length for type char cannot exceed {}", super::super::character::LENGTH_MAX),
            )),
        },
        Some(ast::CharacterLength::Max) => Err(SqlError::unsupported("char(max)")),
    }
}

/// A type name as written in SQL.
pub fn data_type_of(data_type: &ast::DataType) -> SqlResult<DataType> {
    use ast::DataType as Ast;
    let length = |length: &Option<ast::CharacterLength>| -> SqlResult<Option<u32>> {
        match length {
            None => Ok(None),
            Some(ast::CharacterLength::IntegerLength { length, .. }) => match u32::try_from(*length) {
                Ok(length) if (1..=10_485_760).contains(&length) => Ok(Some(length)),
                _ => {
                    Err(SqlError::new(SqlState::INVALID_PARAMETER_VALUE, "length for type varchar must be at least 1"))
                }
            },
            Some(ast::CharacterLength::Max) => Err(SqlError::unsupported("varchar(max)")),
        }
    };
    Ok(match data_type {
        Ast::Bool | Ast::Boolean => DataType::Bool,
        Ast::SmallInt(_) | Ast::Int2(_) => DataType::Int2,
        Ast::Int(_) | Ast::Integer(_) | Ast::Int4(_) => DataType::Int4,
        Ast::BigInt(_) | Ast::Int8(_) => DataType::Int8,
        Ast::Real | Ast::Float4 => DataType::Float4,
        Ast::Float8 | Ast::DoublePrecision => DataType::Float8,
        Ast::Float(ast::ExactNumberInfo::Precision(bits)) if *bits <= 24 => DataType::Float4,
        Ast::Float(_) => DataType::Float8,
        Ast::Numeric(info) | Ast::Decimal(info) => DataType::Numeric(match info {
            ast::ExactNumberInfo::None => None,
            ast::ExactNumberInfo::Precision(precision) => Some((numeric_precision(*precision)?, 0)),
            ast::ExactNumberInfo::PrecisionAndScale(precision, scale) => {
                let precision = numeric_precision(*precision)?;
                let scale =
                    i16::try_from(*scale).ok().filter(|scale| (-1000..=1000).contains(scale)).ok_or_else(|| {
                        SqlError::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("NUMERIC scale {scale} must be between -1000 and 1000"),
                        )
                    })?;
                Some((precision, scale))
            }
        }),
        Ast::Text | Ast::String(None) => DataType::Text,
        Ast::Char(limit) | Ast::Character(limit) => DataType::Char(Some(char_length(limit)?.unwrap_or(1))),
        Ast::Bytea => DataType::Bytea,
        Ast::Uuid => DataType::Uuid,
        Ast::Date => DataType::Date,
        Ast::Timestamp(None, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone) => DataType::Timestamp,
        Ast::Timestamp(None, _) => DataType::TimestampTz,
        Ast::Timestamp(Some(_), _) => return Err(SqlError::unsupported("timestamp precision (timestamp(p))")),
        Ast::Interval { fields: None, precision: None } => DataType::Interval,
        Ast::Interval { .. } => return Err(SqlError::unsupported("interval fields and precision")),
        Ast::JSONB => DataType::Jsonb,
        Ast::JSON => return Err(SqlError::unsupported("the type json (jsonb is supported)")),
        Ast::Varchar(limit) | Ast::CharacterVarying(limit) => DataType::Varchar(length(limit)?),
        Ast::Custom(name, modifiers) if modifiers.is_empty() => {
            let name = name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default();
            match name.as_str() {
                "int2" => DataType::Int2,
                "int4" => DataType::Int4,
                "int8" => DataType::Int8,
                "float4" => DataType::Float4,
                "float8" => DataType::Float8,
                "bool" => DataType::Bool,
                "varchar" => DataType::Varchar(None),
                "bpchar" => DataType::Char(None),
                "timestamptz" => DataType::TimestampTz,
                _ => return Err(SqlError::new(SqlState::UNDEFINED_OBJECT, format!("type \"{name}\" does not exist"))),
            }
        }
        other => return Err(SqlError::unsupported(format!("the type {other}"))),
    })
}

fn numeric_precision(precision: u64) -> SqlResult<u16> {
    u16::try_from(precision).ok().filter(|precision| (1..=1000).contains(precision)).ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {precision} must be between 1 and 1000"),
        )
    })
}

/// The name PostgreSQL gives a result column computed by `expression`.
pub fn output_name(expression: &Expr) -> String {
    match expression {
        Expr::Identifier(identifier) => fold(identifier),
        Expr::CompoundIdentifier(parts) => parts.last().map(fold).unwrap_or_default(),
        Expr::Nested(inner) => output_name(inner),
        Expr::Function(function) => {
            function.name.0.last().and_then(|part| part.as_ident()).map(fold).unwrap_or_default()
        }
        Expr::TypedString(typed) => match data_type_of(&typed.data_type) {
            Ok(data_type) => internal_type_name(data_type).to_string(),
            Err(_) => "?column?".into(),
        },
        Expr::Interval(_) => "interval".into(),
        Expr::Cast { expr, data_type, .. } => match output_name(expr).as_str() {
            // A cast of a literal or of another cast is named by its type, the outermost.
            _ if is_cast_or_typed_literal(expr) => match data_type_of(data_type) {
                Ok(data_type) => internal_type_name(data_type).to_string(),
                Err(_) => "?column?".into(),
            },
            "?column?" => match data_type_of(data_type) {
                Ok(data_type) => internal_type_name(data_type).to_string(),
                Err(_) => "?column?".into(),
            },
            name => name.to_string(),
        },
        _ => "?column?".into(),
    }
}

fn is_cast_or_typed_literal(expression: &Expr) -> bool {
    match expression {
        Expr::Cast { .. } | Expr::TypedString(_) => true,
        Expr::Nested(inner) => is_cast_or_typed_literal(inner),
        _ => false,
    }
}

/// PostgreSQL's internal type names, which name cast columns (`select 1::int` is `int4`).
fn internal_type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Bool => "bool",
        DataType::Int2 => "int2",
        DataType::Int4 => "int4",
        DataType::Int8 => "int8",
        DataType::Float4 => "float4",
        DataType::Float8 => "float8",
        DataType::Numeric(_) => "numeric",
        DataType::Text => "text",
        DataType::Varchar(_) => "varchar",
        DataType::Char(_) => "bpchar",
        DataType::Bytea => "bytea",
        DataType::Uuid => "uuid",
        DataType::Date => "date",
        DataType::Timestamp => "timestamp",
        DataType::TimestampTz => "timestamptz",
        DataType::Interval => "interval",
        DataType::Jsonb => "jsonb",
        DataType::Unknown => "unknown",
    }
}
