//! ICE-TCP (RFC 6544, passive) on a media worker: one TCP listener next to
//! the UDP socket, RFC 4571 framing (a 16-bit length before each datagram),
//! for venues whose firewall drops UDP.
//!
//! Every connection is bounded: a frame longer than the engine's largest
//! datagram closes it, as does a first frame that belongs to no peer
//! (garbage, a port scan), a connection that completes no frame within
//! [`FIRST_FRAME_TIMEOUT`] (slowloris) or stays silent for [`IDLE_TIMEOUT`]
//! (browsers check consent every few seconds). What waits to be written is
//! capped at [`MAX_PENDING`]: media for a peer whose TCP window is full is
//! dropped, as the UDP path drops it when the socket buffer is full, and
//! the worker never blocks. At most `max_connections` are held; more are
//! closed as they come.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::core::MAX_DATAGRAM;

/// A new connection must deliver a whole first frame within this.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no frame for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes waiting to be written to one connection.
pub const MAX_PENDING: usize = 256 * 1024;

/// Tokens from this one up are connections (below: the worker's own).
pub const FIRST_TOKEN: usize = 16;

/// Counters of the ICE-TCP side (published with the worker's).
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpCounters {
    /// Connections open now.
    pub open: u64,
    /// Connections accepted in all.
    pub accepted: u64,
    /// Connections refused at once (over the cap).
    pub refused: u64,
    /// Connections closed for misbehaving (bad frames, timeouts).
    pub dropped: u64,
    /// Frames not written because the connection's backlog was full.
    pub send_overflows: u64,
}

struct Conn {
    stream: TcpStream,
    remote: SocketAddr,
    /// The connection's own local address (the listener may be bound to
    /// an unspecified address; str0m matches frames to its candidates by it).
    local: SocketAddr,
    /// Bytes read and not yet a whole frame.
    inbox: Vec<u8>,
    /// Bytes to write, from `sent` on.
    outbox: Vec<u8>,
    sent: usize,
    opened: Instant,
    last_frame: Option<Instant>,
}

pub(crate) struct TcpMedia {
    listener: TcpListener,
    pub local: SocketAddr,
    conns: Vec<Option<Conn>>,
    by_remote: HashMap<SocketAddr, usize>,
    max_connections: usize,
    pub counters: TcpCounters,
    next_sweep: Instant,
}

/// What a read of one connection produced: the frames, then whether to close.
type Frames = Vec<Vec<u8>>;

impl TcpMedia {
    pub fn new(
        listener: std::net::TcpListener,
        max_connections: usize,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let mut listener = TcpListener::from_std(listener);
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(Self {
            listener,
            local,
            conns: Vec::new(),
            by_remote: HashMap::new(),
            max_connections,
            counters: TcpCounters::default(),
            next_sweep: Instant::now(),
        })
    }

    /// Accepts every waiting connection (closing those over the cap).
    pub fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, remote)) => {
                    if self.by_remote.len() >= self.max_connections {
                        self.counters.refused += 1;
                        continue; // dropped: closed
                    }
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(self.local);
                    let slot = self.conns.iter().position(Option::is_none).unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    let token = Token(FIRST_TOKEN + slot);
                    if registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_err()
                    {
                        continue;
                    }
                    self.conns[slot] = Some(Conn {
                        stream,
                        remote,
                        local,
                        inbox: Vec::new(),
                        outbox: Vec::new(),
                        sent: 0,
                        opened: now,
                        last_frame: None,
                    });
                    self.by_remote.insert(remote, slot);
                    self.counters.accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and the like: try again on the next readiness.
                    tracing::warn!(error = %e, "ice-tcp accept failed");
                    break;
                }
            }
        }
        self.counters.open = self.by_remote.len() as u64;
    }

    /// Reads what connection `token` has; calls `deliver(remote, local,
    /// frame)` for each whole frame, which says whether it belongs to a peer.
    pub fn readable(
        &mut self,
        token: Token,
        registry: &Registry,
        now: Instant,
        mut deliver: impl FnMut(SocketAddr, SocketAddr, &[u8]) -> bool,
    ) {
        let Some(slot) = token.0.checked_sub(FIRST_TOKEN) else { return };
        let (remote, frames, close) = match self.conns.get_mut(slot).and_then(Option::as_mut) {
            Some(c) => {
                let (frames, end) = read_frames(c);
                ((c.remote, c.local), frames, end)
            }
            None => return,
        };
        // A client that hangs up is not misbehaving; a bad frame is.
        let mut misbehaved = close == End::Bad;
        let mut close = close != End::Open;
        for frame in &frames {
            let first = self.conns[slot].as_ref().is_some_and(|c| c.last_frame.is_none());
            let ours = deliver(remote.0, remote.1, frame);
            if first && !ours {
                close = true; // not a client of ours: garbage or a scan
                misbehaved = true;
                break;
            }
            if let Some(c) = self.conns[slot].as_mut() {
                c.last_frame = Some(now);
            }
        }
        if close {
            self.close(slot, registry, misbehaved);
        }
    }

    /// Connection `token` can take more: write what waits.
    pub fn writable(&mut self, token: Token, registry: &Registry) {
        let Some(slot) = token.0.checked_sub(FIRST_TOKEN) else { return };
        let failed = match self.conns.get_mut(slot).and_then(Option::as_mut) {
            Some(c) => write_out(c).is_err(),
            None => return,
        };
        if failed {
            self.close(slot, registry, false);
        }
    }

    /// Sends one datagram to `remote` as a frame; false if there is no such
    /// connection or its backlog is full.
    pub fn send(&mut self, remote: SocketAddr, datagram: &[u8]) -> bool {
        let Some(&slot) = self.by_remote.get(&remote) else { return false };
        let Some(c) = self.conns[slot].as_mut() else { return false };
        let Ok(len) = u16::try_from(datagram.len()) else { return false };
        if c.outbox.len() - c.sent + datagram.len() + 2 > MAX_PENDING {
            self.counters.send_overflows += 1;
            return false;
        }
        if c.sent > MAX_PENDING / 2 {
            c.outbox.drain(..c.sent); // what was written goes; the rest moves up
            c.sent = 0;
        }
        c.outbox.extend_from_slice(&len.to_be_bytes());
        c.outbox.extend_from_slice(datagram);
        // Closing on a failed write waits for the next readiness event.
        let _ = write_out(c);
        true
    }

    /// Closes connections that never spoke, or stopped; at most once a second.
    pub fn sweep(&mut self, registry: &Registry, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + Duration::from_secs(1);
        let stale: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                let late = match c.last_frame {
                    None => now.saturating_duration_since(c.opened) > FIRST_FRAME_TIMEOUT,
                    Some(t) => now.saturating_duration_since(t) > IDLE_TIMEOUT,
                };
                late.then_some(i)
            })
            .collect();
        for slot in stale {
            self.close(slot, registry, true);
        }
    }

    fn close(&mut self, slot: usize, registry: &Registry, misbehaved: bool) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = registry.deregister(&mut c.stream);
            self.by_remote.remove(&c.remote);
            if misbehaved {
                self.counters.dropped += 1;
            }
            tracing::debug!(remote = %c.remote, misbehaved, "ice-tcp connection closed");
        }
        self.counters.open = self.by_remote.len() as u64;
    }
}

/// How a read left a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still open.
    Open,
    /// The client closed it, or it failed.
    Closed,
    /// A frame longer than any datagram (or empty): close it.
    Bad,
}

/// Reads until the socket would block; returns the whole frames and how
/// the connection stands.
fn read_frames(c: &mut Conn) -> (Frames, End) {
    let mut frames = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return (frames, End::Closed),
            Ok(n) => {
                c.inbox.extend_from_slice(&buf[..n]);
                let mut at = 0;
                while c.inbox.len() - at >= 2 {
                    let len = usize::from(u16::from_be_bytes([c.inbox[at], c.inbox[at + 1]]));
                    if len == 0 || len > MAX_DATAGRAM {
                        return (frames, End::Bad);
                    }
                    if c.inbox.len() - at - 2 < len {
                        break;
                    }
                    frames.push(c.inbox[at + 2..at + 2 + len].to_vec());
                    at += 2 + len;
                }
                c.inbox.drain(..at);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (frames, End::Open),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (frames, End::Closed),
        }
    }
}

/// Writes what waits until the socket would block.
fn write_out(c: &mut Conn) -> io::Result<()> {
    while c.sent < c.outbox.len() {
        match c.stream.write(&c.outbox[c.sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.outbox.clear();
    c.sent = 0;
    Ok(())
}
