//! A large room over several workers (ADR 0018).
//!
//! A room lives on its *home* worker until it holds `sfu.spread_after`
//! peers there; later peers join the least busy worker, whose engine holds
//! a *shard* of the room: an ordinary [`Room`] with its own members, plus a
//! stand-in ([`Peer::remote`]) for every publisher on another worker. Each
//! worker relays what its own publishers send to every other shard, once
//! per shard (the packet's payload shared, not copied), after the checks
//! that belong to the publisher (server mute, the bitrate cap); each shard
//! then forwards it to its members as it forwards a local packet. So a
//! subscriber's rewriting, resend cache, NACK answers and layer choice stay
//! on its own worker, and a big meeting's fan-out runs on every core.
//!
//! Back to the publisher's worker go keyframe requests (through its
//! throttle, so every shard's subscribers share one) and, with the periodic
//! allocation, which layers each shard forwards (a layer nobody anywhere
//! receives is stopped at the publisher). The home alone reports the
//! active speaker and taps the room (recording, live feed), since it has a
//! stand-in for every remote publisher too.
//!
//! The engine stays sans-IO: it queues messages with their destination
//! worker ([`Engine::poll_relay`]) and takes them in
//! ([`Engine::handle_relay`]); the worker threads carry them.

use std::time::{Duration, Instant};

use str0m::format::CodecSpec;
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::rtp::{RtpPacket, Ssrc};

use crate::core::allocate::TEMPORAL;
use crate::core::engine::Engine;
use crate::core::events::SfuError;
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::layers::LayerIn;
use crate::core::peer::{Peer, PeerKey, UpTrack};
use crate::core::room::Room;

/// How long a shard's word on the layers it forwards holds (it repeats it
/// with every allocation pass, twice a second).
const LAYER_USE_VALID: Duration = Duration::from_secs(2);

/// A message between the workers that hold parts of one room.
// (Nearly every message is `Media`: boxing its packet would allocate per packet.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Relay {
    /// A track published on worker `from` (also sent for every track when
    /// a new shard appears).
    Published {
        room: RoomId,
        from: usize,
        publisher: PeerId,
        track: TrackId,
        kind: TrackKind,
        layers: Vec<HeldLayer>,
    },
    /// It ended.
    Unpublished { room: RoomId, track: TrackId },
    /// Its packets come again after the server muted it: each subscriber's
    /// stream continues without a gap in its numbers.
    Resumed { room: RoomId, track: TrackId },
    /// One of its packets: codec (and whether RED-wrapped), simulcast layer.
    Media { room: RoomId, track: TrackId, codec: (CodecSpec, bool), spatial: u8, packet: RtpPacket },
    /// Subscribers on another shard want a keyframe (layer bits; 0: all).
    KeyframeWanted { room: RoomId, track: TrackId, layers: u8, kind: KeyframeRequestKind },
    /// The layers of a track that shard `from` forwards or switches to.
    LayerUse { room: RoomId, from: usize, track: TrackId, wanted: u8 },
    /// Which of a track's layers the publisher was asked to stop, and at
    /// what bitrates they are on offer meanwhile.
    LayersHeld { room: RoomId, track: TrackId, layers: Vec<HeldLayer> },
    /// What the control plane set for the whole room, from its home to a new shard.
    Settings { room: RoomId, featured: Vec<PeerId>, always_heard: Vec<PeerId> },
}

/// A simulcast layer's state at its publisher's worker.
#[derive(Debug, Clone)]
pub(crate) struct HeldLayer {
    pub ssrc: Ssrc,
    pub spatial: u8,
    pub stopped: bool,
    pub held: Option<[u64; TEMPORAL]>,
}

fn held_layers(layers: &[LayerIn]) -> Vec<HeldLayer> {
    layers
        .iter()
        .map(|l| HeldLayer { ssrc: l.ssrc, spatial: l.spatial, stopped: l.stopped, held: l.held })
        .collect()
}

impl Engine {
    /// The next message for another worker, and which.
    pub(crate) fn poll_relay(&mut self) -> Option<(usize, Relay)> {
        self.relay_out.pop_front()
    }

    /// Opens a shard of `room`, whose other parts are on `workers` (its
    /// home among them).
    pub(crate) fn open_shard(&mut self, room: RoomId, workers: Vec<usize>) -> Result<(), SfuError> {
        if self.rooms.contains_key(&room) {
            return Err(SfuError::RoomExists(room));
        }
        let mut r = Room::new();
        r.home = false;
        r.shards = workers.into_iter().filter(|w| *w != self.cfg.worker).collect();
        self.rooms.insert(room, r);
        tracing::info!(%room, shards = ?self.rooms[&room].shards, "room shard opened");
        Ok(())
    }

    /// Worker `worker` opened a shard of `room`: it gets every track
    /// published here (and, from the home, the room's settings).
    pub(crate) fn add_shard(&mut self, room: RoomId, worker: usize) -> Result<(), SfuError> {
        let r = self.rooms.get_mut(&room).ok_or(SfuError::RoomNotFound(room))?;
        if worker == self.cfg.worker || r.shards.contains(&worker) {
            return Ok(());
        }
        r.shards.push(worker);
        if r.home {
            let (featured, always_heard) = (r.featured.clone(), r.always_heard.clone());
            self.relay_out.push_back((worker, Relay::Settings { room, featured, always_heard }));
        }
        let tracks: Vec<(PeerKey, usize)> = r.tracks.values().copied().collect();
        for (pk, ui) in tracks {
            self.relay_published(room, pk, ui, Some(worker));
        }
        Ok(())
    }

    /// How many of the room's peers are on its other workers (the control
    /// plane says so before each peer joins here).
    pub(crate) fn set_peers_elsewhere(&mut self, room: RoomId, peers: usize) {
        if let Some(r) = self.rooms.get_mut(&room) {
            r.elsewhere = peers;
        }
    }

    /// Tells the room's other shards (or only `to`) of up track `ui` of
    /// `pk`, if it is published here.
    pub(crate) fn relay_published(&mut self, room: RoomId, pk: PeerKey, ui: usize, to: Option<usize>) {
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref).filter(|p| p.origin.is_none()) else {
            return;
        };
        let Some(up) = p.up.get(ui).and_then(Option::as_ref) else { return };
        let shards = match (to, self.rooms.get(&room)) {
            (Some(w), _) => vec![w],
            (None, Some(r)) => r.shards.clone(),
            (None, None) => return,
        };
        for w in shards {
            let message = Relay::Published {
                room,
                from: self.cfg.worker,
                publisher: p.id,
                track: up.id,
                kind: up.kind,
                layers: held_layers(&up.layers),
            };
            self.relay_out.push_back((w, message));
        }
    }

    /// Queues a `message()` for each of the room's other shards.
    fn relay_to_shards(&mut self, room: RoomId, mut message: impl FnMut() -> Relay) {
        let Some(r) = self.rooms.get(&room) else { return };
        for &w in &r.shards {
            self.relay_out.push_back((w, message()));
        }
    }

    /// Tells the room's other shards that a track published here ended.
    pub(crate) fn relay_unpublished(&mut self, room: RoomId, track: TrackId) {
        self.relay_to_shards(room, || Relay::Unpublished { room, track });
    }

    /// A packet of a track published here, to each of the room's other shards.
    pub(crate) fn relay_media(
        &mut self,
        room: RoomId,
        track: TrackId,
        codec: (CodecSpec, bool),
        spatial: u8,
        packet: &RtpPacket,
    ) {
        let before = self.relay_out.len();
        // (The payload is shared: a clone is its header and a reference.)
        self.relay_to_shards(room, || Relay::Media { room, track, codec, spatial, packet: packet.clone() });
        self.counters.relayed += (self.relay_out.len() - before) as u64;
    }

    /// A local track's layer states changed: the other shards offer the same.
    pub(crate) fn relay_layers_held(&mut self, pk: PeerKey, ui: usize) {
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref) else { return };
        let Some(up) = p.up.get(ui).and_then(Option::as_ref) else { return };
        let (room, track, layers) = (p.room, up.id, held_layers(&up.layers));
        self.relay_to_shards(room, || Relay::LayersHeld { room, track, layers: layers.clone() });
    }

    /// A local track was unmuted: the other shards continue it without a gap.
    pub(crate) fn relay_resumed(&mut self, room: RoomId, track: TrackId) {
        self.relay_to_shards(room, || Relay::Resumed { room, track });
    }

    /// A batch of messages from another worker.
    pub(crate) fn handle_relays(&mut self, now: Instant, messages: Vec<Relay>) {
        self.timers.advance(now);
        for m in messages {
            self.handle_relay(now, m);
        }
        self.process_work(now);
        self.finish(now);
    }

    /// A message from another worker (the caller handles the work it causes).
    fn handle_relay(&mut self, now: Instant, message: Relay) {
        match message {
            Relay::Media { room, track, codec, spatial, packet } => {
                if let Some((pk, ui)) = self.remote_track(room, track) {
                    self.forward_relayed(now, pk, ui, codec, spatial, packet);
                }
            }
            Relay::Published { room, from, publisher, track, kind, layers } => {
                self.remote_published(now, room, from, publisher, track, kind, layers);
            }
            Relay::Unpublished { room, track } => {
                if let Some((pk, ui)) = self.remote_track(room, track) {
                    self.unpublish(pk, ui);
                    self.forget_idle_stand_in(pk);
                }
            }
            Relay::Resumed { room, track } => {
                if let Some((pk, ui)) = self.remote_track(room, track) {
                    self.resume_track(pk, ui);
                }
            }
            Relay::KeyframeWanted { room, track, layers, kind } => {
                if let Some((pk, ui)) = self.local_track(room, track) {
                    if let Some(up) = self.peer_mut(pk).and_then(|p| p.up[ui].as_mut()) {
                        // (0 asks for every layer, whatever else was asked.)
                        up.keyframe_layers = if layers == 0 { 0 } else { up.keyframe_layers | layers };
                    }
                    self.request_keyframe(now, pk, ui, kind);
                }
            }
            Relay::LayerUse { room, from, track, wanted } => {
                if let Some((pk, ui)) = self.local_track(room, track) {
                    if let Some(up) = self.peer_mut(pk).and_then(|p| p.up[ui].as_mut()) {
                        up.remote_wants.retain(|(w, ..)| *w != from);
                        up.remote_wants.push((from, wanted, now));
                    }
                }
            }
            Relay::LayersHeld { room, track, layers } => {
                if let Some((pk, ui)) = self.remote_track(room, track) {
                    if let Some(up) = self.peer_mut(pk).and_then(|p| p.up[ui].as_mut()) {
                        apply_held(now, up, &layers);
                    }
                }
            }
            Relay::Settings { room, featured, always_heard } => {
                let Some(r) = self.rooms.get_mut(&room) else { return };
                r.always_heard = always_heard;
                if r.featured != featured {
                    r.featured = featured;
                    for pk in r.members.clone() {
                        self.reallocate(now, pk);
                    }
                }
            }
        }
    }

    /// The layers of a remote publisher's track that this shard's
    /// subscribers forward or switch to, for its worker (with each
    /// allocation pass).
    pub(crate) fn relay_layer_use(&mut self, pk: PeerKey, ui: usize, wanted: u8) {
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref) else { return };
        let (Some(origin), Some(up)) = (p.origin, p.up.get(ui).and_then(Option::as_ref)) else { return };
        let message = Relay::LayerUse { room: p.room, from: self.cfg.worker, track: up.id, wanted };
        self.relay_out.push_back((origin, message));
    }

    /// The layers other shards want of a local track (as they said lately).
    pub(crate) fn remote_layer_wants(up: &mut UpTrack, now: Instant) -> u8 {
        up.remote_wants.retain(|(_, _, at)| now.saturating_duration_since(*at) < LAYER_USE_VALID);
        up.remote_wants.iter().fold(0, |bits, (_, w, _)| bits | w)
    }

    #[allow(clippy::too_many_arguments)]
    fn remote_published(
        &mut self,
        now: Instant,
        room: RoomId,
        from: usize,
        publisher: PeerId,
        track: TrackId,
        kind: TrackKind,
        layers: Vec<HeldLayer>,
    ) {
        let Some(r) = self.rooms.get(&room) else { return }; // closed meanwhile
        if r.tracks.contains_key(&track) {
            return;
        }
        let pk = match r.remote.get(&publisher) {
            Some(pk) => *pk,
            None => {
                let pk = self.insert_peer(Peer::remote(publisher, room, from, now));
                self.rooms.get_mut(&room).expect("checked").remote.insert(publisher, pk);
                pk
            }
        };
        let interval = self.cfg.keyframe_interval;
        let Some(p) = self.peer_mut(pk) else { return };
        let mut up = UpTrack::new(track, Mid::from("relay"), kind, interval);
        apply_held(now, &mut up, &layers);
        let ui = p.insert_up(up);
        self.rooms.get_mut(&room).expect("checked").tracks.insert(track, (pk, ui));
        tracing::debug!(%room, %publisher, %track, from, "remote track");
        self.offer_track(room, pk, track, kind);
    }

    /// A stand-in with no track left goes.
    fn forget_idle_stand_in(&mut self, pk: PeerKey) {
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref) else { return };
        if p.origin.is_none() || p.up.iter().any(Option::is_some) {
            return;
        }
        let (room, id) = (p.room, p.id);
        if let Some(r) = self.rooms.get_mut(&room) {
            r.remote.remove(&id);
        }
        self.drop_peer_silently(pk);
    }

    /// Removes the stand-ins of a room that closes here.
    pub(crate) fn forget_stand_ins(&mut self, room: RoomId) {
        let keys: Vec<PeerKey> = self
            .rooms
            .get_mut(&room)
            .map(|r| r.remote.drain().map(|(_, pk)| pk).collect())
            .unwrap_or_default();
        for pk in keys {
            self.drop_peer_silently(pk);
        }
    }

    fn remote_track(&self, room: RoomId, track: TrackId) -> Option<(PeerKey, usize)> {
        let at = *self.rooms.get(&room)?.tracks.get(&track)?;
        self.peers.get(at.0)?.as_ref()?.origin.is_some().then_some(at)
    }

    fn local_track(&self, room: RoomId, track: TrackId) -> Option<(PeerKey, usize)> {
        let at = *self.rooms.get(&room)?.tracks.get(&track)?;
        self.peers.get(at.0)?.as_ref()?.origin.is_none().then_some(at)
    }
}

/// A remote track's layers as its publisher's worker holds them.
fn apply_held(now: Instant, up: &mut UpTrack, layers: &[HeldLayer]) {
    for h in layers {
        match up.layers.iter_mut().find(|l| l.spatial == h.spatial) {
            Some(l) => {
                l.stopped = h.stopped;
                l.held = h.held;
            }
            None => up.layers.push(LayerIn {
                ssrc: h.ssrc,
                spatial: h.spatial,
                temporal: Default::default(),
                max_seq: None,
                stopped: h.stopped,
                held: h.held,
                last_wanted: Some(now),
            }),
        }
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
