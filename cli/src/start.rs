//! `shardforge start`: runs a node until SIGINT or SIGTERM.

use std::path::Path;

use shardforge_runtime_tokio::config::Config;
use shardforge_runtime_tokio::node;
use tokio::signal::unix::{signal, SignalKind};

use crate::Outcome;

pub fn run(config_path: &Path) -> Result<Outcome, String> {
    let config = Config::load(config_path).map_err(|error| error.to_string())?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).map_err(|error| format!("signal handler: {error}"))?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| format!("signal handler: {error}"))?;
        let mut running = node::start(&config).await.map_err(|error| error.to_string())?;
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
            error = running.wait_for_failure() => return Err(error.to_string()),
        }
        running.stop().await.map_err(|error| error.to_string())?;
        tracing::info!("stopped");
        Ok(Outcome::Done)
    })
}

/// Logs to standard error; `RUST_LOG` picks what (default: info). In colour
/// only on a terminal: a log file must not fill with escape codes.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}
