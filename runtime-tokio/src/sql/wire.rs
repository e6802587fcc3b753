//! The PostgreSQL wire protocol front end (pgwire): startup, the simple query
//! protocol, and the mapping of a session's answers onto protocol messages.
//!
//! Each connection gets its own handlers and a session on the SQL worker.
//! The ReadyForQuery status comes from the session (I, T or E), not from
//! guessing at command tags, and ParameterStatus follows a SET of a reported
//! setting. Authentication is "trust" for now: any user name is accepted.
//! A malformed message is pgwire's to refuse: it closes that connection only.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, ServerParameterProvider,
    StartupHandler,
};
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, ReadyForQuery, TransactionStatus as WireStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use shardforge_core::sql::datetime::TimeZone;
use shardforge_core::sql::execute::Output;
use shardforge_core::sql::session::{StatementResult, TransactionStatus};
use shardforge_core::sql::{Notice, SqlError};

use super::extended::Extended;
use super::formats;
use super::worker::{startup_parameters, SessionHandle, SqlWorker};

/// One connection's handlers.
pub struct Connection {
    state: Arc<ConnectionState>,
}

impl Connection {
    pub fn new(worker: Arc<SqlWorker>) -> Connection {
        let state = ConnectionState {
            worker,
            session: Mutex::new(None),
            extended: Mutex::new(Extended::default()),
            status: Mutex::new(TransactionStatus::Idle),
            time_zone: Mutex::new(TimeZone::UTC),
        };
        Connection { state: Arc::new(state) }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.state)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.state)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.state)
    }
}

pub struct ConnectionState {
    worker: Arc<SqlWorker>,
    session: Mutex<Option<SessionHandle>>,
    extended: Mutex<Extended>,
    /// The session's transaction state after its last answer (for Sync).
    status: Mutex<TransactionStatus>,
    /// The session's `TimeZone` as its ParameterStatus last reported it: Bind
    /// reads timestamptz parameters in text in it.
    time_zone: Mutex<TimeZone>,
}

impl ConnectionState {
    pub(super) fn session(&self) -> PgWireResult<SessionHandle> {
        let session = self.session.lock().expect("session lock").clone();
        session.ok_or_else(|| PgWireError::ApiError("no session: startup did not finish".into()))
    }

    pub(super) fn extended(&self) -> std::sync::MutexGuard<'_, Extended> {
        self.extended.lock().expect("extended protocol state lock")
    }

    /// Follows the reported settings an answer carries (the time zone, for Bind).
    pub(super) fn note_reported(&self, changes: &[(String, String)]) {
        for (name, value) in changes {
            if name.eq_ignore_ascii_case("timezone") {
                *self.time_zone.lock().expect("time zone lock") =
                    TimeZone::from_setting(value).unwrap_or(TimeZone::UTC);
            }
        }
    }

    pub(super) fn time_zone(&self) -> TimeZone {
        *self.time_zone.lock().expect("time zone lock")
    }

    pub(super) fn set_status(&self, status: TransactionStatus) {
        *self.status.lock().expect("status lock") = status;
    }

    pub(super) fn status(&self) -> TransactionStatus {
        *self.status.lock().expect("status lock")
    }
}

struct Parameters;

impl ServerParameterProvider for Parameters {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<std::collections::HashMap<String, String>> {
        Some(startup_parameters().into_iter().collect())
    }
}

pub(super) fn worker_gone() -> PgWireError {
    PgWireError::ApiError("the SQL worker stopped".into())
}

#[async_trait]
impl StartupHandler for ConnectionState {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = &message else { return Ok(()) };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, secret_key) = RandomPidSecretKeyGenerator::default().generate(client);
        client.set_pid_and_secret_key(pid, secret_key);
        let user = client.metadata().get("user").cloned().unwrap_or_else(|| "postgres".into());
        let session = self.worker.open(&user).await.ok_or_else(worker_gone)?;
        *self.session.lock().expect("session lock") = Some(session);
        finish_authentication(client, &Parameters).await
    }
}

#[async_trait]
impl SimpleQueryHandler for ConnectionState {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.set_state(PgWireConnectionState::QueryInProgress);
        let answer = self.session()?.simple(query.query).await.ok_or_else(worker_gone)?;
        self.set_status(answer.status);
        self.note_reported(&answer.reported_changes);
        if answer.results.is_empty() {
            client.feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
        }
        for result in &answer.results {
            send_result(client, result).await?;
        }
        for (name, value) in answer.reported_changes {
            client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
        }
        let status = wire_status(answer.status);
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        client.send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status))).await?;
        Ok(())
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_query answers every simple query itself")
    }
}

pub fn wire_status(status: TransactionStatus) -> WireStatus {
    match status {
        TransactionStatus::Idle => WireStatus::Idle,
        TransactionStatus::InBlock => WireStatus::Transaction,
        TransactionStatus::Failed => WireStatus::Error,
    }
}

async fn send_result<C>(client: &mut C, result: &StatementResult) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in &result.notices {
        client.feed(notice_response(notice)).await?;
    }
    match &result.outcome {
        Ok(Output::Command { tag }) => {
            client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(tag.clone()))).await?
        }
        Ok(Output::Rows { columns, rows, tag }) => {
            client.feed(PgWireBackendMessage::RowDescription(formats::row_description(columns, &[]))).await?;
            for row in rows {
                client.feed(PgWireBackendMessage::DataRow(formats::data_row(row, &[]))).await?;
            }
            client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(tag.clone()))).await?;
        }
        Err(error) => client.feed(PgWireBackendMessage::ErrorResponse(error_info(error).into())).await?,
    }
    Ok(())
}

pub fn error_info(error: &SqlError) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".into(), error.state.0.into(), error.message.clone());
    info.detail = error.detail.clone();
    info.hint = error.hint.clone();
    info.position = error.position.map(|position| position.to_string());
    info
}

pub(super) fn notice_response(notice: &Notice) -> PgWireBackendMessage {
    // 00000 for a notice, 01000 for a warning, as PostgreSQL sends them.
    let code = if notice.severity == "WARNING" { "01000" } else { "00000" };
    PgWireBackendMessage::NoticeResponse(
        ErrorInfo::new(notice.severity.into(), code.into(), notice.message.clone()).into(),
    )
}
