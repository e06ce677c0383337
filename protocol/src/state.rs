//! The chair-controlled state of a meeting as clients see it
//! (`meeting_state`), and the roll call and video codec within it.

use serde::{Deserialize, Serialize};

/// Where a participant stands in a roll call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollStatus {
    /// Not called yet.
    Waiting,
    /// Being called now.
    Calling,
    /// Answered (到).
    Answered,
    /// Called, did not answer.
    NoAnswer,
    /// Not in the meeting when called.
    NotJoined,
}

/// One line of a roll call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollEntry {
    /// Participant id.
    pub participant: String,
    /// Name (the id if it never joined).
    pub name: String,
    /// Status.
    pub status: RollStatus,
    /// When called (Unix ms).
    pub called_at: Option<u64>,
    /// When answered (Unix ms).
    pub answered_at: Option<u64>,
}

/// A roll call as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollCall {
    /// The list, in calling order.
    pub entries: Vec<RollEntry>,
    /// Who is being called.
    pub current: Option<String>,
    /// Automatic mode.
    pub auto: bool,
    /// Seconds per venue in automatic mode.
    pub timeout_secs: u32,
    /// When it started (Unix ms).
    pub started_at: u64,
    /// True when everyone has been called or the chair stopped it.
    pub finished: bool,
}

/// The chair-controlled state of a meeting, sent whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MeetingState {
    /// Nobody new may join.
    pub locked: bool,
    /// Muted participants cannot unmute themselves.
    pub mics_locked: bool,
    /// The speaking queue, in order.
    pub hands: Vec<String>,
    /// Who has the floor.
    pub floor: Option<String>,
    /// When the floor ends (Unix ms), with a speaking timer.
    pub floor_ends_at: Option<u64>,
    /// Broadcast sources, when broadcast mode is on.
    pub broadcast: Option<Vec<String>>,
    /// Spotlighted participant.
    pub spotlight: Option<String>,
    /// Layout (`1`, `1+5`, `2x2`, `3x3`, `4x4`).
    pub layout: String,
    /// The chair.
    pub chair: Option<String>,
    /// The roll call in progress (or the last one, finished).
    pub roll_call: Option<RollCall>,
    /// The video codec every publisher sends: `vp8`, or `h264` once a
    /// participant that decodes only H.264 has joined (the server does not
    /// transcode). Publish camera and screen in it.
    #[serde(default)]
    pub video_codec: VideoCodec,
    /// Recording since (Unix ms); `null`: not recorded (录制中 while set).
    #[serde(default)]
    pub recording_since: Option<u64>,
    /// Streamed live to the portal since (Unix ms); `null`: not live (直播中
    /// while set). Started and stopped from the secretary's console.
    #[serde(default)]
    pub live_since: Option<u64>,
}

/// The meeting's video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// VP8 (the default: simulcast with temporal layers in every browser).
    #[default]
    Vp8,
    /// H.264 (Safari on old iPhones, hardware room kits).
    H264,
}
