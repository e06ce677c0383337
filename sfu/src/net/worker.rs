//! One media worker thread.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc::UnboundedSender;

use crate::api::Command;
use crate::core::events::SfuEvent;
use crate::core::{Engine, EngineConfig, EngineCounters};
use crate::net::udp::BatchSocket;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Upper bound on one wait, so a lost wake-up can never stall a worker.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Counters a worker publishes after each loop turn (read by metrics and tests).
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub dropped_unroutable: AtomicU64,
    pub dropped_malformed: AtomicU64,
    pub dropped_rejected: AtomicU64,
    pub forwarded: AtomicU64,
    pub peer_failures: AtomicU64,
    pub layer_switches: AtomicU64,
    pub videos_paused: AtomicU64,
    pub send_failures: AtomicU64,
    pub peers: AtomicU64,
    pub rooms: AtomicU64,
}

impl WorkerCounters {
    fn store(&self, c: &EngineCounters, peers: usize, rooms: usize) {
        self.datagrams_in.store(c.datagrams_in, Ordering::Relaxed);
        self.datagrams_out.store(c.datagrams_out, Ordering::Relaxed);
        self.dropped_unroutable.store(c.dropped_unroutable, Ordering::Relaxed);
        self.dropped_malformed.store(c.dropped_malformed, Ordering::Relaxed);
        self.dropped_rejected.store(c.dropped_rejected, Ordering::Relaxed);
        self.forwarded.store(c.forwarded, Ordering::Relaxed);
        self.peer_failures.store(c.peer_failures, Ordering::Relaxed);
        self.layer_switches.store(c.layer_switches, Ordering::Relaxed);
        self.videos_paused.store(c.videos_paused, Ordering::Relaxed);
        self.peers.store(peers as u64, Ordering::Relaxed);
        self.rooms.store(rooms as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> EngineCounters {
        EngineCounters {
            datagrams_in: self.datagrams_in.load(Ordering::Relaxed),
            datagrams_out: self.datagrams_out.load(Ordering::Relaxed),
            dropped_unroutable: self.dropped_unroutable.load(Ordering::Relaxed),
            dropped_malformed: self.dropped_malformed.load(Ordering::Relaxed),
            dropped_rejected: self.dropped_rejected.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            peer_failures: self.peer_failures.load(Ordering::Relaxed),
            layer_switches: self.layer_switches.load(Ordering::Relaxed),
            videos_paused: self.videos_paused.load(Ordering::Relaxed),
        }
    }
}

/// What the control plane holds of a running worker.
pub(crate) struct WorkerLink {
    pub commands: crossbeam_channel::Sender<Command>,
    pub waker: Arc<Waker>,
    pub counters: Arc<WorkerCounters>,
    pub local: std::net::SocketAddr,
    pub thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl WorkerLink {
    pub fn send(&self, command: Command) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        self.waker.wake().is_ok()
    }
}

/// Starts worker `index` on `socket`.
pub(crate) fn spawn(
    index: usize,
    socket: std::net::UdpSocket,
    mut cfg: EngineConfig,
    advertised: &[std::net::IpAddr],
    events: UnboundedSender<SfuEvent>,
) -> io::Result<WorkerLink> {
    let mut socket = BatchSocket::new(socket)?;
    let local = socket.local;
    cfg.candidates = advertised.iter().map(|ip| std::net::SocketAddr::new(*ip, local.port())).collect();
    let poll = Poll::new()?;
    poll.registry().register(&mut socket.socket, SOCKET, Interest::READABLE)?;
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
            poll,
            commands: rx,
            events,
            counters: thread_counters,
            sent: 0,
        };
        worker.run();
    })?;
    Ok(WorkerLink { commands: tx, waker, counters, local, thread: std::sync::Mutex::new(Some(thread)) })
}

struct Worker {
    engine: Engine,
    socket: BatchSocket,
    poll: Poll,
    commands: Receiver<Command>,
    events: UnboundedSender<SfuEvent>,
    counters: Arc<WorkerCounters>,
    sent: u64,
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
            self.engine.handle_timeout(Instant::now());
            self.flush();
        }
        self.engine.shutdown(Instant::now());
        self.flush();
        tracing::info!("media worker stopped");
    }

    /// Returns false when the worker must stop.
    fn handle_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(command) => {
                    command.apply(&mut self.engine, Instant::now());
                    // Replies went out first; events caused by the command follow.
                    self.flush();
                }
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    fn receive(&mut self) {
        // Bounded: at most 64 batches before timers and sends get their turn.
        for _ in 0..64 {
            let engine = &mut self.engine;
            let now = Instant::now();
            match self
                .socket
                .recv_batch(|source, destination, data| engine.handle_receive(now, source, destination, data))
            {
                Ok(0) => return,
                Ok(_) => self.flush(),
                Err(e) => {
                    tracing::warn!(error = %e, "udp receive failed");
                    return;
                }
            }
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            if self.socket.send(t.destination, &t.contents) {
                self.sent += 1;
            } else {
                self.counters.send_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        while let Some(e) = self.engine.poll_event() {
            let _ = self.events.send(e);
        }
        let mut c = self.engine.counters();
        c.datagrams_out = self.sent;
        self.counters.store(&c, self.engine.peer_count(), self.engine.room_count());
    }
}
