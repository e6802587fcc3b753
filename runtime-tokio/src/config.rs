//! A node's configuration: the TOML file `shardforge init` writes and
//! `shardforge start` reads.
//!
//! Every field but the addresses and the data directory has a default, so a
//! file holds what an operator chose. Unknown fields are an error, not ignored:
//! a misspelt setting must not silently fall back to its default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Listen addresses a fresh single node uses unless told otherwise.
pub const DEFAULT_SQL_ADDRESS: &str = "127.0.0.1:5433";
pub const DEFAULT_RPC_ADDRESS: &str = "127.0.0.1:7433";
pub const DEFAULT_HTTP_ADDRESS: &str = "127.0.0.1:8433";

/// Everything a node needs to start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the node keeps its data (RocksDB) and identity.
    pub data_dir: PathBuf,
    /// The PostgreSQL wire protocol listener (reserved: the SQL layer comes next).
    pub sql_addr: SocketAddr,
    /// gRPC: other nodes, gateways and the `shardforge kv` / `status` commands.
    pub rpc_addr: SocketAddr,
    /// HTTP: health and metrics (reserved).
    pub http_addr: SocketAddr,
    /// RPC addresses of the cluster's first nodes, this one included when it is
    /// one of them. Empty for a single node.
    #[serde(default)]
    pub join: Vec<SocketAddr>,
    #[serde(default)]
    pub tuning: Tuning,
}

/// Timing and sizing; the defaults suit nodes on one machine or one datacenter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// One Raft tick; elections and heartbeats are counted in ticks.
    pub tick_interval_millis: u64,
    pub election_timeout_ticks_min: u32,
    pub election_timeout_ticks_max: u32,
    pub heartbeat_interval_ticks: u32,
    /// Log entries kept before a replica compacts its log into a snapshot.
    pub compaction_threshold_entries: u64,
    /// ... or command bytes applied since the last compaction: bounds each
    /// replica's in-memory log when values are large.
    pub compaction_threshold_bytes: u64,
    /// A range splits once it holds more than this many bytes.
    pub split_threshold_bytes: usize,
    /// Ticks between two checks of the size of each range a node leads.
    pub split_check_interval_ticks: u64,
    /// A snapshot streams to a follower in chunks of about this many bytes.
    pub snapshot_chunk_bytes: usize,
    /// The largest difference between two nodes' clocks the cluster tolerates.
    pub max_offset_millis: u64,
    /// Old versions are garbage-collected after this long.
    pub garbage_collection_ttl_seconds: u64,
    /// Commit wait: hold each write transaction's answer until every clock in
    /// the cluster has passed its commit timestamp (`max_offset_millis` per
    /// write), making the order of transactions agree with real time even
    /// between transactions that share no keys. Off, transactions are
    /// serializable and each key linearizable, as in CockroachDB.
    pub strict_serializable: bool,
    /// How long one of a new cluster's first nodes waits for the others to
    /// answer before giving up.
    pub join_timeout_seconds: u64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            tick_interval_millis: 100,
            election_timeout_ticks_min: 10,
            election_timeout_ticks_max: 20,
            heartbeat_interval_ticks: 2,
            compaction_threshold_entries: 10_000,
            compaction_threshold_bytes: 4 << 20,
            split_threshold_bytes: 64 << 20,
            split_check_interval_ticks: 50,
            snapshot_chunk_bytes: 1 << 20,
            max_offset_millis: 500,
            garbage_collection_ttl_seconds: 4 * 3600,
            strict_serializable: false,
            join_timeout_seconds: 120,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    Read { path: PathBuf, error: std::io::Error },
    Parse { path: PathBuf, error: String },
    Invalid { path: PathBuf, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(formatter, "cannot read {}: {error}", path.display()),
            ConfigError::Parse { path, error } => {
                write!(formatter, "{} is not a valid configuration: {}", path.display(), error.trim_end())
            }
            ConfigError::Invalid { path, reason } => write!(formatter, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A TOML error as one line: where, then what.
fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

impl Config {
    /// A configuration with the default tuning.
    pub fn new(data_dir: PathBuf, sql_addr: SocketAddr, rpc_addr: SocketAddr, http_addr: SocketAddr) -> Config {
        Config { data_dir, sql_addr, rpc_addr, http_addr, join: Vec::new(), tuning: Tuning::default() }
    }

    /// Reads and checks the file at `path`. A relative data directory is taken
    /// relative to the file's folder, so a node starts the same from anywhere.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.into(), error })?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|error| ConfigError::Parse { path: path.into(), error: one_line(&text, &error) })?;
        if config.data_dir.is_relative() {
            let folder = path.parent().unwrap_or(Path::new("."));
            config.data_dir = folder.join(&config.data_dir);
        }
        config.check().map_err(|reason| ConfigError::Invalid { path: path.into(), reason })?;
        Ok(config)
    }

    /// The settings that no node could run with.
    pub fn check(&self) -> Result<(), String> {
        let tuning = &self.tuning;
        if tuning.tick_interval_millis == 0 {
            return Err("tuning.tick_interval_millis must be above 0".into());
        }
        if tuning.election_timeout_ticks_min <= tuning.heartbeat_interval_ticks
            || tuning.election_timeout_ticks_max <= tuning.election_timeout_ticks_min
        {
            return Err(
                "tuning needs heartbeat_interval_ticks < election_timeout_ticks_min < election_timeout_ticks_max"
                    .into(),
            );
        }
        if tuning.split_check_interval_ticks == 0 {
            return Err("tuning.split_check_interval_ticks must be above 0".into());
        }
        if tuning.heartbeat_interval_ticks == 0 {
            return Err("tuning.heartbeat_interval_ticks must be above 0".into());
        }
        if tuning.compaction_threshold_entries == 0 || tuning.compaction_threshold_bytes == 0 {
            return Err("tuning.compaction_threshold_entries and compaction_threshold_bytes must be above 0".into());
        }
        if tuning.snapshot_chunk_bytes == 0 || tuning.snapshot_chunk_bytes > 16 << 20 {
            return Err("tuning.snapshot_chunk_bytes must be between 1 and 16777216 (16 MiB)".into());
        }
        let addresses = [self.sql_addr, self.rpc_addr, self.http_addr];
        if addresses[0] == addresses[1] || addresses[1] == addresses[2] || addresses[0] == addresses[2] {
            return Err("sql_addr, rpc_addr and http_addr must differ".into());
        }
        let mut join = self.join.clone();
        join.sort();
        join.dedup();
        if join.len() != self.join.len() {
            return Err("join lists an address twice".into());
        }
        Ok(())
    }

    /// The file `shardforge init` writes: the settings, each explained.
    pub fn to_commented_toml(&self) -> String {
        let join = self.join.iter().map(|address| format!("\"{address}\"")).collect::<Vec<_>>().join(", ");
        let tuning = &self.tuning;
        format!(
            r#"# ShardForge node configuration, written by `shardforge init`.
# Start the node with: shardforge start --config <this file>

# Where the node keeps its data; a relative path is relative to this file.
data_dir = "{data_dir}"

# PostgreSQL wire protocol (psql, drivers).
sql_addr = "{sql}"
# gRPC: other nodes, and the `shardforge kv` / `shardforge status` commands.
rpc_addr = "{rpc}"
# HTTP: health and metrics. Reserved.
http_addr = "{http}"

# RPC addresses of the cluster's first nodes, this node's own included when it
# is one of them; the first address bootstraps the cluster once all of them
# answer. Empty for a single node. A node joining a running cluster lists some
# of its nodes, not itself.
join = [{join}]

# Timing and sizing. The defaults suit nodes on one machine or one datacenter.
[tuning]
# One Raft tick. Elections and heartbeats are counted in ticks.
tick_interval_millis = {tick}
election_timeout_ticks_min = {election_min}
election_timeout_ticks_max = {election_max}
heartbeat_interval_ticks = {heartbeat}
# Log entries a replica keeps before compacting its log into a snapshot.
compaction_threshold_entries = {compaction}
# ... or once the commands applied since then hold this many bytes (a replica
# keeps its log after the last compaction in memory).
compaction_threshold_bytes = {compaction_bytes}
# A range splits once it holds more than this many bytes.
split_threshold_bytes = {split}
# Ticks between two checks of each led range's size (the storage engine's
# estimate: a check reads no data).
split_check_interval_ticks = {split_check}
# A snapshot streams to a follower in chunks of about this many bytes, a few
# unacknowledged at a time (at most 16 MiB).
snapshot_chunk_bytes = {snapshot_chunk}
# The largest difference between two nodes' clocks the cluster tolerates.
# Requests from a node whose clock is further off are refused, but the ranges
# such a node leads are not protected from it (no clock monitor yet): keep the
# machines' clocks synchronized (NTP) well within this.
max_offset_millis = {offset}
# Old versions of a key are garbage-collected after this long.
garbage_collection_ttl_seconds = {ttl}
# Commit wait: each write transaction's answer waits out max_offset_millis, so
# that the order of all transactions agrees with real time (strict
# serializability). Off, transactions are serializable and every key is
# linearizable, as in CockroachDB.
strict_serializable = {strict}
# How long one of a new cluster's first nodes waits for the others (and the
# first node) to answer, or a node joining a running cluster for a member to
# let it in, before it gives up with an error.
join_timeout_seconds = {join_timeout}
"#,
            data_dir = self.data_dir.display(),
            sql = self.sql_addr,
            rpc = self.rpc_addr,
            http = self.http_addr,
            tick = tuning.tick_interval_millis,
            election_min = tuning.election_timeout_ticks_min,
            election_max = tuning.election_timeout_ticks_max,
            heartbeat = tuning.heartbeat_interval_ticks,
            compaction = tuning.compaction_threshold_entries,
            compaction_bytes = tuning.compaction_threshold_bytes,
            split = tuning.split_threshold_bytes,
            split_check = tuning.split_check_interval_ticks,
            snapshot_chunk = tuning.snapshot_chunk_bytes,
            offset = tuning.max_offset_millis,
            ttl = tuning.garbage_collection_ttl_seconds,
            strict = tuning.strict_serializable,
            join_timeout = tuning.join_timeout_seconds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        let address = |text: &str| text.parse().expect("address");
        let mut config = Config::new(
            "data".into(),
            address(DEFAULT_SQL_ADDRESS),
            address(DEFAULT_RPC_ADDRESS),
            address(DEFAULT_HTTP_ADDRESS),
        );
        config.join = vec![address("127.0.0.1:7001"), address("127.0.0.1:7002")];
        config
    }

    #[test]
    fn the_commented_file_reads_back_as_written() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("shardforge.toml");
        std::fs::write(&path, sample().to_commented_toml()).expect("write");
        let loaded = Config::load(&path).expect("load");
        let mut expected = sample();
        expected.data_dir = directory.path().join("data");
        assert_eq!(loaded, expected);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_with_the_file_named() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("bad.toml");
        let text = sample().to_commented_toml().replace("tick_interval_millis", "tick_interval_milis");
        std::fs::write(&path, text).expect("write");
        let error = Config::load(&path).expect_err("a misspelt field").to_string();
        assert!(error.contains("bad.toml") && error.contains("tick_interval_milis"), "{error}");

        let text = sample().to_commented_toml().replace("rpc_addr = \"127.0.0.1:7433\"", "rpc_addr = \"nowhere\"");
        std::fs::write(&path, text).expect("write");
        assert!(Config::load(&path).is_err());

        let mut same_ports = sample();
        same_ports.http_addr = same_ports.rpc_addr;
        assert!(same_ports.check().is_err());
    }
}
