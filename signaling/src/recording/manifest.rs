//! The manifest of one recording (`manifest.json` beside its track files):
//! who and what was recorded, each file's place on the meeting's clock (Unix
//! ms), and what happened while it ran (joins, mutes, the floor, broadcast,
//! layout, spotlight, the active speaker). Composition reads only this and
//! the files, so the same recording always composes the same way.
//!
//! It is rewritten (to a temporary file, then renamed) every second while
//! recording: after a crash it describes the files up to their last flush,
//! and the next start marks it `interrupted`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The format version.
pub const VERSION: u32 = 1;

/// Where a recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecState {
    /// Being written.
    Recording,
    /// Stopped and complete.
    Stopped,
    /// The server stopped without closing it (a crash, a kill): complete up
    /// to its last flushed second.
    Interrupted,
}

/// One recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Recording id (also its directory's name).
    pub id: String,
    /// The meeting.
    pub meeting: String,
    /// Its title.
    pub title: String,
    /// State.
    pub state: RecState,
    /// Why it stopped, if not by a person (`disk_full`, `meeting_ended`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Who started it (participant id or account).
    pub started_by: String,
    /// Started (Unix ms).
    pub started_at: u64,
    /// Stopped (Unix ms).
    pub stopped_at: Option<u64>,
    /// Last written (Unix ms).
    pub updated_at: u64,
    /// The track files.
    pub tracks: Vec<TrackFile>,
    /// What happened, in order.
    pub events: Vec<RecEvent>,
    /// Packets the recorder could not take in time (its queue was full).
    pub dropped_packets: u64,
    /// Packets lost on the way in (never repaired).
    pub lost_packets: u64,
    /// Bytes of all track files.
    pub bytes: u64,
}

/// One track file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackFile {
    /// File name in the recording's directory.
    pub file: String,
    /// The media plane's track id.
    pub track: u64,
    /// Publisher (participant id).
    pub participant: String,
    /// Its name as shown.
    pub name: String,
    /// `audio` or `video`.
    pub kind: String,
    /// `microphone`, `camera` or `screen`.
    pub source: String,
    /// `opus`, `vp8` or `h264`.
    pub codec: String,
    /// Simulcast layer (0: lowest or only).
    pub layer: u8,
    /// The file's first media (Unix ms).
    pub first_at: u64,
    /// Its last media (Unix ms).
    pub last_at: u64,
    /// Frames (video) or packets (audio) written.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Picture size (video).
    #[serde(default)]
    pub width: u16,
    /// Picture size (video).
    #[serde(default)]
    pub height: u16,
}

/// Something that happened while recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecEvent {
    /// When (Unix ms).
    pub at: u64,
    /// `joined`, `left`, `muted`, `unmuted`, `video_muted`, `video_unmuted`,
    /// `floor`, `broadcast`, `layout`, `spotlight`, `speaker`.
    pub kind: String,
    /// Who it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// Its value (a layout, the broadcast sources), if any.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
}

impl Manifest {
    /// Writes it to `dir/manifest.json` (through a temporary file).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join("manifest.json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join("manifest.json"))
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> std::io::Result<Manifest> {
        let bytes = std::fs::read(dir.join("manifest.json"))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Seconds from start to stop (or to the last write).
    pub fn duration_ms(&self) -> u64 {
        self.stopped_at.unwrap_or(self.updated_at).saturating_sub(self.started_at)
    }
}
