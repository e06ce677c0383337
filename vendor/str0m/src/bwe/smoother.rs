use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp_::Bitrate;

/// Time window for averaging estimate changes.
const ESTIMATE_WINDOW: Duration = Duration::from_secs(3);

type TimeBitrate = (Instant, Bitrate);

const TOLERANCE: f64 = 0.05;

/// Huiyi patch: an estimate within this long of the newest entry replaces
/// it. The delay-based estimate moves on nearly every pass (its AIMD
/// step), so the window held an entry per pass: hundreds a second, a
/// 3-second buffer grown to ~1 500 entries (35 KiB) per peer with the
/// estimator, and a push and pop per pass. With 50 ms grains the window
/// holds at most ~61 samples, one per grain, the last value of each.
const GRAIN: Duration = Duration::from_millis(50);

/// Smooths BWE estimates by averaging over a time window.
pub struct EstimateSmoother {
    estimates: VecDeque<TimeBitrate>,
    /// Huiyi patch: the sum of `estimates`' bitrates, kept as they come and
    /// go (the average was a walk over the window on every poll, and the
    /// window holds an entry per pass in which the estimate moved).
    sum: f64,
    maybe_emit: bool,
    emitted: Option<Bitrate>,
}

impl EstimateSmoother {
    pub fn new() -> Self {
        Self {
            estimates: VecDeque::new(),
            sum: 0.0,
            maybe_emit: false,
            emitted: None,
        }
    }

    /// Record a new estimate and update the smoothed average.
    pub fn record(&mut self, now: Instant, estimate: Bitrate) {
        // Did value change from previous?
        let do_update = self.estimates.back().map(|b| b.1) != Some(estimate);

        if do_update {
            self.maybe_emit = true;
            match self.estimates.back_mut() {
                Some((t, last)) if now >= *t && now - *t < GRAIN => {
                    self.sum += estimate.as_f64() - last.as_f64();
                    *last = estimate;
                }
                _ => {
                    self.estimates.push_back((now, estimate));
                    self.sum += estimate.as_f64();
                }
            }
        }

        // Remove entries older than the window.
        while let Some((time, _)) = self.estimates.front() {
            if now.duration_since(*time) > ESTIMATE_WINDOW {
                // Keep last entry
                if self.estimates.len() == 1 {
                    break;
                }

                self.maybe_emit = true;
                if let Some((_, gone)) = self.estimates.pop_front() {
                    self.sum -= gone.as_f64();
                }
                if self.estimates.len() == 1 {
                    self.sum = self.estimates[0].1.as_f64(); // no drift from the running sum
                }
            } else {
                break;
            }
        }
    }

    /// Poll for an estimate to emit. Returns Some only when there's a new value to emit.
    pub fn poll(&mut self) -> Option<Bitrate> {
        if !self.maybe_emit {
            return None;
        }

        if self.estimates.is_empty() {
            return None;
        }

        let avg = self.sum / self.estimates.len() as f64;
        let rate: Bitrate = avg.into();

        // This forces emitting if we have the first ever value, or a last
        // where the rest of the window is gone (estimates stop coming).
        let force = self.estimates.len() == 1 && self.emitted != Some(rate);

        // Emit if we deviate enough from previously emitted.
        let deviate = if let Some(emitted) = self.emitted {
            !in_tolerance(emitted, rate)
        } else {
            true
        };

        self.maybe_emit = false;

        // Are we not to emit?
        if !force && !deviate {
            return None;
        }

        self.emitted = Some(rate);
        Some(rate)
    }
}

fn in_tolerance(b1: Bitrate, b2: Bitrate) -> bool {
    let min = b1 * (1.0 - TOLERANCE);
    let max = b1 * (1.0 + TOLERANCE);
    b2 > min && b2 < max
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn estimates_within_a_grain_share_one_sample() {
        let start = Instant::now();
        let mut s = EstimateSmoother::new();
        // An estimate that moves every 2 ms for 3 s.
        for i in 0..1500_u64 {
            s.record(start + Duration::from_millis(2 * i), Bitrate::kbps(1000 + i));
        }
        assert!(s.estimates.len() <= 61, "{} samples in the window", s.estimates.len());
        // The average is of the last value of each 50 ms grain: close to the
        // window's middle value.
        let avg = s.poll().expect("an estimate").as_f64();
        assert!((avg - 1_750_000.0).abs() < 20_000.0, "{avg}");
        // A steady estimate, once the window has passed, is what comes out.
        for i in 0..200_u64 {
            s.record(start + Duration::from_millis(3000 + 20 * i), Bitrate::kbps(500));
        }
        assert_eq!(s.poll(), Some(Bitrate::kbps(500)));
    }
}
