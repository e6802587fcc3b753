//! Ranges: the key space cut into contiguous spans, each replicated by its own
//! Raft group.
//!
//! - [`RangeDescriptor`]: which span a range serves, on which nodes, at which
//!   generation.
//! - [`RangeMap`]: a node's view of which range holds which key, used to route
//!   requests and to refuse misrouted ones.
//! - [`RangeState`]: the replicated state of one range, kept in the node's
//!   engine (`stored`), and the commands it applies ([`RangeCommand`]): MVCC
//!   reads and writes, transaction records, intent resolution, splits, range
//!   moves and garbage collection, each checked against the range's replicated
//!   timestamp cache.
//! - [`codec`]: the byte encoding of requests, outcomes and snapshot headers.

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
