//! From tapped RTP packets to what a container stores: packets of one
//! stream put back in order (a NACK repair arrives late, an RTX packet
//! carries the original's number), then video packets joined into frames
//! (VP8, RFC 7741; H.264 to Annex B, RFC 6184). After a loss a video stream
//! waits for its next keyframe, so no broken frame reaches the file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use huiyi_sfu::core::vp8;
use huiyi_sfu::{TapCodec, TapPacket};

/// How long a missing packet is waited for before it counts as lost.
pub const WAIT: Duration = Duration::from_millis(300);
/// Most packets held while one is missing.
const MAX_HELD: usize = 1024;
/// Packets in a row far ahead of the next expected (beyond [`MAX_HELD`])
/// that make the stream start again from them (a long outage); fewer are
/// dropped (a stray or hostile number cannot skip the stream ahead).
const RESYNC_AFTER: u32 = 16;
/// The largest video frame joined (a frame that never ends is dropped).
const MAX_FRAME: usize = 8 << 20;

/// One stream's packets, in sequence.
#[derive(Default)]
pub struct Reorder {
    next: Option<u64>,
    held: BTreeMap<u64, TapPacket>,
    far: u32,
}

impl Reorder {
    /// Takes a packet (a duplicate or one given up on is dropped).
    pub fn push(&mut self, p: TapPacket) {
        let next = *self.next.get_or_insert(p.seq);
        if p.seq < next {
            return;
        }
        if p.seq - next > MAX_HELD as u64 {
            self.far += 1;
            if self.far < RESYNC_AFTER {
                return;
            }
            self.held.clear();
            self.next = Some(p.seq);
        }
        self.far = 0;
        self.held.entry(p.seq).or_insert(p);
    }

    /// The next packet in order, and whether packets before it were lost;
    /// `None` while the next one may still come.
    pub fn pop(&mut self, now: Instant) -> Option<(TapPacket, bool)> {
        let next = self.next?;
        if let Some(p) = self.held.remove(&next) {
            self.next = Some(next + 1);
            return Some((p, false));
        }
        let (&first, oldest) = self.held.iter().next()?;
        let waited = self.held.values().map(|p| p.arrival).min().unwrap_or(oldest.arrival);
        if now.saturating_duration_since(waited) >= WAIT || self.held.len() > MAX_HELD {
            let p = self.held.remove(&first)?;
            self.next = Some(first + 1);
            return Some((p, true));
        }
        None
    }
}

/// A whole video frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// RTP timestamp.
    pub timestamp: u32,
    /// VP8 data, or H.264 in Annex B.
    pub data: Vec<u8>,
    /// A keyframe (the decoder needs nothing before it).
    pub keyframe: bool,
}

/// Joins one stream's packets into frames.
pub struct Assembler {
    codec: TapCodec,
    timestamp: Option<u32>,
    data: Vec<u8>,
    keyframe: bool,
    /// The frame being joined lost a packet.
    broken: bool,
    /// No frame goes out until the next keyframe.
    pub needs_keyframe: bool,
}

impl Assembler {
    /// For a stream of `codec` (VP8 or H.264); waits for a keyframe first.
    pub fn new(codec: TapCodec) -> Self {
        Assembler {
            codec,
            timestamp: None,
            data: Vec::new(),
            keyframe: false,
            broken: true,
            needs_keyframe: true,
        }
    }

    /// Takes the next packet in order (`lost`: packets before it were
    /// lost); returns a frame when one is complete and decodable.
    pub fn push(&mut self, p: &TapPacket, lost: bool) -> Option<Frame> {
        if lost {
            self.broken = true;
            self.needs_keyframe = true;
        }
        if self.timestamp != Some(p.timestamp) {
            // A new frame (its first packet may be the one lost).
            self.timestamp = Some(p.timestamp);
            self.data.clear();
            self.keyframe = false;
            self.broken = false;
            if !self.starts_frame(&p.payload) {
                self.broken = true;
            }
        }
        if !self.broken && (!self.append(&p.payload) || self.data.len() > MAX_FRAME) {
            self.broken = true;
            self.needs_keyframe = true;
            self.data = Vec::new();
        }
        if !p.marker || self.broken {
            return None;
        }
        self.broken = true; // complete: the next packet starts anew
        if self.keyframe {
            self.needs_keyframe = false;
        }
        if self.needs_keyframe || self.data.is_empty() {
            return None;
        }
        Some(Frame { timestamp: p.timestamp, data: std::mem::take(&mut self.data), keyframe: self.keyframe })
    }

    fn starts_frame(&self, payload: &[u8]) -> bool {
        match self.codec {
            TapCodec::Vp8 => vp8::frame_data(payload).is_some_and(|(_, starts)| starts),
            // An FU-A continuation cannot start a frame; anything else can.
            TapCodec::H264 => payload
                .first()
                .is_some_and(|b| b & 0x1f != 28 || payload.get(1).is_some_and(|f| f & 0x80 != 0)),
            _ => false,
        }
    }

    /// Appends a packet's media; false if it is malformed.
    fn append(&mut self, payload: &[u8]) -> bool {
        match self.codec {
            TapCodec::Vp8 => {
                let Some((at, starts)) = vp8::frame_data(payload) else { return false };
                let data = &payload[at..];
                if starts {
                    self.keyframe = data.first().is_some_and(|b| b & 0x01 == 0);
                }
                self.data.extend_from_slice(data);
                true
            }
            TapCodec::H264 => self.append_h264(payload),
            _ => false,
        }
    }

    fn append_h264(&mut self, payload: &[u8]) -> bool {
        let Some(&first) = payload.first() else { return false };
        match first & 0x1f {
            1..=23 => self.nal(payload),
            24 => {
                let mut at = 1;
                while at + 2 <= payload.len() {
                    let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                    let Some(unit) = payload.get(at + 2..at + 2 + size) else { return false };
                    if unit.is_empty() {
                        return false;
                    }
                    self.nal(unit);
                    at += 2 + size;
                }
                at == payload.len()
            }
            28 => {
                let Some(&fu) = payload.get(1) else { return false };
                if fu & 0x80 != 0 {
                    let header = (first & 0xe0) | (fu & 0x1f);
                    self.nal(&[header]);
                }
                self.data.extend_from_slice(&payload[2..]);
                true
            }
            _ => false,
        }
    }

    fn nal(&mut self, unit: &[u8]) -> bool {
        if unit[0] & 0x1f == 5 {
            self.keyframe = true;
        }
        self.data.extend_from_slice(&[0, 0, 0, 1]);
        self.data.extend_from_slice(unit);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use huiyi_sfu::{PeerId, TrackId};

    fn pkt(seq: u64, ts: u32, marker: bool, payload: &[u8], at: Instant) -> TapPacket {
        TapPacket {
            track: TrackId(1),
            publisher: PeerId(1),
            layer: 0,
            ssrc: 1,
            seq,
            timestamp: ts,
            marker,
            arrival: at,
            codec: TapCodec::Vp8,
            level: None,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn late_packets_are_put_back_in_order_and_a_lost_one_is_given_up_on() {
        let t0 = Instant::now();
        let mut r = Reorder::default();
        r.push(pkt(10, 0, false, &[1], t0));
        r.push(pkt(12, 0, false, &[1], t0));
        r.push(pkt(11, 0, false, &[1], t0));
        let order: Vec<(u64, bool)> = std::iter::from_fn(|| r.pop(t0)).map(|(p, l)| (p.seq, l)).collect();
        assert_eq!(order, [(10, false), (11, false), (12, false)]);
        r.push(pkt(14, 0, false, &[1], t0));
        assert!(r.pop(t0 + Duration::from_millis(100)).is_none(), "13 may still come");
        let (p, lost) = r.pop(t0 + WAIT).expect("given up on 13");
        assert_eq!((p.seq, lost), (14, true));
        r.push(pkt(13, 0, false, &[1], t0));
        assert!(r.pop(t0 + WAIT).is_none(), "too late: dropped");
        // One number far ahead is dropped, not jumped to; many in a row
        // (a long outage) start the stream again from there.
        r.push(pkt(30_000, 0, false, &[1], t0));
        r.push(pkt(15, 0, false, &[1], t0));
        assert_eq!(r.pop(t0).map(|(p, l)| (p.seq, l)), Some((15, false)));
        assert!(r.pop(t0 + WAIT).is_none(), "the stray one is not held");
        for seq in 50_000..50_000 + u64::from(RESYNC_AFTER) {
            r.push(pkt(seq, 0, false, &[1], t0));
        }
        let (p, _) = r.pop(t0 + WAIT).expect("resynced");
        assert_eq!(p.seq, 50_000 + u64::from(RESYNC_AFTER) - 1);
    }

    #[test]
    fn a_frame_that_never_ends_is_dropped_at_its_cap() {
        let t0 = Instant::now();
        let mut a = Assembler::new(TapCodec::Vp8);
        assert!(a.push(&pkt(1, 100, true, &vp8(true, true, &[1]), t0), false).is_some());
        let chunk = vec![0u8; 1200];
        a.push(&pkt(2, 200, false, &vp8(true, false, &chunk), t0), false);
        for seq in 3..8000 {
            a.push(&pkt(seq, 200, false, &vp8(false, false, &chunk), t0), false);
        }
        assert!(a.data.capacity() < 2 * MAX_FRAME, "bounded: {}", a.data.capacity());
        assert!(a.needs_keyframe, "it waits for a keyframe again");
    }

    // VP8 descriptor: S bit set (0x10) or not (0x00), no extension.
    fn vp8(start: bool, key: bool, body: &[u8]) -> Vec<u8> {
        let mut v = vec![if start { 0x10 } else { 0x00 }];
        if start {
            v.push(if key { 0x10 } else { 0x11 });
        }
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn vp8_frames_are_joined_and_start_at_a_keyframe_again_after_a_loss() {
        let t0 = Instant::now();
        let mut a = Assembler::new(TapCodec::Vp8);
        assert_eq!(a.push(&pkt(1, 100, true, &vp8(true, false, &[7]), t0), false), None, "no keyframe yet");
        assert_eq!(a.push(&pkt(2, 200, false, &vp8(true, true, &[1]), t0), false), None);
        let f = a.push(&pkt(3, 200, true, &vp8(false, false, &[2, 3]), t0), false).expect("a keyframe");
        assert_eq!(f, Frame { timestamp: 200, data: vec![0x10, 1, 2, 3], keyframe: true });
        let f = a.push(&pkt(4, 300, true, &vp8(true, false, &[4]), t0), false).expect("a delta frame");
        assert!(!f.keyframe);
        assert_eq!(
            a.push(&pkt(6, 400, true, &vp8(false, false, &[5]), t0), true),
            None,
            "its start was lost"
        );
        assert_eq!(
            a.push(&pkt(7, 500, true, &vp8(true, false, &[6]), t0), false),
            None,
            "waits for a keyframe"
        );
        assert!(a.needs_keyframe);
        assert!(a.push(&pkt(8, 600, true, &vp8(true, true, &[6]), t0), false).is_some());
    }

    #[test]
    fn h264_single_stap_a_and_fu_a_become_annex_b() {
        let t0 = Instant::now();
        let mut a = Assembler::new(TapCodec::H264);
        // STAP-A with SPS (7) and PPS (8), then an IDR (5) in two FU-A fragments.
        let stap = [24, 0, 2, 0x67, 0xaa, 0, 2, 0x68, 0xbb];
        assert_eq!(a.push(&pkt(1, 100, false, &stap, t0), false), None);
        assert_eq!(a.push(&pkt(2, 100, false, &[0x7c, 0x85, 1, 2], t0), false), None);
        let f = a.push(&pkt(3, 100, true, &[0x7c, 0x45, 3], t0), false).expect("a keyframe");
        assert!(f.keyframe);
        assert_eq!(f.data, [0, 0, 0, 1, 0x67, 0xaa, 0, 0, 0, 1, 0x68, 0xbb, 0, 0, 0, 1, 0x65, 1, 2, 3]);
        let f = a.push(&pkt(4, 200, true, &[0x41, 9], t0), false).expect("a single NAL frame");
        assert_eq!(f.data, [0, 0, 0, 1, 0x41, 9]);
        assert_eq!(a.push(&pkt(5, 300, true, &[24, 0, 9, 1], t0), false), None, "a STAP-A past its end");
    }
}
