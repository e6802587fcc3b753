//! A range as the replicated state machine of its Raft group: committed entries
//! are encoded [`RangeRequest`]s applied to a [`RangeState`]; answers go back
//! encoded. A split's new right-hand range is kept aside for the store to start.

use crate::node::StateMachine;
use crate::range::codec;
use crate::range::{RangeSnapshot, RangeState};
use crate::types::LogIndex;

/// One replica's range state; None until a snapshot initializes it.
#[derive(Debug)]
pub struct RangeMachine {
    state: Option<RangeState>,
    heartbeat_expiry_nanos: u64,
    /// The bound of the range's timestamp cache (splits inherit it).
    timestamp_cache_entries_max: usize,
    /// Right-hand ranges created by splits applied since the store last looked.
    splits: Vec<RangeState>,
}

impl RangeMachine {
    pub fn new(heartbeat_expiry_nanos: u64, timestamp_cache_entries_max: usize) -> RangeMachine {
        RangeMachine { state: None, heartbeat_expiry_nanos, timestamp_cache_entries_max, splits: Vec::new() }
    }

    pub fn state(&self) -> Option<&RangeState> {
        self.state.as_ref()
    }

    /// The ranges split off since the last call.
    pub fn take_splits(&mut self) -> Vec<RangeState> {
        std::mem::take(&mut self.splits)
    }
}

impl StateMachine for RangeMachine {
    fn apply(&mut self, _index: LogIndex, command: &[u8]) -> Vec<u8> {
        // Entries are proposed only after decoding succeeded at the leader, so a
        // bad entry here means corruption: every replica must stop the same way.
        let request = codec::decode_request(command).expect("committed range commands decode");
        let state = self.state.as_mut().expect("a replica applies entries only once initialized");
        let applied = state.apply(request);
        self.splits.extend(applied.right);
        codec::encode_outcome(&applied.result)
    }

    fn query(&self, _query: &[u8]) -> Vec<u8> {
        // Range reads go through the log (they update the timestamp cache).
        Vec::new()
    }

    fn snapshot(&self) -> Vec<u8> {
        let snapshot = self.state.as_ref().map(RangeState::snapshot).unwrap_or_default();
        codec::encode_snapshot(&snapshot)
    }

    fn restore(&mut self, data: &[u8]) {
        if data.is_empty() {
            self.state = None;
            return;
        }
        let snapshot: RangeSnapshot = codec::decode_snapshot(data).expect("range snapshots decode");
        self.state = RangeState::restore(snapshot, self.heartbeat_expiry_nanos);
        if let Some(state) = &mut self.state {
            state.set_timestamp_cache_entries_max(self.timestamp_cache_entries_max);
        }
    }
}
