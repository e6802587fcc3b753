//! What a client asks of a store, typed: a command for one range, a lookup of
//! the range holding a key, or an operator's change to one range's Raft group.
//!
//! Inside a process the request travels as this value: a gateway beside its
//! own node hands its [`StoreRequest`] to the store as it is, and the store
//! encodes a range command once, into the Raft entry it proposes. Only a wire
//! (gRPC between nodes, the simulated network) flattens it, into a Raft group
//! id beside a replica [`Request`] ([`StoreRequest::into_wire`]), and the
//! receiving runtime types it again ([`StoreRequest::from_wire`]) before the
//! store sees it, refusing what cannot be valid.

use crate::keys::Key;
use crate::raft::ConfigurationChange;
use crate::range::{codec, RangeRequest};
use crate::replica::{Request, RequestError};
use crate::types::{NodeId, RangeId};

/// On the wire, requests for this group are range lookups any store answers
/// from its own replicas: `Request::Read(key)` returns the newest descriptor it
/// holds whose span contains `key`, encoded, or nothing.
pub const LOOKUP_GROUP: u64 = 0;

/// A client's request to a node's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreRequest {
    /// A command for the range it names (reads too: every range command is
    /// ordered by the range's Raft log).
    Range(RangeRequest),
    /// Which range holds `key`, by this store's own replicas: answered at once
    /// with the newest descriptor found, encoded, or nothing.
    Lookup(Key),
    /// An operator's change to one range's Raft group.
    Admin { range: RangeId, request: AdminRequest },
}

/// A change to a range's Raft group (range moves and rebalancing are made of these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    ChangeConfiguration(ConfigurationChange),
    TransferLeadership(NodeId),
}

impl AdminRequest {
    /// The request the range's replica takes.
    pub fn into_replica_request(self) -> Request {
        match self {
            AdminRequest::ChangeConfiguration(change) => Request::ChangeConfiguration(change),
            AdminRequest::TransferLeadership(target) => Request::TransferLeadership(target),
        }
    }
}

impl StoreRequest {
    /// The Raft group this request is for on the wire.
    pub fn group(&self) -> u64 {
        match self {
            StoreRequest::Range(request) => request.range.0,
            StoreRequest::Lookup(_) => LOOKUP_GROUP,
            StoreRequest::Admin { range, .. } => range.0,
        }
    }

    /// The request flattened for a wire: its group and a replica request.
    pub fn into_wire(self) -> (u64, Request) {
        let group = self.group();
        let request = match self {
            StoreRequest::Range(request) => Request::Propose(codec::encode_request(&request)),
            StoreRequest::Lookup(key) => Request::Read(key.0),
            StoreRequest::Admin { request, .. } => request.into_replica_request(),
        };
        (group, request)
    }

    /// Types a request that came over a wire; `Invalid` for what cannot be a
    /// store request (an undecodable command, one whose range is not its
    /// group, a lookup of nothing but the lookup group, a read of a range).
    pub fn from_wire(group: u64, request: Request) -> Result<StoreRequest, RequestError> {
        match request {
            Request::Read(key) if group == LOOKUP_GROUP => Ok(StoreRequest::Lookup(Key(key))),
            Request::Propose(bytes) if group != LOOKUP_GROUP => match codec::decode_request(&bytes) {
                Ok(request) if request.range.0 == group => Ok(StoreRequest::Range(request)),
                _ => Err(RequestError::Invalid),
            },
            Request::ChangeConfiguration(change) if group != LOOKUP_GROUP => {
                Ok(StoreRequest::Admin { range: RangeId(group), request: AdminRequest::ChangeConfiguration(change) })
            }
            Request::TransferLeadership(target) if group != LOOKUP_GROUP => {
                Ok(StoreRequest::Admin { range: RangeId(group), request: AdminRequest::TransferLeadership(target) })
            }
            _ => Err(RequestError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::RangeCommand;
    use crate::storage::mvcc::ReadOptions;
    use crate::types::Timestamp;

    fn get(range: u64) -> StoreRequest {
        let command = RangeCommand::Get { key: Key(b"k".to_vec()), read: ReadOptions::at(Timestamp::default()) };
        StoreRequest::Range(RangeRequest { range: RangeId(range), generation: 3, command })
    }

    #[test]
    fn every_kind_survives_the_wire() {
        let requests = [
            get(7),
            StoreRequest::Lookup(Key(b"user/1".to_vec())),
            StoreRequest::Admin { range: RangeId(2), request: AdminRequest::TransferLeadership(NodeId(3)) },
            StoreRequest::Admin {
                range: RangeId(2),
                request: AdminRequest::ChangeConfiguration(ConfigurationChange::AddVoter(NodeId(4))),
            },
        ];
        for request in requests {
            let (group, flat) = request.clone().into_wire();
            assert_eq!(StoreRequest::from_wire(group, flat), Ok(request));
        }
    }

    #[test]
    fn what_cannot_be_valid_is_refused() {
        let (_, flat) = get(7).into_wire();
        let refused = [
            (8, flat.clone()),
            (LOOKUP_GROUP, flat),
            (7, Request::Read(b"k".to_vec())),
            (7, Request::Propose(b"not a range request".to_vec())),
            (LOOKUP_GROUP, Request::TransferLeadership(NodeId(1))),
        ];
        for (group, request) in refused {
            assert_eq!(StoreRequest::from_wire(group, request), Err(RequestError::Invalid));
        }
    }
}
