//! `shardforge init`: a configuration file, and for a single node an
//! initialised data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use shardforge_runtime_tokio::config::{Config, DEFAULT_HTTP_ADDRESS, DEFAULT_RPC_ADDRESS, DEFAULT_SQL_ADDRESS};
use shardforge_runtime_tokio::node;

use crate::Outcome;

#[derive(Args)]
pub struct InitArguments {
    /// Make this node a cluster of its own, initialised now.
    #[arg(long, conflicts_with = "join")]
    single_node: bool,
    /// Where the node keeps its data.
    #[arg(long)]
    data_dir: PathBuf,
    /// The configuration file to write.
    #[arg(long, default_value = "shardforge.toml")]
    config: PathBuf,
    /// PostgreSQL wire protocol listen address.
    #[arg(long, default_value = DEFAULT_SQL_ADDRESS)]
    sql_addr: SocketAddr,
    /// gRPC listen address (other nodes, `shardforge kv` and `status`).
    #[arg(long, default_value = DEFAULT_RPC_ADDRESS)]
    rpc_addr: SocketAddr,
    /// HTTP listen address (health, metrics).
    #[arg(long, default_value = DEFAULT_HTTP_ADDRESS)]
    http_addr: SocketAddr,
    /// RPC addresses, comma-separated. For the first nodes of a new cluster:
    /// all of them, this one's included, the same list on each (the first
    /// one bootstraps). To join a running cluster: some of its nodes.
    #[arg(long, value_delimiter = ',', required_unless_present = "single_node")]
    join: Vec<SocketAddr>,
}

pub fn run(arguments: InitArguments) -> Result<Outcome, String> {
    if arguments.config.exists() {
        return Err(format!("{} already exists; refusing to overwrite it", arguments.config.display()));
    }
    let mut config = Config::new(
        data_dir_as_written(&arguments.data_dir, &arguments.config)?,
        arguments.sql_addr,
        arguments.rpc_addr,
        arguments.http_addr,
    );
    config.join = arguments.join;
    config.check()?;
    if arguments.single_node {
        let identity = node::initialise_single_node(&arguments.data_dir).map_err(|error| error.to_string())?;
        println!("initialised {} as {identity}", arguments.data_dir.display());
    }
    std::fs::write(&arguments.config, config.to_commented_toml())
        .map_err(|error| format!("cannot write {}: {error}", arguments.config.display()))?;
    if !config.join.is_empty() && !config.join.contains(&config.rpc_addr) {
        println!("the join list does not name this node's rpc address: it will join the running cluster there");
    }
    println!(
        "wrote {}; start the node with: shardforge start --config {}",
        arguments.config.display(),
        arguments.config.display()
    );
    Ok(Outcome::Done)
}

/// The data directory as the file should name it: as given when the file sits
/// in the working directory, otherwise absolute (the file's paths are read
/// relative to its own folder).
fn data_dir_as_written(data_dir: &Path, config: &Path) -> Result<PathBuf, String> {
    let beside_working_directory = config.parent().is_none_or(|folder| folder.as_os_str().is_empty());
    if data_dir.is_absolute() || beside_working_directory {
        return Ok(data_dir.to_path_buf());
    }
    let working_directory = std::env::current_dir().map_err(|error| format!("working directory: {error}"))?;
    Ok(working_directory.join(data_dir))
}
