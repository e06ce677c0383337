//! Resource limits (`[limits]`, issue 14): nothing a client or an
//! administrator does makes the server hold more than these. Each refusal
//! at a limit is a typed error in the API or the protocol and is counted in
//! `/metrics` (`huiyi_limit_refusals_total{limit}`). Media-plane limits are
//! in `[sfu]` (`max_peers_per_worker`, `max_tracks_per_peer`,
//! `max_tcp_connections`), connection limits in `[http]`, sessions per
//! account in `[security]`.

use serde::{Deserialize, Serialize};

use crate::Problem;

/// The limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Participants (seats, present or dropped within their grace) in one
    /// meeting. A county plenary has 150–200 venues.
    pub participants_per_meeting: usize,
    /// Participants in all live meetings together.
    pub participants: usize,
    /// Live meetings at once.
    pub meetings: usize,
    /// Largest SDP offer or answer accepted, bytes (a browser's offer with
    /// simulcast camera, screen and audio is 6–12 KB).
    pub sdp_bytes: usize,
    /// Messages queued towards one participant's socket before the
    /// session is closed as too slow (it reconnects and resumes).
    pub queued_messages: usize,
    /// Units in the organisation (an import that would exceed it is refused).
    pub org_units: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            participants_per_meeting: 500,
            participants: 2000,
            meetings: 200,
            sdp_bytes: 32 * 1024,
            queued_messages: 256,
            org_units: 10_000,
        }
    }
}

impl LimitsConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let mut check = |key: &str, value: usize, min: usize, max: usize| {
            if !(min..=max).contains(&value) {
                problems
                    .push(Problem::new(format!("limits.{key}"), format!("must be between {min} and {max}")));
            }
        };
        check("participants_per_meeting", self.participants_per_meeting, 2, 10_000);
        check("participants", self.participants, 2, 100_000);
        check("meetings", self.meetings, 1, 10_000);
        check("sdp_bytes", self.sdp_bytes, 4096, 60 * 1024);
        check("queued_messages", self.queued_messages, 16, 65_536);
        check("org_units", self.org_units, 10, 1_000_000);
        if self.participants_per_meeting > self.participants {
            problems.push(Problem::new(
                "limits.participants_per_meeting",
                "must not exceed limits.participants (all meetings together)",
            ));
        }
    }
}
