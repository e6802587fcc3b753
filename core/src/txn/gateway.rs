//! A gateway: the transaction coordinator's [`RangeSender`] over any
//! [`NodeTransport`] (madsim's network in the simulator, gRPC in production). It
//! routes each command to its range's leader and retries through everything the
//! network and the cluster do to it.
//!
//! Routing uses a cache of range descriptors. A key with no cached range is
//! looked up in the meta map, which the first range keeps (see
//! [`RangeCommand::LookupMeta`]), or, when the map has no answer yet, on some
//! node (every store answers from its own replicas, see [`StoreRequest::Lookup`]). The
//! answer may be stale, which the range itself detects
//! (its replicated descriptor is checked on every command) and answers with a
//! retryable error carrying its fresh descriptor. A leader hint per range comes
//! from "not leader" answers; without one the gateway tries nodes in turn.
//!
//! Every command the coordinator sends may be sent again (it is idempotent at
//! the range), so lost requests, lost answers and "outcome unknown" are retried.
//! The one exception is reported upward: an `EndTransaction` that commits, or a
//! `CommitOnePhase`, may have been applied although no answer came, so the
//! gateway remembers whether a commit's outcome was ever in doubt. (Resending
//! either is still safe: both leave a committed record that answers a replay.)
//!
//! A `CommitOnePhase` whose keys the cached descriptor does not all hold is
//! answered at once with `KeyOutsideRange` (ranges only ever split, so a stale
//! descriptor is wider than the truth): the coordinator then commits in two
//! phases. Routing it again would only reach the same range.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::keys::Key;
use crate::range::span::{self, SpanAnswers};
use crate::range::{codec, CommandError, RangeCommand, RangeDescriptor, RangeError, RangeRequest, RangeResponse};
use crate::replica::RequestError;
use crate::store::{StoreRequest, META_RANGE};
use crate::txn::coordinator::RangeSender;
use crate::types::{NodeId, RangeId, Time, Timestamp};

/// How a gateway reaches nodes, and the clock of the node it runs beside.
pub trait NodeTransport {
    /// Sends `request` to `node`'s store, stamped with the gateway's clock,
    /// and waits a bounded time for the answer: None when none came (lost,
    /// late or unreachable). A transport to another node flattens the request
    /// for its wire ([`StoreRequest::into_wire`]); one to its own node hands
    /// it over as it is.
    fn request(
        &mut self,
        node: NodeId,
        request: StoreRequest,
    ) -> impl Future<Output = Option<Result<Vec<u8>, RequestError>>>;
    /// Waits a little before a retry that another try at once would repeat.
    fn pause(&mut self) -> impl Future<Output = ()>;
    /// The physical clock of the node this gateway runs beside.
    fn clock(&mut self) -> Time;
}

/// One client's gateway to the cluster.
pub struct Gateway<T: NodeTransport> {
    transport: T,
    nodes: Vec<NodeId>,
    /// Ranges learned so far, none overlapping another.
    descriptors: Vec<RangeDescriptor>,
    /// The newest generation seen of each range: an older descriptor (from a
    /// lagging meta map or node) is known to be stale.
    generations: BTreeMap<RangeId, u64>,
    leaders: BTreeMap<RangeId, NodeId>,
    next_node: usize,
    /// Whether a committing `EndTransaction` went unanswered since the last reset.
    commit_in_doubt: bool,
}

impl<T: NodeTransport> Gateway<T> {
    /// A gateway over `nodes` (not empty) that tries them in turn from the one
    /// after `first_node`, so that gateways spread their first tries.
    pub fn new(transport: T, nodes: Vec<NodeId>, first_node: usize) -> Gateway<T> {
        assert!(!nodes.is_empty(), "a gateway needs a node to talk to");
        let next_node = first_node % nodes.len();
        Gateway {
            transport,
            nodes,
            descriptors: Vec::new(),
            generations: Default::default(),
            leaders: Default::default(),
            next_node,
            commit_in_doubt: false,
        }
    }

    /// Whether a commit was sent without a definite answer since this was last asked.
    pub fn take_commit_in_doubt(&mut self) -> bool {
        std::mem::take(&mut self.commit_in_doubt)
    }

    /// Replaces the nodes to try when no descriptor says where to go (nodes
    /// that joined or left the cluster).
    pub fn set_nodes(&mut self, nodes: Vec<NodeId>) {
        assert!(!nodes.is_empty(), "a gateway needs a node to talk to");
        self.next_node %= nodes.len();
        self.nodes = nodes;
    }

    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The ranges this gateway has seen (for reports).
    pub fn known_ranges(&self) -> usize {
        self.descriptors.len()
    }

    /// The next of `replicas` to try (any node when the list is empty).
    fn rotate_among(&mut self, replicas: &BTreeSet<NodeId>) -> NodeId {
        if replicas.is_empty() {
            return self.rotate();
        }
        self.next_node = (self.next_node + 1) % replicas.len();
        *replicas.iter().nth(self.next_node).expect("in bounds")
    }

    fn rotate(&mut self) -> NodeId {
        self.next_node = (self.next_node + 1) % self.nodes.len();
        self.nodes[self.next_node]
    }

    fn is_stale(&self, descriptor: &RangeDescriptor) -> bool {
        self.generations.get(&descriptor.id).is_some_and(|newest| descriptor.generation < *newest)
    }

    /// Records a descriptor: from a lookup, an error, or elsewhere (the answer to a move).
    pub fn learn(&mut self, descriptor: RangeDescriptor) {
        let newest = self.generations.entry(descriptor.id).or_default();
        *newest = (*newest).max(descriptor.generation);
        self.descriptors.retain(|known| !known.overlaps(&descriptor));
        self.descriptors.push(descriptor);
    }

    fn forget(&mut self, range: RangeId) {
        self.descriptors.retain(|known| known.id != range);
    }

    /// The cached range of `key`, after looking it up if need be: in the meta
    /// map first, and on some node's own replicas when the map has no answer
    /// yet (a split the meta range's leader has not recorded).
    pub async fn descriptor_for(&mut self, key: &Key) -> RangeDescriptor {
        loop {
            if let Some(known) = self.descriptors.iter().find(|known| known.contains(key)) {
                return known.clone();
            }
            // Only the id matters for routing a meta command.
            let meta = RangeDescriptor::whole_key_space(META_RANGE, Default::default());
            let lookup = RangeCommand::LookupMeta { key: key.clone() };
            match self.try_range(&meta, &lookup).await {
                Some(Ok(RangeResponse::Descriptor(Some(descriptor))))
                    if descriptor.contains(key) && !self.is_stale(&descriptor) =>
                {
                    self.learn(descriptor);
                    continue;
                }
                _ => self.lookup_on_a_node(key).await,
            }
        }
    }

    /// Asks the next node which range holds `key`, by its own replicas.
    async fn lookup_on_a_node(&mut self, key: &Key) {
        let node = self.rotate();
        match self.transport.request(node, StoreRequest::Lookup(key.clone())).await {
            Some(Ok(bytes)) if !bytes.is_empty() => match RangeDescriptor::decode(&bytes) {
                Ok(descriptor) if descriptor.contains(key) && !self.is_stale(&descriptor) => self.learn(descriptor),
                _ => self.transport.pause().await,
            },
            _ => self.transport.pause().await,
        }
    }

    /// Sends a single-key command to its range until an answer that is not about routing.
    async fn route(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let key = command.routing_key().clone();
        loop {
            let descriptor = self.descriptor_for(&key).await;
            if let Some(outside) = key_outside(&command, &descriptor) {
                return Err(CommandError::Range(RangeError::KeyOutsideRange { key: outside, descriptor }));
            }
            if let Some(outcome) = self.try_range(&descriptor, &command).await {
                return outcome;
            }
        }
    }

    /// Sends a scan or refresh to every range its span crosses, one piece each,
    /// and gathers the answers.
    async fn route_span(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let (mut from, _) = span::span_of(&command).expect("only span commands come here");
        let mut answers = SpanAnswers::new(&command);
        loop {
            let descriptor = self.descriptor_for(&from).await;
            let (piece, rest) = span::piece_within(&command, from.clone(), &descriptor.end);
            let piece = answers.narrowed(piece);
            match self.try_range(&descriptor, &piece).await {
                None => continue,
                Some(Ok(answer)) => {
                    if let Some(other) = answers.add(answer) {
                        return Ok(other);
                    }
                }
                Some(Err(error)) => return Err(error),
            }
            match rest {
                Some(next) if !answers.is_full() => from = next,
                _ => break,
            }
        }
        Ok(answers.finish(&command))
    }

    /// Sends `command` to the range of `descriptor` until it answers; None when
    /// it was misrouted (the cache now holds what the range said), to route again.
    async fn try_range(
        &mut self,
        descriptor: &RangeDescriptor,
        command: &RangeCommand,
    ) -> Option<Result<RangeResponse, CommandError>> {
        let commits = matches!(
            command,
            RangeCommand::EndTransaction { commit: Some(_), .. } | RangeCommand::CommitOnePhase { .. }
        );
        let range = descriptor.id;
        let request = RangeRequest { range, generation: descriptor.generation, command: command.clone() };
        let (mut leaderless_answers, mut unanswered) = (0, 0);
        loop {
            let node = match self.leaders.get(&range) {
                Some(leader) => *leader,
                None => self.rotate_among(&descriptor.replicas),
            };
            let answer = self.transport.request(node, StoreRequest::Range(request.clone())).await;
            match answer {
                Some(Ok(answer)) => match codec::decode_outcome(&answer) {
                    Ok(Err(CommandError::Range(error))) => {
                        self.forget(range);
                        let (RangeError::KeyOutsideRange { descriptor, .. }
                        | RangeError::StaleDescriptor { descriptor, .. }) = error;
                        self.learn(descriptor);
                        return None;
                    }
                    Ok(outcome) => {
                        self.leaders.insert(range, node);
                        return Some(outcome);
                    }
                    Err(error) => {
                        let reason = format!("undecodable answer from {node}: {error}");
                        return Some(Err(CommandError::Invalid { reason }));
                    }
                },
                // The node refused our clock: resending would be refused again.
                Some(Err(RequestError::ClockOffset)) => return Some(Err(CommandError::ClockOffset)),
                Some(Err(RequestError::NotLeader { leader: Some(leader) })) if leader != node => {
                    self.leaders.insert(range, leader);
                }
                Some(Err(RequestError::NotLeader { .. } | RequestError::Unavailable | RequestError::Invalid)) => {
                    self.leaders.remove(&range);
                    self.transport.pause().await;
                    // No node knows a leader: the range may be gone (merged, in a
                    // later issue) or our descriptor wrong. Look it up again.
                    leaderless_answers += 1;
                    if leaderless_answers > 4 * self.nodes.len() {
                        self.forget(range);
                        return None;
                    }
                }
                // Proposed but not known to be applied: it may still apply.
                Some(Err(RequestError::OutcomeUnknown)) | None => {
                    self.commit_in_doubt |= commits;
                    self.leaders.remove(&range);
                    // Every replica the cached descriptor names may be gone
                    // (moved away, their nodes dead): look the range up again
                    // rather than asking them forever. (Found by the
                    // production membership test: a gateway that cached a
                    // range while it lived on one node kept asking that node
                    // after it died.)
                    unanswered += 1;
                    if unanswered > 4 * descriptor.replicas.len().max(1) {
                        self.forget(range);
                        return None;
                    }
                }
            }
        }
    }
}

/// A key of a one-phase commit that `descriptor` does not hold, if any (the
/// routing key aside, which it holds).
fn key_outside(command: &RangeCommand, descriptor: &RangeDescriptor) -> Option<Key> {
    let RangeCommand::CommitOnePhase { writes, .. } = command else { return None };
    writes.iter().map(|(key, _)| key).find(|key| !descriptor.contains(key)).cloned()
}

impl<T: NodeTransport> RangeSender for Gateway<T> {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let result = match command {
            RangeCommand::Scan { .. } | RangeCommand::Refresh { .. } => self.route_span(command).await,
            _ => self.route(command).await,
        };
        result
    }

    fn now(&mut self) -> Timestamp {
        Timestamp { wall_nanos: self.transport.clock().0, logical: 0 }
    }
}
