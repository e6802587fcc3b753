//! Key-value transactions over the coordinator: the operations a client sends
//! ([`operation`]) and the client that runs them, restarting through conflicts
//! ([`client`]). Runtime-agnostic like the coordinator: production's node and
//! the simulator drive the same retry loop.

pub mod client;
pub mod operation;

pub use client::{KvClient, KvRuntime, KvSettings};
pub use operation::{is_system_key, KvError, Operation, OperationResult, SYSTEM_PREFIX};
