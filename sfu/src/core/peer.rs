//! One participant's connection: its str0m `Rtc` and the tracks it publishes
//! (up) and receives (down).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::format::CodecSpec;
use str0m::media::{Mid, Pt};
use str0m::rtp::Ssrc;
use str0m::Rtc;

use crate::core::allocate::Allocator;
use crate::core::clock::{PublisherClock, StreamClock};
use crate::core::events::PeerCounters;
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::keyframe::KeyframeThrottle;
use crate::core::layers::{LayerChoice, LayerIn};
use crate::core::negotiate::Negotiation;
use crate::core::rewrite::Rewriter;
use crate::core::stale::StaleEstimate;

/// Index of a peer in the engine's peer table. Stable while the peer lives;
/// every reference to it is removed when it leaves.
pub(crate) type PeerKey = usize;

/// A subscriber of an up track: which peer, which of its down tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subscriber {
    pub peer: PeerKey,
    pub down: usize,
}

/// A track the peer publishes (publisher → SFU).
pub(crate) struct UpTrack {
    pub id: TrackId,
    pub mid: Mid,
    pub kind: TrackKind,
    /// SSRCs seen on this m-line (main streams; str0m unwraps RTX).
    pub ssrcs: Vec<Ssrc>,
    pub subscribers: Vec<Subscriber>,
    pub throttle: KeyframeThrottle,
    pub clock: Option<StreamClock>,
    /// Codec of each payload type seen, learned from the publisher's session,
    /// and whether the type is that codec wrapped in RED (RFC 2198).
    pub pt_specs: Vec<(Pt, CodecSpec, bool)>,
    /// The control plane muted it: nothing is forwarded, whatever the client sends.
    pub muted: bool,
    /// Loudest audio level in the current window, in dBov (0 = loudest,
    /// −127 = silence), from the RFC 6464 header extension.
    pub level: Option<i8>,
    /// The latest sender report applied (its NTP time), to apply each once.
    pub last_sr: Option<std::time::SystemTime>,
    /// Bytes forwarded in the current one-second window, and when it began.
    pub window: Option<(Instant, u64)>,
    /// The simulcast layers seen (one for a publisher without simulcast).
    pub layers: Vec<LayerIn>,
    /// Layers a keyframe is wanted on (bit per spatial layer; 0: all).
    pub keyframe_layers: u8,
    /// The layers the room's other shards forward of it (ADR 0018), as
    /// each last said: worker, layer bits, when.
    pub remote_wants: Vec<(usize, u8, Instant)>,
}

impl UpTrack {
    pub fn new(id: TrackId, mid: Mid, kind: TrackKind, keyframe_interval: Duration) -> Self {
        Self {
            id,
            mid,
            kind,
            ssrcs: Vec::new(),
            subscribers: Vec::new(),
            throttle: KeyframeThrottle::new(keyframe_interval),
            clock: None,
            pt_specs: Vec::new(),
            muted: false,
            level: None,
            last_sr: None,
            window: None,
            layers: Vec::new(),
            keyframe_layers: 0,
            remote_wants: Vec::new(),
        }
    }

    /// Counts `bytes` against `cap` bytes per second; false once this
    /// second's budget is spent (the packet is not forwarded).
    pub fn within_cap(&mut self, now: Instant, bytes: u64, cap: u64) -> bool {
        let (start, used) = self.window.get_or_insert((now, 0));
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            if *used > cap {
                tracing::warn!(track = %self.id, bytes = *used, cap, "a track over its bitrate cap: the excess was dropped");
            }
            *start = now;
            *used = 0;
        }
        *used += bytes;
        *used <= cap
    }
}

/// A track the peer receives (SFU → subscriber): one send-only m-line.
pub(crate) struct DownTrack {
    pub mid: Mid,
    /// Where its packets come from: publisher and its up track index.
    pub source: Option<(PeerKey, usize)>,
    pub rewriter: Rewriter,
    /// Publisher payload type → this subscriber's payload type, and whether
    /// RED is unwrapped on the way (the subscriber did not negotiate it).
    pub pt_map: Vec<(Pt, Pt, bool)>,
    /// Its RTX cache was sized (on the first video packet written).
    pub rtx_sized: bool,
    /// Its str0m send stream's SSRC, once a packet was written through the
    /// m-line (later writes find the stream by it, in O(1)).
    pub ssrc: Option<Ssrc>,
    /// Which simulcast layer it forwards, and which it should.
    pub layer: LayerChoice,
}

impl DownTrack {
    /// A down track of `kind` on m-line `mid` fed by `source`; `seed`
    /// picks its first sequence number and timestamp (unpredictable per
    /// subscriber and line, below 2^16 for a fresh SRTP rollover counter).
    pub fn new(mid: Mid, source: Option<(PeerKey, usize)>, kind: TrackKind, seed: u64) -> Self {
        let (first_seq, first_ts) = ((seed % 30_000 + 1) as u16, (seed >> 16) as u32);
        let (rewriter, layer) = match kind {
            TrackKind::Audio => (Rewriter::new(48_000, false, first_seq, first_ts), LayerChoice::audio()),
            TrackKind::Video => (Rewriter::new(90_000, true, first_seq, first_ts), LayerChoice::default()),
        };
        DownTrack { mid, source, rewriter, pt_map: Vec::new(), rtx_sized: false, ssrc: None, layer }
    }
}

/// A WHEP viewer's m-lines (down track indices): its own offer's one
/// audio and one video line, each bound to whichever track the control
/// plane says (the meeting's main picture and voice).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ViewerLines {
    pub audio: Option<usize>,
    pub video: Option<usize>,
    /// What each line is to carry (bound when the line appears, if later).
    pub want_audio: Option<TrackId>,
    pub want_video: Option<TrackId>,
}

/// A subscriber's lost share (of the last second's packets, from its
/// transport-wide feedback) above which its line counts as full, when some
/// video is also below what it wants ([`Peer::paced`], ADR 0021).
pub const PACING_LOSS: f32 = 0.01;
/// How long after such a loss a subscriber stays paced.
pub const PACED_AFTER_LOSS: Duration = Duration::from_secs(10);

/// A participant.
pub(crate) struct Peer {
    pub id: PeerId,
    pub room: RoomId,
    /// Its connection; `None` for a remote publisher's stand-in.
    pub rtc: Option<Rtc>,
    /// A remote publisher's stand-in (ADR 0018): a publisher of a large
    /// room that lives on worker `origin`, whose up tracks here are fed by
    /// the packets that worker relays. It has no connection and no down
    /// tracks, and is not among the room's members.
    pub origin: Option<usize>,
    /// When str0m next wants a timeout.
    pub deadline: Instant,
    pub up: Vec<Option<UpTrack>>,
    pub down: Vec<Option<DownTrack>>,
    pub clock: PublisherClock,
    pub neg: Negotiation,
    pub connected: bool,
    /// The transport its last datagram came over (ICE-TCP or UDP).
    pub over_tcp: bool,
    /// The subscriber asked for audio only (a weak link): no video is sent to it.
    pub video_paused: bool,
    /// When set, only video from these publishers is sent to this subscriber
    /// (broadcast mode: a sub-venue receives only the broadcast source).
    pub video_sources: Option<Vec<PeerId>>,
    /// May publish (an observer, 列席, may not): m-lines it sends on are
    /// never published, whatever its offers and answers negotiate.
    pub may_publish: bool,
    pub counters: PeerCounters,
    /// Its bandwidth estimate (bit/s), from its transport-wide feedback.
    pub estimate: Option<u64>,
    /// Which layer of each video it receives.
    pub allocator: Allocator,
    /// Notices its estimator stuck while a video waits for more.
    pub stale_estimate: StaleEstimate,
    /// Without an estimator: a limit from its receiver reports (ADR 0028).
    pub reported: crate::core::reported::ReportedLimit,
    /// Its line is the limit (some video below what it wants, by the
    /// estimate, and packets lost within [`PACED_AFTER_LOSS`]): packets
    /// forwarded to it go through its pacer, which sends audio ahead of
    /// queued video, instead of leaving in the forwarding call (ADR 0021).
    pub paced: bool,
    /// When its transport-wide feedback last reported more than
    /// [`PACING_LOSS`] of a second's packets lost.
    pub lossy_at: Option<Instant>,
    /// The highest layer worth sending for a track, by the size of its
    /// tile (`None`: not shown, nothing sent).
    pub tile_limits: HashMap<TrackId, Option<u8>>,
    /// A viewer (WHEP): it receives on the m-lines of its own offer, bound
    /// by the control plane; it is never offered the room's tracks.
    pub viewer: Option<ViewerLines>,
    /// A listener of a large room: its audio comes on voice lines (down
    /// track index per line, once negotiated), one per slot of the room's
    /// audio top-N, instead of one m-line per microphone (ADR 0015).
    pub voices: Option<Vec<Option<usize>>>,
}

impl Peer {
    /// Decides [`Self::paced`] at an allocation at `now`: `loss`, the share
    /// of the last second's packets its feedback reports lost; `at_best`,
    /// every video it receives at the best layer it wants.
    pub fn update_paced(&mut self, now: Instant, loss: Option<f32>, at_best: bool) {
        if loss.is_some_and(|l| l > PACING_LOSS) {
            self.lossy_at = Some(now);
        }
        let lossy = self.lossy_at.is_some_and(|t| now < t + PACED_AFTER_LOSS);
        self.paced = !at_best && lossy;
    }

    pub fn new(id: PeerId, room: RoomId, rtc: Rtc, now: Instant) -> Self {
        Self::new_with(id, room, Some(rtc), now)
    }

    fn new_with(id: PeerId, room: RoomId, rtc: Option<Rtc>, now: Instant) -> Self {
        Self {
            id,
            room,
            rtc,
            origin: None,
            deadline: now,
            up: Vec::new(),
            down: Vec::new(),
            clock: PublisherClock::default(),
            neg: Negotiation::default(),
            connected: false,
            over_tcp: false,
            video_paused: false,
            video_sources: None,
            may_publish: true,
            counters: PeerCounters::default(),
            estimate: None,
            allocator: Allocator::new(),
            stale_estimate: StaleEstimate::default(),
            reported: Default::default(),
            paced: false,
            lossy_at: None,
            tile_limits: HashMap::new(),
            viewer: None,
            voices: None,
        }
    }

    /// A stand-in for publisher `id` of `room`, which lives on worker `origin`.
    pub fn remote(id: PeerId, room: RoomId, origin: usize, now: Instant) -> Self {
        let mut p = Self::new_with(id, room, None, now);
        p.origin = Some(origin);
        p
    }

    /// Whether down track `di` is one of its voice lines.
    pub fn is_voice_line(&self, di: usize) -> bool {
        self.voices.as_ref().is_some_and(|v| v.contains(&Some(di)))
    }

    /// The up track a packet with this SSRC belongs to, learning new SSRCs
    /// from str0m's stream table.
    pub fn up_index_for(&mut self, ssrc: Ssrc) -> Option<usize> {
        if let Some(i) = self.up.iter().position(|u| u.as_ref().is_some_and(|u| u.ssrcs.contains(&ssrc))) {
            return Some(i);
        }
        let mid = self.rtc.as_mut()?.direct_api().stream_rx(&ssrc)?.mid();
        let i = self.up_index_by_mid(mid)?;
        let video = self.nack_negotiated(mid);
        let up = self.up[i].as_mut().expect("index from position");
        up.ssrcs.push(ssrc);
        if up.kind == TrackKind::Video && video {
            // str0m NACKs only streams with an RTX repair stream. Clients that
            // negotiate generic NACK without RTX (RFC 4585: the sender repeats
            // the packet on its own SSRC) are repaired just the same.
            if let Some(rtc) = self.rtc.as_mut() {
                if let Some(rx) = rtc.direct_api().stream_rx(&ssrc) {
                    rx.suppress_nack(false);
                }
            }
        }
        Some(i)
    }

    fn nack_negotiated(&self, mid: Mid) -> bool {
        let Some(rtc) = self.rtc.as_ref() else { return false };
        let Some(media) = rtc.media(mid) else {
            return false;
        };
        let config = rtc.codec_config();
        media.remote_pts().iter().any(|pt| config.find(|p| p.pt() == *pt).is_some_and(|p| p.fb_nack()))
    }

    pub fn up_index_by_mid(&self, mid: Mid) -> Option<usize> {
        self.up.iter().position(|u| u.as_ref().is_some_and(|u| u.mid == mid))
    }

    pub fn down_index_by_mid(&self, mid: Mid) -> Option<usize> {
        self.down.iter().position(|d| d.as_ref().is_some_and(|d| d.mid == mid))
    }

    pub fn insert_up(&mut self, up: UpTrack) -> usize {
        insert_slot(&mut self.up, up)
    }

    pub fn insert_down(&mut self, down: DownTrack) -> usize {
        insert_slot(&mut self.down, down)
    }
}

fn insert_slot<T>(slots: &mut Vec<Option<T>>, value: T) -> usize {
    if let Some(i) = slots.iter().position(Option::is_none) {
        slots[i] = Some(value);
        i
    } else {
        slots.push(Some(value));
        slots.len() - 1
    }
}

impl crate::core::Engine {
    /// Connected peers whose media goes over ICE-TCP, and over UDP (for
    /// `/metrics`: which way the venues come in).
    pub fn peers_by_transport(&self) -> (usize, usize) {
        let connected = self.peers.iter().flatten().filter(|p| p.connected);
        connected.fold((0, 0), |(tcp, udp), p| if p.over_tcp { (tcp + 1, udp) } else { (tcp, udp + 1) })
    }
}
