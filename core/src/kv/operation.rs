//! The operations of a key-value transaction, what each returns, why a
//! transaction fails, and the check of a client's operations against the keys
//! the cluster keeps for its own records.

use crate::storage::KeyValue;

/// The first byte of every key of the system's own records (the node
/// registry): below every key a client may use, and refused to clients.
/// Tuple keys never start with it (their tags start at 0x01).
pub const SYSTEM_PREFIX: u8 = 0x00;
const RESERVED: &str = "keys starting with byte 0x00 are reserved for the cluster's own records";

/// One step of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Get {
        key: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Keys in `[start, end)`; no `end` runs to the end of the key space; a
    /// `limit` of 0 means all.
    Scan {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        limit: usize,
    },
}

impl Operation {
    pub fn is_write(&self) -> bool {
        matches!(self, Operation::Put { .. } | Operation::Delete { .. })
    }
}

/// What one step returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationResult {
    Value(Option<Vec<u8>>),
    Written,
    Rows(Vec<KeyValue>),
}

/// Why a transaction did not commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    /// Bad input from the client.
    Invalid(String),
    /// Conflicts kept it from committing (SQLSTATE 40001); the client may retry.
    Conflict(String),
    /// The commit was sent but its outcome is unknown.
    OutcomeUnknown,
    /// The cluster's state does not allow it (an operator's request refused).
    Refused(String),
    /// Not possible yet (the cluster is still starting); try again later.
    Unavailable(String),
    /// Something the protocol does not expect; a bug.
    Internal(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Invalid(reason) => write!(formatter, "invalid request: {reason}"),
            KvError::Conflict(reason) => write!(formatter, "serialization failure (40001): {reason}"),
            KvError::OutcomeUnknown => formatter.write_str("the commit's outcome is unknown"),
            KvError::Refused(reason) | KvError::Unavailable(reason) => formatter.write_str(reason),
            KvError::Internal(reason) => write!(formatter, "internal error: {reason}"),
        }
    }
}

impl std::error::Error for KvError {}

/// Whether `key` belongs to the system's own records (see [`SYSTEM_PREFIX`]).
pub fn is_system_key(key: &[u8]) -> bool {
    key.first() == Some(&SYSTEM_PREFIX)
}

/// Checks a client's operation; a scan from below the first client key starts there.
pub fn check_client_operation(operation: &Operation) -> Result<Operation, KvError> {
    let key = match operation {
        Operation::Get { key } | Operation::Put { key, .. } | Operation::Delete { key } => key,
        Operation::Scan { start, end, limit } => {
            if end.as_ref().is_some_and(|end| end <= start) {
                return Err(KvError::Invalid("a scan's end must be above its start".into()));
            }
            let start = if start.is_empty() { vec![SYSTEM_PREFIX + 1] } else { start.clone() };
            if is_system_key(&start) || end.as_ref().is_some_and(|end| *end <= start) {
                return Err(KvError::Invalid(RESERVED.into()));
            }
            return Ok(Operation::Scan { start, end: end.clone(), limit: *limit });
        }
    };
    if key.is_empty() {
        return Err(KvError::Invalid("keys must not be empty".into()));
    }
    if is_system_key(key) {
        return Err(KvError::Invalid(RESERVED.into()));
    }
    Ok(operation.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_may_not_touch_system_keys_and_empty_scans_start_above_them() {
        let get = |key: &[u8]| check_client_operation(&Operation::Get { key: key.to_vec() });
        assert!(matches!(get(b""), Err(KvError::Invalid(_))));
        assert!(matches!(get(b"\x00system/node-id-last"), Err(KvError::Invalid(_))));
        assert_eq!(get(b"a"), Ok(Operation::Get { key: b"a".to_vec() }));
        let scan = |start: &[u8], end: Option<&[u8]>| {
            check_client_operation(&Operation::Scan { start: start.to_vec(), end: end.map(<[u8]>::to_vec), limit: 0 })
        };
        assert_eq!(scan(b"", None), Ok(Operation::Scan { start: vec![1], end: None, limit: 0 }));
        assert!(matches!(scan(b"b", Some(b"a")), Err(KvError::Invalid(_))));
        assert!(matches!(scan(b"\x00", Some(b"a")), Err(KvError::Invalid(_))));
        assert!(matches!(scan(b"", Some(b"\x00z")), Err(KvError::Invalid(_))));
    }
}
