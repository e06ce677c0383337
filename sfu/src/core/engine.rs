//! The engine: every room, peer and track of one media worker, as one
//! sans-IO state machine.
//!
//! Input: commands (`add_peer`, `accept_answer`, ...), datagrams
//! (`handle_receive`) and time (`handle_timeout`). Output: datagrams
//! (`poll_transmit`), events for the control plane (`poll_event`) and the
//! next deadline (`poll_timeout`). It never reads the clock or touches a
//! socket, so tests drive it on simulated time.
//!
//! Every call into a peer's `Rtc` goes through [`Engine::with_rtc`], which
//! drains str0m's output (its single-mutation contract) and catches a panic:
//! a peer whose state machine panicked is removed, the room goes on.
//! Removals are deferred to the end of the current entry point, so no peer
//! key held during event processing ever dangles.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use str0m::net::{DatagramRecv, DatagramSend, Protocol, Receive, Transmit};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use crate::core::events::{LeaveReason, SfuError, SfuEvent};
use crate::core::ids::{PeerId, RoomId};
use crate::core::negotiate::{bad_sdp, new_server_rtc, parse_offer, Change};
use crate::core::peer::{Peer, PeerKey};
use crate::core::room::Room;
use crate::core::timers::Timers;

pub use crate::core::settings::{EngineConfig, EngineCounters};

/// Largest datagram accepted; anything larger is not WebRTC media.
pub const MAX_DATAGRAM: usize = 1600;

/// Sent datagrams' buffers kept for reuse (ADR 0027): a delta frame fanned
/// out to a worker's share of a 150-venue plenary (5 × 75) and its audio;
/// a keyframe's burst allocates what it needs beyond them. At most
/// ~0.7 MB per worker.
const SPARE_BUFFERS: usize = 512;

/// The largest buffer kept: a media datagram's (str0m's MTU is 1 150 bytes;
/// a buffer grown for a DTLS flight is let go).
const SPARE_CAPACITY: usize = 1400;

/// The sans-IO media engine of one worker.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) peers: Vec<Option<Box<Peer>>>,
    pub(crate) rooms: HashMap<RoomId, Room>,
    by_id: HashMap<PeerId, PeerKey>,
    /// Which peer a (transport, remote address) belongs to.
    addrs: HashMap<(Protocol, SocketAddr), PeerKey>,
    pub(crate) transmits: VecDeque<Transmit>,
    /// Buffers of sent datagrams, given back by the worker ([`Engine::recycle`])
    /// for the next forwarded packets to be protected into (ADR 0027).
    pub(crate) spare: Vec<Vec<u8>>,
    /// Messages for the workers that hold other shards of a room (ADR 0018).
    pub(crate) relay_out: VecDeque<(usize, crate::core::relay::Relay)>,
    pub(crate) events: VecDeque<SfuEvent>,
    /// str0m events waiting to be handled, in order.
    work: VecDeque<(PeerKey, Event)>,
    /// Peers to remove at the end of the current entry point.
    doomed: Vec<(PeerKey, LeaveReason)>,
    /// When each peer next needs a timeout pass (its `Rtc`, its keyframe throttles).
    pub(crate) timers: Timers,
    /// The peers due in this timeout pass (kept for its capacity).
    due: Vec<PeerKey>,
    pub(crate) next_track: u64,
    next_stats: Option<Instant>,
    pub(crate) next_speaker_check: Option<Instant>,
    pub(crate) next_allocation: Option<Instant>,
    pub(crate) speakers: HashMap<RoomId, Option<PeerId>>,
    pub(crate) counters: EngineCounters,
}

impl Engine {
    /// An engine with no rooms.
    pub fn new(cfg: EngineConfig) -> Self {
        let next_track = cfg.worker as u64 + 1;
        Self {
            cfg,
            peers: Vec::new(),
            rooms: HashMap::new(),
            by_id: HashMap::new(),
            addrs: HashMap::new(),
            transmits: VecDeque::new(),
            spare: Vec::new(),
            relay_out: VecDeque::new(),
            events: VecDeque::new(),
            work: VecDeque::new(),
            doomed: Vec::new(),
            timers: Timers::default(),
            due: Vec::new(),
            next_track,
            next_stats: None,
            next_speaker_check: None,
            next_allocation: None,
            speakers: HashMap::new(),
            counters: EngineCounters::default(),
        }
    }

    /// Counters since start.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// Number of live peers.
    pub fn peer_count(&self) -> usize {
        self.by_id.len()
    }

    /// Number of rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Opens a room.
    pub fn create_room(&mut self, room: RoomId) -> Result<(), SfuError> {
        if self.rooms.contains_key(&room) {
            return Err(SfuError::RoomExists(room));
        }
        self.rooms.insert(room, Room::new());
        Ok(())
    }

    /// Closes a room and removes its peers.
    pub fn close_room(&mut self, now: Instant, room: RoomId) -> Result<(), SfuError> {
        let members = self.rooms.get(&room).ok_or(SfuError::RoomNotFound(room))?.members.clone();
        for pk in members {
            self.doomed.push((pk, LeaveReason::RoomClosed));
        }
        self.finish(now);
        self.forget_stand_ins(room);
        self.rooms.remove(&room);
        self.speakers.remove(&room);
        Ok(())
    }

    /// Removes every peer (server shutdown).
    pub fn shutdown(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.by_id.values().copied().collect();
        for pk in keys {
            self.doomed.push((pk, LeaveReason::Shutdown));
        }
        self.finish(now);
        self.rooms.clear();
    }

    /// Adds a peer from its SDP offer; returns the SDP answer.
    pub fn add_peer(
        &mut self,
        now: Instant,
        room: RoomId,
        peer: PeerId,
        offer: &str,
    ) -> Result<String, SfuError> {
        self.add_peer_with(now, room, peer, offer, true)
    }

    /// Adds a peer that may (or may not: an observer) publish; what it may
    /// not publish is never forwarded, whatever its SDP says.
    pub fn add_peer_with(
        &mut self,
        now: Instant,
        room: RoomId,
        peer: PeerId,
        offer: &str,
        may_publish: bool,
    ) -> Result<String, SfuError> {
        self.add_peer_as(now, room, peer, offer, may_publish, false)
    }

    /// Adds a participant, or a viewer (`viewer`: see [`Engine::add_viewer`]).
    pub(crate) fn add_peer_as(
        &mut self,
        now: Instant,
        room: RoomId,
        peer: PeerId,
        offer: &str,
        may_publish: bool,
        viewer: bool,
    ) -> Result<String, SfuError> {
        if !self.rooms.contains_key(&room) {
            return Err(SfuError::RoomNotFound(room));
        }
        if self.by_id.contains_key(&peer) {
            return Err(SfuError::PeerExists(peer));
        }
        if self.by_id.len() >= self.cfg.max_peers {
            return Err(SfuError::Full(self.cfg.max_peers));
        }
        crate::core::negotiate::check_track_count(offer, self.cfg.max_tracks_per_peer)?;
        let offer_text = offer;
        let offer = parse_offer(offer)?;
        // (A spread room counts its peers on every worker.)
        let crowded = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.len() + r.elsewhere >= self.cfg.bwe_max_room_peers);
        let mut rtc = new_server_rtc(now, if crowded { None } else { self.cfg.bwe_initial });
        for addr in &self.cfg.candidates {
            if let Ok(c) = str0m::Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        for addr in &self.cfg.tcp_candidates {
            if let Ok(c) =
                str0m::Candidate::builder().tcp().host(*addr).tcptype(str0m::net::TcpType::Passive).build()
            {
                rtc.add_local_candidate(c);
            }
        }
        let mut fresh = Peer::new(peer, room, rtc, now);
        fresh.may_publish = may_publish;
        fresh.viewer = viewer.then(crate::core::peer::ViewerLines::default);
        let pk = self.insert_peer(fresh);
        let creds = crate::core::negotiate::ice_creds(offer_text);
        let answer = self.with_rtc(pk, |rtc| rtc.sdp_api().accept_offer(offer));
        let answer = match answer {
            Some(Ok(a)) => a.to_sdp_string(),
            other => {
                self.drop_peer_silently(pk);
                return Err(bad_sdp(other));
            }
        };
        if let Some(p) = self.peer_mut(pk) {
            p.neg.remote_ice = creds;
        }
        self.by_id.insert(peer, pk);
        self.rooms.get_mut(&room).expect("checked above").members.push(pk);
        // A viewer receives what it is bound to instead.
        if !viewer {
            self.subscribe_newcomer(room, pk);
        }
        self.process_work(now);
        self.maybe_offer(pk);
        self.finish(now);
        tracing::debug!(%room, %peer, "peer added");
        Ok(answer)
    }

    /// Removes a peer.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) -> Result<(), SfuError> {
        let pk = *self.by_id.get(&peer).ok_or(SfuError::PeerNotFound(peer))?;
        self.doomed.push((pk, LeaveReason::Removed));
        self.finish(now);
        Ok(())
    }

    /// A datagram arrived on the worker's socket.
    pub fn handle_receive(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        self.handle_receive_on(now, Protocol::Udp, source, destination, data);
    }

    /// A datagram arrived over `proto`: UDP, or one RFC 4571 frame of an
    /// ICE-TCP connection from `source`. True if it belongs to a peer (an
    /// ICE-TCP connection whose first frame does not is closed).
    pub fn handle_receive_on(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        self.timers.advance(now);
        self.counters.datagrams_in += 1;
        if data.len() > MAX_DATAGRAM {
            self.counters.dropped_malformed += 1;
            return false;
        }
        let Ok(contents) = DatagramRecv::try_from(data) else {
            self.counters.dropped_malformed += 1;
            return false;
        };
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let pk = match self.addrs.get(&(proto, source)) {
            Some(pk) => *pk,
            None => match self.route_new_source(&input) {
                Some(pk) => {
                    self.addrs.insert((proto, source), pk);
                    pk
                }
                None => {
                    self.counters.dropped_unroutable += 1;
                    return false;
                }
            },
        };
        // The transport its media comes over now (browsers also check the
        // other candidates, so a newly routed address says nothing).
        if let Some(p) = self.peers[pk].as_mut() {
            p.over_tcp = proto == Protocol::Tcp;
        }
        match self.with_rtc(pk, |rtc| rtc.handle_input(input)) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.counters.dropped_rejected += 1;
                tracing::trace!(error = %e, "datagram rejected");
            }
            None => {}
        }
        self.process_work(now);
        self.finish(now);
        true
    }

    /// Time passed: drive the peers that are due (their `Rtc`'s deadline,
    /// or a packet written to them waits for release), and only those.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut due);
        for &pk in &due {
            let Some(deadline) = self.peers.get(pk).and_then(Option::as_ref).map(|p| p.deadline) else {
                continue; // left since
            };
            if deadline <= now {
                self.counters.timeout_passes += 1;
                if let Some(Err(e)) = self.with_rtc(pk, |rtc| rtc.handle_input(Input::Timeout(now))) {
                    tracing::debug!(error = %e, "timeout input failed");
                }
            } else {
                self.timers.schedule(pk, deadline); // an early hint: not due yet
            }
            self.poll_keyframe_throttles(now, pk);
        }
        due.clear();
        self.due = due;
        self.process_work(now);
        self.update_speakers(now);
        self.reallocate_due(now);
        if self.next_stats.is_none_or(|t| now >= t) {
            self.next_stats = Some(now + self.cfg.stats_interval);
            self.emit_stats();
        }
        self.finish(now);
    }

    /// The next time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_stats;
        if !self.rooms.is_empty() {
            for t in [self.next_speaker_check, self.next_allocation].into_iter().flatten() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        if let Some(t) = self.timers.next() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Gives back the buffer of a datagram that was sent (or dropped): a
    /// forwarded packet is protected into it instead of a new allocation
    /// (ADR 0027). Up to `SPARE_BUFFERS` are kept, none larger than a
    /// datagram needs.
    pub fn recycle(&mut self, contents: DatagramSend) {
        let buf = Vec::<u8>::from(contents);
        if self.spare.len() < SPARE_BUFFERS && buf.capacity() <= SPARE_CAPACITY && buf.capacity() > 0 {
            self.spare.push(buf);
        }
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<SfuEvent> {
        self.events.pop_front()
    }

    /// A track id no worker gives out again.
    pub(crate) fn new_track_id(&mut self) -> crate::core::ids::TrackId {
        let id = self.next_track;
        self.next_track += self.cfg.workers.max(1) as u64;
        crate::core::ids::TrackId(id)
    }

    pub(crate) fn peer_mut(&mut self, pk: PeerKey) -> Option<&mut Peer> {
        self.peers.get_mut(pk).and_then(Option::as_deref_mut)
    }

    pub(crate) fn key_of(&self, peer: PeerId) -> Result<PeerKey, SfuError> {
        self.by_id.get(&peer).copied().ok_or(SfuError::PeerNotFound(peer))
    }

    /// Runs `f` on a peer's `Rtc`, then drains its output; a panic or an
    /// output error dooms the peer. `None` when the peer is gone or failed.
    pub(crate) fn with_rtc<R>(&mut self, pk: PeerKey, f: impl FnOnce(&mut Rtc) -> R) -> Option<R> {
        let peer = self.peers.get_mut(pk)?.as_mut()?;
        let rtc = peer.rtc.as_mut()?; // (none: a remote publisher's stand-in)
        let transmits = &mut self.transmits;
        let work = &mut self.work;
        let timers = &mut self.timers;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let r = f(rtc);
            let deadline = loop {
                match rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break Ok(t),
                    Ok(Output::Transmit(t)) => transmits.push_back(t),
                    Ok(Output::Event(e)) => work.push_back((pk, e)),
                    Err(e) => break Err(e),
                }
            };
            (r, deadline)
        }));
        match result {
            Ok((r, Ok(deadline))) => {
                peer.deadline = deadline;
                timers.schedule(pk, deadline);
                Some(r)
            }
            Ok((_, Err(e))) => {
                tracing::warn!(peer = %peer.id, error = %e, "peer state machine failed");
                self.doomed.push((pk, LeaveReason::Failed));
                None
            }
            Err(_) => {
                tracing::error!(peer = %peer.id, "peer state machine panicked; removing the peer");
                self.doomed.push((pk, LeaveReason::Failed));
                None
            }
        }
    }

    fn route_new_source(&self, input: &Input<'_>) -> Option<PeerKey> {
        // Only STUN with a matching ICE ufrag is accepted from an unknown address.
        self.peers.iter().position(|p| {
            p.as_ref()
                .and_then(|p| p.rtc.as_ref())
                .is_some_and(|rtc| catch_unwind(AssertUnwindSafe(|| rtc.accepts(input))).unwrap_or(false))
        })
    }

    pub(crate) fn insert_peer(&mut self, peer: Peer) -> PeerKey {
        // Boxed: a `Peer` is ~7 KB (its `Rtc` inline), and the table's
        // spare capacity would hold that much per empty slot.
        let peer = Box::new(peer);
        let deadline = peer.deadline;
        let pk = if let Some(i) = self.peers.iter().position(Option::is_none) {
            self.peers[i] = Some(peer);
            i
        } else {
            self.peers.push(Some(peer));
            self.peers.len() - 1
        };
        self.timers.schedule(pk, deadline);
        pk
    }

    pub(crate) fn drop_peer_silently(&mut self, pk: PeerKey) {
        self.peers[pk] = None;
        self.timers.forget(pk);
        self.doomed.retain(|(k, _)| *k != pk);
        self.work.retain(|(k, _)| *k != pk);
    }

    /// Handles queued str0m events until none are left.
    pub(crate) fn process_work(&mut self, now: Instant) {
        while let Some((pk, event)) = self.work.pop_front() {
            if self.peers.get(pk).is_none_or(Option::is_none) {
                continue;
            }
            self.handle_event(now, pk, event);
        }
    }

    fn handle_event(&mut self, now: Instant, pk: PeerKey, event: Event) {
        match event {
            Event::RtpPacket(packet) => self.forward(now, pk, packet),
            Event::KeyframeRequest(req) => self.subscriber_wants_keyframe(now, pk, req),
            Event::EgressBitrateEstimate(str0m::bwe::BweKind::Twcc { estimate, .. }) => {
                self.estimate_changed(now, pk, estimate)
            }
            Event::StreamPaused(paused) => self.layer_paused(pk, paused),
            Event::MediaAdded(added) => self.media_added(pk, added),
            Event::MediaChanged(changed) => self.media_changed(pk, changed.mid, changed.direction),
            Event::Connected => {
                let Some(p) = self.peer_mut(pk) else { return };
                p.connected = true;
                let (room, peer) = (p.room, p.id);
                tracing::info!(%room, %peer, "peer connected");
                self.events.push_back(SfuEvent::PeerConnected { room, peer });
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed => {
                self.doomed.push((pk, LeaveReason::Disconnected));
            }
            _ => {}
        }
    }

    /// Removes doomed peers, then handles what their removal caused.
    pub(crate) fn finish(&mut self, now: Instant) {
        while !self.doomed.is_empty() {
            let doomed = std::mem::take(&mut self.doomed);
            for (pk, reason) in doomed {
                self.remove_now(pk, reason);
            }
            self.process_work(now);
        }
    }

    fn remove_now(&mut self, pk: PeerKey, reason: LeaveReason) {
        let Some(mut peer) = self.peers.get_mut(pk).and_then(Option::take) else {
            return;
        };
        self.timers.forget(pk);
        if reason == LeaveReason::Failed {
            self.counters.peer_failures += 1;
        }
        self.by_id.remove(&peer.id);
        self.addrs.retain(|_, k| *k != pk);
        self.work.retain(|(k, _)| *k != pk);
        // Unpublish its tracks: subscribers stop forwarding now and renegotiate.
        for up in peer.up.iter().flatten() {
            if let Some(room) = self.rooms.get_mut(&peer.room) {
                room.tracks.remove(&up.id);
                room.audio_slots.remove(up.id);
            }
            self.events.push_back(SfuEvent::TrackUnpublished {
                room: peer.room,
                peer: peer.id,
                track: up.id,
            });
            self.relay_unpublished(peer.room, up.id);
            for s in up.subscribers.clone() {
                self.end_down_track(s.peer, s.down);
            }
        }
        // Leave the up tracks it subscribed to.
        for (di, down) in peer.down.iter().enumerate() {
            if let Some((opk, ui)) = down.as_ref().and_then(|d| d.source) {
                if let Some(up) = self.peer_mut(opk).and_then(|o| o.up.get_mut(ui)).and_then(Option::as_mut) {
                    up.subscribers.retain(|s| !(s.peer == pk && s.down == di));
                }
            }
        }
        if let Some(room) = self.rooms.get_mut(&peer.room) {
            room.members.retain(|k| *k != pk);
            room.voice_peers.retain(|k| *k != pk);
        }
        // Best effort: tell the client (DTLS close) and let the datagrams out.
        if let Some(rtc) = peer.rtc.as_mut() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                rtc.disconnect();
                while let Ok(Output::Transmit(t)) = rtc.poll_output() {
                    self.transmits.push_back(t);
                }
            }));
        }
        tracing::info!(room = %peer.room, peer = %peer.id, ?reason, "peer left");
        self.events.push_back(SfuEvent::PeerLeft { room: peer.room, peer: peer.id, reason });
    }

    /// A down track lost its source: stop forwarding and remove its m-line
    /// (a viewer's line and a voice line stay, unbound, for the next source).
    pub(crate) fn end_down_track(&mut self, pk: PeerKey, di: usize) {
        let Some(p) = self.peer_mut(pk) else { return };
        if p.viewer.is_some() || p.is_voice_line(di) {
            if let Some(down) = p.down.get_mut(di).and_then(Option::as_mut) {
                down.source = None;
            }
            return;
        }
        let Some(down) = p.down.get_mut(di).and_then(Option::take) else {
            return;
        };
        p.neg.queued.push(Change::Remove(down.mid));
        self.maybe_offer(pk);
    }

    fn emit_stats(&mut self) {
        for p in self.peers.iter().flatten().filter(|p| p.origin.is_none()) {
            self.events.push_back(SfuEvent::PeerStats { room: p.room, peer: p.id, stats: p.counters });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::sim::Sim;

    #[test]
    fn a_panicking_peer_is_removed_and_the_room_goes_on() {
        let server: SocketAddr = "10.9.9.9:3478".parse().expect("addr");
        let mut sim = Sim::new(Engine::new(EngineConfig::default()), server, Instant::now(), 2);
        sim.engine.create_room(RoomId(1)).expect("room");
        for i in 1..=3 {
            sim.join(RoomId(1), PeerId(i), true, true).expect("join");
        }
        assert!(sim.connect_all(Duration::from_secs(5)));
        for _ in 0..100 {
            sim.advance(Duration::from_millis(5));
        }
        // Peer 2's state machine panics in the middle of an operation.
        let pk = sim.engine.key_of(PeerId(2)).expect("peer 2");
        let r = sim.engine.with_rtc(pk, |_| -> () { panic!("injected fault") });
        assert!(r.is_none());
        sim.engine.finish(sim.now);
        sim.pump();
        assert!(sim
            .events
            .iter()
            .any(|e| matches!(e, SfuEvent::PeerLeft { peer: PeerId(2), reason: LeaveReason::Failed, .. })));
        assert_eq!(sim.engine.counters().peer_failures, 1);
        assert_eq!(sim.engine.peer_count(), 2);
        // Peers 1 and 3 still exchange media.
        let before = sim.clients[2].received.len();
        for t in 0..300u64 {
            if t % 10 == 0 {
                sim.send_video(0, t);
                sim.send_audio(0, t);
            }
            sim.advance(Duration::from_millis(1));
        }
        assert!(sim.clients[2].received.len() > before + 30, "peer 3 still receives peer 1");
    }
}
