//! Checker for Elle's list-append workload (Kingsbury and Alvaro, "Elle: Inferring Isolation
//! Anomalies from Experimental Observations", VLDB 2020), judged against strict serializability.
//!
//! Transactions append unique integers to lists stored at keys and read whole lists. Lists
//! only grow, so a read shows the order in which its key's values were installed and names
//! the writer of each. `check` rebuilds each key's version order from the committed reads,
//! infers the dependencies it implies between transactions, and searches them for cycles.
//!
//! Version order: a key's longest committed read without repeated values; every other
//! committed read of the key must be a prefix of it. A read repeating a value is
//! `DuplicateElements` (as is a value appended twice), one that is no prefix `Incompatible`;
//! such reads still observe their values but reveal no position in the order, so no
//! anti-dependency is inferred from them. Reads that did not commit are no evidence.
//!
//! Provenance: an observed value appended by an aborted transaction, or by none, is `G1a`. A
//! read ending in a value its writer followed with another append to that key saw the writer
//! half done: `G1b`. A transaction of unknown outcome whose append was observed committed and
//! joins the graph; one never observed may never have run and is ignored.
//!
//! Dependencies between committed transactions (never from one to itself):
//! - ww: from the writer of each value to the writer of the next in its key's order;
//! - wr: from the writer of a read's last value to the reader;
//! - rw: from a reader to the writer of the value after its read (of the first value, when it
//!   read nothing): that write had not happened when it read;
//! - rt: from a transaction to each one invoked after it completed. Rather than n² edges,
//!   sorted completions form a chain of time points: a transaction links to the point of its
//!   completion, each point to the next, and the last point before an invocation to the
//!   invoked transaction, so paths through the chain are exactly the real-time precedences.
//!
//! Cycles: Tarjan's strongly connected components over the kinds a class allows tell which
//! candidate edges `u -> v` lie on a cycle (both ends in one component); a breadth-first
//! search from `v` back to `u` in the component closes the shortest cycle through each, and
//! the shortest of those is reported. Hops along the time chain cost nothing.
//! - `G0`: ww only. `G1c`: ww and wr, through a wr edge.
//! - `GSingle`: an rw edge closed by ww and wr. Which rw edges close is a reachability
//!   question, answered for all at once with 64-bit masks over the condensed ww+wr graph.
//! - `G2`: an rw edge closed by a path holding another rw; only simple cycles count.
//! - `RealTime`: a cycle with an rt hop between transactions no cycle without rt joins.
//!
//! Limits: each class tries at most `CYCLE_SEARCH_ATTEMPTS_MAX` candidates, so a `G2` or
//! `RealTime` cycle behind many candidates that close only otherwise may go unreported; every
//! reported cycle is genuine. Values never read take no place in an order, and reads of a
//! transaction's own appends are not checked. One example is kept per anomaly kind.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use shardforge_core::types::Timestamp;

/// How many candidate edges each cycle class closes before settling for the shortest cycle.
const CYCLE_SEARCH_ATTEMPTS_MAX: usize = 32;
/// How many elements of a list an explanation shows before eliding the middle.
const LIST_RENDER_ELEMENTS_MAX: usize = 8;

/// One step of a transaction: append a value to the list at a key, or read that whole list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MicroOperation {
    Append {
        key: u64,
        value: u64,
    },
    /// `list` is `None` until observed, as for transactions that failed or whose outcome is unknown.
    Read {
        key: u64,
        list: Option<Vec<u64>>,
    },
}

/// What the client learned of a transaction's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionOutcome {
    Committed,
    Aborted,
    Unknown,
}

/// A transaction as its client invoked it and saw it end (`completed_at_nanos` is `None` when `Unknown`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub id: u64,
    pub client: u64,
    pub operations: Vec<MicroOperation>,
    pub outcome: TransactionOutcome,
    pub invoked_at_nanos: u64,
    pub completed_at_nanos: Option<u64>,
    /// The timestamp the database says it committed at (`None` when it did not
    /// commit, or the harness does not know): see `timestamps`.
    pub commit_timestamp: Option<Timestamp>,
}

/// A kind of anomaly, in Adya's vocabulary as Elle extends it (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    G0,
    G1a,
    G1b,
    G1c,
    GSingle,
    G2,
    RealTime,
    /// Reads of one key that are not prefixes of one another.
    Incompatible,
    DuplicateElements,
    /// A read or a list at odds with the commit timestamps (see `timestamps`).
    TimestampOrder,
    /// A read that missed an append to its key acknowledged before it began
    /// (see `single_key`; checked only by `check_single_key_real_time`).
    KeyRealTime,
}

/// One anomaly found, with an example naming the transactions (`T<id>`) and evidence involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub anomaly: Anomaly,
    pub explanation: String,
}

/// Checks a history against strict serializability: returns every anomaly kind found (each with one example), empty when none.
pub fn check(history: &[Transaction]) -> Vec<Violation> {
    let mut findings = Findings::default();
    let evidence = Evidence::gather(history, &mut findings);
    let members = evidence.graph_members(&mut findings);
    evidence.check_intermediate_reads(&mut findings);
    let graph = DependencyGraph::build(&evidence, &members);
    find_cycles(&graph, history, &mut findings);
    let mut violations: Vec<Violation> =
        findings.0.into_iter().map(|(anomaly, explanation)| Violation { anomaly, explanation }).collect();
    violations.extend(timestamps::check(history));
    violations
}

/// Single-key real-time order (see `single_key`): for harnesses that keep
/// every two clocks within the maximum offset of each other.
pub fn check_single_key_real_time(history: &[Transaction]) -> Option<Violation> {
    single_key::check(history)
}

/// What ShardForge promises, for harnesses that keep every two clocks within
/// the maximum offset: strict serializability with commit wait; without it,
/// serializability (a later transaction may be ordered before an acknowledged
/// one it never touched: causal reverse), and real-time order on each key.
pub fn check_as_promised(history: &[Transaction], commit_wait: bool) -> Vec<Violation> {
    let mut violations: Vec<Violation> =
        check(history).into_iter().filter(|violation| commit_wait || violation.anomaly != Anomaly::RealTime).collect();
    violations.extend(check_single_key_real_time(history));
    violations
}

/// The first example of each anomaly kind; later ones are not even formatted.
#[derive(Default)]
struct Findings(BTreeMap<Anomaly, String>);

impl Findings {
    fn report(&mut self, anomaly: Anomaly, explanation: impl FnOnce() -> String) {
        self.0.entry(anomaly).or_insert_with(explanation);
    }
}

/// Who appended a value (by history index), and what it appended to the same key next.
struct Writer {
    transaction: usize,
    next_in_transaction: Option<u64>,
}

/// A read by a committed transaction (by history index); `regular` when it is a clean prefix
/// of its key's order.
struct ObservedRead<'a> {
    transaction: usize,
    key: u64,
    list: &'a [u64],
    regular: bool,
}

/// A key's version order, and the transaction (by history index) whose read revealed it.
struct VersionOrder<'a> {
    values: &'a [u64],
    reader: usize,
}

/// What the history shows: who appended each value, what committed transactions read, and
/// the version order of each key read.
struct Evidence<'a> {
    history: &'a [Transaction],
    writers: BTreeMap<(u64, u64), Writer>,
    reads: Vec<ObservedRead<'a>>,
    orders: BTreeMap<u64, VersionOrder<'a>>,
}

impl<'a> Evidence<'a> {
    fn gather(history: &'a [Transaction], findings: &mut Findings) -> Self {
        let committed = history.iter().enumerate().filter(|(_, entry)| entry.outcome == TransactionOutcome::Committed);
        let operations = committed.flat_map(|(index, entry)| entry.operations.iter().map(move |op| (index, op)));
        let reads = operations.filter_map(|(transaction, operation)| match operation {
            MicroOperation::Read { key, list: Some(list) } => {
                Some(ObservedRead { transaction, key: *key, list, regular: false })
            }
            _ => None,
        });
        let mut evidence =
            Evidence { history, writers: BTreeMap::new(), reads: reads.collect(), orders: BTreeMap::new() };
        evidence.index_writers(findings);
        evidence.infer_version_orders(findings);
        evidence
    }

    fn id(&self, index: usize) -> u64 {
        self.history[index].id
    }

    fn index_writers(&mut self, findings: &mut Findings) {
        for (transaction, entry) in self.history.iter().enumerate() {
            let mut last_append_by_key = BTreeMap::new();
            for operation in &entry.operations {
                let MicroOperation::Append { key, value } = *operation else { continue };
                if let Some(earlier) = self.writers.get(&(key, value)) {
                    let first = self.id(earlier.transaction);
                    let explain = || format!("key {key}: value {value} appended by both T{first} and T{}", entry.id);
                    findings.report(Anomaly::DuplicateElements, explain);
                    continue;
                }
                if let Some(previous) = last_append_by_key.insert(key, value) {
                    self.writers.get_mut(&(key, previous)).expect("indexed above").next_in_transaction = Some(value);
                }
                self.writers.insert((key, value), Writer { transaction, next_in_transaction: None });
            }
        }
    }

    /// Picks each key's order, marks the reads that fit it, and reports those that do not.
    fn infer_version_orders(&mut self, findings: &mut Findings) {
        let mut reads_by_key: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (index, read) in self.reads.iter().enumerate() {
            reads_by_key.entry(read.key).or_default().push(index);
        }
        for (key, mut indices) in reads_by_key {
            // A stable sort: of equally long reads, the earliest in the history reveals the order.
            indices.sort_by_key(|&index| std::cmp::Reverse(self.reads[index].list.len()));
            let clean = indices.iter().map(|&index| &self.reads[index]).find(|read| duplicate_in(read.list).is_none());
            let order = clean.map(|read| VersionOrder { values: read.list, reader: read.transaction });
            for &index in &indices {
                let (id, list) = (self.id(self.reads[index].transaction), self.reads[index].list);
                let regular = order.as_ref().is_some_and(|order| order.values.starts_with(list));
                self.reads[index].regular = regular;
                if let Some(value) = duplicate_in(list).filter(|_| !regular) {
                    let explain = || format!("T{id} read key {key} as {}, holding {value} twice", render_list(list));
                    findings.report(Anomaly::DuplicateElements, explain);
                } else if let Some(order) = order.as_ref().filter(|_| !regular) {
                    let (other, values) = (self.id(order.reader), render_list(order.values));
                    let explain = || format!("key {key}: T{id} read {} but T{other} read {values}", render_list(list));
                    findings.report(Anomaly::Incompatible, explain);
                }
            }
            self.orders.extend(order.map(|order| (key, order)));
        }
    }

    /// Traces observed values to their writers, reporting `G1a`; returns which transactions
    /// (by history index) belong in the graph: the committed and the observed unknown ones.
    fn graph_members(&self, findings: &mut Findings) -> Vec<bool> {
        let committed = |entry: &Transaction| entry.outcome == TransactionOutcome::Committed;
        let mut members: Vec<bool> = self.history.iter().map(committed).collect();
        // Regular reads are prefixes of their key's order, so tracing the orders covers them.
        let in_orders = self.orders.iter().map(|(&key, order)| (order.reader, key, order.values));
        let irregular = self.reads.iter().filter(|read| !read.regular);
        for (reader, key, list) in in_orders.chain(irregular.map(|read| (read.transaction, read.key, read.list))) {
            for &value in list {
                let writer = self.writers.get(&(key, value)).map(|writer| writer.transaction);
                let fate = match writer.map(|writer| (writer, self.history[writer].outcome)) {
                    Some((_, TransactionOutcome::Committed)) => continue,
                    Some((writer, TransactionOutcome::Unknown)) => {
                        members[writer] = true;
                        continue;
                    }
                    Some((writer, TransactionOutcome::Aborted)) => {
                        format!("appended by T{}, which aborted", self.id(writer))
                    }
                    None => "which no transaction appended".to_string(),
                };
                let id = self.id(reader);
                let explain = || format!("T{id} read key {key} as {}, holding {value} {fate}", render_list(list));
                findings.report(Anomaly::G1a, explain);
            }
        }
        members
    }

    fn check_intermediate_reads(&self, findings: &mut Findings) {
        for read in &self.reads {
            let Some(&last) = read.list.last() else { continue };
            let Some(writer) = self.writers.get(&(read.key, last)) else { continue };
            let Some(next) = writer.next_in_transaction.filter(|_| writer.transaction != read.transaction) else {
                continue;
            };
            let (id, key, list, writer) = (self.id(read.transaction), read.key, read.list, self.id(writer.transaction));
            let explain =
                || format!("T{id} read key {key} as {}, but T{writer} appended {next} after {last}", render_list(list));
            findings.report(Anomaly::G1b, explain);
        }
    }
}

fn duplicate_in(list: &[u64]) -> Option<u64> {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).find(|pair| pair[0] == pair[1]).map(|pair| pair[0])
}

fn render_list(list: &[u64]) -> String {
    if list.len() <= LIST_RENDER_ELEMENTS_MAX {
        return format!("{list:?}");
    }
    let half = LIST_RENDER_ELEMENTS_MAX / 2;
    let (head, tail) = (&list[..half], &list[list.len() - half..]);
    format!("{head:?} ... ({} more) ... {tail:?}", list.len() - 2 * half)
}

mod cycles;
mod single_key;
#[cfg(test)]
mod tests;
mod timestamps;

use cycles::{find_cycles, DependencyGraph};
