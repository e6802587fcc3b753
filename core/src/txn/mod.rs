//! Transactions: the layer that gives reads and writes spanning many ranges one
//! serializable order. It starts with the hybrid logical clock ([`clock`]), which
//! stamps every transaction and every version it writes, and the uncertainty
//! interval that keeps reads correct although the nodes' physical clocks disagree
//! by up to a configured maximum offset. Transaction records, write intents, the
//! commit protocol and conflict handling will build on it.

pub mod coordinator;
pub mod gateway;
mod local_ranges;

pub use local_ranges::LocalRanges;
