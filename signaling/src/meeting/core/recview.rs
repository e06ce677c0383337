//! The meeting as its recording sees it (the manifest's events and the
//! track files' owners): built only while a recording runs.

use huiyi_protocol::Source;
use huiyi_sfu::TrackKind;

use super::Core;
use crate::recording::{Person, RecView, TrackInfo};

impl Core {
    /// Who is in, muted, publishing what; the floor, broadcast, layout,
    /// spotlight and active speaker.
    pub fn rec_view(&self) -> RecView {
        let mut v = RecView {
            floor: self.state.floor.clone(),
            broadcast: self.state.broadcast.clone(),
            layout: self.state.layout.clone(),
            spotlight: self.state.spotlight.clone(),
            speaker: self.speaker.clone(),
            ..RecView::default()
        };
        for (pid, p) in &self.participants {
            v.participants.insert(
                pid.clone(),
                Person {
                    name: p.view.name.clone(),
                    connected: p.view.connected,
                    audio_muted: p.view.audio_muted,
                    video_muted: p.view.video_muted,
                },
            );
            for t in &p.tracks {
                let kind = if t.kind == TrackKind::Audio { "audio" } else { "video" };
                let source = match t.source {
                    Source::Microphone => "microphone",
                    Source::Camera => "camera",
                    Source::Screen => "screen",
                };
                v.tracks.insert(t.id.0, TrackInfo { participant: pid.clone(), kind, source });
            }
        }
        v
    }
}
