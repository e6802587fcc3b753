//! Linearizability checker for a history of operations on a map of independent registers.
//!
//! A history is linearizable when every operation can be given one instant between its
//! invocation and its completion such that, in the order of those instants, the operations
//! form a legal sequential run of the map with exactly the outcomes the clients saw. Real
//! time fixes part of that order: when `a` completed strictly before `b` was invoked, `a`
//! comes first; overlapping operations may go either way.
//!
//! Linearizability is compositional (Herlihy and Wing): a history is linearizable exactly
//! when its restriction to each object is. `check` splits the history by key and searches
//! each key on its own, which keeps every search small.
//!
//! Per key it runs the search of Wing and Gong as refined by Lowe ("Testing for
//! linearizability", 2017). A search state is the set of operations linearized so far and
//! the register value they leave. The operations that may come next are the *minimal*
//! ones: not yet linearized, and invoked no later than the earliest completion among the
//! operations still waiting. The search goes depth first over them, keeping those whose
//! recorded outcome fits the register, on an explicit stack so that thousands of operations
//! cannot overflow the thread stack. It remembers the states it has exhausted (a bitset and
//! the register) and never enters one again; this memo is what keeps the walk from
//! exploring every interleaving. Two rules prune further, each safe because any valid
//! linearization can be rearranged to obey it:
//!
//! - A completed read (a `Get`, or a `CompareAndSet` that failed) that is minimal and fits
//!   the register is the only candidate tried: it changes nothing and nothing waiting must
//!   precede it, so it can be moved to the front. Without this, the search would try the
//!   orders of concurrent reads one by one.
//! - An operation whose outcome is unknown is placed only right before one that looks at
//!   the register (a `Get` or a `CompareAndSet`); followed by a `Put` or by nothing, its
//!   value is overwritten or never seen, and dropping it changes no outcome.
//!
//! Operations with an unknown outcome (a timeout, a crashed client) may have taken effect
//! at any time after their invocation, or never. A `Get` among them changes nothing and is
//! dropped. The others never complete, so they never make another operation wait, and the
//! search succeeds once every completed operation is placed, whether or not they were. An
//! unanswered `CompareAndSet` is placed only where it succeeds: where it would fail it
//! changes nothing, the same as leaving it out. Because each such operation can be used at
//! most once, the memo keeps them apart: an exhausted state also rules out any state with
//! the same completed operations and register that has used more of them.
//!
//! A violation names the key and the deepest point the search reached: how many completed
//! operations it placed, the last of them, the register value they leave, and the minimal
//! operations that contradict that value. Operations are named `#index` by their position
//! in the history given to `check`.
//!
//! Limits: a key's search enters at most `SEARCH_STATES_MAX` states and then reports an
//! inconclusive violation rather than passing; a single key kept busy by dozens of
//! concurrent clients all the time can reach it. A malformed history (completion before
//! invocation, an answer of the wrong kind) is reported as a violation, never passed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A register operation as a client invoked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOperation {
    Put {
        value: u64,
    },
    Get,
    /// Succeeds, setting `new`, only when the current value equals `expected` (None = key absent).
    CompareAndSet {
        expected: Option<u64>,
        new: u64,
    },
}

/// What the system answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    PutOk,
    GetOk(Option<u64>),
    CompareAndSetOk,
    CompareAndSetFailed,
}

/// One client operation: its key, invocation time and, if the client got an answer, the answer and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: u64,
    pub key: u64,
    pub operation: RegisterOperation,
    pub invoked_at_nanos: u64,
    /// None when the outcome is unknown (timeout, crash): the operation may or may not have taken effect, at any time after its invocation.
    pub completed: Option<(u64, RegisterOutcome)>,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub key: u64,
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "key {}: {}", self.key, self.explanation)
    }
}

/// States one key's search may enter before it gives up; each costs a bitset in memory.
const SEARCH_STATES_MAX: usize = 1_000_000;

/// Operations a violation lists per group, so an explanation stays readable.
const REPORTED_OPERATIONS_MAX: usize = 8;

/// Checks that the history is linearizable with respect to a map of independent registers, all absent at the start.
pub fn check(history: &[Operation]) -> Result<(), Violation> {
    for (key, operations) in partition_by_key(history)? {
        Search::new(KeyHistory::new(key, operations), SEARCH_STATES_MAX).run()?;
    }
    Ok(())
}

/// One key's operations, each with its position in the whole history.
type KeyOperations<'a> = Vec<(usize, &'a Operation)>;

/// Groups the history by key, keeping each operation's position for reports and dropping
/// unanswered reads, which cannot have changed anything.
fn partition_by_key(history: &[Operation]) -> Result<BTreeMap<u64, KeyOperations<'_>>, Violation> {
    let mut keys: BTreeMap<u64, KeyOperations<'_>> = BTreeMap::new();
    for (index, operation) in history.iter().enumerate() {
        validate(index, operation)?;
        if operation.completed.is_none() && operation.operation == RegisterOperation::Get {
            continue;
        }
        keys.entry(operation.key).or_default().push((index, operation));
    }
    Ok(keys)
}

/// Rejects operations no real system could have produced, which signal a recording bug.
fn validate(index: usize, operation: &Operation) -> Result<(), Violation> {
    let Some((completed_at, outcome)) = &operation.completed else {
        return Ok(());
    };
    let kinds_match = matches!(
        (&operation.operation, outcome),
        (RegisterOperation::Put { .. }, RegisterOutcome::PutOk)
            | (RegisterOperation::Get, RegisterOutcome::GetOk(_))
            | (
                RegisterOperation::CompareAndSet { .. },
                RegisterOutcome::CompareAndSetOk | RegisterOutcome::CompareAndSetFailed
            )
    );
    let problem = if *completed_at < operation.invoked_at_nanos {
        "completes before it is invoked"
    } else if !kinds_match {
        "has an answer of the wrong kind"
    } else {
        return Ok(());
    };
    let explanation = format!("malformed history: {} {problem}", describe(index, operation));
    Err(Violation { key: operation.key, explanation })
}

/// The operations on one key: completed ones first, then unanswered ones, each group in
/// invocation order. An operation is named by its position here.
struct KeyHistory<'a> {
    key: u64,
    operations: KeyOperations<'a>,
    completed_count: usize,
}

impl<'a> KeyHistory<'a> {
    fn new(key: u64, mut operations: KeyOperations<'a>) -> Self {
        operations.sort_by_key(|(_, operation)| (operation.completed.is_none(), operation.invoked_at_nanos));
        let completed_count = operations.iter().filter(|(_, operation)| operation.completed.is_some()).count();
        KeyHistory { key, operations, completed_count }
    }

    fn operation(&self, index: usize) -> &'a Operation {
        self.operations[index].1
    }

    fn is_completed(&self, index: usize) -> bool {
        index < self.completed_count
    }

    /// The operations that may be linearized next. With `observers_only`, the previous one
    /// was unanswered and must be seen by the next (module doc).
    fn minimal_operations(&self, placed: &Placement, observers_only: bool) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut earliest_completion = u64::MAX;
        for index in placed.completed.first_absent()..self.completed_count {
            let operation = self.operation(index);
            if placed.completed.contains(index) {
                continue;
            }
            // Operations are in invocation order, and one invoked after a waiting operation
            // completed must follow it; so must every later one.
            if operation.invoked_at_nanos > earliest_completion {
                break;
            }
            let (completed_at, _) = operation.completed.as_ref().expect("completed operations come first");
            earliest_completion = earliest_completion.min(*completed_at);
            candidates.push(index);
        }
        for index in self.completed_count..self.operations.len() {
            if self.operation(index).invoked_at_nanos > earliest_completion {
                break;
            }
            if !placed.unanswered.contains(index - self.completed_count) {
                candidates.push(index);
            }
        }
        if observers_only {
            let is_put = |index: usize| matches!(self.operation(index).operation, RegisterOperation::Put { .. });
            candidates.retain(|&index| !is_put(index));
        }
        candidates
    }

    /// The operations worth trying next from `register`. A completed read that fits is
    /// the only one: it changes nothing and no waiting operation must precede it, so in
    /// any linearization from here it can be moved to the front, and trying the others
    /// first would only explore the orders of concurrent reads.
    fn next_candidates(&self, placed: &Placement, register: Option<u64>, observers_only: bool) -> Vec<usize> {
        let candidates = self.minimal_operations(placed, observers_only);
        let fitting_read = candidates.iter().copied().find(|&index| {
            let operation = self.operation(index);
            is_read(operation) && apply(operation, register) == Some(register)
        });
        fitting_read.map_or(candidates, |read| vec![read])
    }

    /// Lists operations by their position in the history, eliding beyond the report limit.
    fn describe_all(&self, indices: &[usize]) -> String {
        let mut descriptions: Vec<String> = indices
            .iter()
            .take(REPORTED_OPERATIONS_MAX)
            .map(|&index| describe(self.operations[index].0, self.operation(index)))
            .collect();
        if indices.len() > REPORTED_OPERATIONS_MAX {
            descriptions.push(format!("and {} more", indices.len() - REPORTED_OPERATIONS_MAX));
        }
        descriptions.join("; ")
    }
}

/// Applies `operation` to the register if its recorded outcome is possible from `register`,
/// returning the value it leaves; an unanswered compare-and-set is taken to have succeeded.
fn apply(operation: &Operation, register: Option<u64>) -> Option<Option<u64>> {
    let outcome = operation.completed.as_ref().map(|(_, outcome)| outcome);
    match (&operation.operation, outcome) {
        (RegisterOperation::Put { value }, _) => Some(Some(*value)),
        (RegisterOperation::Get, Some(RegisterOutcome::GetOk(read))) => (*read == register).then_some(register),
        (RegisterOperation::CompareAndSet { expected, .. }, Some(RegisterOutcome::CompareAndSetFailed)) => {
            (*expected != register).then_some(register)
        }
        (RegisterOperation::CompareAndSet { expected, new }, _) => (*expected == register).then_some(Some(*new)),
        (RegisterOperation::Get, _) => unreachable!("validated, and unanswered reads are dropped"),
    }
}

/// Whether `operation` is answered and cannot have changed the register wherever it was placed.
fn is_read(operation: &Operation) -> bool {
    matches!(
        (&operation.operation, &operation.completed),
        (RegisterOperation::Get, _) | (_, Some((_, RegisterOutcome::CompareAndSetFailed)))
    )
}

/// A set of operation positions, as a bitset.
#[derive(Clone, PartialEq, Eq, Hash)]
struct OperationSet {
    words: Vec<u64>,
}

impl OperationSet {
    fn with_capacity(operations: usize) -> Self {
        OperationSet { words: vec![0; operations.div_ceil(64)] }
    }

    fn contains(&self, index: usize) -> bool {
        self.words[index / 64] & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: usize, present: bool) {
        let bit = 1 << (index % 64);
        let word = &mut self.words[index / 64];
        *word = if present { *word | bit } else { *word & !bit };
    }

    fn is_subset(&self, other: &OperationSet) -> bool {
        self.words.iter().zip(&other.words).all(|(mine, theirs)| mine & !theirs == 0)
    }

    /// The lowest position not in the set; the search starts its scans there.
    fn first_absent(&self) -> usize {
        let full_words = self.words.iter().take_while(|&&word| word == u64::MAX).count();
        let partial = self.words.get(full_words).map_or(0, |word| word.trailing_ones() as usize);
        full_words * 64 + partial
    }
}

/// The operations the current search path has linearized, completed and unanswered apart
/// so that states can be compared by the unanswered operations they used up.
struct Placement {
    completed: OperationSet,
    /// Indexed from the first unanswered operation.
    unanswered: OperationSet,
}

/// States exhausted without success, grouped by completed operations and register. A new
/// state is hopeless when an exhausted one in its group used a subset of its unanswered
/// operations and was no more restricted (`observers_only`), since every continuation of
/// the new state is open to the exhausted one too. States are recorded when they are
/// exhausted, not when entered, so a state is never ruled out by its own unfinished ancestor.
#[derive(Default)]
struct Explored {
    groups: HashMap<(OperationSet, Option<u64>), Vec<ExhaustedState>>,
}

/// An exhausted state within its group: the unanswered operations it used, and whether it was restricted.
type ExhaustedState = (OperationSet, bool);

impl Explored {
    fn dominates(&self, placed: &Placement, register: Option<u64>, observers_only: bool) -> bool {
        let Some(seen) = self.groups.get(&(placed.completed.clone(), register)) else {
            return false;
        };
        seen.iter()
            .any(|(unanswered, restricted)| (!restricted || observers_only) && unanswered.is_subset(&placed.unanswered))
    }

    fn record(&mut self, placed: &Placement, register: Option<u64>, observers_only: bool) {
        let seen = self.groups.entry((placed.completed.clone(), register)).or_default();
        seen.push((placed.unanswered.clone(), observers_only));
    }
}

/// One level of the depth-first search: the state entered and the candidates left to try.
struct Frame {
    /// The operation whose linearization entered this state; None at the root.
    entered_by: Option<usize>,
    register: Option<u64>,
    observers_only: bool,
    candidates: Vec<usize>,
    next_candidate: usize,
}

/// The state that placed the most completed operations, kept to explain a failure.
struct Deepest {
    completed_placed: usize,
    prefix: Vec<usize>,
    register: Option<u64>,
    frontier: Vec<usize>,
}

/// The depth-first search over one key's history.
struct Search<'a> {
    history: KeyHistory<'a>,
    placed: Placement,
    completed_placed: usize,
    stack: Vec<Frame>,
    explored: Explored,
    states_entered: usize,
    states_max: usize,
    deepest: Deepest,
}

impl<'a> Search<'a> {
    fn new(history: KeyHistory<'a>, states_max: usize) -> Self {
        let completed = OperationSet::with_capacity(history.completed_count);
        let unanswered = OperationSet::with_capacity(history.operations.len() - history.completed_count);
        let placed = Placement { completed, unanswered };
        let candidates = history.next_candidates(&placed, None, false);
        let frontier = candidates.iter().copied().filter(|&index| history.is_completed(index)).collect();
        let deepest = Deepest { completed_placed: 0, prefix: Vec::new(), register: None, frontier };
        let root = Frame { entered_by: None, register: None, observers_only: false, candidates, next_candidate: 0 };
        let stack = vec![root];
        let explored = Explored::default();
        Search { history, placed, completed_placed: 0, stack, explored, states_entered: 0, states_max, deepest }
    }

    /// Tries candidates depth first until every completed operation is placed or none remain.
    fn run(mut self) -> Result<(), Violation> {
        if self.history.completed_count == 0 {
            return Ok(());
        }
        while let Some(frame) = self.stack.last_mut() {
            let Some(&candidate) = frame.candidates.get(frame.next_candidate) else {
                self.backtrack();
                continue;
            };
            frame.next_candidate += 1;
            let Some(register) = apply(self.history.operation(candidate), frame.register) else {
                continue;
            };
            if self.descend(candidate, register)? {
                return Ok(());
            }
        }
        Err(self.not_linearizable())
    }

    /// Linearizes `candidate`, leaving `register`, and pushes the new state unless it is
    /// hopeless; returns true once every completed operation is placed.
    fn descend(&mut self, candidate: usize, register: Option<u64>) -> Result<bool, Violation> {
        let observers_only = !self.history.is_completed(candidate);
        self.place(candidate, true);
        if self.completed_placed == self.history.completed_count {
            return Ok(true);
        }
        if self.explored.dominates(&self.placed, register, observers_only) {
            self.place(candidate, false);
            return Ok(false);
        }
        self.states_entered += 1;
        if self.states_entered > self.states_max {
            return Err(self.inconclusive());
        }
        let candidates = self.history.next_candidates(&self.placed, register, observers_only);
        let frame = Frame { entered_by: Some(candidate), register, observers_only, candidates, next_candidate: 0 };
        self.stack.push(frame);
        if self.completed_placed > self.deepest.completed_placed {
            self.record_deepest();
        }
        Ok(false)
    }

    /// Leaves the state on top of the stack, now known to be hopeless.
    fn backtrack(&mut self) {
        let frame = self.stack.pop().expect("called with a frame on the stack");
        self.explored.record(&self.placed, frame.register, frame.observers_only);
        if let Some(operation) = frame.entered_by {
            self.place(operation, false);
        }
    }

    fn place(&mut self, operation: usize, present: bool) {
        if self.history.is_completed(operation) {
            self.placed.completed.set(operation, present);
            self.completed_placed = if present { self.completed_placed + 1 } else { self.completed_placed - 1 };
        } else {
            self.placed.unanswered.set(operation - self.history.completed_count, present);
        }
    }

    fn record_deepest(&mut self) {
        let top = self.stack.last().expect("called right after a push");
        self.deepest = Deepest {
            completed_placed: self.completed_placed,
            prefix: self.stack.iter().filter_map(|frame| frame.entered_by).collect(),
            register: top.register,
            frontier: top.candidates.iter().copied().filter(|&index| self.history.is_completed(index)).collect(),
        };
    }

    fn not_linearizable(&self) -> Violation {
        let deepest = &self.deepest;
        let shown_from = deepest.prefix.len().saturating_sub(REPORTED_OPERATIONS_MAX);
        let explanation = format!(
            "not linearizable: at best {} of {} completed operations can be placed, leaving the register {} \
             after [{}]; none of the operations that could come next fits: [{}]",
            deepest.completed_placed,
            self.history.completed_count,
            describe_value(deepest.register),
            self.history.describe_all(&deepest.prefix[shown_from..]),
            self.history.describe_all(&deepest.frontier),
        );
        Violation { key: self.history.key, explanation }
    }

    fn inconclusive(&self) -> Violation {
        let explanation = format!(
            "search inconclusive: gave up after exploring {} states over {} operations \
             (at most {} of {} completed operations placed so far); the history was NOT verified",
            self.states_max,
            self.history.operations.len(),
            self.deepest.completed_placed,
            self.history.completed_count,
        );
        Violation { key: self.history.key, explanation }
    }
}

/// Names an operation for a human: its position in the history, client, action and answer.
fn describe(history_index: usize, operation: &Operation) -> String {
    let action = match &operation.operation {
        RegisterOperation::Put { value } => format!("put {value}"),
        RegisterOperation::Get => "get".to_string(),
        RegisterOperation::CompareAndSet { expected, new } => {
            format!("compare-and-set {} to {new}", describe_value(*expected))
        }
    };
    let invoked_at = operation.invoked_at_nanos;
    let answer = match &operation.completed {
        None => format!("unknown outcome, invoked at {invoked_at}ns"),
        Some((completed_at, outcome)) => {
            let outcome = match outcome {
                RegisterOutcome::PutOk | RegisterOutcome::CompareAndSetOk => "ok".to_string(),
                RegisterOutcome::CompareAndSetFailed => "failed".to_string(),
                RegisterOutcome::GetOk(value) => describe_value(*value),
            };
            format!("{outcome} during {invoked_at}..{completed_at}ns")
        }
    };
    format!("#{history_index} client {} {action} -> {answer}", operation.client)
}

fn describe_value(value: Option<u64>) -> String {
    value.map_or_else(|| "absent".to_string(), |value| value.to_string())
}

#[cfg(test)]
mod tests;
