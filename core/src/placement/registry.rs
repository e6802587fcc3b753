//! The node registry: which nodes belong to the cluster, where each listens,
//! and whether it is active or leaving. It lives in the cluster's own key
//! space, under the system prefix (see [`crate::kv::SYSTEM_PREFIX`]), so every
//! change to it is a serializable transaction and every node reads the same
//! registry:
//!
//! | key                        | value                            |
//! |----------------------------|----------------------------------|
//! | `\x00system/node-id-last`  | the highest node id handed out   |
//! | `\x00system/node/` + id    | `membership address token`       |
//!
//! - **The first nodes** register themselves when they start ([`register`]):
//!   each writes its own record, and whichever comes first also writes the last
//!   id handed out (the size of the join list), so ids of the first nodes are
//!   never reused.
//! - **A joining node** asks a member ([`admit`]): in one transaction the member
//!   reads the last id, takes the next, and writes it with the new node's
//!   record. Two joins at once conflict and one restarts, so no id is handed
//!   out twice. The token the new node drew makes a retried join (its answer
//!   lost) find its own record instead of taking a second id. An id is never
//!   given to another data directory: a node that lost its disk joins anew.
//! - **Decommissioning** ([`decommission`]) moves a node from active to
//!   decommissioning; the rebalancer moves its replicas away and then marks it
//!   decommissioned ([`finish_decommission`]).
//!
//! Every operation is a [`KvClient`] transaction, so production's node and the
//! simulator run the same registry through the same retry loop.

use std::collections::BTreeMap;
use std::fmt;

use crate::kv::{KvClient, KvError, KvRuntime, Operation, OperationResult};
use crate::txn::gateway::NodeTransport;
use crate::types::NodeId;

/// Replicas each range keeps when enough nodes are active.
pub const REPLICATION_FACTOR: usize = 3;

const NODE_ID_LAST_KEY: &[u8] = b"\x00system/node-id-last";
const NODE_PREFIX: &[u8] = b"\x00system/node/";
/// The key after every node record.
const NODE_PREFIX_END: &[u8] = b"\x00system/node0";

/// Where a node stands in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Membership {
    /// Holds replicas and receives new ones.
    Active,
    /// Its replicas are being moved away; it receives none.
    Decommissioning,
    /// Holds no replicas; it may be stopped for good.
    Decommissioned,
}

impl Membership {
    pub fn name(self) -> &'static str {
        match self {
            Membership::Active => "active",
            Membership::Decommissioning => "decommissioning",
            Membership::Decommissioned => "decommissioned",
        }
    }

    fn parse(text: &str) -> Option<Membership> {
        [Membership::Active, Membership::Decommissioning, Membership::Decommissioned]
            .into_iter()
            .find(|membership| membership.name() == text)
    }
}

impl fmt::Display for Membership {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One node as the registry records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    /// Where the node listens, `host:port` as the runtime wrote it: the core
    /// only stores and compares it (the runtime resolves it).
    pub address: String,
    pub membership: Membership,
    /// The token of the join that created the record (0 for the first nodes).
    pub token: u64,
}

impl NodeRecord {
    fn encode(&self) -> Vec<u8> {
        format!("{} {} {}", self.membership, self.address, self.token).into_bytes()
    }

    fn decode(value: &[u8]) -> Option<NodeRecord> {
        let text = std::str::from_utf8(value).ok()?;
        let mut fields = text.split(' ');
        let membership = Membership::parse(fields.next()?)?;
        let address = fields.next().filter(|address| is_host_and_port(address))?.to_string();
        let token = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(NodeRecord { address, membership, token })
    }
}

/// Whether `text` reads `host:port` (a host, a colon, a port number); the
/// runtime resolves it.
pub fn is_host_and_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// Every node the registry holds, by id.
pub type Records = BTreeMap<NodeId, NodeRecord>;

/// The nodes that hold replicas and receive new ones.
pub fn active_nodes(records: &Records) -> impl Iterator<Item = NodeId> + '_ {
    records.iter().filter(|(_, record)| record.membership == Membership::Active).map(|(node, _)| *node)
}

fn node_key(node: NodeId) -> Vec<u8> {
    let mut key = NODE_PREFIX.to_vec();
    key.extend_from_slice(&node.0.to_be_bytes());
    key
}

fn reads() -> [Operation; 2] {
    [
        Operation::Get { key: NODE_ID_LAST_KEY.to_vec() },
        Operation::Scan { start: NODE_PREFIX.to_vec(), end: Some(NODE_PREFIX_END.to_vec()), limit: 0 },
    ]
}

/// What [`reads`] returned: the last id handed out (if any yet) and the records.
fn parse(results: &[OperationResult]) -> Result<(Option<u64>, Records), KvError> {
    let corrupt = |what: &str| KvError::Internal(format!("node registry: {what}"));
    let [OperationResult::Value(last), OperationResult::Rows(rows)] = results else {
        return Err(corrupt("unexpected answers"));
    };
    let last = match last {
        Some(value) => {
            Some(std::str::from_utf8(value).ok().and_then(|text| text.parse().ok()).ok_or_else(|| corrupt("last id"))?)
        }
        None => None,
    };
    let mut records = Records::new();
    for (key, value) in rows {
        let id = key.strip_prefix(NODE_PREFIX).and_then(|id| <[u8; 8]>::try_from(id).ok());
        let id = id.map(u64::from_be_bytes).ok_or_else(|| corrupt("record key"))?;
        let record = NodeRecord::decode(value).ok_or_else(|| corrupt("record"))?;
        records.insert(NodeId(id), record);
    }
    Ok((last, records))
}

fn put_record(node: NodeId, record: &NodeRecord) -> Operation {
    Operation::Put { key: node_key(node), value: record.encode() }
}

fn put_last(last: u64) -> Operation {
    Operation::Put { key: NODE_ID_LAST_KEY.to_vec(), value: last.to_string().into_bytes() }
}

/// Reads the whole registry.
pub async fn read<T: NodeTransport, R: KvRuntime>(kv: &mut KvClient<T, R>) -> Result<Records, KvError> {
    let (results, ()) = kv.read_then_write(&reads(), |_| Ok((Vec::new(), ()))).await?;
    Ok(parse(&results)?.1)
}

/// Records one of the first nodes at `address` (again, if its address
/// changed); the first to register also records that ids up to
/// `initial_nodes` are taken.
pub async fn register<T: NodeTransport, R: KvRuntime>(
    kv: &mut KvClient<T, R>,
    node: NodeId,
    address: &str,
    initial_nodes: u64,
) -> Result<(), KvError> {
    kv.read_then_write(&reads(), |results| {
        let (last, records) = parse(results)?;
        let mut writes = Vec::new();
        if last.is_none_or(|last| last < node.0) {
            writes.push(put_last(initial_nodes.max(node.0)));
        }
        match records.get(&node) {
            Some(record) if record.address == address => {}
            Some(record) => {
                writes.push(put_record(node, &NodeRecord { address: address.to_string(), ..record.clone() }))
            }
            None => {
                let record = NodeRecord { address: address.to_string(), membership: Membership::Active, token: 0 };
                writes.push(put_record(node, &record))
            }
        }
        Ok((writes, ()))
    })
    .await?;
    Ok(())
}

/// Gives a joining node at `address` its id (the same one again for the same
/// `token`), and returns it with the registry as it now stands.
pub async fn admit<T: NodeTransport, R: KvRuntime>(
    kv: &mut KvClient<T, R>,
    address: &str,
    token: u64,
) -> Result<(NodeId, Records), KvError> {
    let (_, admitted) = kv
        .read_then_write(&reads(), |results| {
            let (last, mut records) = parse(results)?;
            let Some(last) = last else {
                return Err(KvError::Unavailable("the cluster is still starting: try again".into()));
            };
            if let Some((node, _)) = records.iter().find(|(_, record)| record.token == token && token != 0) {
                return Ok((Vec::new(), (*node, records)));
            }
            let taken = records
                .iter()
                .find(|(_, record)| record.address == address && record.membership != Membership::Decommissioned);
            if let Some((node, _)) = taken {
                return Err(KvError::Refused(format!(
                    "{address} is the address of node {node} already: decommission it before a new node joins there"
                )));
            }
            let node = NodeId(last + 1);
            let record = NodeRecord { address: address.to_string(), membership: Membership::Active, token };
            let writes = vec![put_last(node.0), put_record(node, &record)];
            records.insert(node, record);
            Ok((writes, (node, records)))
        })
        .await?;
    Ok(admitted)
}

/// Starts moving `node` out of the cluster. Refused when fewer active nodes
/// would remain than a range keeps replicas now.
pub async fn decommission<T: NodeTransport, R: KvRuntime>(
    kv: &mut KvClient<T, R>,
    node: NodeId,
) -> Result<Membership, KvError> {
    let (_, membership) = kv
        .read_then_write(&reads(), |results| {
            let (_, records) = parse(results)?;
            let Some(record) = records.get(&node) else {
                return Err(KvError::Invalid(format!("the cluster has no node {node}")));
            };
            if record.membership != Membership::Active {
                return Ok((Vec::new(), record.membership));
            }
            let active = active_nodes(&records).count();
            let needed = active.min(REPLICATION_FACTOR);
            if active - 1 < needed {
                return Err(KvError::Refused(format!(
                    "decommissioning node {node} would leave {} active nodes, and ranges keep {needed} replicas: \
                     add a node first",
                    active - 1
                )));
            }
            let leaving = NodeRecord { membership: Membership::Decommissioning, ..record.clone() };
            Ok((vec![put_record(node, &leaving)], Membership::Decommissioning))
        })
        .await?;
    Ok(membership)
}

/// Marks a decommissioning node decommissioned (the rebalancer, once no range
/// keeps a replica on it).
pub async fn finish_decommission<T: NodeTransport, R: KvRuntime>(
    kv: &mut KvClient<T, R>,
    node: NodeId,
) -> Result<(), KvError> {
    kv.read_then_write(&reads(), |results| {
        let (_, records) = parse(results)?;
        let writes = match records.get(&node) {
            Some(record) if record.membership == Membership::Decommissioning => {
                vec![put_record(node, &NodeRecord { membership: Membership::Decommissioned, ..record.clone() })]
            }
            _ => Vec::new(),
        };
        Ok((writes, ()))
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_malformed_ones_are_refused() {
        let record =
            NodeRecord { address: "127.0.0.1:7433".to_string(), membership: Membership::Decommissioning, token: 42 };
        assert_eq!(NodeRecord::decode(&record.encode()), Some(record));
        for bad in
            ["", "active", "active 127.0.0.1:1", "gone 127.0.0.1:1 0", "active nowhere 0", "active 127.0.0.1:1 0 x"]
        {
            assert_eq!(NodeRecord::decode(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn node_keys_sort_by_id_and_lie_between_the_prefix_bounds() {
        let keys: Vec<Vec<u8>> = [1, 2, 255, 256, u64::MAX].into_iter().map(|id| node_key(NodeId(id))).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(keys.iter().all(|key| key.as_slice() > NODE_PREFIX && key.as_slice() < NODE_PREFIX_END));
        assert!(crate::kv::is_system_key(NODE_ID_LAST_KEY) && crate::kv::is_system_key(NODE_PREFIX));
    }
}
