//! Per-node clocks over madsim's single global clock.
//!
//! A node reads `global × (1 + drift) + offset`. The nemesis changes the offset
//! (a jump, forward or back) and the drift while the node runs. The core receives
//! this skewed time as `now`: forward jumps look like a paused VM waking up
//! (timeouts fire at once), backward jumps like a stalled clock.

use std::sync::{Arc, Mutex};

use madsim::time::Instant;
use shardforge_core::types::Time;

#[derive(Clone, Copy, Debug, Default)]
struct Skew {
    offset_nanos: i64,
    drift_parts_per_million: i64,
}

/// One node's view of time; cheap to clone, shared with the nemesis.
#[derive(Clone, Debug)]
pub struct SkewedClock {
    origin: Instant,
    skew: Arc<Mutex<Skew>>,
}

impl SkewedClock {
    /// A clock that starts in step with the global one at `origin`.
    pub fn new(origin: Instant) -> SkewedClock {
        SkewedClock { origin, skew: Arc::new(Mutex::new(Skew::default())) }
    }

    /// The node's current time.
    pub fn now(&self) -> Time {
        let skew = *self.skew.lock().expect("clock lock");
        let global = Instant::now().duration_since(self.origin).as_nanos() as i64;
        let drifted = global + global / 1_000_000 * skew.drift_parts_per_million;
        Time((drifted + skew.offset_nanos).max(0) as u64)
    }

    /// Steps the clock to `offset_nanos` from the global clock at once, forwards
    /// or backwards. Returns the size of the step.
    pub fn jump_to_offset(&self, offset_nanos: i64) -> i64 {
        let mut skew = self.skew.lock().expect("clock lock");
        let step = offset_nanos - skew.offset_nanos;
        skew.offset_nanos = offset_nanos;
        step
    }

    pub fn set_drift(&self, parts_per_million: i64) {
        self.skew.lock().expect("clock lock").drift_parts_per_million = parts_per_million;
    }

    /// Back in step with the global clock (the liveness phase heals clocks).
    pub fn reset(&self) {
        *self.skew.lock().expect("clock lock") = Skew::default();
    }

    /// The current offset from the global clock, for traces.
    pub fn offset_nanos(&self) -> i64 {
        self.skew.lock().expect("clock lock").offset_nanos
    }
}
