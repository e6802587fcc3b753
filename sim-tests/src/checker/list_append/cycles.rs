//! The dependency graph of a list-append history and the search for cycles in
//! it: write-write, write-read and read-write edges between transactions, plus
//! real-time edges, and for each anomaly kind the shortest cycle that shows it.

use super::*;

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
pub(super) struct DependencyGraph {
    transactions: Vec<usize>,
    node_count: usize,
    edges: Vec<Edge>,
    first_edge: Vec<usize>,
}

impl DependencyGraph {
    pub(super) fn build(evidence: &Evidence, members: &[bool]) -> Self {
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

pub(super) fn find_cycles(graph: &DependencyGraph, history: &[Transaction], findings: &mut Findings) {
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
