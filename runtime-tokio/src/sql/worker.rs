//! The SQL worker: a thread of its own running every SQL session of this node.
//!
//! The engine in core is runtime-agnostic `async` code whose futures are not
//! `Send` (its executor's cursors are boxed futures, generic over the
//! transaction), so sessions cannot live on the node's multi-threaded
//! runtime. They live here, each a task on one current-thread runtime; a wire
//! connection reaches its session through a channel and awaits the answers.
//! A session whose connection goes away rolls back its open transaction.

use std::sync::Arc;

use shardforge_core::sql::session::{Prepared, Session, SessionConfig, StatementResult, TransactionStatus};
use shardforge_core::sql::settings::Settings;
use shardforge_core::sql::types::{DataType, Value};
use shardforge_core::sql::SqlResult;
use sqlparser::ast::Statement;
use tokio::sync::{mpsc, oneshot};

use crate::gateway::GrpcGateway;
use crate::kv::{Kv, TokioRuntime};

type NodeSession = Session<GrpcGateway, TokioRuntime>;

/// What a connection asks of its session.
pub enum Request {
    /// A simple query: every statement of the text.
    Simple { text: String, reply: oneshot::Sender<Answer> },
    /// The extended protocol's Parse: the statement typed, not run.
    Prepare {
        text: String,
        declared: Vec<Option<DataType>>,
        reply: oneshot::Sender<(SqlResult<Prepared>, TransactionStatus)>,
    },
    /// The extended protocol's Execute of a bound statement.
    Run { statement: Box<Statement>, parameters: Vec<Value>, reply: oneshot::Sender<Answer> },
}

/// The answer to a simple query.
pub struct Answer {
    pub results: Vec<StatementResult>,
    pub status: TransactionStatus,
    /// Reported settings that SET changed: ParameterStatus messages to send.
    pub reported_changes: Vec<(String, String)>,
}

/// A connection's end of its session.
#[derive(Clone)]
pub struct SessionHandle {
    requests: mpsc::UnboundedSender<Request>,
}

impl SessionHandle {
    /// Runs a simple query; None if the worker is gone.
    pub async fn simple(&self, text: String) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Simple { text, reply }).ok()?;
        answer.await.ok()
    }

    /// Parses and types one statement; None if the worker is gone.
    pub async fn prepare(
        &self,
        text: String,
        declared: Vec<Option<DataType>>,
    ) -> Option<(SqlResult<Prepared>, TransactionStatus)> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Prepare { text, declared, reply }).ok()?;
        answer.await.ok()
    }

    /// Runs one prepared statement with its parameters; None if the worker is gone.
    pub async fn run(&self, statement: Statement, parameters: Vec<Value>) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Run { statement: Box::new(statement), parameters, reply }).ok()?;
        answer.await.ok()
    }
}

struct Open {
    user: String,
    reply: oneshot::Sender<SessionHandle>,
}

/// Starts sessions on the worker's thread.
pub struct SqlWorker {
    opens: mpsc::UnboundedSender<Open>,
}

impl SqlWorker {
    /// Starts the worker's thread; its sessions reach the cluster through `kv`'s transport.
    pub fn start(kv: Arc<Kv>) -> std::io::Result<SqlWorker> {
        let (opens, mut receiver) = mpsc::unbounded_channel::<Open>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("sql".into()).spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                while let Some(open) = receiver.recv().await {
                    let settings = kv.settings();
                    let config = SessionConfig {
                        max_offset_nanos: settings.max_offset_nanos,
                        commit_wait: settings.commit_wait,
                        knobs: settings.knobs,
                    };
                    let session = Session::new(kv.gateway(), TokioRuntime, config, &open.user);
                    let (requests, incoming) = mpsc::unbounded_channel();
                    tokio::task::spawn_local(serve(session, incoming));
                    let _ = open.reply.send(SessionHandle { requests });
                }
            });
        })?;
        Ok(SqlWorker { opens })
    }

    /// A new session for `user`; None if the worker is gone.
    pub async fn open(&self, user: &str) -> Option<SessionHandle> {
        let (reply, handle) = oneshot::channel();
        self.opens.send(Open { user: user.into(), reply }).ok()?;
        handle.await.ok()
    }
}

async fn serve(mut session: NodeSession, mut incoming: mpsc::UnboundedReceiver<Request>) {
    while let Some(request) = incoming.recv().await {
        match request {
            Request::Simple { text, reply } => {
                let results = session.execute(&text).await;
                let answer = Answer {
                    results,
                    status: session.status(),
                    reported_changes: session.settings.take_reported_changes(),
                };
                let _ = reply.send(answer);
            }
            Request::Prepare { text, declared, reply } => {
                let prepared = session.prepare(&text, &declared).await;
                let _ = reply.send((prepared, session.status()));
            }
            Request::Run { statement, parameters, reply } => {
                let result = session.run(&statement, &parameters).await;
                let answer = Answer {
                    results: vec![result],
                    status: session.status(),
                    reported_changes: session.settings.take_reported_changes(),
                };
                let _ = reply.send(answer);
            }
        }
    }
    // The connection is gone: an open block is rolled back, releasing its intents.
    if session.status() != TransactionStatus::Idle {
        let _ = session.execute("ROLLBACK").await;
    }
}

/// The settings a new session reports at startup.
pub fn startup_parameters() -> Vec<(String, String)> {
    Settings::default().reported()
}
