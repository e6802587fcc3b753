//! The register workload: clients put, get and compare-and-set a few keys through
//! whichever node they believe leads, and record every operation with its
//! invocation and completion times (on the global clock: real time) for the
//! linearizability checker.
//!
//! Outcomes: an answer is recorded as it came; no answer in time, or
//! `OutcomeUnknown`, is recorded as unknown (the write may or may not have
//! happened); a definite refusal (`NotLeader`, `Unavailable`) is retried at the
//! hinted leader and, if it never succeeds, the operation is left out of the
//! history, since it certainly had no effect.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use madsim::time::Instant;
use shardforge_core::replica::{Request, RequestError};
use shardforge_core::types::NodeId;
use shardforge_runtime_sim::client::SimClient;
use shardforge_runtime_sim::program::FIRST_GROUP;

use crate::checker::linearizability::{Operation, RegisterOperation, RegisterOutcome};
use crate::register::{compare_and_set_succeeded, decode_value, encode_get, RegisterCommand};

/// How long a client waits for an answer before calling the outcome unknown.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts of one operation against successive leader guesses.
const ATTEMPTS_MAX: usize = 6;

/// The operations of one run, shared by its clients.
pub struct History {
    origin: Instant,
    operations: Mutex<Vec<Operation>>,
}

impl History {
    pub fn new(origin: Instant) -> History {
        History { origin, operations: Mutex::new(Vec::new()) }
    }

    pub fn now_nanos(&self) -> u64 {
        Instant::now().duration_since(self.origin).as_nanos() as u64
    }

    pub fn record(&self, operation: Operation) {
        self.operations.lock().expect("history lock").push(operation);
    }

    pub fn operations(&self) -> Vec<Operation> {
        self.operations.lock().expect("history lock").clone()
    }
}

/// A client of the register workload, with its guess of the leader.
pub struct RegisterClient {
    client: SimClient,
    nodes: Vec<NodeId>,
    leader_guess: NodeId,
    history: Arc<History>,
}

impl RegisterClient {
    pub fn new(client: SimClient, nodes: Vec<NodeId>, history: Arc<History>) -> RegisterClient {
        let leader_guess = nodes[thread_rng().gen_range(0..nodes.len())];
        RegisterClient { client, nodes, leader_guess, history }
    }

    /// Issues random operations until `stop` is set.
    pub async fn run(&mut self, keys: u64, stop: Arc<AtomicBool>) {
        let mut sequence = 0;
        while !stop.load(Ordering::SeqCst) {
            sequence += 1;
            let operation = self.random_operation(keys, sequence);
            self.perform(operation.0, operation.1).await;
            let pause = thread_rng().gen_range(0..20);
            madsim::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn random_operation(&self, keys: u64, sequence: u64) -> (u64, RegisterOperation) {
        let mut random = thread_rng();
        let key = random.gen_range(0..keys);
        // Values are unique per write, so a read names the write it saw.
        let value = self.client.id() * 1_000_000 + sequence;
        let operation = match random.gen_range(0..10) {
            0..=3 => RegisterOperation::Put { value },
            4..=7 => RegisterOperation::Get,
            _ => {
                let expected = self.last_value_seen(key);
                RegisterOperation::CompareAndSet { expected, new: value }
            }
        };
        (key, operation)
    }

    /// The value of `key` in the latest completed operation of the history, as a
    /// plausible expectation for compare-and-set.
    fn last_value_seen(&self, key: u64) -> Option<u64> {
        let operations = self.history.operations.lock().expect("history lock");
        operations.iter().rev().filter(|operation| operation.key == key).find_map(|operation| {
            match (&operation.operation, &operation.completed) {
                (RegisterOperation::Put { value }, Some(_)) => Some(*value),
                (_, Some((_, RegisterOutcome::GetOk(value)))) => *value,
                _ => None,
            }
        })
    }

    /// Performs and records one operation.
    pub async fn perform(&mut self, key: u64, operation: RegisterOperation) -> Option<RegisterOutcome> {
        let invoked_at_nanos = self.history.now_nanos();
        let request = match operation {
            RegisterOperation::Put { value } => Request::Propose(RegisterCommand::Put { key, value }.encode()),
            RegisterOperation::Get => Request::Read(encode_get(key)),
            RegisterOperation::CompareAndSet { expected, new } => {
                Request::Propose(RegisterCommand::CompareAndSet { key, expected, new }.encode())
            }
        };
        let outcome = self.execute(request).await?;
        let completed = outcome.map(|bytes| (self.history.now_nanos(), interpret(&operation, &bytes)));
        let result = completed.as_ref().map(|(_, outcome)| outcome.clone());
        self.history.record(Operation { client: self.client.id(), key, operation, invoked_at_nanos, completed });
        result
    }

    /// None: certainly not executed. Some(None): outcome unknown.
    async fn execute(&mut self, request: Request) -> Option<Option<Vec<u8>>> {
        for _ in 0..ATTEMPTS_MAX {
            match self.client.request(self.leader_guess, FIRST_GROUP, request.clone(), REQUEST_TIMEOUT).await {
                Some(Ok(bytes)) => return Some(Some(bytes)),
                None | Some(Err(RequestError::OutcomeUnknown)) => {
                    self.guess_another_leader();
                    return Some(None);
                }
                Some(Err(RequestError::NotLeader { leader })) => match leader {
                    Some(leader) if leader != self.leader_guess => self.leader_guess = leader,
                    _ => {
                        self.guess_another_leader();
                        madsim::time::sleep(Duration::from_millis(20)).await;
                    }
                },
                Some(Err(RequestError::Unavailable | RequestError::Invalid | RequestError::ClockOffset)) => {
                    madsim::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        None
    }

    fn guess_another_leader(&mut self) {
        self.leader_guess = self.nodes[thread_rng().gen_range(0..self.nodes.len())];
    }
}

fn interpret(operation: &RegisterOperation, bytes: &[u8]) -> RegisterOutcome {
    match operation {
        RegisterOperation::Put { .. } => RegisterOutcome::PutOk,
        RegisterOperation::Get => RegisterOutcome::GetOk(decode_value(bytes).expect("a well-formed read answer")),
        RegisterOperation::CompareAndSet { .. } if compare_and_set_succeeded(bytes) => RegisterOutcome::CompareAndSetOk,
        RegisterOperation::CompareAndSet { .. } => RegisterOutcome::CompareAndSetFailed,
    }
}
