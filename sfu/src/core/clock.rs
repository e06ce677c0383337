//! Translating a publisher's media clock to our wallclock, so that the sender
//! reports str0m writes to subscribers keep audio and video in sync.
//!
//! The publisher's sender reports (SR) pair an RTP timestamp of each stream
//! with its NTP clock. All streams of one publisher share that NTP clock, so
//! mapping each stream through its latest SR onto one per-publisher anchor
//! (`NTP time → our Instant`, fixed at the first SR) keeps the streams'
//! relative timing exactly as the publisher meant it. str0m then writes
//! outgoing SRs from these wallclocks, and the subscriber lines audio and
//! video up. Before the first SR a stream falls back to its arrival times.

use std::time::{Duration, Instant, SystemTime};

/// One publisher's mapping from its NTP clock to our `Instant`s, shared by
/// all its streams.
///
/// The mapping is `instant = at0 + (ntp - ntp0)`. It is kept *causal*: a
/// packet never maps to a wallclock later than its arrival (str0m refuses
/// to write a sender report from a wallclock in the future). When one
/// would, the whole mapping moves earlier, for every stream of the
/// publisher at once, so their relative timing is untouched. It settles on
/// the smallest delay seen between capture and arrival.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublisherClock {
    anchor: Option<(SystemTime, Instant)>,
}

impl PublisherClock {
    fn instant_of(&mut self, ntp: SystemTime, arrival: Instant) -> Instant {
        let (ntp0, at0) = *self.anchor.get_or_insert((ntp, arrival));
        match ntp.duration_since(ntp0) {
            Ok(after) => at0 + after,
            Err(e) => at0.checked_sub(e.duration()).unwrap_or(at0),
        }
    }

    fn move_earlier(&mut self, by: Duration) {
        if let Some((_, at0)) = &mut self.anchor {
            *at0 = at0.checked_sub(by).unwrap_or(*at0);
        }
    }
}

/// The clock of one published stream.
///
/// RTP times are compared as 32-bit wrapping differences (as on the wire):
/// str0m extends packet times and sender-report times independently, so
/// only their low 32 bits share a base.
#[derive(Debug, Clone, Copy)]
pub struct StreamClock {
    rate: u64,
    reference: Option<Reference>,
}

#[derive(Debug, Clone, Copy)]
enum Reference {
    /// From the latest sender report: this RTP time was this NTP time.
    Report { rtp: u32, ntp: SystemTime },
    /// No report yet: this RTP time arrived then.
    Arrival { rtp: u32, at: Instant },
}

impl StreamClock {
    /// A stream clocked at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        Self { rate: u64::from(rate.max(1)), reference: None }
    }

    /// Learns from a sender report.
    pub fn sender_report(&mut self, ntp: SystemTime, rtp: u32) {
        self.reference = Some(Reference::Report { rtp, ntp });
    }

    /// True once a sender report anchors the stream.
    pub fn is_synced(&self) -> bool {
        matches!(self.reference, Some(Reference::Report { .. }))
    }

    /// The wallclock of a packet with RTP time `rtp` that arrived at
    /// `arrival`; never later than `arrival`.
    pub fn wallclock(&mut self, publisher: &mut PublisherClock, rtp: u32, arrival: Instant) -> Instant {
        let reference = *self.reference.get_or_insert(Reference::Arrival { rtp, at: arrival });
        let at = match reference {
            Reference::Report { rtp: r, ntp } => {
                let (ahead, d) = self.delta(r, rtp);
                let ntp = if ahead { ntp + d } else { ntp.checked_sub(d).unwrap_or(ntp) };
                publisher.instant_of(ntp, arrival)
            }
            Reference::Arrival { rtp: r, at } => {
                let (ahead, d) = self.delta(r, rtp);
                if d > Duration::from_secs(3600) {
                    // An hour without a sender report: re-anchor before the difference wraps.
                    self.reference = Some(Reference::Arrival { rtp, at: arrival });
                    return arrival;
                }
                if ahead {
                    at + d
                } else {
                    at.checked_sub(d).unwrap_or(at)
                }
            }
        };
        if at > arrival {
            if self.is_synced() {
                publisher.move_earlier(at - arrival);
            } else if let Some(Reference::Arrival { at: a, .. }) = &mut self.reference {
                *a = a.checked_sub(at - arrival).unwrap_or(*a);
            }
            return arrival;
        }
        at
    }

    /// `to - from` in RTP ticks as (non-negative?, magnitude).
    fn delta(&self, from: u32, to: u32) -> (bool, Duration) {
        let delta = to.wrapping_sub(from) as i32;
        (delta >= 0, ticks(u64::from(delta.unsigned_abs()), self.rate))
    }
}

fn ticks(n: u64, rate: u64) -> Duration {
    Duration::from_micros(n.saturating_mul(1_000_000) / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_and_video_share_the_publishers_timeline() {
        let t0 = Instant::now();
        let ntp0 = SystemTime::UNIX_EPOCH + Duration::from_secs(3_900_000_000);
        let mut publisher = PublisherClock::default();
        let mut audio = StreamClock::new(48_000);
        let mut video = StreamClock::new(90_000);
        // Both SRs describe the publisher's clock; video's RTP clock is near its wrap.
        audio.sender_report(ntp0, 480_000);
        video.sender_report(ntp0 + Duration::from_secs(1), u32::MAX - 10_000);
        // Audio captured at ntp0 + 1.5 s arrives at t0 + 1.52 s and anchors the mapping.
        let a = audio.wallclock(&mut publisher, 480_000 + 72_000, t0 + Duration::from_millis(1520));
        // Video captured at the same instant arrives 10 ms later.
        let v = video.wallclock(
            &mut publisher,
            (u32::MAX - 10_000).wrapping_add(45_000),
            t0 + Duration::from_millis(1530),
        );
        assert_eq!(v, a, "same capture instant, same wallclock");
        assert!(a <= t0 + Duration::from_millis(1520));
    }

    #[test]
    fn mapping_stays_causal_and_keeps_relative_timing() {
        let t0 = Instant::now();
        let ntp0 = SystemTime::UNIX_EPOCH + Duration::from_secs(3_900_000_000);
        let mut publisher = PublisherClock::default();
        let mut audio = StreamClock::new(48_000);
        let mut video = StreamClock::new(90_000);
        audio.sender_report(ntp0, 0);
        video.sender_report(ntp0, 0);
        // First packet (video, captured at ntp0 + 100 ms) arrives with 30 ms delay.
        let v1 = video.wallclock(&mut publisher, 9_000, t0 + Duration::from_millis(130));
        assert_eq!(v1, t0 + Duration::from_millis(130));
        // A later audio packet (captured at ntp0 + 200 ms) arrives with only 5 ms delay:
        // it would map after its arrival, so the publisher's mapping moves 25 ms earlier.
        let a = audio.wallclock(&mut publisher, 9_600, t0 + Duration::from_millis(205));
        assert_eq!(a, t0 + Duration::from_millis(205));
        let v2 = video.wallclock(&mut publisher, 18_000, t0 + Duration::from_millis(260));
        assert_eq!(v2, a, "video and audio of the same capture instant still coincide");
    }

    #[test]
    fn without_sr_falls_back_to_arrival() {
        let t0 = Instant::now();
        let mut publisher = PublisherClock::default();
        let mut c = StreamClock::new(90_000);
        assert_eq!(c.wallclock(&mut publisher, 1000, t0), t0);
        assert_eq!(
            c.wallclock(&mut publisher, 1000 + 90_000, t0 + Duration::from_millis(1003)),
            t0 + Duration::from_secs(1)
        );
        assert!(!c.is_synced());
    }
}
