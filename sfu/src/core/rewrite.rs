//! Per-subscriber rewriting of RTP sequence numbers, timestamps and VP8
//! picture ids, so that a subscriber sees one continuous stream however its
//! source changes (a new publisher in a slot, a simulcast layer switch, a
//! pause and resume).
//!
//! The SSRC is rewritten by construction: each down track is its own str0m
//! send stream with its own SSRC. This object only decides numbers.
//!
//! The model: the output is cut into *epochs*. Within an epoch every input
//! number maps to an output number by a fixed offset, so reordered and
//! retransmitted packets land on the right output number. A new epoch starts
//! at the first packet after [`Rewriter::switch_source`] (for video, the first
//! packet of a keyframe) and continues right after the highest number sent so
//! far, so the subscriber's decoder never sees a jump backwards or a gap.
//!
//! Within an epoch, packets of frames that are not forwarded (temporal
//! layers above what the subscriber receives) are [`Rewriter::skip`]ped:
//! the numbers after them close up, sequence numbers and VP8 picture ids
//! alike, so the receiver sees neither lost packets nor missing pictures
//! (libwebrtc holds back a frame while a picture id before it is missing).
//! The skips are kept as points "from this input number on, this many
//! fewer", so a late or repaired packet still gets the number it had.

use std::collections::VecDeque;
use std::time::Instant;

use crate::core::vp8::Vp8Fields;

/// One incoming packet, reduced to what rewriting needs.
#[derive(Debug, Clone, Copy)]
pub struct RewriteIn {
    /// Extended (64-bit, rollover-free) input sequence number.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// VP8 descriptor fields, for VP8 payloads.
    pub vp8: Option<Vp8Fields>,
    /// The packet starts a keyframe (always true for audio).
    pub keyframe: bool,
    /// When the packet arrived (to size the timestamp gap across a switch).
    pub arrival: Instant,
}

/// The numbers to put on the outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteOut {
    /// Extended output sequence number (its low 16 bits go on the wire).
    pub seq: u64,
    /// Output RTP timestamp.
    pub ts: u32,
    /// Output VP8 PictureID, when the input had one.
    pub picture_id: Option<u16>,
    /// Output VP8 TL0PICIDX, when the input had one.
    pub tl0_pic_idx: Option<u8>,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send it with these numbers.
    Forward(RewriteOut),
    /// Video after a (re)start: nothing is sent until a keyframe begins.
    WaitForKeyframe,
    /// The packet belongs before the current epoch (late or from the old source).
    Stale,
}

#[derive(Debug, Clone, Copy)]
struct Epoch {
    in_seq: u64,
    out_seq: u64,
    in_ts: u32,
    out_ts: u32,
    in_pic: u16,
    out_pic: u16,
    in_tl0: u8,
    out_tl0: u8,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    ts: u32,
    pic: u16,
    tl0: u8,
    at: Instant,
}

/// How many numbers were skipped before each point of an epoch.
#[derive(Debug, Clone, Default)]
struct Skips {
    /// (first input number of a run of skipped ones, the first after it,
    /// skipped in total up to it), ascending; at most [`Skips::KEPT`].
    points: VecDeque<(u64, u64, u64)>,
    /// Input numbers below this are too old to place (their point was
    /// dropped): such a packet is stale.
    floor: u64,
    /// Skipped in total up to the first point kept (the last one dropped).
    base: u64,
    /// The highest input number seen, forwarded or skipped.
    highest: Option<u64>,
}

impl Skips {
    /// About ten seconds of thinned video (one run per skipped frame).
    const KEPT: usize = 512;

    /// How many numbers before `n` were skipped; `None`: too old to say.
    fn before(&self, n: u64) -> Option<u64> {
        if n < self.floor {
            return None;
        }
        let i = self.points.partition_point(|(_, from, _)| *from <= n);
        Some(if i == 0 { self.base } else { self.points[i - 1].2 })
    }

    /// Whether number `n` itself was skipped.
    fn was_skipped(&self, n: u64) -> bool {
        let i = self.points.partition_point(|(_, from, _)| *from <= n);
        self.points.get(i).is_some_and(|(start, ..)| *start <= n)
    }

    fn seen(&mut self, n: u64) {
        self.highest = Some(self.highest.map_or(n, |h| h.max(n)));
    }

    /// Number `n` is left out. Only numbers above every one seen close up
    /// the numbering (one seen late cannot: numbers after it are out).
    /// `run`: the numbers between the highest seen (itself skipped) and `n`
    /// belong to the same skipped frame (lost or late on the way in), so
    /// they are left out with it.
    fn skip(&mut self, n: u64, run: bool) {
        if self.highest.is_some_and(|h| n <= h) {
            return;
        }
        self.highest = Some(n);
        match self.points.back_mut() {
            Some((_, from, total)) if *from == n => {
                *from = n + 1;
                *total += 1;
            }
            Some((_, from, total)) if run && *from < n => {
                *total += n + 1 - *from;
                *from = n + 1;
            }
            last => {
                let total = last.map_or(self.base, |(.., t)| *t) + 1;
                self.points.push_back((n, n + 1, total));
                if self.points.len() > Self::KEPT {
                    let (_, from, total) = self.points.pop_front().expect("over the limit");
                    self.floor = from;
                    self.base = total;
                }
            }
        }
    }

    fn total(&self) -> u64 {
        self.points.back().map_or(self.base, |(.., t)| *t)
    }
}

/// The rewriting state of one down track.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    video: bool,
    first_seq: u64,
    first_ts: u32,
    epoch: Option<Epoch>,
    last: Option<Last>,
    /// Sequence numbers skipped in this epoch.
    seq_skips: Skips,
    /// Picture ids skipped in this epoch (extended, counted from the
    /// epoch's first picture).
    pic_skips: Skips,
}

impl Rewriter {
    /// A rewriter whose first output packet gets `first_seq` / `first_ts`.
    /// `first_seq` should be below 65 536 so a fresh receiver's SRTP
    /// rollover counter (0) matches.
    pub fn new(clock_rate: u32, video: bool, first_seq: u16, first_ts: u32) -> Self {
        Self {
            clock_rate,
            video,
            first_seq: u64::from(first_seq),
            first_ts,
            epoch: None,
            last: None,
            seq_skips: Skips::default(),
            pic_skips: Skips::default(),
        }
    }

    /// The next packet starts a new epoch: use after changing the source, or
    /// after a pause during which packets were not forwarded.
    pub fn switch_source(&mut self) {
        self.epoch = None;
        self.seq_skips = Skips::default();
        self.pic_skips = Skips::default();
    }

    /// A packet of the current epoch is not forwarded (its frame's temporal
    /// layer is not sent): the numbers after it close up.
    pub fn skip(&mut self, p: RewriteIn) {
        let Some(epoch) = self.epoch else { return };
        if p.seq < epoch.in_seq {
            return;
        }
        let pic = picture_index(&epoch, &p, self.pic_skips.highest);
        // The packets between the last one skipped and this one, of the
        // same picture, are that picture's too.
        let same_frame = pic.is_some()
            && pic == self.pic_skips.highest
            && self.seq_skips.highest.is_some_and(|h| self.seq_skips.was_skipped(h));
        self.seq_skips.skip(p.seq, same_frame);
        if let Some(pic) = pic {
            // One picture has many packets: count it once.
            if self.pic_skips.highest != Some(pic) {
                self.pic_skips.skip(pic, false);
            }
        }
    }

    /// Numbers skipped so far in this epoch: (sequence numbers, pictures).
    pub fn skipped(&self) -> (u64, u64) {
        (self.seq_skips.total(), self.pic_skips.total())
    }

    /// True for a video stream (which restarts at keyframes).
    pub fn is_video(&self) -> bool {
        self.video
    }

    /// True while waiting for the first packet (a keyframe for video) of an epoch.
    pub fn is_waiting(&self) -> bool {
        self.epoch.is_none()
    }

    /// Decides the outgoing numbers for one packet.
    pub fn rewrite(&mut self, p: RewriteIn) -> Decision {
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                if self.video && !p.keyframe {
                    return Decision::WaitForKeyframe;
                }
                let e = self.start_epoch(&p);
                self.epoch = Some(e);
                e
            }
        };
        if p.seq < epoch.in_seq {
            return Decision::Stale;
        }
        let Some(seq_skipped) = self.seq_skips.before(p.seq) else {
            return Decision::Stale;
        };
        if self.seq_skips.was_skipped(p.seq) {
            // Its number went to the packet after it: a late or repeated
            // packet of a frame left out is never sent.
            return Decision::Stale;
        }
        let pic_index = picture_index(&epoch, &p, self.pic_skips.highest);
        let pic_skipped = match pic_index {
            Some(i) => match self.pic_skips.before(i) {
                Some(n) => n,
                None => return Decision::Stale,
            },
            None => 0,
        };
        self.seq_skips.seen(p.seq);
        if let Some(i) = pic_index {
            self.pic_skips.seen(i);
        }
        let out = RewriteOut {
            seq: p.seq - epoch.in_seq + epoch.out_seq - seq_skipped,
            ts: p.ts.wrapping_sub(epoch.in_ts).wrapping_add(epoch.out_ts),
            picture_id: p.vp8.and_then(|v| v.picture_id).map(|(pic, long)| {
                let mask = if long { 0x7fff } else { 0x7f };
                pic.wrapping_sub(epoch.in_pic).wrapping_sub(pic_skipped as u16).wrapping_add(epoch.out_pic)
                    & mask
            }),
            tl0_pic_idx: p
                .vp8
                .and_then(|v| v.tl0_pic_idx)
                .map(|t| t.wrapping_sub(epoch.in_tl0).wrapping_add(epoch.out_tl0)),
        };
        if self.last.is_none_or(|l| out.seq > l.seq) {
            self.last = Some(Last {
                seq: out.seq,
                ts: out.ts,
                pic: out.picture_id.unwrap_or(0),
                tl0: out.tl0_pic_idx.unwrap_or(0),
                at: p.arrival,
            });
        }
        Decision::Forward(out)
    }

    fn start_epoch(&self, p: &RewriteIn) -> Epoch {
        let (in_pic, in_tl0) = match p.vp8 {
            Some(v) => (v.picture_id.map_or(0, |x| x.0), v.tl0_pic_idx.unwrap_or(0)),
            None => (0, 0),
        };
        let (out_seq, out_ts, out_pic, out_tl0) = match self.last {
            None => (self.first_seq, self.first_ts, in_pic, in_tl0),
            Some(last) => {
                let elapsed = p.arrival.saturating_duration_since(last.at);
                let ticks = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000)
                    .clamp(1, u128::from(u32::MAX / 2));
                let ticks = u32::try_from(ticks).expect("clamped below u32::MAX");
                (
                    last.seq + 1,
                    last.ts.wrapping_add(ticks),
                    last.pic.wrapping_add(1),
                    last.tl0.wrapping_add(1),
                )
            }
        };
        Epoch { in_seq: p.seq, out_seq, in_ts: p.ts, out_ts, in_pic, out_pic, in_tl0, out_tl0 }
    }
}

/// A packet's picture, counted from the epoch's first picture. Picture
/// ids wrap (at 2^15, or 2^7 in the short form); the lap is the one that
/// puts the picture nearest `highest`, the newest picture seen.
fn picture_index(epoch: &Epoch, p: &RewriteIn, highest: Option<u64>) -> Option<u64> {
    let (pic, long) = p.vp8?.picture_id?;
    let modulus: u64 = if long { 1 << 15 } else { 1 << 7 };
    let lap = u64::from(pic.wrapping_sub(epoch.in_pic)) % modulus;
    let Some(h) = highest else { return Some(lap) };
    let mut index = h - h % modulus + lap;
    if index > h + modulus / 2 && index >= modulus {
        index -= modulus;
    } else if index + modulus / 2 < h {
        index += modulus;
    }
    Some(index)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pkt(seq: u64, ts: u32, keyframe: bool, at: Instant) -> RewriteIn {
        RewriteIn { seq, ts, vp8: None, keyframe, arrival: at }
    }

    fn fwd(d: Decision) -> RewriteOut {
        match d {
            Decision::Forward(o) => o,
            other => panic!("expected Forward, got {other:?}"),
        }
    }

    #[test]
    fn continuous_across_sequence_wraparound() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48_000, false, 65_530, 1000);
        let mut prev: Option<RewriteOut> = None;
        // Input crosses its own 16-bit wrap too (65 534 → 65 537 extended).
        for (i, seq) in (65_534u64..65_560).enumerate() {
            let o = fwd(r.rewrite(pkt(seq, 960 * i as u32, true, t0)));
            if let Some(p) = prev {
                assert_eq!(o.seq, p.seq + 1);
                assert_eq!((o.seq as u16), (p.seq as u16).wrapping_add(1));
                assert_eq!(o.ts, p.ts.wrapping_add(960));
            }
            prev = Some(o);
        }
        assert!(prev.expect("sent").seq > 65_535, "output crossed its wrap");
    }

    #[test]
    fn reordered_and_retransmitted_packets_keep_their_numbers() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 100, 0);
        let a = fwd(r.rewrite(pkt(500, 9000, true, t0)));
        let c = fwd(r.rewrite(pkt(502, 9000, false, t0)));
        let b = fwd(r.rewrite(pkt(501, 9000, false, t0)));
        assert_eq!((a.seq, b.seq, c.seq), (100, 101, 102));
        // A retransmission of 501 maps to the same number again.
        assert_eq!(fwd(r.rewrite(pkt(501, 9000, false, t0))).seq, 101);
        assert_eq!(r.rewrite(pkt(499, 6000, false, t0)), Decision::Stale);
    }

    #[test]
    fn video_waits_for_keyframe_then_switch_is_seamless() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 5000);
        assert_eq!(r.rewrite(pkt(10, 100, false, t0)), Decision::WaitForKeyframe);
        let mut last = fwd(r.rewrite(pkt(11, 3100, true, t0)));
        for s in 12..40u64 {
            last = fwd(r.rewrite(pkt(s, 3100 + (s as u32 - 11) * 3000, false, t0)));
        }
        // Switch to a source whose numbers are far away, and near its own wrap.
        r.switch_source();
        let t1 = t0 + Duration::from_millis(40);
        assert_eq!(r.rewrite(pkt(65_535, 4_000_000_000, false, t1)), Decision::WaitForKeyframe);
        let k = fwd(r.rewrite(pkt(65_536, 4_000_003_000, true, t1)));
        assert_eq!(k.seq, last.seq + 1, "no gap, no jump in sequence");
        assert_eq!(k.ts, last.ts.wrapping_add(3600), "timestamp advances by the elapsed 40 ms");
        let n = fwd(r.rewrite(pkt(65_537, 4_000_006_000, false, t1)));
        assert_eq!(n.seq, k.seq + 1);
        assert_eq!(n.ts, k.ts + 3000);
        // A late packet of the old source is not forwarded into the new epoch.
        assert_eq!(r.rewrite(pkt(39, 1, false, t1)), Decision::Stale);
    }

    #[test]
    fn vp8_picture_ids_continue_across_switch_and_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 0);
        let vp8 = |pic: u16, tl0: u8, key: bool| Vp8Fields {
            picture_id: Some((pic, true)),
            tl0_pic_idx: Some(tl0),
            starts_keyframe: key,
            ..Vp8Fields::default()
        };
        let mut p = pkt(1, 0, true, t0);
        p.vp8 = Some(vp8(0x7ffe, 255, true));
        let a = fwd(r.rewrite(p));
        p.seq = 2;
        p.vp8 = Some(vp8(0x7fff, 0, false));
        p.keyframe = false;
        let b = fwd(r.rewrite(p));
        p.seq = 3;
        p.vp8 = Some(vp8(0, 1, false));
        let c = fwd(r.rewrite(p));
        assert_eq!((a.picture_id, b.picture_id, c.picture_id), (Some(0x7ffe), Some(0x7fff), Some(0)));
        assert_eq!(c.tl0_pic_idx, Some(1));
        r.switch_source();
        let mut q = pkt(900, 77, true, t0);
        q.vp8 = Some(vp8(1234, 9, true));
        let d = fwd(r.rewrite(q));
        assert_eq!(d.picture_id, Some(1), "continues after the last picture id");
        assert_eq!(d.tl0_pic_idx, Some(2));
        assert_eq!(d.seq, 4);
    }

    #[test]
    fn audio_resumes_without_keyframe() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48_000, false, 7, 0);
        let a = fwd(r.rewrite(pkt(1, 0, false, t0)));
        r.switch_source();
        let b = fwd(r.rewrite(pkt(50, 48_000, false, t0 + Duration::from_secs(1))));
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(b.ts, 48_000);
    }

    fn frame(seq: u64, pic: u16, tid: u8, key: bool, at: Instant) -> RewriteIn {
        let vp8 = Vp8Fields {
            picture_id: Some((pic & 0x7fff, true)),
            tl0_pic_idx: Some(0),
            starts_keyframe: key,
            starts_frame: true,
            temporal: Some(tid),
            layer_sync: false,
        };
        RewriteIn { seq, ts: u32::from(pic) * 3000, vp8: Some(vp8), keyframe: key, arrival: at }
    }

    #[test]
    fn skipped_frames_leave_no_gap_in_sequence_or_picture_id() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 10, 0);
        // Two packets a frame; temporal pattern 0 2 1 2 0 2 1 2 …; only
        // layers 0 and 1 go out.
        let mut out = Vec::new();
        for f in 0..12u64 {
            let tid = [0, 2, 1, 2][f as usize % 4];
            for k in 0..2 {
                let p = frame(100 + 2 * f + k, 500 + f as u16, tid, f == 0, t0);
                if tid == 2 {
                    r.skip(p);
                } else {
                    out.push(fwd(r.rewrite(p)));
                }
            }
        }
        let seqs: Vec<u64> = out.iter().map(|o| o.seq).collect();
        assert_eq!(seqs, (10..22).collect::<Vec<_>>(), "continuous sequence numbers");
        let pics: Vec<u16> = out.iter().filter_map(|o| o.picture_id).step_by(2).collect();
        assert_eq!(pics, (500..506).collect::<Vec<_>>(), "continuous picture ids");
        assert_eq!(r.skipped(), (12, 6));
        // A repair of a forwarded packet, late, gets its number again.
        assert_eq!(fwd(r.rewrite(frame(104, 502, 1, false, t0))).seq, 12);
        assert_eq!(fwd(r.rewrite(frame(104, 502, 1, false, t0))).picture_id, Some(501));
    }

    #[test]
    fn skips_follow_the_picture_id_across_its_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 0);
        let mut last = None;
        // 70 000 frames (two laps of the 15-bit picture id), every other one skipped.
        for f in 0..70_000u64 {
            let p = frame(1 + f, (0x7f00 + f) as u16, (f % 2) as u8, f == 0, t0);
            if f % 2 == 1 {
                r.skip(p);
            } else {
                let o = fwd(r.rewrite(p));
                if let Some(prev) = last {
                    assert_eq!(o.picture_id, Some((prev + 1) & 0x7fff), "frame {f}");
                }
                last = o.picture_id;
            }
        }
    }

    #[test]
    fn a_new_epoch_forgets_the_skips() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 0);
        let a = fwd(r.rewrite(frame(1, 10, 0, true, t0)));
        r.skip(frame(2, 11, 2, false, t0));
        let b = fwd(r.rewrite(frame(3, 12, 0, false, t0)));
        assert_eq!((b.seq, b.picture_id), (a.seq + 1, Some(11)));
        r.switch_source();
        let c = fwd(r.rewrite(frame(900, 300, 0, true, t0)));
        let d = fwd(r.rewrite(frame(901, 301, 0, false, t0)));
        assert_eq!((c.seq, d.seq, d.picture_id), (b.seq + 1, b.seq + 2, Some(13)));
        assert_eq!(r.skipped(), (0, 0));
    }

    #[test]
    fn a_skipped_packet_never_comes_out_late_and_a_lost_one_of_a_skipped_frame_leaves_no_gap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 0);
        let a = fwd(r.rewrite(frame(100, 10, 0, true, t0)));
        // A TL2 frame in 101–103; 102 is lost on the way in.
        r.skip(frame(101, 11, 2, false, t0));
        r.skip(frame(103, 11, 2, false, t0));
        let b = fwd(r.rewrite(frame(104, 12, 0, false, t0)));
        assert_eq!((b.seq, b.picture_id), (a.seq + 1, Some(11)), "no gap for the lost 102");
        // Its repair, forwarded by mistake, would take 104's number.
        assert_eq!(r.rewrite(frame(102, 11, 2, false, t0)), Decision::Stale);
        assert_eq!(r.rewrite(frame(101, 11, 2, false, t0)), Decision::Stale);
    }

    #[test]
    fn late_packets_keep_their_numbers_after_old_skips_are_forgotten() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000, true, 1, 0);
        let mut sent = std::collections::HashMap::new();
        // 600 runs of one skipped frame each (more than are kept).
        for f in 0..1200u64 {
            let p = frame(1 + f, f as u16, (f % 2) as u8, f == 0, t0);
            if f % 2 == 1 {
                r.skip(p);
            } else {
                sent.insert(1 + f, fwd(r.rewrite(p)).seq);
            }
        }
        // A late repeat of the packet right after the last run forgotten
        // gets its number again (88 skipped before it)…
        let seq = 1 + 176;
        assert_eq!(fwd(r.rewrite(frame(seq, 176, 0, false, t0))).seq, sent[&seq]);
        // …and one from before the runs kept is stale, never renumbered.
        assert_eq!(r.rewrite(frame(3, 2, 0, false, t0)), Decision::Stale);
    }
}
