//! A meeting's WHEP viewers (issue 16): low-latency watchers of the live
//! broadcast through the media plane, without joining. Each is a receive-
//! only peer whose one video line shows the meeting's main picture (as the
//! live feed does) and whose one audio line carries the active speaker
//! (else the main participant's microphone). They come only while the
//! meeting is live (直播中) and go when it stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use huiyi_sfu::{PeerId, RoomId, SfuHandle, TrackId, TrackKind};

use crate::recording::RecView;

/// Most viewers of one meeting.
pub const MAX_VIEWERS: usize = 100;

/// Why a viewer was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The meeting is not live (直播中) now.
    NotLive,
    /// It has [`MAX_VIEWERS`] already.
    Full,
    /// The offer is not one the media plane takes (malformed SDP, no
    /// receive-only line); what it said.
    BadOffer(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotLive => write!(f, "the meeting is not live"),
            Refused::Full => write!(f, "this meeting has its maximum of {MAX_VIEWERS} viewers"),
            Refused::BadOffer(why) => write!(f, "the offer was refused: {why}"),
        }
    }
}

/// The viewers of one meeting, and what their lines carry.
#[derive(Default)]
pub(super) struct Viewers {
    by_session: HashMap<String, PeerId>,
    /// The tracks bound now: video, audio.
    bound: (Option<TrackId>, Option<TrackId>),
}

/// The track of `participant` from `source` (`microphone`, `camera`, `screen`).
fn track_of(view: &RecView, participant: &str, source: &str) -> Option<TrackId> {
    view.tracks
        .iter()
        .find(|(_, t)| t.participant == participant && t.source == source)
        .map(|(id, _)| TrackId(*id))
}

/// What the lines carry for `view`: the main picture (the floor holder,
/// the broadcast source, the spotlight, the active speaker; a screen
/// before a camera) and the speaker's voice (else the main one's).
pub(super) fn main_tracks(view: &RecView) -> (Option<TrackId>, Option<TrackId>) {
    let featured =
        [view.floor.as_ref(), view.broadcast.as_ref().and_then(|b| b.first()), view.spotlight.as_ref()];
    let main: Vec<&String> = featured.into_iter().flatten().chain(view.speaker.as_ref()).collect();
    let video = main.iter().find_map(|p| track_of(view, p, "screen").or_else(|| track_of(view, p, "camera")));
    let voice = view.speaker.iter().chain(main.iter().copied()).find_map(|p| track_of(view, p, "microphone"));
    (video, voice)
}

impl Viewers {
    /// How many there are.
    pub(super) fn count(&self) -> usize {
        self.by_session.len()
    }

    /// Whether `peer` is one of them.
    pub(super) fn has(&self, peer: PeerId) -> bool {
        self.by_session.values().any(|p| *p == peer)
    }

    /// Adds a viewer from its WHEP offer: its answer and session id.
    pub(super) async fn add(
        &mut self,
        sfu: &SfuHandle,
        room: RoomId,
        next_peer: &Arc<AtomicU64>,
        offer: String,
        view: &RecView,
    ) -> Result<(String, String), Refused> {
        if self.by_session.len() >= MAX_VIEWERS {
            return Err(Refused::Full);
        }
        self.update(sfu, room, view).await;
        let peer = PeerId(next_peer.fetch_add(1, Ordering::Relaxed));
        let answer = sfu.add_viewer(room, peer, offer).await.map_err(|e| Refused::BadOffer(e.to_string()))?;
        let (video, audio) = self.bound;
        let _ = sfu.bind_viewer(room, peer, TrackKind::Video, video).await;
        let _ = sfu.bind_viewer(room, peer, TrackKind::Audio, audio).await;
        let session = crate::token::random_id(16);
        self.by_session.insert(session.clone(), peer);
        tracing::info!(%room, %peer, viewers = self.by_session.len(), "a WHEP viewer joined");
        Ok((answer, session))
    }

    /// The viewer of `session` leaves (its player's DELETE); false if unknown.
    pub(super) async fn remove(&mut self, sfu: &SfuHandle, room: RoomId, session: &str) -> bool {
        let Some(peer) = self.by_session.remove(session) else { return false };
        let _ = sfu.remove_peer(room, peer).await;
        true
    }

    /// The media plane lost `peer` (its connection failed or closed).
    pub(super) fn gone(&mut self, peer: PeerId) {
        self.by_session.retain(|_, p| *p != peer);
    }

    /// Every viewer leaves (the live broadcast stopped, the meeting ended).
    pub(super) async fn clear(&mut self, sfu: &SfuHandle, room: RoomId) {
        for (_, peer) in self.by_session.drain() {
            let _ = sfu.remove_peer(room, peer).await;
        }
    }

    /// Moves the lines when the main picture or voice changed.
    pub(super) async fn update(&mut self, sfu: &SfuHandle, room: RoomId, view: &RecView) {
        let now = main_tracks(view);
        if now == self.bound {
            return;
        }
        let before = std::mem::replace(&mut self.bound, now);
        for peer in self.by_session.values() {
            if before.0 != now.0 {
                let _ = sfu.bind_viewer(room, *peer, TrackKind::Video, now.0).await;
            }
            if before.1 != now.1 {
                let _ = sfu.bind_viewer(room, *peer, TrackKind::Audio, now.1).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::TrackInfo;

    fn view() -> RecView {
        let mut v = RecView::default();
        let tracks = [
            (1, "a", "audio", "microphone"),
            (2, "a", "video", "camera"),
            (3, "b", "audio", "microphone"),
            (4, "b", "video", "camera"),
            (5, "b", "video", "screen"),
        ];
        for (id, p, kind, source) in tracks {
            v.tracks.insert(id, TrackInfo { participant: p.into(), kind, source });
        }
        v
    }

    #[test]
    fn the_lines_follow_the_main_picture_and_the_speaker() {
        let mut v = view();
        assert_eq!(main_tracks(&v), (None, None), "nobody featured, nobody speaking");
        v.speaker = Some("a".into());
        assert_eq!(main_tracks(&v), (Some(TrackId(2)), Some(TrackId(1))));
        v.broadcast = Some(vec!["b".into()]);
        assert_eq!(
            main_tracks(&v),
            (Some(TrackId(5)), Some(TrackId(1))),
            "b's screen, a's voice while a speaks"
        );
        v.speaker = None;
        assert_eq!(
            main_tracks(&v),
            (Some(TrackId(5)), Some(TrackId(3))),
            "quiet: the broadcast source's microphone"
        );
        v.floor = Some("a".into());
        assert_eq!(main_tracks(&v).0, Some(TrackId(2)), "the floor holder before the broadcast source");
    }
}
