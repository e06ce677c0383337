//! Live meetings and the WebSocket signaling (`[signaling]`).

use serde::{Deserialize, Serialize};

use crate::Problem;

/// How participants join and stay in meetings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingConfig {
    /// Allow joining without a join token (`/?demo=ROOM`), for trying Huiyi
    /// out. Never enable on a production server.
    pub demo: bool,
    /// Base URL put into join links (`https://meet.county.gov.cn`); empty
    /// means the HTTP listen address.
    pub public_url: String,
    /// Seconds a participant whose WebSocket dropped keeps its place (and its
    /// media) before the others see it leave.
    pub reconnect_grace_secs: u64,
    /// Extra origins allowed to open the WebSocket, besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Minutes after its planned end that a scheduled meeting still running
    /// is ended by the server (and its join links stop working).
    pub end_grace_mins: u32,
    /// What a second use of a join link does while its holder is connected.
    pub link_reuse: LinkReuse,
}

/// What a second use of a join link does while its holder is in the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkReuse {
    /// Refused (the holder is told); the secretary re-issues a link if it leaked.
    #[default]
    Refuse,
    /// Takes the seat; the holder is closed out.
    Takeover,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        Self {
            demo: false,
            public_url: String::new(),
            reconnect_grace_secs: 20,
            allowed_origins: Vec::new(),
            end_grace_mins: 30,
            link_reuse: LinkReuse::Refuse,
        }
    }
}

impl SignalingConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(Problem::new(
                "signaling.public_url",
                format!("{:?} is not an http(s) URL", self.public_url),
            ));
        }
        if !(1..=600).contains(&self.reconnect_grace_secs) {
            problems.push(Problem::new("signaling.reconnect_grace_secs", "must be between 1 and 600"));
        }
        if self.end_grace_mins > 24 * 60 {
            problems.push(Problem::new("signaling.end_grace_mins", "must be at most 1440 (a day)"));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(Problem::new(
                    "signaling.allowed_origins",
                    format!("{origin:?} is not an origin like https://host:port"),
                ));
            }
        }
    }
}
