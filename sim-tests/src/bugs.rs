//! Known bugs the runner can switch on (testing knobs) to show that the checkers
//! catch them.

use std::fmt;
use std::str::FromStr;

use shardforge_core::raft::TestingKnobs;

/// A bug injected on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Votes and append acknowledgements released before the state is synced.
    AckBeforeSync,
    /// A leader commits entries of older terms by counting replicas.
    CommitOldTerm,
}

impl Bug {
    pub const ALL: [Bug; 2] = [Bug::AckBeforeSync, Bug::CommitOldTerm];

    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeSync => "ack-before-sync",
            Bug::CommitOldTerm => "commit-old-term",
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
