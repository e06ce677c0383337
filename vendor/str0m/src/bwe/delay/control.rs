use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::macros::{log_bitrate_estimate, log_delay_variation};
use super::super::{AckedPacket, BandwidthUsage};
use super::arrival_group::ArrivalGroupAccumulator;
use super::rate_control::RateControl;
use super::trendline::TrendlineEstimator;
use crate::rtp_::Bitrate;
use crate::util::{MovingAverage, already_happened, not_happening};

const MAX_RTT_HISTORY_WINDOW: usize = 32;
const UPDATE_INTERVAL: Duration = Duration::from_millis(25);
/// The maximum time we keep updating our estimate without receiving a TWCC report.
const MAX_TWCC_GAP: Duration = Duration::from_millis(500);
/// RFC 6298: Exponentially Weighted Moving Average smoothing factor for RTT (alpha = 1/8)
const RTT_SMOOTHING_FACTOR: f64 = 0.125;

/// Delay controller for googcc inspired BWE.
///
/// This controller attempts to estimate the available send bandwidth by looking at the variations
/// in packet arrival times for groups of packets sent together. Broadly, if the delay variation is
/// increasing this indicates overuse.
pub struct DelayController {
    arrival_group_accumulator: ArrivalGroupAccumulator,
    trendline_estimator: TrendlineEstimator,
    rate_control: RateControl,
    /// Last estimate produced, unlike [`next_estimate`] this will always have a value after the
    /// first estimate.
    last_estimate: Option<Bitrate>,
    /// Smoothed RTT using EWMA (RFC 6298, alpha = 1/8).
    smoothed_rtt: MovingAverage,
    /// History of the max RTT derived for each TWCC report (kept for fallback).
    max_rtt_history: VecDeque<Duration>,

    /// The next time we should poll.
    next_timeout: Instant,
    /// The last time we ingested a TWCC report.
    last_twcc_report: Instant,
}

impl DelayController {
    pub fn new(initial_bitrate: Bitrate) -> Self {
        Self {
            arrival_group_accumulator: ArrivalGroupAccumulator::default(),
            trendline_estimator: TrendlineEstimator::new(20),
            rate_control: RateControl::new(initial_bitrate, Bitrate::kbps(40), Bitrate::gbps(10)),
            last_estimate: Some(initial_bitrate),
            smoothed_rtt: MovingAverage::new(RTT_SMOOTHING_FACTOR),
            max_rtt_history: VecDeque::default(),
            next_timeout: not_happening(),
            last_twcc_report: already_happened(),
        }
    }

    /// Record a packet from a TWCC report.
    pub fn update(
        &mut self,
        acked: &[AckedPacket],
        acked_bitrate: Option<Bitrate>,
        probe_bitrate: Option<Bitrate>,
        now: Instant,
    ) -> Option<Bitrate> {
        let mut max_rtt = None;

        for acked_packet in acked {
            max_rtt = max_rtt.max(Some(acked_packet.rtt()));
            if let Some(delay_variation) = self
                .arrival_group_accumulator
                .accumulate_packet(acked_packet)
            {
                log_delay_variation!(delay_variation.arrival_delta);

                // Got a new delay variation, add it to the trendline.
                //
                // IMPORTANT: Match WebRTC's TrendlineEstimator time base.
                // WebRTC calls Detect/UpdateThreshold with `arrival_time_ms` (remote receive time),
                // not the local "time we processed this feedback". Using the remote receive time
                // avoids threshold adaptation artifacts when many deltas are processed in one
                // feedback batch (e.g. TWCC reports).
                //
                // Note: We use remote timestamps for relative timing only (computing time deltas
                // between packets). Clock skew doesn't matter since we're measuring trends in
                // delay variations, not absolute times.
                self.trendline_estimator
                    .add_delay_observation(delay_variation, delay_variation.last_remote_recv_time);
            }
        }

        if let Some(rtt) = max_rtt {
            self.update_rtt(rtt);
        }

        let new_hypothesis = self.trendline_estimator.hypothesis();

        self.update_estimate(
            new_hypothesis,
            acked_bitrate,
            probe_bitrate,
            self.get_smoothed_rtt(),
            now,
        );
        self.last_twcc_report = now;

        self.last_estimate
    }

    /// Huiyi patch (docs/adr/0026 in Huiyi): the controller asks for no
    /// wake-up of its own. Its steps between feedback reports (every
    /// `UPDATE_INTERVAL` while the hypothesis is valid) are taken, each at
    /// its own time, by `catch_up` on the session's next pass or report,
    /// before anything else, so the estimate follows the same course.
    /// Upstream returned `next_timeout`: a session pass for each step, ~40
    /// a second per subscriber, a fifth to a half of a busy server's passes.
    pub fn poll_timeout(&self) -> Instant {
        not_happening()
    }

    /// Huiyi patch (docs/adr/0026 in Huiyi): takes the steps due before
    /// `now`, each at the time it was due, as the timer passes upstream asks
    /// for would have. Between two feedback reports nothing a step reads
    /// changes (the hypothesis, the acknowledged bitrate: pass the estimate
    /// from before any report being handled now, the round trip), so the
    /// steps come out as they would have. At most two: a step is taken only
    /// while the hypothesis is valid, 50 ms after a report at most.
    pub fn catch_up(&mut self, acked_bitrate: Option<Bitrate>, now: Instant) {
        // (Bounded by the hypothesis' validity: two steps at most; the cap
        // is a guard.)
        for _ in 0..4 {
            if self.next_timeout >= now || !self.step(acked_bitrate, self.next_timeout) {
                return;
            }
        }
    }

    pub fn handle_timeout(&mut self, acked_bitrate: Option<Bitrate>, now: Instant) {
        self.catch_up(acked_bitrate, now);
        self.step(acked_bitrate, now);
    }

    /// One step of the rate controller at `at` between reports; `false`
    /// (and no step) when the hypothesis is no longer valid then.
    fn step(&mut self, acked_bitrate: Option<Bitrate>, at: Instant) -> bool {
        if !self.trendline_hypothesis_valid(at) {
            // We haven't received a TWCC report in a while. The trendline hypothesis can
            // no longer be considered valid. We need another TWCC report before we can update
            // estimates.
            //
            // Huiyi patch (docs/adr/0023 in Huiyi): nothing here can change until that
            // report arrives, and its arrival (`update`) sets the next timeout. Upstream
            // polled again after the smoothed round trip, at most 25 ms (the round trip
            // here runs to the feedback's arrival, so it is rarely shorter), each time a
            // full timeout pass of the session that found the hypothesis still stale.
            // Not polling also keeps us out of the poll -> handle loop upstream warned of.
            self.next_timeout = not_happening();
            return false;
        }

        self.update_estimate(
            self.trendline_estimator.hypothesis(),
            acked_bitrate,
            None,
            self.get_smoothed_rtt(),
            at,
        );
        true
    }

    /// Get the latest estimate.
    pub fn last_estimate(&self) -> Option<Bitrate> {
        self.last_estimate
    }

    /// Whether the delay-based detector currently signals overuse.
    ///
    /// This is useful for gating behaviors (like probing) that would otherwise
    /// re-excite the system while we're already congested.
    pub fn is_overusing(&self) -> bool {
        self.trendline_estimator.hypothesis() == BandwidthUsage::Overuse
    }

    /// Update smoothed RTT using EWMA (RFC 6298, alpha = 1/8).
    fn update_rtt(&mut self, rtt: Duration) {
        // Keep history as fallback in case smoothed RTT is not yet available
        while self.max_rtt_history.len() >= MAX_RTT_HISTORY_WINDOW {
            self.max_rtt_history.pop_front();
        }
        self.max_rtt_history.push_back(rtt);

        // Update smoothed RTT using EWMA: smoothed = (7/8) * smoothed + (1/8) * sample
        self.smoothed_rtt.update(rtt.as_secs_f64());
    }

    /// Get the current smoothed RTT, with fallback to mean of history if not yet available.
    fn get_smoothed_rtt(&self) -> Option<Duration> {
        // Try smoothed RTT first (EWMA)
        if let Some(avg_secs) = self.smoothed_rtt.get() {
            return Some(Duration::from_secs_f64(avg_secs));
        }

        // Fallback to mean of history during initialization
        if self.max_rtt_history.is_empty() {
            return None;
        }

        let sum = self
            .max_rtt_history
            .iter()
            .fold(Duration::ZERO, |acc, rtt| acc + *rtt);
        Some(sum / self.max_rtt_history.len() as u32)
    }

    fn update_estimate(
        &mut self,
        hypothesis: BandwidthUsage,
        observed_bitrate: Option<Bitrate>,
        probe_bitrate: Option<Bitrate>,
        mean_max_rtt: Option<Duration>,
        now: Instant,
    ) {
        // WebRTC's logic from delay_based_bwe.cc MaybeUpdateEstimate():
        // - If we have a probe result, apply it directly and skip delay-based updates
        // - Otherwise, apply normal delay-based rate control
        //
        // This prevents probe results from being immediately overridden by delay-based
        // decreases caused by the probe itself (probes cause temporary queuing delay).

        if let Some(probe_rate) = probe_bitrate {
            // Apply probe result directly, bypassing delay-based updates
            self.rate_control.set_probe_result(probe_rate, now);
            let estimated_rate = self.rate_control.estimated_bitrate();
            log_bitrate_estimate!(estimated_rate.as_f64());
            self.last_estimate = Some(estimated_rate);
        } else if let Some(observed_bitrate) = observed_bitrate {
            // No probe result, apply normal delay-based rate control
            self.rate_control
                .update(hypothesis.into(), observed_bitrate, mean_max_rtt, now);
            let estimated_rate = self.rate_control.estimated_bitrate();

            log_bitrate_estimate!(estimated_rate.as_f64());
            self.last_estimate = Some(estimated_rate);
        }

        // Set this even if we didn't update, otherwise we get stuck in a poll -> handle loop
        // that starves the run loop.
        self.next_timeout = now + UPDATE_INTERVAL;
    }

    /// Whether the current trendline hypothesis is valid i.e. not too old.
    fn trendline_hypothesis_valid(&self, now: Instant) -> bool {
        now.duration_since(self.last_twcc_report)
            <= self
                .get_smoothed_rtt()
                .map(|rtt| rtt * 2)
                .unwrap_or(MAX_TWCC_GAP)
                .min(UPDATE_INTERVAL * 2)
    }
}

#[cfg(test)]
mod test {
    use super::super::super::AckedPacket;
    use super::*;
    use crate::rtp_::DataSize;

    /// A report of `n` packets of 1 000 bytes sent every 8 ms from `start`
    /// (1 Mbit/s), each received 20 ms later, acknowledged at `at`.
    fn report(first: u64, n: u64, start: Instant, at: Instant) -> Vec<AckedPacket> {
        (0..n)
            .map(|i| {
                let sent = start + Duration::from_millis(8 * i);
                AckedPacket {
                    seq_no: (first + i).into(),
                    size: DataSize::bytes(1000),
                    local_send_time: sent,
                    remote_recv_time: sent + Duration::from_millis(20),
                    local_recv_time: at,
                }
            })
            .collect()
    }

    /// Huiyi patch (docs/adr/0026 in Huiyi): the steps a timer would have
    /// taken between reports are taken by the next pass, at their own
    /// times, and the estimate comes out the same; the controller asks for
    /// no wake-up of its own.
    #[test]
    fn steps_between_reports_are_caught_up_at_the_next_pass() {
        let t0 = Instant::now();
        let acked = Some(Bitrate::mbps(1));
        let mut timed = DelayController::new(Bitrate::kbps(300));
        let mut lazy = DelayController::new(Bitrate::kbps(300));
        let mut t = t0;
        let mut seq = 0;
        for _ in 0..20 {
            // A report every 40 ms.
            let at = t + Duration::from_millis(40);
            let r = report(seq, 5, t, at);
            seq += 5;
            timed.update(&r, acked, None, at);
            lazy.catch_up(acked, at);
            lazy.update(&r, acked, None, at);
            assert_eq!(lazy.poll_timeout(), not_happening());
            // The timer's step 25 ms on (upstream's wake-up), and a pass for
            // something else 35 ms on, which the lazy controller alone sees.
            timed.handle_timeout(acked, at + UPDATE_INTERVAL);
            timed.handle_timeout(acked, at + Duration::from_millis(35));
            lazy.handle_timeout(acked, at + Duration::from_millis(35));
            assert_eq!(timed.last_estimate(), lazy.last_estimate());
            t = at;
        }
        assert!(timed.last_estimate().unwrap() > Bitrate::kbps(300), "the estimate climbed");
    }

    /// Reports 80 ms apart and no pass between: the next report catches up
    /// the steps at +25 and +50 ms (the hypothesis valid 50 ms after a
    /// report), takes none at +75, and the estimate comes out as a timer's.
    #[test]
    fn a_report_catches_up_the_steps_since_the_last_one() {
        let t0 = Instant::now();
        let acked = Some(Bitrate::mbps(1));
        let mut timed = DelayController::new(Bitrate::kbps(300));
        let mut lazy = DelayController::new(Bitrate::kbps(300));
        let mut t = t0;
        let mut seq = 0;
        let mut stepped = Vec::new();
        for _ in 0..12 {
            let at = t + Duration::from_millis(80);
            let r = report(seq, 10, t, at);
            seq += 10;
            // A timer: wakes at +25, +50, +75 after the previous report.
            for ms in [25, 50, 75] {
                timed.handle_timeout(acked, t + Duration::from_millis(ms));
            }
            timed.update(&r, acked, None, at);
            let before = lazy.last_estimate();
            lazy.catch_up(acked, at);
            stepped.push(lazy.last_estimate() != before);
            lazy.update(&r, acked, None, at);
            assert_eq!(timed.last_estimate(), lazy.last_estimate());
            t = at;
        }
        assert!(stepped.iter().skip(1).any(|s| *s), "catching up took steps: {stepped:?}");
    }
}
