//! An impaired link towards a simulated client: a rate, a FIFO with a
//! packet limit (tail drop), random loss at enqueue, and a one-way delay —
//! a township line or a phone, on simulated time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Lossy;

/// The link.
#[derive(Debug, Clone)]
pub struct Link {
    /// Bits per second.
    pub rate_bps: u64,
    /// Packets the queue holds.
    pub queue_packets: usize,
    /// One-way delay after the queue.
    pub delay: Duration,
    /// Probability of losing a packet.
    pub loss: f64,
    /// When each queued packet leaves the queue.
    departures: VecDeque<Instant>,
    /// Packets dropped by the queue, and by loss.
    pub dropped_queue: u64,
    /// Packets lost at random.
    pub dropped_loss: u64,
}

impl Link {
    /// A link of `rate_bps`, `queue_packets`, `delay` and `loss`.
    pub fn new(rate_bps: u64, queue_packets: usize, delay: Duration, loss: f64) -> Self {
        Self {
            rate_bps,
            queue_packets,
            delay,
            loss,
            departures: VecDeque::new(),
            dropped_queue: 0,
            dropped_loss: 0,
        }
    }

    /// A packet of `bytes` enters at `now`: when it arrives, or `None` if
    /// it is lost or the queue is full.
    pub(crate) fn enqueue(&mut self, now: Instant, bytes: usize, rng: &mut Lossy) -> Option<Instant> {
        while self.departures.front().is_some_and(|d| *d <= now) {
            self.departures.pop_front();
        }
        if rng.lose(self.loss) {
            self.dropped_loss += 1;
            return None;
        }
        if self.departures.len() >= self.queue_packets {
            self.dropped_queue += 1;
            return None;
        }
        let start = self.departures.back().copied().filter(|b| *b > now).unwrap_or(now);
        let serialise = Duration::from_nanos(bytes as u64 * 8 * 1_000_000_000 / self.rate_bps.max(1));
        let departure = start + serialise;
        self.departures.push_back(departure);
        Some(departure + self.delay)
    }
}
