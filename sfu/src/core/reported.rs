//! A bitrate limit for a subscriber without a bandwidth estimator, from the
//! receiver reports it sends anyway ([`ReportedLimit`], ADR 0028).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::rtp::ReceptionSummary;

/// Reports losing more than this share of their packets lower the limit.
pub const DECREASE_ABOVE: f32 = 0.10;
/// Reports losing less than this share raise it; between the two it holds
/// (a line's own random loss, which a lower rate would not cure).
pub const INCREASE_BELOW: f32 = 0.02;
/// The most the limit grows in a second of clean reports.
pub const INCREASE_PER_SECOND: f64 = 1.08;
/// After a decrease, reports this soon may still cover packets sent at the
/// rate before it (a receiver reports about once a second): they do not
/// lower the limit again.
pub const DECREASE_GAP: Duration = Duration::from_millis(1500);

/// How long the rate that lost is not tried again, the first time.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(8);
/// The longest wait before the rate that lost is tried again: a healed
/// line is found within this (and the climb after it).
pub const BACKOFF_MAX: Duration = Duration::from_secs(32);

/// The reports an increase looks at (an audio stream reports every 5 s): a
/// single report of a hundred packets on a line losing 5 % says less than
/// 2 % about one time in eight.
pub const WINDOW: Duration = Duration::from_secs(5);
/// An increase needs the window to cover at least this many packets.
pub const INCREASE_PACKETS: f64 = 150.0;
/// A decrease looks at the latest reports that cover this many packets:
/// one second of a middle layer on a township line (~25), two or three of
/// a lowest one (8–10 a second, where a false alarm costs nothing: the
/// limit is at the floor already).
pub const DECREASE_PACKETS: f64 = 20.0;
/// What a stream's first report is taken to cover (how far its sequence
/// numbers moved since the one before is not known yet).
pub const UNKNOWN_PACKETS: f64 = 30.0;
/// A decrease takes the limit to at most this share of what was being
/// sent: below the allocator's dip slack ([`DIP_SLACK`](crate::core::allocate::DIP_SLACK)),
/// so the allocation steps down at once rather than riding out a dip (a
/// layer that loses a tenth of its packets does not fit).
pub const STEP_DOWN: f64 = 0.75;
/// An increase needs clean reports over this long since the last decrease.
pub const INCREASE_AFTER: Duration = Duration::from_secs(2);

/// A limit on what is sent to a subscriber without an estimator, from the
/// loss its receiver reports (RFC 3550) say its line has: libwebrtc's
/// sender-side loss controller from before transport-wide feedback.
///
/// A meeting over `sfu.bwe_max_room_peers` gives its later participants no
/// estimator (its cost per participant). Without a limit every video went
/// to them at its best layer; a township on a 300 kbit/s line was sent a
/// megabit and lost two thirds of it (docs/benchmarks.md, weak-plenary).
/// Every receiver sends reports anyway, about once a second per stream,
/// each with the share of the packets since its previous one that did not
/// arrive. Above [`DECREASE_ABOVE`] the limit becomes what is being sent,
/// less half the share lost (at most [`STEP_DOWN`] of it); below
/// [`INCREASE_BELOW`] it grows by up to [`INCREASE_PER_SECOND`] a second
/// until it no longer limits anything, but not past a rate that lost
/// within its backoff ([`BACKOFF_FIRST`] to [`BACKOFF_MAX`]); between the
/// two it holds. It never goes below every video's lowest quality with the
/// audio (`floor`): without an estimator the server cannot tell a line
/// that carries nothing from one that carries little, and the lowest
/// quality is what a weak venue should get at least.
#[derive(Debug, Clone, Default)]
pub struct ReportedLimit {
    /// The limit in bit/s; `None`: nothing limited.
    limit: Option<u64>,
    /// Per stream (by SSRC): when its last report taken into account came.
    seen: Vec<(u32, Instant)>,
    /// When the limit last went down.
    decreased: Option<Instant>,
    /// When the limit last changed: growth is per second since.
    changed: Option<Instant>,
    /// The reports of the last [`WINDOW`] since the last decrease: when,
    /// packets lost and packets covered.
    window: VecDeque<(Instant, f64, f64)>,
    /// What was being sent at the last decrease: the limit stays below it
    /// until the instant given.
    ceiling: Option<(u64, Instant)>,
    /// How long the next ceiling holds ([`BACKOFF_FIRST`] doubling to
    /// [`BACKOFF_MAX`] with each increase that ended in a decrease).
    backoff: Duration,
    /// The limit went up since the last decrease.
    raised: bool,
}

impl ReportedLimit {
    /// The limit, if any.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Takes the reports not seen before (`reports`: each stream's last,
    /// keyed by its SSRC) and returns the limit, never below `floor` (the
    /// audio and every video's lowest quality): `sent`, what is being
    /// forwarded now (audio included); `desired`, every video at its best.
    pub fn update(
        &mut self,
        now: Instant,
        reports: &[(u32, ReceptionSummary)],
        sent: u64,
        floor: u64,
        desired: u64,
    ) -> Option<u64> {
        let (mut lost, mut weight) = (0.0_f64, 0.0_f64);
        for (key, r) in reports {
            // A stream's report time changes only with a new report (two
            // in one receive batch share an instant, so no global "newest").
            match self.seen.iter_mut().find(|(k, _)| k == key) {
                Some((_, at)) if *at == r.at => continue,
                Some((_, at)) => *at = r.at,
                None => self.seen.push((*key, r.at)),
            }
            let w = if r.packets == 0 { UNKNOWN_PACKETS } else { r.packets as f64 };
            lost += f64::from(r.fraction_lost.clamp(0.0, 1.0)) * w;
            weight += w;
        }
        self.seen.retain(|(k, _)| reports.iter().any(|(key, _)| key == k));
        if weight > 0.0 {
            self.window.push_back((now, lost, weight));
            while self.window.front().is_some_and(|(at, _, _)| now.saturating_duration_since(*at) > WINDOW) {
                self.window.pop_front();
            }
            self.decide(now, sent, floor, desired);
        }
        // (The floor moves with the videos: one that comes back, or a new
        // publisher, raises it.)
        self.limit = self.limit.map(|l| l.max(floor));
        self.limit
    }

    fn decide(&mut self, now: Instant, sent: u64, floor: u64, desired: u64) {
        // Losing: the latest reports covering DECREASE_PACKETS at least
        // (one report of a low-rate stream says little).
        let (mut lost, mut weight) = (0.0, 0.0);
        for (_, l, w) in self.window.iter().rev() {
            (lost, weight) = (lost + l, weight + w);
            if weight >= DECREASE_PACKETS {
                break;
            }
        }
        if weight >= DECREASE_PACKETS && lost / weight > f64::from(DECREASE_ABOVE) {
            // At once, but once per gap, and only for what is being sent.
            if sent > 0 && self.decreased.is_none_or(|t| now >= t + DECREASE_GAP) {
                let lowered = (sent as f64 * (1.0 - lost / weight / 2.0).min(STEP_DOWN)) as u64;
                self.limit = Some(self.limit.map_or(lowered, |l| l.min(lowered)).max(floor));
                // A layer that did not fit is not tried again for a while:
                // longer each time a climb ends here.
                self.backoff = match self.backoff {
                    b if b.is_zero() => BACKOFF_FIRST,
                    b if self.raised => (b * 2).min(BACKOFF_MAX),
                    b => b,
                };
                self.ceiling = Some((sent, now + self.backoff));
                self.raised = false;
                self.decreased = Some(now);
                self.changed = Some(now);
                self.window.clear();
            }
            return;
        }
        let (lost, weight) = self.window.iter().fold((0.0, 0.0), |(l, w), r| (l + r.1, w + r.2));
        let clean_since = self.decreased.is_none_or(|t| now >= t + INCREASE_AFTER);
        let clean = weight >= INCREASE_PACKETS && lost / weight < f64::from(INCREASE_BELOW);
        let Some(l) = self.limit.filter(|_| clean_since && clean) else { return };
        let since = self.changed.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let mut raised = (l as f64 * INCREASE_PER_SECOND.powf(since.as_secs_f64().min(1.0))) as u64 + 1_000;
        if let Some((ceiling, _)) = self.ceiling.filter(|(_, until)| now < *until) {
            raised = raised.min(ceiling.saturating_sub(1)).max(l);
        }
        self.raised |= raised > l;
        self.limit = (raised < desired).then_some(raised.max(floor));
        if self.limit.is_none() {
            // Nothing limited: the next loss starts the backoff over.
            (self.backoff, self.ceiling) = (Duration::ZERO, None);
        }
        self.changed = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report on stream 1.
    fn report(at: Instant, fraction_lost: f32, packets: u64) -> (u32, ReceptionSummary) {
        report_on(1, at, fraction_lost, packets)
    }

    fn report_on(ssrc: u32, at: Instant, fraction_lost: f32, packets: u64) -> (u32, ReceptionSummary) {
        (ssrc, ReceptionSummary { at, fraction_lost, packets })
    }

    const FLOOR: u64 = 100_000;
    const DESIRED: u64 = 1_040_000;

    #[test]
    fn a_clean_line_is_never_limited() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        for s in 0..10 {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(r.update(at, &[report(at, 0.0, 125)], DESIRED, FLOOR, DESIRED), None);
            let at = at + Duration::from_millis(500);
            assert_eq!(r.update(at, &[report(at, 0.05, 125)], DESIRED, FLOOR, DESIRED), None, "5 % holds");
        }
    }

    #[test]
    fn a_line_losing_two_thirds_is_limited_to_what_it_carries_and_held_there() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // A megabit into a 300 kbit/s line: two thirds lost.
        // (Reports give the share in 256ths: 176/256 = 0.6875.)
        let limit = r.update(t0, &[report(t0, 0.6875, 125)], DESIRED, FLOOR, DESIRED).expect("limited");
        assert_eq!(limit, 682_500, "a megabit less half the loss");
        // The same report seen again, and a fresh one too soon, change nothing.
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(r.update(soon, &[report(t0, 0.6875, 125)], 300_000, FLOOR, DESIRED), Some(limit));
        assert_eq!(r.update(soon, &[report(soon, 0.5, 60)], 300_000, FLOOR, DESIRED), Some(limit));
        // Still losing after the gap: down to three quarters of what is
        // sent at most (less half the loss would be 253 750, within the
        // allocator's dip slack).
        let later = t0 + Duration::from_secs(2);
        assert_eq!(r.update(later, &[report(later, 0.25, 60)], 290_000, FLOOR, DESIRED), Some(217_500));
        // The line's own 5 % holds it there, report after report.
        for s in 3..20 {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(r.update(at, &[report(at, 0.05, 100)], 100_000, FLOOR, DESIRED), Some(217_500));
        }
    }

    #[test]
    fn the_limit_never_falls_below_the_lowest_layers() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        for s in 0..10 {
            let at = t0 + Duration::from_secs(2 * s);
            let limit = r.update(at, &[report(at, 0.9, 100)], FLOOR, FLOOR, DESIRED);
            assert_eq!(limit, Some(FLOOR));
        }
    }

    #[test]
    fn a_healed_line_is_climbed_eight_percent_a_second_past_the_rate_that_lost_after_a_while() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // 300 kbit/s sent, 70 % lost: 195 kbit/s, and 300 not tried for 8 s.
        assert_eq!(r.update(t0, &[report(t0, 0.7, 100)], 300_000, FLOOR, DESIRED), Some(195_000));
        let mut at = t0;
        let mut before = 195_000;
        let mut seconds = 0;
        while let Some(limit) = r.limit() {
            at += Duration::from_secs(1);
            seconds += 1;
            let after = r.update(at, &[report(at, 0.0, 100)], limit.min(300_000), FLOOR, DESIRED);
            match (seconds, after) {
                // Two clean seconds (and 150 packets) before the first step.
                (1, a) => assert_eq!(a, Some(195_000)),
                (2, a) => assert_eq!(a, Some(211_600)),
                (3..=7, Some(a)) => {
                    assert!(a < 300_000 && a <= before * 108 / 100 + 1_000, "{a} after {before}")
                }
                (_, Some(a)) => assert!(a <= before * 108 / 100 + 1_000, "{a} after {before}"),
                (_, None) => {}
            }
            before = after.unwrap_or(0);
            assert!(seconds < 60, "never climbed out");
        }
        // Up to 300 by the 7th second, held until the 8th, then ×1.08 a
        // second to a megabit: about 24 s.
        assert!((20..=28).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn a_rate_that_lost_again_is_tried_again_later_each_time() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        let mut at = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            // Losing at 448 kbit/s (the middle layer): down.
            at += Duration::from_secs(1);
            r.update(at, &[report(at, 0.2, 100)], 448_000, FLOOR, DESIRED);
            let lost_at = at;
            // Clean at the lowest layer until the limit passes 448 again.
            while r.limit().is_some_and(|l| l < 448_000) {
                at += Duration::from_secs(1);
                r.update(at, &[report(at, 0.0, 100)], 168_000, FLOOR, DESIRED);
            }
            waits.push((at - lost_at).as_secs());
        }
        println!("tried again after {waits:?} s");
        assert_eq!(waits, [8, 16, 32, 32, 32], "8 s, then twice as long up to 32");
    }

    #[test]
    fn reports_count_by_the_packets_they_cover() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // A lost audio packet or two in a short report does not outweigh a
        // clean video report ten times its size: 0.2 × 10 / 110 < 2 %.
        let reports = [report_on(1, t0, 0.2, 10), report_on(2, t0, 0.0, 100)];
        assert_eq!(r.update(t0, &reports, DESIRED, FLOOR, DESIRED), None);
        let at = t0 + Duration::from_secs(1);
        let reports = [report_on(1, at, 0.2, 100), report_on(2, at, 0.2, 10)];
        assert!(r.update(at, &reports, DESIRED, FLOOR, DESIRED).is_some());
    }

    #[test]
    fn a_few_packets_lost_of_a_small_report_lower_nothing_alone() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // A low-rate video's report: 2 of 12 lost on a line losing 5 %.
        assert_eq!(r.update(t0, &[report(t0, 0.17, 12)], DESIRED, FLOOR, DESIRED), None);
        // A clean one after it: 2 of 24.
        let at = t0 + Duration::from_secs(1);
        assert_eq!(r.update(at, &[report(at, 0.0, 12)], DESIRED, FLOOR, DESIRED), None);
        // The latest 20 packets at least, 3 of 24, do say so.
        let at = t0 + Duration::from_secs(2);
        assert!(r.update(at, &[report(at, 0.25, 12)], DESIRED, FLOOR, DESIRED).is_some());
    }

    #[test]
    fn the_limit_rises_with_the_floor() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // Audio alone, losing: limited to the audio.
        assert_eq!(r.update(t0, &[report(t0, 0.3, 100)], 40_000, 40_000, 40_000), Some(40_000));
        // A video comes back: its lowest quality is allowed at once, with
        // no new report, and on a line whose 5 % holds the limit.
        let at = t0 + Duration::from_millis(500);
        assert_eq!(r.update(at, &[report(t0, 0.3, 100)], 40_000, 160_000, DESIRED), Some(160_000));
        let at = t0 + Duration::from_secs(1);
        assert_eq!(r.update(at, &[report(at, 0.05, 100)], 160_000, 160_000, DESIRED), Some(160_000));
    }

    #[test]
    fn reports_that_arrive_together_are_each_taken_once() {
        let (t0, mut r) = (Instant::now(), ReportedLimit::default());
        // An allocation between two reports of one receive batch (one instant).
        assert_eq!(r.update(t0, &[report_on(1, t0, 0.0, 100)], DESIRED, FLOOR, DESIRED), None);
        let both = [report_on(1, t0, 0.0, 100), report_on(2, t0, 0.5, 100)];
        assert!(r.update(t0, &both, DESIRED, FLOOR, DESIRED).is_some(), "the second one counts");
        let limit = r.limit();
        let later = t0 + Duration::from_secs(2);
        assert_eq!(r.update(later, &both, DESIRED, FLOOR, DESIRED), limit, "and neither counts twice");
    }
}
