//! Known bugs the runner can switch on (testing knobs) to show that the checkers
//! catch them.

use std::fmt;
use std::str::FromStr;

use shardforge_core::raft::TestingKnobs;
use shardforge_core::store::StoreKnobs;
use shardforge_core::txn::coordinator::TransactionKnobs;

/// A bug injected on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Votes and append acknowledgements released before the state is synced.
    AckBeforeSync,
    /// A leader commits entries of older terms by counting replicas.
    CommitOldTerm,
    /// A transaction pushed to a later commit timestamp commits there without
    /// checking that its reads still hold: write skew.
    SkipReadRefresh,
    /// Intents are resolved as committed before the transaction record is.
    ResolveBeforeDurable,
    /// Reads ignore the uncertainty interval: stale reads under clock skew.
    SkipUncertainty,
    /// A one-phase commit is sent without the spans its transaction read, so the
    /// range moves its timestamp past reads it never checks: lost updates.
    OnePhaseHidesReads,
    /// A replica persists its applied index before the effects it covers.
    AppliedIndexAhead,
    /// Ranges delete transaction records as soon as the transaction commits.
    EarlyRecordDeletion,
}

impl Bug {
    pub const ALL: [Bug; 8] = [
        Bug::AckBeforeSync,
        Bug::CommitOldTerm,
        Bug::SkipReadRefresh,
        Bug::ResolveBeforeDurable,
        Bug::SkipUncertainty,
        Bug::OnePhaseHidesReads,
        Bug::AppliedIndexAhead,
        Bug::EarlyRecordDeletion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeSync => "ack-before-sync",
            Bug::CommitOldTerm => "commit-old-term",
            Bug::SkipReadRefresh => "skip-read-refresh",
            Bug::ResolveBeforeDurable => "resolve-before-durable",
            Bug::SkipUncertainty => "skip-uncertainty",
            Bug::OnePhaseHidesReads => "one-phase-hides-reads",
            Bug::AppliedIndexAhead => "applied-index-ahead",
            Bug::EarlyRecordDeletion => "early-record-deletion",
        }
    }

    /// The transaction coordinator's knobs that inject this bug.
    pub fn transaction_knobs(bug: Option<Bug>) -> TransactionKnobs {
        TransactionKnobs {
            skip_read_refresh: bug == Some(Bug::SkipReadRefresh),
            resolve_before_durable: bug == Some(Bug::ResolveBeforeDurable),
            skip_uncertainty: bug == Some(Bug::SkipUncertainty),
            one_phase_hides_reads: bug == Some(Bug::OnePhaseHidesReads),
        }
    }

    /// The store's knobs that inject this bug.
    pub fn store_knobs(bug: Option<Bug>) -> StoreKnobs {
        StoreKnobs {
            applied_index_ahead: bug == Some(Bug::AppliedIndexAhead),
            early_record_deletion: bug == Some(Bug::EarlyRecordDeletion),
        }
    }

    /// The Raft testing knobs that inject this bug.
    pub fn testing_knobs(bug: Option<Bug>) -> TestingKnobs {
        TestingKnobs {
            acknowledge_before_sync: bug == Some(Bug::AckBeforeSync),
            commit_old_term: bug == Some(Bug::CommitOldTerm),
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;

    fn from_str(name: &str) -> Result<Bug, String> {
        Bug::ALL.into_iter().find(|bug| bug.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Bug::ALL.iter().map(|bug| bug.name()).collect();
            format!("unknown bug {name:?}; known bugs: {}", known.join(", "))
        })
    }
}
