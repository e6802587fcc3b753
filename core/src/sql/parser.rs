//! Statement text to syntax trees: sqlparser's PostgreSQL dialect, with its
//! errors reworded as PostgreSQL words them (`syntax error at or near "x"`,
//! SQLSTATE 42601) and positioned by character, as clients expect the caret.
//!
//! A string of several statements is parsed whole before any runs, as
//! PostgreSQL does for a simple query: a syntax error anywhere runs nothing.
//! Nesting is bounded (sqlparser's recursion limit), so a deep expression is
//! an error rather than a stack overflow.

use sqlparser::ast::{Expr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use super::error::{SqlError, SqlResult};

/// How deep expressions and subqueries may nest.
const NESTING_DEPTH_MAX: usize = 200;

/// Every statement of `text`, in order.
pub fn parse(text: &str) -> SqlResult<Vec<Statement>> {
    let parser = Parser::new(&PostgreSqlDialect {}).with_recursion_limit(NESTING_DEPTH_MAX);
    let statements = parser.try_with_sql(text).and_then(|mut parser| parser.parse_statements());
    statements.map_err(|error| syntax_error(text, error))
}

/// One expression (a stored DEFAULT or CHECK).
pub fn parse_expression(text: &str) -> SqlResult<Expr> {
    let parser = Parser::new(&PostgreSqlDialect {}).with_recursion_limit(NESTING_DEPTH_MAX);
    let expression = parser.try_with_sql(text).and_then(|mut parser| parser.parse_expr());
    expression.map_err(|error| syntax_error(text, error))
}

fn syntax_error(text: &str, error: ParserError) -> SqlError {
    let message = match error {
        ParserError::RecursionLimitExceeded => {
            return SqlError::new(super::error::SqlState::PROGRAM_LIMIT_EXCEEDED, "statement is nested too deeply")
        }
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
    };
    let (message, position) = split_location(text, &message);
    let reworded = match message.split_once(", found: ") {
        Some((_, "EOF")) => "syntax error at end of input".to_string(),
        Some((_, found)) => format!("syntax error at or near \"{}\"", found.trim_matches('"')),
        None => message.to_string(),
    };
    let error = SqlError::syntax(reworded);
    let position = position.or_else(|| message.ends_with("found: EOF").then(|| text.chars().count() + 1));
    match position {
        Some(position) => error.at(position),
        None => error,
    }
}

/// The message without its " at Line: L, Column: C" suffix, and that place as
/// a 1-based character offset into `text`.
fn split_location<'a>(text: &str, message: &'a str) -> (&'a str, Option<usize>) {
    let Some((message, location)) = message.rsplit_once(" at Line: ") else { return (message, None) };
    let Some((line, column)) = location.split_once(", Column: ") else { return (message, None) };
    let (Ok(line), Ok(column)) = (line.parse::<usize>(), column.parse::<usize>()) else { return (message, None) };
    (message, Some(position_of(text, line, column)))
}

/// The 1-based character position of `line` and `column` (both from 1) in `text`.
pub fn position_of(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text.split('\n').take(line.saturating_sub(1)).map(|line| line.chars().count() + 1).sum();
    before + column
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::SqlState;

    #[test]
    fn several_statements_parse_in_order() {
        let statements =
            parse("create table t (a int primary key); insert into t values (1); select * from t;").unwrap();
        assert_eq!(statements.len(), 3);
        assert!(parse("").unwrap().is_empty(), "an empty string is no statement");
        assert!(parse(" ; ;").unwrap().is_empty());
    }

    #[test]
    fn syntax_errors_say_where_as_postgresql_does() {
        // PostgreSQL 15: ERROR:  syntax error at or near "form", LINE 1: select 1 form t; position 10.
        let error = parse("select 1 form t").unwrap_err();
        assert_eq!(error.state, SqlState::SYNTAX_ERROR);
        assert_eq!(error.message, "syntax error at or near \"t\"");
        let error = parse("select * from").unwrap_err();
        assert_eq!(error.message, "syntax error at end of input");
        assert_eq!(error.position, Some(14));
        let error = parse("select 1;\nselec 2").unwrap_err();
        assert_eq!(error.message, "syntax error at or near \"selec\"");
        assert_eq!(error.position, Some(11), "the second line's first character");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("select {}1{}", "(".repeat(5_000), ")".repeat(5_000));
        let error = parse(&text).unwrap_err();
        assert_eq!(error.state, SqlState::PROGRAM_LIMIT_EXCEEDED);
    }
}
