//! The floor: what this machine's kernel and cipher alone cost per
//! delivered packet, measured in the same run as a load test (issue 15), so
//! that "µs per delivered packet" can be read against the machine of the
//! moment rather than against a figure from another day.
//!
//! A plain loop seals each 1 100-byte payload with AES-256-GCM (aws-lc,
//! through str0m's crypto provider: the SRTP profile browsers and Huiyi
//! agree on) and sends it
//! to one of 150 sockets on loopback, round robin, as a fan-out does; another
//! thread reads the sockets. Only the sending thread's CPU time is counted
//! (`CLOCK_THREAD_CPUTIME_ID`); on loopback it includes the kernel's delivery
//! into the receiving socket, as the server's does. The sender waits after
//! every 750 datagrams until the reader has caught up, so nothing is lost
//! in a full receive buffer (the wait costs no CPU).
//!
//! Three ways of sending, each its own figure:
//! - `sendmsg`: one system call per datagram (issue 15's floor);
//! - `sendmmsg`: 64 datagrams to a call (issue 15's other floor);
//! - `segmented`: a five-packet frame to each socket as one segmented send
//!   (GSO), as Huiyi's worker sends a frame's packets to one subscriber.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huiyi_sfu::net::BatchSocket;
use serde::Serialize;

/// Receiving sockets (county-plenary's listeners).
pub const RECEIVERS: usize = 150;
/// Payload per datagram before the cipher's tag (a video packet).
pub const PAYLOAD: usize = 1100;
/// Datagrams per frame in the segmented way.
const FRAME: usize = 5;
/// Datagrams sent between waits for the reader.
const BURST: usize = RECEIVERS * FRAME;

/// CPU per delivered datagram, µs, each way of sending.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Floor {
    pub sendmsg_us: f64,
    pub sendmmsg_us: f64,
    pub segmented_us: f64,
}

impl Floor {
    /// Issue 15's floor: the cheaper of one datagram per system call and
    /// 64 to a call (sending each datagram on its own, as any SFU can).
    pub fn per_datagram_us(&self) -> f64 {
        self.sendmsg_us.min(self.sendmmsg_us)
    }
}

#[derive(Clone, Copy)]
enum Way {
    Sendmsg,
    Sendmmsg,
    Segmented,
}

/// Measures the three ways, `each` of sending time apiece.
pub fn measure(each: Duration) -> io::Result<Floor> {
    let receivers: Vec<UdpSocket> = (0..RECEIVERS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<io::Result<_>>()?;
    let addrs: Vec<SocketAddr> = receivers.iter().map(UdpSocket::local_addr).collect::<io::Result<_>>()?;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || read_all(&receivers, &received, &stop))
    };
    let mut floor = Floor { sendmsg_us: 0.0, sendmmsg_us: 0.0, segmented_us: 0.0 };
    let result = (|| {
        floor.sendmsg_us = send_for(Way::Sendmsg, &addrs, &received, each)?;
        floor.sendmmsg_us = send_for(Way::Sendmmsg, &addrs, &received, each)?;
        floor.segmented_us = send_for(Way::Segmented, &addrs, &received, each)?;
        Ok(floor)
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    result
}

/// Reads every socket until told to stop, counting datagrams.
fn read_all(receivers: &[UdpSocket], received: &AtomicU64, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let mut n = 0;
        for r in receivers {
            while r.recv(&mut buf).is_ok() {
                n += 1;
            }
        }
        received.fetch_add(n, Ordering::Relaxed);
        if n == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// Sends one way for `each` of the sending thread's CPU time; returns µs of
/// that CPU per delivered datagram.
fn send_for(way: Way, addrs: &[SocketAddr], received: &AtomicU64, each: Duration) -> io::Result<f64> {
    let mut socket = BatchSocket::new(UdpSocket::bind("127.0.0.1:0")?)?;
    socket.set_max_segments(match way {
        Way::Segmented => FRAME,
        _ => 1,
    });
    let provider = str0m::crypto::from_feature_flags();
    let mut cipher = provider.srtp_provider.aead_aes_256_gcm().create_cipher([7; 32], true);
    let header = [0x80u8, 96, 0x12, 0x34, 0, 0, 0x56, 0x78, 0x11, 0x22, 0x33, 0x44];
    let payload = vec![0xab_u8; PAYLOAD];
    let mut sealed: Vec<Vec<u8>> = vec![vec![0u8; PAYLOAD + 16]; BURST];
    let mut iv = [0u8; 12];
    let mut seq = 0u32;
    let (start_received, start_cpu) = (received.load(Ordering::Relaxed), thread_cpu());
    let mut sent = 0u64;
    while thread_cpu() - start_cpu < each {
        // One burst: every receiver gets FRAME datagrams, in the order the
        // way sends them (round robin, or a frame per receiver).
        let order = |k: usize| match way {
            Way::Segmented => addrs[k / FRAME],
            _ => addrs[k % RECEIVERS],
        };
        match way {
            Way::Sendmsg => {
                for k in 0..BURST {
                    seal(&mut *cipher, &mut iv, &mut seq, &header, &payload, &mut sealed[0]);
                    if !socket.send(order(k), &sealed[0]) {
                        return Err(io::Error::other("a loopback send failed"));
                    }
                }
            }
            Way::Sendmmsg | Way::Segmented => {
                for out in sealed.iter_mut() {
                    seal(&mut *cipher, &mut iv, &mut seq, &header, &payload, out);
                }
                let failed = socket.send_batch(sealed.iter().enumerate().map(|(k, d)| (order(k), &d[..])));
                if failed > 0 {
                    return Err(io::Error::other("a loopback send failed"));
                }
            }
        }
        sent += BURST as u64;
        // Wait (without CPU) until the reader has it all, so that no
        // datagram is lost to a full receive buffer.
        let deadline = Instant::now() + Duration::from_secs(2);
        while received.load(Ordering::Relaxed) - start_received < sent {
            if Instant::now() > deadline {
                return Err(io::Error::other("the reader fell behind for 2 s"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let cpu = thread_cpu() - start_cpu;
    Ok(cpu.as_secs_f64() * 1e6 / sent as f64)
}

fn seal(
    cipher: &mut dyn str0m::crypto::AeadAes256GcmCipher,
    iv: &mut [u8; 12],
    seq: &mut u32,
    header: &[u8],
    payload: &[u8],
    out: &mut [u8],
) {
    *seq = seq.wrapping_add(1);
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    let _ = cipher.encrypt(iv, header, payload, out);
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_reaches_a_positive_figure_with_nothing_lost() {
        let f = measure(Duration::from_millis(50)).expect("measured");
        for v in [f.sendmsg_us, f.sendmmsg_us, f.segmented_us] {
            assert!(v > 0.0 && v < 1_000.0, "{f:?}");
        }
        assert_eq!(f.per_datagram_us(), f.sendmsg_us.min(f.sendmmsg_us));
    }
}
