//! The causal-reverse probe (Jepsen's "comments" workload, aimed): one client
//! writes two keys one after the other, each through a gateway of its own, and
//! a reader that read the first key before the first write reads the second
//! after the second write. Strict serializability forbids the reader to see the
//! second write without the first, since the first finished before the second
//! began.
//!
//! The clocks make it bite. The reader's gateway and the first writer's read a
//! clock nine twentieths of the maximum offset ahead of true time, the second
//! writer's a clock as far behind it (nine tenths apart: within the offset of
//! each other, and of every node's clock in the seeds that check real-time
//! order, whose nodes stay within a third of the offset plus drift; so these
//! clocks are within what ShardForge assumes). The first write lands on a key the reader has
//! read, so the timestamp cache pushes it above the reader's timestamp. With
//! commit wait, the first writer is acknowledged once its clock passes that
//! timestamp by the offset, and the second writer's clock, less than an offset
//! behind, is past it too: the second write lands above the reader. Commit wait
//! any shorter, and the second write can land below the reader's timestamp,
//! where the reader sees it (a real-time cycle). Without commit wait the
//! promise is serializability and the cycle is allowed; the probe still runs,
//! under the timestamp-order check.
//!
//! In two rounds of three, a read-only transaction of the first key runs while
//! the first writer is still in commit wait, and the second write follows it:
//! through the second writer's gateway (behind), whose read finds the new value
//! in its uncertainty interval; or through an observer's gateway (ahead), whose
//! read sees it at once. See [`writes_with_a_read_between`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use madsim::rand::{thread_rng, Rng};
use madsim::time::sleep;
use shardforge_core::types::NodeId;
use shardforge_runtime_sim::client::{SimClient, SimTransport};
use shardforge_runtime_sim::clock::SkewedClock;
use shardforge_runtime_sim::network::{client_ip, NetworkFaults};

use super::workloads::{
    abort, encode_list, finish, key_of, outcome_of, read_list, run_list_append_transaction, Recorded,
    TransactionSettings,
};
use super::{Gateway, MAX_OFFSET_NANOS};
use crate::checker::list_append::MicroOperation;

/// The probe's host (its three gateways share it, on three ports).
pub const PROBE_CLIENT: u64 = 904;
/// The client numbers of the probe's four gateways, in its history and on the
/// network: the reader's, the first writer's, the second writer's, the observer's.
const READER: u64 = PROBE_CLIENT * 10;
const FIRST_WRITER: u64 = READER + 1;
const SECOND_WRITER: u64 = READER + 2;
const OBSERVER: u64 = READER + 3;

/// The four gateways: the reader's, the first writer's, the second's and the
/// observer's (a read-only transaction between the two writes, ahead).
pub struct ProbeGateways {
    reader: Gateway,
    first_writer: Gateway,
    second_writer: Gateway,
    observer: Gateway,
}

/// Where the read-only transaction between the two writes runs, if anywhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadBetween {
    None,
    /// On the second writer's gateway, behind true time.
    Behind,
    /// On the observer's gateway, ahead of it.
    Ahead,
}

impl ProbeGateways {
    /// Binds the four gateways on the probe's host, their clocks set around
    /// true time as the module doc says.
    pub async fn bind(origin: madsim::time::Instant, faults: NetworkFaults, nodes: Vec<NodeId>) -> ProbeGateways {
        let away = MAX_OFFSET_NANOS as i64 * 9 / 20;
        let mut gateways = Vec::new();
        let clients =
            [(READER, 7000, away), (FIRST_WRITER, 7001, away), (SECOND_WRITER, 7002, -away), (OBSERVER, 7003, away)];
        for (client, port, offset) in clients {
            let clock = SkewedClock::new(origin);
            clock.jump_to_offset(offset);
            let address = std::net::SocketAddr::new(client_ip(PROBE_CLIENT), port);
            let client = SimClient::bind_on(client, address, faults.clone()).await;
            gateways.push(Gateway::new(SimTransport::new(client, clock), nodes.clone(), port as usize));
        }
        let observer = gateways.pop().expect("four gateways");
        let second_writer = gateways.pop().expect("four gateways");
        let first_writer = gateways.pop().expect("four gateways");
        let reader = gateways.pop().expect("four gateways");
        ProbeGateways { reader, first_writer, second_writer, observer }
    }
}

/// Probes until `stop`, each round on a list key in play and a fresh one (see
/// [`Recorded::fresh_list_key`]), which only the probe writes.
pub async fn probe(
    mut gateways: ProbeGateways,
    settings: TransactionSettings,
    recorded: Arc<Recorded>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let first = recorded.list_key(settings.keys);
        let second = recorded.fresh_list_key(settings.keys);
        probe_round(&mut gateways, settings, &recorded, first, second).await;
        sleep(std::time::Duration::from_millis(20)).await;
    }
    recorded.finished_clients.fetch_add(1, Ordering::SeqCst);
}

/// One round: the reader reads `first`; the first writer appends to `first`,
/// then the second writer to `second` (after a read-only transaction of
/// `first`, in two rounds of three: see [`writes_with_a_read_between`]); the
/// reader reads `second` and commits.
async fn probe_round(
    gateways: &mut ProbeGateways,
    settings: TransactionSettings,
    recorded: &Recorded,
    first: u64,
    second: u64,
) {
    let reader = &mut gateways.reader;
    let (number, mut transaction, invoked_at_nanos) = recorded.begin(reader, settings);
    let mut observed = Vec::new();
    let ending = match read_list(&mut transaction, reader, first).await {
        Err(_) => abort(&mut transaction, reader).await,
        Ok(list) => {
            observed.push(MicroOperation::Read { key: first, list: Some(list) });
            let between = [ReadBetween::None, ReadBetween::Behind, ReadBetween::Ahead][thread_rng().gen_range(0..3)];
            if between == ReadBetween::None {
                let first_write = [(first, true)];
                run_list_append_transaction(&mut gateways.first_writer, FIRST_WRITER, settings, recorded, &first_write)
                    .await;
                let second_write = [(second, true)];
                run_list_append_transaction(
                    &mut gateways.second_writer,
                    SECOND_WRITER,
                    settings,
                    recorded,
                    &second_write,
                )
                .await;
            } else {
                writes_with_a_read_between(gateways, between, settings, recorded, first, second).await;
            }
            let reader = &mut gateways.reader;
            match read_list(&mut transaction, reader, second).await {
                Err(_) => abort(&mut transaction, reader).await,
                Ok(list) => {
                    observed.push(MicroOperation::Read { key: second, list: Some(list) });
                    finish(&mut transaction, reader, recorded).await
                }
            }
        }
    };
    recorded.record(number, READER, observed, ending, invoked_at_nanos);
}

/// The read-only variants: the first writer commits its append to `first` but
/// has not yet waited out commit wait when a read-only transaction of `first`
/// runs and sees the new value; the second writer's append to `second` follows
/// it, and must land above the reader's timestamp. Landing below, the reader
/// sees it without the first write, which the read-only transaction saw before
/// the second write began.
/// - `Behind`: on the second writer's gateway, whose read finds the new value
///   within its uncertainty interval and moves its timestamp up to it, ahead of
///   its own clock; it must not be acknowledged before its clock gets there.
/// - `Ahead`: on the observer's gateway, whose clock has passed the new value;
///   it must not be acknowledged before an offset has passed since the value's
///   timestamp, or the second writer's clock, behind, is still below it.
async fn writes_with_a_read_between(
    gateways: &mut ProbeGateways,
    between: ReadBetween,
    settings: TransactionSettings,
    recorded: &Recorded,
    first: u64,
    second: u64,
) {
    let writer = &mut gateways.first_writer;
    let (number, mut transaction, invoked_at_nanos) = recorded.begin(writer, settings);
    let value = recorded.next_value();
    let appended = match read_list(&mut transaction, writer, first).await {
        Ok(mut list) => {
            list.push(value);
            transaction.put(writer, &key_of(first), Some(encode_list(&list))).await
        }
        Err(error) => Err(error),
    };
    let committed = match appended {
        Ok(_) => transaction.commit(writer).await,
        Err(error) => {
            transaction.rollback(writer).await;
            Err(error)
        }
    };
    let reads = [(first, false)];
    let (observer, client) = match between {
        ReadBetween::Ahead => (&mut gateways.observer, OBSERVER),
        _ => (&mut gateways.second_writer, SECOND_WRITER),
    };
    run_list_append_transaction(observer, client, settings, recorded, &reads).await;
    let writes = [(second, true)];
    run_list_append_transaction(&mut gateways.second_writer, SECOND_WRITER, settings, recorded, &writes).await;
    let writer = &mut gateways.first_writer;
    let ending = outcome_of(committed, &mut transaction, writer, recorded.commit_wait).await;
    let operations = vec![MicroOperation::Append { key: first, value }];
    recorded.record(number, FIRST_WRITER, operations, ending, invoked_at_nanos);
    transaction.forget(writer).await;
}
