//! Ranges: the key space cut into contiguous spans, each replicated by its own
//! Raft group.
//!
//! This layer is being built in steps (see docs/transactions.md for the plan).
//! Today it holds the [`RangeDescriptor`] — which span a range serves, on which
//! nodes, at which generation — and the [`RangeMap`], a node's view of which
//! range holds which key, used to route requests and to refuse misrouted ones.

mod descriptor;
mod map;

pub use descriptor::{RangeDescriptor, RangeError, SplitError};
pub use map::RangeMap;
