//! Receiving a datagram with the time the kernel received it
//! (`SO_TIMESTAMPNS`), so a peer's latency is measured to its arrival and
//! not to when the generator's busy thread got to it.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel to stamp each datagram the socket receives.
pub fn enable(socket: &UdpSocket) -> io::Result<()> {
    setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// Room for the stamp.
pub fn space() -> Vec<u8> {
    nix::cmsg_space!(TimeSpec)
}

/// One datagram, if one is waiting: its length, its source and when the
/// kernel received it (µs since the Unix epoch; `None` if unstamped).
/// `WouldBlock` when nothing is waiting.
pub fn recv(
    socket: &UdpSocket,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    socket.try_io(Interest::READABLE, || {
        let mut iov = [IoSliceMut::new(buf)];
        let msg =
            recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::MSG_DONTWAIT)
                .map_err(io::Error::from)?;
        let at = msg.cmsgs().map_err(io::Error::from)?.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(t) => {
                Some(t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            }
            _ => None,
        });
        let from =
            msg.address.as_ref().and_then(std_addr).ok_or_else(|| io::Error::other("no source address"))?;
        Ok((msg.bytes, from, at))
    })
}

fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = a.as_sockaddr_in6()?;
    Some(SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_datagram_comes_with_the_time_the_kernel_received_it() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        enable(&rx).expect("stamps on");
        let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let (mut buf, mut cmsg) = (vec![0; 64], space());
        // The kernel turns its receive stamps on a moment after the first
        // socket asks (until then a datagram is stamped when read): the
        // first tries may be read-time stamps, a later one must not be.
        let mut last = String::new();
        for _ in 0..40 {
            let before = crate::load::peer::wallclock_us();
            tx.send_to(b"hello", rx.local_addr().expect("addr")).await.expect("send");
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            rx.readable().await.expect("readable");
            let (n, from, at) = recv(&rx, &mut buf, &mut cmsg).expect("a datagram");
            let after = crate::load::peer::wallclock_us();
            assert_eq!((&buf[..n], from), (&b"hello"[..], tx.local_addr().expect("addr")));
            let at = at.expect("stamped");
            assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
            // Received on arrival, before the 30 ms the reader slept.
            if at + 25_000 < after {
                let e = recv(&rx, &mut buf, &mut cmsg).expect_err("nothing more");
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                return;
            }
            last = format!("stamped at {at}, read at {after}");
        }
        panic!("never stamped on arrival: {last}");
    }
}
