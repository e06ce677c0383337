//! WHEP viewers (draft-ietf-wish-whep): a peer that only receives, on the
//! m-lines of its own offer — one audio, one video — without the server's
//! offers a participant gets (a WHEP player cannot renegotiate). The control
//! plane binds each line to a track (the meeting's main picture and voice)
//! and moves it when that changes; the down track's rewriter keeps its
//! numbers continuous across sources, as across simulcast layers.

use std::time::Instant;

use crate::core::engine::Engine;
use crate::core::events::SfuError;
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::layers::LayerChoice;
use crate::core::peer::{DownTrack, PeerKey};
use str0m::media::Mid;

impl Engine {
    /// Adds viewer `peer` to `room` from its WHEP offer (receive-only
    /// m-lines); returns the answer. Nothing it sends is published.
    pub fn add_viewer(
        &mut self,
        now: Instant,
        room: RoomId,
        peer: PeerId,
        offer: &str,
    ) -> Result<String, SfuError> {
        self.add_peer_as(now, room, peer, offer, false, true)
    }

    /// A viewer's m-line of `kind`: its first of each kind becomes an
    /// unbound down track.
    pub(crate) fn viewer_line(&mut self, pk: PeerKey, mid: Mid, kind: TrackKind) {
        let Some(p) = self.peer_mut(pk) else { return };
        let Some(lines) = p.viewer else { return };
        let taken = match kind {
            TrackKind::Audio => lines.audio.is_some(),
            TrackKind::Video => lines.video.is_some(),
        };
        if taken {
            return; // more lines than a viewer is given: they stay silent
        }
        let seed = (pk as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(kind == TrackKind::Video);
        let di = p.insert_down(DownTrack::new(mid, None, kind, seed));
        let lines = p.viewer.as_mut().expect("checked above");
        let want = match kind {
            TrackKind::Audio => {
                lines.audio = Some(di);
                lines.want_audio
            }
            TrackKind::Video => {
                lines.video = Some(di);
                lines.want_video
            }
        };
        // Bound before the line appeared: bound now (its layer comes with
        // the next allocation, once connected).
        self.bind_line(None, pk, kind, want);
    }

    /// Binds viewer `peer`'s line of `kind` to `track` (`None`: nothing).
    pub fn bind_viewer(
        &mut self,
        now: Instant,
        peer: PeerId,
        kind: TrackKind,
        track: Option<TrackId>,
    ) -> Result<(), SfuError> {
        let pk = self.key_of(peer)?;
        let lines =
            self.peers[pk].as_mut().and_then(|p| p.viewer.as_mut()).ok_or(SfuError::PeerNotFound(peer))?;
        match kind {
            TrackKind::Audio => lines.want_audio = track,
            TrackKind::Video => lines.want_video = track,
        }
        self.bind_line(Some(now), pk, kind, track);
        self.finish(now);
        Ok(())
    }

    /// Moves a viewer's line of `kind`, if it has one, to `track`.
    pub(crate) fn bind_line(
        &mut self,
        now: Option<Instant>,
        pk: PeerKey,
        kind: TrackKind,
        track: Option<TrackId>,
    ) {
        let Some(p) = self.peers[pk].as_ref() else { return };
        let Some(lines) = p.viewer else { return };
        let Some(di) = (match kind {
            TrackKind::Audio => lines.audio,
            TrackKind::Video => lines.video,
        }) else {
            return; // not (yet) there
        };
        let source =
            track.and_then(|t| self.rooms.get(&p.room)?.tracks.get(&t).copied()).filter(|&(owner, ui)| {
                self.peers[owner].as_ref().and_then(|o| o.up[ui].as_ref()).is_some_and(|u| u.kind == kind)
            });
        let layer = if kind == TrackKind::Audio { LayerChoice::audio() } else { LayerChoice::default() };
        if self.rebind(pk, di, source, layer) && source.is_some() {
            if let (TrackKind::Video, Some(now)) = (kind, now) {
                self.reallocate(now, pk); // its layer, and the keyframe it starts with
            }
        }
    }
}
