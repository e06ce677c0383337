//! What the recorder knows of the meeting: a view the meeting's task hands
//! it whenever something changed, and the events the manifest keeps,
//! found by comparing each view with the one before.

use std::collections::BTreeMap;

use super::manifest::RecEvent;

/// One participant as the recording sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Name as shown.
    pub name: String,
    /// In the meeting now.
    pub connected: bool,
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera off.
    pub video_muted: bool,
}

/// One published track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// Publisher.
    pub participant: String,
    /// `audio` or `video`.
    pub kind: &'static str,
    /// `microphone`, `camera` or `screen`.
    pub source: &'static str,
}

/// The meeting at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecView {
    /// Everyone with a seat.
    pub participants: BTreeMap<String, Person>,
    /// Published tracks by the media plane's id.
    pub tracks: BTreeMap<u64, TrackInfo>,
    /// The floor holder.
    pub floor: Option<String>,
    /// Broadcast sources.
    pub broadcast: Option<Vec<String>>,
    /// The layout.
    pub layout: String,
    /// The spotlight.
    pub spotlight: Option<String>,
    /// The active speaker.
    pub speaker: Option<String>,
}

fn event(at: u64, kind: &str, participant: Option<&str>, value: serde_json::Value) -> RecEvent {
    RecEvent { at, kind: kind.into(), participant: participant.map(str::to_string), value }
}

/// The events from `old` to `new` (everything in `new` when there was
/// nothing before), at `at` (Unix ms).
pub fn changes(old: Option<&RecView>, new: &RecView, at: u64) -> Vec<RecEvent> {
    let empty = RecView::default();
    let old = old.unwrap_or(&empty);
    let mut out = Vec::new();
    for (pid, p) in &new.participants {
        let before = old.participants.get(pid);
        let was_in = before.is_some_and(|b| b.connected);
        if p.connected && !was_in {
            out.push(event(at, "joined", Some(pid), serde_json::json!(p.name)));
        } else if !p.connected && was_in {
            out.push(event(at, "left", Some(pid), serde_json::Value::Null));
        }
        if before.map(|b| b.audio_muted) != Some(p.audio_muted) {
            out.push(event(
                at,
                if p.audio_muted { "muted" } else { "unmuted" },
                Some(pid),
                serde_json::Value::Null,
            ));
        }
        if before.map(|b| b.video_muted) != Some(p.video_muted) {
            let kind = if p.video_muted { "video_muted" } else { "video_unmuted" };
            out.push(event(at, kind, Some(pid), serde_json::Value::Null));
        }
    }
    for (pid, b) in &old.participants {
        if b.connected && !new.participants.contains_key(pid) {
            out.push(event(at, "left", Some(pid), serde_json::Value::Null));
        }
    }
    if old.floor != new.floor {
        out.push(event(at, "floor", new.floor.as_deref(), serde_json::Value::Null));
    }
    if old.broadcast != new.broadcast {
        out.push(event(at, "broadcast", None, serde_json::json!(new.broadcast)));
    }
    if old.layout != new.layout {
        out.push(event(at, "layout", None, serde_json::json!(new.layout)));
    }
    if old.spotlight != new.spotlight {
        out.push(event(at, "spotlight", new.spotlight.as_deref(), serde_json::Value::Null));
    }
    if old.speaker != new.speaker {
        out.push(event(at, "speaker", new.speaker.as_deref(), serde_json::Value::Null));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, connected: bool, audio_muted: bool) -> Person {
        Person { name: name.into(), connected, audio_muted, video_muted: false }
    }

    #[test]
    fn the_first_view_is_told_whole_and_later_ones_by_their_changes() {
        let mut v = RecView { layout: "auto".into(), ..RecView::default() };
        v.participants.insert("p1".into(), person("主会场", true, false));
        let first: Vec<String> = changes(None, &v, 1).into_iter().map(|e| e.kind).collect();
        assert_eq!(first, ["joined", "unmuted", "video_unmuted", "layout"]);
        let mut w = v.clone();
        w.participants.insert("p1".into(), person("主会场", true, true));
        w.participants.insert("p2".into(), person("城关镇", true, false));
        w.floor = Some("p2".into());
        let next: Vec<(String, Option<String>)> =
            changes(Some(&v), &w, 2).into_iter().map(|e| (e.kind, e.participant)).collect();
        assert_eq!(
            next,
            [
                ("muted".into(), Some("p1".into())),
                ("joined".into(), Some("p2".into())),
                ("unmuted".into(), Some("p2".into())),
                ("video_unmuted".into(), Some("p2".into())),
                ("floor".into(), Some("p2".into())),
            ]
        );
        w.participants.remove("p1");
        let gone: Vec<String> = changes(Some(&v), &w, 3).into_iter().map(|e| e.kind).collect();
        assert!(gone.contains(&"left".to_string()));
        assert!(changes(Some(&w), &w, 4).is_empty(), "nothing changed");
    }
}
