//! The protobuf wire schema of node-to-node Raft messages, and conversions to and
//! from the core types.
//!
//! # Why a separate schema
//! The consensus core (`shardforge_core::raft`) knows nothing of bytes: its types
//! are plain Rust, shaped for the algorithm. This crate gives them a stable wire
//! form, `proto/raft.proto` (package `shardforge.raft.v1`), so that nodes of
//! different builds can talk and the core stays free to reshape its types. The
//! schema mirrors the core one type per message, one oneof variant per enum
//! variant; `build.rs` compiles it with protox and prost, without `protoc`.
//!
//! # Conventions
//! - Node ids, terms and log indexes travel as plain `uint64`. Node id 0 is never
//!   a node, so it means "none" where a node is optional (`HardState.vote`) and is
//!   rejected where one is required (`Message.from`, `Message.to`, voters).
//! - Every oneof and nested message is required. An absent one (an older peer, a
//!   newer peer's unknown variant, corruption) is an error, never a default.
//!
//! # Encoding and decoding
//! Encoding, core to wire (`encode.rs`), is infallible and does not validate.
//! Decoding, wire to core (`decode.rs`), checks what the core would otherwise
//! assert, because a malformed frame from a peer must not crash this node: see
//! that module for the full list. Malformed input becomes a [`DecodeError`];
//! decoding never panics, whatever the bytes.
//!
//! Use [`encode_message`] / [`decode_message`] for one message,
//! [`encode_batch`] / [`decode_batch`] for a `MessageBatch`, several messages of
//! one group in one transport frame, and [`encode_group_batch`] /
//! [`decode_group_batch`] for a `GroupMessageBatch`, the frame between stores that
//! run one Raft group per range. The `From` / `TryFrom` conversions between the types of
//! [`raft`] and the core types are public too, for storage that wants to persist
//! entries, snapshots or hard states in the same encoding.
//!
//! # Left out, for now
//! Size limits (a frame's bytes and a batch's messages are the transport's to
//! bound before calling in here) and snapshot chunking.

mod decode;
mod encode;
mod error;

use prost::Message as _;
use shardforge_core::raft::Message;

pub use error::DecodeError;

/// The types generated from `proto/raft.proto` by prost.
#[allow(clippy::all)] // Generated code: its style is prost's to choose, not ours.
pub mod raft {
    include!(concat!(env!("OUT_DIR"), "/shardforge.raft.v1.rs"));
}

/// The production node's gRPC services and their messages, generated from
/// `proto/node.proto` by tonic (feature `grpc`).
#[cfg(feature = "grpc")]
#[allow(clippy::all)] // Generated code: its style is tonic's to choose, not ours.
pub mod node {
    include!(concat!(env!("OUT_DIR"), "/shardforge.node.v1.rs"));
}

/// Encodes one message as a protobuf `Message`.
pub fn encode_message(message: &Message) -> Vec<u8> {
    raft::Message::from(message).encode_to_vec()
}

/// Decodes one protobuf `Message`, checking everything the core assumes of it.
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    Message::try_from(raft::Message::decode(bytes)?)
}

/// Encodes several messages, in order, as one protobuf `MessageBatch`.
pub fn encode_batch(messages: &[Message]) -> Vec<u8> {
    let batch = raft::MessageBatch { messages: messages.iter().map(raft::Message::from).collect() };
    batch.encode_to_vec()
}

/// Decodes a protobuf `MessageBatch`; one malformed message rejects the whole batch.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Message>, DecodeError> {
    let batch = raft::MessageBatch::decode(bytes)?;
    let decode_one = |(position, message)| {
        Message::try_from(message).map_err(|error| DecodeError::InBatch { position, error: Box::new(error) })
    };
    batch.messages.into_iter().enumerate().map(decode_one).collect()
}

/// Encodes `(group, message)` pairs, in order, as one protobuf `GroupMessageBatch`.
pub fn encode_group_batch(messages: &[(u64, Message)]) -> Vec<u8> {
    let messages = messages
        .iter()
        .map(|(group, message)| raft::GroupMessage { group: *group, message: Some(raft::Message::from(message)) })
        .collect();
    raft::GroupMessageBatch { messages }.encode_to_vec()
}

/// Decodes a protobuf `GroupMessageBatch`; one malformed message rejects the whole batch.
pub fn decode_group_batch(bytes: &[u8]) -> Result<Vec<(u64, Message)>, DecodeError> {
    let batch = raft::GroupMessageBatch::decode(bytes)?;
    let decode_one = |(position, tagged): (usize, raft::GroupMessage)| {
        let in_batch = |error| DecodeError::InBatch { position, error: Box::new(error) };
        let message = tagged.message.ok_or(DecodeError::MissingField("GroupMessage.message")).map_err(in_batch)?;
        Ok((tagged.group, Message::try_from(message).map_err(in_batch)?))
    };
    batch.messages.into_iter().enumerate().map(decode_one).collect()
}
