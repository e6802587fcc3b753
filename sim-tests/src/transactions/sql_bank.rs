//! The SQL bank workload (`--workload sql-bank`): the bank of
//! [`super::workloads`], written in SQL and run by the SQL engine's own
//! sessions (`shardforge_core::sql::session::Session`, the code production
//! runs) over the simulated cluster's gateways, under the same nemesis.
//!
//! - **Setup** (before any fault): one session creates
//!   `accounts (id int primary key, balance bigint not null)` and inserts
//!   [`ACCOUNTS`] rows of [`INITIAL_BALANCE`]; then the key space is split at
//!   the table's first key and at the keys of every other account (computed
//!   from the table's descriptor, read from the catalog), so that the table
//!   spans several ranges and most transfers commit in two phases across them.
//! - **Clients** (six sessions, one per client host): transfers as explicit
//!   transactions, `BEGIN; UPDATE ... - amt WHERE id = a; UPDATE ... + amt
//!   WHERE id = b; COMMIT`, one statement per `execute` call; a 40001 anywhere
//!   rolls the block back and tries the whole transaction again, at most
//!   [`TRANSFER_ATTEMPTS_MAX`] times; a 40003 (the commit's outcome is
//!   unknown) is never retried. Half the transfers between the two accounts
//!   of one range are instead one implicit `UPDATE ... WHERE id IN (a, b)`,
//!   whose writes the session buffers and commits at once: the only SQL
//!   writes that commit in one phase (what catches `one-phase-hides-reads`).
//!   Any client may run one at any time: `IN` on the key is a point lookup of
//!   the two rows, and a restarted statement keeps its first attempt's age
//!   and backs off with jitter (until both were so, two such statements
//!   restarted each other for good; see docs/testing.md). Audits are half
//!   `SELECT sum(balance) FROM accounts` as one implicit statement (the
//!   session restarts it on 40001 by itself) and half `BEGIN; SELECT id,
//!   balance ...; COMMIT`, reading every balance.
//! - **Checks**: every audit that commits sees the initial total (and, when
//!   it reads rows, [`ACCOUNTS`] of them); after the faults heal every session finishes and a final
//!   audit commits and sees the total; and the final balances are the ledger's:
//!   the initial balances plus every transfer acknowledged with `COMMIT`, plus
//!   some subset of those whose outcome was unknown, and nothing of the
//!   transfers refused (a 40001 promises the transaction did not happen).
//!   Transfers conserve money whether or not they applied, so the total holds
//!   in every case; the ledger check is the stronger one.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use madsim::time::{sleep, Instant};
use shardforge_core::keys::Key;
use shardforge_core::range::{RangeCommand, RangeResponse};
use shardforge_core::sql::catalog;
use shardforge_core::sql::execute::table_rows::key_of_values;
use shardforge_core::sql::execute::Output;
use shardforge_core::sql::kv::CoordinatorKv;
use shardforge_core::sql::row::{index_prefix, IndexId};
use shardforge_core::sql::session::{Session, SessionConfig, TransactionStatus};
use shardforge_core::sql::types::Value;
use shardforge_core::sql::{SqlError, SqlResult, SqlState};
use shardforge_core::txn::coordinator::{RangeSender, Transaction};
use shardforge_core::types::NodeId;
use shardforge_core::types::{RangeId, Timestamp, TransactionId};
use shardforge_runtime_sim::client::{SimClient, SimRuntime, SimTransport};
use shardforge_runtime_sim::clock::SkewedClock;
use shardforge_runtime_sim::network::NetworkFaults;
use shardforge_runtime_sim::observer::Observer;

use super::workloads::{Recorded, TransactionSettings, ACCOUNTS, INITIAL_BALANCE};
use super::{Gateway, CHECKER_CLIENT};
use crate::recorder::Recorder;

/// A SQL session of the workload: the engine's, over a simulated gateway.
pub type SqlSession = Session<Gateway, SimRuntime>;

/// Tries of one transfer (the whole transaction) before the client gives up.
pub const TRANSFER_ATTEMPTS_MAX: u32 = 5;
/// The share of transfers (between two accounts) run as one implicit statement.
const ONE_STATEMENT_SHARE: f64 = 0.9;
/// The audits' query: the total as the engine sums it (a bigint sum is a
/// numeric). [`audit_total`] reads it as it reads [`BALANCES_QUERY`]'s rows:
/// it sums the last column of every row.
pub const AUDIT_QUERY: &str = "SELECT sum(balance) FROM accounts";
/// The final audit's query: every balance, for the ledger check.
pub const BALANCES_QUERY: &str = "SELECT id, balance FROM accounts";
const CREATE_TABLE: &str = "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)";
/// The ledger check gives up (without failing) past this many reachable
/// states of the unknown transfers.
const LEDGER_STATES_MAX: usize = 1 << 16;

/// A transfer whose effect the final balances must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub from: u64,
    pub to: u64,
    pub amount: i64,
    /// Acknowledged (`COMMIT`), or unknown (40003, or an unexpected error at COMMIT).
    pub acknowledged: bool,
}

/// What the SQL sessions of one run did, beyond [`Recorded`]'s counters.
#[derive(Default)]
pub struct Ledger {
    /// Transfers acknowledged or of unknown outcome (the refused ones had no effect).
    pub transfers: Mutex<Vec<Transfer>>,
    /// What the checks found wrong.
    pub violations: Mutex<Vec<String>>,
    pub audits: AtomicU64,
    pub unknown: AtomicU64,
    pub refused: AtomicU64,
    pub given_up: AtomicU64,
    /// Errors other than 40001 and 40003, as `SQLSTATE: message` (counted, not failures).
    pub unexpected_errors: Mutex<Vec<String>>,
}

impl Ledger {
    fn violate(&self, recorder: &Recorder, violation: String) {
        recorder.event(format!("sql-bank: VIOLATION: {violation}"));
        self.violations.lock().expect("ledger lock").push(violation);
    }

    /// The first violation, if any.
    pub fn first_violation(&self) -> Option<String> {
        self.violations.lock().expect("ledger lock").first().map(|violation| format!("sql-bank: {violation}"))
    }
}

/// Readies this thread for SQL inside a simulation; to be called outside one,
/// before the runtime starts. The SQL parser guards its recursion with
/// `stacker`, which learns its thread's stack bounds once, on first use,
/// through `pthread_attr_init`; madsim refuses that call inside a simulation
/// (it is how a thread spawn begins), and `stacker`, without bounds, would
/// then move every recursive call to a fresh stack. Parsing once here sets
/// the bounds (the thread's own stack, which madsim's tasks run on).
pub fn prepare_thread() {
    let _ = shardforge_core::sql::parser::parse("SELECT 1");
}

/// A session over `gateway`, as the seed's transactions run.
pub fn session(gateway: Gateway, settings: TransactionSettings, commit_wait: bool) -> SqlSession {
    let config = SessionConfig { max_offset_nanos: settings.max_offset_nanos, commit_wait, knobs: settings.knobs };
    Session::new(gateway, SimRuntime, config, "postgres")
}

/// Runs one statement (`text` holds one) and gives its outcome.
async fn statement(session: &mut SqlSession, text: &str) -> SqlResult<Output> {
    let mut results = session.execute(text).await;
    assert_eq!(results.len(), 1, "one statement, one result: {text}");
    results.pop().expect("one result").outcome
}

fn tag_of(output: &Output) -> &str {
    match output {
        Output::Command { tag } | Output::Rows { tag, .. } => tag,
    }
}

fn describe(error: &SqlError) -> String {
    match &error.detail {
        Some(detail) => format!("{}: {} ({detail})", error.state, error.message),
        None => format!("{}: {}", error.state, error.message),
    }
}

/// Ends a failed or open block, so the next transaction starts outside one.
async fn end_block(session: &mut SqlSession) {
    if session.status() != TransactionStatus::Idle {
        let _ = statement(session, "ROLLBACK").await;
    }
}

/// Creates and fills the table and splits it into ranges; retries until done.
/// No faults run yet, but answers may still be lost, so a retried CREATE may
/// find the table (42P07) and a retried INSERT the rows (23505): the first try
/// applied. Ends with an audit, which must see the initial total.
pub async fn open_accounts(mut session: SqlSession, recorder: Arc<Recorder>) {
    let session = &mut session;
    retry_until_done(session, CREATE_TABLE, SqlState::DUPLICATE_TABLE).await;
    let values: Vec<String> = (0..ACCOUNTS).map(|id| format!("({id}, {INITIAL_BALANCE})")).collect();
    let insert = format!("INSERT INTO accounts VALUES {}", values.join(", "));
    retry_until_done(session, &insert, SqlState::UNIQUE_VIOLATION).await;
    let splits = split_points(session).await;
    for at in &splits {
        split_at(session.sender(), at).await;
    }
    recorder.event(format!("sql-bank: {ACCOUNTS} accounts opened, split at {} keys", splits.len()));
}

async fn retry_until_done(session: &mut SqlSession, text: &str, done_before: SqlState) {
    loop {
        match statement(session, text).await {
            Ok(_) => return,
            Err(error) if error.state == done_before => return,
            Err(_) => sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The table's first key, and the keys of accounts 2, 4, 6...: the table then
/// spans `ACCOUNTS / 2` ranges of two accounts each, apart from the catalog's.
async fn split_points(session: &mut SqlSession) -> Vec<Key> {
    let descriptor = loop {
        let now = session.sender().now();
        let id = TransactionId(u128::from(thread_rng().gen::<u64>()) << 64 | u128::from(thread_rng().gen::<u64>()));
        let mut transaction = Transaction::begin(id, now, super::MAX_OFFSET_NANOS, Default::default());
        let deadline = Timestamp { wall_nanos: now.wall_nanos + 2_000_000_000, logical: 0 };
        let mut runtime = SimRuntime;
        let found = {
            let mut kv = CoordinatorKv {
                transaction: &mut transaction,
                sender: session.sender(),
                runtime: &mut runtime,
                deadline,
                buffer: None,
            };
            catalog::table_by_name(&mut kv, "accounts").await
        };
        transaction.rollback(session.sender()).await;
        match found {
            Ok(Some(descriptor)) => break descriptor,
            Ok(None) => panic!("the accounts table was created, and is not in the catalog"),
            Err(_) => sleep(Duration::from_millis(50)).await,
        }
    };
    let mut points = vec![index_prefix(descriptor.id, IndexId::PRIMARY)];
    for account in (2..ACCOUNTS).step_by(2) {
        points.push(key_of_values(&descriptor, &[&Value::Int4(account as i32)]).expect("an int key encodes"));
    }
    points
}

/// Splits the range holding `at` there, until a range starts at `at`. The
/// gateway learns the halves from the answer; when the answer is lost, the
/// next try reaches the left half, which refuses a split at its end (a
/// range checks no descriptor on a split), and the meta map then says where
/// the range starts.
async fn split_at(gateway: &mut Gateway, at: &Key) {
    loop {
        if gateway.descriptor_for(at).await.start == *at {
            return;
        }
        // Range ids are 63 random bits, as the stores' own splits draw them.
        let right_id = RangeId(thread_rng().gen::<u64>() >> 1);
        match RangeSender::send(gateway, RangeCommand::Split { at: at.clone(), right_id }).await {
            Ok(RangeResponse::Split { left, right }) => {
                gateway.learn(left);
                gateway.learn(right);
            }
            _ => {
                let lookup = RangeCommand::LookupMeta { key: at.clone() };
                if let Ok(RangeResponse::Descriptor(Some(descriptor))) = RangeSender::send(gateway, lookup).await {
                    if descriptor.contains(at) {
                        gateway.learn(descriptor);
                    }
                }
                sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Transfers and audits until `stop`.
pub async fn client(
    mut session: SqlSession,
    client: u64,
    recorded: Arc<Recorded>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let (audit, explicit) = (thread_rng().gen_bool(0.3), thread_rng().gen_bool(0.5));
        if audit {
            run_audit(&mut session, client, &recorded, &recorder, explicit).await;
        } else {
            let (from, to, amount) = {
                let mut random = thread_rng();
                (random.gen_range(0..ACCOUNTS), random.gen_range(0..ACCOUNTS), random.gen_range(1..=20i64))
            };
            transfer(&mut session, client, &recorded, &recorder, from, to, amount).await;
        }
    }
    recorded.finished_clients.fetch_add(1, Ordering::SeqCst);
}

/// How one try of a transfer ended.
enum Try {
    Committed,
    /// 40001: rolled back, may be tried again.
    Conflict(SqlError),
    /// The commit's outcome is unknown: never tried again.
    Unknown(SqlError),
    /// Any other error: rolled back; not tried again.
    Failed(SqlError),
}

/// One transfer, tried again on 40001; recorded in the ledger.
pub async fn transfer(
    session: &mut SqlSession,
    client: u64,
    recorded: &Recorded,
    recorder: &Recorder,
    from: u64,
    to: u64,
    amount: i64,
) {
    // Only between the two accounts of one range, so that it commits in one phase.
    let one_statement = from != to && from / 2 == to / 2 && thread_rng().gen_bool(ONE_STATEMENT_SHARE);
    transfer_tries(session, client, recorded, recorder, (from, to, amount), one_statement).await;
}

async fn transfer_tries(
    session: &mut SqlSession,
    client: u64,
    recorded: &Recorded,
    recorder: &Recorder,
    (from, to, amount): (u64, u64, i64),
    one_statement: bool,
) {
    let ledger = &recorded.sql;
    for attempt in 1..=TRANSFER_ATTEMPTS_MAX {
        if attempt > 1 {
            sleep(Duration::from_millis(thread_rng().gen_range(1..=20) << attempt.min(4))).await;
        }
        let form = if one_statement { "one statement" } else { "BEGIN; UPDATE; UPDATE; COMMIT" };
        let name = format!("client {client}: transfer {amount} from {from} to {to} ({form}), try {attempt}");
        let tried = match one_statement {
            true => try_transfer_statement(session, ledger, recorder, from, to, amount).await,
            false => try_transfer(session, ledger, recorder, from, to, amount).await,
        };
        match tried {
            Try::Committed => {
                recorder.event(format!("sql-bank {name}: COMMIT"));
                recorded.committed.fetch_add(1, Ordering::SeqCst);
                ledger.transfers.lock().expect("ledger lock").push(Transfer { from, to, amount, acknowledged: true });
                return;
            }
            Try::Unknown(error) => {
                recorder.event(format!("sql-bank {name}: unknown outcome, {}", describe(&error)));
                ledger.unknown.fetch_add(1, Ordering::SeqCst);
                ledger.transfers.lock().expect("ledger lock").push(Transfer { from, to, amount, acknowledged: false });
                return;
            }
            Try::Conflict(error) => {
                recorder.event(format!("sql-bank {name}: {}", describe(&error)));
                ledger.refused.fetch_add(1, Ordering::SeqCst);
                // The session already tried a statement `IMPLICIT_ATTEMPTS_MAX` times.
                if one_statement {
                    break;
                }
            }
            Try::Failed(error) => {
                recorder.event(format!("sql-bank {name}: {}", describe(&error)));
                ledger.unexpected_errors.lock().expect("ledger lock").push(describe(&error));
                return;
            }
        }
    }
    ledger.given_up.fetch_add(1, Ordering::SeqCst);
}

/// A transfer as one implicit statement: `balance + f(id)` over both rows,
/// where `f` is the line through (a, -amt) and (b, amt) (the engine has no
/// CASE yet), so that its writes commit together at the statement's end, in
/// one phase when both rows share a range. The session restarts it on 40001
/// by itself; a 40001 that still reaches the client means it did not happen.
async fn try_transfer_statement(
    session: &mut SqlSession,
    ledger: &Ledger,
    recorder: &Recorder,
    from: u64,
    to: u64,
    amount: i64,
) -> Try {
    end_block(session).await;
    let (a, b) = (from as i64, to as i64);
    let text = format!(
        "UPDATE accounts SET balance = balance + ((id - {a}) * 2 * {amount} / ({b} - {a}) - {amount}) WHERE id IN ({a}, {b})"
    );
    match statement(session, &text).await {
        Ok(output) if tag_of(&output) == "UPDATE 2" => Try::Committed,
        Ok(output) => {
            ledger.violate(recorder, format!("`{text}` answered {:?}: a row is missing", tag_of(&output)));
            // It committed whatever it changed: a changed row would show in the ledger.
            Try::Committed
        }
        Err(error) if error.state == SqlState::SERIALIZATION_FAILURE => Try::Conflict(error),
        Err(error) if error.state == SqlState("40003") => Try::Unknown(error),
        // Anything else is an error before the commit: nothing happened.
        Err(error) => Try::Failed(error),
    }
}

async fn try_transfer(
    session: &mut SqlSession,
    ledger: &Ledger,
    recorder: &Recorder,
    from: u64,
    to: u64,
    amount: i64,
) -> Try {
    end_block(session).await;
    let steps = [
        "BEGIN".to_string(),
        format!("UPDATE accounts SET balance = balance - {amount} WHERE id = {from}"),
        format!("UPDATE accounts SET balance = balance + {amount} WHERE id = {to}"),
    ];
    for text in &steps {
        let outcome = statement(session, text).await;
        let failed = match outcome {
            Ok(output) if text.starts_with("UPDATE") && tag_of(&output) != "UPDATE 1" => {
                ledger.violate(recorder, format!("`{text}` answered {:?}: the row is missing", tag_of(&output)));
                Try::Failed(SqlError::new(SqlState::INTERNAL_ERROR, "a transfer's row is missing"))
            }
            Ok(_) => continue,
            Err(error) if error.state == SqlState::SERIALIZATION_FAILURE => Try::Conflict(error),
            Err(error) => Try::Failed(error),
        };
        end_block(session).await;
        return failed;
    }
    match statement(session, "COMMIT").await {
        Ok(output) if tag_of(&output) == "COMMIT" => Try::Committed,
        Ok(output) => {
            // A COMMIT of a failed block answers ROLLBACK; ours never failed.
            let tag = tag_of(&output).to_string();
            ledger.violate(recorder, format!("COMMIT of a transfer answered {tag:?}"));
            Try::Failed(SqlError::new(SqlState::INTERNAL_ERROR, format!("COMMIT answered {tag}")))
        }
        Err(error) if error.state == SqlState::SERIALIZATION_FAILURE => Try::Conflict(error),
        // 40003, or anything unexpected at COMMIT: it may have happened.
        Err(error) => Try::Unknown(error),
    }
}

/// The total of an audit's answer (the sum of the last column of every row),
/// and, for the `id, balance` form, every account's balance in id order.
pub fn audit_total(output: &Output) -> Result<(i64, Option<Vec<i64>>), String> {
    let Output::Rows { columns, rows, .. } = output else { return Err(format!("the audit answered {output:?}")) };
    let number = |value: &Value| match value {
        Value::Int2(number) => Ok(i64::from(*number)),
        Value::Int4(number) => Ok(i64::from(*number)),
        Value::Int8(number) => Ok(*number),
        Value::Numeric(number) => {
            number.to_i64().map_err(|error| format!("the audit read a sum of {number}: {}", error.message))
        }
        other => Err(format!("the audit read a balance of {other:?}")),
    };
    let mut total = 0;
    for row in rows {
        total += number(row.last().ok_or("the audit read an empty row")?)?;
    }
    if columns.len() != 2 {
        return Ok((total, None));
    }
    let mut balances = vec![None; ACCOUNTS as usize];
    for row in rows {
        let id = number(&row[0])?;
        let slot = balances.get_mut(id as usize).ok_or_else(|| format!("the audit read account {id}"))?;
        if slot.replace(number(&row[1])?).is_some() {
            return Err(format!("the audit read account {id} twice"));
        }
    }
    let balances: Option<Vec<i64>> = balances.into_iter().collect();
    balances.map(|balances| (total, Some(balances))).ok_or_else(|| format!("the audit read {} accounts", rows.len()))
}

/// One audit: the balances it read (None when it failed, or summed with
/// `sum(balance)` instead of reading rows). A committed audit must see the
/// initial total, and every account when it reads rows.
pub async fn run_audit(
    session: &mut SqlSession,
    client: u64,
    recorded: &Recorded,
    recorder: &Recorder,
    explicit: bool,
) -> Option<Vec<i64>> {
    end_block(session).await;
    let answer = if explicit { audit_block(session).await } else { statement(session, AUDIT_QUERY).await };
    let form = if explicit { "BEGIN; SELECT; COMMIT" } else { "implicit SELECT" };
    let output = match answer {
        Ok(output) => output,
        Err(error) => {
            recorder.event(format!("sql-bank client {client}: audit ({form}): {}", describe(&error)));
            end_block(session).await;
            if error.state != SqlState::SERIALIZATION_FAILURE && error.state != SqlState("40003") {
                recorded.sql.unexpected_errors.lock().expect("ledger lock").push(describe(&error));
            }
            return None;
        }
    };
    recorded.committed.fetch_add(1, Ordering::SeqCst);
    let number = recorded.sql.audits.fetch_add(1, Ordering::SeqCst) + 1;
    let expected = ACCOUNTS as i64 * INITIAL_BALANCE;
    match audit_total(&output) {
        Ok((total, balances)) => {
            recorder.event(format!("sql-bank client {client}: audit {number} ({form}): {balances:?}, total {total}"));
            if total != expected {
                let wrong = format!(
                    "sql audit {number} ({form}, client {client}) saw a total of {total}, not {expected}: {balances:?}"
                );
                recorder.event(format!("sql-bank: WRONG TOTAL: {wrong}"));
                recorded.wrong_totals.lock().expect("audit lock").push(wrong);
            }
            balances
        }
        Err(wrong) => {
            recorded.sql.violate(recorder, format!("audit {number} ({form}, client {client}): {wrong}"));
            None
        }
    }
}

/// `BEGIN; SELECT ...; COMMIT`: the rows, once the commit succeeded.
async fn audit_block(session: &mut SqlSession) -> SqlResult<Output> {
    statement(session, "BEGIN").await?;
    let output = statement(session, BALANCES_QUERY).await?;
    statement(session, "COMMIT").await?;
    Ok(output)
}

/// The final audit's session, to be opened on the checker's host.
pub struct FinalAudit {
    pub faults: NetworkFaults,
    pub nodes: Vec<NodeId>,
    pub clock: SkewedClock,
    /// The checker's host's second address (its first is the KV client's).
    pub address: SocketAddr,
    pub settings: TransactionSettings,
    pub commit_wait: bool,
    pub recorded: Arc<Recorded>,
    pub recorder: Arc<Recorder>,
}

impl FinalAudit {
    /// Opens the session and runs [`final_audit`].
    pub async fn run(self, deadline: Instant) -> Result<(), String> {
        let client = SimClient::bind_on(CHECKER_CLIENT, self.address, self.faults).await;
        let gateway = Gateway::new(SimTransport::new(client, self.clock), self.nodes, CHECKER_CLIENT as usize);
        let mut session = session(gateway, self.settings, self.commit_wait);
        final_audit(&mut session, &self.recorded, &self.recorder, deadline).await
    }
}

/// The final audit, after every client finished: retried until it commits or
/// `deadline` passes; then the ledger check.
pub async fn final_audit(
    session: &mut SqlSession,
    recorded: &Recorded,
    recorder: &Recorder,
    deadline: Instant,
) -> Result<(), String> {
    let balances = loop {
        if let Some(balances) = run_audit(session, u64::MAX, recorded, recorder, true).await {
            break balances;
        }
        if Instant::now() > deadline {
            return Err("liveness: no final SQL audit committed after healing".to_string());
        }
        sleep(Duration::from_millis(20)).await;
    };
    let transfers = recorded.sql.transfers.lock().expect("ledger lock").clone();
    if let Some(wrong) = check_ledger(&balances, &transfers) {
        recorded.sql.violate(recorder, wrong);
    }
    let ledger = &recorded.sql;
    recorder.event(format!(
        "sql-bank: {} transfers acknowledged, {} unknown, {} tries refused (40001), {} given up, {} audits, {} unexpected errors",
        transfers.iter().filter(|transfer| transfer.acknowledged).count(),
        ledger.unknown.load(Ordering::SeqCst),
        ledger.refused.load(Ordering::SeqCst),
        ledger.given_up.load(Ordering::SeqCst),
        ledger.audits.load(Ordering::SeqCst),
        ledger.unexpected_errors.lock().expect("ledger lock").len()
    ));
    Ok(())
}

/// Whether `balances` are the initial ones moved by every acknowledged
/// transfer and some subset of the unknown ones; what is wrong if not.
pub fn check_ledger(balances: &[i64], transfers: &[Transfer]) -> Option<String> {
    let mut residual: Vec<i64> = balances.iter().map(|balance| balance - INITIAL_BALANCE).collect();
    // Undoes `transfer`: what is left to explain once it is accounted for.
    let apply = |vector: &mut Vec<i64>, transfer: &Transfer| {
        vector[transfer.from as usize] += transfer.amount;
        vector[transfer.to as usize] -= transfer.amount;
    };
    for transfer in transfers.iter().filter(|transfer| transfer.acknowledged) {
        apply(&mut residual, transfer);
    }
    // Residual: what the unknown transfers must explain. Every subset of them
    // reachable, as a set of what it leaves (small: few commits are in doubt).
    let unknown: Vec<&Transfer> = transfers.iter().filter(|transfer| !transfer.acknowledged).collect();
    let mut reachable: BTreeSet<Vec<i64>> = BTreeSet::from([residual.clone()]);
    for transfer in &unknown {
        let moved: Vec<Vec<i64>> = reachable
            .iter()
            .map(|vector| {
                let mut vector = vector.clone();
                apply(&mut vector, transfer);
                vector
            })
            .collect();
        reachable.extend(moved);
        if reachable.len() > LEDGER_STATES_MAX {
            return None;
        }
    }
    let zero = vec![0; balances.len()];
    if reachable.contains(&zero) {
        return None;
    }
    let acknowledged = transfers.len() - unknown.len();
    Some(format!(
        "the final balances {balances:?} are not the initial {INITIAL_BALANCE} each moved by the {acknowledged} \
         acknowledged transfers and some of the {} of unknown outcome (left unexplained with none of those: {residual:?})",
        unknown.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(from: u64, to: u64, amount: i64, acknowledged: bool) -> Transfer {
        Transfer { from, to, amount, acknowledged }
    }

    #[test]
    fn the_ledger_accepts_acknowledged_transfers_and_any_subset_of_unknown_ones() {
        let mut balances = vec![INITIAL_BALANCE; ACCOUNTS as usize];
        balances[0] -= 5;
        balances[1] += 5;
        let acknowledged = [transfer(0, 1, 5, true)];
        assert_eq!(check_ledger(&balances, &acknowledged), None);
        let with_unknown = [transfer(0, 1, 5, true), transfer(2, 3, 7, false), transfer(1, 0, 5, false)];
        assert_eq!(check_ledger(&balances, &with_unknown), None, "neither unknown transfer applied");
        balances[2] -= 7;
        balances[3] += 7;
        assert_eq!(check_ledger(&balances, &with_unknown), None, "one of them applied");
    }

    #[test]
    fn the_ledger_refuses_a_lost_update_that_keeps_the_total() {
        let mut balances = vec![INITIAL_BALANCE; ACCOUNTS as usize];
        balances[0] -= 5;
        balances[1] += 5;
        let refused = check_ledger(&balances, &[transfer(0, 1, 5, true), transfer(0, 1, 3, true)]);
        assert!(refused.is_some_and(|wrong| wrong.contains("not the initial")));
        let unexplained = check_ledger(&balances, &[transfer(0, 1, 3, false)]);
        assert!(unexplained.is_some(), "an unknown transfer of 3 cannot explain a move of 5");
    }
}
