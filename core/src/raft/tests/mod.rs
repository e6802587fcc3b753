//! Golden-trace scenario tests for Raft.
//!
//! Each file `testdata/<scenario>.txt` is a script: commands run one by one against
//! an in-memory cluster (`cluster.rs`), each followed by the output it must produce.
//! A test fails listing every command whose output differs. To regenerate the
//! expected output after a deliberate change, run
//! `cargo test -p shardforge-core --features update-golden raft::tests`, then read the diff:
//! the expectation is only as good as its review. Never rewrite a failing script
//! just to make it pass: its expectation may be the correct behaviour that the
//! implementation does not have yet.
//!
//! The harness drains a node's `Ready` right after every input to it, in the
//! documented order (persist, send, apply, advance); persistence is durable at
//! once (unsynced writes are modelled by the simulator, not here). Messages wait
//! in per-link queues until the script delivers them.
//!
//! # Script format
//! ```text
//! # A comment, kept on rewrite.
//! > propose 1 x
//! n1 proposed i2/t1
//!
//! > stabilize
//! n1->n2 Append t1 prev=i1/t1 entries=[i2/t1 cmd:x] commit=i1
//! ...
//! ```
//! A command line starts with `> `; its output is the lines up to the next blank
//! line, comment or command.
//!
//! # Commands
//! Nodes are written `1` or `n1`; a node list is `all` or `1,3`; a link filter is
//! `1->2`, with `*` for any node (`*->2`).
//! - `cluster <size> [election=MIN..MAX] [heartbeat=N] [inflight=N] [batch=N] [seed=N]`:
//!   a new cluster of voters `1..=size` (election timeouts in ticks, heartbeat
//!   interval, unanswered appends per follower, entries per append, jitter seed).
//! - `tick <nodes> [times]`: ticks each listed node once per round.
//! - `run <nodes> <times>`: time passes on a fast network: ticks each listed node
//!   once per round and delivers every message after each round, printing only
//!   the effects.
//! - `campaign <node>`: ticks the node alone until its election timeout makes it
//!   ask for (pre-)votes.
//! - `deliver [link] [quiet]`: delivers once every message queued now (answers stay
//!   queued), printing each message and, indented, what it caused.
//! - `stabilize [quiet]`: delivers until no message is left; `quiet` prints only
//!   the effects.
//! - `queued [link]`, `drop [link]`: show, or lose, the queued messages.
//! - `partition 1 | 2 3`: cuts the links between the groups (unlisted nodes form one
//!   more group) and drops the messages queued on them; `heal` reconnects all.
//! - `propose <node> <command>`, `read <node> <context>`, `transfer <leader> <target>`,
//!   `add-voter <leader> <node>` (creates a joining node with no configuration),
//!   `remove-voter <leader> <node>`: requests; refusals are printed.
//! - `compact <node> <index>`: snapshots the node's state machine up to `index`.
//! - `crash <node>`, `restart <node>`: the node loses all but its durable store;
//!   messages queued for it stay queued (lost if delivered while it is down).
//! - `wipe <node>`: crashes the node and deletes its store but for its term and
//!   vote (a replica deleted with a tombstone); `restart` then starts it empty.
//! - `status [nodes]`: role, term, leader, last/commit/applied index, voters.
//! - `log <node>`: the durable store (hard state, snapshot, entries) and the state
//!   machine (the commands applied).
//!
//! # Output
//! Messages are one line: `n1->n2 Append t2 prev=i3/t1 entries=[i4/t2 cmd:x] commit=i3`
//! (`i` an index, `t` a term). Effects: `n2 becomes Leader t2` whenever a node's role
//! or term changes, `n3 pre-votes again for t2` when a pre-candidate times out
//! again, `n2 apply i4/t2 cmd:x`, `n1 read 7 confirmed at i4 state=[x]` (with the
//! state machine the read would see), `n3 restore snapshot ...`.

mod cluster;
mod commands;
mod format;
mod script;

/// One `#[test]` per script, and the list that `every_script_has_a_test` checks.
macro_rules! golden_scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                script::run(stringify!($name));
            }
        )*
    };
}

golden_scripts!(
    election_basic,
    election_tie,
    prevote_prevents_disruption,
    check_quorum_leader_steps_down,
    partitioned_leader_proposals_lost,
    log_divergence_repair,
    old_term_entry_not_committed_by_count,
    snapshot_install,
    membership_add_remove,
    membership_change_during_partition,
    leader_transfer,
    read_index,
    pipelining_window,
    crash_restart_keeps_vote,
    lost_appends_resent,
    snapshot_resent_after_loss,
    removed_leader_campaigns_until_its_removal_commits,
    removed_node_learns_its_removal_committed,
    removed_follower_is_sent_its_removal,
    removed_node_unaware_of_the_leader_is_relayed,
    wiped_follower_is_sent_a_snapshot,
);

#[test]
fn every_script_has_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(script::testdata_directory())
        .expect("testdata directory exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "txt"))
        .map(|path| path.file_stem().expect("file name").to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|name| name.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "every testdata script needs an entry in golden_scripts!, and the reverse");
}
