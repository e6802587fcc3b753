//! Why bytes from the network could not become a core message.
//!
//! Every input a peer (or a corrupted frame) can produce maps to one of these
//! errors; decoding never panics. The variants name the schema field at fault so
//! that a log line points straight at `proto/raft.proto`.

use std::error::Error;
use std::fmt;

use shardforge_core::types::{LogIndex, NodeId, Term};

/// Malformed input to [`crate::decode_message`], [`crate::decode_batch`] or a `TryFrom` conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not a protobuf encoding of the expected message.
    Protobuf(prost::DecodeError),
    /// A oneof or nested message that the schema requires is absent, named as `Message.field`.
    MissingField(&'static str),
    /// A node id is zero where a node is required, named as `Message.field`.
    ZeroNodeId(&'static str),
    /// A configuration lists the same voter twice.
    DuplicateVoter(NodeId),
    /// An entry has index zero; the first entry of a log has index 1.
    ZeroEntryIndex,
    /// An entry of an append does not directly follow the one before it (or the
    /// append's previous index, for the first entry).
    EntryGap { previous: LogIndex, found: LogIndex },
    /// An entry of an append has a lower term than the one before it (or than the
    /// append's previous term, for the first entry); Raft log terms never decrease.
    EntryTermDecreased { index: LogIndex, term: Term, previous_term: Term },
    /// The message at `position` (counted from zero) of a batch is malformed.
    InBatch { position: usize, error: Box<DecodeError> },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Protobuf(error) => write!(formatter, "malformed protobuf: {error}"),
            DecodeError::MissingField(field) => write!(formatter, "required field {field} is missing"),
            DecodeError::ZeroNodeId(field) => write!(formatter, "field {field} holds node id 0, which is no node"),
            DecodeError::DuplicateVoter(voter) => write!(formatter, "configuration lists voter {voter} twice"),
            DecodeError::ZeroEntryIndex => write!(formatter, "entry has index 0; log indexes start at 1"),
            DecodeError::EntryGap { previous, found } => {
                write!(formatter, "append entry {found} does not follow {previous}")
            }
            DecodeError::EntryTermDecreased { index, term, previous_term } => {
                write!(formatter, "append entry {index} has term {term}, below the preceding {previous_term}")
            }
            DecodeError::InBatch { position, error } => {
                write!(formatter, "message {position} of the batch: {error}")
            }
        }
    }
}

// The inner errors of `Protobuf` and `InBatch` are part of the `Display` text, so
// `source` stays empty: reporters that walk the chain would print them twice.
impl Error for DecodeError {}

impl From<prost::DecodeError> for DecodeError {
    fn from(error: prost::DecodeError) -> Self {
        DecodeError::Protobuf(error)
    }
}
