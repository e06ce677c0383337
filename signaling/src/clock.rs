//! Time, in one form for the whole control plane.
//!
//! Everything that decides (the meeting core, the lifecycle rules) takes a
//! [`Now`] as an input and never reads a clock; only the shells that run it
//! (actors, handlers, tasks) call [`now`]. Tests step a `Now` by hand.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One instant, read once: monotonic for deadlines, wall clock for what
/// people see and what the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for timers (floors, roll calls, grace periods).
    pub mono: Instant,
    /// Milliseconds since the Unix epoch (wall clock).
    pub unix_ms: u64,
}

impl Now {
    /// Seconds since the Unix epoch.
    pub fn unix_secs(self) -> i64 {
        (self.unix_ms / 1000) as i64
    }

    /// The same clock `d` later (for simulated time in tests).
    #[must_use]
    pub fn after(self, d: Duration) -> Self {
        Self { mono: self.mono + d, unix_ms: self.unix_ms + d.as_millis() as u64 }
    }
}

/// Reads the clocks.
pub fn now() -> Now {
    Now { mono: Instant::now(), unix_ms: unix_millis() }
}

/// Seconds since the Unix epoch (wall clock): what the store and tokens use.
pub fn unix_secs() -> i64 {
    (unix_millis() / 1000) as i64
}

/// Milliseconds since the Unix epoch (wall clock).
pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
