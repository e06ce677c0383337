//! Delivered against offered packets (issue 15): a server that falls behind
//! keeps packets queued, and those count neither as lost nor as received by
//! sequence numbers alone. So every payload carries its stream's tag and its
//! send time; senders count what they sent inside the measured window, and
//! receivers what they got of it by the end of a short drain after the
//! window. Offered = each stream's in-window packets × the receivers of that
//! stream (those that got any of it, ever); delivered = what arrived.
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

/// One peer's counts.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Packets this peer sent inside the window, per stream it sends.
    pub offered: HashMap<u32, u64>,
    /// Packets received that were sent inside the window, per stream.
    pub delivered: HashMap<u32, u64>,
    /// Every stream this peer received any packet of.
    pub seen: HashSet<u32>,
}

impl Delivery {
    /// This peer sent `packets` of stream `tag` inside the window.
    pub fn sent(&mut self, tag: u32, packets: u64) {
        *self.offered.entry(tag).or_default() += packets;
    }

    /// A packet of stream `tag` sent at `sent` arrived; `window` is the
    /// measured window's start and end (µs since the epoch).
    pub fn arrived(&mut self, tag: u32, sent: u64, (start, end): (u64, u64)) {
        self.seen.insert(tag);
        if sent >= start && sent < end {
            *self.delivered.entry(tag).or_default() += 1;
        }
    }
}

/// Delivered and offered packets over every peer, of the streams whose tag
/// `of` accepts (e.g. audio only: `|t| t & VIDEO == 0`).
pub fn totals<'a>(peers: impl Iterator<Item = &'a Delivery> + Clone, of: impl Fn(u32) -> bool) -> (u64, u64) {
    let mut receivers: HashMap<u32, u64> = HashMap::new();
    for p in peers.clone() {
        for tag in &p.seen {
            *receivers.entry(*tag).or_default() += 1;
        }
    }
    let mut offered_by_tag: HashMap<u32, u64> = HashMap::new();
    for p in peers.clone() {
        for (tag, n) in p.offered.iter().filter(|(tag, _)| of(**tag)) {
            *offered_by_tag.entry(*tag).or_default() += n;
        }
    }
    let offered = offered_by_tag.iter().map(|(tag, n)| n * receivers.get(tag).copied().unwrap_or(0)).sum();
    let delivered = peers
        .flat_map(|p| p.delivered.iter())
        .filter(|(tag, _)| offered_by_tag.contains_key(tag))
        .map(|(_, n)| *n)
        .sum();
    (delivered, offered)
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
    fn packets_queued_past_the_window_count_as_undelivered() {
        // A sender offers 100 packets of stream 1 in the window; two
        // receivers: one gets them all, one only 60 (the server kept the rest
        // queued past the drain). A packet sent after the window is neither.
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
        assert_eq!(totals([&sender, &a, &b].into_iter(), |_| true), (160, 200));
        assert_eq!(totals([&sender, &a, &b].into_iter(), |t| t & VIDEO != 0), (0, 0), "no video");
        assert!(new_tag(true) & VIDEO != 0 && new_tag(false) & VIDEO == 0);
    }
}
