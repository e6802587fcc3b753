//! A SQL session: what one client connection keeps across statements — its
//! settings, its open transaction and the gateway that transaction talks
//! through — and the transaction rules PostgreSQL clients expect.
//!
//! - **Implicit transactions.** Outside BEGIN, each statement is its own
//!   transaction. Its writes are buffered and committed together at its end
//!   (one command when they fall in one range), and a retryable conflict
//!   (40001) restarts it with a backoff: nothing has reached the client yet,
//!   since a statement's answer is built before it is sent. A commit whose
//!   outcome is unknown is never retried (it may have happened): the client
//!   gets 40003.
//! - **Explicit transactions.** BEGIN opens one transaction for the
//!   statements up to COMMIT or ROLLBACK. A conflict goes to the client as
//!   40001 naming the transaction and the key; after any error the transaction
//!   is rolled back at once (its intents released) and every statement but
//!   ROLLBACK answers 25P02 until the client ends the block.
//! - **Isolation.** Every level is accepted and runs as serializable; a
//!   weaker level asked for draws a notice saying so.
//! - **Commit wait.** An acknowledgement waits for the gateway's clock as the
//!   key-value client's does (`kv::client`), so real-time order holds.
//!
//! Time and randomness come from the runtime ([`KvRuntime`]), so the
//! simulator replays a session exactly.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sqlparser::ast::{self, Statement};

use super::binder::Binder;
use super::datetime::TimeZone;
use super::error::{Notice, SqlError, SqlResult, SqlState};
use super::execute::{self, Cursor, Output};
use super::expression::Context;
use super::kv::{transaction_error, CoordinatorKv, KeyValueTransaction};
use super::optimizer;
use super::plan::{OutputColumn, Plan};
use super::sequences::SequenceValues;
use super::settings::Settings;
use super::types::{DataType, Value};
use crate::keys::Key;
use crate::kv::client::{new_transaction_id, restart_backoff_nanos, BLOCKED_PAUSE_NANOS, CLOCK_WAIT_PAUSE_NANOS};
use crate::kv::KvRuntime;
use crate::txn::coordinator::{RangeSender, Transaction, TransactionError, TransactionKnobs};
use crate::types::Timestamp;

/// Tries of an implicit statement before its conflict goes to the client.
pub const IMPLICIT_ATTEMPTS_MAX: u32 = 30;
/// How long a blocked operation is retried when `statement_timeout` is 0.
const BLOCKED_WAIT_DEFAULT_NANOS: u64 = 2_000_000_000;

/// What the session needs from the sender besides routing.
pub trait SessionSender: RangeSender {
    /// Whether a commit was sent without a definite answer since last asked.
    fn take_commit_in_doubt(&mut self) -> bool;
}

impl<T: crate::txn::gateway::NodeTransport> SessionSender for crate::txn::gateway::Gateway<T> {
    fn take_commit_in_doubt(&mut self) -> bool {
        crate::txn::gateway::Gateway::take_commit_in_doubt(self)
    }
}

/// How the session's transactions run.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    pub max_offset_nanos: u64,
    pub commit_wait: bool,
    pub knobs: TransactionKnobs,
}

/// A statement prepared by the extended protocol's Parse: what Describe
/// reports, typed by the catalog so that ParameterDescription and
/// RowDescription are exact. `statement` is None for an empty query.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub statement: Option<Statement>,
    pub parameter_types: Vec<DataType>,
    pub columns: Vec<OutputColumn>,
}

/// One statement's answer: its output or its error, and its notices.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementResult {
    pub outcome: SqlResult<Output>,
    pub notices: Vec<Notice>,
}

/// Where the session's transaction stands: the ReadyForQuery status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// `I`: no transaction block.
    Idle,
    /// `T`: inside BEGIN.
    InBlock,
    /// `E`: inside a block that failed; only ROLLBACK helps.
    Failed,
}

enum Block {
    None,
    Open(Box<Transaction>),
    Failed,
}

pub struct Session<S: SessionSender, R: KvRuntime> {
    sender: S,
    runtime: R,
    config: SessionConfig,
    block: Block,
    pub settings: Settings,
    user: String,
    /// `currval` and the values prepared for a statement's `nextval` calls.
    sequences: std::cell::RefCell<SequenceValues>,
}

fn in_failed_block() -> SqlError {
    SqlError::new(
        SqlState::IN_FAILED_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn command(tag: &str) -> SqlResult<Output> {
    Ok(Output::Command { tag: tag.into() })
}

impl<S: SessionSender, R: KvRuntime> Session<S, R> {
    pub fn new(sender: S, runtime: R, config: SessionConfig, user: &str) -> Session<S, R> {
        Session {
            sender,
            runtime,
            config,
            block: Block::None,
            settings: Settings::default(),
            user: user.into(),
            sequences: Default::default(),
        }
    }

    pub fn status(&self) -> TransactionStatus {
        match self.block {
            Block::None => TransactionStatus::Idle,
            Block::Open(_) => TransactionStatus::InBlock,
            Block::Failed => TransactionStatus::Failed,
        }
    }

    pub fn sender(&mut self) -> &mut S {
        &mut self.sender
    }

    /// Runs every statement of `text` (a simple query), stopping at the first error.
    pub async fn execute(&mut self, text: &str) -> Vec<StatementResult> {
        let statements = match super::parser::parse(text) {
            Ok(statements) => statements,
            Err(error) => {
                if let Block::Open(_) = self.block {
                    self.fail_block().await;
                }
                return vec![StatementResult { outcome: Err(error), notices: Vec::new() }];
            }
        };
        let mut results = if statements.len() > 1 && matches!(self.block, Block::None) {
            self.implicit_string(&statements).await
        } else {
            self.run_each(&statements).await
        };
        for result in &mut results {
            if let Err(error) = &mut result.outcome {
                *error = std::mem::replace(error, SqlError::internal("")).placed_in(text);
            }
        }
        results
    }

    /// Runs `statements` in order, stopping at the first error.
    async fn run_each(&mut self, statements: &[Statement]) -> Vec<StatementResult> {
        let mut results = Vec::new();
        for statement in statements {
            let result = self.run(statement, &[]).await;
            let failed = result.outcome.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }

    /// Several statements of one simple query run as one implicit
    /// transaction, as in PostgreSQL: an error undoes every statement of it,
    /// a BEGIN turns it into the block (the statements before it included), a
    /// COMMIT or ROLLBACK ends it and the statements after start another. A
    /// string without transaction control that meets a conflict (40001) runs
    /// again: nothing has reached the client, the answers go out together.
    async fn implicit_string(&mut self, statements: &[Statement]) -> Vec<StatementResult> {
        let controls_transactions = statements.iter().any(|statement| {
            matches!(
                statement,
                Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Rollback { .. }
            )
        });
        let mut results = Vec::new();
        for attempt in 0..IMPLICIT_ATTEMPTS_MAX {
            if attempt > 0 {
                self.restart_pause(attempt).await;
            }
            self.sender.take_commit_in_doubt();
            results = self.run_string(statements).await;
            let conflict = results.last().is_some_and(
                |result| matches!(&result.outcome, Err(error) if error.state == SqlState::SERIALIZATION_FAILURE),
            );
            if controls_transactions || !conflict {
                break;
            }
        }
        results
    }

    async fn run_string(&mut self, statements: &[Statement]) -> Vec<StatementResult> {
        let mut results = Vec::new();
        let mut implicit = false;
        for statement in statements {
            if matches!(self.block, Block::None) {
                let transaction = self.begin_transaction();
                self.block = Block::Open(Box::new(transaction));
                implicit = true;
            }
            let result = match statement {
                Statement::StartTransaction { modes, .. } if implicit => {
                    implicit = false;
                    let mut notices = Vec::new();
                    isolation_notices(modes, &mut notices);
                    StatementResult { outcome: command("BEGIN"), notices }
                }
                // PostgreSQL warns, then ends the implicit transaction as asked.
                Statement::Commit { .. } | Statement::Rollback { savepoint: None, .. } if implicit => {
                    let mut result = self.run(statement, &[]).await;
                    result.notices.insert(0, Notice::warning("there is no transaction in progress"));
                    result
                }
                statement => self.run(statement, &[]).await,
            };
            let failed = result.outcome.is_err();
            results.push(result);
            if !matches!(self.block, Block::Open(_)) && implicit {
                // Ended by COMMIT or ROLLBACK, or failed (and rolled back by `run`).
                self.block = Block::None;
                implicit = false;
            }
            if failed {
                break;
            }
        }
        if implicit {
            if let Block::Open(mut transaction) = std::mem::replace(&mut self.block, Block::None) {
                if let Err(error) = self.commit_transaction(&mut transaction, Vec::new()).await {
                    results.push(StatementResult { outcome: Err(error), notices: Vec::new() });
                }
            }
        }
        results
    }

    /// Parses and binds one statement without running it (the extended
    /// protocol's Parse): its parameter types (those the client declared, the
    /// rest inferred) and its result columns. Binding reads the catalog in the
    /// open block's transaction, or in a transaction of its own that is dropped.
    /// An error fails an open block, as an error of any statement does.
    pub async fn prepare(&mut self, text: &str, declared: &[Option<DataType>]) -> SqlResult<Prepared> {
        let prepared = self.prepare_in_place(text, declared).await.map_err(|error| error.placed_in(text));
        if prepared.is_err() {
            if let Block::Open(_) = self.block {
                self.fail_block().await;
            }
        }
        prepared
    }

    async fn prepare_in_place(&mut self, text: &str, declared: &[Option<DataType>]) -> SqlResult<Prepared> {
        if let Block::Failed = self.block {
            return Err(in_failed_block());
        }
        let mut statements = super::parser::parse(text)?;
        if statements.len() > 1 {
            return Err(SqlError::syntax("cannot insert multiple commands into a prepared statement"));
        }
        let Some(statement) = statements.pop() else {
            return Ok(Prepared { statement: None, parameter_types: Vec::new(), columns: Vec::new() });
        };
        let columns = match &statement {
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Set(_) => Some(Vec::new()),
            Statement::ShowVariable { variable } => match self.settings.show(variable)? {
                Output::Rows { columns, .. } => Some(columns),
                Output::Command { .. } => Some(Vec::new()),
            },
            _ => None,
        };
        if let Some(columns) = columns {
            return Ok(Prepared { statement: Some(statement), parameter_types: Vec::new(), columns });
        }
        let deadline = self.deadline();
        let (parameter_types, columns) = match &mut self.block {
            Block::Open(transaction) => {
                let mut kv = CoordinatorKv {
                    transaction,
                    sender: &mut self.sender,
                    runtime: &mut self.runtime,
                    deadline,
                    buffer: None,
                };
                describe(&statement, declared, &mut kv).await?
            }
            _ => {
                let mut transaction = self.begin_transaction();
                let mut kv = CoordinatorKv {
                    transaction: &mut transaction,
                    sender: &mut self.sender,
                    runtime: &mut self.runtime,
                    deadline,
                    buffer: None,
                };
                // Binding only reads: the transaction has nothing to commit or undo.
                describe(&statement, declared, &mut kv).await?
            }
        };
        Ok(Prepared { statement: Some(statement), parameter_types, columns })
    }

    /// Runs one parsed statement with parameter values.
    pub async fn run(&mut self, statement: &Statement, parameters: &[Value]) -> StatementResult {
        let mut notices = Vec::new();
        let mut outcome = self.dispatch(statement, parameters, &mut notices).await;
        if let Ok(Output::Rows { rows, .. }) = &mut outcome {
            shown_in_zone(rows, self.settings.time_zone());
        }
        if outcome.is_err() {
            if let Block::Open(_) = self.block {
                self.fail_block().await;
            }
        }
        StatementResult { outcome, notices }
    }

    async fn fail_block(&mut self) {
        if let Block::Open(mut transaction) = std::mem::replace(&mut self.block, Block::Failed) {
            transaction.rollback(&mut self.sender).await;
        }
    }

    async fn dispatch(
        &mut self,
        statement: &Statement,
        parameters: &[Value],
        notices: &mut Vec<Notice>,
    ) -> SqlResult<Output> {
        match statement {
            Statement::StartTransaction { modes, .. } => return self.begin(modes, notices),
            Statement::Commit { .. } => return self.commit(notices).await,
            Statement::Rollback { savepoint: None, .. } => return self.rollback(notices).await,
            _ => {}
        }
        if let Block::Failed = self.block {
            return Err(in_failed_block());
        }
        match statement {
            Statement::Set(set) => self.settings.set(set, notices).map(|()| Output::Command { tag: "SET".into() }),
            Statement::ShowVariable { variable } => self.settings.show(variable),
            _ => match &mut self.block {
                Block::Open(_) => self.in_block(statement, parameters, notices).await,
                _ => self.implicit(statement, parameters, notices).await,
            },
        }
    }

    fn begin(&mut self, modes: &[ast::TransactionMode], notices: &mut Vec<Notice>) -> SqlResult<Output> {
        isolation_notices(modes, notices);
        match self.block {
            Block::None => {
                let transaction = self.begin_transaction();
                self.block = Block::Open(Box::new(transaction));
            }
            _ => notices.push(Notice::warning("there is already a transaction in progress")),
        }
        command("BEGIN")
    }

    fn begin_transaction(&mut self) -> Transaction {
        let id = new_transaction_id(&mut self.runtime);
        Transaction::begin(id, self.sender.now(), self.config.max_offset_nanos, self.config.knobs)
    }

    /// The key-value client's backoff, jittered to between half and all of
    /// it, so that two statements restarting each other fall out of step.
    async fn restart_pause(&mut self, attempt: u32) {
        let backoff = restart_backoff_nanos(attempt);
        let jittered = backoff / 2 + self.runtime.random_u64() % (backoff / 2 + 1);
        self.runtime.sleep(jittered).await;
    }

    /// A restart keeps the first attempt's age (`Transaction::begin_restart`).
    fn restart_transaction(&mut self, first_start: Timestamp) -> Transaction {
        let id = new_transaction_id(&mut self.runtime);
        let now = self.sender.now();
        Transaction::begin_restart(id, now, first_start, self.config.max_offset_nanos, self.config.knobs)
    }

    async fn commit(&mut self, notices: &mut Vec<Notice>) -> SqlResult<Output> {
        match std::mem::replace(&mut self.block, Block::None) {
            Block::None => {
                notices.push(Notice::warning("there is no transaction in progress"));
                command("COMMIT")
            }
            Block::Failed => command("ROLLBACK"),
            Block::Open(mut transaction) => {
                self.commit_transaction(&mut transaction, Vec::new()).await?;
                command("COMMIT")
            }
        }
    }

    async fn rollback(&mut self, notices: &mut Vec<Notice>) -> SqlResult<Output> {
        match std::mem::replace(&mut self.block, Block::None) {
            Block::None => notices.push(Notice::warning("there is no transaction in progress")),
            Block::Failed => {}
            Block::Open(mut transaction) => transaction.rollback(&mut self.sender).await,
        }
        command("ROLLBACK")
    }

    /// When a blocked operation gives up, on the gateway's clock.
    fn deadline(&mut self) -> Timestamp {
        let timeout = match self.settings.statement_timeout_nanos() {
            0 => BLOCKED_WAIT_DEFAULT_NANOS,
            nanos => nanos,
        };
        let now = self.sender.now();
        Timestamp { wall_nanos: now.wall_nanos.saturating_add(timeout), logical: 0 }
    }

    async fn in_block(
        &mut self,
        statement: &Statement,
        parameters: &[Value],
        notices: &mut Vec<Notice>,
    ) -> SqlResult<Output> {
        let deadline = self.deadline();
        let row_id_seed = self.runtime.random_u64();
        let Block::Open(transaction) = &mut self.block else { unreachable!("called in a block") };
        let mut kv =
            CoordinatorKv { transaction, sender: &mut self.sender, runtime: &mut self.runtime, deadline, buffer: None };
        let user = self.user.clone();
        let time_zone = self.settings.time_zone();
        let environment = (user.as_str(), time_zone, &self.sequences);
        execute_statement(statement, parameters, &mut kv, environment, notices, row_id_seed).await
    }

    async fn implicit(
        &mut self,
        statement: &Statement,
        parameters: &[Value],
        notices: &mut Vec<Notice>,
    ) -> SqlResult<Output> {
        let mut last_error = None;
        let mut first_start = None;
        for attempt in 0..IMPLICIT_ATTEMPTS_MAX {
            if attempt > 0 {
                self.restart_pause(attempt).await;
            }
            self.sender.take_commit_in_doubt();
            let deadline = self.deadline();
            let mut transaction = match first_start {
                None => self.begin_transaction(),
                Some(first_start) => self.restart_transaction(first_start),
            };
            first_start.get_or_insert(transaction.start_timestamp());
            let row_id_seed = self.runtime.random_u64();
            let mut buffer = BTreeMap::new();
            let mut attempt_notices = Vec::new();
            let user = self.user.clone();
            let time_zone = self.settings.time_zone();
            let outcome = {
                let mut kv = CoordinatorKv {
                    transaction: &mut transaction,
                    sender: &mut self.sender,
                    runtime: &mut self.runtime,
                    deadline,
                    buffer: Some(&mut buffer),
                };
                let environment = (user.as_str(), time_zone, &self.sequences);
                execute_statement(statement, parameters, &mut kv, environment, &mut attempt_notices, row_id_seed).await
            };
            let outcome = match outcome {
                Ok(output) => {
                    self.commit_transaction(&mut transaction, buffer.into_iter().collect()).await.map(|()| output)
                }
                Err(error) => {
                    transaction.rollback(&mut self.sender).await;
                    Err(error)
                }
            };
            match outcome {
                Err(error)
                    if error.state == SqlState::SERIALIZATION_FAILURE && error.detail.as_deref() != Some(IN_DOUBT) =>
                {
                    last_error = Some(error)
                }
                outcome => {
                    notices.extend(attempt_notices);
                    return outcome;
                }
            }
        }
        Err(last_error.expect("every attempt failed"))
    }

    /// Commits `transaction` with `writes` (the buffered writes of an implicit
    /// statement), then waits out commit wait.
    async fn commit_transaction(
        &mut self,
        transaction: &mut Transaction,
        writes: Vec<(Key, Option<Vec<u8>>)>,
    ) -> SqlResult<()> {
        let deadline = self.deadline();
        let committed = loop {
            match transaction.commit_writes(&mut self.sender, &writes).await {
                Err(TransactionError::Blocked { .. }) if self.sender.now() < deadline => {
                    self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                Err(error @ TransactionError::Blocked { .. }) => {
                    transaction.rollback(&mut self.sender).await;
                    break Err(error);
                }
                other => break other,
            }
        };
        let commit_timestamp = match committed {
            Ok(timestamp) => timestamp,
            Err(_) if self.sender.take_commit_in_doubt() => {
                return Err(SqlError::new(SqlState("40003"), "the commit's outcome is unknown").with_detail(IN_DOUBT))
            }
            Err(error) => return Err(transaction_error(error)),
        };
        let until = if self.config.commit_wait { transaction.commit_wait_until() } else { Some(commit_timestamp) };
        if let Some(until) = until {
            while self.sender.now() < until {
                self.runtime.sleep(CLOCK_WAIT_PAUSE_NANOS).await;
            }
        }
        if let Some(forget) = transaction.forget_command() {
            let _ = self.sender.send(forget).await;
        }
        Ok(())
    }
}

/// Every isolation level runs as serializable; a weaker one asked for says so.
fn isolation_notices(modes: &[ast::TransactionMode], notices: &mut Vec<Notice>) {
    for mode in modes {
        if let ast::TransactionMode::IsolationLevel(level) = mode {
            if *level != ast::TransactionIsolationLevel::Serializable {
                notices.push(Notice::new(format!("isolation level {level} runs as SERIALIZABLE")));
            }
        }
    }
}

const IN_DOUBT: &str = "the commit may or may not have happened; it is not retried";

/// The parameter types and result columns of `statement`, bound in `kv`'s transaction.
async fn describe<K: KeyValueTransaction>(
    statement: &Statement,
    declared: &[Option<DataType>],
    kv: &mut K,
) -> SqlResult<(Vec<DataType>, Vec<OutputColumn>)> {
    let mut binder = Binder::new(kv, declared);
    let plan = binder.bind(statement).await?;
    let mut types = binder.parameters.resolved();
    if types.len() < declared.len() {
        types.extend(declared[types.len()..].iter().map(|data_type| data_type.unwrap_or(DataType::Text)));
    }
    Ok((types, plan.output_columns()))
}

/// Timestamptz results are shown in the session's zone as it is when they
/// leave the statement (a SET later in the same string does not change them).
fn shown_in_zone(rows: &mut [Vec<Value>], zone: TimeZone) {
    for value in rows.iter_mut().flatten() {
        if let Value::TimestampTz(instant) = value {
            instant.shown_in = zone;
        }
    }
}

/// Binds, optimizes and runs one statement in the transaction of `kv`.
pub async fn execute_statement<K: KeyValueTransaction>(
    statement: &Statement,
    parameters: &[Value],
    kv: &mut K,
    (user, time_zone, sequences): (&str, TimeZone, &std::cell::RefCell<SequenceValues>),
    notices: &mut Vec<Notice>,
    row_id_seed: u64,
) -> SqlResult<Output> {
    let parameter_types: Vec<Option<DataType>> = parameters.iter().map(|value| Some(value.data_type())).collect();
    let mut binder = Binder::new(kv, &parameter_types);
    let plan = binder.bind(statement).await?;
    notices.append(&mut binder.notices);
    let plan = optimizer::optimize(plan);
    let context = Context { parameters, user, sequences: Some(sequences), time_zone: Some(time_zone) };
    match plan {
        Plan::Query { root, columns } => {
            let mut cursor = Cursor::new(root);
            let mut rows = Vec::new();
            while let Some(row) = cursor.next(kv, &context).await? {
                rows.push(row);
            }
            let tag = format!("SELECT {}", rows.len());
            Ok(Output::Rows { columns, rows, tag })
        }
        plan => {
            // Hidden row ids: 63 random bits from a generator the session's
            // runtime seeded, unique across nodes without coordination (a
            // collision, about one in 2^31 after 2^32 rows of one table, is
            // refused as a duplicate key, never overwrites).
            let mut generator = ChaCha8Rng::seed_from_u64(row_id_seed);
            let mut row_id = || (generator.next_u64() >> 1) as i64;
            execute::execute_write(plan, kv, &context, notices, &mut row_id).await
        }
    }
}
