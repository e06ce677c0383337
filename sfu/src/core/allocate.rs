//! Which layer of each video a subscriber receives, given its bandwidth
//! estimate (issue 12): a plain struct on simulated time, like the
//! [`Rewriter`](crate::core::rewrite::Rewriter).
//!
//! The rules, in order:
//! 1. Audio first, always: its bitrate is taken off the estimate before any
//!    video is considered.
//! 2. Every wanted video at its lowest layer before any video gets more, by
//!    priority (the floor holder, the broadcast source, the spotlight, the
//!    active speaker, what the subscriber pinned, then the rest). A video
//!    whose lowest layer does not fit is *paused* — the subscriber is told,
//!    never shown a black tile without a reason — after [`PAUSE_GRACE`];
//!    the meeting's focus (the first video, if watched) is kept at its
//!    lowest quality while that is within [`OVERSEND_SHARE`] of the
//!    estimate above it.
//! 3. Then, by priority, each video goes back up to the layer it had while
//!    that fits (one video's increase never takes another's layer while the
//!    estimate holds), and then up a layer at a time while the next layer
//!    fits, never above what its tile can show (`max_layer`).
//! 4. Hysteresis: going down happens at once when the estimate falls well
//!    short of what is sent; a dip of up to [`DIP_SLACK`] (one back-off of
//!    the delay-based estimator, which a busy receiver's late packets cause
//!    as well as a queue does) is ridden out for [`DIP_GRACE`] first. Going
//!    up (a higher layer, or resuming a paused video) only within
//!    [`UP_HEADROOM`] of the estimate and not within [`UP_HOLD`] of the last
//!    step down, so a link at its edge does not flap between layers; a
//!    larger picture (which starts with a keyframe) is judged by its recent
//!    peak bitrate ([`VideoWant::peaks`]), not by one low reading. Changes
//!    of the estimate smaller than [`SMALL_CHANGE`] with the same wants keep
//!    the allocation as is.
//!
//! A *layer* here is a quality: a spatial layer (simulcast stream) at a
//! frame rate, i.e. with its temporal layers 0 ..= t (VP8 `L1T3`: 7.5, 15
//! or 30 fps), numbered `spatial × TEMPORAL + t` ([`quality`]), lowest
//! first. A publisher without temporal layers offers `t = 0` only (its
//! whole stream). So a video is thinned in frame rate before it is paused,
//! and a tile limit ([`VideoWant::max_layer`]) is a spatial limit. Frame
//! rate comes before size: a video climbs to its full frame rate before it
//! gets a larger picture, and a larger picture is only ever taken at its
//! full frame rate — so lower frame rates are used on the lowest picture
//! only, where the alternative is a paused video. (A township venue at 300
//! kbit/s sees the speaker at 120p and 20 fps, not 240p at 10.)
//!
//! The allocator decides targets only: the forwarding path switches a
//! spatial layer on the next keyframe of the target (it asks for one) and
//! keeps sending the current layer until then; it changes the frame rate
//! at a frame boundary (down at once, up at a layer-sync frame).

use std::time::{Duration, Instant};

use crate::core::ids::TrackId;

/// Spatial layers a publisher may send (simulcast: 0 lowest … 2 highest).
pub const LAYERS: usize = 3;
/// Temporal layers of each spatial layer the allocator tells apart.
pub const TEMPORAL: usize = 3;
/// Qualities: every spatial layer at every frame rate.
pub const QUALITIES: usize = LAYERS * TEMPORAL;

/// The quality of spatial layer `spatial` with temporal layers `0 ..= temporal`.
pub fn quality(spatial: u8, temporal: u8) -> u8 {
    spatial.min(LAYERS as u8 - 1) * TEMPORAL as u8 + temporal.min(TEMPORAL as u8 - 1)
}

/// The spatial layer of a quality.
pub fn spatial(quality: u8) -> u8 {
    quality / TEMPORAL as u8
}

/// The highest temporal layer of a quality.
pub fn temporal(quality: u8) -> u8 {
    quality % TEMPORAL as u8
}

/// Share of the estimate that increases may use.
pub const UP_HEADROOM: f64 = 0.85;
/// No increase within this time of a decrease.
pub const UP_HOLD: Duration = Duration::from_secs(3);
/// How long a video that had a layer keeps its lowest one after the
/// estimate stopped covering it, before it is paused.
pub const PAUSE_GRACE: Duration = Duration::from_secs(2);
/// The meeting's focus (the first video by priority, if the meeting
/// watches it: [`WATCHED`]) keeps its lowest quality while that exceeds
/// what is left of the estimate by no more than this share of the
/// estimate ([`OVERSEND_MAX`] at most), instead of being paused after
/// [`PAUSE_GRACE`]. An estimate that collapses for a while on a lossy line
/// (seen: 85–135 kbit/s on a 300 kbit/s township line, the speaker's
/// lowest quality ~60) would otherwise freeze the one video the venue is
/// watching; on a line that truly cannot carry it, the loss the extra
/// bitrate causes takes the estimate further down, below the allowance,
/// and the video is paused as any other. (Jitsi's bridge oversends its
/// on-stage video in the same way, by up to 500 kbit/s.)
pub const OVERSEND_SHARE: f64 = 0.5;
/// The most the focus is sent above the estimate ([`OVERSEND_SHARE`]).
pub const OVERSEND_MAX: u64 = 150_000;
/// A relative change of the estimate below which nothing is reconsidered.
pub const SMALL_CHANGE: f64 = 0.08;
/// How far the estimate may fall short of what the current allocation
/// sends (audio included) and the allocation still be kept for a while:
/// the delay-based estimator backs off to 0.85 of the acknowledged rate at
/// each overuse, so a single back-off from a stable point is within it.
pub const DIP_SLACK: f64 = 0.2;
/// How long a dip within [`DIP_SLACK`] is ridden out before the allocation
/// steps down: about what the estimator takes to climb back after a single
/// back-off. A deeper fall steps down at once.
pub const DIP_GRACE: Duration = Duration::from_secs(3);
/// A dip is ridden out only after this long without a step down: right
/// after one the line has just been found short (the estimate is still
/// falling on a congested line, and sending above it only deepens the loss).
pub const DIP_CALM: Duration = Duration::from_secs(10);

/// A subscriber whose transport-wide feedback reports more than this share
/// of the last second's packets lost is *losing* ([`delivered_bound`]).
/// Above the 5 % a township line loses of its own, below what a queue that
/// overflows loses.
pub const LOSING: f32 = 0.1;

/// The estimate to allocate by: str0m's `estimate`, but while the line is
/// losing ([`LOSING`]) no more than what arrives of what the current
/// allocation sends (`sent`, audio included; `loss`: the share of the last
/// second's packets lost, from the transport-wide feedback).
///
/// str0m's loss-based estimator (libwebrtc's `LossBasedBweV2`) settles near
/// a line's capacity; on a line that only congests (one drop-tail queue for
/// audio and video) what the allocation keeps at that estimate fills the
/// queue, and the audio in it pays (`sfu/tests/simulcast.rs`,
/// `a_line_too_narrow_…`: 439–504 of 500 audio packets). Bounded by what is
/// delivered while the line loses, the allocation steps down and the queue
/// drains (450–502). On the 300 kbit/s township line it also shortens the
/// freeze when the line first narrows: the SFU stops sending a
/// megabit into it before the estimate has come down (ADR 0010).
pub fn delivered_bound(estimate: u64, loss: Option<f32>, sent: impl FnOnce() -> u64) -> u64 {
    match loss {
        Some(l) if l > LOSING => estimate.min((sent() as f64 * (1.0 - f64::from(l.min(1.0)))) as u64),
        _ => estimate,
    }
}

/// What `allocation` sends of `wants` (each video at its layer's bitrate;
/// tracks no longer wanted count nothing).
pub fn allocation_cost(allocation: &[Allocation], wants: &[VideoWant]) -> u64 {
    allocation
        .iter()
        .filter_map(|a| {
            let w = wants.iter().find(|w| w.track == a.track)?;
            a.layer.map(|q| w.cost(q))
        })
        .sum()
}

/// What [`Allocator::allocate`] is given for a subscriber without an
/// estimate (no transport-wide feedback) and no limit from its receiver
/// reports (ADR 0028): nothing limits it.
pub const NO_ESTIMATE: u64 = u64::MAX / 4;

/// How much a video matters to this subscriber; higher first.
pub type Priority = u8;

/// Priorities from here up are videos the meeting watches (the floor
/// holder, broadcast source, spotlight, active speaker): their lowest
/// picture is taken at the highest frame rate that fits before the other
/// videos get their base layers.
pub const WATCHED: Priority = 100;

/// One video the subscriber wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoWant {
    /// The published video track.
    pub track: TrackId,
    /// Higher is served first.
    pub priority: Priority,
    /// Highest spatial layer worth sending (the tile's size): 0 … `LAYERS - 1`.
    pub max_layer: u8,
    /// Bitrate of each quality as it arrives (bit/s; a spatial layer's
    /// temporal layers up to that one, together), by [`quality`]; 0: not
    /// being sent.
    pub layers: [u64; QUALITIES],
    /// The highest bitrate of each quality over the last second or so (0:
    /// as `layers`): what a step up to a larger picture, or a start, is
    /// judged by. One window's reading can be low (the publisher's encoder
    /// skipped frames, or the layer just came back), and such a step taken
    /// on it sends a keyframe and the real bitrate into a line sized for
    /// the low one. (A higher frame rate of the same picture needs no
    /// keyframe and goes by the reading, as does keeping a layer.)
    pub peaks: [u64; QUALITIES],
}

impl VideoWant {
    fn cost(&self, layer: u8) -> u64 {
        self.layers[usize::from(layer)]
    }

    /// What a larger picture or a start at `layer` is judged by: its recent peak.
    fn up_cost(&self, layer: u8) -> u64 {
        self.cost(layer).max(self.peaks[usize::from(layer)])
    }

    /// The qualities on offer, lowest first, up to the tile's limit.
    pub fn available(&self) -> impl Iterator<Item = u8> + '_ {
        let top = self.max_layer.max(self.lowest().map_or(0, spatial));
        (0..QUALITIES as u8).filter(move |l| spatial(*l) <= top).filter(move |l| self.cost(*l) > 0)
    }

    /// The lowest quality on offer.
    pub fn lowest(&self) -> Option<u8> {
        (0..QUALITIES as u8).find(|l| self.cost(*l) > 0)
    }

    /// Whether a quality is its spatial layer at the full frame rate (its
    /// highest temporal layer on offer).
    fn is_full_rate(&self, q: u8) -> bool {
        (temporal(q) + 1..TEMPORAL as u8).all(|t| self.cost(quality(spatial(q), t)) == 0)
    }

    /// The best quality worth sending.
    pub fn best(&self) -> Option<u8> {
        self.available().last()
    }
}

/// What one video gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The track.
    pub track: TrackId,
    /// The layer to forward, or `None`: paused (not even the lowest fits).
    pub layer: Option<u8>,
}

/// The allocation state of one subscriber.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    current: Vec<Allocation>,
    /// The estimate and wants the current allocation was made for, and
    /// whether increases were on hold then.
    basis: Option<(u64, Vec<VideoWant>, bool)>,
    last_down: Option<Instant>,
    /// Since when the estimate has been short of the current allocation by
    /// no more than [`DIP_SLACK`] (the allocation kept meanwhile).
    dip_since: Option<Instant>,
    /// Since when each video's lowest layer has not fitted (it is paused
    /// after [`PAUSE_GRACE`]).
    short_since: std::collections::HashMap<TrackId, Instant>,
    /// The focus is kept at a layer the estimate does not leave room for
    /// (within the oversend allowance, or in its grace).
    focus_short: bool,
}

impl Allocator {
    /// A subscriber with nothing allocated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The allocation now in force.
    pub fn current(&self) -> &[Allocation] {
        &self.current
    }

    /// Whether the meeting's focus was kept, at the last full allocation,
    /// at a layer the estimate does not leave room for: on the oversend
    /// allowance or in its grace (a shallow dip ridden out, or an estimate
    /// that moved too little to reallocate, keeps the value).
    pub fn focus_short(&self) -> bool {
        self.focus_short
    }

    /// What each wanted video gets at `now` with `estimate` bit/s towards
    /// the subscriber, of which `audio` bit/s go to its audio. The result
    /// is in the order of `wants`.
    pub fn allocate(
        &mut self,
        now: Instant,
        estimate: u64,
        audio: u64,
        wants: &[VideoWant],
    ) -> &[Allocation] {
        let holding = self.last_down.is_some_and(|t| now.saturating_duration_since(t) < UP_HOLD);
        if let Some((basis, old_wants, held)) = &self.basis {
            let change = (estimate as f64 - *basis as f64).abs() / (*basis).max(1) as f64;
            // (A hold that has ended is a change: increases may now happen.)
            let grace_running = !self.short_since.is_empty() || self.dip_since.is_some();
            if change < SMALL_CHANGE && old_wants.as_slice() == wants && *held == holding && !grace_running {
                return &self.current;
            }
        }
        if self.ride_out_dip(now, estimate, audio, wants) {
            return &self.current;
        }
        let budget = estimate.saturating_sub(audio);
        let previous = |track: TrackId| self.current.iter().find(|a| a.track == track).map(|a| a.layer);
        // An increase beyond the previous allocation must fit the headroom
        // (and not come right after a decrease); keeping what it had, or
        // less, may use the whole estimate.
        let up_budget = if holding { 0 } else { (budget as f64 * UP_HEADROOM) as u64 };

        let mut order: Vec<usize> = (0..wants.len()).collect();
        order.sort_by(|a, b| {
            wants[*b].priority.cmp(&wants[*a].priority).then(wants[*a].track.cmp(&wants[*b].track))
        });
        let mut layer: Vec<Option<u8>> = vec![None; wants.len()];
        let mut spent = 0u64;
        let mut spent_up = 0u64; // the part of `spent` that is an increase
        let focus = order.first().copied().filter(|i| wants[*i].priority >= WATCHED);
        let mut focus_short = false;
        let oversend = ((estimate as f64 * OVERSEND_SHARE) as u64).min(OVERSEND_MAX);
        // `cost`: what it adds as measured; `up_cost`: the same by the
        // target's recent peak, which an increase is judged by.
        let fits =
            |cost: u64, up_cost: u64, was: Option<Option<u8>>, target: u8, spent: u64, spent_up: u64| {
                let increase = match was {
                    Some(Some(w)) => target > w,
                    // A video just wanted, or resuming a paused one: an increase
                    // (a newcomer's lowest layer is let in below, without).
                    None | Some(None) => true,
                };
                if increase {
                    spent + up_cost <= budget && spent_up + up_cost <= up_budget
                } else {
                    spent + cost <= budget
                }
            };
        // Every video at its lowest layer first. For a video the meeting
        // watches (the floor holder, broadcast source, spotlight, speaker)
        // that is its lowest picture at the highest frame rate that fits:
        // a speaker at a quarter of the frames is not moving video, and the
        // others' base layers should not take that from it.
        for &i in &order {
            let w = &wants[i];
            let Some(low) = w.lowest() else { continue };
            let was = previous(w.track);
            let floors: Vec<u8> = if w.priority >= WATCHED {
                let mut same: Vec<u8> = w.available().filter(|q| spatial(*q) == spatial(low)).collect();
                same.reverse();
                same
            } else {
                vec![low]
            };
            let fresh = was.is_none();
            let taken = floors.into_iter().find(|q| {
                // Starting or resuming takes a keyframe: judged by the peak.
                let up = if matches!(was, Some(Some(_))) { w.cost(*q) } else { w.up_cost(*q) };
                fits(w.cost(*q), up, was, *q, spent, spent_up) || (fresh && spent + w.cost(*q) <= budget)
            });
            if let Some(q) = taken {
                let cost = w.cost(q);
                layer[i] = Some(q);
                spent += cost;
                if !fresh && !matches!(was, Some(Some(l)) if l >= q) {
                    spent_up += cost;
                }
                self.short_since.remove(&w.track);
            } else if matches!(was, Some(Some(_))) {
                // It had a layer: the focus keeps its lowest while that is
                // within the oversend allowance; any other for a grace period
                // before pausing (an estimate that dips for a moment, a
                // CPU-loaded receiver), then it is paused.
                if focus == Some(i) && spent + w.cost(low) <= budget + oversend {
                    self.short_since.remove(&w.track);
                    layer[i] = Some(low);
                    spent += w.cost(low);
                    focus_short = true;
                    continue;
                }
                let since = *self.short_since.entry(w.track).or_insert(now);
                if now.saturating_duration_since(since) < PAUSE_GRACE {
                    layer[i] = Some(low);
                    spent += w.cost(low);
                    focus_short |= focus == Some(i);
                }
            }
        }
        // Then up, a layer at a time, by priority: first back to what each
        // had (so that one video's increase never takes another's layer
        // while the estimate holds), then increases. While a video the
        // meeting watches waits for a larger picture that does not fit now
        // but would within the headroom of the whole estimate, no video
        // after it gets a larger picture (a higher frame rate, yes): once
        // taken, the other's picture would be kept, and the speaker's would
        // wait behind it as the estimate climbs.
        for increases in [false, true] {
            let mut watched_waits = false;
            for &i in &order {
                let w = &wants[i];
                let Some(start) = layer[i] else { continue };
                let mut at = start;
                let was = previous(w.track);
                let kept = match was {
                    Some(Some(l)) => l,
                    _ => start,
                };
                let higher: Vec<u8> =
                    w.available().filter(|l| *l > start && (increases || *l <= kept)).collect();
                for next in higher {
                    // Frame rate first: a larger picture only from this one
                    // at its full frame rate, and only at its own full rate
                    // (a larger picture at a lower rate may cost less, but
                    // the video would stutter).
                    if spatial(next) > spatial(at) && !(w.is_full_rate(at) && w.is_full_rate(next)) {
                        continue;
                    }
                    let larger = spatial(next) > spatial(at);
                    if larger && watched_waits && !matches!(was, Some(Some(l)) if l >= next) {
                        break;
                    }
                    let extra = w.cost(next).saturating_sub(w.cost(at));
                    // A larger picture starts with a keyframe: judged by
                    // its peak; a higher frame rate by what it sends now.
                    let up_extra = if larger { w.up_cost(next).saturating_sub(w.cost(at)) } else { extra };
                    if !fits(extra, up_extra, was, next, spent, spent_up) {
                        watched_waits |=
                            increases && larger && w.priority >= WATCHED && up_extra <= up_budget;
                        break;
                    }
                    spent = (spent + w.cost(next)).saturating_sub(w.cost(at));
                    if !matches!(was, Some(Some(l)) if l >= next) {
                        spent_up += extra;
                    }
                    at = next;
                }
                layer[i] = Some(at);
            }
        }
        self.short_since.retain(|t, _| wants.iter().any(|w| w.track == *t));
        let next: Vec<Allocation> =
            wants.iter().zip(&layer).map(|(w, l)| Allocation { track: w.track, layer: *l }).collect();
        let went_down = next.iter().any(|a| match previous(a.track) {
            Some(Some(was)) => a.layer.is_none_or(|l| l < was),
            _ => false,
        });
        self.dip_since = None;
        self.focus_short = focus_short;
        if went_down {
            self.last_down = Some(now);
        }
        self.current = next;
        let holding = holding || went_down;
        self.basis = Some((estimate, wants.to_vec(), holding));
        &self.current
    }

    /// Whether to keep the current allocation through a shallow dip of the
    /// estimate instead of allocating anew (which would step down): every
    /// wanted video has a layer now, still on offer and within its tile,
    /// what they and the audio send is above the estimate but within
    /// [`DIP_SLACK`] of it, the dip is not older than [`DIP_GRACE`], and
    /// the last step down is [`DIP_CALM`] ago.
    fn ride_out_dip(&mut self, now: Instant, estimate: u64, audio: u64, wants: &[VideoWant]) -> bool {
        if self.last_down.is_some_and(|t| now.saturating_duration_since(t) < DIP_CALM) {
            return false;
        }
        let mut sent = audio;
        let mut kept = Vec::with_capacity(wants.len());
        for w in wants {
            let Some(Some(layer)) = self.current.iter().find(|a| a.track == w.track).map(|a| a.layer) else {
                return false;
            };
            if w.cost(layer) == 0 || spatial(layer) > w.max_layer {
                return false;
            }
            sent += w.cost(layer);
            kept.push(Allocation { track: w.track, layer: Some(layer) });
        }
        if sent <= estimate {
            return false; // no dip: it all fits
        }
        let shallow = sent as f64 <= estimate as f64 * (1.0 + DIP_SLACK);
        let since = *self.dip_since.get_or_insert(now);
        if !shallow || now.saturating_duration_since(since) >= DIP_GRACE {
            return false;
        }
        self.current = kept;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_losing_line_is_allocated_no_more_than_it_delivers() {
        // 600 kbit/s sent, a quarter lost: 450 at most, whatever the estimate.
        assert_eq!(delivered_bound(900_000, Some(0.25), || 600_000), 450_000);
        assert_eq!(delivered_bound(400_000, Some(0.25), || 600_000), 400_000, "a lower estimate stands");
        // The line's own loss, or no feedback yet: the estimate as it is.
        assert_eq!(delivered_bound(900_000, Some(0.05), || 600_000), 900_000);
        assert_eq!(delivered_bound(900_000, Some(0.1), || 600_000), 900_000);
        assert_eq!(delivered_bound(900_000, None, || 600_000), 900_000);
        assert_eq!(delivered_bound(900_000, Some(1.5), || 600_000), 0, "all lost");
    }

    const KBPS: u64 = 1000;

    /// Costs of a publisher without temporal layers.
    fn simulcast(spatial: [u64; LAYERS]) -> [u64; QUALITIES] {
        let mut q = [0; QUALITIES];
        for (s, b) in spatial.into_iter().enumerate() {
            q[usize::from(quality(s as u8, 0))] = b;
        }
        q
    }

    fn want(track: u64, priority: Priority) -> VideoWant {
        VideoWant {
            track: TrackId(track),
            priority,
            max_layer: 2,
            layers: simulcast([150 * KBPS, 500 * KBPS, 1500 * KBPS]),
            peaks: [0; QUALITIES],
        }
    }

    /// The spatial layer of each (for publishers without temporal layers).
    fn layers(a: &[Allocation]) -> Vec<Option<u8>> {
        a.iter().map(|x| x.layer.map(spatial)).collect()
    }

    /// Each as (spatial, temporal).
    fn qualities(a: &[Allocation]) -> Vec<Option<(u8, u8)>> {
        a.iter().map(|x| x.layer.map(|q| (spatial(q), temporal(q)))).collect()
    }

    /// L1T3 simulcast: each spatial layer's base at 60 % of its bitrate, the
    /// next temporal layer +20 %, the top +20 %.
    fn temporal_want(track: u64, priority: Priority) -> VideoWant {
        let mut layers = [0; QUALITIES];
        for (s, full) in [150 * KBPS, 500 * KBPS, 1500 * KBPS].into_iter().enumerate() {
            for (t, share) in [60, 80, 100].into_iter().enumerate() {
                layers[usize::from(quality(s as u8, t as u8))] = full * share / 100;
            }
        }
        VideoWant { track: TrackId(track), priority, max_layer: 2, layers, peaks: [0; QUALITIES] }
    }

    #[test]
    fn a_video_is_thinned_in_frame_rate_before_it_is_paused() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [temporal_want(1, 10)];
        assert_eq!(qualities(alloc.allocate(t0, 3000 * KBPS, 0, &wants)), [Some((2, 2))]);
        // 140 kbit/s: not the lowest picture at 30 fps (150), at 15 (120).
        let at = t0 + Duration::from_secs(1);
        assert_eq!(qualities(alloc.allocate(at, 140 * KBPS, 0, &wants)), [Some((0, 1))]);
        let at = at + Duration::from_secs(1);
        assert_eq!(qualities(alloc.allocate(at, 90 * KBPS, 0, &wants)), [Some((0, 0))]);
        // Below the base layer at 7.5 fps: paused after the grace.
        let at = at + Duration::from_secs(1);
        assert_eq!(qualities(alloc.allocate(at, 60 * KBPS, 0, &wants)), [Some((0, 0))]);
        let at = at + PAUSE_GRACE;
        assert_eq!(qualities(alloc.allocate(at, 60 * KBPS, 0, &wants)), [None]);
    }

    #[test]
    fn on_a_weak_line_the_speaker_moves_first_then_the_others() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        let wants = [temporal_want(1, 0), temporal_want(2, 100)];
        // 300 kbit/s, 40 of them audio: both at 7.5 fps first (90 + 90),
        // then the speaker up to 30 fps (150) within the headroom.
        assert_eq!(
            qualities(alloc.allocate(now, 300 * KBPS, 40 * KBPS, &wants)),
            [Some((0, 0)), Some((0, 2))]
        );
        // Frame rate before size: with a little more, the speaker does not
        // go to the middle picture at 7.5 fps (100, cheaper than what it
        // has); the other video gets the rest.
        let mut cheap_middle = temporal_want(2, 100);
        cheap_middle.layers[usize::from(quality(1, 0))] = 100 * KBPS;
        let mut alloc = Allocator::new();
        let wants = [temporal_want(1, 0), cheap_middle];
        assert_eq!(
            qualities(alloc.allocate(now, 320 * KBPS, 40 * KBPS, &wants)),
            [Some((0, 1)), Some((0, 2))]
        );
        // The tile limit is spatial: a thumbnail gets its layer at full rate.
        let mut thumb = temporal_want(3, 0);
        thumb.max_layer = 0;
        let mut alloc = Allocator::new();
        assert_eq!(qualities(alloc.allocate(now, 10_000 * KBPS, 0, &[thumb])), [Some((0, 2))]);
    }

    #[test]
    fn no_other_video_gets_a_larger_picture_while_the_speakers_waits() {
        let now = Instant::now();
        // The speaker's middle picture peaks at 700 (its keyframe's
        // window): from its lowest at full rate, +550 does not fit 760
        // after the two lowest (150 + 90). The other's middle (+350)
        // would, and would then be kept ahead of the speaker's.
        let mut speaker = temporal_want(2, WATCHED);
        speaker.peaks[usize::from(quality(1, 2))] = 700 * KBPS;
        let wants = [temporal_want(1, 0), speaker];
        let mut alloc = Allocator::new();
        assert_eq!(
            qualities(alloc.allocate(now, 800 * KBPS, 40 * KBPS, &wants)),
            [Some((0, 2)), Some((0, 2))],
            "the other video gets its full frame rate, not a larger picture"
        );
        // Once the speaker's fits, it goes up first; its top picture (+1000)
        // would fit the headroom of 1 360 (1 156) but not now: the other
        // still waits.
        let at = now + UP_HOLD;
        assert_eq!(
            qualities(alloc.allocate(at, 1400 * KBPS, 40 * KBPS, &wants)),
            [Some((0, 2)), Some((1, 2))]
        );
        // Its top out of reach of the whole estimate's headroom (+1000 over
        // 0.85 × 1 060): the other goes up as far as the rest allows.
        let at = at + UP_HOLD;
        assert_eq!(
            qualities(alloc.allocate(at, 1100 * KBPS, 40 * KBPS, &wants)),
            [Some((1, 2)), Some((1, 2))]
        );
        // A video that is not watched waiting does not hold the others.
        let mut big = temporal_want(2, 0);
        big.peaks[usize::from(quality(1, 2))] = 700 * KBPS;
        let mut alloc = Allocator::new();
        assert_eq!(
            qualities(alloc.allocate(now, 800 * KBPS, 40 * KBPS, &[temporal_want(1, 0), big])),
            [Some((1, 2)), Some((0, 2))]
        );
    }

    #[test]
    fn everyone_gets_the_lowest_layer_before_anyone_gets_more() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        let wants = [want(1, 10), want(2, 0), want(3, 0)];
        // 800 kbit/s, 64 of them audio: three lowest layers (450), then the
        // speaker may not reach 500 on top (headroom 0.85 × 736 = 625).
        assert_eq!(layers(alloc.allocate(now, 800 * KBPS, 64 * KBPS, &wants)), [Some(0), Some(0), Some(0)]);
        // Plenty: the speaker goes to the top, the others as far as fits.
        let mut alloc = Allocator::new();
        // (Newcomers' lowest layers need no headroom: 1 350 + 350 + 350 of
        // increases fit 0.85 × 2 936, the total 2 500 fits 2 936.)
        assert_eq!(layers(alloc.allocate(now, 3000 * KBPS, 64 * KBPS, &wants)), [Some(2), Some(1), Some(1)]);
    }

    #[test]
    fn a_video_whose_lowest_layer_does_not_fit_is_paused_the_speaker_last() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        let wants = [want(1, 0), want(2, 10)];
        // 300 kbit/s line, audio 40: room for one lowest layer, the speaker's.
        assert_eq!(layers(alloc.allocate(now, 300 * KBPS, 40 * KBPS, &wants)), [None, Some(0)]);
        // Below even that: both paused (after the grace), audio kept.
        assert_eq!(
            layers(alloc.allocate(now, 120 * KBPS, 40 * KBPS, &wants)),
            [None, Some(0)],
            "in the grace"
        );
        let later = now + PAUSE_GRACE;
        assert_eq!(layers(alloc.allocate(later, 120 * KBPS, 40 * KBPS, &wants)), [None, None]);
    }

    #[test]
    fn the_focus_keeps_its_lowest_quality_through_a_collapse_within_the_allowance() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        // The speaker (watched) and another venue, L1T3: lowest qualities 90.
        let wants = [temporal_want(1, 0), temporal_want(2, WATCHED)];
        assert_eq!(
            qualities(alloc.allocate(t0, 300 * KBPS, 50 * KBPS, &wants)),
            [Some((0, 0)), Some((0, 2))]
        );
        assert!(!alloc.focus_short(), "it fits");
        // The estimate collapses to 120 (70 left after audio): the other
        // video is paused after the grace; the speaker stays at its lowest
        // quality (90 ≤ 70 + 60), past the grace too.
        let fall = t0 + Duration::from_secs(1);
        assert_eq!(
            qualities(alloc.allocate(fall, 120 * KBPS, 50 * KBPS, &wants)),
            [Some((0, 0)), Some((0, 0))]
        );
        assert!(alloc.focus_short(), "kept on the allowance: the estimator is to probe");
        let later = fall + PAUSE_GRACE * 3;
        assert_eq!(qualities(alloc.allocate(later, 120 * KBPS, 50 * KBPS, &wants)), [None, Some((0, 0))]);
        assert!(alloc.focus_short());
        // Lower still (80: 30 left, 30 + 40 < 90): paused after all, and not
        // resumed by the allowance: only when it fits with headroom.
        let lower = later + Duration::from_secs(1);
        assert_eq!(qualities(alloc.allocate(lower, 80 * KBPS, 50 * KBPS, &wants)), [None, Some((0, 0))]);
        assert!(alloc.focus_short(), "in its grace");
        let gone = lower + PAUSE_GRACE;
        assert_eq!(qualities(alloc.allocate(gone, 80 * KBPS, 50 * KBPS, &wants)), [None, None]);
        assert!(!alloc.focus_short(), "paused: nothing kept beyond the estimate");
        let up = gone + UP_HOLD;
        assert_eq!(qualities(alloc.allocate(up, 130 * KBPS, 50 * KBPS, &wants)), [None, None]);
        // A video nobody watches in particular gets no allowance.
        let mut alone = Allocator::new();
        let plain = [temporal_want(1, 10)];
        assert_eq!(qualities(alone.allocate(t0, 300 * KBPS, 50 * KBPS, &plain)), [Some((0, 2))]);
        let fall = t0 + Duration::from_secs(1);
        alone.allocate(fall, 120 * KBPS, 50 * KBPS, &plain);
        assert_eq!(qualities(alone.allocate(fall + PAUSE_GRACE, 120 * KBPS, 50 * KBPS, &plain)), [None]);
    }

    #[test]
    fn down_at_once_up_only_after_the_hold_and_within_headroom() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 10)];
        assert_eq!(layers(alloc.allocate(t0, 2500 * KBPS, 0, &wants)), [Some(2)]);
        // The estimate falls: down at once.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(1), 700 * KBPS, 0, &wants)), [Some(1)]);
        // It recovers a second later: held.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(2), 2500 * KBPS, 0, &wants)), [Some(1)]);
        // After the hold, up again.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(5), 2600 * KBPS, 0, &wants)), [Some(2)]);
        // An estimate just at the top layer's cost keeps it (no headroom
        // needed to stay) but would not have been enough to climb to it.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(7), 1550 * KBPS, 0, &wants)), [Some(2)]);
        let mut fresh = Allocator::new();
        assert_eq!(layers(fresh.allocate(t0, 1550 * KBPS, 0, &wants)), [Some(1)]);
    }

    #[test]
    fn a_shallow_dip_is_ridden_out_for_a_while_a_deep_fall_is_not() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 10), want(2, 0)];
        // 1.5 + 0.5 + audio 0.1 sent; 2.6 Mbit/s covers it with headroom.
        assert_eq!(layers(alloc.allocate(t0, 2600 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(1)]);
        // One back-off of the estimator: 1.8 Mbit/s, 2.1 sent (within 20 %).
        let dip = t0 + Duration::from_secs(1);
        assert_eq!(layers(alloc.allocate(dip, 1800 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(1)]);
        // It climbs back within the grace: nothing moved, no hold.
        let back = dip + Duration::from_secs(2);
        assert_eq!(layers(alloc.allocate(back, 2300 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(1)]);
        // A dip that lasts: down once the grace is over.
        let again = back + Duration::from_secs(1);
        assert_eq!(layers(alloc.allocate(again, 1800 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(1)]);
        let stays = again + DIP_GRACE;
        assert_eq!(layers(alloc.allocate(stays, 1800 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(0)]);
        // A deep fall (the weak line): down at once…
        let mut other = Allocator::new();
        assert_eq!(layers(other.allocate(t0, 2600 * KBPS, 100 * KBPS, &wants)), [Some(2), Some(1)]);
        let fall = t0 + Duration::from_millis(100);
        assert_eq!(layers(other.allocate(fall, 900 * KBPS, 100 * KBPS, &wants)), [Some(1), Some(0)]);
        // …and for a while after, a shallow dip too: the line was just found short.
        let up = fall + UP_HOLD;
        assert_eq!(layers(other.allocate(up, 1000 * KBPS, 100 * KBPS, &wants)), [Some(1), Some(0)]);
        let dip = up + Duration::from_secs(1);
        assert_eq!(layers(other.allocate(dip, 700 * KBPS, 100 * KBPS, &wants)), [Some(0), Some(0)]);
    }

    #[test]
    fn small_changes_of_the_estimate_change_nothing() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        let wants = [want(1, 10)];
        assert_eq!(layers(alloc.allocate(now, 1000 * KBPS, 0, &wants)), [Some(1)]);
        // 5 % less would not fit 500 within headroom from scratch… but it is small: kept.
        assert_eq!(layers(alloc.allocate(now, 950 * KBPS, 0, &wants)), [Some(1)]);
    }

    #[test]
    fn one_videos_increase_never_takes_anothers_layer() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 0), want(2, 0)];
        // 1.3 Mbit/s: both at the middle layer (1000 of 1105 headroom).
        assert_eq!(layers(alloc.allocate(t0, 1300 * KBPS, 0, &wants)), [Some(1), Some(1)]);
        // A little more: track 1 may not climb to 1500 by pushing track 2 down.
        let more = alloc.allocate(t0 + Duration::from_secs(10), 1800 * KBPS, 0, &wants);
        assert_eq!(layers(more), [Some(1), Some(1)]);
    }

    #[test]
    fn a_newcomers_video_starts_at_once_even_during_a_hold() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        assert_eq!(layers(alloc.allocate(t0, 2500 * KBPS, 0, &[want(1, 0)])), [Some(2)]);
        // A step down starts a hold…
        assert_eq!(
            layers(alloc.allocate(t0 + Duration::from_secs(1), 700 * KBPS, 0, &[want(1, 0)])),
            [Some(1)]
        );
        // …and a newcomer joins during it: its lowest layer fits, so it
        // starts (and the first keeps what it had: 150 + 500 ≤ 700).
        let both = [want(1, 0), want(2, 0)];
        assert_eq!(
            layers(alloc.allocate(t0 + Duration::from_secs(2), 700 * KBPS, 0, &both)),
            [Some(1), Some(0)]
        );
    }

    #[test]
    fn a_video_that_had_a_layer_is_paused_only_after_a_grace() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 0)];
        assert_eq!(layers(alloc.allocate(t0, 1000 * KBPS, 0, &wants)), [Some(1)]);
        // The estimate dips below the lowest layer: kept at the lowest…
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(1), 100 * KBPS, 0, &wants)), [Some(0)]);
        assert_eq!(
            layers(alloc.allocate(t0 + Duration::from_millis(2500), 100 * KBPS, 0, &wants)),
            [Some(0)]
        );
        // …and paused once the grace is over.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(3), 100 * KBPS, 0, &wants)), [None]);
    }

    #[test]
    fn the_tile_limits_the_layer_even_with_bandwidth_to_spare() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        let mut thumb = want(1, 0);
        thumb.max_layer = 0;
        assert_eq!(layers(alloc.allocate(now, 10_000 * KBPS, 0, &[thumb])), [Some(0)]);
    }

    #[test]
    fn a_single_layer_publisher_is_served_as_it_is() {
        let mut alloc = Allocator::new();
        let now = Instant::now();
        // aiortc, old browsers: one stream, reported as layer 0.
        let one = VideoWant { layers: simulcast([900 * KBPS, 0, 0]), ..want(1, 0) };
        assert_eq!(layers(alloc.allocate(now, 2000 * KBPS, 0, std::slice::from_ref(&one))), [Some(0)]);
        let short = now + Duration::from_secs(1);
        assert_eq!(
            layers(alloc.allocate(short, 500 * KBPS, 0, std::slice::from_ref(&one))),
            [Some(0)],
            "grace"
        );
        let later = short + PAUSE_GRACE;
        assert_eq!(layers(alloc.allocate(later, 500 * KBPS, 0, &[one])), [None], "it does not fit: paused");
    }

    #[test]
    fn a_paused_video_resumes_only_when_its_lowest_layer_fits_with_headroom() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 0)];
        assert_eq!(layers(alloc.allocate(t0, 100 * KBPS, 0, &wants)), [None]);
        // 160: the layer (150) fits but not within 0.85 × 160 = 136.
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(10), 160 * KBPS, 0, &wants)), [None]);
        assert_eq!(layers(alloc.allocate(t0 + Duration::from_secs(11), 200 * KBPS, 0, &wants)), [Some(0)]);
    }

    #[test]
    fn a_step_up_is_judged_by_the_layers_recent_peak_and_keeping_by_its_reading() {
        let mut alloc = Allocator::new();
        let t0 = Instant::now();
        let wants = [want(1, 0)];
        assert_eq!(layers(alloc.allocate(t0, 400 * KBPS, 0, &wants)), [Some(0)]);
        // The 360p layer reads 200 kbit/s this half second (its encoder
        // skipped frames), 500 the one before: 400 does not take it.
        let mut dip = want(1, 0);
        dip.layers[usize::from(quality(1, 0))] = 200 * KBPS;
        dip.peaks = dip.layers;
        dip.peaks[usize::from(quality(1, 0))] = 500 * KBPS;
        let at = t0 + Duration::from_secs(5);
        assert_eq!(layers(alloc.allocate(at, 400 * KBPS, 0, std::slice::from_ref(&dip))), [Some(0)]);
        // Without the peak it would have been taken.
        let mut low = dip.clone();
        low.peaks = [0; QUALITIES];
        assert_eq!(layers(Allocator::new().allocate(at, 400 * KBPS, 0, &[low])), [Some(1)]);
        // Keeping a layer goes by what it sends now: at 600 kbit/s the video
        // climbs to 360p, and a later peak above the estimate does not take it away.
        let at = at + Duration::from_secs(5);
        assert_eq!(layers(alloc.allocate(at, 600 * KBPS, 0, &wants)), [Some(1)]);
        let mut spike = want(1, 0);
        spike.peaks = spike.layers;
        spike.peaks[usize::from(quality(1, 0))] = 700 * KBPS;
        let at = at + Duration::from_secs(5);
        assert_eq!(layers(alloc.allocate(at, 560 * KBPS, 0, &[spike])), [Some(1)]);
        // A higher frame rate of the same picture needs no keyframe: it goes
        // by the reading (the full rate reads 150, peaked at 400).
        let mut alloc = Allocator::new();
        let mut thin = temporal_want(1, 0);
        thin.peaks[usize::from(quality(0, 2))] = 400 * KBPS;
        assert_eq!(qualities(alloc.allocate(t0, 110 * KBPS, 0, std::slice::from_ref(&thin))), [Some((0, 0))]);
        let at = t0 + Duration::from_secs(5);
        assert_eq!(qualities(alloc.allocate(at, 200 * KBPS, 0, &[thin])), [Some((0, 2))]);
    }
}
