//! A UDP relay between one client and the server that drops a share of the
//! client's RTP packets (seeded, repeatable): an impaired uplink.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;

/// A running relay.
pub struct Relay {
    /// Where the client should send (stands in for the server).
    pub client_side: SocketAddr,
    /// RTP packets dropped so far.
    pub dropped: Arc<AtomicU64>,
    healed: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// From now on the link loses nothing (so the last losses are followed by
    /// packets that reveal them, as on a real link that keeps carrying media).
    pub fn heal(&self) {
        self.healed.store(true, Ordering::Relaxed);
    }

    /// Relays between a client and `server`, dropping `loss` (0..1) of the
    /// client's RTP packets (not RTCP, STUN or DTLS).
    pub async fn start(server: SocketAddr, loss: f64, seed: u64) -> std::io::Result<Relay> {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        let client_side = a.local_addr()?;
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let healed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_healed = healed.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 2048];
            let mut buf2 = vec![0u8; 2048];
            let mut x = seed.max(1);
            loop {
                tokio::select! {
                    r = a.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { return };
                        client = Some(from);
                        let data = &buf[..n];
                        let is_rtp = n > 12 && (data[0] >> 6) == 2 && !(192..=223).contains(&data[1]);
                        if is_rtp && !is_healed.load(Ordering::Relaxed) {
                            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                            if (x % 10_000) as f64 / 10_000.0 < loss {
                                counter.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                        let _ = b.send_to(data, server).await;
                    }
                    r = b.recv_from(&mut buf2) => {
                        let Ok((n, _)) = r else { return };
                        if let Some(c) = client {
                            let _ = a.send_to(&buf2[..n], c).await;
                        }
                    }
                }
            }
        });
        Ok(Relay { client_side, dropped, healed, task })
    }
}
