//! The publishers' media on simulated time: what tests and the counting
//! benchmarks drive a [`Sim`] with.

use std::time::Duration;

use super::Sim;

impl Sim {
    /// For `ms` milliseconds, each of `publishers` sends a video frame every
    /// 10 ms (on each simulcast layer with `simulcast`, else one packet)
    /// and a 20 ms audio packet every 20 ms, each carrying an id counted
    /// from `first` (one per video frame); simulated time advances a
    /// millisecond at a time. Returns the next id.
    pub fn run_media(&mut self, publishers: &[usize], ms: u64, first: u64, simulcast: bool) -> u64 {
        let mut id = first;
        for t in 0..ms {
            for &p in publishers {
                if t % 10 == 0 {
                    if simulcast {
                        self.send_video_layers(p, id);
                    } else {
                        self.send_video(p, id);
                    }
                }
                if t % 20 == 0 {
                    self.send_audio(p, id);
                }
            }
            id += u64::from(t % 10 == 0);
            self.advance(Duration::from_millis(1));
        }
        id
    }
}
