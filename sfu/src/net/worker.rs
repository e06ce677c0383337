//! One media worker thread.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::{Events, Interest, Poll, Token, Waker};
use str0m::net::Protocol;
use tokio::sync::mpsc::UnboundedSender;

use crate::api::Command;
use crate::core::events::SfuEvent;
use crate::core::relay::Relay;
use crate::core::{Engine, EngineConfig, EngineCounters};
use crate::net::tcp::{TcpCounters, TcpMedia, FIRST_TOKEN};
use crate::net::udp::BatchSocket;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
const LISTENER: Token = Token(2);
/// Upper bound on one wait, so a lost wake-up can never stall a worker.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Counters a worker publishes after each loop turn (read by metrics and tests).
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub datagrams_segmented: AtomicU64,
    pub dropped_unroutable: AtomicU64,
    pub dropped_malformed: AtomicU64,
    pub dropped_rejected: AtomicU64,
    pub forwarded: AtomicU64,
    pub peer_failures: AtomicU64,
    pub layer_switches: AtomicU64,
    pub frame_rate_changes: AtomicU64,
    pub packets_thinned: AtomicU64,
    pub videos_paused: AtomicU64,
    pub estimator_restarts: AtomicU64,
    pub audio_unselected: AtomicU64,
    pub relayed: AtomicU64,
    pub sent_directly: AtomicU64,
    pub sent_paced: AtomicU64,
    pub timeout_passes: AtomicU64,
    pub send_failures: AtomicU64,
    pub peers: AtomicU64,
    pub rooms: AtomicU64,
    pub tcp_open: AtomicU64,
    pub tcp_accepted: AtomicU64,
    pub tcp_refused: AtomicU64,
    pub tcp_dropped: AtomicU64,
    pub tcp_send_overflows: AtomicU64,
    /// Connected peers over ICE-TCP and over UDP (counted once a second).
    pub peers_tcp: AtomicU64,
    pub peers_udp: AtomicU64,
}

impl WorkerCounters {
    fn store(&self, c: &EngineCounters, peers: usize, rooms: usize) {
        self.datagrams_in.store(c.datagrams_in, Ordering::Relaxed);
        self.datagrams_out.store(c.datagrams_out, Ordering::Relaxed);
        self.datagrams_segmented.store(c.datagrams_segmented, Ordering::Relaxed);
        self.dropped_unroutable.store(c.dropped_unroutable, Ordering::Relaxed);
        self.dropped_malformed.store(c.dropped_malformed, Ordering::Relaxed);
        self.dropped_rejected.store(c.dropped_rejected, Ordering::Relaxed);
        self.forwarded.store(c.forwarded, Ordering::Relaxed);
        self.peer_failures.store(c.peer_failures, Ordering::Relaxed);
        self.layer_switches.store(c.layer_switches, Ordering::Relaxed);
        self.frame_rate_changes.store(c.frame_rate_changes, Ordering::Relaxed);
        self.packets_thinned.store(c.packets_thinned, Ordering::Relaxed);
        self.videos_paused.store(c.videos_paused, Ordering::Relaxed);
        self.estimator_restarts.store(c.estimator_restarts, Ordering::Relaxed);
        self.audio_unselected.store(c.audio_unselected, Ordering::Relaxed);
        self.relayed.store(c.relayed, Ordering::Relaxed);
        self.sent_directly.store(c.sent_directly, Ordering::Relaxed);
        self.sent_paced.store(c.sent_paced, Ordering::Relaxed);
        self.timeout_passes.store(c.timeout_passes, Ordering::Relaxed);
        self.peers.store(peers as u64, Ordering::Relaxed);
        self.rooms.store(rooms as u64, Ordering::Relaxed);
    }

    fn store_tcp(&self, t: &TcpCounters) {
        self.tcp_open.store(t.open, Ordering::Relaxed);
        self.tcp_accepted.store(t.accepted, Ordering::Relaxed);
        self.tcp_refused.store(t.refused, Ordering::Relaxed);
        self.tcp_dropped.store(t.dropped, Ordering::Relaxed);
        self.tcp_send_overflows.store(t.send_overflows, Ordering::Relaxed);
    }

    /// The ICE-TCP counters.
    pub fn tcp(&self) -> TcpCounters {
        TcpCounters {
            open: self.tcp_open.load(Ordering::Relaxed),
            accepted: self.tcp_accepted.load(Ordering::Relaxed),
            refused: self.tcp_refused.load(Ordering::Relaxed),
            dropped: self.tcp_dropped.load(Ordering::Relaxed),
            send_overflows: self.tcp_send_overflows.load(Ordering::Relaxed),
        }
    }

    pub fn snapshot(&self) -> EngineCounters {
        EngineCounters {
            datagrams_in: self.datagrams_in.load(Ordering::Relaxed),
            datagrams_out: self.datagrams_out.load(Ordering::Relaxed),
            datagrams_segmented: self.datagrams_segmented.load(Ordering::Relaxed),
            dropped_unroutable: self.dropped_unroutable.load(Ordering::Relaxed),
            dropped_malformed: self.dropped_malformed.load(Ordering::Relaxed),
            dropped_rejected: self.dropped_rejected.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            peer_failures: self.peer_failures.load(Ordering::Relaxed),
            layer_switches: self.layer_switches.load(Ordering::Relaxed),
            frame_rate_changes: self.frame_rate_changes.load(Ordering::Relaxed),
            packets_thinned: self.packets_thinned.load(Ordering::Relaxed),
            videos_paused: self.videos_paused.load(Ordering::Relaxed),
            estimator_restarts: self.estimator_restarts.load(Ordering::Relaxed),
            audio_unselected: self.audio_unselected.load(Ordering::Relaxed),
            relayed: self.relayed.load(Ordering::Relaxed),
            sent_directly: self.sent_directly.load(Ordering::Relaxed),
            sent_paced: self.sent_paced.load(Ordering::Relaxed),
            timeout_passes: self.timeout_passes.load(Ordering::Relaxed),
        }
    }
}

/// What the control plane holds of a running worker.
pub(crate) struct WorkerLink {
    pub commands: crossbeam_channel::Sender<Command>,
    pub waker: Arc<Waker>,
    pub counters: Arc<WorkerCounters>,
    pub local: std::net::SocketAddr,
    /// Its ICE-TCP listener's address, if it listens.
    pub tcp_local: Option<std::net::SocketAddr>,
    pub thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// What another worker needs to hand this one relayed messages.
#[derive(Clone)]
pub(crate) struct RelayLink {
    commands: crossbeam_channel::Sender<Command>,
    waker: Arc<Waker>,
}

/// Every worker's [`RelayLink`], by index (set once all are started).
pub(crate) type RelayLinks = Arc<OnceLock<Vec<RelayLink>>>;

/// Told of each peer that left (its place is free again).
pub(crate) type PeerGone = Arc<dyn Fn(crate::core::ids::PeerId) + Send + Sync>;

/// What a worker shares with the others and the control plane.
#[derive(Clone)]
pub(crate) struct Neighbours {
    pub relay: RelayLinks,
    pub on_left: PeerGone,
}

impl WorkerLink {
    /// Its door for the other workers.
    pub fn relay_link(&self) -> RelayLink {
        RelayLink { commands: self.commands.clone(), waker: self.waker.clone() }
    }

    pub fn send(&self, command: Command) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        self.waker.wake().is_ok()
    }
}

/// Its ICE-TCP listener, if any, and the most connections it holds.
pub(crate) struct TcpListen {
    pub listener: std::net::TcpListener,
    pub max_connections: usize,
}

/// Starts worker `index` on `socket` (and `tcp`, for ICE-TCP).
pub(crate) fn spawn(
    index: usize,
    socket: std::net::UdpSocket,
    tcp: Option<TcpListen>,
    mut cfg: EngineConfig,
    advertised: &[std::net::IpAddr],
    events: UnboundedSender<SfuEvent>,
    Neighbours { relay, on_left }: Neighbours,
) -> io::Result<WorkerLink> {
    let mut socket = BatchSocket::new(socket)?;
    let local = socket.local;
    cfg.candidates = advertised.iter().map(|ip| std::net::SocketAddr::new(*ip, local.port())).collect();
    let poll = Poll::new()?;
    poll.registry().register(&mut socket.socket, SOCKET, Interest::READABLE)?;
    let tcp = match tcp {
        Some(t) => Some(TcpMedia::new(t.listener, t.max_connections, poll.registry(), LISTENER)?),
        None => None,
    };
    if let Some(t) = &tcp {
        cfg.tcp_candidates =
            advertised.iter().map(|ip| std::net::SocketAddr::new(*ip, t.local.port())).collect();
    }
    let tcp_local = tcp.as_ref().map(|t| t.local);
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let counters = Arc::new(WorkerCounters::default());
    let thread_counters = counters.clone();
    let thread = std::thread::Builder::new().name(format!("huiyi-media-{index}")).spawn(move || {
        let span = tracing::info_span!("media_worker", worker = index, %local);
        let _guard = span.enter();
        let mut worker = Worker {
            engine: Engine::new(cfg),
            socket,
            tcp,
            next_transport_count: Instant::now(),
            poll,
            commands: rx,
            events,
            counters: thread_counters,
            sent: 0,
            clock: Instant::now(),
            outgoing: Vec::with_capacity(crate::net::udp::SEND_BATCH),
            grouper: crate::net::group::Grouper::default(),
            relay,
            relaying: Vec::new(),
            on_left,
            backlog: false,
        };
        worker.run();
    })?;
    Ok(WorkerLink {
        commands: tx,
        waker,
        counters,
        local,
        tcp_local,
        thread: std::sync::Mutex::new(Some(thread)),
    })
}

struct Worker {
    engine: Engine,
    socket: BatchSocket,
    tcp: Option<TcpMedia>,
    next_transport_count: Instant,
    poll: Poll,
    commands: Receiver<Command>,
    events: UnboundedSender<SfuEvent>,
    counters: Arc<WorkerCounters>,
    sent: u64,
    /// The latest time the engine was given.
    clock: Instant,
    /// UDP datagrams of this flush, sent together (kept for its capacity).
    outgoing: Vec<str0m::net::Transmit>,
    /// Puts each destination's datagrams of a flush in a row (segmented
    /// sends; direct releases come packet by packet, ADR 0020).
    grouper: crate::net::group::Grouper,
    /// The other workers, for a large room's relayed packets (ADR 0018).
    relay: RelayLinks,
    /// This flush's messages for each of them, sent as one command each.
    relaying: Vec<Vec<Relay>>,
    on_left: PeerGone,
    /// Commands were left for the next turn.
    backlog: bool,
}

impl Worker {
    fn run(&mut self) {
        tracing::info!("media worker started");
        let mut events = Events::with_capacity(8);
        loop {
            let now = Instant::now();
            let wait = self
                .engine
                .poll_timeout()
                .map_or(MAX_WAIT, |t| t.saturating_duration_since(now).min(MAX_WAIT));
            let wait = if self.backlog { Duration::ZERO } else { wait };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "poll failed; media worker stops");
                    return;
                }
            }
            if !self.handle_commands() {
                break;
            }
            self.receive();
            self.tcp_events(&events);
            let now = self.now();
            self.engine.handle_timeout(now);
            self.flush();
        }
        let now = self.now();
        self.engine.shutdown(now);
        self.flush();
        tracing::info!("media worker stopped");
    }

    /// Returns false when the worker must stop.
    /// The time to give the engine now: never before a time it was given.
    fn now(&mut self) -> Instant {
        self.clock = Instant::now().max(self.clock);
        self.clock
    }

    fn handle_commands(&mut self) -> bool {
        // At most what was queued when the turn began: the other workers
        // keep relaying a large room's packets, and the socket and the
        // timers must get their turn (the rest waits for the next one).
        let queued = self.commands.len().max(1);
        for _ in 0..queued {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(command) => {
                    let now = self.now();
                    command.apply(&mut self.engine, now);
                    // Replies went out first; events caused by the command follow.
                    self.flush();
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        self.backlog = !self.commands.is_empty();
        true
    }

    fn receive(&mut self) {
        // Bounded: at most 64 batches before timers and sends get their turn.
        for _ in 0..64 {
            let (engine, clock) = (&mut self.engine, &mut self.clock);
            // Each datagram at the time it arrived (udp.rs, `arrival`), but
            // the engine's time never goes back: one that arrived before
            // the last timeout pass counts as arriving at it.
            match self.socket.recv_batch(|source, destination, data, arrival| {
                *clock = arrival.max(*clock);
                engine.handle_receive(*clock, source, destination, data)
            }) {
                Ok(0) => return,
                Ok(_) => self.flush(),
                Err(e) => {
                    tracing::warn!(error = %e, "udp receive failed");
                    return;
                }
            }
        }
    }

    /// ICE-TCP: new connections, frames in, room to write; stale ones
    /// closed. Once a second, peers counted by transport.
    fn tcp_events(&mut self, events: &Events) {
        let now = self.now();
        if now >= self.next_transport_count {
            self.next_transport_count = now + Duration::from_secs(1);
            let (over_tcp, over_udp) = self.engine.peers_by_transport();
            self.counters.peers_tcp.store(over_tcp as u64, Ordering::Relaxed);
            self.counters.peers_udp.store(over_udp as u64, Ordering::Relaxed);
        }
        let Some(tcp) = self.tcp.as_mut() else { return };
        let registry = self.poll.registry();
        for event in events {
            let token = event.token();
            if token == LISTENER {
                tcp.accept(registry, now);
            } else if token.0 >= FIRST_TOKEN {
                if event.is_writable() {
                    tcp.writable(token, registry);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    let engine = &mut self.engine;
                    tcp.readable(token, registry, now, |remote, local, frame| {
                        engine.handle_receive_on(now, Protocol::Tcp, remote, local, frame)
                    });
                }
            }
        }
        tcp.sweep(registry, now);
        self.counters.store_tcp(&tcp.counters);
        self.flush();
    }

    /// Sends what the engine has to send (UDP datagrams in `sendmmsg`
    /// batches, in the order the engine made them), then hands its events
    /// to the control plane.
    fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            if t.proto == Protocol::Tcp {
                let sent = self.tcp.as_mut().is_some_and(|tcp| tcp.send(t.destination, &t.contents));
                if sent {
                    self.sent += 1;
                } else {
                    self.counters.send_failures.fetch_add(1, Ordering::Relaxed);
                }
                self.engine.recycle(t.contents);
                continue;
            }
            self.outgoing.push(t);
        }
        if !self.outgoing.is_empty() {
            self.grouper.group(&mut self.outgoing, |t| t.destination);
            let failed =
                self.socket.send_batch(self.outgoing.iter().map(|t| (t.destination, &t.contents[..])));
            self.sent += (self.outgoing.len() - failed) as u64;
            if failed > 0 {
                self.counters.send_failures.fetch_add(failed as u64, Ordering::Relaxed);
            }
            for t in self.outgoing.drain(..) {
                self.engine.recycle(t.contents);
            }
        }
        self.relay();
        while let Some(e) = self.engine.poll_event() {
            if let SfuEvent::PeerLeft { peer, .. } = &e {
                (self.on_left)(*peer);
            }
            let _ = self.events.send(e);
        }
        let mut c = self.engine.counters();
        c.datagrams_out = self.sent;
        c.datagrams_segmented = self.socket.segmented;
        self.counters.store(&c, self.engine.peer_count(), self.engine.room_count());
    }

    /// Hands the other workers what the engine relays to them: one
    /// command (and one wake-up) per worker and flush.
    fn relay(&mut self) {
        let Some(links) = self.relay.get() else {
            while self.engine.poll_relay().is_some() {} // (not started yet: nobody to tell)
            return;
        };
        while let Some((to, message)) = self.engine.poll_relay() {
            if to >= self.relaying.len() {
                self.relaying.resize_with(to + 1, Vec::new);
            }
            self.relaying[to].push(message);
        }
        for (to, batch) in self.relaying.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let Some(link) = links.get(to) else {
                batch.clear();
                continue;
            };
            // A worker that stopped has no room left to relay to.
            if link.commands.send(Command::Relay(std::mem::take(batch))).is_ok() {
                let _ = link.waker.wake();
            }
        }
    }
}
