//! The node's physical clock: the one place the production runtime reads the
//! time for the core (which only ever receives it as an input).

use shardforge_core::types::Time;

/// Nanoseconds since the Unix epoch, by the system clock. The hybrid logical
/// clock needs wall time that nodes agree on within the maximum offset, which a
/// monotonic clock would not give across machines.
pub fn wall_clock() -> Time {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}

/// 64 random bits for the runtime (seeds, cluster and transaction ids): std's
/// hasher keys are drawn from the OS, and each call takes fresh keys. The core
/// never calls this; it receives seeds as inputs.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(wall_clock().0);
    hasher.finish()
}
