//! The extended query protocol: Parse, Bind, Describe, Execute, Close, Sync.
//!
//! Parse types the statement on the session (parameters from the catalog,
//! result columns), so that ParameterDescription and RowDescription are exact
//! and a driver can bind an `i32` to `$1` of an integer column. Statements
//! and portals are kept per connection, named or unnamed ("" replaced by
//! each new one). A portal runs at its first Execute; its rows are then handed
//! out `max_rows` at a time with PortalSuspended between. On any error pgwire
//! sends the ErrorResponse and discards messages until Sync, whose
//! ReadyForQuery carries the session's transaction state.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use pgwire::api::portal::Portal as PgwirePortal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete, PortalSuspended, Sync as PgSync,
};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, ReadyForQuery};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use shardforge_core::sql::execute::{Output, Row};
use shardforge_core::sql::session::Prepared;
use shardforge_core::sql::types::Value;
use shardforge_core::sql::{SqlError, SqlState};

use super::formats::{self, format_at};
use super::wire::{error_info, notice_response, wire_status, ConnectionState};

/// A bound statement and, once run, what is left of its rows.
pub struct Portal {
    statement: Arc<Prepared>,
    parameters: Vec<Value>,
    result_formats: Vec<i16>,
    state: PortalState,
}

enum PortalState {
    NotRun,
    Rows { rows: VecDeque<Row>, tag: String },
    Done,
}

/// The statements and portals of one connection.
#[derive(Default)]
pub struct Extended {
    statements: BTreeMap<String, Arc<Prepared>>,
    portals: BTreeMap<String, Portal>,
}

fn user_error(error: &SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(error)))
}

fn no_statement(name: &str) -> PgWireError {
    user_error(&SqlError::new(SqlState("26000"), format!("prepared statement \"{name}\" does not exist")))
}

fn no_portal(name: &str) -> PgWireError {
    user_error(&SqlError::new(SqlState("34000"), format!("portal \"{name}\" does not exist")))
}

fn protocol_error(message: String) -> PgWireError {
    user_error(&SqlError::new(SqlState("08P01"), message))
}

/// pgwire's own statement type, unused: every message is answered here.
pub struct NoParser;

#[async_trait]
impl QueryParser for NoParser {
    type Statement = ();

    async fn parse_sql<C>(&self, _client: &C, _sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<()>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(()))
    }

    fn get_parameter_types(&self, _statement: &()) -> PgWireResult<Vec<Type>> {
        Ok(Vec::new())
    }

    fn get_result_schema(
        &self,
        _statement: &(),
        _format: Option<&pgwire::api::portal::Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl ExtendedQueryHandler for ConnectionState {
    type Statement = ();
    type QueryParser = NoParser;

    fn query_parser(&self) -> Arc<NoParser> {
        Arc::new(NoParser)
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let declared = message.type_oids.iter().map(|oid| formats::declared_type(*oid)).collect::<Result<Vec<_>, _>>();
        let declared = declared.map_err(|error| user_error(&error))?;
        let (prepared, status) =
            self.session()?.prepare(message.query, declared).await.ok_or_else(super::wire::worker_gone)?;
        self.set_status(status);
        let prepared = prepared.map_err(|error| user_error(&error))?;
        let name = message.name.unwrap_or_default();
        self.extended().statements.insert(name, Arc::new(prepared));
        client.send(PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?;
        Ok(())
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.unwrap_or_default();
        let statement = self.extended().statements.get(&statement_name).cloned();
        let statement = statement.ok_or_else(|| no_statement(&statement_name))?;
        if message.parameters.len() != statement.parameter_types.len() {
            return Err(protocol_error(format!(
                "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires {}",
                message.parameters.len(),
                statement.parameter_types.len()
            )));
        }
        let mut parameters = Vec::with_capacity(message.parameters.len());
        let time_zone = self.time_zone();
        for (index, (bytes, data_type)) in message.parameters.iter().zip(&statement.parameter_types).enumerate() {
            let format = format_at(&message.parameter_format_codes, index);
            let value = formats::parameter(bytes.as_deref(), *data_type, format, index, time_zone)
                .map_err(|error| user_error(&error))?;
            parameters.push(value);
        }
        let portal = Portal {
            statement,
            parameters,
            result_formats: message.result_column_format_codes,
            state: PortalState::NotRun,
        };
        self.extended().portals.insert(message.portal_name.unwrap_or_default(), portal);
        client.send(PgWireBackendMessage::BindComplete(BindComplete::new())).await?;
        Ok(())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.unwrap_or_default();
        let (parameter_types, columns, formats) = {
            let extended = self.extended();
            if message.target_type == b'S' {
                let statement = extended.statements.get(&name).ok_or_else(|| no_statement(&name))?;
                let types = statement.parameter_types.iter().map(|data_type| data_type.oid()).collect();
                (Some(types), statement.columns.clone(), Vec::new())
            } else {
                let portal = extended.portals.get(&name).ok_or_else(|| no_portal(&name))?;
                (None, portal.statement.columns.clone(), portal.result_formats.clone())
            }
        };
        if let Some(types) = parameter_types {
            client.feed(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(types))).await?;
        }
        if columns.is_empty() {
            client.feed(PgWireBackendMessage::NoData(NoData::new())).await?;
        } else {
            client.feed(PgWireBackendMessage::RowDescription(formats::row_description(&columns, &formats))).await?;
        }
        client.flush().await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.unwrap_or_default();
        let run = {
            let mut extended = self.extended();
            let portal = extended.portals.get_mut(&name).ok_or_else(|| no_portal(&name))?;
            match (&portal.state, &portal.statement.statement) {
                (_, None) => None,
                (PortalState::NotRun, Some(statement)) => Some((statement.clone(), portal.parameters.clone())),
                _ => None,
            }
        };
        if let Some((statement, parameters)) = run {
            client.set_state(PgWireConnectionState::QueryInProgress);
            let answer = self.session()?.run(statement, parameters).await.ok_or_else(super::wire::worker_gone)?;
            self.set_status(answer.status);
            self.note_reported(&answer.reported_changes);
            client.set_state(PgWireConnectionState::ReadyForQuery);
            let result = answer.results.into_iter().next().expect("one result a statement");
            for notice in &result.notices {
                client.feed(notice_response(notice)).await?;
            }
            for (name, value) in answer.reported_changes {
                client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
            }
            let state = match result.outcome {
                Err(error) => {
                    if let Some(portal) = self.extended().portals.get_mut(&name) {
                        portal.state = PortalState::Done;
                    }
                    return Err(user_error(&error));
                }
                Ok(Output::Command { tag }) => PortalState::Rows { rows: VecDeque::new(), tag },
                Ok(Output::Rows { rows, tag, .. }) => PortalState::Rows { rows: rows.into(), tag },
            };
            if let Some(portal) = self.extended().portals.get_mut(&name) {
                portal.state = state;
            }
        }
        self.send_rows(client, &name, message.max_rows).await
    }

    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Sync ends the unnamed portal, as in PostgreSQL.
        self.extended().portals.remove("");
        let status = wire_status(self.status());
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        client.send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status))).await?;
        Ok(())
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.unwrap_or_default();
        {
            let mut extended = self.extended();
            if message.target_type == b'S' {
                extended.statements.remove(&name);
            } else {
                extended.portals.remove(&name);
            }
        }
        client.send(PgWireBackendMessage::CloseComplete(CloseComplete::new())).await?;
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        _target: &StoredStatement<()>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_describe answers every Describe")
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        _target: &PgwirePortal<()>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_describe answers every Describe")
    }

    async fn do_query<C>(&self, _client: &mut C, _portal: &PgwirePortal<()>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ()>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_execute answers every Execute")
    }
}

impl ConnectionState {
    /// Sends up to `max_rows` (0: all) of the portal's rows, then
    /// PortalSuspended if rows remain, else CommandComplete.
    async fn send_rows<C>(&self, client: &mut C, name: &str, max_rows: i32) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (batch, formats, ending) = {
            let mut extended = self.extended();
            let Some(portal) = extended.portals.get_mut(name) else { return Ok(()) };
            if portal.statement.statement.is_none() {
                (Vec::new(), Vec::new(), Some(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())))
            } else {
                match &mut portal.state {
                    PortalState::Rows { rows, tag } => {
                        let count = if max_rows <= 0 { rows.len() } else { (max_rows as usize).min(rows.len()) };
                        let batch: Vec<Row> = rows.drain(..count).collect();
                        let ending = if rows.is_empty() {
                            let tag = tag.clone();
                            portal.state = PortalState::Done;
                            PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))
                        } else {
                            PgWireBackendMessage::PortalSuspended(PortalSuspended::new())
                        };
                        (batch, portal.result_formats.clone(), Some(ending))
                    }
                    PortalState::Done | PortalState::NotRun => (Vec::new(), Vec::new(), None),
                }
            }
        };
        for row in &batch {
            client.feed(PgWireBackendMessage::DataRow(formats::data_row(row, &formats))).await?;
        }
        if let Some(ending) = ending {
            client.feed(ending).await?;
        }
        client.flush().await?;
        Ok(())
    }
}
