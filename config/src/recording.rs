//! Recording (`[recording]`, issue 16): where the track files go, how much
//! disk must stay free, and how long recordings are kept.

use serde::{Deserialize, Serialize};

use crate::Problem;

/// Recording of meetings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Directory of the recordings; relative paths are under `data_dir`.
    pub dir: String,
    /// A recording does not start, and stops, with less free disk than
    /// this (MiB).
    pub min_free_mb: u64,
    /// Packets queued between the media workers and the recorder; beyond
    /// it packets are dropped from the recording (never from the meeting).
    pub queue_packets: usize,
    /// Recordings older than this many days are deleted (0: kept).
    pub retention_days: u32,
    /// The `ffmpeg` program that composes recordings (a name on `PATH` or
    /// a path).
    pub ffmpeg: String,
    /// Height of the live feed's picture (HLS for the portal; 16:9).
    pub live_height: u32,
    /// The live feed's video bitrate (kbit/s).
    pub live_video_kbps: u32,
    /// How long a live feed's viewer link stays valid (hours).
    pub live_link_hours: u32,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            dir: "recordings".into(),
            min_free_mb: 1024,
            queue_packets: 8192,
            retention_days: 0,
            ffmpeg: "ffmpeg".into(),
            live_height: 720,
            live_video_kbps: 1500,
            live_link_hours: 24,
        }
    }
}

impl RecordingConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if self.dir.trim().is_empty() {
            problems.push(Problem::new("recording.dir", "must name a directory"));
        }
        if !(64..=1_000_000).contains(&self.queue_packets) {
            problems.push(Problem::new("recording.queue_packets", "must be between 64 and 1000000"));
        }
        if self.ffmpeg.trim().is_empty() {
            problems.push(Problem::new("recording.ffmpeg", "must name the ffmpeg program"));
        }
        if !(180..=1080).contains(&self.live_height) || !self.live_height.is_multiple_of(2) {
            problems
                .push(Problem::new("recording.live_height", "must be an even number between 180 and 1080"));
        }
        if !(100..=20_000).contains(&self.live_video_kbps) {
            problems.push(Problem::new("recording.live_video_kbps", "must be between 100 and 20000"));
        }
        if !(1..=24 * 366).contains(&self.live_link_hours) {
            problems.push(Problem::new("recording.live_link_hours", "must be between 1 and 8784"));
        }
    }
}
