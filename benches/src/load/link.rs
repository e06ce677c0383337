//! A weak line in user space: what a participant behind a township's link
//! sees. Datagrams enter a FIFO drained at the link's rate (a token bucket
//! of one packet: each leaves when the line has carried the one before),
//! the queue holds a bounded number of packets (tail drop), each may be lost
//! at random, and each arrives half the round-trip time after it leaves the
//! queue. The participant applies one such link to what it receives and one
//! to what it sends, so the server's estimator sees the line through the
//! transport-wide feedback the participant keeps sending.
//!
//! Like `huiyi_sfu::sim::Link` (whose enqueue is internal to that crate),
//! but on the real clock and with an optional rate.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_sfu::sim::Lossy;
use serde::Serialize;

/// Packets the link's queue holds by default.
pub const QUEUE_PACKETS: usize = 20;

/// The shape of a weak line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkSpec {
    /// Rate each way, bit/s; `None`: not limited.
    pub rate_bps: Option<u64>,
    /// Probability (0..1) that a datagram is lost, each way.
    pub loss: f64,
    /// Round-trip time the line adds (half each way).
    #[serde(serialize_with = "ser_ms")]
    pub rtt: Duration,
    /// Packets the queue holds before it drops (each way).
    pub queue_packets: usize,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl LinkSpec {
    /// Checks the ranges a run accepts.
    pub fn validate(&self) -> Result<(), String> {
        if self.rate_bps.is_some_and(|r| !(8_000..=1_000_000_000).contains(&r)) {
            return Err("--link-kbps must be between 8 and 1000000".into());
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err("--loss must be between 0 and 100 (%)".into());
        }
        if self.rtt > Duration::from_secs(5) {
            return Err("--rtt must be at most 5000 ms".into());
        }
        if self.queue_packets == 0 {
            return Err("the link's queue must hold at least one packet".into());
        }
        Ok(())
    }
}

/// One direction of a line, with the datagrams on it.
#[derive(Debug)]
pub struct Link {
    spec: LinkSpec,
    /// When each queued datagram has left the queue.
    departures: VecDeque<Instant>,
    /// Datagrams on their way: arrival, the other end, bytes.
    in_flight: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
    rng: Lossy,
    /// Datagrams dropped because the queue was full.
    pub dropped_queue: u64,
    /// Datagrams lost at random.
    pub dropped_loss: u64,
}

impl Link {
    /// A direction of `spec`, its losses drawn from `seed`.
    pub fn new(spec: LinkSpec, seed: u64) -> Self {
        Self {
            spec,
            departures: VecDeque::new(),
            in_flight: VecDeque::new(),
            rng: Lossy::new(seed),
            dropped_queue: 0,
            dropped_loss: 0,
        }
    }

    /// A datagram enters the line at `now`; false if it was dropped.
    pub fn push(&mut self, now: Instant, addr: SocketAddr, bytes: &[u8]) -> bool {
        while self.departures.front().is_some_and(|d| *d <= now) {
            self.departures.pop_front();
        }
        if self.rng.lose(self.spec.loss) {
            self.dropped_loss += 1;
            return false;
        }
        let departure = match self.spec.rate_bps {
            Some(rate) => {
                if self.departures.len() >= self.spec.queue_packets {
                    self.dropped_queue += 1;
                    return false;
                }
                let start = self.departures.back().copied().filter(|b| *b > now).unwrap_or(now);
                let serialise = Duration::from_nanos(bytes.len() as u64 * 8 * 1_000_000_000 / rate.max(1));
                self.departures.push_back(start + serialise);
                start + serialise
            }
            None => now,
        };
        self.in_flight.push_back((departure + self.spec.rtt / 2, addr, bytes.to_vec()));
        true
    }

    /// When the next datagram arrives at the far end.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _, _)| *at)
    }

    /// The next datagram that has arrived by `now`. Arrivals are in order:
    /// departures are, and the delay is the same for all.
    pub fn pop_arrived(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if self.next_arrival()? > now {
            return None;
        }
        self.in_flight.pop_front().map(|(_, addr, bytes)| (addr, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().expect("address")
    }

    fn spec(rate_kbps: Option<u64>, loss: f64, rtt_ms: u64) -> LinkSpec {
        LinkSpec {
            rate_bps: rate_kbps.map(|k| k * 1000),
            loss,
            rtt: Duration::from_millis(rtt_ms),
            queue_packets: QUEUE_PACKETS,
        }
    }

    #[test]
    fn a_packet_arrives_after_its_serialisation_and_half_the_rtt() {
        let t0 = Instant::now();
        let mut link = Link::new(spec(Some(800), 0.0, 80), 1);
        assert!(link.push(t0, addr(), &[0; 1000])); // 8 000 bits at 800 kbit/s: 10 ms
        assert!(link.push(t0, addr(), &[0; 1000])); // behind the first: 20 ms
        assert_eq!(link.next_arrival(), Some(t0 + Duration::from_millis(50)));
        assert!(link.pop_arrived(t0 + Duration::from_millis(49)).is_none());
        assert!(link.pop_arrived(t0 + Duration::from_millis(50)).is_some());
        assert!(link.pop_arrived(t0 + Duration::from_millis(59)).is_none());
        assert!(link.pop_arrived(t0 + Duration::from_millis(60)).is_some());
        assert!(link.next_arrival().is_none());
    }

    #[test]
    fn a_full_queue_drops_the_newcomer() {
        let t0 = Instant::now();
        let mut link = Link::new(spec(Some(100), 0.0, 0), 1);
        let sent = (0..30).filter(|_| link.push(t0, addr(), &[0; 1000])).count();
        assert_eq!(sent, QUEUE_PACKETS);
        assert_eq!(link.dropped_queue, 10);
        // Once the line has carried one packet (80 ms), there is room for one more.
        assert!(link.push(t0 + Duration::from_millis(80), addr(), &[0; 1000]));
        assert!(!link.push(t0 + Duration::from_millis(80), addr(), &[0; 1000]));
    }

    #[test]
    fn the_rate_holds_over_a_second_of_overload() {
        let t0 = Instant::now();
        let mut link = Link::new(spec(Some(300), 0.0, 0), 1);
        let mut delivered = 0usize;
        // 1 000-byte packets every 5 ms: 1.6 Mbit/s offered to 300 kbit/s.
        for ms in 0..1000u64 {
            let now = t0 + Duration::from_millis(ms);
            if ms % 5 == 0 {
                link.push(now, addr(), &[0; 1000]);
            }
            while let Some((_, b)) = link.pop_arrived(now) {
                delivered += b.len();
            }
        }
        let kbps = delivered * 8 / 1000;
        assert!((280..=300).contains(&kbps), "{kbps} kbit/s through a 300 kbit/s line");
    }

    #[test]
    fn loss_is_close_to_its_probability_and_unlimited_rate_only_delays() {
        let t0 = Instant::now();
        let mut link = Link::new(spec(None, 0.05, 40), 7);
        let kept = (0..10_000).filter(|_| link.push(t0, addr(), &[0; 1200])).count();
        assert!((9_400..=9_600).contains(&kept), "{kept} of 10 000 kept at 5 % loss");
        assert_eq!(link.dropped_queue, 0, "no queue without a rate");
        assert!(link.pop_arrived(t0 + Duration::from_millis(19)).is_none());
        assert!(link.pop_arrived(t0 + Duration::from_millis(20)).is_some());
    }
}
