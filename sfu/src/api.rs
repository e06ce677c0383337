//! The typed door between the control plane and the media plane.
//!
//! [`Sfu::start`] binds one UDP socket per worker and starts the worker
//! threads; it returns the [`SfuHandle`] (cheap to clone, async methods) and
//! the stream of [`SfuEvent`]s. A room is opened on the worker with the
//! fewest rooms (its home), which takes its first `spread_after` peers;
//! later peers go to the worker with the fewest peers, which opens a shard
//! of the room (ADR 0018). Commands about a peer go to its worker, commands
//! about the room to every worker that holds a part of it.
//!
//! Events about a peer follow the reply to the command that caused them, so
//! a caller that sends the reply (an SDP answer) before handling the next
//! events for that peer never sends an offer ahead of an answer.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use huiyi_config::SfuConfig;
use tokio::sync::{mpsc, oneshot};

use crate::core::events::{SfuError, SfuEvent};
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::tap::{Tap, TapKind};
use crate::core::{EngineConfig, EngineCounters};
use crate::net::{spawn, Neighbours, TcpCounters, TcpListen, WorkerLink};
use crate::placement::Placement;

pub(crate) use crate::command::Command;
use crate::command::Reply;

/// The running media plane. Dropping it without [`Sfu::shutdown`] also stops the workers.
pub struct Sfu {
    handle: SfuHandle,
}

/// Events from every worker, in order per worker.
pub type SfuEvents = mpsc::UnboundedReceiver<SfuEvent>;

struct Shared {
    workers: Vec<WorkerLink>,
    /// (Shared with the workers, which free a departed peer's place.)
    placement: Arc<Mutex<Placement>>,
    /// Peers a room takes on its home worker before it spreads (0: never).
    spread_after: usize,
}

/// A cloneable handle to command the media plane.
#[derive(Clone)]
pub struct SfuHandle {
    shared: Arc<Shared>,
}

impl Sfu {
    /// Binds the worker sockets and starts the workers.
    pub fn start(config: &SfuConfig) -> std::io::Result<(Sfu, SfuEvents)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut workers = Vec::new();
        let advertised = config.candidate_ips();
        // Every worker's door, for the others to relay a large room's packets.
        let relay = Arc::new(std::sync::OnceLock::new());
        let placement = Arc::new(Mutex::new(Placement::default()));
        let gone = placement.clone();
        let on_left: crate::net::PeerGone = Arc::new(move |peer| {
            if let Ok(mut p) = gone.lock() {
                p.forget_peer(peer);
            }
        });
        for index in 0..config.worker_count() {
            let addr = SocketAddr::new(config.bind_address, config.port_of_worker(index));
            let socket = UdpSocket::bind(addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind media socket {addr}: {e}"))
            })?;
            let cfg = EngineConfig {
                candidates: Vec::new(),
                tcp_candidates: Vec::new(),
                keyframe_interval: Duration::from_millis(config.keyframe_min_interval_ms),
                max_peers: config.max_peers_per_worker,
                stats_interval: Duration::from_secs(5),
                max_tracks_per_peer: config.max_tracks_per_peer,
                max_track_bytes_per_sec: config.max_track_kbps * 1000 / 8,
                bwe_initial: (config.bwe_initial_kbps > 0).then(|| config.bwe_initial_kbps * 1000),
                bwe_max_room_peers: config.bwe_max_room_peers,
                audio_top_n: config.audio_top_n,
                audio_top_n_min_peers: config.audio_top_n_min_peers,
                voice_lines: config.audio_voice_lines,
                worker: index,
                workers: config.worker_count(),
            };
            let tcp = if config.ice_tcp { Some(bind_tcp(config, index, &socket)?) } else { None };
            let neighbours = Neighbours { relay: relay.clone(), on_left: on_left.clone() };
            workers.push(spawn(index, socket, tcp, cfg, &advertised, tx.clone(), neighbours)?);
        }
        let relays = workers.iter().map(WorkerLink::relay_link).collect();
        if relay.set(relays).is_err() {
            unreachable!("set once, here");
        }
        let shared = Shared { workers, placement, spread_after: config.spread_after };
        let handle = SfuHandle { shared: Arc::new(shared) };
        Ok((Sfu { handle }, rx))
    }

    /// A handle for the control plane.
    pub fn handle(&self) -> SfuHandle {
        self.handle.clone()
    }

    /// Closes every peer (they get a DTLS close) and joins the worker threads.
    pub fn shutdown(self) {
        self.handle.stop_workers();
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        self.handle.stop_workers();
    }
}

impl SfuHandle {
    fn stop_workers(&self) {
        for w in &self.shared.workers {
            w.send(Command::Shutdown);
        }
        for w in &self.shared.workers {
            let thread = w.thread.lock().expect("thread lock poisoned").take();
            if let Some(thread) = thread {
                if thread.join().is_err() {
                    tracing::error!("a media worker thread panicked");
                }
            }
        }
    }

    /// The UDP addresses the workers are bound to.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.workers.iter().map(|w| w.local).collect()
    }

    /// The ICE-TCP addresses the workers listen on (none with `ice_tcp` off).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.shared.workers.iter().filter_map(|w| w.tcp_local).collect()
    }

    /// Connected peers over ICE-TCP and over UDP (TURN-relayed ones come
    /// over UDP from the relay), summed over all workers.
    pub fn peers_by_transport(&self) -> (u64, u64) {
        self.shared.workers.iter().fold((0, 0), |(t, u), w| {
            let c = &w.counters;
            (
                t + c.peers_tcp.load(std::sync::atomic::Ordering::Relaxed),
                u + c.peers_udp.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// ICE-TCP counters summed over all workers.
    pub fn tcp_counters(&self) -> TcpCounters {
        let mut sum = TcpCounters::default();
        for w in &self.shared.workers {
            let c = w.counters.tcp();
            sum.open += c.open;
            sum.accepted += c.accepted;
            sum.refused += c.refused;
            sum.dropped += c.dropped;
            sum.send_overflows += c.send_overflows;
        }
        sum
    }

    /// Counters summed over all workers.
    pub fn counters(&self) -> EngineCounters {
        let mut sum = EngineCounters::default();
        for w in &self.shared.workers {
            let c = w.counters.snapshot();
            sum.datagrams_in += c.datagrams_in;
            sum.datagrams_out += c.datagrams_out;
            sum.datagrams_segmented += c.datagrams_segmented;
            sum.dropped_unroutable += c.dropped_unroutable;
            sum.dropped_malformed += c.dropped_malformed;
            sum.dropped_rejected += c.dropped_rejected;
            sum.forwarded += c.forwarded;
            sum.peer_failures += c.peer_failures;
            sum.layer_switches += c.layer_switches;
            sum.frame_rate_changes += c.frame_rate_changes;
            sum.packets_thinned += c.packets_thinned;
            sum.videos_paused += c.videos_paused;
            sum.estimator_restarts += c.estimator_restarts;
            sum.audio_unselected += c.audio_unselected;
            sum.relayed += c.relayed;
            sum.sent_directly += c.sent_directly;
            sum.sent_paced += c.sent_paced;
            sum.timeout_passes += c.timeout_passes;
        }
        sum
    }

    /// Peers on each worker (a large meeting spreads over them, ADR 0018).
    pub fn peers_per_worker(&self) -> Vec<u64> {
        let peers = |w: &WorkerLink| w.counters.peers.load(std::sync::atomic::Ordering::Relaxed);
        self.shared.workers.iter().map(peers).collect()
    }

    /// Opens a room on the least busy worker.
    pub async fn create_room(&self, room: RoomId) -> Result<(), SfuError> {
        let workers = self.shared.workers.len();
        let worker = self.placement().open_room(room, workers)?;
        let result = self.call(worker, |reply| Command::CreateRoom { room, reply }).await;
        if result.is_err() {
            self.forget(room);
        }
        result
    }

    /// Closes a room (every part of it) and removes its peers.
    pub async fn close_room(&self, room: RoomId) -> Result<(), SfuError> {
        let result = self.call_every_part(room, |reply| Command::CloseRoom { room, reply }).await;
        self.forget(room);
        result
    }

    /// Adds a peer to a room from its SDP offer; returns the SDP answer.
    pub async fn add_peer(&self, room: RoomId, peer: PeerId, offer: String) -> Result<String, SfuError> {
        let worker = self.place(room, peer)?;
        let result =
            self.call(worker, |reply| Command::AddPeer { room, peer, offer, may_publish: true, reply }).await;
        self.unplace_failed(peer, &result);
        result
    }

    /// Adds a peer that only receives (an observer, 列席): whatever its SDP
    /// negotiates, nothing it sends is published or forwarded.
    pub async fn add_receiver(&self, room: RoomId, peer: PeerId, offer: String) -> Result<String, SfuError> {
        let worker = self.place(room, peer)?;
        let result = self
            .call(worker, |reply| Command::AddPeer { room, peer, offer, may_publish: false, reply })
            .await;
        self.unplace_failed(peer, &result);
        result
    }

    /// Adds a WHEP viewer from its offer (receive-only lines); the answer.
    pub async fn add_viewer(&self, room: RoomId, peer: PeerId, offer: String) -> Result<String, SfuError> {
        let worker = self.place(room, peer)?;
        let result = self.call(worker, |reply| Command::AddViewer { room, peer, offer, reply }).await;
        self.unplace_failed(peer, &result);
        result
    }

    /// Binds viewer `peer`'s audio or video line to `track` (`None`: nothing).
    pub async fn bind_viewer(
        &self,
        room: RoomId,
        peer: PeerId,
        kind: TrackKind,
        track: Option<TrackId>,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::BindViewer { peer, kind, track, reply }).await
    }

    /// Applies a new offer from the client; returns the answer.
    pub async fn renegotiate(&self, room: RoomId, peer: PeerId, offer: String) -> Result<String, SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::Renegotiate { peer, offer, reply }).await
    }

    /// Applies the client's answer to the server's offer `offer_id`.
    pub async fn accept_answer(
        &self,
        room: RoomId,
        peer: PeerId,
        offer_id: u64,
        answer: String,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::AcceptAnswer { peer, offer_id, answer, reply }).await
    }

    /// Removes a peer; its tracks end for the others.
    pub async fn remove_peer(&self, room: RoomId, peer: PeerId) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        let result = self.call(worker, |reply| Command::RemovePeer { peer, reply }).await;
        self.placement().forget_peer(peer);
        result
    }

    /// Mutes or unmutes a published track at the server: while muted, none
    /// of its packets reach any subscriber.
    pub async fn set_muted(
        &self,
        room: RoomId,
        peer: PeerId,
        track: TrackId,
        muted: bool,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::SetMuted { peer, track, muted, reply }).await
    }

    /// Audio-only mode for a subscriber on a weak link: no video is sent to it.
    pub async fn set_receive_video(&self, room: RoomId, peer: PeerId, receive: bool) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::SetReceiveVideo { peer, receive, reply }).await
    }

    /// Broadcast mode: only video from `sources` is sent to `peer` (`None`: all).
    pub async fn set_video_sources(
        &self,
        room: RoomId,
        peer: PeerId,
        sources: Option<Vec<PeerId>>,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::SetVideoSources { peer, sources, reply }).await
    }

    /// The publishers whose video comes first for everyone in `room` (the
    /// floor holder, the broadcast source, the spotlight, in that order).
    pub async fn set_featured(&self, room: RoomId, featured: Vec<PeerId>) -> Result<(), SfuError> {
        self.call_every_part(room, |reply| Command::SetFeatured { room, featured: featured.clone(), reply })
            .await
    }

    /// Publishers of `room` heard under audio top-N whatever the others say
    /// (the chair; the featured ones are heard anyway).
    pub async fn set_always_heard(&self, room: RoomId, peers: Vec<PeerId>) -> Result<(), SfuError> {
        self.call_every_part(room, |reply| Command::SetAlwaysHeard { room, peers: peers.clone(), reply })
            .await
    }

    /// What `peer` shows of each video: the highest simulcast layer worth
    /// sending for its tile, or `None` for a video it does not show.
    pub async fn set_tile_limits(
        &self,
        room: RoomId,
        peer: PeerId,
        limits: Vec<(TrackId, Option<u8>)>,
    ) -> Result<(), SfuError> {
        let worker = self.worker_of_peer(room, peer)?;
        self.call(worker, |reply| Command::SetTileLimits { peer, limits, reply }).await
    }

    /// Starts (`Some`) or stops `room`'s recording or live feed (`kind`): a
    /// copy of each published packet goes to `tap` (see [`crate::core::tap`]).
    pub async fn set_tap(&self, room: RoomId, kind: TapKind, tap: Option<Tap>) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::SetTap { room, kind, tap, reply }).await
    }

    /// Asks the publisher of `track` for a keyframe on every layer (a
    /// recorder that lost packets needs a fresh picture).
    pub async fn keyframe_for_recording(&self, room: RoomId, track: TrackId) -> Result<(), SfuError> {
        let worker = self.worker_of(room)?;
        self.call(worker, |reply| Command::RecordingKeyframe { room, track, reply }).await
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.shared.placement.lock().expect("placement lock poisoned")
    }

    /// The room's home worker.
    fn worker_of(&self, room: RoomId) -> Result<usize, SfuError> {
        self.placement().home(room)
    }

    /// Every worker with a part of the room, its home first.
    fn workers_of(&self, room: RoomId) -> Result<Vec<usize>, SfuError> {
        self.placement().workers_of(room)
    }

    /// The worker a peer of `room` lives on.
    fn worker_of_peer(&self, room: RoomId, peer: PeerId) -> Result<usize, SfuError> {
        self.placement().worker_of_peer(room, peer)
    }

    /// The worker a joining peer lives on ([`Placement::place`]); a new
    /// shard of the room is opened there first, and the workers holding the
    /// others told of it, before the peer's own command (in order, under
    /// the lock).
    fn place(&self, room: RoomId, peer: PeerId) -> Result<usize, SfuError> {
        let workers = self.shared.workers.len();
        let mut placement = self.placement();
        let placed = placement.place(room, peer, workers, self.shared.spread_after)?;
        let worker = placed.worker;
        if let Some(all) = placed.new_shard {
            let link = self.shared.workers.get(worker).ok_or(SfuError::WorkerGone)?;
            link.send(Command::OpenShard { room, workers: all.clone() });
            for w in all.into_iter().filter(|w| *w != worker) {
                self.shared.workers[w].send(Command::AddShard { room, worker });
            }
            tracing::info!(%room, worker, "a large room spreads to another worker");
        }
        if placement.workers_of(room)?.len() > 1 {
            let link = self.shared.workers.get(worker).ok_or(SfuError::WorkerGone)?;
            link.send(Command::PeersElsewhere { room, peers: placed.elsewhere });
        }
        Ok(worker)
    }

    /// A peer that could not join is not counted where it was placed.
    fn unplace_failed<T>(&self, peer: PeerId, result: &Result<T, SfuError>) {
        if matches!(result, Err(e) if !matches!(e, SfuError::PeerExists(_))) {
            self.placement().forget_peer(peer);
        }
    }

    fn forget(&self, room: RoomId) {
        self.placement().forget_room(room);
    }

    /// A command to every worker with a part of `room`; the home's answer.
    async fn call_every_part(
        &self,
        room: RoomId,
        make: impl Fn(Reply<()>) -> Command,
    ) -> Result<(), SfuError> {
        let mut result = Ok(());
        for (i, worker) in self.workers_of(room)?.into_iter().enumerate() {
            let r = self.call(worker, &make).await;
            if i == 0 {
                result = r;
            }
        }
        result
    }

    async fn call<T>(&self, worker: usize, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, SfuError> {
        let (tx, rx) = oneshot::channel();
        let link = self.shared.workers.get(worker).ok_or(SfuError::WorkerGone)?;
        if !link.send(make(tx)) {
            return Err(SfuError::WorkerGone);
        }
        rx.await.map_err(|_| SfuError::WorkerGone)?
    }
}

/// Worker `index`'s ICE-TCP listener: on `tcp_port + index`, or on its UDP
/// socket's port number. With the UDP port chosen by the system (tests),
/// a TCP port of that number that is taken falls back to any free one.
fn bind_tcp(config: &SfuConfig, index: usize, udp: &UdpSocket) -> std::io::Result<TcpListen> {
    let udp_port = udp.local_addr()?.port();
    let addr = SocketAddr::new(config.bind_address, config.tcp_port_of_worker(index, udp_port));
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(_) if config.udp_port == 0 && config.tcp_port == 0 => {
            TcpListener::bind(SocketAddr::new(config.bind_address, 0))?
        }
        Err(e) => {
            return Err(std::io::Error::new(e.kind(), format!("cannot bind ICE-TCP listener {addr}: {e}")));
        }
    };
    Ok(TcpListen { listener, max_connections: config.max_tcp_connections })
}
