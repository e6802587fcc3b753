//! Ranges: the key space cut into contiguous spans, each replicated by its own
//! Raft group.
//!
//! This layer is being built in steps (see docs/transactions.md for the plan).
//! Today it holds the [`RangeDescriptor`] — which span a range serves, on which
//! nodes, at which generation — the [`RangeMap`], a node's view of which range
//! holds which key, used to route requests and to refuse misrouted ones, and the
//! replicated [`RangeState`] with the commands it applies ([`RangeCommand`]).

pub mod codec;
mod command;
mod descriptor;
mod map;
pub mod span;
mod state;
#[cfg(test)]
mod state_tests;
mod timestamp_cache;

pub use command::{
    CommandError, PushKind, RangeCommand, RangeRequest, RangeResponse, TransactionRecord, TransactionStatus,
};
pub use descriptor::{RangeDescriptor, RangeError, SplitError};
pub use map::RangeMap;
pub use state::{stored, Applied, RangeState, SplitOff};
pub use timestamp_cache::{TimestampCache, ENTRIES_MAX_DEFAULT as TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT};
