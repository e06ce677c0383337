//! Delivered against offered packets (issue 15): a server that falls behind
//! keeps packets queued, and those count neither as lost nor as received by
//! sequence numbers alone. So every payload carries its stream's tag and its
//! send time; senders count what they sent inside the measured window, and
//! receivers what they got of it by the end of a short drain after the
//! window. Offered = each stream's in-window packets × the other seats of its
//! meeting (joined or not); delivered = what arrived. A video the server
//! paused for a receiver counts as undelivered: the report splits audio out.
//! Simulcast layers are left out (a receiver gets one layer of three).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes of a payload's tail this module and the send time use: the stream
/// tag (4), the layer tag (1, video simulcast), the send time (8).
pub const TAIL: usize = 13;

/// The tag bit of video streams.
pub const VIDEO: u32 = 1 << 31;

/// A new stream tag, unique in this process (0 is "untagged"); `video`
/// sets [`VIDEO`].
pub fn new_tag(video: bool) -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) & !VIDEO;
    if video {
        n | VIDEO
    } else {
        n
    }
}

/// Writes `tag` into a payload of at least [`TAIL`] bytes, before its layer
/// tag byte and send time.
pub fn stamp(payload: &mut [u8], tag: u32) {
    let n = payload.len();
    if n >= TAIL {
        payload[n - TAIL..n - 9].copy_from_slice(&tag.to_be_bytes());
    }
}

/// A received payload's stream tag and send time (µs since the epoch).
pub fn read(payload: &[u8]) -> Option<(u32, u64)> {
    let n = payload.len();
    if n < TAIL {
        return None;
    }
    let tag = u32::from_be_bytes(payload[n - TAIL..n - 9].try_into().ok()?);
    let sent = u64::from_be_bytes(payload[n - 8..].try_into().ok()?);
    (tag != 0).then_some((tag, sent))
}

/// `t` (µs since the epoch) falls in the window (start, end).
pub fn in_window(t: u64, (start, end): (u64, u64)) -> bool {
    t >= start && t < end
}

/// One peer's counts.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Packets this peer sent inside the window, per stream it sends.
    pub offered: HashMap<u32, u64>,
    /// Packets received that were sent inside the window, per stream.
    pub delivered: HashMap<u32, u64>,
}

impl Delivery {
    /// This peer sent `packets` of stream `tag` inside the window.
    pub fn sent(&mut self, tag: u32, packets: u64) {
        *self.offered.entry(tag).or_default() += packets;
    }

    /// A packet of stream `tag` sent at `sent` arrived; `window` is the
    /// measured window's start and end (µs since the epoch).
    pub fn arrived(&mut self, tag: u32, sent: u64, window: (u64, u64)) {
        if in_window(sent, window) {
            *self.delivered.entry(tag).or_default() += 1;
        }
    }
}

/// Delivered and offered packets of the streams whose tag `of` accepts
/// (e.g. audio only: `|t| t & VIDEO == 0`). `seats` holds every seat of the
/// run with its meeting, whether it joined or not (then with nothing
/// delivered): each stream is offered to every other seat of its meeting.
pub fn totals(seats: &[(usize, Delivery)], of: impl Fn(u32) -> bool) -> (u64, u64) {
    let mut per_room: HashMap<usize, u64> = HashMap::new();
    for (room, _) in seats {
        *per_room.entry(*room).or_default() += 1;
    }
    let mut streams = HashSet::new();
    let mut offered = 0;
    for (room, d) in seats {
        for (tag, n) in d.offered.iter().filter(|(tag, _)| of(**tag)) {
            streams.insert(*tag);
            offered += n * (per_room[room] - 1);
        }
    }
    let delivered = seats
        .iter()
        .flat_map(|(_, d)| d.delivered.iter())
        .filter(|(tag, _)| streams.contains(*tag))
        .map(|(_, n)| *n)
        .sum();
    (delivered, offered)
}

impl Delivery {
    /// Adds another peer's counts (the peer connections of one seat).
    pub fn merge(&mut self, other: &Delivery) {
        for (tag, n) in &other.offered {
            *self.offered.entry(*tag).or_default() += n;
        }
        for (tag, n) in &other.delivered {
            *self.delivered.entry(*tag).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_its_tag_and_send_time() {
        let mut p = vec![0xab; 80];
        p[72..].copy_from_slice(&1_234_567u64.to_be_bytes());
        p[71] = 0x42; // a layer tag byte stays as it is
        stamp(&mut p, 7);
        assert_eq!(read(&p), Some((7, 1_234_567)));
        assert_eq!(p[71], 0x42);
        assert_eq!(read(&[0; 12]), None, "too short");
        assert_eq!(read(&[0; 20]), None, "untagged");
    }

    #[test]
    fn packets_queued_past_the_window_or_never_sent_count_as_undelivered() {
        // Meeting 0: a sender offers 100 packets of stream 1 in the window to
        // three others: one gets them all, one only 60 (the server kept the
        // rest queued past the drain), one none (it never joined). A packet
        // sent after the window counts for nothing.
        let mut sender = Delivery::default();
        sender.sent(1, 100);
        let window = (1_000, 2_000);
        let (mut a, mut b) = (Delivery::default(), Delivery::default());
        for i in 0..100 {
            a.arrived(1, 1_000 + i * 10, window);
            if i < 60 {
                b.arrived(1, 1_000 + i * 10, window);
            }
        }
        b.arrived(1, 2_500, window);
        // A stream nobody offered in the window (a simulcast layer) is left out.
        a.arrived(9, 1_500, window);
        // Meeting 1: a sender alone offers to nobody.
        let mut alone = Delivery::default();
        alone.sent(5 | VIDEO, 50);
        let seats = [(0, sender), (0, a), (0, b), (0, Delivery::default()), (1, alone)];
        assert_eq!(totals(&seats, |_| true), (160, 300));
        assert_eq!(totals(&seats, |t| t & VIDEO != 0), (0, 0), "no video offered to anyone");
        assert!(new_tag(true) & VIDEO != 0 && new_tag(false) & VIDEO == 0);
    }

    #[test]
    fn a_seats_peer_connections_add_up() {
        let (mut x, mut y) = (Delivery::default(), Delivery::default());
        x.sent(1, 3);
        y.arrived(2, 5, (0, 10));
        y.sent(1, 2);
        x.merge(&y);
        assert_eq!((x.offered[&1], x.delivered[&2]), (5, 1));
    }
}
