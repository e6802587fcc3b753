//! One-line renderings of entries, messages and node state for the golden traces.

use crate::raft::{
    AppendResult, Configuration, Entry, EntryPayload, HardState, Message, MessageBody, Snapshot, Status,
};

/// `i4/t2 cmd:x`, `i1/t1 empty` or `i5/t2 conf:[1,2,3,4]`.
pub fn entry(entry: &Entry) -> String {
    let payload = match &entry.payload {
        EntryPayload::Empty => "empty".to_string(),
        EntryPayload::Command(command) => format!("cmd:{}", String::from_utf8_lossy(command)),
        EntryPayload::Configuration(configuration) => format!("conf:{}", voters(configuration)),
    };
    format!("{}/{} {payload}", entry.index, entry.term)
}

/// `[1,2,3]`: the voter ids of a configuration.
pub fn voters(configuration: &Configuration) -> String {
    let ids: Vec<String> = configuration.voters.iter().map(|voter| voter.0.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// `i5/t2 voters=[1,2,3]`: where a snapshot stands.
pub fn snapshot(snapshot: &Snapshot) -> String {
    let metadata = &snapshot.metadata;
    format!("{}/{} voters={}", metadata.index, metadata.term, voters(&metadata.configuration))
}

/// `term=t2 vote=n1 commit=i3`.
pub fn hard_state(hard_state: &HardState) -> String {
    let vote = hard_state.vote.map_or("none".to_string(), |vote| vote.to_string());
    format!("term={} vote={vote} commit={}", hard_state.term, hard_state.commit)
}

/// `n1 Leader t2 leader=n1 last=i3 commit=i3 applied=i3 voters=[1,2,3]`.
pub fn status(status: &Status) -> String {
    let leader = status.leader.map_or("none".to_string(), |leader| leader.to_string());
    format!(
        "{} {:?} {} leader={leader} last={} commit={} applied={} voters={}",
        status.id,
        status.role,
        status.term,
        status.last_index,
        status.commit_index,
        status.applied_index,
        voters(&status.configuration)
    )
}

/// `n1->n2 Append t2 prev=i3/t1 entries=[i4/t2 cmd:x] commit=i3`.
pub fn message(message: &Message) -> String {
    let details = match &message.body {
        MessageBody::PreVote { last_log_index, last_log_term } => format!(" last={last_log_index}/{last_log_term}"),
        MessageBody::Vote { last_log_index, last_log_term, leader_transfer } => {
            let transfer = if *leader_transfer { " transfer" } else { "" };
            format!(" last={last_log_index}/{last_log_term}{transfer}")
        }
        MessageBody::PreVoteResponse { granted } | MessageBody::VoteResponse { granted } => {
            (if *granted { " granted" } else { " rejected" }).to_string()
        }
        MessageBody::Append { previous_index, previous_term, entries, commit } => {
            let entries: Vec<String> = entries.iter().map(entry).collect();
            format!(" prev={previous_index}/{previous_term} entries=[{}] commit={commit}", entries.join(", "))
        }
        MessageBody::AppendResponse { result: AppendResult::Accepted { match_index } } => {
            format!(" accept match={match_index}")
        }
        MessageBody::AppendResponse { result: AppendResult::Rejected { rejected_index, hint_index, hint_term } } => {
            format!(" reject prev={rejected_index} hint={hint_index}/{hint_term}")
        }
        MessageBody::Heartbeat { commit, round } => format!(" commit={commit} round={round}"),
        MessageBody::HeartbeatResponse { round } => format!(" round={round}"),
        MessageBody::InstallSnapshot { snapshot: installed } => format!(" snapshot={}", snapshot(installed)),
        MessageBody::TimeoutNow => String::new(),
        MessageBody::SnapshotChunkAck { transfer, sequence } => format!(" transfer={transfer} sequence={sequence}"),
    };
    format!("{}->{} {} {}{details}", message.from, message.to, message.body.kind(), message.term)
}
