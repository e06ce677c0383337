//! Restarting a send-side bandwidth estimator that is stuck below what its
//! line carries, or sliding under the meeting's focus ([`StaleEstimate`]).

use std::time::{Duration, Instant};

/// An estimate that has not moved for this long while a video waits for
/// more is taken as stuck (the first time; each later time waits twice as
/// long, up to [`STALE_MAX`]).
pub const STALE_AFTER: Duration = Duration::from_millis(2500);
/// The longest wait between two restarts of a stuck estimator.
pub const STALE_MAX: Duration = Duration::from_secs(32);
/// The least time between two restarts for a focus that has become short
/// ([`StaleEstimate::restart_due`]); doubled, up to [`STALE_MAX`], for each
/// such restart within [`SHORT_CALM`] of the one before.
pub const SHORT_PROBE_GAP: Duration = Duration::from_secs(5);
/// After this long without a restart for a short focus, the next one may
/// come [`SHORT_PROBE_GAP`] after it again.
pub const SHORT_CALM: Duration = Duration::from_secs(30);

/// Restarts a bandwidth estimator that is stuck below what the link
/// carries, or sliding under the meeting's focus.
///
/// str0m's estimator (a port of libwebrtc's GoogCC) can stop moving after a
/// lossy spell: its loss-based part keeps it "loss limited", in which state
/// it neither probes nor grows, while the application sends just under the
/// estimate, too much for its application-limited probes. Seen in the
/// simulated weak-line test, one run in eight: after the line healed, the
/// estimate stayed at 431 kbit/s for a minute and more, and both videos at
/// their lowest layer. So when the estimate has not changed for
/// [`STALE_AFTER`] while some video could get more, the engine restarts the
/// estimator from its current value; a restarted estimator probes at once
/// (3× and 6× the value, at most twice what the subscriber would use) and
/// finds the capacity in a second or two, or stays. Restarts that do not
/// lift the estimate back off (×2 up to [`STALE_MAX`]); one that lifts it
/// starts the backoff over (a healing line is climbed quickly).
///
/// The same estimator can also slide below what a line delivers. Seen on
/// the 300 kbit/s township line (5 % loss): 860 → 61 kbit/s in 11 s while
/// the line carried 200–250, and once to 49, below the audio alone, so the
/// speaker was paused for 3 s. That slide was a porting error in str0m's
/// loss-based part (its high-bandwidth bias; fixed in the vendored crate,
/// ADR 0010), but an estimate can fall under the focus for other reasons
/// too. So the moment the focus becomes short ([`Allocator::focus_short`](crate::core::allocate::Allocator::focus_short)) is a
/// reason for a restart of its own, once per shortage, spaced by
/// [`SHORT_PROBE_GAP`] with its own backoff. If the probe finds nothing,
/// the focus stays where the estimate puts it: on the oversend allowance
/// while that holds, else paused after its grace. A line at its limit thus
/// sees a few short probe bursts a minute at most from either reason.
#[derive(Debug, Clone)]
pub struct StaleEstimate {
    since: Option<Instant>,
    wait: Duration,
    /// The estimate at the last restart.
    restarted_at: Option<u64>,
    /// Restarts for the focus becoming short.
    short: ShortProbe,
}

/// When the focus became short and was probed for ([`StaleEstimate`]).
#[derive(Debug, Clone, Copy)]
struct ShortProbe {
    /// A restart was made for the present shortage.
    probed: bool,
    /// When the last such restart was.
    last: Option<Instant>,
    /// How long after it the next may come.
    gap: Duration,
}

impl Default for StaleEstimate {
    fn default() -> Self {
        Self {
            since: None,
            wait: STALE_AFTER,
            restarted_at: None,
            short: ShortProbe { probed: false, last: None, gap: SHORT_PROBE_GAP },
        }
    }
}

impl StaleEstimate {
    /// The estimate changed to `estimate` at `now`.
    pub fn changed(&mut self, now: Instant, estimate: u64) {
        self.since = Some(now);
        if self.restarted_at.is_some_and(|r| estimate > r + r / 4) {
            self.wait = STALE_AFTER;
            self.restarted_at = None;
        }
    }

    /// Whether to restart the estimator at `now`; `unmet`: some video could
    /// get more than it has (when all have what they want, nothing is stuck).
    /// `estimate`: the current one. `focus_short`: the meeting's focus is
    /// kept beyond what the estimate leaves it ([`Allocator::focus_short`](crate::core::allocate::Allocator::focus_short)).
    pub fn restart_due(&mut self, now: Instant, unmet: bool, estimate: u64, focus_short: bool) -> bool {
        if self.short.due(now, focus_short) {
            self.since = Some(now);
            return true;
        }
        if !unmet {
            *self = Self { since: Some(now), short: self.short, ..Self::default() };
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) < self.wait {
            return false;
        }
        self.since = Some(now);
        self.wait = (self.wait * 2).min(STALE_MAX);
        self.restarted_at = Some(estimate);
        true
    }
}

impl ShortProbe {
    /// Whether the focus has just become short (or is still short, its
    /// restart held back by the gap) and its restart may come now.
    fn due(&mut self, now: Instant, focus_short: bool) -> bool {
        self.probed &= focus_short;
        if !focus_short || self.probed {
            return false;
        }
        let since_last = self.last.map(|t| now.saturating_duration_since(t));
        if since_last.is_some_and(|d| d < self.gap) {
            return false;
        }
        self.gap = match since_last {
            Some(d) if d < SHORT_CALM => (self.gap * 2).min(STALE_MAX),
            _ => SHORT_PROBE_GAP,
        };
        self.probed = true;
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_estimate_is_restarted_with_backoff_and_a_moving_or_sufficient_one_never() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut stale = StaleEstimate::default();
        stale.changed(at(0), 400_000);
        assert!(!stale.restart_due(at(2_400), true, 400_000, false));
        assert!(stale.restart_due(at(2_500), true, 400_000, false), "stuck for 2.5 s with a video waiting");
        // The restart found nothing more: the next waits twice as long, up to 32 s.
        stale.changed(at(3_000), 410_000);
        assert!(!stale.restart_due(at(7_900), true, 410_000, false));
        assert!(stale.restart_due(at(8_000), true, 410_000, false), "then after 5 s");
        assert!(stale.restart_due(at(18_000), true, 410_000, false), "10 s");
        assert!(stale.restart_due(at(38_000), true, 410_000, false), "20 s");
        assert!(stale.restart_due(at(70_000), true, 410_000, false), "32 s");
        assert!(!stale.restart_due(at(101_000), true, 410_000, false));
        assert!(stale.restart_due(at(102_000), true, 410_000, false), "and no longer than 32 s");
        // A restart that lifts the estimate starts the backoff over.
        stale.changed(at(103_000), 900_000);
        assert!(!stale.restart_due(at(105_400), true, 900_000, false));
        assert!(stale.restart_due(at(105_500), true, 900_000, false));
        // A moving estimate is not stuck.
        stale.changed(at(106_000), 950_000);
        assert!(!stale.restart_due(at(107_000), true, 950_000, false));
        // Nothing waiting: nothing stuck, and the backoff starts over.
        assert!(!stale.restart_due(at(200_000), false, 950_000, false));
        assert!(!stale.restart_due(at(202_400), true, 950_000, false));
        assert!(stale.restart_due(at(202_500), true, 950_000, false));
    }

    #[test]
    fn the_estimator_probes_once_when_the_focus_becomes_short_and_not_more_often_than_the_gap() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut stale = StaleEstimate::default();
        assert!(!stale.restart_due(at(0), true, 200_000, false));
        // The estimate slides (it moves: not stuck) until the focus is short.
        stale.changed(at(500), 150_000);
        assert!(stale.restart_due(at(600), true, 150_000, true), "the focus became short: probe");
        stale.changed(at(700), 140_000);
        assert!(!stale.restart_due(at(800), true, 140_000, true), "once per shortage");
        assert!(!stale.restart_due(at(1_900), true, 140_000, true));
        // The probe found room; the focus fits again, and soon is short again:
        // the next probe waits for the gap, then comes within that shortage.
        stale.changed(at(2_000), 250_000);
        assert!(!stale.restart_due(at(2_000), true, 250_000, false));
        stale.changed(at(3_000), 140_000);
        assert!(!stale.restart_due(at(3_000), true, 140_000, true), "within the gap");
        stale.changed(at(5_000), 130_000);
        assert!(!stale.restart_due(at(5_500), true, 130_000, true));
        stale.changed(at(5_550), 125_000);
        assert!(stale.restart_due(at(5_600), true, 125_000, true), "the gap is over, the shortage still on");
        // Short on and on, the estimate moving: no more probes for it.
        for ms in (6_000..=16_000).step_by(500) {
            stale.changed(at(ms), 120_000);
            assert!(!stale.restart_due(at(ms), true, 120_000, true), "{ms} ms: once per shortage");
        }
        // Shortages that come back soon back off: 10 s after the second
        // probe (it came within 30 s of the first), then 20 s.
        stale.changed(at(16_500), 200_000);
        assert!(!stale.restart_due(at(16_500), true, 200_000, false));
        stale.changed(at(17_000), 120_000);
        assert!(
            stale.restart_due(at(17_000), true, 120_000, true),
            "11.4 s after the last: past the 10 s gap"
        );
        stale.changed(at(30_000), 200_000);
        assert!(!stale.restart_due(at(30_000), true, 200_000, false));
        for ms in (30_500..=36_500).step_by(500) {
            stale.changed(at(ms), 120_000);
            assert!(!stale.restart_due(at(ms), true, 120_000, true), "{ms} ms: within the 20 s gap");
        }
        stale.changed(at(37_100), 120_000);
        assert!(stale.restart_due(at(37_100), true, 120_000, true), "20 s after the last");
        // After a calm half minute the gap is back to 5 s.
        stale.changed(at(80_000), 200_000);
        assert!(!stale.restart_due(at(80_000), true, 200_000, false));
        stale.changed(at(81_000), 120_000);
        assert!(stale.restart_due(at(81_000), true, 120_000, true));
        stale.changed(at(81_500), 200_000);
        assert!(!stale.restart_due(at(81_500), true, 200_000, false));
        stale.changed(at(85_900), 120_000);
        assert!(!stale.restart_due(at(85_900), true, 120_000, true), "within the 5 s gap");
        assert!(stale.restart_due(at(86_000), true, 120_000, true), "5 s after the last");
        // A focus that had all it wanted and is short at once (the estimate
        // fell under it) is probed as well, once.
        let mut fresh = StaleEstimate::default();
        assert!(!fresh.restart_due(at(0), false, 900_000, false));
        assert!(fresh.restart_due(at(100), false, 60_000, true));
        assert!(!fresh.restart_due(at(200), false, 60_000, true), "nothing unmet: still once");
    }
}
