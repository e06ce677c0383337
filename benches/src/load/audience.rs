//! The audience's reception, split: the participants behind a weak line
//! and the unrestricted ones, each group's video rate per participant, its
//! loss, its latency and the simulcast layer it received most.

use serde::Serialize;

use super::stats::quantile;
use super::video::LAYERS;
use super::SeatResult;

/// One group of the audience over the measured window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Audience {
    /// Participants in the group.
    pub participants: usize,
    /// Video RTP packets received per second, per participant.
    pub video_packets_per_sec: f64,
    /// Video payload received, kbit/s per participant.
    pub video_kbps: f64,
    /// Packets that never arrived ÷ expected, after repair, all media.
    pub loss: f64,
    /// End-to-end latency p50, ms (the line's delay included).
    pub latency_ms_p50: f64,
    /// Latency p95, ms.
    pub latency_ms_p95: f64,
    /// Video packets received of each simulcast layer (q, h, f).
    pub layer_packets: [u64; 3],
    /// The layer the group received most (`q`, `h`, `f`), if simulcast.
    pub main_layer: Option<&'static str>,
    /// Participants whose most received layer was q, h, f.
    pub mostly: [usize; 3],
    /// Datagrams the weak lines dropped towards the group: queue full, lost.
    pub line_drops_in: (u64, u64),
}

impl Audience {
    /// The weak (`weak` = true) or unrestricted part of the audience in
    /// `results`, measured over `secs`.
    pub fn of(results: &[SeatResult], weak: bool, secs: f64) -> Audience {
        let mut a = Audience::default();
        let (mut expected, mut received, mut packets, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut latency = Vec::new();
        let seats = results.iter().filter(|s| s.audience);
        for seat in seats.filter(|s| s.peers.iter().any(|p| p.link.is_some()) == weak) {
            a.participants += 1;
            let mut layers = [0u64; 3];
            for p in &seat.peers {
                expected += p.reception.0;
                received += p.reception.1;
                packets += p.video.packets;
                bytes += p.video.bytes;
                latency.extend_from_slice(&p.latency_us);
                for (l, n) in p.video.layers.iter().enumerate() {
                    layers[l] += n;
                }
                if let Some(d) = p.link {
                    a.line_drops_in.0 += d.queue_in;
                    a.line_drops_in.1 += d.loss_in;
                }
            }
            if let Some(main) = most(&layers) {
                a.mostly[main] += 1;
            }
            for (l, n) in layers.iter().enumerate() {
                a.layer_packets[l] += n;
            }
        }
        let per = (a.participants.max(1) as f64) * secs.max(1e-9);
        a.video_packets_per_sec = packets as f64 / per;
        a.video_kbps = bytes as f64 * 8.0 / 1000.0 / per;
        a.loss = if expected > 0 { expected.saturating_sub(received) as f64 / expected as f64 } else { 0.0 };
        latency.sort_unstable();
        a.latency_ms_p50 = f64::from(quantile(&latency, 0.5)) / 1000.0;
        a.latency_ms_p95 = f64::from(quantile(&latency, 0.95)) / 1000.0;
        a.main_layer = most(&a.layer_packets).map(|l| LAYERS[l].0);
        a
    }

    /// The layer mix as `q/h/f` percentages of simulcast video packets.
    pub fn layer_mix(&self) -> String {
        let total: u64 = self.layer_packets.iter().sum();
        if total == 0 {
            return "-".into();
        }
        let pct = |n: u64| n as f64 * 100.0 / total as f64;
        let [q, h, f] = self.layer_packets;
        format!("{:.0}/{:.0}/{:.0} %", pct(q), pct(h), pct(f))
    }
}

/// The index of the largest count, if any is above zero (ties: the higher layer).
fn most(counts: &[u64; 3]) -> Option<usize> {
    let (i, n) = counts.iter().enumerate().max_by_key(|(i, n)| (**n, *i))?;
    (*n > 0).then_some(i)
}

/// Table rows for the audience groups and the server's layer counters.
pub fn rows(reports: &[super::stats::Report]) -> Vec<(String, Vec<String>)> {
    let mut rows = Vec::new();
    type Pick = fn(&super::stats::Report) -> Option<&Audience>;
    let groups: [(&str, Pick); 2] =
        [("weak", |r| r.weak.as_ref()), ("unrestricted", |r| r.unrestricted.as_ref())];
    for (name, pick) in groups {
        if reports.iter().all(|r| pick(r).is_none_or(|a| a.participants == 0)) {
            continue;
        }
        type Cell = fn(&Audience) -> String;
        let cells: [(&str, Cell); 8] = [
            ("participants", |a| a.participants.to_string()),
            ("video pkt/s each", |a| format!("{:.0}", a.video_packets_per_sec)),
            ("video kbit/s each", |a| format!("{:.0}", a.video_kbps)),
            ("loss (after repair)", |a| format!("{:.2} %", a.loss * 100.0)),
            ("latency p50 / p95 (ms)", |a| format!("{:.0} / {:.0}", a.latency_ms_p50, a.latency_ms_p95)),
            ("layers q/h/f", |a| a.layer_mix()),
            ("mostly q/h/f (people)", |a| format!("{}/{}/{}", a.mostly[0], a.mostly[1], a.mostly[2])),
            ("line drops: queue / loss", |a| format!("{} / {}", a.line_drops_in.0, a.line_drops_in.1)),
        ];
        for (label, cell) in cells {
            let values = reports.iter().map(|r| pick(r).map_or_else(|| "-".into(), cell)).collect();
            rows.push((format!("{name}: {label}"), values));
        }
    }
    if reports.iter().any(|r| r.layer_switches.is_some()) {
        let opt = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
        let values = reports.iter().map(|r| format!("{} / {}", opt(r.layer_switches), opt(r.videos_paused)));
        rows.push(("server: layer switches / paused".into(), values.collect()));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::peer::{LinkDrops, PeerResult};
    use crate::load::video::VideoReceived;

    fn seat(weak: bool, layers: [u64; 3], bytes: u64) -> SeatResult {
        let video = VideoReceived { packets: layers.iter().sum(), bytes, layers };
        let link = weak.then_some(LinkDrops { queue_in: 3, loss_in: 2, ..LinkDrops::default() });
        let peer = PeerResult { video, link, reception: (100, 95, 0), ..PeerResult::default() };
        SeatResult { peers: vec![peer], audience: true }
    }

    #[test]
    fn the_groups_are_split_by_their_line_and_averaged_per_participant() {
        let results = vec![
            seat(true, [90, 10, 0], 10_000),
            seat(false, [0, 0, 200], 200_000),
            seat(false, [0, 0, 100], 100_000),
            SeatResult { peers: vec![PeerResult::default()], audience: false }, // a sender
        ];
        let weak = Audience::of(&results, true, 2.0);
        assert_eq!(weak.participants, 1);
        assert_eq!(weak.main_layer, Some("q"));
        assert_eq!(weak.line_drops_in, (3, 2));
        assert!((weak.video_kbps - 40.0).abs() < 1e-9);
        let fine = Audience::of(&results, false, 2.0);
        assert_eq!((fine.participants, fine.main_layer, fine.mostly), (2, Some("f"), [0, 0, 2]));
        assert!((fine.video_packets_per_sec - 75.0).abs() < 1e-9);
        assert!((fine.loss - 0.05).abs() < 1e-9);
        assert_eq!(fine.layer_mix(), "0/0/100 %");
    }
}
