//! SQL over the PostgreSQL wire protocol: the listener on `sql_addr`
//! ([`serve`]), the wire front end ([`wire`] for startup and simple queries,
//! [`extended`] for Parse/Bind/Execute, [`formats`] for values in text and
//! binary) and the worker thread where sessions run ([`worker`]).

pub mod extended;
pub mod formats;
pub mod wire;
pub mod worker;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use self::worker::SqlWorker;

/// Accepts PostgreSQL connections until `stopping` turns true; each
/// connection is served by a task of its own, and one that fails (a
/// malformed message, a reset) ends alone.
pub async fn serve(listener: TcpListener, worker: Arc<SqlWorker>, mut stopping: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopping.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                let _ = socket.set_nodelay(true);
                let connection = wire::Connection::new(Arc::clone(&worker));
                tokio::spawn(async move {
                    if let Err(error) = pgwire::tokio::process_socket(socket, None, connection).await {
                        tracing::debug!(%peer, %error, "SQL connection ended with an error");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept a SQL connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
