//! Client requests as they arrive from a network: a Raft group id beside a
//! core [`Request`], turned into the store's input or answered at once. Both
//! runtimes take requests in this shape, so they share this one translation.

use super::{Store, StoreInput};
use crate::keys::Key;
use crate::range::codec;
use crate::replica::{ClientId, Reply, Request, RequestError};
use crate::types::{RangeId, Time};

/// Requests for this group are range lookups any store answers from its own
/// replicas: `Request::Read(key)` returns the newest descriptor it holds whose
/// span contains `key`, encoded, or nothing.
pub const LOOKUP_GROUP: u64 = 0;

impl Store {
    /// Turns a client's request for `group` into the store's input, or answers
    /// it at once (lookups, and requests that cannot be valid).
    pub fn client_input(
        &self,
        client: ClientId,
        request_id: u64,
        group: u64,
        request: Request,
        sender_clock: Option<Time>,
    ) -> Result<StoreInput, Reply> {
        let answer = |result| Err(Reply { client, request_id, result });
        match request {
            Request::Read(key) if group == LOOKUP_GROUP => {
                let descriptor = self.descriptor_for(&Key(key));
                answer(Ok(descriptor.map(|descriptor| descriptor.encode()).unwrap_or_default()))
            }
            Request::Write(bytes) => match codec::decode_request(&bytes) {
                Ok(request) if request.range.0 == group => {
                    Ok(StoreInput::Request { client, request_id, request, sender_clock })
                }
                _ => answer(Err(RequestError::Invalid)),
            },
            request @ (Request::ChangeConfiguration(_) | Request::TransferLeadership(_)) => {
                Ok(StoreInput::Admin { client, request_id, range: RangeId(group), request })
            }
            Request::Read(_) => answer(Err(RequestError::Invalid)),
        }
    }
}
