//! The SQL engine end to end, in process: sessions over in-process ranges
//! (the real coordinator and range state machines, without Raft), statements
//! in, PostgreSQL-shaped answers out. Expected answers are PostgreSQL 15's.

mod alter;
mod indexes;
mod joins;
mod sequences;
mod statements;
mod transactions;
mod types;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::execute::Output;
use super::session::{Session, SessionConfig, SessionSender, StatementResult};
use crate::kv::KvRuntime;
use crate::range::{CommandError, RangeCommand, RangeResponse};
use crate::txn::coordinator::RangeSender;
use crate::txn::LocalRanges;
use crate::types::Timestamp;

/// Runs a future that never waits: local ranges answer at once and sleeps only move the clock.
pub fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("nothing here waits"),
    }
}

/// Ranges shared by several sessions, and one clock that every look moves on.
#[derive(Clone)]
pub struct Cluster {
    ranges: Rc<RefCell<LocalRanges>>,
    clock: Rc<Cell<u64>>,
}

impl Cluster {
    pub fn new() -> Cluster {
        let clock = Rc::new(Cell::new(1_000_000_000));
        Cluster { ranges: Rc::new(RefCell::new(LocalRanges::new(10_000_000_000))), clock }
    }

    pub fn session(&self, seed: u64) -> Session<Cluster, TestRuntime> {
        let config = SessionConfig { max_offset_nanos: 1_000, commit_wait: true, knobs: Default::default() };
        let runtime = TestRuntime { random: ChaCha8Rng::seed_from_u64(seed), clock: self.clock.clone() };
        Session::new(self.clone(), runtime, config, "postgres")
    }

    pub fn split(&self, at: &crate::keys::Key) {
        self.ranges.borrow_mut().split(at);
    }

    pub fn range_count(&self) -> usize {
        self.ranges.borrow().range_count()
    }
}

impl RangeSender for Cluster {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let now = self.now();
        let mut ranges = self.ranges.borrow_mut();
        ranges.set_now(now);
        // Local ranges answer at once, so the borrow ends before this returns.
        run_now(ranges.send(command))
    }

    fn now(&mut self) -> Timestamp {
        self.clock.set(self.clock.get() + 1_000);
        Timestamp { wall_nanos: self.clock.get(), logical: 0 }
    }
}

impl SessionSender for Cluster {
    fn take_commit_in_doubt(&mut self) -> bool {
        false
    }
}

pub struct TestRuntime {
    random: ChaCha8Rng,
    clock: Rc<Cell<u64>>,
}

impl KvRuntime for TestRuntime {
    async fn sleep(&mut self, nanos: u64) {
        self.clock.set(self.clock.get() + nanos);
    }

    fn random_u64(&mut self) -> u64 {
        self.random.next_u64()
    }
}

/// One result as text: `TAG` for a command, the rows as `a|b` lines then the
/// tag for a query, `ERROR 23505: message` for an error; notices as `NOTICE: `.
pub fn render(result: &StatementResult) -> String {
    let mut lines: Vec<String> =
        result.notices.iter().map(|notice| format!("{}: {}", notice.severity, notice.message)).collect();
    match &result.outcome {
        Ok(Output::Command { tag }) => lines.push(tag.clone()),
        Ok(Output::Rows { columns, rows, tag }) => {
            lines.push(columns.iter().map(|column| column.name.as_str()).collect::<Vec<_>>().join("|"));
            for row in rows {
                let values: Vec<String> =
                    row.iter().map(|value| value.to_text().unwrap_or_else(|| "NULL".into())).collect();
                lines.push(values.join("|"));
            }
            lines.push(tag.clone());
        }
        Err(error) => lines.push(format!("ERROR {}: {}", error.state, error.message)),
    }
    lines.join("\n")
}

/// Runs `text` and renders every statement's result.
pub fn run(session: &mut Session<Cluster, TestRuntime>, text: &str) -> String {
    let results = run_now(session.execute(text));
    results.iter().map(render).collect::<Vec<_>>().join("\n")
}
