//! The synthetic camera: VP8-shaped frames, as one stream or as three
//! simulcast layers, and what a receiver learns from them.
//!
//! Each payload starts with a VP8 payload descriptor (picture id on every
//! packet, S bit and the VP8 header's keyframe bit on a frame's first
//! packet), so an SFU that looks at VP8 (keyframe-gated layer switches,
//! picture-id rewriting) treats it as real. A keyframe is four times a
//! frame's size and is sent first and whenever the server asks (PLI/FIR);
//! with simulcast, a request for one layer (its rid) restarts only that
//! layer. Simulcast payloads carry their layer in [`LAYER_TAG`] just before
//! the 8-byte send time at the end, so a receiver sees which layer the SFU
//! chose for it (its SSRC is the SFU's own). Simulcast layers also carry
//! three temporal layers, as Chrome's `L1T3` (TID 0 2 1 2 …, layer sync on
//! each TL1 frame and the first TL2 after a TL0), so the SFU can thin them.
//!
//! By default a frame's packets go out as one burst. Paced, they go out as
//! a browser sends them: libwebrtc's pacer spreads a frame at 2.5× the
//! video's bitrate (a 5-packet frame at 1 Mbit/s over ~14 ms, a keyframe
//! over ~60 ms), and each packet's send time is when it leaves.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::{Mid, Simulcast, SimulcastLayer};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::Rtc;

use super::peer::{wallclock_us, MTU_PAYLOAD};

/// The simulcast layers, lowest first, and each one's share of the
/// configured bitrate (1/16, 1/4, 1: quarter, half and full resolution).
pub const LAYERS: [(&str, u32); 3] = [("q", 16), ("h", 4), ("f", 1)];

/// High nibble of the byte before the send time in a simulcast payload; the
/// low nibble is the layer. (The filler, 0xab, never matches.)
pub const LAYER_TAG: u8 = 0xc0;

/// One stream of frames: the only one, or a simulcast layer.
#[derive(Debug)]
struct Layer {
    rid: Option<&'static str>,
    /// Bits per second.
    bps: u32,
    keyframe_wanted: bool,
    seq: u64,
    picture_id: u16,
}

/// libwebrtc's pacing factor: media leaves at 2.5× its target bitrate.
pub const PACING_FACTOR: f64 = 2.5;

/// A packet built and not yet sent (waiting for the pacer, if paced).
#[derive(Debug)]
struct Queued {
    layer: usize,
    seq: u64,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
}

/// A leaky bucket: packets leave at `bytes_per_s`.
#[derive(Debug)]
struct Pacer {
    bytes_per_s: f64,
    /// When the next packet may leave.
    next: Option<Instant>,
}

impl Pacer {
    /// Whether a packet of `size` bytes may leave at `now`; if so, it is
    /// counted. (A late wake-up may send up to 5 ms of the budget at once.)
    fn admit(&mut self, now: Instant, size: usize) -> bool {
        let floor = now.checked_sub(Duration::from_millis(5)).unwrap_or(now);
        let at = self.next.map_or(now, |t| t.max(floor));
        if at > now {
            return false;
        }
        self.next = Some(at + Duration::from_secs_f64(size as f64 / self.bytes_per_s));
        true
    }
}

/// What a peer's camera sends.
#[derive(Debug)]
pub struct VideoSender {
    layers: Vec<Layer>,
    /// Paced: the pacer.
    pace: Option<Pacer>,
    /// Packets built and not yet sent.
    queue: VecDeque<Queued>,
}

impl VideoSender {
    /// A camera at `bps` (the top layer's rate with simulcast), its frames
    /// in bursts or `paced`.
    pub fn new(bps: u32, simulcast: bool, paced: bool) -> Self {
        let layer = |rid, bps| Layer { rid, bps, keyframe_wanted: true, seq: 0, picture_id: 0 };
        let layers: Vec<Layer> = if simulcast {
            LAYERS.iter().map(|(rid, div)| layer(Some(*rid), bps / div)).collect()
        } else {
            vec![layer(None, bps)]
        };
        let total: f64 = layers.iter().map(|l| f64::from(l.bps)).sum();
        let pace =
            (paced && total > 0.0).then_some(Pacer { bytes_per_s: total * PACING_FACTOR / 8.0, next: None });
        Self { layers, pace, queue: VecDeque::new() }
    }

    /// When the pacer next lets a packet go, if one waits.
    pub fn next_release(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.pace.as_ref().and_then(|p| p.next)
        }
    }

    /// Writes the waiting packets whose time has come (all of them
    /// unpaced), each stamped with the time it leaves. Returns how many of
    /// them count as offered: of one stream (not simulcast), stamped within
    /// `window`.
    pub fn release(&mut self, rtc: &mut Rtc, mid: Mid, now: Instant, window: (u64, u64)) -> u64 {
        let Some(pt) = vp8_pt(rtc) else {
            self.queue.clear();
            return 0;
        };
        let single = self.layers.len() == 1;
        let mut offered = 0;
        while let Some(front) = self.queue.front() {
            if !self.pace.as_mut().is_none_or(|p| p.admit(now, front.payload.len())) {
                break;
            }
            let Some(mut q) = self.queue.pop_front() else { break };
            let n = q.payload.len();
            let stamp = wallclock_us();
            q.payload[n - 8..].copy_from_slice(&stamp.to_be_bytes());
            if single && super::delivery::in_window(stamp, window) {
                offered += 1;
            }
            let rid = self.layers[q.layer].rid;
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, rid.map(Into::into)) else { continue };
            let write = RtpWrite::new(pt, q.seq.into(), q.ts, now, q.payload)
                .marker(q.marker)
                .nackable(true)
                .ext_vals(ExtensionValues::default());
            tx.write_rtp(write);
        }
        offered
    }

    /// The simulcast description for the offer, if simulcast.
    pub fn simulcast(&self) -> Option<Simulcast> {
        if self.layers.len() < 2 {
            return None;
        }
        let mut s = Simulcast::new();
        for l in &self.layers {
            s.add_send_layer(SimulcastLayer::new(l.rid.unwrap_or_default()));
        }
        Some(s)
    }

    /// The server asked for a keyframe: of the layer `rid`, or of every
    /// layer when it names none (or one this camera does not send).
    pub fn keyframe_requested(&mut self, rid: Option<&str>) {
        let named = rid.and_then(|r| self.layers.iter().position(|l| l.rid == Some(r)));
        for (i, l) in self.layers.iter_mut().enumerate() {
            if named.is_none_or(|n| n == i) {
                l.keyframe_wanted = true;
            }
        }
    }

    /// Makes one frame of every layer, captured at RTP time `ts`, each
    /// payload tagged `stream` (`super::delivery`), and queues its packets
    /// for [`VideoSender::release`] (which sends them at once unpaced).
    pub fn send_frame(&mut self, rtc: &Rtc, ts: u32, fps: u32, stream: u32) {
        if vp8_pt(rtc).is_none() {
            return;
        }
        let simulcast = self.layers.len() > 1;
        for (index, layer) in self.layers.iter_mut().enumerate() {
            let tag = simulcast.then_some(LAYER_TAG | index as u8);
            let keyframe = std::mem::take(&mut layer.keyframe_wanted);
            let mut bytes = (layer.bps / 8 / fps.max(1)) as usize;
            if keyframe {
                bytes *= 4;
            }
            let packets = bytes.div_ceil(MTU_PAYLOAD).max(1);
            layer.picture_id = (layer.picture_id + 1) & 0x7fff;
            let pic = layer.picture_id;
            for i in 0..packets {
                let first = i == 0;
                let size = (bytes / packets).clamp(24, MTU_PAYLOAD);
                // X=1 (S on the first packet) | I=1 (T=1 with simulcast) | M=1
                // picture id | TID, Y | VP8 header (P bit: 0 = key)
                let start = if first { 0x90 } else { 0x80 };
                let mut payload = if simulcast {
                    let tid = if keyframe { 0 } else { [0u8, 2, 1, 2][usize::from(pic % 4)] };
                    let sync = tid == 1 || (tid == 2 && pic % 4 == 1);
                    let t = (tid << 6) | (u8::from(sync) << 5);
                    vec![start, 0xa0, 0x80 | (pic >> 8) as u8, pic as u8, t]
                } else {
                    vec![start, 0x80, 0x80 | (pic >> 8) as u8, pic as u8]
                };
                if first {
                    payload.push(u8::from(!keyframe));
                    if keyframe {
                        // The rest of a keyframe's header (RFC 6386 §9.1): start
                        // code and a 640×360 picture, as a recorder reads it.
                        payload.extend_from_slice(&[0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
                    }
                }
                payload.resize(size, 0xab);
                let n = payload.len();
                if let Some(tag) = tag {
                    payload[n - 9] = tag;
                }
                super::delivery::stamp(&mut payload, stream);
                layer.seq += 1;
                let last = i + 1 == packets;
                self.queue.push_back(Queued { layer: index, seq: layer.seq, ts, marker: last, payload });
            }
        }
    }
}

/// The payload type the peer negotiated for VP8.
fn vp8_pt(rtc: &Rtc) -> Option<str0m::media::Pt> {
    rtc.codec_config().find(|p| p.spec().codec == Codec::Vp8).map(|p| p.pt())
}

/// The simulcast layer (0 = q, 1 = h, 2 = f) a received video payload
/// belongs to, if it carries a layer tag.
pub fn layer_of(payload: &[u8]) -> Option<usize> {
    let tag = *payload.get(payload.len().checked_sub(9)?)?;
    (tag & 0xf0 == LAYER_TAG && usize::from(tag & 0x0f) < LAYERS.len()).then_some(usize::from(tag & 0x0f))
}

/// Video a peer received in the measured window.
#[derive(Debug, Default, Clone, Copy)]
pub struct VideoReceived {
    /// RTP packets.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Packets per simulcast layer (q, h, f); untagged ones are not counted.
    pub layers: [u64; 3],
}

impl VideoReceived {
    /// Counts one received video payload.
    pub fn add(&mut self, payload: &[u8]) {
        self.packets += 1;
        self.bytes += payload.len() as u64;
        if let Some(l) = layer_of(payload) {
            self.layers[l] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_names_its_layer_and_filler_names_none() {
        let mut p = vec![0xab; 40];
        assert_eq!(layer_of(&p), None, "an unlayered payload");
        p[31] = LAYER_TAG | 2;
        assert_eq!(layer_of(&p), Some(2));
        p[31] = LAYER_TAG | 7;
        assert_eq!(layer_of(&p), None, "no such layer");
        assert_eq!(layer_of(&[0xc0; 5]), None, "too short to carry a tag");
    }

    #[test]
    fn a_keyframe_request_for_one_rid_restarts_that_layer_only() {
        let mut v = VideoSender::new(1_000_000, true, false);
        v.layers.iter_mut().for_each(|l| l.keyframe_wanted = false);
        v.keyframe_requested(Some("h"));
        let wanted: Vec<bool> = v.layers.iter().map(|l| l.keyframe_wanted).collect();
        assert_eq!(wanted, [false, true, false]);
        v.keyframe_requested(None);
        assert!(v.layers.iter().all(|l| l.keyframe_wanted));
        let rates: Vec<u32> = v.layers.iter().map(|l| l.bps).collect();
        assert_eq!(rates, [62_500, 250_000, 1_000_000]);
        assert!(VideoSender::new(1_000_000, false, false).simulcast().is_none());
    }

    #[test]
    fn paced_packets_leave_at_two_and_a_half_times_the_bitrate() {
        // 1 Mbit/s: 312 500 bytes a second, a 1 000-byte packet every 3.2 ms.
        let mut p = Pacer { bytes_per_s: 1_000_000.0 * PACING_FACTOR / 8.0, next: None };
        let t0 = Instant::now();
        let ms = |n: f64| t0 + Duration::from_secs_f64(n / 1000.0);
        assert!(p.admit(t0, 1000));
        assert!(!p.admit(t0, 1000), "the second waits");
        assert!(!p.admit(ms(3.1), 1000));
        assert!(p.admit(ms(3.2), 1000));
        assert_eq!(p.next, Some(ms(6.4)));
        // Idle for a second: no budget saved beyond 5 ms.
        assert!(p.admit(ms(1000.0), 1000));
        assert!(p.admit(ms(1000.0), 1000));
        assert!(!p.admit(ms(1000.0), 1000));
    }
}
