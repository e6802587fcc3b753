//! What a store does by itself on a timer, for the ranges it leads: split those
//! past the size threshold, garbage-collect old versions, keep the meta map up
//! to date (as leader of the meta range), and move each range's Raft voters
//! toward its descriptor's replicas. Each is a proposal through the range's own
//! log, so every replica agrees; replies are dropped, and a lost proposal is
//! simply made again at the next round.

use rand_core::RngCore;

use super::{Store, StoreOutput, META_RANGE, STORE_CLIENT};
use std::collections::BTreeSet;

use crate::raft::{ConfigurationChange, RaftNode, Role};
use crate::range::{codec, RangeCommand, RangeDescriptor, RangeRequest};
use crate::replica::{ClientRequest, Input, Request};
use crate::storage::{Engine, StorageError};
use crate::types::{NodeId, RangeId, Time, Timestamp};

impl Store {
    /// One round of every duty, every `split_check_interval_ticks` ticks.
    pub(super) fn housekeeping(
        &mut self,
        now: Time,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        self.split_large_ranges(now, output, engine)?;
        self.collect_garbage(now, output, engine)?;
        self.update_meta(now, output, engine)?;
        self.reconcile_voters(now, output, engine)
    }

    /// Proposes a split, at the median key, of every range this store leads that
    /// passed the size threshold. Replies to these proposals are dropped: if one
    /// is lost the next check proposes again.
    fn split_large_ranges(
        &mut self,
        now: Time,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let Some(threshold) = self.config.split_threshold_bytes else { return Ok(()) };
        let mut splits = Vec::new();
        for (range, replica) in self.replicas.iter_mut() {
            if replica.raft().role() != Role::Leader {
                continue;
            }
            let machine = replica.state_machine_mut();
            if machine.size_estimate(engine).is_none_or(|bytes| bytes <= threshold as u64) {
                continue;
            }
            let state = machine.state().expect("measured, so initialized");
            if let Some(at) = state.median_key(&machine.view(engine)) {
                splits.push((*range, state.descriptor().generation, at));
            }
        }
        for (range, generation, at) in splits {
            let right_id = RangeId(self.random.next_u64() >> 1);
            let request = RangeRequest { range, generation, command: RangeCommand::Split { at, right_id } };
            self.propose_own(now, range, request, output, engine)?;
        }
        Ok(())
    }

    /// Proposes, on every range this store leads, a garbage collection up to
    /// the configured time to live before `now`, once the threshold would move
    /// by half the time to live (each collection is a log entry). Replies are
    /// dropped: the next round proposes again.
    fn collect_garbage(
        &mut self,
        now: Time,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let Some(ttl) = self.config.garbage_collection_ttl_nanos else { return Ok(()) };
        let Some(wall_nanos) = now.0.checked_sub(ttl) else { return Ok(()) };
        let threshold = Timestamp { wall_nanos, logical: 0 };
        let led: Vec<(RangeId, u64)> = self
            .replicas
            .iter()
            .filter(|(_, replica)| replica.raft().role() == Role::Leader)
            .filter_map(|(range, replica)| Some((*range, replica.state_machine().state()?)))
            .filter(|(_, state)| {
                let current = state.garbage_collection_threshold().wall_nanos;
                wall_nanos.saturating_sub(current) >= ttl / 2
            })
            .map(|(range, state)| (range, state.descriptor().generation))
            .collect();
        for (range, generation) in led {
            let request = RangeRequest { range, generation, command: RangeCommand::GarbageCollect { threshold } };
            self.propose_own(now, range, request, output, engine)?;
        }
        Ok(())
    }

    /// As leader of the meta range, proposes recording in the meta map every
    /// descriptor this store's replicas hold that the map does not hold yet
    /// (while every range has a replica on every node, that is all of them).
    fn update_meta(
        &mut self,
        now: Time,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let Some(meta_replica) = self.replicas.get(&META_RANGE) else { return Ok(()) };
        let Some(meta_state) = meta_replica.state_machine().state() else { return Ok(()) };
        if meta_replica.raft().role() != Role::Leader || !meta_state.is_meta() {
            return Ok(());
        }
        let mut known = meta_state.meta().clone();
        let descriptors: Vec<RangeDescriptor> = self
            .replicas
            .values()
            .filter_map(|replica| replica.state_machine().state().map(|state| state.descriptor().clone()))
            .filter(|descriptor| known.lookup(&descriptor.start) != Some(descriptor) && known.learn(descriptor.clone()))
            .collect();
        if !descriptors.is_empty() {
            let request =
                RangeRequest { range: META_RANGE, generation: 0, command: RangeCommand::UpdateMeta { descriptors } };
            self.propose_own(now, META_RANGE, request, output, engine)?;
        }
        Ok(())
    }

    /// Moves each range this store leads toward its descriptor's replicas, one
    /// voter at a time: first adds a missing one (so a move never shrinks the
    /// group below its size), then removes an extra one; a leader that must go
    /// hands leadership to a replica that stays. Raft refuses a change while
    /// another is pending, and the next round tries again.
    fn reconcile_voters(
        &mut self,
        now: Time,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let mut changes = Vec::new();
        for (range, replica) in &self.replicas {
            let Some(state) = replica.state_machine().state() else { continue };
            if replica.raft().role() != Role::Leader {
                continue;
            }
            let desired = &state.descriptor().replicas;
            let current = replica.raft().status().configuration.voters;
            let change = if let Some(missing) = desired.difference(&current).next() {
                Request::ChangeConfiguration(ConfigurationChange::AddVoter(*missing))
            } else if let Some(extra) = current.difference(desired).next() {
                if !self.may_remove_a_voter(replica.raft(), desired) {
                    continue;
                }
                if *extra == self.config.node {
                    let Some(successor) = self.successor(replica.raft(), desired) else { continue };
                    Request::TransferLeadership(successor)
                } else {
                    Request::ChangeConfiguration(ConfigurationChange::RemoveVoter(*extra))
                }
            } else {
                continue;
            };
            changes.push((*range, change));
        }
        for (range, request) in changes {
            self.next_request_id += 1;
            let input =
                Input::Request(ClientRequest { client: STORE_CLIENT, request_id: self.next_request_id, request });
            self.handle_replica(now, range, input, output, engine)?;
        }
        Ok(())
    }

    /// Whether the leader `raft` may remove a voter that `desired` leaves
    /// out: every replica that stays and answers has acknowledged the log (a
    /// new voter waiting for its snapshot holds the removal back: removing an
    /// old one then would leave fewer voters with data than a quorum needs to
    /// survive a failure), and those with the log, the leader among them if it
    /// stays, are a quorum of `desired`. A staying replica that does not answer
    /// (its node down, perhaps for good) does not hold the removal back: a
    /// dead node's ranges must be able to shed it and the voter it replaces.
    fn may_remove_a_voter(&self, raft: &RaftNode, desired: &BTreeSet<NodeId>) -> bool {
        let me = self.config.node;
        let holds_log = |node: &NodeId| *node == me || raft.match_index(*node).is_some_and(|index| index.0 > 0);
        let waited_for = desired.iter().any(|node| !holds_log(node) && raft.answers(*node));
        !waited_for && desired.iter().filter(|node| holds_log(node)).count() > desired.len() / 2
    }

    /// Whom a leader that must go hands leadership to: the staying replica
    /// furthest along that answers (ties: the lowest id), never a down one.
    fn successor(&self, raft: &RaftNode, desired: &BTreeSet<NodeId>) -> Option<NodeId> {
        desired
            .iter()
            .filter(|node| **node != self.config.node && raft.answers(**node))
            .filter_map(|node| Some((raft.match_index(*node).filter(|index| index.0 > 0)?, *node)))
            .max_by_key(|(index, node)| (*index, std::cmp::Reverse(*node)))
            .map(|(_, node)| node)
    }

    /// Proposes one of the store's own commands (its reply is dropped).
    fn propose_own(
        &mut self,
        now: Time,
        range: RangeId,
        request: RangeRequest,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        self.next_request_id += 1;
        let input = Input::Request(ClientRequest {
            client: STORE_CLIENT,
            request_id: self.next_request_id,
            request: Request::Propose(codec::encode_request(&request)),
        });
        self.handle_replica(now, range, input, output, engine)
    }
}
