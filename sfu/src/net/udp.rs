//! A UDP socket with batched receive and send: receive through quinn-udp
//! (recvmmsg, GRO where the kernel has it); send a run of equal datagrams to
//! one destination as one segmented send (GSO, through quinn-udp) and the
//! rest through `sendmmsg` (rustix), one system call for up to `SEND_BATCH`
//! datagrams to any destinations.
//! Non-blocking; readiness comes from mio.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

/// Datagrams per `sendmmsg` call (the kernel takes up to 1 024; 64 keeps
/// one call's work and its header vectors short).
pub(crate) const SEND_BATCH: usize = 64;

/// Most datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS`
/// was 64 before Linux 6.1).
const GSO_MAX_SEGMENTS: usize = 64;

/// Most bytes in one segmented send: under a UDP datagram's 65 507-byte
/// payload limit.
const GSO_MAX_BYTES: usize = 65_000;

/// Receive buffer per datagram: larger than any datagram the engine accepts,
/// so an oversized one is seen (and dropped) rather than truncated silently.
const BUF_SIZE: usize = 2048;

/// A kernel receive time older than this is not trusted (a wall clock
/// stepped back, or a stall long enough that precision no longer matters).
const MAX_ARRIVAL_AGE: Duration = Duration::from_secs(1);

/// When a datagram reached the socket, on the monotonic clock: the kernel's
/// receive time (`SO_TIMESTAMPNS`, which quinn-udp turns on, on the wall
/// clock) carried over through one reading of both clocks, `now` and `wall`,
/// taken after the datagram was read; `now` without a usable time.
///
/// The arrival times of a publisher's packets are what the server's
/// transport-wide feedback reports, and the publisher's delay-based
/// estimator reads their spacing as the path's queueing. Stamped when the
/// worker got round to reading them, a worker kept off the CPU for 30 ms
/// by a loaded machine looks like a 30 ms queue on the path, and every
/// publisher lowers its bitrate (ADR 0014, "Arrival times from the kernel").
pub(crate) fn arrival(received: Option<Duration>, now: Instant, wall: Duration) -> Instant {
    received
        .and_then(|t| wall.checked_sub(t))
        .filter(|age| *age <= MAX_ARRIVAL_AGE)
        .and_then(|age| now.checked_sub(age))
        .unwrap_or(now)
}

pub struct BatchSocket {
    pub socket: mio::net::UdpSocket,
    state: UdpSocketState,
    bufs: Vec<[u8; BUF_SIZE]>,
    meta: Vec<RecvMeta>,
    pub local: SocketAddr,
    /// `send_batch`'s destinations and (empty) control buffers, kept for
    /// their capacity.
    #[cfg(target_os = "linux")]
    addrs: Vec<rustix::net::SocketAddrAny>,
    #[cfg(target_os = "linux")]
    controls: Vec<rustix::net::SendAncillaryBuffer<'static, 'static, 'static>>,
    /// A run of datagrams to one destination, joined for a segmented send.
    #[cfg(target_os = "linux")]
    run_buf: Vec<u8>,
    /// Datagrams sent in segmented sends.
    pub segmented: u64,
    /// Most datagrams in one segmented send (1: none).
    max_segments: usize,
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
            #[cfg(target_os = "linux")]
            addrs: Vec::with_capacity(SEND_BATCH),
            #[cfg(target_os = "linux")]
            controls: (0..SEND_BATCH).map(|_| rustix::net::SendAncillaryBuffer::default()).collect(),
            #[cfg(target_os = "linux")]
            run_buf: Vec::new(),
            segmented: 0,
            max_segments: GSO_MAX_SEGMENTS,
        })
    }

    /// Sends at most `n` datagrams in one segmented send (1: none, every
    /// datagram on its own); the benchmarks compare the two.
    pub fn set_max_segments(&mut self, n: usize) {
        self.max_segments = n.clamp(1, GSO_MAX_SEGMENTS);
    }

    /// Receives one batch; calls `f(source, destination, datagram, arrival)`
    /// for each, `arrival` being when the kernel received it (see
    /// [`arrival`]). Returns how many were received (0 when nothing is
    /// waiting).
    pub fn recv_batch(
        &mut self,
        mut f: impl FnMut(SocketAddr, SocketAddr, &[u8], Instant),
    ) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity(BATCH_SIZE);
        slices.extend(self.bufs.iter_mut().map(|b| IoSliceMut::new(&mut b[..])));
        let n = match self.state.recv((&self.socket).into(), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        // One reading of both clocks for the batch, after it was received.
        let (now, wall) = (Instant::now(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
        for (meta, buf) in self.meta.iter().zip(self.bufs.iter()).take(n) {
            let destination = meta.dst_ip.map_or(self.local, |ip| SocketAddr::new(ip, self.local.port()));
            let at = arrival(meta.timestamp, now, wall);
            // With GRO one buffer may hold several datagrams of `stride` bytes.
            let stride = meta.stride.max(1);
            for chunk in buf[..meta.len].chunks(stride) {
                f(meta.addr, destination, chunk, at);
            }
        }
        Ok(n)
    }

    /// Sends one datagram. A full send buffer or an unreachable destination
    /// drops it (media is loss-tolerant, and NACK/RTX repairs video); the
    /// caller counts the failures.
    ///
    /// (Not through quinn-udp, which takes any `EINVAL` or `EIO`, such as a
    /// datagram to port 0, as the kernel refusing segmentation and turns
    /// segmented sends off for the socket for good.)
    #[cfg(target_os = "linux")]
    pub fn send(&self, destination: SocketAddr, contents: &[u8]) -> bool {
        let to = rustix::net::SocketAddrAny::from(mapped(self.local, destination));
        match rustix::net::sendto(&self.socket, contents, rustix::net::SendFlags::empty(), &to) {
            Ok(_) => true,
            Err(e) => {
                tracing::trace!(%destination, error = %e, "udp send failed");
                false
            }
        }
    }

    /// Sends one datagram (see the Linux version).
    #[cfg(not(target_os = "linux"))]
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

    /// Sends every datagram of `batch`, in order.
    /// Returns how many were not sent (a full send buffer or a destination
    /// the kernel refuses drops them; media is loss-tolerant).
    ///
    /// A run of datagrams to one destination, all of one size but the last
    /// (which may be shorter), goes out as one segmented send (GSO,
    /// `UDP_SEGMENT`): the packets of a video frame that one subscriber gets
    /// in a pass. The kernel walks its UDP and IP path once for the run and
    /// cuts it into datagrams at the end (or the network card does), so the
    /// receiver sees the same datagrams. The rest go `SEND_BATCH` to a
    /// `sendmmsg` call (one alone through `send`). Allocates a few short
    /// vectors per call; a run is copied into one buffer the socket keeps.
    #[cfg(target_os = "linux")]
    pub fn send_batch<'a>(&mut self, batch: impl Iterator<Item = (SocketAddr, &'a [u8])>) -> usize {
        let max_segments = self.state.max_gso_segments().min(self.max_segments);
        let mut failed = 0;
        // (No allocation for a flush of runs only: `singles` grows when used.)
        let mut singles: Vec<(SocketAddr, &'a [u8])> = Vec::new();
        let mut run: Vec<&'a [u8]> = Vec::new();
        let mut batch = batch.peekable();
        while let Some((destination, first)) = batch.next() {
            run.clear();
            run.push(first);
            let (size, mut total) = (first.len(), first.len());
            while run.len() < max_segments {
                let Some(&(next_destination, next)) = batch.peek() else { break };
                if next_destination != destination
                    || next.is_empty()
                    || next.len() > size
                    || total + next.len() > GSO_MAX_BYTES
                {
                    break;
                }
                batch.next();
                run.push(next);
                total += next.len();
                if next.len() < size {
                    break; // only the last segment may be shorter
                }
            }
            if run.len() == 1 {
                singles.push((destination, first));
                if singles.len() == SEND_BATCH {
                    failed += self.send_each(&singles);
                    singles.clear();
                }
                continue;
            }
            // Everything in the engine's order: what waits goes first (an
            // audio packet is not held back behind other peers' frames).
            if !singles.is_empty() {
                failed += self.send_each(&singles);
                singles.clear();
            }
            failed += self.send_run(destination, size, &run);
        }
        if !singles.is_empty() {
            failed += self.send_each(&singles);
        }
        failed
    }

    /// One segmented send of `run` (datagrams of `size` bytes, the last
    /// possibly shorter) to `destination`. Returns how many were not sent.
    /// A kernel or card that refuses segmentation turns it off for the
    /// socket (quinn-udp), and the run goes out datagram by datagram.
    #[cfg(target_os = "linux")]
    fn send_run(&mut self, destination: SocketAddr, size: usize, run: &[&[u8]]) -> usize {
        self.run_buf.clear();
        for datagram in run {
            self.run_buf.extend_from_slice(datagram);
        }
        let t = Transmit {
            destination,
            ecn: None,
            contents: &self.run_buf,
            segment_size: Some(size),
            src_ip: None,
        };
        match self.state.try_send((&self.socket).into(), &t) {
            Ok(()) => {
                self.segmented += run.len() as u64;
                0
            }
            Err(e) if e.kind() != io::ErrorKind::WouldBlock && self.state.max_gso_segments() == 1 => {
                tracing::info!(error = %e, "a segmented send was refused (EINVAL or EIO); this socket sends datagram by datagram from now on");
                let each: Vec<(SocketAddr, &[u8])> = run.iter().map(|d| (destination, *d)).collect();
                self.send_each(&each)
            }
            Err(e) => {
                tracing::trace!(%destination, error = %e, "udp send failed");
                run.len()
            }
        }
    }

    /// Sends each datagram of `batch`, `SEND_BATCH` to a `sendmmsg` call
    /// (one alone through `send`). Returns how many were not sent: a full
    /// send buffer drops the rest of the batch, a datagram the kernel
    /// refuses (an unreachable destination) is skipped.
    #[cfg(target_os = "linux")]
    fn send_each(&mut self, batch: &[(SocketAddr, &[u8])]) -> usize {
        use rustix::net::{sendmmsg, MMsgHdr, SendFlags, SocketAddrAny};
        if let [(destination, contents)] = batch {
            return usize::from(!self.send(*destination, contents));
        }
        let mut failed = 0;
        for (k, chunk) in batch.chunks(SEND_BATCH).enumerate() {
            self.addrs.clear();
            let local = self.local;
            self.addrs.extend(chunk.iter().map(|(d, _)| SocketAddrAny::from(mapped(local, *d))));
            let iovs: Vec<[io::IoSlice<'_>; 1]> = chunk.iter().map(|(_, c)| [io::IoSlice::new(c)]).collect();
            let mut msgs: Vec<MMsgHdr<'_>> = self
                .addrs
                .iter()
                .zip(iovs.iter())
                .zip(self.controls.iter_mut())
                .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, &iov[..], control))
                .collect();
            let mut start = 0;
            while start < msgs.len() {
                match sendmmsg(&self.socket, &mut msgs[start..], SendFlags::empty()) {
                    Ok(n) if n > 0 => start += n,
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => {
                        let dropped = batch.len() - k * SEND_BATCH - start;
                        tracing::trace!(dropped, "udp send buffer full");
                        return failed + dropped;
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => {
                        tracing::trace!(error = %e, "udp send failed");
                        failed += 1;
                        start += 1;
                    }
                }
            }
        }
        failed
    }

    /// Sends every datagram of `batch`, one at a time.
    #[cfg(not(target_os = "linux"))]
    pub fn send_batch<'a>(&mut self, batch: impl Iterator<Item = (SocketAddr, &'a [u8])>) -> usize {
        batch.filter(|(d, c)| !self.send(*d, c)).count()
    }
}

/// `destination` as a socket bound to `local` takes it: an IPv4 address as
/// IPv4-mapped IPv6 on an IPv6 socket.
#[cfg(target_os = "linux")]
fn mapped(local: SocketAddr, destination: SocketAddr) -> SocketAddr {
    match (local, destination) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => destination,
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use super::*;

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        s
    }

    #[test]
    fn a_batch_reaches_every_destination_in_order_and_a_refused_one_is_skipped() {
        let mut sender = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
        let to = [receiver(), receiver(), receiver()];
        let addrs: Vec<SocketAddr> = to.iter().map(|s| s.local_addr().expect("addr")).collect();
        // 150 datagrams (more than two system calls' worth), round robin,
        // with one to port 0 in the middle, which the kernel refuses.
        let mut batch: Vec<(SocketAddr, Vec<u8>)> =
            (0..150u16).map(|i| (addrs[usize::from(i) % 3], i.to_be_bytes().to_vec())).collect();
        batch.insert(70, ("127.0.0.1:0".parse().expect("addr"), vec![9; 10]));
        let failed = sender.send_batch(batch.iter().map(|(d, c)| (*d, &c[..])));
        assert_eq!(failed, 1, "only the datagram to port 0 fails");
        for (k, socket) in to.iter().enumerate() {
            let mut buf = [0u8; 64];
            for i in (0..150u16).filter(|i| usize::from(*i) % 3 == k) {
                let (n, from) = socket.recv_from(&mut buf).expect("datagram");
                assert_eq!(from, sender.local);
                assert_eq!(&buf[..n], &i.to_be_bytes(), "receiver {k}: in order");
            }
        }
    }

    /// Every datagram `socket` has waiting, in order.
    fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = socket.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    }

    #[test]
    fn a_frames_packets_to_one_subscriber_go_out_as_one_segmented_send_and_arrive_as_they_were() {
        let mut sender = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
        let (a, b) = (receiver(), receiver());
        let (to_a, to_b) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
        let packet =
            |tag: u8, len: usize| -> Vec<u8> { (0..len).map(|i| tag.wrapping_add(i as u8)).collect() };
        // A: an audio packet, then a frame of four equal packets and a
        // shorter last one, then one larger (which starts a new run);
        // B: a frame of three, in between.
        let batch: Vec<(SocketAddr, Vec<u8>)> = vec![
            (to_a, packet(1, 120)),
            (to_b, packet(2, 1100)),
            (to_b, packet(3, 1100)),
            (to_b, packet(4, 1100)),
            (to_a, packet(5, 1000)),
            (to_a, packet(6, 1000)),
            (to_a, packet(7, 1000)),
            (to_a, packet(8, 1000)),
            (to_a, packet(9, 640)),
            (to_a, packet(10, 1200)),
        ];
        assert_eq!(sender.send_batch(batch.iter().map(|(d, c)| (*d, &c[..]))), 0);
        let expect = |to: SocketAddr| -> Vec<Vec<u8>> {
            batch.iter().filter(|(d, _)| *d == to).map(|(_, c)| c.clone()).collect()
        };
        assert_eq!(drain(&a), expect(to_a), "A: every datagram, whole and in order");
        assert_eq!(drain(&b), expect(to_b), "B: every datagram, whole and in order");
        if sender.state.max_gso_segments() > 1 {
            assert_eq!(sender.segmented, 8, "A's five and B's three went out segmented");
        }
    }

    #[test]
    fn an_ipv6_socket_reaches_ipv4_destinations() {
        let Ok(v6) = UdpSocket::bind("[::]:0") else { return }; // (no IPv6 here)
        let mut sender = BatchSocket::new(v6).expect("socket");
        let to = receiver();
        let dest = to.local_addr().expect("addr");
        // Three of growing sizes (no run: one `sendmmsg` call, IPv4-mapped
        // addresses), then a run of two equal ones (a segmented send).
        let batch = [&b"a"[..], b"bb", b"ccc", b"dddd", b"eeee"];
        assert_eq!(sender.send_batch(batch.iter().map(|c| (dest, *c))), 0);
        assert_eq!(drain(&to), batch.map(<[u8]>::to_vec));
    }

    #[test]
    fn a_datagram_read_late_keeps_the_time_the_kernel_received_it() {
        let mut socket = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // (The kernel starts stamping datagrams shortly after the first
        // socket asks for it; until then it stamps them when read.)
        std::thread::sleep(Duration::from_millis(100));
        let sent = Instant::now();
        sender.send_to(b"early", socket.local).expect("send");
        // The worker gets round to reading it 80 ms later.
        std::thread::sleep(Duration::from_millis(80));
        let read = Instant::now();
        let mut got = Vec::new();
        while got.is_empty() {
            socket.recv_batch(|_, _, data, at| got.push((data.to_vec(), at))).expect("receive");
        }
        let (data, at) = &got[0];
        assert_eq!(data, b"early");
        assert!(*at >= sent - Duration::from_millis(5), "not before it was sent");
        assert!(
            *at < read - Duration::from_millis(60),
            "stamped when it arrived, not when read: {:?} early",
            read - *at
        );
    }

    #[test]
    fn an_arrival_time_that_cannot_be_trusted_is_the_time_of_reading() {
        let now = Instant::now();
        let wall = Duration::from_secs(1_800_000_000);
        let ms = Duration::from_millis;
        assert_eq!(arrival(Some(wall - ms(30)), now, wall), now - ms(30));
        assert_eq!(arrival(None, now, wall), now, "no kernel time");
        assert_eq!(
            arrival(Some(wall + ms(5)), now, wall),
            now,
            "from the future: the wall clock stepped back"
        );
        assert_eq!(arrival(Some(wall - ms(1500)), now, wall), now, "older than a second");
    }
}
