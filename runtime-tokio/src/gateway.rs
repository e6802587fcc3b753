//! The gateway's transport in production: the core's [`Gateway`] routes, and
//! this carries its requests, to this node's own store in process, or to
//! another node's `Ranges.Call` over gRPC.

use std::sync::Arc;
use std::time::Duration;

use shardforge_core::replica::{Request, RequestError};
use shardforge_core::store::{StoreRequest, LOOKUP_GROUP};
use shardforge_core::txn::gateway::{Gateway, NodeTransport};
use shardforge_core::types::{NodeId, Time};
use shardforge_proto::node::ranges_client::RangesClient;
use shardforge_proto::node::request_failure::Kind;
use shardforge_proto::node::{range_answer, RangeAnswer, RangeCall, RequestFailure};

use crate::clock::wall_clock;
use crate::driver::StoreHandle;
use crate::peers::Peers;

/// How long to wait for one answer before asking again (elsewhere). Long
/// enough for an fsync on a slow disk; short against an election.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before retrying after a failure that another try at once would repeat.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A gateway over gRPC.
pub type GrpcGateway = Gateway<GrpcTransport>;

/// Reaches this node's store directly and other nodes over gRPC.
#[derive(Clone)]
pub struct GrpcTransport {
    store: StoreHandle,
    peers: Arc<Peers>,
}

impl GrpcTransport {
    pub fn new(store: StoreHandle, peers: Arc<Peers>) -> GrpcTransport {
        GrpcTransport { store, peers }
    }

    pub fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    async fn call_remote(&self, node: NodeId, request: StoreRequest) -> Option<Result<Vec<u8>, RequestError>> {
        let (group, command) = match request.into_wire() {
            (group, Request::Propose(command)) => (group, command),
            (LOOKUP_GROUP, Request::Read(key)) => (LOOKUP_GROUP, key),
            // Admin requests do not travel between nodes (yet).
            _ => return Some(Err(RequestError::Invalid)),
        };
        let channel = self.peers.channel(node)?;
        let call = RangeCall { group, command, sender_clock_nanos: wall_clock().0 };
        let mut request = tonic::Request::new(call);
        request.set_timeout(ANSWER_TIMEOUT);
        self.peers.stamp(&mut request);
        let answer = RangesClient::new(channel).call(request).await.ok()?.into_inner();
        decode_answer(answer)
    }
}

impl NodeTransport for GrpcTransport {
    /// In process to this node's own store (the request as it is), over
    /// gRPC to another (flattened for the wire).
    async fn request(&mut self, node: NodeId, request: StoreRequest) -> Option<Result<Vec<u8>, RequestError>> {
        if node == self.peers.node() {
            let answer = self.store.request(request, Some(wall_clock()));
            tokio::time::timeout(ANSWER_TIMEOUT, answer).await.ok()
        } else {
            self.call_remote(node, request).await
        }
    }

    async fn pause(&mut self) {
        tokio::time::sleep(RETRY_PAUSE).await;
    }

    fn clock(&mut self) -> Time {
        wall_clock()
    }
}

/// The wire form of a store's answer.
pub fn encode_answer(result: Result<Vec<u8>, RequestError>) -> RangeAnswer {
    let result = match result {
        Ok(outcome) => range_answer::Result::Outcome(outcome),
        Err(error) => {
            let (kind, leader) = match error {
                RequestError::NotLeader { leader } => (Kind::NotLeader, leader.map_or(0, |leader| leader.0)),
                RequestError::Unavailable => (Kind::Unavailable, 0),
                RequestError::Invalid => (Kind::Invalid, 0),
                RequestError::OutcomeUnknown => (Kind::OutcomeUnknown, 0),
                RequestError::ClockOffset => (Kind::ClockOffset, 0),
            };
            range_answer::Result::Failure(RequestFailure { kind: kind.into(), leader })
        }
    };
    RangeAnswer { result: Some(result) }
}

/// A store's answer from the wire; None for one that makes no sense (treated
/// as no answer: the gateway asks again).
pub fn decode_answer(answer: RangeAnswer) -> Option<Result<Vec<u8>, RequestError>> {
    match answer.result? {
        range_answer::Result::Outcome(outcome) => Some(Ok(outcome)),
        range_answer::Result::Failure(failure) => {
            let error = match Kind::try_from(failure.kind).ok()? {
                Kind::NotLeader => {
                    RequestError::NotLeader { leader: (failure.leader != 0).then_some(NodeId(failure.leader)) }
                }
                Kind::Unavailable => RequestError::Unavailable,
                Kind::Invalid => RequestError::Invalid,
                Kind::OutcomeUnknown => RequestError::OutcomeUnknown,
                Kind::ClockOffset => RequestError::ClockOffset,
                Kind::Unspecified => return None,
            };
            Some(Err(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let answers = [
            Ok(vec![1, 2, 3]),
            Err(RequestError::NotLeader { leader: Some(NodeId(3)) }),
            Err(RequestError::NotLeader { leader: None }),
            Err(RequestError::Unavailable),
            Err(RequestError::Invalid),
            Err(RequestError::OutcomeUnknown),
            Err(RequestError::ClockOffset),
        ];
        for answer in answers {
            assert_eq!(decode_answer(encode_answer(answer.clone())), Some(answer));
        }
        assert_eq!(decode_answer(RangeAnswer { result: None }), None);
    }
}
