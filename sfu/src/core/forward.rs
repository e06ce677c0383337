//! The forwarding path: one RTP packet from a publisher to each subscriber
//! of its track, and keyframe requests the other way.
//!
//! Per packet and publisher: find the up track, update its clock from the
//! latest sender report, classify the payload once (VP8 descriptor,
//! keyframe). Per subscriber: rewrite the numbers ([`Rewriter`]), map the
//! payload type, and hand str0m the shared payload (`Arc<[u8]>`, never
//! copied here) to protect and send. str0m keeps the packet for NACKs
//! (video) and answers them with RTX on its own.
//!
//! [`Rewriter`]: crate::core::rewrite::Rewriter

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::{Codec, CodecSpec};
use str0m::media::{KeyframeRequest, KeyframeRequestKind, Pt};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::RtpWritten;

use crate::core::clock::StreamClock;
use crate::core::engine::Engine;
use crate::core::events::SfuEvent;
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::layers::{Gate, PacketLayer};
use crate::core::peer::{PeerKey, Subscriber};
use crate::core::red;
use crate::core::relay::Relay;
use crate::core::rewrite::{Decision, RewriteIn};
use crate::core::tap::{TapCodec, TapPacket};

/// Most packets a subscriber's video RTX cache holds (see `write_down`).
const RTX_CACHE_PACKETS: usize = 1024;
/// How long a sent video packet stays available for a resend, at most: the
/// vendored str0m keeps three of the subscriber's round trips and 200 ms
/// (at least 300 ms) once its receiver reports give one (ADR 0014), so this
/// bounds only a subscriber whose round trip is over ~930 ms. A township
/// line with a standing queue has round trips of 0.5–1.3 s, and there a
/// bound of 1 s made most second asks for a lost packet come after it had
/// left the cache: each such loss cost a keyframe (ADR 0010, "Resent once
/// per round trip, kept for the round trip"). Three seconds is str0m's own
/// default; a LAN subscriber still keeps 300 ms.
const RTX_CACHE_AGE: Duration = Duration::from_secs(3);
/// Resent bytes may reach the bytes sent (a share of 0.5 of both) over a
/// second before str0m drops a stream's queued resends. str0m's default of
/// 0.15 fired on every lossy township line: a 240p stream at 80 kbit/s with
/// 5 % loss and a few queue drops after a keyframe crosses it, the repairs
/// the browser waits for are dropped, and it asks for a keyframe only after
/// its NACKs time out — a 3–5 s freeze (ADR 0014). libwebrtc lets resends
/// use up to the whole estimate; this bounds what one subscriber's NACKs can
/// make the server send to twice its media.
const RTX_RATIO_CAP: f32 = 0.5;
use crate::core::vp8;

/// What every subscriber's copy of one packet shares.
struct Shared<'a> {
    packet: &'a RtpPacket,
    /// The payload is RED-wrapped (RFC 2198).
    red: bool,
    /// Its primary block, unwrapped once for the subscribers without RED
    /// (`None` inside: malformed, not forwarded to them).
    primary: OnceCell<Option<Arc<[u8]>>>,
    publisher: PeerId,
    spec: CodecSpec,
    wallclock: Instant,
    rewrite: RewriteIn,
    descriptor: Option<Vp8Descriptor>,
    ext: ExtensionValues,
    /// Its simulcast and temporal layer, and where its frame starts.
    layer: PacketLayer,
    video: bool,
    /// The worker's time for this packet (a direct release's send time).
    now: Instant,
}

/// How a write to a subscriber's stream went.
enum Written {
    /// Through the known SSRC, released at once (ADR 0020): send this.
    Sent(str0m::net::Transmit),
    /// Through the known SSRC, queued for the peer's next pass.
    Queued,
    /// Through the known SSRC, queued because the subscriber is paced (ADR 0021).
    Paced,
    /// Through the m-line; the stream's SSRC, and whether its RTX cache was sized.
    Looked { ssrc: Ssrc, sized: bool },
    /// No such stream.
    Lost,
}

impl Engine {
    pub(crate) fn forward(&mut self, now: Instant, pk: PeerKey, packet: RtpPacket) {
        let Some(p) = self.peer_mut(pk) else { return };
        p.counters.packets_in += 1;
        p.counters.bytes_in += packet.payload.len() as u64;
        let Some(ui) = p.up_index_for(packet.header.ssrc) else {
            return;
        };
        let pt = packet.header.payload_type;
        let (spec, red) = match p.up[ui].as_ref().and_then(|u| u.pt_specs.iter().find(|(x, ..)| *x == pt)) {
            Some((_, spec, red)) => (*spec, *red),
            None => {
                let Some((spec, red)) = p.rtc.as_ref().and_then(|rtc| {
                    rtc.codec_config()
                        .find(|c| c.pt() == pt || c.red() == Some(pt))
                        .map(|c| (c.spec(), c.red() == Some(pt)))
                }) else {
                    return;
                };
                p.up[ui].as_mut().expect("index valid").pt_specs.push((pt, spec, red));
                (spec, red)
            }
        };
        self.fan_out(now, pk, ui, packet, spec, red, None);
    }

    /// A packet another worker relayed for up track `ui` of stand-in `pk`
    /// (ADR 0018): its publisher's worker found its codec and layer and
    /// applied the mute and the bitrate cap.
    pub(crate) fn forward_relayed(
        &mut self,
        now: Instant,
        pk: PeerKey,
        ui: usize,
        codec: (CodecSpec, bool),
        spatial: u8,
        packet: RtpPacket,
    ) {
        self.fan_out(now, pk, ui, packet, codec.0, codec.1, Some(spatial));
    }

    /// One published packet to every subscriber of its track here (and to
    /// the room's other shards, if it was published here). `spatial`: its
    /// layer as its publisher's worker found it, for a relayed packet.
    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &mut self,
        now: Instant,
        pk: PeerKey,
        ui: usize,
        packet: RtpPacket,
        spec: CodecSpec,
        red: bool,
        spatial: Option<u8>,
    ) {
        let cap = self.cfg.max_track_bytes_per_sec;
        let Some(p) = self.peer_mut(pk) else { return };
        let (vp8_fields, keyframe) = match spec.codec {
            Codec::Vp8 => {
                let f = vp8::parse(&packet.payload);
                (f, f.is_some_and(|f| f.starts_keyframe))
            }
            Codec::H264 => (None, vp8::h264_starts_keyframe(&packet.payload)),
            _ => (None, p.up[ui].as_ref().is_some_and(|u| u.kind == TrackKind::Audio)),
        };
        let local = p.origin.is_none();
        let tid = vp8_fields.and_then(|f| f.temporal);
        let (spatial, fresh) = self.layer_of(
            now,
            pk,
            ui,
            (packet.header.ssrc, spatial),
            *packet.seq_no,
            packet.payload.len() as u64,
            tid,
        );
        let Some(p) = self.peer_mut(pk) else { return };
        let clock_rate = spec.clock_rate.get();
        let up = p.up[ui].as_mut().expect("index valid");
        let clock = up.clock.get_or_insert_with(|| StreamClock::new(clock_rate));
        if let Some(sr) = packet.last_sender_info {
            // Each SR is attached to every packet until the next one: apply it once.
            // An SR sent before any media carries no timing.
            if up.last_sr != Some(sr.ntp_time) && sr.sender_packet_count > 0 {
                up.last_sr = Some(sr.ntp_time);
                clock.sender_report(sr.ntp_time, sr.rtp_time.numer() as u32);
            }
        }
        let wallclock = clock.wallclock(&mut p.clock, packet.header.timestamp, packet.timestamp);
        let video = up.kind == TrackKind::Video;
        if up.muted {
            return; // server-enforced mute: the client's packets stop here
        }
        if local && !up.within_cap(now, packet.payload.len() as u64, cap) {
            return; // over the per-track bitrate cap
        }
        if let Some(level) = packet.header.ext_vals.audio_level {
            up.level = Some(up.level.map_or(level, |l| l.max(level)));
        }
        if video && keyframe {
            up.throttle.keyframe_received();
        }
        let publisher = p.id;
        let (track, room) = (up.id, p.room);
        self.tap(room, track, publisher, spatial, spec.codec, red, &packet);
        if local {
            self.relay_media(room, track, (spec, red), spatial, &packet);
        }
        if !video && !self.audio_admitted(now, pk, ui, packet.header.ext_vals.audio_level) {
            return; // audio top-N: a microphone without a slot
        }
        let descriptor = if vp8_fields.is_some_and(|f| f.picture_id.is_some() || f.tl0_pic_idx.is_some()) {
            Vp8Descriptor::parse(&packet.payload).ok()
        } else {
            None
        };
        let e = &packet.header.ext_vals;
        let ext = ExtensionValues {
            audio_level: e.audio_level,
            voice_activity: e.voice_activity,
            video_orientation: e.video_orientation,
            video_content_type: e.video_content_type,
            ..Default::default()
        };
        let shared = Shared {
            now,
            rewrite: RewriteIn {
                seq: *packet.seq_no,
                ts: packet.header.timestamp,
                vp8: vp8_fields,
                keyframe,
                arrival: packet.timestamp,
            },
            packet: &packet,
            red,
            primary: OnceCell::new(),
            publisher,
            spec,
            wallclock,
            descriptor,
            ext,
            video,
            layer: PacketLayer {
                spatial,
                temporal: tid,
                keyframe,
                // (A late packet's frame start changes no frame rate.)
                frame_start: fresh && vp8_fields.is_some_and(|f| f.starts_frame),
                layer_sync: vp8_fields.is_some_and(|f| f.layer_sync),
            },
        };
        let count =
            self.peers[pk].as_ref().and_then(|p| p.up[ui].as_ref()).map_or(0, |u| u.subscribers.len());
        let mut wants_keyframe = 0u8;
        for i in 0..count {
            let Some(s) = self.peers[pk]
                .as_ref()
                .and_then(|p| p.up[ui].as_ref())
                .and_then(|u| u.subscribers.get(i))
                .copied()
            else {
                break;
            };
            if let Some(layer) = self.write_down(s, &shared) {
                wants_keyframe |= 1 << layer;
            }
        }
        if wants_keyframe != 0 {
            if let Some(up) = self.peer_mut(pk).and_then(|p| p.up[ui].as_mut()) {
                up.keyframe_layers |= wants_keyframe;
            }
            self.request_keyframe(now, pk, ui, KeyframeRequestKind::Pli);
        }
    }

    /// A copy for each of the room's taps (its recording, its live feed).
    #[allow(clippy::too_many_arguments)]
    fn tap(
        &mut self,
        room: RoomId,
        track: TrackId,
        publisher: PeerId,
        layer: u8,
        codec: Codec,
        red: bool,
        packet: &RtpPacket,
    ) {
        let Some(r) = self.rooms.get_mut(&room) else { return };
        if r.taps.iter().all(Option::is_none) {
            return;
        }
        let payload = if red { red::primary(&packet.payload) } else { Some(&packet.payload[..]) };
        let Some(payload) = payload else { return };
        let codec = match codec {
            Codec::Opus => TapCodec::Opus,
            Codec::Vp8 => TapCodec::Vp8,
            Codec::H264 => TapCodec::H264,
            _ => TapCodec::Other,
        };
        for slot in &mut r.taps {
            let Some(tap) = slot.as_ref() else { continue };
            let copy = TapPacket {
                track,
                publisher,
                layer,
                ssrc: *packet.header.ssrc,
                seq: *packet.seq_no,
                timestamp: packet.header.timestamp,
                marker: packet.header.marker,
                arrival: packet.timestamp,
                codec,
                level: packet.header.ext_vals.audio_level,
                payload: payload.to_vec(),
            };
            if !tap.offer(copy) {
                *slot = None; // its reader has gone
            }
        }
    }

    /// Writes one packet to one subscriber.
    ///
    /// A subscriber's video RTX cache keeps what its round trip needs (see
    /// `RTX_CACHE_AGE`): on a county intranet a NACK comes within tens of
    /// milliseconds and 300 ms are kept, on a township line up to three
    /// seconds (docs/benchmarks.md). Returns the layer it waits for a
    /// keyframe of, if it does.
    fn write_down(&mut self, s: Subscriber, sh: &Shared<'_>) -> Option<u8> {
        let sub = self.peers.get_mut(s.peer).and_then(Option::as_mut)?;
        if sh.video
            && (sub.video_paused
                || sub.video_sources.as_ref().is_some_and(|allowed| !allowed.contains(&sh.publisher)))
        {
            return None;
        }
        let down = sub.down.get_mut(s.down).and_then(Option::as_mut)?;
        let had = down.layer.current;
        let gate = down.layer.gate(sh.layer);
        if matches!(gate, Gate::Forward | Gate::Skip) && down.layer.current != had {
            self.counters.frame_rate_changes += 1;
        }
        match gate {
            Gate::Forward => {}
            Gate::Drop => return None,
            Gate::Skip => {
                self.counters.packets_thinned += 1;
                down.rewriter.skip(sh.rewrite);
                return None;
            }
            Gate::NeedKeyframe(layer) => return Some(layer),
            Gate::Switch => {
                if had.is_some() {
                    self.counters.layer_switches += 1;
                }
                down.rewriter.switch_source();
            }
        }
        let out = match down.rewriter.rewrite(sh.rewrite) {
            Decision::Forward(out) => out,
            Decision::WaitForKeyframe => return Some(sh.layer.spatial),
            Decision::Stale => return None,
        };
        let in_pt = sh.packet.header.payload_type;
        let (out_pt, unwrap) = match down.pt_map.iter().find(|(i, ..)| *i == in_pt) {
            Some((_, o, u)) => (*o, *u),
            None => {
                let (o, u) = subscriber_pt(sub.rtc.as_ref()?, &sh.spec, sh.red)?;
                down.pt_map.push((in_pt, o, u));
                (o, u)
            }
        };
        let payload = if unwrap {
            sh.primary.get_or_init(|| red::primary(&sh.packet.payload).map(Arc::from)).clone()?
        } else {
            sh.packet.payload.clone()
        };
        let mid = down.mid;
        let write_len = payload.len();
        let size_cache = sh.video && !down.rtx_sized;
        let known = down.ssrc.filter(|_| !size_cache);
        let mut write = RtpWrite::new(out_pt, out.seq.into(), out.ts, sh.wallclock, payload)
            .marker(sh.packet.header.marker)
            .ext_vals(sh.ext.clone())
            .nackable(sh.video);
        if let Some(desc) = sh.descriptor {
            let mut patch = desc.patch();
            if let Some(pic) = out.picture_id {
                patch = patch.picture_id(pic);
            }
            if let Some(tl0) = out.tl0_pic_idx {
                patch = patch.tl0_pic_idx(tl0);
            }
            if let Ok(patch) = patch.build() {
                write = write.vp8_patch(patch);
            }
        }
        sub.counters.packets_out += 1;
        sub.counters.bytes_out += write_len as u64;
        self.counters.forwarded += 1;
        // The stream is found by its SSRC once known, and the write releases
        // the packet at once when the subscriber's pacer would (ADR 0020),
        // else queues it for the peer's next pass (ADR 0014); the first
        // packets go through the m-line lookup, which also sizes a video's
        // RTX cache.
        let paced = sub.paced;
        // (The worker's spare buffers, for the datagram: ADR 0027.)
        let mut spare = std::mem::take(&mut self.spare);
        let written = self.with_rtc(s.peer, |rtc| {
            if let Some(ssrc) = known {
                if paced {
                    return if rtc.write_rtp_queued(ssrc, write) { Written::Paced } else { Written::Lost };
                }
                return match rtc.write_rtp_now(ssrc, write, sh.now, &mut spare) {
                    RtpWritten::Sent(transmit) => Written::Sent(transmit),
                    RtpWritten::Queued => Written::Queued,
                    RtpWritten::NoStream => Written::Lost,
                };
            }
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                return Written::Lost;
            };
            if size_cache {
                tx.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, Some(RTX_RATIO_CAP));
            }
            let ssrc = tx.ssrc();
            tx.write_rtp(write);
            Written::Looked { ssrc, sized: size_cache }
        });
        self.spare = spare;
        let down = self.peers[s.peer].as_mut().and_then(|p| p.down.get_mut(s.down)).and_then(Option::as_mut);
        match (written, down) {
            (Some(Written::Paced), _) => self.counters.sent_paced += 1,
            (Some(Written::Sent(transmit)), _) => {
                self.counters.sent_directly += 1;
                self.transmits.push_back(transmit);
            }
            (Some(Written::Looked { ssrc, sized }), Some(down)) => {
                down.ssrc = Some(ssrc);
                down.rtx_sized |= sized;
            }
            // The stream went away under its SSRC: look it up again next time.
            (Some(Written::Lost), Some(down)) => down.ssrc = None,
            _ => {}
        }
        None
    }

    /// A subscriber lost its picture: ask the publisher, through the throttle.
    pub(crate) fn subscriber_wants_keyframe(&mut self, now: Instant, pk: PeerKey, req: KeyframeRequest) {
        let Some(p) = self.peers[pk].as_ref() else {
            return;
        };
        let Some(di) = p.down_index_by_mid(req.mid) else {
            return;
        };
        let Some((owner, ui)) = p.down[di].as_ref().and_then(|d| d.source) else {
            return;
        };
        let layer = p.down[di].as_ref().and_then(|d| d.layer.current_spatial());
        if let (Some(layer), Some(up)) =
            (layer, self.peer_mut(owner).and_then(|o| o.up.get_mut(ui)).and_then(Option::as_mut))
        {
            up.keyframe_layers |= 1 << layer;
        }
        self.request_keyframe(now, owner, ui, req.kind);
    }

    pub(crate) fn request_keyframe(
        &mut self,
        now: Instant,
        owner: PeerKey,
        ui: usize,
        kind: KeyframeRequestKind,
    ) {
        let Some(up) = self.peer_mut(owner).and_then(|o| o.up[ui].as_mut()) else {
            return;
        };
        if up.kind != TrackKind::Video {
            return;
        }
        if let Some(kind) = up.throttle.request(now, kind) {
            self.send_keyframe_request(owner, ui, kind);
        } else {
            tracing::trace!(track = up.id.0, layers = up.keyframe_layers, "keyframe request held back");
            if let Some(at) = up.throttle.deadline() {
                self.timers.schedule(owner, at);
            }
        }
    }

    /// Sends keyframe requests that the throttle held back and are now due;
    /// arms the peer's timer for those still held back.
    pub(crate) fn poll_keyframe_throttles(&mut self, now: Instant, pk: PeerKey) {
        let Some(p) = self.peers.get_mut(pk).and_then(Option::as_deref_mut) else { return };
        let mut due = Vec::new();
        for (ui, up) in p.up.iter_mut().enumerate() {
            let Some(up) = up.as_mut() else { continue };
            if let Some(kind) = up.throttle.poll(now) {
                due.push((ui, kind));
            } else if let Some(at) = up.throttle.deadline() {
                self.timers.schedule(pk, at);
            }
        }
        for (ui, kind) in due {
            self.send_keyframe_request(pk, ui, kind);
        }
    }

    fn send_keyframe_request(&mut self, owner: PeerKey, ui: usize, kind: KeyframeRequestKind) {
        let Some(o) = self.peer_mut(owner) else {
            return;
        };
        let Some(up) = o.up[ui].as_mut() else { return };
        let (room, peer, track, mid) = (o.room, o.id, up.id, up.mid);
        // The layers asked for (all of them when nobody said which).
        let mask = std::mem::take(&mut up.keyframe_layers);
        if let Some(origin) = o.origin {
            // A remote publisher's track: its own worker's throttle decides.
            self.relay_out.push_back((origin, Relay::KeyframeWanted { room, track, layers: mask, kind }));
            return;
        }
        let ssrcs: Vec<_> =
            up.layers.iter().filter(|l| mask == 0 || mask & (1 << l.spatial) != 0).map(|l| l.ssrc).collect();
        o.counters.keyframe_requests += 1;
        tracing::debug!(track = track.0, layers = mask, ?kind, "keyframe requested");
        self.with_rtc(owner, |rtc| {
            if ssrcs.is_empty() {
                if let Some(rx) = rtc.direct_api().stream_rx_by_mid(mid, None) {
                    rx.request_keyframe(kind);
                }
            }
            for ssrc in &ssrcs {
                if let Some(rx) = rtc.direct_api().stream_rx(ssrc) {
                    rx.request_keyframe(kind);
                }
            }
        });
        self.events.push_back(SfuEvent::KeyframeNeeded { room, peer, track });
    }
}

/// The subscriber's payload type for a publisher's codec, and whether RED
/// must be unwrapped: a RED packet keeps RED only if the subscriber
/// negotiated RED for that codec.
fn subscriber_pt(rtc: &str0m::Rtc, spec: &CodecSpec, red: bool) -> Option<(Pt, bool)> {
    let config = rtc.codec_config();
    let param = config
        .find(|p| p.spec() == *spec)
        .or_else(|| {
            config.find(|p| {
                p.spec().codec == spec.codec
                    && p.spec().format.packetization_mode == spec.format.packetization_mode
            })
        })
        .or_else(|| config.find(|p| p.spec().codec == spec.codec))?;
    match (red, param.red()) {
        (true, Some(red_pt)) => Some((red_pt, false)),
        (true, None) => Some((param.pt(), true)),
        (false, _) => Some((param.pt(), false)),
    }
}
