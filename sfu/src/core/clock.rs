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

/// One publisher's NTP-to-local anchor, shared by its streams.
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
}

/// The clock of one published stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamClock {
    rate: u64,
    /// (extended RTP time, local instant) of the latest SR, or of the first packet.
    reference: Option<(u64, Instant)>,
    from_sr: bool,
}

impl StreamClock {
    /// A stream clocked at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        Self {
            rate: u64::from(rate.max(1)),
            reference: None,
            from_sr: false,
        }
    }

    /// Learns from a sender report (`rtp` extended) that arrived at `arrival`.
    pub fn sender_report(
        &mut self,
        publisher: &mut PublisherClock,
        ntp: SystemTime,
        rtp: u64,
        arrival: Instant,
    ) {
        let at = publisher.instant_of(ntp, arrival);
        self.reference = Some((rtp, at));
        self.from_sr = true;
    }

    /// True once a sender report anchors the stream.
    pub fn is_synced(&self) -> bool {
        self.from_sr
    }

    /// The wallclock of a packet with extended RTP time `rtp`.
    pub fn wallclock(&mut self, rtp: u64, arrival: Instant) -> Instant {
        let (ref_rtp, ref_at) = *self.reference.get_or_insert((rtp, arrival));
        if rtp >= ref_rtp {
            ref_at + ticks(rtp - ref_rtp, self.rate)
        } else {
            ref_at
                .checked_sub(ticks(ref_rtp - rtp, self.rate))
                .unwrap_or(ref_at)
        }
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
        // Video's SR arrives 30 ms later over the network than audio's, but
        // both describe the same NTP instant + 1 s.
        audio.sender_report(&mut publisher, ntp0, 480_000, t0);
        video.sender_report(
            &mut publisher,
            ntp0 + Duration::from_secs(1),
            9_000_000,
            t0 + Duration::from_millis(1030),
        );
        // A sample captured 1.5 s after ntp0 on each stream maps to the same instant.
        let a = audio.wallclock(480_000 + 72_000, t0);
        let v = video.wallclock(9_000_000 + 45_000, t0);
        assert_eq!(a, t0 + Duration::from_millis(1500));
        assert_eq!(v, a);
    }

    #[test]
    fn without_sr_falls_back_to_arrival() {
        let t0 = Instant::now();
        let mut c = StreamClock::new(90_000);
        assert_eq!(c.wallclock(1000, t0), t0);
        assert_eq!(
            c.wallclock(1000 + 90_000, t0 + Duration::from_millis(3)),
            t0 + Duration::from_secs(1)
        );
        assert!(!c.is_synced());
    }
}
