//! The resource limits in force (`[limits]`, issue 14) and how often each
//! refused something, for `/metrics`. Shared by the live meetings, the
//! sessions and the API.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use huiyi_config::LimitsConfig;

/// A limit that can refuse something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Seats in one meeting.
    ParticipantsPerMeeting,
    /// Seats in all meetings.
    Participants,
    /// Live meetings.
    Meetings,
    /// An SDP offer or answer's size.
    SdpBytes,
    /// Messages queued towards one participant (a slow session closed).
    QueuedMessages,
    /// Units in the organisation.
    OrgUnits,
}

impl Limit {
    /// Every limit, in `/metrics` order.
    pub const ALL: [Limit; 6] = [
        Limit::ParticipantsPerMeeting,
        Limit::Participants,
        Limit::Meetings,
        Limit::SdpBytes,
        Limit::QueuedMessages,
        Limit::OrgUnits,
    ];

    /// Its name: the config key under `[limits]` and the metric's label.
    pub fn name(self) -> &'static str {
        match self {
            Limit::ParticipantsPerMeeting => "participants_per_meeting",
            Limit::Participants => "participants",
            Limit::Meetings => "meetings",
            Limit::SdpBytes => "sdp_bytes",
            Limit::QueuedMessages => "queued_messages",
            Limit::OrgUnits => "org_units",
        }
    }
}

/// The limits, their refusal counters, and the seats taken in all meetings.
#[derive(Debug, Default)]
pub struct Limits {
    /// The configured values.
    pub cfg: LimitsConfig,
    refused: [AtomicU64; 6],
    seats: AtomicUsize,
}

impl Limits {
    /// Limits with these values.
    pub fn new(cfg: LimitsConfig) -> Self {
        Self { cfg, ..Self::default() }
    }

    /// `limit` refused something.
    pub fn refused(&self, limit: Limit) {
        let i = Limit::ALL.iter().position(|l| *l == limit).expect("listed");
        self.refused[i].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(limit = limit.name(), "a configured limit refused a request");
    }

    /// How often each limit refused something.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        Limit::ALL.iter().zip(&self.refused).map(|(l, c)| (l.name(), c.load(Ordering::Relaxed))).collect()
    }

    /// Seats taken in all live meetings.
    pub fn seats(&self) -> usize {
        self.seats.load(Ordering::Relaxed)
    }

    /// A meeting's seat count went from `before` to `after`.
    /// (Never below zero: a count that wrapped would refuse every join.)
    pub fn seats_changed(&self, before: usize, after: usize) {
        if after > before {
            self.seats.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            let gone = before - after;
            let _ = self
                .seats
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(gone)));
        }
    }
}
