//! Single-key real-time order: a transaction that begins after another has
//! been acknowledged, and reads a key that one appended to, must see that
//! append. It is what ShardForge promises without commit wait (production's
//! default), when every two clocks are within the maximum offset of each
//! other: the acknowledgement waits until the writer's clock reaches the commit
//! timestamp, so the commit is at most one offset above the later reader's
//! clock, inside its uncertainty interval, and uncertain values and intents
//! both move the read above it. (With commit wait the cycle search's real-time
//! edges ask more: every pair, not only pairs on one key.)
//!
//! Only sound when the harness keeps clocks within the offset of each other;
//! the simulator's wider clock faults may, correctly, break it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Anomaly, MicroOperation, Transaction, TransactionOutcome, Violation};

/// The first read that missed an append acknowledged before its transaction began.
pub fn check(history: &[Transaction]) -> Option<Violation> {
    let committed: Vec<&Transaction> =
        history.iter().filter(|transaction| transaction.outcome == TransactionOutcome::Committed).collect();
    // Per key: (acknowledged at, value, writer) of every append whose writer's
    // client saw it commit.
    let mut appends: BTreeMap<u64, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for transaction in &committed {
        let Some(completed_at_nanos) = transaction.completed_at_nanos else { continue };
        for operation in &transaction.operations {
            if let MicroOperation::Append { key, value } = operation {
                appends.entry(*key).or_default().push((completed_at_nanos, *value, transaction.id));
            }
        }
    }
    committed.iter().find_map(|reader| {
        reader.operations.iter().find_map(|operation| {
            let MicroOperation::Read { key, list: Some(list) } = operation else { return None };
            let seen: BTreeSet<u64> = list.iter().copied().collect();
            let before = appends.get(key)?.iter().filter(|(acknowledged_at, _, writer)| {
                *acknowledged_at < reader.invoked_at_nanos && *writer != reader.id
            });
            let (acknowledged_at, value, writer) = before.into_iter().find(|(_, value, _)| !seen.contains(value))?;
            let explanation = format!(
                "T{} began at {} ns and read key {key} without {value}, appended by T{writer} and acknowledged at {acknowledged_at} ns",
                reader.id, reader.invoked_at_nanos
            );
            Some(Violation { anomaly: Anomaly::KeyRealTime, explanation })
        })
    })
}
