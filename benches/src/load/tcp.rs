//! ICE-TCP for a simulated participant: the active side of RFC 6544, one
//! TCP connection to the server's passive candidate, RFC 4571 framing (a
//! 16-bit big-endian length before each datagram) both ways.
//!
//! The participant's `Rtc` gets an active TCP host candidate whose address
//! is the connection's local address, so what arrives on the connection is
//! handed to it as `Protocol::Tcp` from the server's address to that one,
//! one frame at a time (str0m's output must be drained after each input,
//! and one read often brings many frames), and its TCP `Transmit`s are
//! written as frames. Writing never waits: what
//! the socket does not take at once waits in a backlog of at most
//! [`MAX_BACKLOG`] bytes, and a datagram that would pass it is dropped and
//! counted, as a full UDP socket buffer drops it.

use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::{anyhow, Context, Result};
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;

/// Most bytes waiting to be written to the connection.
pub const MAX_BACKLOG: usize = 512 * 1024;

/// Bytes read at most per readiness before the peer's other work gets a turn.
const READ_PER_TURN: usize = 256 * 1024;

/// How a participant's media travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Over its own UDP socket (ICE over UDP host candidates).
    #[default]
    Udp,
    /// Over one ICE-TCP connection to the server's passive candidate.
    Tcp,
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            other => Err(format!("unknown transport {other:?}: udp or tcp")),
        }
    }
}

/// The first passive TCP candidate in an SDP:
/// `a=candidate:<foundation> <component> tcp <priority> <ip> <port> typ host ... tcptype passive`.
pub fn passive_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|line| {
        let fields: Vec<&str> = line.trim().strip_prefix("a=candidate:")?.split_whitespace().collect();
        let tcp = fields.get(2)?.eq_ignore_ascii_case("tcp");
        let passive = fields.windows(2).any(|w| w[0] == "tcptype" && w[1] == "passive");
        if !(tcp && passive) {
            return None;
        }
        let ip: std::net::IpAddr = fields.get(4)?.parse().ok()?;
        let port: u16 = fields.get(5)?.parse().ok()?;
        (port != 0).then_some(SocketAddr::new(ip, port))
    })
}

/// A frame's length said 0 (RFC 4571 carries no empty datagrams), or more
/// than the caller's buffer holds: the stream cannot be trusted after it.
#[derive(Debug, PartialEq, Eq)]
pub struct BadFrame;

/// Bytes read from a stream, taken out a frame at a time.
#[derive(Debug, Default)]
pub struct Inbox {
    bytes: Vec<u8>,
    /// Bytes before this are taken.
    head: usize,
}

impl Inbox {
    /// Appends what was read.
    pub fn push(&mut self, read: &[u8]) {
        if self.head == self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        } else if self.head > 64 * 1024 {
            self.bytes.drain(..self.head);
            self.head = 0;
        }
        self.bytes.extend_from_slice(read);
    }

    /// Copies the next whole frame's datagram into `out`; its length, or
    /// `None` while the frame is incomplete.
    pub fn pop(&mut self, out: &mut [u8]) -> Result<Option<usize>, BadFrame> {
        let rest = &self.bytes[self.head..];
        if rest.len() < 2 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if len == 0 || len > out.len() {
            return Err(BadFrame);
        }
        if rest.len() - 2 < len {
            return Ok(None);
        }
        out[..len].copy_from_slice(&rest[2..2 + len]);
        self.head += 2 + len;
        Ok(Some(len))
    }
}

/// The participant's ICE-TCP connection.
#[derive(Debug)]
pub struct TcpPath {
    stream: TcpStream,
    /// The connection's local address: the active candidate's.
    pub local: SocketAddr,
    /// The server's passive candidate.
    pub remote: SocketAddr,
    /// What was read and not yet handed on.
    pub inbox: Inbox,
    outbox: Vec<u8>,
    /// Bytes of `outbox` already written.
    written: usize,
    /// Datagrams dropped because the backlog was full.
    pub dropped: u64,
}

impl TcpPath {
    /// Connects to `remote` (Nagle off: each datagram goes out as it is written).
    pub async fn connect(remote: SocketAddr) -> Result<TcpPath> {
        let stream = TcpStream::connect(remote).await.with_context(|| format!("ICE-TCP connect {remote}"))?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        Ok(TcpPath {
            stream,
            local,
            remote,
            inbox: Inbox::default(),
            outbox: Vec::new(),
            written: 0,
            dropped: 0,
        })
    }

    /// Waits until the connection has bytes to read (or room to write, if
    /// a backlog waits).
    pub async fn ready(&self) -> io::Result<Ready> {
        let interest = if self.written < self.outbox.len() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.stream.ready(interest).await
    }

    /// Writes what waits if `ready` allows it, then reads what has arrived
    /// into [`TcpPath::inbox`]. An error: the connection is gone.
    pub fn io(&mut self, ready: Ready) -> Result<()> {
        if ready.is_writable() {
            self.flush()?;
        }
        if !(ready.is_readable() || ready.is_read_closed()) {
            return Ok(());
        }
        let mut buf = [0u8; 64 * 1024];
        let mut read = 0;
        while read < READ_PER_TURN {
            match self.stream.try_read(&mut buf) {
                Ok(0) => return Err(anyhow!("the server closed the ICE-TCP connection")),
                Ok(n) => {
                    self.inbox.push(&buf[..n]);
                    read += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes `datagram` as a frame, or queues it; false if it was dropped
    /// (the backlog is full, or it is longer than a frame carries).
    pub fn send(&mut self, datagram: &[u8]) -> Result<bool> {
        let Ok(len) = u16::try_from(datagram.len()) else { return Ok(false) };
        if self.outbox.len() - self.written + datagram.len() + 2 > MAX_BACKLOG {
            self.dropped += 1;
            return Ok(false);
        }
        self.outbox.extend_from_slice(&len.to_be_bytes());
        self.outbox.extend_from_slice(datagram);
        self.flush()?;
        Ok(true)
    }

    /// Writes the backlog until the socket would block.
    fn flush(&mut self) -> Result<()> {
        while self.written < self.outbox.len() {
            match self.stream.try_write(&self.outbox[self.written..]) {
                Ok(0) => return Err(anyhow!("the ICE-TCP connection takes no more")),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.written == self.outbox.len() {
            self.outbox.clear();
            self.written = 0;
        } else if self.written > MAX_BACKLOG / 2 {
            self.outbox.drain(..self.written);
            self.written = 0;
        }
        Ok(())
    }
}

/// Waits for `path`'s readiness; forever without one.
pub async fn ready(path: Option<&TcpPath>) -> io::Result<Ready> {
    match path {
        Some(p) => p.ready().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passive_tcp_candidate_is_found_after_the_udp_one() {
        let sdp = "v=0\r\n\
            a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n\
            a=candidate:2 1 tcp 1671430143 127.0.0.1 9 typ host tcptype active\r\n\
            a=candidate:3 1 tcp 1671430143 127.0.0.1 40001 typ host tcptype passive\r\n";
        assert_eq!(passive_candidate(sdp), Some("127.0.0.1:40001".parse().expect("addr")));
        assert_eq!(passive_candidate("a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"), None);
    }

    #[test]
    fn frames_split_across_reads_come_out_whole() {
        let mut inbox = Inbox::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut out = [0u8; 8];
        let stream = [0, 3, 1, 2, 3, 0, 1, 9, 0, 2, 7];
        for chunk in stream.chunks(4) {
            inbox.push(chunk);
            while let Some(n) = inbox.pop(&mut out).expect("good frames") {
                got.push(out[..n].to_vec());
            }
        }
        assert_eq!(got, vec![vec![1, 2, 3], vec![9]], "the third frame waits for its last byte");
        inbox.push(&[8]);
        assert_eq!(inbox.pop(&mut out), Ok(Some(2)));
        assert_eq!(out[..2], [7, 8]);
        inbox.push(&[0, 0, 1]);
        assert_eq!(inbox.pop(&mut out), Err(BadFrame), "an empty frame");
        let mut other = Inbox::default();
        other.push(&[0, 9]);
        assert_eq!(other.pop(&mut out), Err(BadFrame), "longer than the buffer");
    }

    #[test]
    fn transports_parse() {
        assert_eq!("tcp".parse::<Transport>(), Ok(Transport::Tcp));
        assert_eq!("udp".parse::<Transport>(), Ok(Transport::Udp));
        assert!("quic".parse::<Transport>().is_err());
    }
}
