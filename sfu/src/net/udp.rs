//! A UDP socket with batched receive and send, through quinn-udp (recvmmsg,
//! GSO/GRO where the kernel has them). Non-blocking; readiness comes from mio.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

/// Receive buffer per datagram: larger than any datagram the engine accepts,
/// so an oversized one is seen (and dropped) rather than truncated silently.
const BUF_SIZE: usize = 2048;

pub(crate) struct BatchSocket {
    pub socket: mio::net::UdpSocket,
    state: UdpSocketState,
    bufs: Vec<[u8; BUF_SIZE]>,
    meta: Vec<RecvMeta>,
    pub local: SocketAddr,
}

impl BatchSocket {
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let state = UdpSocketState::new((&socket).into())?;
        // Bursts of a keyframe fanned out to 150 subscribers need room.
        let _ = state.set_recv_buffer_size((&socket).into(), 4 << 20);
        let _ = state.set_send_buffer_size((&socket).into(), 4 << 20);
        Ok(Self {
            socket: mio::net::UdpSocket::from_std(socket),
            state,
            bufs: vec![[0u8; BUF_SIZE]; BATCH_SIZE],
            meta: vec![RecvMeta::default(); BATCH_SIZE],
            local,
        })
    }

    /// Receives one batch; calls `f(source, destination, datagram)` for each.
    /// Returns how many were received (0 when nothing is waiting).
    pub fn recv_batch(&mut self, mut f: impl FnMut(SocketAddr, SocketAddr, &[u8])) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity(BATCH_SIZE);
        slices.extend(self.bufs.iter_mut().map(|b| IoSliceMut::new(&mut b[..])));
        let n = match self.state.recv((&self.socket).into(), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        for (meta, buf) in self.meta.iter().zip(self.bufs.iter()).take(n) {
            let destination = meta.dst_ip.map_or(self.local, |ip| SocketAddr::new(ip, self.local.port()));
            // With GRO one buffer may hold several datagrams of `stride` bytes.
            let stride = meta.stride.max(1);
            for chunk in buf[..meta.len].chunks(stride) {
                f(meta.addr, destination, chunk);
            }
        }
        Ok(n)
    }

    /// Sends one datagram. A full send buffer or an unreachable destination
    /// drops it (media is loss-tolerant, and NACK/RTX repairs video); the
    /// caller counts the failures.
    pub fn send(&self, destination: SocketAddr, contents: &[u8]) -> bool {
        let t = Transmit { destination, ecn: None, contents, segment_size: None, src_ip: None };
        match self.state.try_send((&self.socket).into(), &t) {
            Ok(()) => true,
            Err(e) => {
                tracing::trace!(%destination, error = %e, "udp send failed");
                false
            }
        }
    }
}
