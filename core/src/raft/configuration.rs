//! Membership: who votes, what a majority is, and how the voters change.
//!
//! Changes are made one voter at a time (Ongaro's thesis, section 4.1): any two
//! configurations that differ by one voter have overlapping majorities, so no
//! joint phase is needed. A configuration takes effect on every node as soon as
//! its entry is appended to that node's log, committed or not; when a log suffix is
//! truncated the configuration falls back to the latest entry that remains. Two
//! rules keep this safe, both enforced by the leader: at most one configuration
//! entry may be uncommitted at a time, and a leader proposes a change only after
//! it has committed an entry of its own term (the fix for the single-server change
//! bug Ongaro described in 2015).

use std::collections::BTreeMap;

use super::message::{Configuration, ConfigurationChange};
use crate::types::{LogIndex, NodeId};

impl Configuration {
    /// A configuration with the given voters.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Configuration {
        Configuration { voters: voters.into_iter().collect() }
    }

    /// The number of votes that make a majority.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether `granted` voters form a majority.
    pub fn is_quorum(&self, granted: impl IntoIterator<Item = NodeId>) -> bool {
        let count = granted.into_iter().filter(|voter| self.voters.contains(voter)).count();
        !self.voters.is_empty() && count >= self.quorum_size()
    }

    /// The highest index that a majority of voters has reached, given each voter's
    /// match index (voters missing from `match_indexes` count as zero).
    pub fn quorum_index(&self, match_indexes: &BTreeMap<NodeId, LogIndex>) -> LogIndex {
        let mut indexes: Vec<LogIndex> =
            self.voters.iter().map(|voter| match_indexes.get(voter).copied().unwrap_or_default()).collect();
        if indexes.is_empty() {
            return LogIndex(0);
        }
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes[self.quorum_size() - 1]
    }

    /// The configuration after `change`, or None when the change would do nothing
    /// or leave no voter.
    pub fn apply(&self, change: ConfigurationChange) -> Option<Configuration> {
        let mut next = self.clone();
        let changed = match change {
            ConfigurationChange::AddVoter(node) => next.voters.insert(node),
            ConfigurationChange::RemoveVoter(node) => next.voters.remove(&node),
        };
        (changed && !next.voters.is_empty()).then_some(next)
    }
}

/// The configurations found in the log (and the snapshot's), newest last, so the
/// one in force can be recomputed after a truncation.
#[derive(Clone, Debug)]
pub struct ConfigurationHistory {
    /// `(index, configuration)` in increasing index order; never empty.
    entries: Vec<(LogIndex, Configuration)>,
}

impl ConfigurationHistory {
    /// A history starting from the configuration of a snapshot at `index`.
    pub fn new(index: LogIndex, configuration: Configuration) -> ConfigurationHistory {
        ConfigurationHistory { entries: vec![(index, configuration)] }
    }

    /// The configuration in force: the newest one appended.
    pub fn current(&self) -> &Configuration {
        &self.entries.last().expect("configuration history is never empty").1
    }

    /// The index of the newest configuration entry.
    pub fn current_index(&self) -> LogIndex {
        self.entries.last().expect("configuration history is never empty").0
    }

    /// The configuration in force at `index`.
    pub fn at(&self, index: LogIndex) -> &Configuration {
        let position = self.entries.partition_point(|(at, _)| *at <= index);
        assert!(position > 0, "no configuration known at {index}");
        &self.entries[position - 1].1
    }

    /// Records a configuration appended at `index`.
    pub fn push(&mut self, index: LogIndex, configuration: Configuration) {
        assert!(index > self.current_index(), "configuration entries must be appended in order");
        self.entries.push((index, configuration));
    }

    /// Forgets configurations at or after `index` (their entries were truncated).
    pub fn truncate_from(&mut self, index: LogIndex) {
        while self.entries.len() > 1 && self.current_index() >= index {
            self.entries.pop();
        }
        assert!(self.current_index() < index, "truncated below the snapshot's configuration");
    }

    /// Forgets configurations superseded before a snapshot at `index`.
    pub fn compact_to(&mut self, index: LogIndex) {
        let keep_from = self.entries.partition_point(|(at, _)| *at <= index).saturating_sub(1);
        self.entries.drain(..keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[u64]) -> Configuration {
        Configuration::with_voters(ids.iter().map(|id| NodeId(*id)))
    }

    #[test]
    fn quorum_index_is_the_majority_th_highest_match() {
        let configuration = nodes(&[1, 2, 3, 4, 5]);
        let matches: BTreeMap<NodeId, LogIndex> =
            [(1, 9), (2, 7), (3, 5), (4, 3)].into_iter().map(|(n, i)| (NodeId(n), LogIndex(i))).collect();
        assert_eq!(configuration.quorum_index(&matches), LogIndex(5));
    }

    #[test]
    fn history_falls_back_after_truncation() {
        let mut history = ConfigurationHistory::new(LogIndex(0), nodes(&[1, 2, 3]));
        history.push(LogIndex(4), nodes(&[1, 2, 3, 4]));
        history.push(LogIndex(7), nodes(&[1, 2, 4]));
        assert_eq!(history.at(LogIndex(5)), &nodes(&[1, 2, 3, 4]));
        history.truncate_from(LogIndex(6));
        assert_eq!(history.current(), &nodes(&[1, 2, 3, 4]));
        history.compact_to(LogIndex(5));
        assert_eq!(history.current_index(), LogIndex(4));
    }

    #[test]
    fn changes_that_do_nothing_are_refused() {
        let configuration = nodes(&[1]);
        assert_eq!(configuration.apply(ConfigurationChange::AddVoter(NodeId(1))), None);
        assert_eq!(configuration.apply(ConfigurationChange::RemoveVoter(NodeId(1))), None);
        assert_eq!(configuration.apply(ConfigurationChange::AddVoter(NodeId(2))), Some(nodes(&[1, 2])));
    }
}
