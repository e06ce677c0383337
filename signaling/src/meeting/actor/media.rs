//! Events from the media plane: tracks published and ended, offers for a
//! participant, peers lost, the active speaker.

use huiyi_sfu::{LeaveReason, SfuEvent, TrackKind};

use super::{Meeting, Published};
use crate::ws::protocol::{OfferedTrack, ServerMsg, Source, TrackInfo};

impl Meeting {
    pub(super) async fn media(&mut self, event: SfuEvent) {
        match event {
            SfuEvent::TrackPublished { peer, track, kind, mid, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                let p = self.participants.get_mut(&pid).expect("pid_of found it");
                let source = p.sources.get(&mid).copied().unwrap_or(match kind {
                    TrackKind::Audio => Source::Microphone,
                    TrackKind::Video => Source::Camera,
                });
                p.tracks.push(Published { id: track, kind, source });
                let muted = match (kind, source) {
                    (TrackKind::Audio, _) => p.info.audio_muted,
                    (TrackKind::Video, Source::Screen) => false,
                    (TrackKind::Video, _) => p.info.video_muted,
                };
                if muted {
                    let _ = self.sfu.set_muted(self.room, peer, track, true).await;
                }
                let info = TrackInfo { track: track.to_string(), participant: pid, source };
                self.broadcast(ServerMsg::Track { track: info });
            }
            SfuEvent::TrackUnpublished { peer, track, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.tracks.retain(|t| t.id != track);
                }
                self.broadcast(ServerMsg::TrackEnded { track: track.to_string() });
            }
            SfuEvent::OfferReady { peer, offer_id, sdp, tracks, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                let tracks =
                    tracks.into_iter().map(|(mid, t)| OfferedTrack { mid, track: t.to_string() }).collect();
                let offer = ServerMsg::Offer { offer_id, sdp, tracks };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.pending_offer = Some(offer.clone());
                }
                self.send(&pid, offer);
            }
            SfuEvent::PeerLeft { peer, reason, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.peer = None;
                    p.pending_offer = None;
                    for t in std::mem::take(&mut p.tracks) {
                        self.broadcast(ServerMsg::TrackEnded { track: t.id.to_string() });
                    }
                }
                if reason != LeaveReason::Removed {
                    tracing::warn!(meeting = %self.id, participant = %pid, ?reason, "media connection lost");
                }
            }
            SfuEvent::ActiveSpeaker { peer, .. } => {
                let speaker = peer.and_then(|p| self.pid_of(p));
                // Answering a roll call by speaking counts as answering.
                if let Some(s) = &speaker {
                    if self
                        .state
                        .roll_call
                        .as_ref()
                        .is_some_and(|rc| rc.current.as_deref() == Some(s.as_str()))
                    {
                        let s = s.clone();
                        self.roll_call_answer(&s).await;
                    }
                }
                if speaker != self.speaker {
                    self.speaker = speaker.clone();
                    self.broadcast(ServerMsg::ActiveSpeaker { participant: speaker });
                }
            }
            SfuEvent::PeerConnected { .. } | SfuEvent::KeyframeNeeded { .. } | SfuEvent::PeerStats { .. } => {
            }
        }
    }
}
