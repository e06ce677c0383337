//! Server-enforced control of what is forwarded, and who is speaking.

use std::time::{Duration, Instant};

use crate::core::engine::Engine;
use crate::core::events::{SfuError, SfuEvent};
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::peer::PeerKey;

/// How often the active speaker is re-evaluated.
pub(crate) const SPEAKER_WINDOW: Duration = Duration::from_millis(500);
/// Quieter than this (dBov) is not speaking.
const SPEAKING_THRESHOLD: i8 = -50;

impl Engine {
    /// Mutes or unmutes a published track. A muted track's packets are not
    /// forwarded to anyone, whatever its client does; on unmute each
    /// subscriber's stream continues without a gap (a new rewrite epoch,
    /// starting at a keyframe for video).
    pub fn set_muted(
        &mut self,
        now: Instant,
        peer: PeerId,
        track: TrackId,
        muted: bool,
    ) -> Result<(), SfuError> {
        let pk = self.key_of(peer)?;
        let room = self.peers[pk].as_ref().map(|p| p.room).ok_or(SfuError::PeerNotFound(peer))?;
        let (owner, ui) = *self
            .rooms
            .get(&room)
            .and_then(|r| r.tracks.get(&track))
            .ok_or(SfuError::TrackNotFound(track))?;
        if owner != pk {
            return Err(SfuError::TrackNotFound(track));
        }
        let up = self.peer_mut(pk).and_then(|p| p.up[ui].as_mut()).ok_or(SfuError::TrackNotFound(track))?;
        if up.muted == muted {
            return Ok(());
        }
        up.muted = muted;
        up.level = None;
        let kind = up.kind;
        if !muted {
            self.resume_track(pk, ui);
            self.relay_resumed(room, track);
            if kind == TrackKind::Video {
                self.request_keyframe(now, pk, ui, str0m::media::KeyframeRequestKind::Pli);
            }
        }
        self.finish(now);
        Ok(())
    }

    /// Stops or resumes sending video to a subscriber (audio-only mode for a
    /// weak link). Audio is unaffected; on resume each video stream continues
    /// without a gap from the next keyframe.
    pub fn set_receive_video(&mut self, now: Instant, peer: PeerId, receive: bool) -> Result<(), SfuError> {
        let pk = self.key_of(peer)?;
        let p = self.peer_mut(pk).ok_or(SfuError::PeerNotFound(peer))?;
        if p.video_paused != receive {
            return Ok(());
        }
        p.video_paused = !receive;
        self.reallocate(now, pk);
        let Some(p) = self.peer_mut(pk) else { return Ok(()) };
        if receive {
            let mut sources = Vec::new();
            for d in p.down.iter_mut().flatten() {
                if d.rewriter.is_video() {
                    d.rewriter.switch_source();
                    if let Some(src) = d.source {
                        sources.push(src);
                    }
                }
            }
            for (owner, ui) in sources {
                self.request_keyframe(now, owner, ui, str0m::media::KeyframeRequestKind::Pli);
            }
        }
        self.finish(now);
        Ok(())
    }

    /// Restricts the video a subscriber receives to these publishers (`None`:
    /// everything). Used for broadcast mode: a sub-venue gets only the
    /// broadcast source, and the SFU stops sending it the others' video.
    /// Streams that become allowed restart at their next keyframe.
    pub fn set_video_sources(
        &mut self,
        now: Instant,
        peer: PeerId,
        sources: Option<Vec<PeerId>>,
    ) -> Result<(), SfuError> {
        let pk = self.key_of(peer)?;
        let p = self.peer_mut(pk).ok_or(SfuError::PeerNotFound(peer))?;
        if p.video_sources == sources {
            return Ok(());
        }
        p.video_sources = sources;
        for d in p.down.iter_mut().flatten() {
            if d.rewriter.is_video() {
                d.rewriter.switch_source();
            }
        }
        self.reallocate(now, pk);
        self.finish(now);
        Ok(())
    }

    /// Every window: the loudest speaking publisher of each room.
    pub(crate) fn update_speakers(&mut self, now: Instant) {
        if self.next_speaker_check.is_some_and(|t| now < t) {
            return;
        }
        self.next_speaker_check = Some(now + SPEAKER_WINDOW);
        let rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        for room in rooms {
            // Its publishers here and the stand-ins of those elsewhere.
            let r = &self.rooms[&room];
            let publishers: Vec<PeerKey> = r.members.iter().chain(r.remote.values()).copied().collect();
            let home = r.home;
            let mut loudest: Option<(i8, PeerId)> = None;
            for pk in publishers {
                let Some(p) = self.peer_mut(pk) else { continue };
                let id = p.id;
                for up in p.up.iter_mut().flatten() {
                    if let Some(level) = up.level.take() {
                        if level >= SPEAKING_THRESHOLD && loudest.is_none_or(|(l, _)| level > l) {
                            loudest = Some((level, id));
                        }
                    }
                }
            }
            let speaker = loudest.map(|(_, id)| id);
            if let (Some(s), Some(r)) = (speaker, self.rooms.get_mut(&room)) {
                r.last_speaker = Some(s);
            }
            let current = self.speakers.entry(room).or_insert(None);
            // (Every shard knows the speaker for its allocations; the home tells.)
            if *current != speaker && home {
                *current = speaker;
                self.events.push_back(SfuEvent::ActiveSpeaker { room, peer: speaker });
            }
        }
    }
}
