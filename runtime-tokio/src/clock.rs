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
