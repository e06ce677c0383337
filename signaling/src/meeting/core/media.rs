//! A participant's media: publishing (the SDP offer), answering server
//! offers, its own mutes and audio-only mode, and the media plane's events
//! (tracks published and ended, offers, peers lost, the active speaker).

use huiyi_protocol::VideoCodec;
use huiyi_sfu::{LeaveReason, SfuEvent, TrackKind};

use super::{Core, Notice, Published, Refusal, Role, SfuCmd, SfuFailure, SfuResult, Source, TrackView};

impl Core {
    pub(super) fn publish(&mut self, pid: &str, sdp: String, tracks: Vec<(String, Source)>, restart: bool) {
        let p = self.participants.get_mut(pid).expect("checked by caller");
        if p.view.role == Role::Observer && sdp_sends_media(&sdp) {
            return self.refuse(pid, Refusal::forbidden("observers (列席) cannot publish audio or video"));
        }
        if let Some(codecs) = video_codecs(&sdp) {
            p.video_codecs = Some(codecs);
            self.choose_video_codec();
        }
        let p = self.participants.get_mut(pid).expect("checked by caller");
        if restart {
            if let Some(old) = p.peer.take() {
                p.pending_offer = None;
                let ended: Vec<_> = p.tracks.drain(..).map(|t| t.id).collect();
                self.sfu(SfuCmd::RemovePeer(old));
                for t in ended {
                    self.broadcast(Notice::TrackEnded(t));
                }
            }
        }
        let p = self.participants.get_mut(pid).expect("checked by caller");
        p.sources = tracks.into_iter().collect();
        let cmd = match p.peer {
            Some(peer) => SfuCmd::Renegotiate { pid: pid.to_string(), peer, sdp },
            None => SfuCmd::AddPeer { pid: pid.to_string(), sdp, may_publish: p.view.role != Role::Observer },
        };
        self.sfu(cmd);
    }

    pub(super) fn answer(&mut self, pid: &str, offer_id: u64, sdp: String) {
        let Some(peer) = self.participants[pid].peer else {
            return self.refuse(pid, Refusal::bad_state("no media session to answer for"));
        };
        self.sfu(SfuCmd::AcceptAnswer { pid: pid.to_string(), peer, offer_id, sdp });
    }

    pub(super) fn sfu_result(&mut self, result: SfuResult) {
        match result {
            SfuResult::PeerAdded { pid, result: Ok((peer, answer)) } => {
                let Some(p) = self.participants.get_mut(&pid) else {
                    // Gone while the media plane worked: drop the session.
                    return self.sfu(SfuCmd::RemovePeer(peer));
                };
                p.peer = Some(peer);
                let tiles = p.tiles.clone();
                if !p.receive_video {
                    self.sfu(SfuCmd::SetReceiveVideo(peer, false));
                }
                if !tiles.is_empty() {
                    // A `view` sent before this media session existed.
                    self.sfu(SfuCmd::SetTileLimits(peer, tiles));
                }
                if self.state.broadcast.is_some() {
                    self.apply_broadcast();
                }
                self.notify(&pid, Notice::Answer { sdp: answer });
                // Its new peer may be one of the featured (a floor holder back).
                self.update_featured();
            }
            SfuResult::Renegotiated { pid, result: Ok(answer) } => {
                self.notify(&pid, Notice::Answer { sdp: answer })
            }
            SfuResult::PeerAdded { pid, result: Err(e) }
            | SfuResult::Renegotiated { pid, result: Err(e) } => self.sfu_failed(&pid, e),
            SfuResult::AnswerApplied { pid, offer_id, result: Ok(()) } => {
                if let Some(p) = self.participants.get_mut(&pid) {
                    if matches!(&p.pending_offer, Some(Notice::Offer { offer_id: id, .. }) if *id == offer_id)
                    {
                        p.pending_offer = None;
                    }
                }
            }
            SfuResult::AnswerApplied { pid, result: Err(e), .. } => self.sfu_failed(&pid, e),
        }
    }

    fn sfu_failed(&mut self, pid: &str, e: SfuFailure) {
        match e {
            // A newer offer follows; the client answers that one.
            SfuFailure::Stale => {}
            SfuFailure::BadSdp(why) => self.refuse(pid, Refusal::bad_sdp(why)),
            SfuFailure::Other(why) => self.refuse(pid, Refusal::internal(why)),
        }
    }

    pub(super) fn mute(&mut self, pid: &str, audio: Option<bool>, video: Option<bool>) {
        if let Some(muted) = audio {
            if !muted && !self.may_unmute_self(pid) {
                self.refuse(pid, Refusal::forbidden("the chair has locked microphones; ask for the floor"));
            } else {
                if !muted {
                    self.unmute_allowed.remove(pid);
                }
                self.set_audio(pid, muted);
            }
        }
        let Some(muted) = video else { return };
        let p = self.participants.get_mut(pid).expect("checked by caller");
        p.view.video_muted = muted;
        // The camera switch leaves a screen share alone.
        let cameras: Vec<_> = p
            .tracks
            .iter()
            .filter(|t| t.kind == TrackKind::Video && t.source != Source::Screen)
            .map(|t| t.id)
            .collect();
        if let Some(peer) = p.peer {
            for id in cameras {
                self.sfu(SfuCmd::SetMuted(peer, id, muted));
            }
        }
        self.broadcast_updated(pid);
    }

    pub(super) fn receive(&mut self, pid: &str, video: bool) {
        let p = self.participants.get_mut(pid).expect("checked by caller");
        p.receive_video = video;
        if let Some(peer) = p.peer {
            self.sfu(SfuCmd::SetReceiveVideo(peer, video));
        }
    }

    /// Sets a participant's microphone at the server and tells everyone.
    pub(super) fn set_audio(&mut self, pid: &str, muted: bool) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        p.view.audio_muted = muted;
        let tracks: Vec<_> = p.tracks.iter().filter(|t| t.kind == TrackKind::Audio).map(|t| t.id).collect();
        if let Some(peer) = p.peer {
            for track in tracks {
                self.sfu(SfuCmd::SetMuted(peer, track, muted));
            }
        }
        self.broadcast_updated(pid);
    }

    pub(super) fn media(&mut self, event: SfuEvent) {
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
                    (TrackKind::Audio, _) => p.view.audio_muted,
                    (TrackKind::Video, Source::Screen) => false,
                    (TrackKind::Video, _) => p.view.video_muted,
                };
                if muted {
                    self.sfu(SfuCmd::SetMuted(peer, track, true));
                }
                self.broadcast(Notice::Track(TrackView { track, participant: pid, source }));
            }
            SfuEvent::TrackUnpublished { peer, track, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.tracks.retain(|t| t.id != track);
                }
                self.broadcast(Notice::TrackEnded(track));
            }
            SfuEvent::OfferReady { peer, offer_id, sdp, tracks, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                let offer = Notice::Offer { offer_id, sdp, tracks };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.pending_offer = Some(offer.clone());
                }
                self.notify(&pid, offer);
            }
            SfuEvent::PeerLeft { peer, reason, .. } => {
                let Some(pid) = self.pid_of(peer) else { return };
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.peer = None;
                    p.pending_offer = None;
                    for t in std::mem::take(&mut p.tracks) {
                        self.broadcast(Notice::TrackEnded(t.id));
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
                    let called = self.state.roll_call.as_ref().and_then(|rc| rc.current.as_deref());
                    if called == Some(s.as_str()) {
                        let s = s.clone();
                        self.roll_call_answer(&s);
                    }
                }
                if speaker != self.speaker {
                    self.speaker = speaker.clone();
                    self.broadcast(Notice::ActiveSpeaker(speaker));
                }
            }
            SfuEvent::VideoPaused { peer, track, .. } => {
                if let Some(pid) = self.pid_of(peer) {
                    self.notify(&pid, Notice::VideoPaused(track));
                }
            }
            SfuEvent::VideoResumed { peer, track, .. } => {
                if let Some(pid) = self.pid_of(peer) {
                    self.notify(&pid, Notice::VideoResumed(track));
                }
            }
            SfuEvent::LayersWanted { peer, mid, active, .. } => {
                if let Some(pid) = self.pid_of(peer) {
                    // The rids the client names its layers by (web-client/media.js).
                    let rids = active
                        .iter()
                        .filter_map(|l| ["q", "h", "f"].get(usize::from(*l)))
                        .map(|r| r.to_string());
                    self.notify(&pid, Notice::Layers { mid, active: rids.collect() });
                }
            }
            SfuEvent::PeerConnected { .. } | SfuEvent::KeyframeNeeded { .. } | SfuEvent::PeerStats { .. } => {
            }
        }
    }
}

/// True if an SDP offer has an audio or video m-line that sends (sendrecv,
/// the default, or sendonly) and is not rejected (port 0).
fn sdp_sends_media(sdp: &str) -> bool {
    let mut sending = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = parts.next().unwrap_or("");
            let port = parts.next().unwrap_or("0");
            sending.push(matches!(kind, "audio" | "video") && port != "0");
        } else if line == "a=recvonly" || line == "a=inactive" {
            if let Some(last) = sending.last_mut() {
                *last = false;
            }
        }
    }
    sending.into_iter().any(|s| s)
}

impl Core {
    /// One participant that cannot do VP8 (it offers video without it)
    /// moves the meeting to H.264 for good, and everyone republishes: but
    /// only if everyone who offered video can do H.264 (Firefox without its
    /// downloaded H.264 plugin cannot). Otherwise VP8 stays, and the
    /// H.264-only participant sees no video of the VP8 publishers.
    fn choose_video_codec(&mut self) {
        if self.state.video_codec != VideoCodec::Vp8 {
            return;
        }
        let known: Vec<(bool, bool)> = self.participants.values().filter_map(|p| p.video_codecs).collect();
        let needs_h264 = known.iter().any(|(vp8, h264)| *h264 && !*vp8);
        if !needs_h264 {
            return;
        }
        if known.iter().all(|(_, h264)| *h264) {
            tracing::info!(meeting = %self.id, "a participant without VP8: the meeting's video goes to H.264");
            self.state.video_codec = VideoCodec::H264;
            self.send_state();
        } else {
            tracing::warn!(meeting = %self.id, "a participant without VP8 and one without H.264: no common video codec; VP8 stays");
        }
    }
}

/// The video codecs an SDP offers, (VP8, H.264), if it has a video m-line.
fn video_codecs(sdp: &str) -> Option<(bool, bool)> {
    let mut sections: Vec<(bool, bool, bool)> = Vec::new(); // (video, vp8, h264)
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let video = m.starts_with("video ") && !m.starts_with("video 0 ");
            sections.push((video, false, false));
        } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let codec = map.split_whitespace().nth(1).unwrap_or("").split('/').next().unwrap_or("");
            if let Some(last) = sections.last_mut() {
                last.1 |= codec.eq_ignore_ascii_case("VP8");
                last.2 |= codec.eq_ignore_ascii_case("H264");
            }
        }
    }
    let video: Vec<_> = sections.into_iter().filter(|(video, ..)| *video).collect();
    if video.is_empty() {
        return None;
    }
    Some((video.iter().any(|(_, vp8, _)| *vp8), video.iter().any(|(_, _, h264)| *h264)))
}

/// True if the SDP has a video m-line whose codecs include H.264 but not
/// VP8 (a participant that can only do H.264).
#[cfg(test)]
fn video_without_vp8(sdp: &str) -> bool {
    video_codecs(sdp).is_some_and(|(vp8, h264)| h264 && !vp8)
}

#[cfg(test)]
mod tests {
    use super::{sdp_sends_media, video_without_vp8};

    #[test]
    fn recognises_a_participant_without_vp8() {
        let h264 = "v=0\r\nm=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 X 102 103\r\na=rtpmap:102 H264/90000\r\na=rtpmap:103 rtx/90000\r\n";
        assert!(video_without_vp8(h264));
        let both = h264.replace("a=rtpmap:103 rtx/90000", "a=rtpmap:96 VP8/90000");
        assert!(!video_without_vp8(&both));
        assert!(!video_without_vp8("v=0\r\nm=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\n"), "audio only");
        assert!(!video_without_vp8(&h264.replace("m=video 9", "m=video 0")), "a rejected m-line");
    }

    #[test]
    fn recognises_sending_offers() {
        assert!(sdp_sends_media("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n"));
        assert!(sdp_sends_media("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(!sdp_sends_media(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\nm=video 9 X 96\r\na=inactive\r\n"
        ));
        assert!(!sdp_sends_media("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
        assert!(!sdp_sends_media("v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n"));
    }
}
