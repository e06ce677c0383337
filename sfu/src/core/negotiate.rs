//! SDP negotiation: the client offers what it publishes; the server offers
//! what the client should receive.
//!
//! Glare is designed out rather than handled late. Server offers are
//! serialized per peer: changes (add a subscription, remove one) queue in
//! [`Negotiation::queued`] while an offer is in flight, and go out together in
//! the next offer once the answer is in. A client offer that arrives while a
//! server offer is in flight wins (the server is the polite side): the server
//! offer is rolled back (str0m: dropping the pending offer), its changes are
//! queued again and re-offered after the client's offer is answered. An
//! answer to a rolled-back offer is refused as stale by its `offer_id`.

use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaAdded, Mid};

use crate::core::engine::Engine;
use crate::core::events::{SfuError, SfuEvent};
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::peer::{DownTrack, PeerKey, Subscriber, UpTrack};

/// One change to what a peer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Subscribe to a published track.
    Add(TrackId),
    /// Remove the down track on this m-line.
    Remove(Mid),
}

pub(crate) struct InFlight {
    id: u64,
    pending: SdpPendingOffer,
    adds: Vec<(Mid, TrackId)>,
    removes: Vec<Mid>,
    /// The offer restarts ICE (the answer brings new credentials).
    restarts_ice: bool,
}

impl InFlight {
    fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        self.adds.iter().map(|(_, t)| Change::Add(*t)).chain(self.removes.iter().map(|m| Change::Remove(*m)))
    }
}

/// Negotiation state of one peer.
#[derive(Default)]
pub(crate) struct Negotiation {
    pub queued: Vec<Change>,
    in_flight: Option<InFlight>,
    next_id: u64,
    /// The next offer restarts ICE: the client answered with new ICE
    /// credentials to an offer that did not restart (Firefox does, after
    /// `restartIce()`), which RFC 8839 does not allow in an answer.
    restart_ice: bool,
    /// The client's ICE credentials (ufrag, pwd) as last negotiated.
    pub remote_ice: Option<(String, String)>,
}

impl Engine {
    /// The client sent a new offer (e.g. it starts or stops publishing).
    pub fn renegotiate(&mut self, now: Instant, peer: PeerId, offer: &str) -> Result<String, SfuError> {
        let pk = self.key_of(peer)?;
        check_track_count(offer, self.cfg.max_tracks_per_peer)?;
        let offer_text = offer;
        let offer = parse_offer(offer)?;
        let p = self.peer_mut(pk).expect("key_of found it");
        if let Some(rolled_back) = p.neg.in_flight.take() {
            let mut again: Vec<Change> = rolled_back.changes().collect();
            again.append(&mut p.neg.queued);
            p.neg.queued = again;
        }
        let answer = match self.with_rtc(pk, |rtc| rtc.sdp_api().accept_offer(offer)) {
            Some(Ok(a)) => a.to_sdp_string(),
            Some(Err(e)) => return Err(SfuError::BadSdp(e.to_string())),
            None => return Err(SfuError::BadSdp("the offer broke the peer's state machine".into())),
        };
        if let Some(p) = self.peer_mut(pk) {
            // An offer may restart ICE: whatever it says is now in force.
            p.neg.remote_ice = ice_creds(offer_text).or(p.neg.remote_ice.take());
        }
        self.process_work(now);
        self.sync_up_tracks(pk);
        self.maybe_offer(pk);
        self.finish(now);
        Ok(answer)
    }

    /// The client answered the server's offer `offer_id`.
    pub fn accept_answer(
        &mut self,
        now: Instant,
        peer: PeerId,
        offer_id: u64,
        answer: &str,
    ) -> Result<(), SfuError> {
        let pk = self.key_of(peer)?;
        let p = self.peer_mut(pk).expect("key_of found it");
        let current = p.neg.in_flight.as_ref().map(|f| f.id);
        if current != Some(offer_id) {
            return Err(SfuError::StaleAnswer { got: offer_id, current });
        }
        // An answer may bring new ICE credentials only to an offer that
        // restarted ICE. One that brings them anyway (Firefox, after
        // `restartIce()`) is taken with the credentials in force, and the
        // next offer restarts ICE so that both sides change in step;
        // refusing it left the client with m-lines the server did not
        // have, and Firefox answered every later offer the same way.
        let restarts = p.neg.in_flight.as_ref().is_some_and(|f| f.restarts_ice);
        let theirs = ice_creds(answer);
        let kept;
        let raw = match (&p.neg.remote_ice, &theirs) {
            (Some(known), Some(new)) if !restarts && known != new => {
                tracing::info!(
                    room = p.room.0,
                    peer = peer.0,
                    "the answer changes ICE credentials: offering an ICE restart"
                );
                p.neg.restart_ice = true;
                kept = with_ice_creds(answer, known);
                kept.as_str()
            }
            _ => answer,
        };
        let parsed = SdpAnswer::from_sdp_string(raw).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let p = self.peer_mut(pk).expect("key_of found it");
        let flight = p.neg.in_flight.take().expect("checked current");
        let requeue: Vec<Change> = flight.changes().collect();
        // The server offers what it sends: an answer may only receive on those m-lines.
        let offered: Vec<String> = flight.adds.iter().map(|(mid, _)| mid.to_string()).collect();
        let result = match sending_mid(raw, &offered) {
            Some(mid) => Err(SfuError::BadSdp(format!(
                "the answer sends on m-line {mid}, which the server offered for receiving only"
            ))),
            None => {
                bad_sdp_from(self.with_rtc(pk, |rtc| rtc.sdp_api().accept_answer(flight.pending, parsed)))
            }
        };
        if let Err(e) = result {
            if let Some(p) = self.peer_mut(pk) {
                let mut again = requeue;
                again.append(&mut p.neg.queued);
                p.neg.queued = again;
            }
            self.maybe_offer(pk);
            self.finish(now);
            return Err(e);
        }
        if restarts {
            if let Some(p) = self.peer_mut(pk) {
                p.neg.remote_ice = theirs;
            }
        }
        for (mid, track) in flight.adds {
            self.start_down_track(now, pk, mid, track);
        }
        self.process_work(now);
        self.maybe_offer(pk);
        self.finish(now);
        Ok(())
    }

    /// Sends the queued changes as one offer, unless one is in flight.
    pub(crate) fn maybe_offer(&mut self, pk: PeerKey) {
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref) else {
            return;
        };
        if p.neg.in_flight.is_some() || (p.neg.queued.is_empty() && !p.neg.restart_ice) {
            return;
        }
        let restart_ice = p.neg.restart_ice;
        let room = p.room;
        let changes = std::mem::take(&mut self.peer_mut(pk).expect("present").neg.queued);
        // Resolve tracks before borrowing the peer's Rtc.
        let mut wanted = Vec::new();
        for change in changes {
            match change {
                Change::Add(track) if self.voice_line_index(room, track).is_some() => {
                    wanted.push((Change::Add(track), Some((TrackKind::Audio, "voices".to_string()))));
                }
                Change::Add(track) => {
                    let Some(&(owner, ui)) = self.rooms.get(&room).and_then(|r| r.tracks.get(&track)) else {
                        continue;
                    };
                    let Some(o) = self.peers[owner].as_ref() else {
                        continue;
                    };
                    let Some(up) = o.up[ui].as_ref() else {
                        continue;
                    };
                    wanted.push((Change::Add(track), Some((up.kind, format!("peer-{}", o.id)))));
                }
                Change::Remove(mid) => wanted.push((Change::Remove(mid), None)),
            }
        }
        let offer = self.with_rtc(pk, |rtc| {
            let mut api = rtc.sdp_api();
            if restart_ice {
                api.ice_restart(true);
            }
            let mut adds = Vec::new();
            let mut removes = Vec::new();
            for (change, info) in wanted {
                match (change, info) {
                    (Change::Add(track), Some((kind, owner))) => {
                        let mid = api.add_media(
                            kind.into(),
                            Direction::SendOnly,
                            Some(owner),
                            Some(format!("track-{track}")),
                            None,
                        );
                        adds.push((mid, track));
                    }
                    (Change::Remove(mid), _) => {
                        api.stop_media(mid);
                        removes.push(mid);
                    }
                    _ => {}
                }
            }
            api.apply().map(|(offer, pending)| (offer.to_sdp_string(), pending, adds, removes))
        });
        let Some(Some((sdp, pending, adds, removes))) = offer else {
            return;
        };
        let p = self.peer_mut(pk).expect("with_rtc succeeded");
        p.neg.restart_ice = false;
        p.neg.next_id += 1;
        let id = p.neg.next_id;
        let tracks = adds.iter().map(|(mid, track)| (mid.to_string(), *track)).collect();
        p.neg.in_flight = Some(InFlight { id, pending, adds, removes, restarts_ice: restart_ice });
        let peer = p.id;
        self.events.push_back(SfuEvent::OfferReady { room, peer, offer_id: id, sdp, tracks });
    }

    /// The answer is in: the subscriber's m-line `mid` now carries `track`.
    fn start_down_track(&mut self, now: Instant, pk: PeerKey, mid: Mid, track: TrackId) {
        let Some(p) = self.peers[pk].as_ref() else {
            return;
        };
        if let Some(line) = self.voice_line_index(p.room, track) {
            self.start_voice_line(pk, mid, line, track);
            return;
        }
        let source = self.rooms.get(&p.room).and_then(|r| r.tracks.get(&track)).copied();
        let Some((owner, ui)) = source else {
            // Unpublished while the offer was in flight.
            let p = self.peer_mut(pk).expect("present");
            p.neg.queued.push(Change::Remove(mid));
            return;
        };
        let Some(kind) = self.peers[owner].as_ref().and_then(|o| o.up[ui].as_ref()).map(|u| u.kind) else {
            return;
        };
        let seed = track.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (pk as u64).rotate_left(17);
        let p = self.peer_mut(pk).expect("present");
        let down = p.insert_down(DownTrack::new(mid, Some((owner, ui)), kind, seed));
        if let Some(up) = self.peer_mut(owner).and_then(|o| o.up[ui].as_mut()) {
            up.subscribers.push(Subscriber { peer: pk, down });
        }
        if kind == TrackKind::Video {
            // Its layer (which asks for the keyframe it starts with).
            self.reallocate(now, pk);
        }
    }

    /// str0m announced a new m-line: when the peer sends on it, it is published.
    pub(crate) fn media_added(&mut self, pk: PeerKey, added: MediaAdded) {
        if !added.direction.is_receiving() {
            // One of our send-only down tracks, or a viewer's own line.
            if self.peers[pk].as_ref().is_some_and(|p| p.viewer.is_some()) {
                self.viewer_line(pk, added.mid, TrackKind::from(added.kind));
            }
            return;
        }
        self.publish(pk, added.mid, TrackKind::from(added.kind));
    }

    /// An m-line's direction changed: publish or unpublish accordingly.
    pub(crate) fn media_changed(&mut self, pk: PeerKey, mid: Mid, direction: Direction) {
        let Some(p) = self.peers[pk].as_ref() else {
            return;
        };
        let existing = p.up_index_by_mid(mid);
        match (existing, direction.is_receiving()) {
            (Some(ui), false) => self.unpublish(pk, ui),
            (None, true) => {
                if let Some(kind) =
                    p.rtc.as_ref().and_then(|r| r.media(mid)).map(|m| TrackKind::from(m.kind()))
                {
                    self.publish(pk, mid, kind);
                }
            }
            _ => {}
        }
    }

    /// After a client offer: m-lines that were stopped or disabled end their tracks.
    fn sync_up_tracks(&mut self, pk: PeerKey) {
        let Some(p) = self.peers[pk].as_ref() else {
            return;
        };
        let Some(rtc) = p.rtc.as_ref() else { return };
        let gone: Vec<usize> = p
            .up
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let u = u.as_ref()?;
                let alive = rtc.media(u.mid).is_some_and(|m| m.direction().is_receiving() && !m.disabled());
                (!alive).then_some(i)
            })
            .collect();
        for ui in gone {
            self.unpublish(pk, ui);
        }
    }

    fn publish(&mut self, pk: PeerKey, mid: Mid, kind: TrackKind) {
        let interval = self.cfg.keyframe_interval;
        let track = self.new_track_id();
        let max_tracks = self.cfg.max_tracks_per_peer;
        let Some(p) = self.peer_mut(pk) else { return };
        if p.up_index_by_mid(mid).is_some() {
            return;
        }
        if p.up.iter().flatten().count() >= max_tracks {
            tracing::warn!(room = %p.room, peer = %p.id, %mid, max_tracks, "a track over the cap: ignored");
            return;
        }
        if !p.may_publish {
            tracing::warn!(room = %p.room, peer = %p.id, %mid, "a peer that may not publish sends: ignored");
            return;
        }
        let ui = p.insert_up(UpTrack::new(track, mid, kind, interval));
        let (room, peer) = (p.room, p.id);
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        r.tracks.insert(track, (pk, ui));
        tracing::info!(%room, %peer, %track, ?kind, "track published");
        self.events.push_back(SfuEvent::TrackPublished { room, peer, track, kind, mid: mid.to_string() });
        self.relay_published(room, pk, ui, None);
        self.offer_track(room, pk, track, kind);
    }

    /// Offers a newly published track to the room's members here (all but
    /// its publisher).
    pub(crate) fn offer_track(&mut self, room: RoomId, publisher: PeerKey, track: TrackId, kind: TrackKind) {
        let Some(r) = self.rooms.get(&room) else { return };
        let others: Vec<PeerKey> = r.members.iter().copied().filter(|k| *k != publisher).collect();
        for other in others {
            // (A viewer is bound instead; a listener with voice lines hears
            // microphones on them.)
            let voices = kind == TrackKind::Audio;
            if let Some(o) =
                self.peer_mut(other).filter(|o| o.viewer.is_none() && !(voices && o.voices.is_some()))
            {
                o.neg.queued.push(Change::Add(track));
            }
            self.maybe_offer(other);
            // A viewer told to show this track before it was here shows it now.
            let wanted = self.peers[other].as_ref().and_then(|o| o.viewer).is_some_and(|v| match kind {
                TrackKind::Audio => v.want_audio == Some(track),
                TrackKind::Video => v.want_video == Some(track),
            });
            if wanted {
                self.bind_line(None, other, kind, Some(track));
            }
        }
    }

    /// Ends up track `ui` of `pk` for every subscriber (here and, for a
    /// track published here, on the room's other shards).
    pub(crate) fn unpublish(&mut self, pk: PeerKey, ui: usize) {
        let Some(p) = self.peer_mut(pk) else { return };
        let Some(up) = p.up[ui].take() else { return };
        let (room, peer, local) = (p.room, p.id, p.origin.is_none());
        if let Some(r) = self.rooms.get_mut(&room) {
            r.tracks.remove(&up.id);
            r.audio_slots.remove(up.id);
        }
        if local {
            self.events.push_back(SfuEvent::TrackUnpublished { room, peer, track: up.id });
            self.relay_unpublished(room, up.id);
        }
        for s in up.subscribers {
            self.end_down_track(s.peer, s.down);
        }
    }
}

/// The first of the `offered` m-lines (by mid) on which `answer` would send
/// (`sendrecv`, `sendonly`, or no direction: sendrecv by default).
fn sending_mid<'a>(answer: &str, offered: &'a [String]) -> Option<&'a str> {
    let sections = sending_sections(answer);
    offered.iter().find_map(|o| {
        sections.iter().any(|(mid, sends)| mid.as_deref() == Some(o.as_str()) && *sends).then_some(o.as_str())
    })
}

/// How many audio and video m-lines of a client's SDP send (each would be
/// a published track; a data channel is not one).
pub(crate) fn sending_count(sdp: &str) -> usize {
    let media: Vec<bool> = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("m="))
        .map(|m| m.starts_with("audio") || m.starts_with("video"))
        .collect();
    sending_sections(sdp).iter().zip(media).filter(|((_, sends), media)| *sends && *media).count()
}

/// Refuses an offer that would publish more than `max` tracks.
pub(crate) fn check_track_count(sdp: &str, max: usize) -> Result<(), SfuError> {
    let sending = sending_count(sdp);
    if sending > max {
        return Err(SfuError::BadSdp(format!(
            "the offer sends {sending} tracks; a participant publishes at most {max}"
        )));
    }
    Ok(())
}

/// Each m-line's mid and whether it sends (not rejected, not recvonly or inactive).
fn sending_sections(sdp: &str) -> Vec<(Option<String>, bool)> {
    let mut sections: Vec<(Option<String>, bool)> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            // A rejected m-line (port 0) sends nothing.
            sections.push((None, m.split_whitespace().nth(1) != Some("0")));
        } else if let Some((mid, sends)) = sections.last_mut() {
            if let Some(m) = line.strip_prefix("a=mid:") {
                *mid = Some(m.to_string());
            } else if line == "a=recvonly" || line == "a=inactive" {
                *sends = false;
            }
        }
    }
    sections
}

/// The server side of a connection: ICE-lite, RTP mode, and only the codecs
/// Huiyi forwards (Opus, with RED; VP8 and H.264); with `bwe`, the send-side
/// bandwidth estimator from that starting estimate.
pub(crate) fn new_server_rtc(now: Instant, bwe: Option<u64>) -> str0m::Rtc {
    str0m::Rtc::builder()
        .enable_bwe(bwe.map(str0m::bwe::Bitrate::from))
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, true)
        .enable_vp8(true)
        .enable_h264(true)
        .set_stats_interval(None)
        .build(now)
}

pub(crate) fn parse_offer(sdp: &str) -> Result<str0m::change::SdpOffer, SfuError> {
    str0m::change::SdpOffer::from_sdp_string(sdp)
        .map_err(|e| SfuError::BadSdp(without_pointers(&e.to_string())))
}

/// The SDP parser's messages name where it stopped as a memory address
/// (`at PointerOffset(0x7f…)`): of no use to a client and a leak of the
/// server's memory layout, so it is cut out.
pub(crate) fn without_pointers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at PointerOffset(") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find(')').map_or("", |j| &rest[i + j + 1..]);
    }
    out.push_str(rest);
    out.replace('\n', "; ").trim_end_matches(['\n', ';', ' ']).to_string()
}

pub(crate) fn bad_sdp<T>(r: Option<Result<T, str0m::RtcError>>) -> SfuError {
    match r {
        Some(Err(e)) => SfuError::BadSdp(e.to_string()),
        _ => SfuError::BadSdp("the offer broke the peer's state machine".into()),
    }
}

pub(crate) fn bad_sdp_from(r: Option<Result<(), str0m::RtcError>>) -> Result<(), SfuError> {
    match r {
        Some(Ok(())) => Ok(()),
        other => Err(bad_sdp(other)),
    }
}

/// The first `a=ice-ufrag` and `a=ice-pwd` of an SDP (Huiyi bundles every
/// m-line on one transport, so the first are the transport's).
pub(crate) fn ice_creds(sdp: &str) -> Option<(String, String)> {
    let value =
        |key: &str| sdp.lines().find_map(|l| l.trim_end().strip_prefix(key)).map(|v| v.trim().to_string());
    Some((value("a=ice-ufrag:")?, value("a=ice-pwd:")?))
}

/// `sdp` with every `a=ice-ufrag` / `a=ice-pwd` set to `creds`.
fn with_ice_creds(sdp: &str, creds: &(String, String)) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let eol = &line[line.trim_end_matches(['\r', '\n']).len()..];
        if line.starts_with("a=ice-ufrag:") {
            out.push_str("a=ice-ufrag:");
            out.push_str(&creds.0);
            out.push_str(eol);
        } else if line.starts_with("a=ice-pwd:") {
            out.push_str("a=ice-pwd:");
            out.push_str(&creds.1);
            out.push_str(eol);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod answer_tests {
    use super::{ice_creds, sending_count, sending_mid, with_ice_creds};

    #[test]
    fn tracks_are_counted_without_data_channels() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\na=sendrecv\r\nm=video 9 X 96\r\na=mid:1\r\na=sendonly\r\nm=video 9 X 96\r\na=mid:2\r\na=recvonly\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";
        assert_eq!(sending_count(sdp), 2);
    }

    #[test]
    fn answers_may_only_receive_what_the_server_offered() {
        let offered = vec!["3".to_string(), "4".to_string()];
        let ok = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\na=sendonly\r\nm=audio 9 X 111\r\na=mid:3\r\na=recvonly\r\nm=video 0 X 96\r\na=mid:4\r\na=inactive\r\n";
        assert_eq!(sending_mid(ok, &offered), None, "its own m-line 0 may send");
        let bad = ok.replace("a=mid:3\r\na=recvonly", "a=mid:3\r\na=sendrecv");
        assert_eq!(sending_mid(&bad, &offered), Some("3"));
        let implicit =
            ok.replace("m=video 0 X 96\r\na=mid:4\r\na=inactive\r\n", "m=video 9 X 96\r\na=mid:4\r\n");
        assert_eq!(sending_mid(&implicit, &offered), Some("4"), "no direction means sendrecv");
        let rejected = ok.replace("a=mid:4\r\na=inactive\r\n", "a=mid:4\r\n");
        assert_eq!(sending_mid(&rejected, &offered), None, "a rejected m-line (port 0) sends nothing");
    }

    #[test]
    fn ice_credentials_are_read_and_replaced_line_by_line() {
        let sdp = "v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 9 X 111\r\na=ice-ufrag:abcd\r\n";
        assert_eq!(ice_creds(sdp), Some(("abcd".into(), "0123456789012345678901".into())));
        let kept = with_ice_creds(sdp, &("wxyz".into(), "pwdpwdpwdpwdpwdpwdpwdp".into()));
        assert_eq!(kept.matches("a=ice-ufrag:wxyz\r\n").count(), 2);
        assert!(kept.contains("a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdp\r\n") && !kept.contains("abcd"));
        assert_eq!(ice_creds("v=0\r\n"), None);
    }
}
