//! Coalescing and throttling keyframe requests towards one publisher.
//!
//! Many subscribers of one video track ask for keyframes (each joins, each
//! loses packets). A publisher that answered each PLI would send a keyframe
//! storm, so requests within `min_interval` of the last one sent are folded
//! into one pending request, sent when the interval is over. A FIR among the
//! folded requests wins over PLIs.

use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;

/// Throttle state of one published video track.
#[derive(Debug, Clone)]
pub struct KeyframeThrottle {
    min_interval: Duration,
    last_sent: Option<Instant>,
    pending: Option<KeyframeRequestKind>,
}

impl KeyframeThrottle {
    /// A throttle that sends at most one request per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self { min_interval, last_sent: None, pending: None }
    }

    /// A subscriber asked for a keyframe: returns the request to send now, if any.
    pub fn request(&mut self, now: Instant, kind: KeyframeRequestKind) -> Option<KeyframeRequestKind> {
        let kind = strongest(self.pending, kind);
        if self.last_sent.is_some_and(|t| now < t + self.min_interval) {
            self.pending = Some(kind);
            return None;
        }
        self.pending = None;
        self.last_sent = Some(now);
        Some(kind)
    }

    /// Time passed: returns a folded request that is now due.
    pub fn poll(&mut self, now: Instant) -> Option<KeyframeRequestKind> {
        let due = self.deadline()?;
        if now < due {
            return None;
        }
        self.last_sent = Some(now);
        self.pending.take()
    }

    /// When a folded request becomes due.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending?;
        // (A request is held back only after one was sent.)
        Some(self.last_sent? + self.min_interval)
    }

    /// A keyframe arrived from the publisher: folded requests are answered.
    pub fn keyframe_received(&mut self) {
        self.pending = None;
    }
}

fn strongest(pending: Option<KeyframeRequestKind>, kind: KeyframeRequestKind) -> KeyframeRequestKind {
    match (pending, kind) {
        (Some(KeyframeRequestKind::Fir), _) | (_, KeyframeRequestKind::Fir) => KeyframeRequestKind::Fir,
        _ => KeyframeRequestKind::Pli,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLI: KeyframeRequestKind = KeyframeRequestKind::Pli;
    const FIR: KeyframeRequestKind = KeyframeRequestKind::Fir;

    #[test]
    fn many_requests_become_one_per_interval() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::new(Duration::from_millis(500));
        let mut sent = 0;
        // 150 subscribers each ask every 10 ms for 2 s: 30 000 requests.
        for ms in (0..2000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            for _ in 0..150 {
                sent += usize::from(k.request(now, PLI).is_some());
            }
            sent += usize::from(k.poll(now).is_some());
        }
        assert_eq!(sent, 4, "one request per 500 ms");
    }

    #[test]
    fn folded_request_is_sent_when_due_and_fir_wins() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::new(Duration::from_millis(500));
        assert_eq!(k.request(t0, PLI), Some(PLI));
        assert_eq!(k.request(t0 + Duration::from_millis(100), FIR), None);
        assert_eq!(k.request(t0 + Duration::from_millis(200), PLI), None);
        assert_eq!(k.deadline(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(k.poll(t0 + Duration::from_millis(499)), None);
        assert_eq!(k.poll(t0 + Duration::from_millis(500)), Some(FIR));
        assert_eq!(k.poll(t0 + Duration::from_millis(2000)), None, "nothing pending");
    }

    #[test]
    fn keyframe_arrival_cancels_pending() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::new(Duration::from_millis(500));
        k.request(t0, PLI);
        k.request(t0 + Duration::from_millis(10), PLI);
        k.keyframe_received();
        assert_eq!(k.deadline(), None);
        assert_eq!(k.poll(t0 + Duration::from_secs(1)), None);
    }
}
