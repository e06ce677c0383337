//! Simulcast in the engine (issue 12): a published video arrives as up to
//! three spatial layers (one SSRC each, named by their RTP stream id); each
//! subscriber's down track forwards one of them, chosen by that
//! subscriber's [`Allocator`] from its bandwidth estimate. The forwarding
//! path (`forward.rs`) switches to a new target layer on that layer's next
//! keyframe and keeps the current one until then; the rewriter keeps the
//! subscriber's stream continuous across the switch.
//!
//! Publishers that send one stream (no simulcast) are layer 0.

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::KeyframeRequestKind;
use str0m::rtp::Ssrc;

use crate::core::allocate::{quality, spatial, Allocation, Priority, VideoWant, QUALITIES, TEMPORAL};
pub(crate) use crate::core::choice::{Gate, LayerChoice, PacketLayer};
use crate::core::engine::Engine;
use crate::core::events::SfuEvent;
use crate::core::ids::{PeerId, TrackKind};
use crate::core::peer::PeerKey;

/// How often every subscriber's allocation is reconsidered (the layers'
/// bitrates change); estimates and subscriptions also trigger it at once.
pub(crate) const ALLOCATION_PERIOD: Duration = Duration::from_millis(500);

/// The spatial layer of a simulcast RTP stream id: the client names them
/// `q`, `h`, `f` (quarter, half, full resolution); `l`/`m` and `0`–`2` are
/// understood too. A stream without a rid is layer 0.
pub(crate) fn spatial_of(rid: Option<&str>) -> u8 {
    match rid {
        Some("h" | "m" | "1" | "mid") => 1,
        Some("f" | "2" | "hi" | "high") => 2,
        _ => 0,
    }
}

/// The bitrate of one stream, over windows of half a second.
///
/// Until a whole window has been measured, a layer that starts (or starts
/// again: the publisher's encoder brought it back, or it was asked to) is
/// on offer at what it has sent so far over the time so far: on the high
/// side, never for nothing. (It once reported 1 bit/s for its first half
/// second, and a township venue's allocator took the speaker's 480p for
/// free, whose keyframe then overflowed the line.) A gap of [`Self::GAP`]
/// starts the measurement over, so a window never spreads a resumed
/// layer's packets over its pause.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateMeter {
    window: Option<(Instant, u64)>,
    /// Bits per second over the last complete window.
    bps: Option<u64>,
    /// Over the one before it.
    prev_bps: Option<u64>,
    last_packet: Option<Instant>,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_millis(500);
    /// Nothing for this long: the stream stopped.
    const GAP: Duration = Duration::from_secs(1);
    /// The shortest time a first, partial window's bytes are spread over.
    const FIRST: Duration = Duration::from_millis(100);

    pub fn add(&mut self, now: Instant, bytes: u64) {
        if self.last_packet.is_some_and(|t| now.saturating_duration_since(t) >= Self::GAP) {
            self.reset();
        }
        self.last_packet = Some(now);
        let (start, sum) = self.window.get_or_insert((now, 0));
        let elapsed = now.saturating_duration_since(*start);
        if elapsed >= Self::WINDOW {
            self.prev_bps = self.bps;
            self.bps = Some(*sum * 8 * 1000 / elapsed.as_millis().max(1) as u64);
            *start = now;
            *sum = 0;
        }
        *sum += bytes;
    }

    /// Bits per second, or 0 when nothing arrived for [`Self::GAP`] (the
    /// layer stopped: the publisher's encoder dropped it, or it paused).
    /// Before the first whole window, what has arrived so far over the time
    /// so far, at least [`Self::FIRST`]: on the high side (a starting
    /// layer begins with a keyframe), never next to nothing.
    pub fn rate(&self, now: Instant) -> u64 {
        match (self.last_packet, self.bps, self.window) {
            (Some(t), _, _) if now.saturating_duration_since(t) >= Self::GAP => 0,
            (Some(_), Some(bps), _) => bps.max(1),
            (Some(_), None, Some((start, sum))) => {
                let elapsed = now.saturating_duration_since(start).max(Self::FIRST);
                (sum * 8 * 1000 / elapsed.as_millis() as u64).max(1)
            }
            _ => 0,
        }
    }

    /// The higher of [`Self::rate`] and the window before (0 when stopped).
    pub fn peak(&self, now: Instant) -> u64 {
        match self.rate(now) {
            0 => 0,
            r => r.max(self.prev_bps.unwrap_or(0)),
        }
    }

    /// The lower of [`Self::rate`] and the window before (0 when stopped;
    /// [`Self::rate`] until two windows are measured): what the stream
    /// sends apart from a keyframe, which inflates the one window it falls
    /// in.
    pub fn low(&self, now: Instant) -> u64 {
        match self.rate(now) {
            0 => 0,
            r => self.prev_bps.map_or(r, |p| r.min(p.max(1))),
        }
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// One incoming layer of a published video.
#[derive(Debug, Clone)]
pub(crate) struct LayerIn {
    pub ssrc: Ssrc,
    pub spatial: u8,
    /// Each temporal layer of it (all in the first without temporal layers).
    pub temporal: [RateMeter; TEMPORAL],
    /// The highest sequence number counted: repairs (RTX, resends) of
    /// older packets are not the layer's bitrate.
    pub max_seq: Option<u64>,
    /// The publisher was asked to stop it: nobody wanted it (`idle.rs`).
    pub stopped: bool,
    /// Its temporal layers' bitrates when it was stopped, which allocators
    /// still see while it is stopped and until it is measured again after
    /// it restarts.
    pub held: Option<[u64; TEMPORAL]>,
    /// When a subscriber last forwarded or targeted it.
    pub last_wanted: Option<Instant>,
}

impl LayerIn {
    /// Its temporal layers' bitrates for the allocators (each alone): as
    /// measured ([`RateMeter::low`]: a keyframe's window does not count),
    /// or as they were when the publisher was asked to stop it.
    pub fn offered_rates(&self, now: Instant) -> [u64; TEMPORAL] {
        self.offered(now, RateMeter::low)
    }

    /// Its temporal layers' recent peaks ([`RateMeter::peak`]), or as
    /// [`Self::offered_rates`] while it is not measured.
    pub fn offered_peaks(&self, now: Instant) -> [u64; TEMPORAL] {
        self.offered(now, RateMeter::peak)
    }

    fn offered(&self, now: Instant, read: fn(&RateMeter, Instant) -> u64) -> [u64; TEMPORAL] {
        let measured = !self.stopped && self.rate(now) > 0;
        match (measured, self.held) {
            (false, Some(held)) => held,
            (false, None) => [0; TEMPORAL],
            (true, _) => self.temporal.each_ref().map(|m| read(m, now)),
        }
    }

    /// The whole stream's bitrate (0: nothing for a second).
    pub fn rate(&self, now: Instant) -> u64 {
        self.temporal.iter().map(|m| m.rate(now)).sum()
    }

    /// Counts a new packet of temporal layer `tid`.
    fn count(&mut self, now: Instant, bytes: u64, tid: Option<u8>) {
        let t = usize::from(tid.unwrap_or(0)).min(TEMPORAL - 1);
        self.temporal[t].add(now, bytes);
    }

    /// The qualities it offers (see `allocate::quality`), into `costs`,
    /// and their recent peaks into `peaks`.
    fn offer(&self, now: Instant, costs: &mut [u64; QUALITIES], peaks: &mut [u64; QUALITIES]) {
        let (mut sum, mut peak) = (0, 0);
        let highs = self.offered_peaks(now);
        for (t, rate) in self.offered_rates(now).into_iter().enumerate() {
            if rate > 0 {
                sum += rate;
                peak += highs[t].max(rate);
                costs[usize::from(quality(self.spatial, t as u8))] = sum;
                peaks[usize::from(quality(self.spatial, t as u8))] = peak;
            }
        }
    }
}

/// Priority of a publisher's video for every subscriber of a room: the
/// floor holder, broadcast source and spotlight (set by the control plane,
/// in that order), then the active (or last) speaker, then the rest.
fn priority_of(featured: &[PeerId], speaker: Option<PeerId>, publisher: PeerId) -> Priority {
    if let Some(i) = featured.iter().position(|p| *p == publisher) {
        return 200u8.saturating_sub(i as u8);
    }
    if speaker == Some(publisher) {
        return crate::core::allocate::WATCHED;
    }
    0
}

impl Engine {
    /// The layer of a packet's SSRC on up track `ui` of `pk`, learning the
    /// SSRC (and its rid) from str0m the first time (or taking the layer
    /// its publisher's worker found, for a relayed packet) — a layer that appears
    /// is offered to the track's subscribers at once; counts its bytes (in
    /// temporal layer `tid`) if it is new (not a repair of an earlier packet);
    /// and whether it is.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn layer_of(
        &mut self,
        now: Instant,
        pk: PeerKey,
        ui: usize,
        (ssrc, relayed): (Ssrc, Option<u8>),
        seq: u64,
        bytes: u64,
        tid: Option<u8>,
    ) -> (u8, bool) {
        let Some(p) = self.peer_mut(pk) else { return (0, true) };
        let known = p.up[ui].as_ref().and_then(|u| u.layers.iter().position(|l| l.ssrc == ssrc));
        let li = match known {
            Some(li) => li,
            None => {
                let spatial = relayed.unwrap_or_else(|| {
                    let rid = p.rtc.as_mut().and_then(|rtc| rtc.direct_api().stream_rx(&ssrc)?.rid());
                    spatial_of(rid.as_ref().map(|r| r.as_ref()))
                });
                let Some(up) = p.up[ui].as_mut() else { return (0, true) };
                // A new SSRC for a layer already known (the publisher
                // restarted its encoder) replaces the old one.
                up.layers.retain(|l| l.spatial != spatial);
                up.layers.push(LayerIn {
                    ssrc,
                    spatial,
                    temporal: Default::default(),
                    max_seq: Some(seq),
                    stopped: false,
                    held: None,
                    last_wanted: Some(now),
                });
                up.layers.last_mut().expect("just pushed").count(now, bytes, tid);
                let subscribers: Vec<PeerKey> = up.subscribers.iter().map(|s| s.peer).collect();
                for s in subscribers {
                    self.reallocate(now, s);
                }
                return (spatial, true);
            }
        };
        let Some(layer) = p.up[ui].as_mut().and_then(|u| u.layers.get_mut(li)) else { return (0, true) };
        let fresh = layer.max_seq.is_none_or(|m| seq > m);
        if fresh {
            layer.max_seq = Some(seq);
            layer.count(now, bytes, tid);
        }
        (layer.spatial, fresh)
    }

    /// str0m saw a layer stop (or start again): a stopped layer is no longer on offer.
    pub(crate) fn layer_paused(&mut self, pk: PeerKey, paused: str0m::rtp::StreamPaused) {
        if !paused.paused {
            return;
        }
        let Some(p) = self.peer_mut(pk) else { return };
        for up in p.up.iter_mut().flatten() {
            if let Some(l) = up.layers.iter_mut().find(|l| l.ssrc == paused.ssrc) {
                l.temporal.iter_mut().for_each(RateMeter::reset);
            }
        }
    }

    /// The publishers whose video comes first for every subscriber of
    /// `room` (the floor holder, the broadcast source, the spotlight).
    pub fn set_featured(
        &mut self,
        now: Instant,
        room: crate::core::ids::RoomId,
        featured: Vec<PeerId>,
    ) -> Result<(), crate::core::events::SfuError> {
        let r = self.rooms.get_mut(&room).ok_or(crate::core::events::SfuError::RoomNotFound(room))?;
        if r.featured == featured {
            return Ok(());
        }
        r.featured = featured;
        for pk in r.members.clone() {
            self.reallocate(now, pk);
        }
        self.finish(now);
        Ok(())
    }

    /// What a subscriber shows of each video: the highest layer worth
    /// sending for its tile, or `None` for a video it does not show at all
    /// (nothing is sent, nothing is said). Tracks not named keep their limit.
    pub fn set_tile_limits(
        &mut self,
        now: Instant,
        peer: PeerId,
        limits: Vec<(crate::core::ids::TrackId, Option<u8>)>,
    ) -> Result<(), crate::core::events::SfuError> {
        let pk = self.key_of(peer)?;
        let p = self.peer_mut(pk).ok_or(crate::core::events::SfuError::PeerNotFound(peer))?;
        for (track, limit) in limits {
            p.tile_limits.insert(track, limit);
        }
        self.reallocate(now, pk);
        self.finish(now);
        Ok(())
    }

    /// A subscriber's bandwidth estimate changed.
    pub(crate) fn estimate_changed(&mut self, now: Instant, pk: PeerKey, bitrate: Bitrate) {
        let Some(p) = self.peer_mut(pk) else { return };
        tracing::trace!(peer = p.id.0, estimate = bitrate.as_u64(), "estimate");
        p.estimate = Some(bitrate.as_u64());
        p.stale_estimate.changed(now, bitrate.as_u64());
        self.reallocate(now, pk);
    }

    /// Reconsiders every subscriber's allocation when it is due.
    pub(crate) fn reallocate_due(&mut self, now: Instant) {
        if self.next_allocation.is_some_and(|t| now < t) {
            return;
        }
        self.next_allocation = Some(now + ALLOCATION_PERIOD);
        for pk in 0..self.peers.len() {
            self.reallocate(now, pk);
        }
        self.update_layer_use(now);
    }

    /// Decides the layer of every video `pk` receives and applies it: new
    /// targets (with a keyframe request for a spatial switch), pauses and
    /// resumes told to the control plane, and the estimator's target.
    pub(crate) fn reallocate(&mut self, now: Instant, pk: PeerKey) {
        // The share of the last second's packets lost (transport-wide
        // feedback), for a subscriber with an estimate (a scan of str0m's
        // register of the last second's packets).
        let estimated = self.peers.get(pk).and_then(Option::as_ref).is_some_and(|p| p.estimate.is_some());
        let loss =
            if estimated { self.with_rtc(pk, |rtc| rtc.bwe().recent_loss(now)).flatten() } else { None };
        // Without one: what its receiver reports say (ADR 0028).
        let reports = if estimated { Vec::new() } else { self.receptions(pk) };
        let Some(p) = self.peers.get(pk).and_then(Option::as_ref) else { return };
        if !p.connected {
            return;
        }
        let room = p.room;
        let (featured, speaker) =
            self.rooms.get(&room).map(|r| (r.featured.clone(), r.last_speaker)).unwrap_or_default();
        let mut wants = Vec::new();
        let mut downs = Vec::new();
        let mut hidden = Vec::new();
        let mut audio = 0u64;
        for (di, down) in p.down.iter().enumerate() {
            let Some((owner, ui)) = down.as_ref().and_then(|d| d.source) else { continue };
            let Some(o) = self.peers.get(owner).and_then(Option::as_ref) else { continue };
            let Some(up) = o.up.get(ui).and_then(Option::as_ref) else { continue };
            if up.muted {
                continue;
            }
            if up.kind == TrackKind::Audio {
                audio += up.layers.iter().map(|l| l.rate(now)).sum::<u64>();
                continue;
            }
            if p.video_paused || p.video_sources.as_ref().is_some_and(|s| !s.contains(&o.id)) {
                continue;
            }
            let (mut layers, mut peaks) = ([0u64; QUALITIES], [0u64; QUALITIES]);
            for l in &up.layers {
                l.offer(now, &mut layers, &mut peaks);
            }
            let top = crate::core::allocate::LAYERS as u8 - 1;
            let max_layer = match p.tile_limits.get(&up.id) {
                None => top,
                Some(Some(l)) => (*l).min(top),
                Some(None) => {
                    hidden.push(di);
                    continue;
                }
            };
            wants.push(VideoWant {
                track: up.id,
                priority: priority_of(&featured, speaker, o.id),
                max_layer,
                layers,
                peaks,
            });
            downs.push((di, owner, ui, up.id));
        }
        // (str0m's own estimate still steers its probes and restarts.)
        let raw = p.estimate.unwrap_or(crate::core::allocate::NO_ESTIMATE);
        let desired: u64 = audio
            + wants.iter().filter_map(|w| w.available().map(|q| w.layers[usize::from(q)]).max()).sum::<u64>();
        let minimum = audio + wants.iter().filter_map(|w| w.layers.iter().find(|b| **b > 0)).sum::<u64>();
        let wants_lowest: std::collections::HashMap<crate::core::ids::TrackId, bool> =
            wants.iter().map(|w| (w.track, w.layers.iter().any(|b| *b > 0))).collect();
        let Some(p) = self.peer_mut(pk) else { return };
        let estimate = if p.estimate.is_some() {
            crate::core::allocate::delivered_bound(raw, loss, || {
                audio + crate::core::allocate::allocation_cost(p.allocator.current(), &wants)
            })
        } else {
            // Without an estimate (no transport-wide feedback from this
            // client), the limit its receiver reports set, if any; else
            // every video at its best layer. What lost is what is on the
            // wire now (a new target flows from its keyframe on).
            let on_wire = audio
                + downs
                    .iter()
                    .zip(&wants)
                    .filter_map(|((di, ..), w)| {
                        let q = p.down.get(*di)?.as_ref()?.layer.current?;
                        w.layers.get(usize::from(q)).copied()
                    })
                    .sum::<u64>();
            let before = p.reported.limit();
            let limit = p.reported.update(now, &reports, on_wire, minimum, desired);
            if limit != before {
                tracing::debug!(
                    room = room.0,
                    subscriber = p.id.0,
                    ?before,
                    ?limit,
                    on_wire,
                    "limit from receiver reports"
                );
            }
            limit.unwrap_or(raw)
        };
        for di in hidden {
            if let Some(down) = p.down.get_mut(di).and_then(Option::as_mut) {
                down.layer = LayerChoice::default();
            }
        }
        let allocation: Vec<Allocation> = p.allocator.allocate(now, estimate, audio, &wants).to_vec();
        let (subscriber, has_estimate) = (p.id, p.estimate.is_some());
        let mut switches = Vec::new();
        let mut told = Vec::new();
        for (a, (di, owner, ui, track)) in allocation.iter().zip(downs) {
            let Some(down) = p.down.get_mut(di).and_then(Option::as_mut) else { continue };
            let before = down.layer;
            if before.target == a.layer {
                continue;
            }
            let cost = |q: Option<u8>| {
                q.and_then(|q| wants.iter().find(|w| w.track == track).map(|w| w.layers[usize::from(q)]))
            };
            tracing::debug!(room = room.0, subscriber = subscriber.0, track = track.0, from = ?before.target,
                to = ?a.layer, from_cost = ?cost(before.target), to_cost = ?cost(a.layer), audio,
                estimate = p.estimate, "layer target");
            down.layer.target = a.layer;
            if a.layer.is_none() {
                down.layer.current = None;
            }
            // Told only when bandwidth is the reason: a layer is on offer
            // but does not fit (a publisher that stopped sending is not news).
            let offered = wants_lowest.get(&track).copied().unwrap_or(false);
            if a.layer.is_none() && offered && !down.layer.paused_for_bandwidth {
                down.layer.paused_for_bandwidth = true;
                told.push(SfuEvent::VideoPaused { room, peer: subscriber, track });
            } else if a.layer.is_some() && down.layer.paused_for_bandwidth {
                down.layer.paused_for_bandwidth = false;
                told.push(SfuEvent::VideoResumed { room, peer: subscriber, track });
            }
            if let Some(target) = a.layer {
                if down.layer.current_spatial() != Some(spatial(target)) {
                    switches.push((owner, ui, spatial(target)));
                }
            }
        }
        self.counters.videos_paused +=
            told.iter().filter(|e| matches!(e, SfuEvent::VideoPaused { .. })).count() as u64;
        self.events.extend(told);
        if has_estimate {
            // Probe only while a video could get more than it has (a higher
            // layer within its tile, or a paused one), towards what that
            // would need within the allocator's headroom, and never far
            // beyond the estimate: a narrow line is not flooded with
            // padding, a wide one is found in a few steps (×4 each), and a
            // subscriber that has everything it wants costs no probing.
            let at_best = allocation.iter().zip(&wants).all(|(a, w)| a.layer == w.best());
            let allocated = audio + crate::core::allocate::allocation_cost(&allocation, &wants);
            let min = Bitrate::from(minimum.max(30_000));
            let want = if at_best {
                allocated.max(100_000)
            } else {
                let needed = (desired.max(minimum) as f64 / crate::core::allocate::UP_HEADROOM) as u64 + 1;
                needed.min(raw.saturating_mul(4)).max(100_000)
            };
            let stuck = self.peer_mut(pk).is_some_and(|p| {
                p.update_paced(now, loss, at_best);
                let short = p.allocator.focus_short();
                p.stale_estimate.restart_due(now, !at_best, raw, short)
            });
            self.with_rtc(pk, |rtc| {
                rtc.bwe().set_bitrate(min, Bitrate::from(want));
                if stuck {
                    rtc.bwe().reset(Bitrate::from(raw));
                }
            });
            if stuck {
                tracing::debug!(
                    room = room.0,
                    subscriber = subscriber.0,
                    estimate = raw,
                    "estimator restarted: stuck while a video waits for more, or the focus short"
                );
                self.counters.estimator_restarts += 1;
            }
        }
        for (owner, ui, layer) in switches {
            self.request_layer_keyframe(now, owner, ui, layer);
        }
    }

    /// What `pk`'s receiver last reported on each stream it is sent.
    /// (A lookup that changes nothing in str0m: no output to drain after.)
    fn receptions(&mut self, pk: PeerKey) -> Vec<(u32, str0m::rtp::ReceptionSummary)> {
        let Some(p) = self.peers.get_mut(pk).and_then(Option::as_mut) else { return Vec::new() };
        let (down, Some(rtc)) = (&p.down, p.rtc.as_mut()) else { return Vec::new() };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut api = rtc.direct_api();
            let mut report = |ssrc: Ssrc| Some((*ssrc, api.stream_tx(&ssrc)?.reception()?));
            down.iter().flatten().filter_map(|d| report(d.ssrc?)).collect()
        }))
        .unwrap_or_default()
    }

    /// Asks a publisher for a keyframe on one layer (through its throttle).
    pub(crate) fn request_layer_keyframe(&mut self, now: Instant, owner: PeerKey, ui: usize, layer: u8) {
        if let Some(up) = self.peer_mut(owner).and_then(|o| o.up.get_mut(ui)).and_then(Option::as_mut) {
            up.keyframe_layers |= 1 << layer;
        }
        self.request_keyframe(now, owner, ui, KeyframeRequestKind::Pli);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_name_layers() {
        assert_eq!([spatial_of(Some("q")), spatial_of(Some("h")), spatial_of(Some("f"))], [0, 1, 2]);
        assert_eq!(spatial_of(None), 0);
    }

    #[test]
    fn meters_measure_and_forget() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for i in 0..100 {
            m.add(t0 + Duration::from_millis(10 * i), 1250); // 1 Mbit/s
        }
        let r = m.rate(t0 + Duration::from_millis(1000));
        assert!((900_000..=1_100_000).contains(&r), "{r}");
        // Then a window at half the rate: the peak remembers the one before.
        for i in 0..50 {
            m.add(t0 + Duration::from_millis(1000 + 10 * i), 625);
        }
        m.add(t0 + Duration::from_millis(1500), 625);
        let (r, peak) = (m.rate(t0 + Duration::from_millis(1500)), m.peak(t0 + Duration::from_millis(1500)));
        assert!((450_000..=550_000).contains(&r), "{r}");
        assert!((900_000..=1_100_000).contains(&peak), "{peak}");
        assert_eq!(m.rate(t0 + Duration::from_secs(3)), 0, "stopped");
        assert_eq!(m.peak(t0 + Duration::from_secs(3)), 0, "stopped");
    }

    #[test]
    fn a_keyframes_window_raises_the_peak_not_the_low_reading() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = RateMeter::default();
        // 500 kbit/s, then a window with a 20 kB keyframe in it (~820).
        for i in 0..100 {
            m.add(at(10 * i), 625);
        }
        m.add(at(1000), 20_000);
        for i in 1..50 {
            m.add(at(1000 + 10 * i), 625);
        }
        m.add(at(1500), 625);
        let (rate, peak, low) = (m.rate(at(1500)), m.peak(at(1500)), m.low(at(1500)));
        assert!(rate > 750_000, "the keyframe's window: {rate}");
        assert_eq!(peak, rate);
        assert!((450_000..=550_000).contains(&low), "what it sends apart from the keyframe: {low}");
        // A window later, both readings are the layer's own again.
        for i in 1..=50 {
            m.add(at(1500 + 10 * i), 625);
        }
        assert!((450_000..=550_000).contains(&m.low(at(2000))));
        assert!(m.peak(at(2000)) > 750_000, "the peak keeps the window before");
        assert_eq!(m.low(at(4000)), 0, "stopped");
    }

    #[test]
    fn a_starting_meter_reports_what_arrived_so_far_and_starts_over_after_a_gap() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = RateMeter::default();
        for i in 0..40 {
            m.add(at(10 * i), 1250); // 1 Mbit/s for 0.4 s
        }
        let first = m.rate(at(400));
        assert!((900_000..=1_100_000).contains(&first), "the first partial window: {first}");
        let mut one = RateMeter::default();
        one.add(at(0), 1250);
        assert_eq!(one.rate(at(0)), 100_000, "one packet: over at least 100 ms, not over nothing");
        for i in 40..100 {
            m.add(at(10 * i), 1250);
        }
        assert!(m.rate(at(1000)) > 900_000);
        // Paused for 5 s, then back at 1 Mbit/s: the first window is its
        // own, not the old one's bytes over 5 s.
        for i in 0..40 {
            m.add(at(6000 + 10 * i), 1250);
        }
        let resumed = m.rate(at(6400));
        assert!((900_000..=1_100_000).contains(&resumed), "resumed: its own bytes, {resumed}");
        for i in 40..60 {
            m.add(at(6000 + 10 * i), 1250);
        }
        let r = m.rate(at(6600));
        assert!((900_000..=1_100_000).contains(&r), "{r}");
    }
}
