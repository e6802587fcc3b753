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
    findings.0.into_iter().map(|(anomaly, explanation)| Violation { anomaly, explanation }).collect()
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

const WRITE_WRITE: u8 = 1;
const WRITE_READ: u8 = 2;
const READ_WRITE: u8 = 4;
const REAL_TIME: u8 = 8;
const DEPENDENCY: u8 = WRITE_WRITE | WRITE_READ;
const SERIALIZATION: u8 = DEPENDENCY | READ_WRITE;
const STRICT_SERIALIZATION: u8 = SERIALIZATION | REAL_TIME;

/// Why one node must precede another, with the evidence an explanation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dependency {
    WriteWrite { key: u64, previous: u64, next: u64 },
    WriteRead { key: u64, value: u64 },
    ReadWrite { key: u64, missed: u64 },
    RealTime,
}

impl Dependency {
    fn kind(self) -> u8 {
        match self {
            Dependency::WriteWrite { .. } => WRITE_WRITE,
            Dependency::WriteRead { .. } => WRITE_READ,
            Dependency::ReadWrite { .. } => READ_WRITE,
            Dependency::RealTime => REAL_TIME,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    from: usize,
    to: usize,
    dependency: Dependency,
}

/// Nodes `0..transactions.len()` are transactions (naming their history index), the rest time
/// points; the edges leaving node `n` are `edges[first_edge[n]..first_edge[n + 1]]`.
struct DependencyGraph {
    transactions: Vec<usize>,
    node_count: usize,
    edges: Vec<Edge>,
    first_edge: Vec<usize>,
}

impl DependencyGraph {
    fn build(evidence: &Evidence, members: &[bool]) -> Self {
        let transactions: Vec<usize> = (0..evidence.history.len()).filter(|&index| members[index]).collect();
        let mut node_of = vec![None; evidence.history.len()];
        transactions.iter().enumerate().for_each(|(node, &index)| node_of[index] = Some(node));
        let writer = |key, value| evidence.writers.get(&(key, value)).and_then(|writer| node_of[writer.transaction]);
        let mut edges = Vec::new();
        let mut add = |from: Option<usize>, to: Option<usize>, dependency| match (from, to) {
            (Some(from), Some(to)) if from != to => edges.push(Edge { from, to, dependency }),
            _ => {}
        };
        for (&key, order) in &evidence.orders {
            for pair in order.values.windows(2) {
                let (previous, next) = (pair[0], pair[1]);
                add(writer(key, previous), writer(key, next), Dependency::WriteWrite { key, previous, next });
            }
        }
        for read in &evidence.reads {
            let (key, reader) = (read.key, node_of[read.transaction]);
            if let Some(&value) = read.list.last() {
                add(writer(key, value), reader, Dependency::WriteRead { key, value });
            }
            let order = evidence.orders.get(&key).filter(|_| read.regular);
            if let Some(&missed) = order.and_then(|order| order.values.get(read.list.len())) {
                add(reader, writer(key, missed), Dependency::ReadWrite { key, missed });
            }
        }
        let node_count = transactions.len() + add_real_time_edges(evidence.history, &transactions, &mut edges);
        edges.sort_by_key(|edge| (edge.from, edge.dependency.kind(), edge.to));
        edges.dedup_by_key(|edge| (edge.from, edge.dependency.kind(), edge.to));
        let mut first_edge = vec![0; node_count + 1];
        edges.iter().for_each(|edge| first_edge[edge.from + 1] += 1);
        (0..node_count).for_each(|node| first_edge[node + 1] += first_edge[node]);
        DependencyGraph { transactions, node_count, edges, first_edge }
    }

    fn is_transaction(&self, node: usize) -> bool {
        node < self.transactions.len()
    }

    /// Indices of the edges of one kind whose ends lie in one component.
    fn edges_inside<'a>(&'a self, kind: u8, within: &'a Components) -> impl Iterator<Item = usize> + 'a {
        let edges = self.edges.iter().enumerate();
        edges.filter(move |(_, edge)| edge.dependency.kind() == kind && within.joins(edge)).map(|(index, _)| index)
    }

    fn outgoing(&self, node: usize, allowed: u8) -> impl Iterator<Item = (usize, &Edge)> {
        let range = self.first_edge[node]..self.first_edge[node + 1];
        range.clone().zip(&self.edges[range]).filter(move |(_, edge)| edge.dependency.kind() & allowed != 0)
    }

    /// The shortest path from `from` to `to`, as edge indices, along `search`: a 0-1
    /// breadth-first search over (node, anti-dependencies taken so far, capped at the need).
    fn shortest_path(&self, from: usize, to: usize, search: &PathSearch) -> Option<Vec<usize>> {
        let layers = search.anti_dependencies_needed + 1;
        let component = search.within.of_node[from];
        let mut distance = vec![u32::MAX; self.node_count * layers];
        let mut arrival = vec![(usize::MAX, usize::MAX); self.node_count * layers];
        let mut queue = VecDeque::from([from * layers]);
        distance[from * layers] = 0;
        while let Some(state) = queue.pop_front() {
            let (node, layer) = (state / layers, state % layers);
            if node == to && layer + 1 == layers {
                return Some(trace_path(&arrival, state, from * layers));
            }
            // A hop out of a time point continues one real-time hop, so it costs nothing.
            let weight = u32::from(self.is_transaction(node));
            for (index, edge) in self.outgoing(node, search.allowed) {
                if search.within.of_node[edge.to] != component {
                    continue;
                }
                let counted = edge.dependency.kind() == READ_WRITE;
                let next = edge.to * layers + if counted { (layer + 1).min(layers - 1) } else { layer };
                if distance[state] + weight < distance[next] {
                    (distance[next], arrival[next]) = (distance[state] + weight, (state, index));
                    if weight == 0 {
                        queue.push_front(next);
                    } else {
                        queue.push_back(next);
                    }
                }
            }
        }
        None
    }
}

fn trace_path(arrival: &[(usize, usize)], mut state: usize, start: usize) -> Vec<usize> {
    let mut path = Vec::new();
    while state != start {
        let (previous, edge) = arrival[state];
        path.push(edge);
        state = previous;
    }
    path.reverse();
    path
}

/// Adds the chain of time points described in the module doc; returns how many points it made.
fn add_real_time_edges(history: &[Transaction], transactions: &[usize], edges: &mut Vec<Edge>) -> usize {
    let first_point = transactions.len();
    let completed = transactions.iter().enumerate();
    let mut completions: Vec<(u64, usize)> =
        completed.filter_map(|(node, &index)| Some((history[index].completed_at_nanos?, node))).collect();
    completions.sort_unstable();
    let mut link = |from, to| edges.push(Edge { from, to, dependency: Dependency::RealTime });
    for (point, &(_, node)) in completions.iter().enumerate() {
        link(node, first_point + point);
        if point + 1 < completions.len() {
            link(first_point + point, first_point + point + 1);
        }
    }
    for (node, &index) in transactions.iter().enumerate() {
        let invoked = history[index].invoked_at_nanos;
        let completed_before = completions.partition_point(|&(completed, _)| completed < invoked);
        if completed_before > 0 {
            link(first_point + completed_before - 1, node);
        }
    }
    completions.len()
}

/// Strongly connected components over the edges of some kinds. Tarjan's algorithm numbers
/// them in reverse topological order: an edge leaving a component reaches a lower number.
struct Components {
    of_node: Vec<usize>,
    count: usize,
}

impl Components {
    fn of(graph: &DependencyGraph, allowed: u8) -> Self {
        const UNVISITED: usize = usize::MAX;
        let (mut index, mut lowest) = (vec![UNVISITED; graph.node_count], vec![0; graph.node_count]);
        let mut on_stack = vec![false; graph.node_count];
        let mut components = Components { of_node: vec![UNVISITED; graph.node_count], count: 0 };
        let (mut stack, mut next_index) = (Vec::new(), 0);
        for root in 0..graph.node_count {
            if index[root] != UNVISITED {
                continue;
            }
            // The explicit call stack: each frame is a node and the edges it has yet to follow.
            let mut calls = vec![(root, graph.outgoing(root, allowed))];
            (index[root], lowest[root], on_stack[root], next_index) = (next_index, next_index, true, next_index + 1);
            stack.push(root);
            while let Some((node, successors)) = calls.last_mut() {
                let node = *node;
                if let Some((_, edge)) = successors.next() {
                    let successor = edge.to;
                    if index[successor] == UNVISITED {
                        (index[successor], lowest[successor], on_stack[successor]) = (next_index, next_index, true);
                        next_index += 1;
                        stack.push(successor);
                        calls.push((successor, graph.outgoing(successor, allowed)));
                    } else if on_stack[successor] {
                        lowest[node] = lowest[node].min(index[successor]);
                    }
                    continue;
                }
                calls.pop();
                if let Some((parent, _)) = calls.last() {
                    lowest[*parent] = lowest[*parent].min(lowest[node]);
                }
                if lowest[node] == index[node] {
                    loop {
                        let member = stack.pop().expect("the root is on the stack");
                        (on_stack[member], components.of_node[member]) = (false, components.count);
                        if member == node {
                            break;
                        }
                    }
                    components.count += 1;
                }
            }
        }
        components
    }

    fn joins(&self, edge: &Edge) -> bool {
        self.of_node[edge.from] == self.of_node[edge.to]
    }
}

/// Which kinds of edges a path may take, how many rw edges it needs, and the components it must stay in.
struct PathSearch<'a> {
    allowed: u8,
    anti_dependencies_needed: usize,
    within: &'a Components,
}

fn find_cycles(graph: &DependencyGraph, history: &[Transaction], findings: &mut Findings) {
    let writes = Components::of(graph, WRITE_WRITE);
    let dependencies = Components::of(graph, DEPENDENCY);
    let serialization = Components::of(graph, SERIALIZATION);
    let strict = Components::of(graph, STRICT_SERIALIZATION);
    let mut report = |anomaly, cycle: Option<Vec<usize>>| {
        if let Some(cycle) = cycle {
            findings.report(anomaly, || render_cycle(graph, history, &cycle));
        }
    };
    let always = |_: &[usize]| true;
    let search = PathSearch { allowed: WRITE_WRITE, anti_dependencies_needed: 0, within: &writes };
    report(Anomaly::G0, shortest_cycle(graph, graph.edges_inside(WRITE_WRITE, &writes), &search, always));
    let search = PathSearch { allowed: DEPENDENCY, anti_dependencies_needed: 0, within: &dependencies };
    report(Anomaly::G1c, shortest_cycle(graph, graph.edges_inside(WRITE_READ, &dependencies), &search, always));
    let anti_dependencies: Vec<usize> = graph.edges_inside(READ_WRITE, &serialization).collect();
    let closing = closed_by_dependencies(graph, &anti_dependencies, &dependencies);
    let search = PathSearch { allowed: DEPENDENCY, anti_dependencies_needed: 0, within: &serialization };
    report(Anomaly::GSingle, shortest_cycle(graph, closing.into_iter(), &search, always));
    let search = PathSearch { allowed: SERIALIZATION, anti_dependencies_needed: 1, within: &serialization };
    let is_simple = |cycle: &[usize]| is_simple(graph, cycle);
    report(Anomaly::G2, shortest_cycle(graph, anti_dependencies.into_iter(), &search, is_simple));
    let search = PathSearch { allowed: STRICT_SERIALIZATION, anti_dependencies_needed: 0, within: &strict };
    let leaving_transactions =
        graph.edges_inside(REAL_TIME, &strict).filter(|&e| graph.is_transaction(graph.edges[e].from));
    let needs_real_time = |cycle: &[usize]| crosses_components(graph, cycle, &serialization);
    report(Anomaly::RealTime, shortest_cycle(graph, leaving_transactions, &search, needs_real_time));
}

/// Closes a cycle through each candidate edge by a path back from its head; returns the one
/// visiting the fewest transactions, as edge indices starting with the candidate.
fn shortest_cycle(
    graph: &DependencyGraph,
    candidates: impl Iterator<Item = usize>,
    search: &PathSearch,
    accept: impl Fn(&[usize]) -> bool,
) -> Option<Vec<usize>> {
    let length = |cycle: &Vec<usize>| cycle.iter().filter(|&&e| graph.is_transaction(graph.edges[e].to)).count();
    let cycles = candidates.take(CYCLE_SEARCH_ATTEMPTS_MAX).filter_map(|candidate| {
        let edge = &graph.edges[candidate];
        let path = graph.shortest_path(edge.to, edge.from, search)?;
        Some(std::iter::once(candidate).chain(path).collect::<Vec<usize>>())
    });
    cycles.filter(|cycle| accept(cycle)).min_by_key(length)
}

/// The anti-dependencies `u -> v` for which ww and wr edges lead from `v` back to `u`. Each
/// pass marks 64 of the components holding some `u`, then sweeps the components of
/// `dependencies` in numbering order, so that each inherits the marks its successors reach.
fn closed_by_dependencies(graph: &DependencyGraph, candidates: &[usize], dependencies: &Components) -> Vec<usize> {
    let component = |node: usize| dependencies.of_node[node];
    let mut nodes_by_component: Vec<usize> = (0..graph.node_count).collect();
    nodes_by_component.sort_by_key(|&node| component(node));
    let targets: BTreeSet<usize> = candidates.iter().map(|&e| component(graph.edges[e].from)).collect();
    let targets: Vec<usize> = targets.into_iter().collect();
    let mut closing = Vec::new();
    for chunk in targets.chunks(64) {
        let mut reaches = vec![0u64; dependencies.count];
        chunk.iter().enumerate().for_each(|(bit, &target)| reaches[target] |= 1 << bit);
        for &node in &nodes_by_component {
            for (_, edge) in graph.outgoing(node, DEPENDENCY) {
                reaches[component(node)] |= reaches[component(edge.to)];
            }
        }
        closing.extend(candidates.iter().filter(|&&candidate| {
            let edge = &graph.edges[candidate];
            let bit = chunk.binary_search(&component(edge.from));
            bit.is_ok_and(|bit| reaches[component(edge.to)] & (1 << bit) != 0)
        }));
    }
    closing.sort_unstable();
    closing
}

fn is_simple(graph: &DependencyGraph, cycle: &[usize]) -> bool {
    let mut visited = BTreeSet::new();
    cycle.iter().all(|&edge| visited.insert(graph.edges[edge].to))
}

/// Whether a cycle takes a real-time hop between transactions that `serialization` keeps apart.
fn crosses_components(graph: &DependencyGraph, cycle: &[usize], serialization: &Components) -> bool {
    let mut hop_start = graph.edges[cycle[0]].from;
    cycle.iter().map(|&index| &graph.edges[index]).filter(|edge| graph.is_transaction(edge.to)).any(|edge| {
        let apart = serialization.of_node[hop_start] != serialization.of_node[edge.to];
        hop_start = edge.to;
        edge.dependency == Dependency::RealTime && apart
    })
}

/// Renders a cycle as `cycle T1 -[ww key 3: 5 then 7]-> T2 -[...]-> T1`, hopping over time points.
fn render_cycle(graph: &DependencyGraph, history: &[Transaction], cycle: &[usize]) -> String {
    let transaction = |node: usize| &history[graph.transactions[node]];
    let mut hop_start = graph.edges[cycle[0]].from;
    let mut text = format!("cycle T{}", transaction(hop_start).id);
    for edge in cycle.iter().map(|&index| &graph.edges[index]).filter(|edge| graph.is_transaction(edge.to)) {
        let label = match edge.dependency {
            Dependency::WriteWrite { key, previous, next } => format!("ww key {key}: {previous} then {next}"),
            Dependency::WriteRead { key, value } => format!("wr key {key}: read up to {value}"),
            Dependency::ReadWrite { key, missed } => format!("rw key {key}: read missed {missed}"),
            Dependency::RealTime => {
                let completed = transaction(hop_start).completed_at_nanos.unwrap_or_default();
                let invoked = transaction(edge.to).invoked_at_nanos;
                format!("rt: completed at {completed} ns, next invoked at {invoked} ns")
            }
        };
        let _ = write!(text, " -[{label}]-> T{}", transaction(edge.to).id);
        hop_start = edge.to;
    }
    text
}

fn render_list(list: &[u64]) -> String {
    if list.len() <= LIST_RENDER_ELEMENTS_MAX {
        return format!("{list:?}");
    }
    let half = LIST_RENDER_ELEMENTS_MAX / 2;
    let (head, tail) = (&list[..half], &list[list.len() - half..]);
    format!("{head:?} ... ({} more) ... {tail:?}", list.len() - 2 * half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionOutcome::{Aborted, Committed, Unknown};

    fn append(key: u64, value: u64) -> MicroOperation {
        MicroOperation::Append { key, value }
    }

    fn read(key: u64, list: &[u64]) -> MicroOperation {
        MicroOperation::Read { key, list: Some(list.to_vec()) }
    }

    /// A transaction running over [0, 1000] ns, concurrently with every other one built here.
    fn transaction(id: u64, outcome: TransactionOutcome, operations: Vec<MicroOperation>) -> Transaction {
        let completed_at_nanos = (outcome != Unknown).then_some(1_000);
        Transaction { id, client: id, operations, outcome, invoked_at_nanos: 0, completed_at_nanos }
    }

    fn committed(id: u64, operations: Vec<MicroOperation>) -> Transaction {
        transaction(id, Committed, operations)
    }

    fn timed(transaction: Transaction, invoked_at_nanos: u64, completed_at_nanos: u64) -> Transaction {
        Transaction { invoked_at_nanos, completed_at_nanos: Some(completed_at_nanos), ..transaction }
    }

    fn anomalies(history: &[Transaction]) -> Vec<Anomaly> {
        check(history).iter().map(|violation| violation.anomaly).collect()
    }

    #[test]
    fn serial_history_passes() {
        let history = [
            timed(committed(1, vec![append(1, 1), read(2, &[])]), 0, 10),
            timed(committed(2, vec![read(1, &[1]), append(2, 2)]), 20, 30),
            timed(committed(3, vec![read(1, &[1]), read(2, &[2])]), 40, 50),
        ];
        assert_eq!(check(&history), []);
    }

    #[test]
    fn write_cycle_across_two_keys_is_g0() {
        let history = [
            committed(1, vec![append(1, 1), append(2, 2)]),
            committed(2, vec![append(1, 3), append(2, 4)]),
            committed(3, vec![read(1, &[1, 3]), read(2, &[4, 2])]),
        ];
        let cycle = "cycle T1 -[ww key 1: 1 then 3]-> T2 -[ww key 2: 4 then 2]-> T1";
        assert_eq!(check(&history), [Violation { anomaly: Anomaly::G0, explanation: cycle.to_string() }]);
    }

    #[test]
    fn read_of_aborted_append_is_g1a() {
        let history = [transaction(1, Aborted, vec![append(1, 1)]), committed(2, vec![read(1, &[1])])];
        assert_eq!(anomalies(&history), [Anomaly::G1a]);
    }

    #[test]
    fn read_of_intermediate_append_is_g1b() {
        let history = [committed(1, vec![append(1, 1), append(1, 2)]), committed(2, vec![read(1, &[1])])];
        assert_eq!(anomalies(&history), [Anomaly::G1b]);
    }

    #[test]
    fn circular_information_flow_is_g1c() {
        let history =
            [committed(1, vec![append(1, 1), read(2, &[2])]), committed(2, vec![append(2, 2), read(1, &[1])])];
        assert_eq!(anomalies(&history), [Anomaly::G1c]);
    }

    #[test]
    fn read_skew_is_g_single() {
        let history = [
            committed(1, vec![append(1, 1), append(2, 2)]),
            committed(2, vec![append(1, 3), append(2, 4)]),
            committed(3, vec![read(1, &[1]), read(2, &[2, 4])]),
            committed(4, vec![read(1, &[1, 3])]),
        ];
        assert_eq!(anomalies(&history), [Anomaly::GSingle]);
    }

    #[test]
    fn write_skew_is_g2() {
        let history = [
            committed(1, vec![read(1, &[]), read(2, &[]), append(1, 1)]),
            committed(2, vec![read(1, &[]), read(2, &[]), append(2, 2)]),
            committed(3, vec![read(1, &[1]), read(2, &[2])]),
        ];
        assert_eq!(anomalies(&history), [Anomaly::G2]);
    }

    #[test]
    fn stale_read_after_completion_is_real_time() {
        let history = [
            timed(committed(1, vec![append(1, 1)]), 0, 10),
            timed(committed(2, vec![read(1, &[])]), 20, 30),
            committed(3, vec![read(1, &[1])]),
        ];
        let cycle = "cycle T1 -[rt: completed at 10 ns, next invoked at 20 ns]-> T2 -[rw key 1: read missed 1]-> T1";
        assert_eq!(check(&history), [Violation { anomaly: Anomaly::RealTime, explanation: cycle.to_string() }]);
    }

    #[test]
    fn diverging_reads_are_incompatible() {
        let appends = [committed(1, vec![append(1, 1)]), committed(2, vec![append(1, 2)])];
        let history =
            [&appends[..], &[committed(3, vec![read(1, &[1, 2])]), committed(4, vec![read(1, &[2])])]].concat();
        assert_eq!(anomalies(&history), [Anomaly::Incompatible]);
    }

    #[test]
    fn repeated_value_in_a_read_is_duplicate_elements() {
        let history = [committed(1, vec![append(1, 1)]), committed(2, vec![read(1, &[1, 1])])];
        assert_eq!(anomalies(&history), [Anomaly::DuplicateElements]);
    }

    #[test]
    fn observed_unknown_transaction_counts_as_committed() {
        let history = [
            transaction(1, Unknown, vec![append(1, 1), append(2, 2)]),
            committed(2, vec![read(2, &[]), append(1, 3)]),
            committed(3, vec![read(1, &[1, 3]), read(2, &[2])]),
        ];
        // No G1a for the observed append, and T1 takes part in T2 -rw-> T1 -ww-> T2.
        assert_eq!(anomalies(&history), [Anomaly::GSingle]);
    }

    #[test]
    fn unobserved_unknown_transaction_is_ignored() {
        let history = [transaction(1, Unknown, vec![append(1, 1)]), timed(committed(2, vec![read(1, &[])]), 10, 20)];
        assert_eq!(anomalies(&history), []);
    }

    /// xorshift64*: enough randomness for histories, and reproducible from the seed alone.
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
        }
    }

    /// Runs random transactions one at a time against a list store. Transaction `i` takes effect
    /// at `1000 + 100 i` ns, inside its random interval, so the history is strictly serializable.
    fn serial_history(seed: u64, count: u64, keys: u64) -> Vec<Transaction> {
        let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut store: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut history = Vec::new();
        for id in 0..count {
            let outcome = [Aborted, Unknown, Committed, Committed, Committed][random.below(5) as usize];
            let (mut appended, mut operations) = (Vec::new(), Vec::new());
            for _ in 0..1 + random.below(4) {
                let key = random.below(keys);
                if random.below(2) == 0 {
                    let value = id * 8 + appended.len() as u64 + 1;
                    appended.push((key, value));
                    operations.push(append(key, value));
                    continue;
                }
                let mut list = store.get(&key).cloned().unwrap_or_default();
                list.extend(appended.iter().filter(|(written, _)| *written == key).map(|(_, value)| value));
                operations.push(MicroOperation::Read { key, list: (outcome == Committed).then_some(list) });
            }
            if outcome == Committed || (outcome == Unknown && random.below(2) == 0) {
                appended.into_iter().for_each(|(key, value)| store.entry(key).or_default().push(value));
            }
            let takes_effect_at = 1_000 + 100 * id;
            let invoked_at_nanos = takes_effect_at - random.below(300);
            let completed_at_nanos = (outcome != Unknown).then(|| takes_effect_at + random.below(300));
            history.push(Transaction {
                id,
                client: id % 10,
                operations,
                outcome,
                invoked_at_nanos,
                completed_at_nanos,
            });
        }
        history
    }

    #[test]
    fn random_serial_histories_pass() {
        for seed in 0..20 {
            assert_eq!(check(&serial_history(seed, 300, 5)), [], "seed {seed}");
        }
    }
}
