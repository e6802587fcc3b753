//! SQL errors as PostgreSQL reports them: a five-character SQLSTATE, a message,
//! an optional detail and hint, and for errors in the statement text the
//! 1-based character position the client puts a caret under.
//!
//! Every failure a client can cause is one of these, never a panic: the wire
//! front end turns it into an ErrorResponse, the shell prints it with its code.

use std::fmt;

/// A PostgreSQL error code (Appendix A of PostgreSQL's manual).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SqlState(pub &'static str);

impl SqlState {
    pub const SYNTAX_ERROR: SqlState = SqlState("42601");
    pub const UNDEFINED_TABLE: SqlState = SqlState("42P01");
    pub const UNDEFINED_COLUMN: SqlState = SqlState("42703");
    pub const UNDEFINED_OBJECT: SqlState = SqlState("42704");
    pub const UNDEFINED_FUNCTION: SqlState = SqlState("42883");
    pub const DUPLICATE_TABLE: SqlState = SqlState("42P07");
    pub const DUPLICATE_COLUMN: SqlState = SqlState("42701");
    pub const DUPLICATE_OBJECT: SqlState = SqlState("42710");
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState("42702");
    pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
    pub const INVALID_TABLE_DEFINITION: SqlState = SqlState("42P16");
    pub const INVALID_COLUMN_REFERENCE: SqlState = SqlState("42P10");
    pub const GROUPING_ERROR: SqlState = SqlState("42803");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
    pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
    pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState("22001");
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState("22007");
    pub const DATETIME_FIELD_OVERFLOW: SqlState = SqlState("22008");
    pub const NOT_NULL_VIOLATION: SqlState = SqlState("23502");
    pub const UNIQUE_VIOLATION: SqlState = SqlState("23505");
    pub const CHECK_VIOLATION: SqlState = SqlState("23514");
    pub const SERIALIZATION_FAILURE: SqlState = SqlState("40001");
    pub const IN_FAILED_TRANSACTION: SqlState = SqlState("25P02");
    pub const ACTIVE_TRANSACTION: SqlState = SqlState("25001");
    pub const NO_ACTIVE_TRANSACTION: SqlState = SqlState("25P01");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
    pub const QUERY_CANCELED: SqlState = SqlState("57014");
    pub const CARDINALITY_VIOLATION: SqlState = SqlState("21000");
    pub const DUPLICATE_ALIAS: SqlState = SqlState("42712");
    pub const WRONG_OBJECT_TYPE: SqlState = SqlState("42809");
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState("2BP01");
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState("55000");
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState("54000");
    pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
    /// Stored bytes that do not decode: corruption or a bug.
    pub const DATA_CORRUPTED: SqlState = SqlState("XX001");
}

impl fmt::Display for SqlState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

/// One error, as the client will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    pub state: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character offset into the statement text.
    pub position: Option<usize>,
    /// Where in the text (line, column, both from 1) the error was found,
    /// until [`SqlError::placed_in`] turns it into a position: the binder
    /// knows the syntax tree's locations, the session knows the text.
    pub location: Option<(u32, u32)>,
}

impl SqlError {
    pub fn new(state: SqlState, message: impl Into<String>) -> SqlError {
        SqlError { state, message: message.into(), detail: None, hint: None, position: None, location: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> SqlError {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.hint = Some(hint.into());
        self
    }

    pub fn at(mut self, position: usize) -> SqlError {
        self.position = Some(position);
        self
    }

    /// Marks where in the text the error was found (line and column from 1;
    /// line 0, an unknown place, leaves it unmarked).
    pub fn at_location(mut self, line: u64, column: u64) -> SqlError {
        if line > 0 && self.location.is_none() {
            let clamp = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
            self.location = Some((clamp(line), clamp(column)));
        }
        self
    }

    /// The error with its location in `text` as a character position.
    pub fn placed_in(mut self, text: &str) -> SqlError {
        if let (None, Some((line, column))) = (self.position, self.location) {
            self.position = Some(super::parser::position_of(text, line as usize, column as usize));
        }
        self
    }

    /// SQLSTATE 0A000 naming what is not supported yet.
    pub fn unsupported(feature: impl fmt::Display) -> SqlError {
        SqlError::new(SqlState::FEATURE_NOT_SUPPORTED, format!("{feature} is not supported"))
    }

    pub fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlState::SYNTAX_ERROR, message)
    }

    pub fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlState::INTERNAL_ERROR, message)
    }

    pub fn corrupted(what: impl fmt::Display) -> SqlError {
        SqlError::new(SqlState::DATA_CORRUPTED, format!("stored data does not decode: {what}"))
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "ERROR:  {} (SQLSTATE {})", self.message, self.state)?;
        if let Some(detail) = &self.detail {
            write!(formatter, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(formatter, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SqlError {}

pub type SqlResult<T> = Result<T, SqlError>;

/// A message for the client that is not an error (a NoticeResponse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `NOTICE` or `WARNING`, as PostgreSQL would send it.
    pub severity: &'static str,
    pub message: String,
}

impl Notice {
    pub fn new(message: impl Into<String>) -> Notice {
        Notice { severity: "NOTICE", message: message.into() }
    }

    pub fn warning(message: impl Into<String>) -> Notice {
        Notice { severity: "WARNING", message: message.into() }
    }
}

impl From<crate::numeric::NumericError> for SqlError {
    fn from(error: crate::numeric::NumericError) -> SqlError {
        let mut converted = SqlError::new(SqlState(error.sqlstate), error.message);
        converted.detail = error.detail;
        converted
    }
}
