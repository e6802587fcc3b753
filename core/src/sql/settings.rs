//! Session settings: what SET changes and SHOW reads, with PostgreSQL 15's
//! names, defaults and spellings. Names are case-insensitive. A setting the
//! server reports to the client (ParameterStatus) is marked so, and a SET of
//! one is remembered for the wire front end to send again
//! ([`Settings::take_reported_changes`]).
//!
//! Only `statement_timeout` changes behaviour yet (how long a blocked
//! operation is retried); the others are kept and shown for clients that read
//! them. An unknown name is 42704, as in PostgreSQL.

use std::collections::BTreeMap;

use sqlparser::ast::{self, Expr, Ident, ObjectName};

use super::binder::expression::fold;
use super::datetime::TimeZone;
use super::error::{Notice, SqlError, SqlResult, SqlState};
use super::execute::Output;
use super::plan::OutputColumn;
use super::types::{DataType, Value};

/// The version clients parse: psql, pgbench and SQLAlchemy pick their queries by it.
pub const SERVER_VERSION: &str = "15.0";

/// (name as SHOW prints it, default, reported in ParameterStatus).
const KNOWN: &[(&str, &str, bool)] = &[
    ("application_name", "", true),
    ("client_encoding", "UTF8", true),
    ("client_min_messages", "notice", false),
    ("DateStyle", "ISO, MDY", true),
    ("default_transaction_isolation", "serializable", false),
    ("default_transaction_read_only", "off", false),
    ("extra_float_digits", "1", false),
    ("integer_datetimes", "on", true),
    ("IntervalStyle", "postgres", true),
    ("is_superuser", "on", true),
    ("lock_timeout", "0", false),
    ("search_path", "\"$user\", public", false),
    ("server_encoding", "UTF8", true),
    ("server_version", SERVER_VERSION, true),
    ("server_version_num", "150000", false),
    ("standard_conforming_strings", "on", true),
    ("statement_timeout", "0", false),
    ("TimeZone", "UTC", true),
    ("transaction_isolation", "serializable", false),
    ("transaction_read_only", "off", false),
];

/// Settings that may not be changed.
const FIXED: &[&str] =
    &["server_version", "server_version_num", "server_encoding", "integer_datetimes", "is_superuser"];

#[derive(Clone, Debug)]
pub struct Settings {
    /// By lower-cased name: (the name as shown, the value).
    values: BTreeMap<String, (String, String)>,
    reported_changes: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Settings {
        let values = KNOWN
            .iter()
            .map(|(name, default, _)| (name.to_lowercase(), (name.to_string(), default.to_string())))
            .collect();
        Settings { values, reported_changes: Vec::new() }
    }
}

fn unrecognized(name: &str) -> SqlError {
    SqlError::new(SqlState::UNDEFINED_OBJECT, format!("unrecognized configuration parameter \"{name}\""))
}

impl Settings {
    /// The settings reported at startup, as (name, value).
    pub fn reported(&self) -> Vec<(String, String)> {
        KNOWN
            .iter()
            .filter(|(_, _, reported)| *reported)
            .map(|(name, _, _)| (name.to_string(), self.values[&name.to_lowercase()].1.clone()))
            .collect()
    }

    /// Reported settings changed by SET since the last call.
    pub fn take_reported_changes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.reported_changes)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_lowercase()).map(|(_, value)| value.as_str())
    }

    /// The session's `TimeZone`, checked when it was set.
    pub fn time_zone(&self) -> TimeZone {
        self.get("timezone").and_then(TimeZone::from_setting).unwrap_or(TimeZone::UTC)
    }

    /// `statement_timeout` in nanoseconds; 0 for none.
    pub fn statement_timeout_nanos(&self) -> u64 {
        self.get("statement_timeout").and_then(|value| value.parse::<u64>().ok()).unwrap_or(0) * 1_000_000
    }

    pub fn set(&mut self, set: &ast::Set, notices: &mut Vec<Notice>) -> SqlResult<()> {
        match set {
            ast::Set::SingleAssignment { variable, values, .. } => {
                let name = object_name(variable);
                let value = match values.as_slice() {
                    [value] => setting_text(value)?,
                    values => values.iter().map(setting_text).collect::<SqlResult<Vec<_>>>()?.join(", "),
                };
                self.assign(&name, value)
            }
            ast::Set::SetTimeZone { value, .. } => self.assign("timezone", setting_text(value)?),
            ast::Set::SetNames { charset_name, .. } => self.assign("client_encoding", charset_name.value.clone()),
            ast::Set::SetTransaction { modes, .. } => {
                for mode in modes {
                    if let ast::TransactionMode::IsolationLevel(level) = mode {
                        if *level != ast::TransactionIsolationLevel::Serializable {
                            notices.push(Notice::new(format!("isolation level {level} runs as SERIALIZABLE")));
                        }
                    }
                }
                Ok(())
            }
            other => Err(SqlError::unsupported(format!("{other}"))),
        }
    }

    fn assign(&mut self, name: &str, value: String) -> SqlResult<()> {
        let key = name.to_lowercase();
        let Some((shown, _)) = self.values.get(&key).cloned() else { return Err(unrecognized(name)) };
        if FIXED.contains(&key.as_str()) {
            return Err(SqlError::new(SqlState("55P02"), format!("parameter \"{key}\" cannot be changed")));
        }
        let value = self.validated(&key, value)?;
        let value = if value.eq_ignore_ascii_case("default") {
            KNOWN
                .iter()
                .find(|(known, _, _)| known.to_lowercase() == key)
                .map(|(_, default, _)| default.to_string())
                .unwrap_or_default()
        } else {
            value
        };
        if KNOWN.iter().any(|(known, _, reported)| *reported && known.to_lowercase() == key) {
            self.reported_changes.push((shown.clone(), value.clone()));
        }
        self.values.insert(key, (shown, value));
        Ok(())
    }

    fn validated(&self, key: &str, value: String) -> SqlResult<String> {
        let invalid = || {
            SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{key}\": \"{value}\""),
            )
        };
        match key {
            "statement_timeout" | "lock_timeout" => {
                let milliseconds = value.trim().trim_end_matches("ms").trim();
                milliseconds.parse::<u64>().map(|number| number.to_string()).map_err(|_| invalid())
            }
            "extra_float_digits" => match value.trim().parse::<i32>() {
                Ok(digits) if (-15..=3).contains(&digits) => Ok(digits.to_string()),
                _ => Err(invalid()),
            },
            "client_encoding"
                if !matches!(value.to_uppercase().replace(['-', '_'], "").as_str(), "UTF8" | "UNICODE") =>
            {
                Err(SqlError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("encoding \"{value}\" is not supported; use UTF8"),
                ))
            }
            "client_encoding" => Ok("UTF8".into()),
            // Fixed offsets only (`datetime::zone`); PostgreSQL's message for a zone it does not know.
            "timezone" if !value.eq_ignore_ascii_case("default") && TimeZone::from_setting(&value).is_none() => {
                Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"TimeZone\": \"{value}\""),
                ))
            }
            "transaction_isolation" | "default_transaction_isolation" => Ok(value.to_lowercase()),
            _ => Ok(value),
        }
    }

    pub fn show(&self, variable: &[Ident]) -> SqlResult<Output> {
        let name = variable.iter().map(fold).collect::<Vec<_>>().join(" ");
        let name = match name.as_str() {
            "transaction isolation level" => "transaction_isolation".to_string(),
            "time zone" => "timezone".to_string(),
            other => other.to_string(),
        };
        if name == "all" {
            return Err(SqlError::unsupported("SHOW ALL"));
        }
        let (shown, value) = self.values.get(&name.to_lowercase()).ok_or_else(|| unrecognized(&name))?;
        Ok(Output::Rows {
            columns: vec![OutputColumn { name: shown.to_lowercase(), data_type: DataType::Text }],
            rows: vec![vec![Value::Text(value.clone())]],
            tag: "SHOW".into(),
        })
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0.iter().map(|part| part.as_ident().map(fold).unwrap_or_default()).collect::<Vec<_>>().join(".")
}

/// A SET value as text: a literal's text, a name, or a number.
fn setting_text(value: &Expr) -> SqlResult<String> {
    Ok(match value {
        Expr::Value(value) => match &value.value {
            ast::Value::SingleQuotedString(text) => text.clone(),
            ast::Value::Number(text, _) => text.clone(),
            ast::Value::Boolean(value) => if *value { "on" } else { "off" }.into(),
            other => other.to_string(),
        },
        Expr::Identifier(identifier) => identifier.value.clone(),
        Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => format!("-{}", setting_text(expr)?),
        other => other.to_string(),
    })
}
