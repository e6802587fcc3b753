//! `shardforge`: the command line of the ShardForge database.
//!
//! Every failure prints one line, `error: ...`, on standard error and exits
//! with status 2; `kv get` of a missing key prints nothing and exits with 1, so
//! scripts can tell the two apart.

mod client;
mod init;
mod start;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "shardforge",
    version,
    about = "ShardForge: a distributed SQL database, simulated before it is trusted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a node's configuration file (and, for a single node, initialise its data directory).
    Init(init::InitArguments),
    /// Run a node until SIGINT or SIGTERM.
    Start {
        /// The configuration file `shardforge init` wrote.
        #[arg(long, default_value = "shardforge.toml")]
        config: PathBuf,
    },
    /// Show the cluster as a node sees it: nodes, liveness, ranges, leaders, replicas.
    Status {
        /// RPC address of any node.
        #[arg(long, default_value = shardforge_runtime_tokio::config::DEFAULT_RPC_ADDRESS)]
        addr: SocketAddr,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Wait this long for a node that is not listening yet (one just started).
        #[arg(long, default_value_t = 10)]
        wait_seconds: u64,
    },
    /// Operate on the cluster's nodes.
    Node {
        /// RPC address of any node.
        #[arg(long, default_value = shardforge_runtime_tokio::config::DEFAULT_RPC_ADDRESS)]
        addr: SocketAddr,
        #[command(subcommand)]
        command: client::NodeCommand,
    },
    /// Read and write keys through a node (each command is one transaction).
    Kv {
        /// RPC address of any node.
        #[arg(long, default_value = shardforge_runtime_tokio::config::DEFAULT_RPC_ADDRESS)]
        addr: SocketAddr,
        #[command(subcommand)]
        command: client::KvCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// How a command ended.
pub enum Outcome {
    Done,
    /// `kv get` of a missing key.
    NotFound,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(arguments) => init::run(arguments),
        Command::Start { config } => start::run(&config),
        Command::Status { addr, format, wait_seconds } => {
            client::status(addr, matches!(format, Format::Json), std::time::Duration::from_secs(wait_seconds))
        }
        Command::Kv { addr, command } => client::kv(addr, command),
        Command::Node { addr, command } => client::node(addr, command),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NotFound) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
