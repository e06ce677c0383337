use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use crate::io::DATAGRAM_MAX_PACKET_SIZE;
use crate::packet::Vp8Patch;
use crate::rtp_::{ExtensionValues, MediaTime, Pt, SenderInfo, SeqNo, Ssrc};

use super::RtpPacket;
use super::rtx_cache_buf::EvictingBuffer;

const RTX_CACHE_SIZE_QUANTIZER: usize = 25;
const RTX_CACHE_QUANTIZE_SLOTS: usize = DATAGRAM_MAX_PACKET_SIZE / RTX_CACHE_SIZE_QUANTIZER;

#[derive(Debug)]
pub(crate) struct RtxCache {
    // Data, new additions here probably need to be cleared in [`clear`].
    packet_by_seq_no: EvictingBuffer<CachedPacket>,

    // Technically we want [Option<SeqNo>; X] to indicate the absence of
    // a SeqNo. However We can half the storage space by using the sentinel
    // values SeqNo::MAX to indicate None
    //
    // Huiyi patch: made at the first cached packet (640 bytes that a stream
    // which never caches, audio and the probe stream, does not need).
    seq_no_by_quantized_size: Option<Box<[SeqNo; RTX_CACHE_QUANTIZE_SLOTS]>>,

    /// Huiyi patch: the cached packet last asked for, as a whole
    /// `RtpPacket` (resends and padding read and adjust it in place); made
    /// at the first resend or padding, since most streams never ask.
    out: Option<Box<RtpPacket>>,

    /// Huiyi patch: the age given at creation, the most `fit_to_rtt` keeps.
    max_age: Duration,

    /// Huiyi patch: the round trip the cache is fitted to: the highest
    /// recent sample, an eighth less with each report that brings a lower
    /// one (`fit_to_rtt`).
    fit_rtt: Duration,

    /// Huiyi patch: sequence numbers skipped when packets were cached,
    /// oldest first, at most `SKIPPED_KEPT` runs, each for `SKIPPED_AGE`. In
    /// an SFU a skipped number is a packet the publisher's uplink lost: the
    /// SFU's own NACK upstream may bring it (it is then cached late), and
    /// until then a receiver's NACK for it is no loss beyond repair.
    skipped: VecDeque<Skipped>,
    /// Huiyi patch: the highest sequence number cached.
    highest: Option<u64>,
}

/// Huiyi patch: a run of sequence numbers skipped, `[start, end)`, and
/// when.
#[derive(Debug, Clone, Copy)]
struct Skipped {
    start: u64,
    end: u64,
    at: Instant,
}

/// Huiyi patch: what to do with a NACKed packet ([`RtxCache::take_for_resend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResendAsk {
    /// Resend it (its payload is this long).
    Resend { payload_size: usize },
    /// A resend of it went out less than a round trip ago.
    Recent,
    /// It is not in the cache.
    NotKept,
}

/// Huiyi patch: how many runs of skipped sequence numbers are remembered.
const SKIPPED_KEPT: usize = 32;

/// Huiyi patch: how long a skipped number waits for the publisher's
/// repair before a NACK for it counts as a loss beyond repair: two round
/// trips of a township line with a standing queue (up to 1.3 s each). A
/// number never repaired (the publisher's resend lost too, or no NACK
/// negotiated upstream) then asks for a keyframe as a sent one does.
const SKIPPED_AGE: Duration = Duration::from_secs(3);

/// Huiyi patch: a NACK comes about a round trip after the packet was sent,
/// and a receiver asks again each round trip while the repair is lost: a
/// cache of three round trips and 200 ms answers the third ask on a line
/// with jitter. A LAN subscriber (a round trip of a few ms) then keeps 300
/// ms of its videos instead of the whole age (3 s in Huiyi).
const RTT_FIT_ROUND_TRIPS: u32 = 3;
const RTT_FIT_SLACK: Duration = Duration::from_millis(200);
const RTT_FIT_MIN: Duration = Duration::from_millis(300);

/// Huiyi patch: what the cache keeps until the receiver's first report
/// gives its round trip (a second or two into the stream): a NACK comes a
/// round trip after the packet, so this answers the first ask of a receiver
/// up to ~450 ms away; one further away gets a keyframe instead, as when a
/// repair is lost. The whole age (3 s in Huiyi) for every subscription of a
/// meeting that just started grew each ring to ~340 packets and held three
/// seconds of every video's payloads, a peak the process kept as resident
/// memory after the rings were fitted (a second still cost ~1 MB of
/// resident memory for six cameras in `discussion`).
const RTT_UNKNOWN_AGE: Duration = Duration::from_millis(500);

/// Huiyi patch: what the cache keeps of a sent packet. An `RtpPacket` is
/// 408 bytes (its header's parsed extension values 192 of them, an inline
/// CSRC list 60), and an SFU caches a few hundred ms of packets for every
/// subscriber of every video; this keeps ~110 bytes, the rarely set parts
/// boxed, and gives the packet back whole when it is resent.
#[derive(Debug)]
struct CachedPacket {
    seq_no: SeqNo,
    time: MediaTime,
    payload: Arc<[u8]>,
    vp8_patch: Option<Vp8Patch>,
    timestamp: Instant,
    ssrc: Ssrc,
    rtp_time: u32,
    sequence_number: u16,
    header_len: u16,
    payload_type: Pt,
    version: u8,
    csrc_count: u8,
    has_padding: bool,
    has_extension: bool,
    marker: bool,
    nackable: bool,
    /// Huiyi patch: when this packet was last queued for a resend, in ms
    /// after it was sent (0: never), so that a receiver asking again before
    /// the resend could reach it is not answered twice.
    resent_ms: u16,
    /// Only when there are any.
    csrc: Option<Box<[u32; 15]>>,
    /// Only when any is set.
    ext_vals: Option<Box<ExtensionValues>>,
    last_sender_info: Option<Box<SenderInfo>>,
}

impl CachedPacket {
    fn new(p: RtpPacket) -> Self {
        let mut h = p.header;
        // A resend (RTX) writes its own MID and repair RID, and never the
        // RID: what the sent packet carried of them (the MID until the
        // receiver's first report) would only box the extension values
        // of every packet of a stream's first second.
        h.ext_vals.mid = None;
        h.ext_vals.rid = None;
        h.ext_vals.rid_repair = None;
        Self {
            seq_no: p.seq_no,
            time: p.time,
            payload: p.payload,
            vp8_patch: p.vp8_patch,
            timestamp: p.timestamp,
            ssrc: h.ssrc,
            rtp_time: h.timestamp,
            sequence_number: h.sequence_number,
            header_len: h.header_len as u16,
            payload_type: h.payload_type,
            version: h.version,
            csrc_count: h.csrc_count as u8,
            has_padding: h.has_padding,
            has_extension: h.has_extension,
            marker: h.marker,
            nackable: p.nackable,
            resent_ms: 0,
            csrc: (h.csrc_count > 0 || h.csrc != [0; 15]).then(|| Box::new(h.csrc)),
            ext_vals: (h.ext_vals != ExtensionValues::default()).then(|| Box::new(h.ext_vals)),
            last_sender_info: p.last_sender_info.map(Box::new),
        }
    }

    /// The packet as it was cached, into `out`.
    fn restore(&self, out: &mut RtpPacket) {
        out.seq_no = self.seq_no;
        out.time = self.time;
        out.payload = self.payload.clone();
        out.vp8_patch = self.vp8_patch;
        out.timestamp = self.timestamp;
        out.last_sender_info = self.last_sender_info.as_deref().copied();
        out.nackable = self.nackable;
        let h = &mut out.header;
        h.version = self.version;
        h.has_padding = self.has_padding;
        h.has_extension = self.has_extension;
        h.csrc_count = usize::from(self.csrc_count);
        h.marker = self.marker;
        h.payload_type = self.payload_type;
        h.sequence_number = self.sequence_number;
        h.timestamp = self.rtp_time;
        h.ssrc = self.ssrc;
        h.csrc = self.csrc.as_deref().copied().unwrap_or([0; 15]);
        match &self.ext_vals {
            Some(e) => h.ext_vals.clone_from(e),
            None => h.ext_vals = ExtensionValues::default(),
        }
        h.header_len = usize::from(self.header_len);
    }
}

impl RtxCache {
    pub fn new(max_packet_count: usize, max_packet_age: Duration) -> Self {
        Self {
            packet_by_seq_no: EvictingBuffer::new(
                10,
                max_packet_age.min(RTT_UNKNOWN_AGE),
                max_packet_count,
            ),
            seq_no_by_quantized_size: None,
            out: None,
            max_age: max_packet_age,
            fit_rtt: Duration::ZERO,
            skipped: VecDeque::new(),
            highest: None,
        }
    }

    /// Huiyi patch: keeps packets for as long as the receiver's round trip
    /// needs (see `RTT_FIT_ROUND_TRIPS`), never longer than the age the cache
    /// was made with. The round trip is the highest of the recent samples,
    /// falling by an eighth per report (about a second each) once they are
    /// lower: a line whose queue fills and drains has round trips of 0.1 to
    /// 1.3 s from one report to the next (a township line), and a cache cut
    /// to a low sample dropped packets whose NACK came a queue later, each
    /// such loss a keyframe on the line (a 2 s freeze seen).
    pub fn fit_to_rtt(&mut self, rtt: Duration) {
        if self.max_age.is_zero() {
            return;
        }
        self.fit_rtt = rtt.max(self.fit_rtt - self.fit_rtt / 8);
        let age = (self.fit_rtt * RTT_FIT_ROUND_TRIPS + RTT_FIT_SLACK).max(RTT_FIT_MIN);
        self.packet_by_seq_no.set_max_age(age.min(self.max_age));
    }

    pub fn cache_sent_packet(&mut self, packet: RtpPacket, now: Instant) {
        assert!(packet.nackable);
        let seq_no = packet.seq_no;
        self.note_skipped(*seq_no, now);
        let quantized_size = packet.payload.len() / RTX_CACHE_SIZE_QUANTIZER;
        self.packet_by_seq_no
            .push(*seq_no, now, CachedPacket::new(packet));
        self.seq_no_by_quantized_size
            .get_or_insert_with(|| Box::new([SeqNo::MAX; RTX_CACHE_QUANTIZE_SLOTS]))
            [quantized_size] = seq_no;
        self.remove_old_packets(now);
    }

    /// Huiyi patch: keeps `skipped` up to date with a packet about to be
    /// cached at `pos`: a jump past the last one opens a run, a late packet
    /// inside a run closes its place in it; runs older than `SKIPPED_AGE`
    /// and beyond `SKIPPED_KEPT` are forgotten.
    fn note_skipped(&mut self, pos: u64, now: Instant) {
        while self
            .skipped
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.at) >= SKIPPED_AGE)
        {
            self.skipped.pop_front();
        }
        let Some(last) = self.highest.replace(pos) else {
            return;
        };
        if pos <= last {
            self.highest = Some(last);
        }
        if pos > last + 1 {
            self.skipped.push_back(Skipped {
                start: last + 1,
                end: pos,
                at: now,
            });
        } else if pos < last {
            if let Some(i) = self
                .skipped
                .iter()
                .position(|r| (r.start..r.end).contains(&pos))
            {
                let r = self.skipped[i];
                self.skipped.remove(i);
                if pos + 1 < r.end {
                    self.skipped.insert(
                        i,
                        Skipped {
                            start: pos + 1,
                            ..r
                        },
                    );
                }
                if r.start < pos {
                    self.skipped.insert(i, Skipped { end: pos, ..r });
                }
            }
        }
        while self.skipped.len() > SKIPPED_KEPT {
            self.skipped.pop_front();
        }
    }

    pub fn last_cached_seq_no(&self) -> Option<SeqNo> {
        Some(self.packet_by_seq_no.last_position()?.into())
    }

    /// Huiyi patch: `seq_no` was sent but is no longer kept (older than
    /// anything the cache still holds), or was skipped more than
    /// `SKIPPED_AGE` ago. A gap inside what it holds, or a number skipped
    /// since, was never sent: a packet the publisher's uplink lost, which
    /// the SFU's own NACK upstream may still bring.
    pub fn expired(&self, seq_no: SeqNo, now: Instant) -> bool {
        let pos = *seq_no;
        let waiting = |r: &Skipped| {
            (r.start..r.end).contains(&pos) && now.saturating_duration_since(r.at) < SKIPPED_AGE
        };
        self.packet_by_seq_no
            .first_kept_position()
            .is_some_and(|first| pos < first)
            && !self.skipped.iter().any(waiting)
    }

    pub fn get_cached_packet_by_seq_no(&mut self, seq_no: SeqNo) -> Option<&mut RtpPacket> {
        let cached = self.packet_by_seq_no.get(*seq_no)?;
        let out = self.out.get_or_insert_with(|| Box::new(RtpPacket::blank()));
        cached.restore(out);
        Some(out)
    }

    /// Huiyi patch: `seq_no` is to be resent now, unless it was queued for
    /// a resend less than `min_interval` ago (a receiver repeats its NACK
    /// each of its round trips until the repair arrives, and on a line with
    /// a standing queue that is several times before the first resend can
    /// arrive; answering each multiplies the resends, which congest the line
    /// further). libwebrtc's sender does the same (one resend per round
    /// trip).
    pub fn take_for_resend(
        &mut self,
        seq_no: SeqNo,
        now: Instant,
        min_interval: Duration,
    ) -> ResendAsk {
        let Some((cached, sent)) = self.packet_by_seq_no.get_mut_with_time(*seq_no) else {
            return ResendAsk::NotKept;
        };
        let since_sent = now.saturating_duration_since(sent);
        let resent = Duration::from_millis(u64::from(cached.resent_ms));
        if cached.resent_ms != 0 && since_sent < resent + min_interval {
            return ResendAsk::Recent;
        }
        cached.resent_ms = since_sent.as_millis().clamp(1, u128::from(u16::MAX)) as u16;
        ResendAsk::Resend {
            payload_size: cached.payload.len(),
        }
    }

    pub fn get_cached_packet_smaller_than(&mut self, max_size: usize) -> Option<&mut RtpPacket> {
        let quantized_size = max_size / RTX_CACHE_SIZE_QUANTIZER;

        let seq_no = self.seq_no_by_quantized_size.as_ref()?[..quantized_size]
            .iter()
            .rev()
            .filter(|seq_no| !seq_no.is_max())
            .find(|seq_no| self.packet_by_seq_no.contains(***seq_no))?;

        self.get_cached_packet_by_seq_no(*seq_no)
    }

    fn remove_old_packets(&mut self, now: Instant) {
        self.packet_by_seq_no.maybe_evict(now);
    }

    pub(crate) fn last_packet(&self) -> Option<&[u8]> {
        let packet = self.packet_by_seq_no.last()?;
        Some(packet.payload.as_ref())
    }

    pub(crate) fn clear(&mut self) {
        self.packet_by_seq_no.clear();
        self.seq_no_by_quantized_size = None;
        self.skipped.clear();
        self.highest = None;
    }
}

#[cfg(test)]
mod test {
    use crate::rtp_::MediaTime;
    use crate::rtp_::RtpHeader;

    use super::*;

    fn after(now: Instant, millis: u64) -> Instant {
        now + Duration::from_millis(millis)
    }

    fn packet(now: Instant, seq_no: u64, millis: u64) -> RtpPacket {
        RtpPacket {
            header: RtpHeader::default(),
            seq_no: seq_no.into(),
            time: MediaTime::from_90khz(0),
            payload: millis.to_be_bytes().into(),
            vp8_patch: None,
            timestamp: after(now, millis),
            last_sender_info: None,
            nackable: true,
        }
    }

    // Huiyi patch: the MID and RID a packet was sent with are not kept (a
    // resend writes its own); other extension values are.
    #[test]
    fn the_mid_and_rid_are_not_cached() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1024, Duration::from_secs(3));
        let mut sent = packet(now, 1, 10);
        sent.header.ext_vals.mid = Some("1".into());
        sent.header.ext_vals.rid = Some("h".into());
        rtx_cache.cache_sent_packet(sent, after(now, 10));
        let mut rotated = packet(now, 2, 20);
        rotated.header.ext_vals.mid = Some("1".into());
        rotated.header.ext_vals.video_orientation = Some(crate::rtp_::VideoOrientation::Deg90);
        rtx_cache.cache_sent_packet(rotated, after(now, 20));

        assert!(rtx_cache.packet_by_seq_no.get(1).expect("cached").ext_vals.is_none(), "nothing boxed");
        let back = rtx_cache.get_cached_packet_by_seq_no(1.into()).expect("cached");
        assert_eq!((back.header.ext_vals.mid, back.header.ext_vals.rid), (None, None));
        let back = rtx_cache.get_cached_packet_by_seq_no(2.into()).expect("cached");
        assert_eq!(back.header.ext_vals.video_orientation, Some(crate::rtp_::VideoOrientation::Deg90));
        assert_eq!(back.header.ext_vals.mid, None);
    }

    // Huiyi patch: half a second until the first round trip, then what it
    // needs.
    #[test]
    fn the_cache_keeps_half_a_second_until_the_round_trip_is_known() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1024, Duration::from_secs(3));
        for i in 0..200 {
            rtx_cache.cache_sent_packet(packet(now, i, i * 10), after(now, i * 10));
        }
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(150.into()).is_some(),
            "490 ms old: kept"
        );
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(148.into()).is_none(),
            "510 ms old: gone"
        );
        assert!(
            rtx_cache.packet_by_seq_no.slots() < 75,
            "the ring fits half a second"
        );
        // A township line's round trip: up to the whole age.
        rtx_cache.fit_to_rtt(Duration::from_millis(1300));
        for i in 200..500 {
            rtx_cache.cache_sent_packet(packet(now, i, i * 10), after(now, i * 10));
        }
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(200.into()).is_some(),
            "2.99 s old: kept"
        );
    }

    #[test]
    fn the_cache_follows_the_highest_recent_round_trip() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1024, Duration::from_secs(3));
        // A queue-filled round trip, then a report from an empty queue: the
        // cache still keeps 3 × 7/8 × 600 + 200 = 1 775 ms, not 500.
        rtx_cache.fit_to_rtt(Duration::from_millis(600));
        for i in 0..200 {
            rtx_cache.cache_sent_packet(packet(now, i, i * 10), after(now, i * 10));
        }
        rtx_cache.fit_to_rtt(Duration::from_millis(100));
        rtx_cache.cache_sent_packet(packet(now, 200, 2_000), after(now, 2_000));
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(30.into()).is_some(),
            "1.7 s old: kept"
        );
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(20.into()).is_none(),
            "1.8 s old: gone"
        );
        // Low reports go on: an eighth less each, down to what they say.
        for _ in 0..40 {
            rtx_cache.fit_to_rtt(Duration::from_millis(100));
        }
        rtx_cache.cache_sent_packet(packet(now, 201, 2_010), after(now, 2_010));
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(152.into()).is_some(),
            "490 ms old: kept"
        );
        assert!(
            rtx_cache.get_cached_packet_by_seq_no(150.into()).is_none(),
            "510 ms old: gone"
        );
    }

    #[test]
    fn rtx_cache_0_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(0, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some(&mut packet(now, 1, 10)),
            rtx_cache.get_cached_packet_by_seq_no(1.into())
        );
        assert_eq!(
            Some(&mut packet(now, 1, 10)),
            rtx_cache.get_cached_packet_smaller_than(1000)
        );
    }

    #[test]
    fn a_packet_is_resent_once_per_interval() {
        let ask = |c: &mut RtxCache, seq: u64, at: Instant, rtt: Duration| match c.take_for_resend(
            seq.into(),
            at,
            rtt,
        ) {
            ResendAsk::Resend { .. } => Some(true),
            ResendAsk::Recent => Some(false),
            ResendAsk::NotKept => None,
        };
        let now = Instant::now();
        let rtt = Duration::from_millis(100);
        let mut rtx_cache = RtxCache::new(100, Duration::from_secs(1));
        rtx_cache.cache_sent_packet(packet(now, 1, 0), now);
        assert_eq!(Some(true), ask(&mut rtx_cache, 1, after(now, 50), rtt));
        // Asked again within the round trip: the resend is on its way.
        assert_eq!(Some(false), ask(&mut rtx_cache, 1, after(now, 60), rtt));
        assert_eq!(Some(false), ask(&mut rtx_cache, 1, after(now, 149), rtt));
        // A round trip later the resend is taken to be lost: again.
        assert_eq!(Some(true), ask(&mut rtx_cache, 1, after(now, 150), rtt));
        assert_eq!(Some(false), ask(&mut rtx_cache, 1, after(now, 200), rtt));
        // A packet never cached.
        assert_eq!(None, ask(&mut rtx_cache, 2, after(now, 200), rtt));
    }

    #[test]
    fn a_number_skipped_upstream_is_not_expired_while_its_repair_may_come() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(100, Duration::from_millis(300));
        // 1, 2, then 5 (3 and 4 lost upstream), 6, then 10 (7 to 9 lost).
        for (seq, ms) in [(1, 0), (2, 10), (5, 20), (6, 30), (10, 35)] {
            rtx_cache.cache_sent_packet(packet(now, seq, ms), after(now, ms));
        }
        // 3 and 8 come late, upstream's resends.
        rtx_cache.cache_sent_packet(packet(now, 3, 40), after(now, 40));
        rtx_cache.cache_sent_packet(packet(now, 8, 45), after(now, 45));
        // A second later everything has left the cache.
        rtx_cache.cache_sent_packet(packet(now, 11, 1000), after(now, 1000));
        let t = after(now, 1000);
        assert!(rtx_cache.get_cached_packet_by_seq_no(2.into()).is_none());
        assert!(rtx_cache.expired(2.into(), t), "sent, and gone");
        assert!(rtx_cache.expired(3.into(), t), "sent late, and gone");
        assert!(
            !rtx_cache.expired(4.into(), t),
            "never sent: upstream may still bring it"
        );
        assert!(rtx_cache.expired(5.into(), t));
        // A run split in the middle keeps both sides.
        assert!(!rtx_cache.expired(7.into(), t));
        assert!(rtx_cache.expired(8.into(), t));
        assert!(!rtx_cache.expired(9.into(), t));
        // Past the wait, a number never repaired is beyond repair too.
        let late = after(now, 20) + SKIPPED_AGE;
        assert!(rtx_cache.expired(4.into(), late));
    }

    #[test]
    fn skipped_runs_are_bounded_in_number_and_age() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1000, Duration::from_millis(300));
        // Every other number lost upstream, and each run split by nothing.
        for i in 0..200_u64 {
            rtx_cache.cache_sent_packet(packet(now, i * 2, i), after(now, i));
        }
        assert_eq!(rtx_cache.skipped.len(), SKIPPED_KEPT);
        // Late packets splitting a long run do not grow it past the bound.
        rtx_cache.cache_sent_packet(packet(now, 2000, 200), after(now, 200));
        for i in 0..40_u64 {
            let seq = 401 + i * 2;
            rtx_cache.cache_sent_packet(packet(now, seq, 201 + i), after(now, 201 + i));
        }
        assert_eq!(rtx_cache.skipped.len(), SKIPPED_KEPT);
        assert!(rtx_cache.skipped.iter().all(|r| r.start < r.end));
        // Old runs go.
        let later = after(now, 300) + SKIPPED_AGE;
        rtx_cache.cache_sent_packet(packet(now, 3000, 0), later);
        assert!(rtx_cache.skipped.len() <= 1, "{:?}", rtx_cache.skipped);
    }

    #[test]
    fn rtx_cache_0_duration() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(10, Duration::from_secs(0));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(None, rtx_cache.get_cached_packet_by_seq_no(1.into()));
        assert_eq!(None, rtx_cache.get_cached_packet_smaller_than(1000));
    }

    #[test]
    fn rtx_cache_1_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some(&mut packet(now, 1, 10)),
            rtx_cache.get_cached_packet_by_seq_no(1.into())
        );
        assert_eq!(
            Some(&mut packet(now, 1, 10)),
            rtx_cache.get_cached_packet_smaller_than(1000)
        );
        assert_eq!(
            Some(&mut packet(now, 1, 10)),
            rtx_cache.get_cached_packet_smaller_than(25)
        );
        assert_eq!(None, rtx_cache.get_cached_packet_smaller_than(24));
        rtx_cache.cache_sent_packet(packet(now, 2, 20), after(now, 20));
        assert_eq!(
            Some(&mut packet(now, 2, 20)),
            rtx_cache.get_cached_packet_by_seq_no(2.into())
        );
    }

    #[test]
    fn rtx_cache_100_sized_backwards() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(100, Duration::from_secs(3));
        // Huiyi patch: the whole age once a round trip calls for it (until
        // then the cache keeps half a second).
        rtx_cache.fit_to_rtt(Duration::from_secs(1));

        for i in 1..=200 {
            let seq_no = 201 - i;
            let pkt = packet(now, seq_no, (201 - i) * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(
            Some(&mut packet(now, 200, 2000)),
            rtx_cache.get_cached_packet_by_seq_no(200.into())
        );
        assert_eq!(None, rtx_cache.get_cached_packet_by_seq_no(100.into()));
        assert_eq!(None, rtx_cache.get_cached_packet_by_seq_no(101.into()));
    }

    #[test]
    fn rtx_cache_eviction() {
        let now = Instant::now();
        // Cache can take all entries
        let mut rtx_cache = RtxCache::new(400, Duration::from_secs(1));
        // Huiyi patch: the whole age once a round trip calls for it.
        rtx_cache.fit_to_rtt(Duration::from_millis(500));
        for i in 1..=200 {
            let seq_no = i;
            let pkt = packet(now, seq_no, i * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(None, rtx_cache.get_cached_packet_by_seq_no(99.into()));

        assert_eq!(
            Some(&mut packet(now, 100, 1000)),
            rtx_cache.get_cached_packet_by_seq_no(100.into())
        );
        assert_eq!(
            Some(&mut packet(now, 200, 2000)),
            rtx_cache.get_cached_packet_by_seq_no(200.into())
        );
    }
}
