//! `huiyi-load`: simulated participants that are real WebRTC endpoints,
//! joining a server through its signaling (Huiyi's protocol, or Janus's
//! VideoRoom API), sending synthetic media and measuring what arrives.
//!
//! Everything runs on one thread (a current-thread tokio runtime): one task
//! per peer connection (its UDP socket and str0m state machine) and one per
//! participant's signaling. Runs are bounded: participants join at a set
//! rate, the load is measured for a set time, then everyone leaves.
//!
//! Video senders may publish simulcast ([`video`]); a share of the
//! receiving participants may sit behind a weak line ([`link`]), and the
//! report then gives their reception and that of the others side by side
//! ([`audience`]).

pub mod audience;
pub mod delivery;
pub mod handle;
pub mod huiyi;
pub mod janus;
pub mod link;
pub mod metrics;
pub mod peer;
pub mod soak;
pub mod socket;
mod stamp;
pub mod stats;
pub mod tcp;
pub mod video;

/// After the measured window: how long packets sent in it may still arrive
/// to count as delivered ([`delivery`]).
pub const DRAIN: Duration = Duration::from_secs(1);

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use link::LinkSpec;
use metrics::ServerCounters;
use peer::{Media, PeerResult};
use stats::{
    busiest_thread, machine_usage, ms, process_usage, quantile, thread_usage, threads_cpu, Report, Snapshot,
    Totals,
};
use tcp::Transport;
use tokio::sync::watch;

/// The shape of a load.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Meetings.
    pub rooms: usize,
    /// Participants sending media, per meeting.
    pub senders: usize,
    /// Participants only receiving, per meeting.
    pub listeners: usize,
    /// Senders send video (else audio only).
    pub video: bool,
    /// Senders of each meeting whose microphone carries speech (`None`:
    /// all); the others' are open in a quiet room.
    pub talkers: Option<usize>,
    /// Video bitrate, bit/s.
    pub video_bps: u32,
    /// Video frame rate.
    pub fps: u32,
    /// Video senders publish three simulcast layers (q, h, f).
    pub simulcast: bool,
    /// Video senders pace each frame's packets as browsers do (else one
    /// burst per frame).
    pub paced: bool,
    /// The weak line some receiving participants sit behind.
    pub link: Option<LinkSpec>,
    /// The share (0..1) of each meeting's audience behind `link`.
    pub weak_share: f64,
    /// The share (0..1) of each meeting's senders, and of its listeners,
    /// whose media goes over ICE-TCP (the rest: UDP).
    pub tcp_share: f64,
}

impl Scenario {
    /// A named scenario with its defaults.
    pub fn named(name: &str) -> Option<Scenario> {
        let weak = LinkSpec {
            rate_bps: Some(300_000),
            loss: 0.05,
            rtt: Duration::from_millis(80),
            queue_packets: link::QUEUE_PACKETS,
        };
        let (rooms, senders, listeners, video, link) = match name {
            // The county-wide meeting: the main venue to 150 venues.
            "county-plenary" => (1, 1, 150, true, None),
            // The same, simulcast, a third of the townships on weak lines.
            "weak-plenary" => (1, 1, 150, true, Some(weak)),
            // A discussion: 6 cameras on, 30 participants.
            "discussion" => (1, 6, 24, true, None),
            // 10 open microphones (3 speaking), 300 listeners, audio only.
            "audio-webinar" => (1, 10, 300, false, None),
            // 20 meetings of 5, everyone sending.
            "small-rooms" => (20, 5, 0, true, None),
            _ => return None,
        };
        Some(Scenario {
            name: name.into(),
            rooms,
            senders,
            listeners,
            video,
            // A panel of ten open microphones, three of them speaking (the
            // chair and two speakers); a discussion of six cameras with three
            // voices at once (what audio top-N forwards in a room of 20 or
            // more: a fourth would count as undelivered); elsewhere everyone
            // who sends talks.
            talkers: matches!(name, "audio-webinar" | "discussion").then_some(3),
            video_bps: 1_000_000,
            fps: 25,
            simulcast: link.is_some(),
            paced: false,
            link,
            weak_share: if link.is_some() { 1.0 / 3.0 } else { 1.0 },
            tcp_share: 0.0,
        })
    }

    /// The scenario names [`Scenario::named`] knows.
    pub const NAMES: &'static str = "county-plenary, weak-plenary, discussion, audio-webinar or small-rooms";

    /// Every participant, senders first (so that they are there when the
    /// listeners arrive), meeting by meeting.
    ///
    /// The audience — the listeners, or everyone in meetings without
    /// listeners — is what the weak/unrestricted split reports on; `weak_share`
    /// of it, spread evenly, sits behind `link`.
    pub fn seats(&self) -> Vec<Seat> {
        let mut seats = Vec::new();
        let audience_senders = self.listeners == 0;
        for room in 0..self.rooms {
            for i in 0..self.senders {
                let media = Media {
                    audio: true,
                    video_bps: if self.video { self.video_bps } else { 0 },
                    fps: self.fps,
                    simulcast: self.simulcast,
                    talking: self.talkers.is_none_or(|t| i < t),
                    paced: self.paced,
                };
                let link = if audience_senders { self.link_for(i, self.senders) } else { None };
                let name = format!("会场{room}-{i}");
                let transport = self.transport_for(i, self.senders);
                seats.push(Seat {
                    room,
                    name,
                    media,
                    sender: true,
                    link,
                    transport,
                    audience: audience_senders,
                });
            }
        }
        for room in 0..self.rooms {
            for i in 0..self.listeners {
                let media = Media {
                    audio: false,
                    video_bps: 0,
                    fps: self.fps,
                    simulcast: false,
                    talking: false,
                    paced: false,
                };
                let link = self.link_for(i, self.listeners);
                let name = format!("收看{room}-{i}");
                let transport = self.transport_for(i, self.listeners);
                seats.push(Seat { room, name, media, sender: false, link, transport, audience: true });
            }
        }
        seats
    }

    /// The line of the `i`th of `n` audience members of a meeting: the weak
    /// one for `weak_share` of them, spread evenly (0.33 of 6: the 2nd, 5th).
    fn link_for(&self, i: usize, n: usize) -> Option<LinkSpec> {
        spread(self.weak_share, i, n).then_some(self.link?)
    }

    /// The transport of the `i`th of `n` senders (or listeners) of a meeting:
    /// TCP for `tcp_share` of them, spread evenly.
    fn transport_for(&self, i: usize, n: usize) -> Transport {
        if spread(self.tcp_share, i, n) {
            Transport::Tcp
        } else {
            Transport::Udp
        }
    }

    /// Participants in all.
    pub fn participants(&self) -> usize {
        self.rooms * (self.senders + self.listeners)
    }
}

/// Whether the `i`th of `n` is among `share` of them, spread evenly (0.33
/// of 6: the 2nd and the 5th).
fn spread(share: f64, i: usize, n: usize) -> bool {
    let picked = (share.clamp(0.0, 1.0) * n as f64).round() as usize;
    (i + 1) * picked / n.max(1) > i * picked / n.max(1)
}

/// One simulated participant.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Meeting index.
    pub room: usize,
    /// Display name.
    pub name: String,
    /// What it sends.
    pub media: Media,
    /// Sends media.
    pub sender: bool,
    /// The weak line it sits behind, if any.
    pub link: Option<LinkSpec>,
    /// How its media travels.
    pub transport: Transport,
    /// Counted in the audience figures (weak and unrestricted).
    pub audience: bool,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Joins per second.
    pub join_rate: f64,
    /// Seconds measured once everyone joined.
    pub duration: Duration,
    /// Time between everyone joined and the measured window (keyframes,
    /// subscriptions and the weak lines' estimates settle).
    pub settle: Duration,
    /// How long joining may take at most beyond the planned rate.
    pub join_timeout: Duration,
    /// Local address for the participants' sockets.
    pub bind: std::net::IpAddr,
    /// The server process, for CPU and memory.
    pub server_pid: Option<u32>,
    /// Print a line each second.
    pub live: bool,
}

/// What one participant measured.
#[derive(Debug, Default)]
pub struct SeatResult {
    /// Peer connections' results.
    pub peers: Vec<PeerResult>,
    /// The seat is in the audience (set by [`run`]).
    pub audience: bool,
}

/// Shared by the participants of a run.
pub struct RunShared {
    /// Counters.
    pub totals: Arc<Totals>,
    /// Flips to true when participants should leave.
    pub stop: watch::Receiver<bool>,
    /// When the run started.
    pub started: Instant,
    /// The run's configuration.
    pub cfg: RunConfig,
}

/// A server the participants join.
pub trait Target: Send + Sync + 'static {
    /// `huiyi` or `janus`.
    fn name(&self) -> &'static str;
    /// Prepares meetings (rooms) before anyone joins.
    fn prepare(&self, scenario: &Scenario) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Runs one participant until `shared.stop`, then leaves.
    fn seat(
        &self,
        seat: Seat,
        shared: Arc<RunShared>,
    ) -> impl std::future::Future<Output = Result<SeatResult>> + Send;
    /// Peer connections the scenario makes in all (joined means connected).
    fn connections(&self, scenario: &Scenario) -> usize {
        scenario.participants()
    }
    /// Cleans up after the run.
    fn finish(&self) -> impl std::future::Future<Output = ()> + Send;
    /// The server's own counters (layer switches, paused videos), if it
    /// exposes them.
    fn server_counters(&self) -> impl std::future::Future<Output = Option<ServerCounters>> + Send {
        std::future::ready(None)
    }
}

/// Runs `scenario` against `target` and reports.
pub async fn run<T: Target>(target: Arc<T>, scenario: &Scenario, cfg: RunConfig) -> Result<Report> {
    let seats = scenario.seats();
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop) = watch::channel(false);
    let shared =
        Arc::new(RunShared { totals: totals.clone(), stop, started: Instant::now(), cfg: cfg.clone() });
    target.prepare(scenario).await?;
    let usage_before = cfg.server_pid.and_then(process_usage);
    let me = std::process::id();
    eprintln!("{}: {} with {} participants", target.name(), scenario.name, seats.len());

    let mut tasks = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / cfg.join_rate.max(0.1));
    let live = tokio::spawn(live_lines(totals.clone(), seats.len(), cfg.live));
    for seat in seats.iter().cloned() {
        let (t, s) = (target.clone(), shared.clone());
        tasks.push(tokio::spawn(async move { t.seat(seat, s).await }));
        tokio::time::sleep(gap).await;
    }
    // Wait for everyone (or the timeout), then measure.
    let deadline = Instant::now() + cfg.join_timeout;
    let connections = target.connections(scenario);
    while (totals.snapshot().joined as usize) < connections && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(cfg.settle).await;
    // The server's counters over the window, as every other figure (the
    // joins' climb through the layers is not a switch the window made).
    let counters_before = target.server_counters().await;
    totals.set_measuring(true);
    let (a, cpu_a, gen_a, t_a) =
        (totals.snapshot(), cfg.server_pid.and_then(process_usage), process_usage(me), Instant::now());
    let (fb_a, _) = (totals.feedback(), ());
    let (threads_a, machine_a) = (cfg.server_pid.map(thread_usage).unwrap_or_default(), machine_usage());
    tokio::time::sleep(cfg.duration).await;
    let (threads_b, machine_b) = (cfg.server_pid.map(thread_usage).unwrap_or_default(), machine_usage());
    let (b, cpu_b, gen_b, secs) = (
        totals.snapshot(),
        cfg.server_pid.and_then(process_usage),
        process_usage(me),
        t_a.elapsed().as_secs_f64(),
    );
    let fb_b = totals.feedback();
    totals.set_measuring(false);
    let counters_after = target.server_counters().await;
    // What was sent in the window and is still on its way gets this long to
    // arrive (a packet later than that is of no use to a meeting either).
    tokio::time::sleep(DRAIN).await;
    let _ = stop_tx.send(true);
    live.abort();

    let mut results = Vec::new();
    // Every seat's delivery counts with its meeting, a failed one's empty.
    let mut deliveries = Vec::with_capacity(seats.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (mut t, seat) in tasks.into_iter().zip(&seats) {
        let mut delivered = delivery::Delivery::default();
        let outcome = tokio::time::timeout_at(deadline, &mut t).await;
        if let Ok(Ok(Ok(r))) = &outcome {
            r.peers.iter().for_each(|p| delivered.merge(&p.delivery));
        }
        deliveries.push((seat.room, delivered));
        match outcome {
            Ok(Ok(Ok(mut r))) => {
                r.audience = seat.audience;
                results.push(r);
            }
            Ok(Ok(Err(e))) => eprintln!("a participant failed: {e:#}"),
            Ok(Err(e)) => eprintln!("a participant's task failed: {e}"),
            Err(_) => {
                eprintln!("a participant did not finish; stopped");
                t.abort();
            }
        }
    }
    target.finish().await;
    let mut r = report(
        target.name(),
        scenario,
        &results,
        (a, b, secs),
        (cpu_a, cpu_b, usage_before),
        (gen_a, gen_b),
        (fb_a, fb_b),
    );
    if scenario.link.is_some() || scenario.simulcast {
        r.weak = Some(audience::Audience::of(&results, true, secs));
        r.unrestricted = Some(audience::Audience::of(&results, false, secs));
    }
    let share = |(delivered, offered): (u64, u64)| {
        if offered > 0 {
            1.0 - delivered as f64 / offered as f64
        } else {
            0.0
        }
    };
    (r.delivered, r.offered) = delivery::totals(&deliveries, |_| true);
    r.undelivered = share((r.delivered, r.offered));
    r.undelivered_audio = share(delivery::totals(&deliveries, |t| t & delivery::VIDEO == 0));
    if let Some((name, cpu)) = busiest_thread(&threads_a, &threads_b) {
        (r.server_busiest_thread, r.server_busiest_thread_cpu) = (name, cpu / secs);
    }
    // The workers' share of the server's CPU, per the same packets.
    let media_cpu = threads_cpu(&threads_a, &threads_b, "huiyi-media-");
    if r.server_cpu > 0.0 {
        r.media_cpu_us_per_packet = media_cpu / (r.server_cpu * secs) * r.server_cpu_us_per_packet;
    }
    if let (Some((busy_a, steal_a)), Some((busy_b, steal_b))) = (machine_a, machine_b) {
        (r.machine_cpu, r.machine_steal) = ((busy_b - busy_a) / secs, (steal_b - steal_a) / secs);
    }
    if let (Some(x), Some(y)) = (counters_before, counters_after) {
        r.layer_switches = Some(y.layer_switches.saturating_sub(x.layer_switches));
        r.videos_paused = Some(y.videos_paused.saturating_sub(x.videos_paused));
        r.server_tcp_send_overflows =
            y.tcp_send_overflows.map(|n| n.saturating_sub(x.tcp_send_overflows.unwrap_or(0)));
        (r.server_peers_udp, r.server_peers_tcp) = (y.peers_udp, y.peers_tcp);
        r.server_tcp_connections = y.tcp_connections;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    r.warnings = r.warnings(cores);
    Ok(r)
}

type Usage = Option<(f64, u64)>;

#[allow(clippy::type_complexity)]
fn report(
    target: &str,
    scenario: &Scenario,
    results: &[SeatResult],
    (a, b, secs): (Snapshot, Snapshot, f64),
    (cpu_a, cpu_b, before): (Usage, Usage, Usage),
    (gen_a, gen_b): (Usage, Usage),
    (fb_a, fb_b): ((u64, u64, u64), (u64, u64, u64)),
) -> Report {
    let mut r = Report {
        target: target.into(),
        scenario: scenario.name.clone(),
        participants: scenario.participants(),
        ..Report::default()
    };
    r.rates(a, b, secs);
    let mut joins: Vec<f64> = Vec::new();
    let mut latency: Vec<u32> = Vec::new();
    let (mut expected, mut received, mut late) = (0u64, 0u64, 0u64);
    let mut video = 0u64;
    for seat in results {
        // A participant has joined when all its peer connections are up.
        let times: Vec<_> = seat.peers.iter().map(|p| p.join_time).collect();
        if !times.is_empty() && times.iter().all(Option::is_some) {
            joins.push(times.iter().flatten().map(|d| ms(*d)).fold(0.0, f64::max));
        }
        for p in &seat.peers {
            latency.extend_from_slice(&p.latency_us);
            expected += p.reception.0;
            received += p.reception.1;
            late += p.reception.2;
            video += p.video.packets;
            r.tcp_drops += p.tcp_drops;
        }
    }
    // Both count the packets of the measured window.
    r.video_packets_per_sec = video as f64 / secs.max(1e-9);
    r.audio_packets_per_sec = received.saturating_sub(video) as f64 / secs.max(1e-9);
    r.tcp_participants = scenario.seats().iter().filter(|s| s.transport == Transport::Tcp).count();
    r.joined = joins.len();
    joins.sort_by(f64::total_cmp);
    r.join_ms_p50 = quantile(&joins, 0.5);
    r.join_ms_p99 = quantile(&joins, 0.99);
    latency.sort_unstable();
    r.latency_ms_p50 = f64::from(quantile(&latency, 0.5)) / 1000.0;
    r.latency_ms_p95 = f64::from(quantile(&latency, 0.95)) / 1000.0;
    r.latency_ms_p99 = f64::from(quantile(&latency, 0.99)) / 1000.0;
    r.loss = if expected > 0 { expected.saturating_sub(received) as f64 / expected as f64 } else { 0.0 };
    r.late_packets = late;
    r.nacks_sent = fb_b.0 - fb_a.0.min(fb_b.0);
    r.nacks_to_senders = fb_b.1 - fb_a.1.min(fb_b.1);
    r.keyframe_requests = fb_b.2 - fb_a.2.min(fb_b.2);
    if let (Some((ca, _)), Some((cb, rss))) = (cpu_a, cpu_b) {
        r.server_cpu = (cb - ca) / secs;
        let packets = (b.packets_in - a.packets_in).max(1) as f64;
        r.server_cpu_us_per_packet = (cb - ca) * 1e6 / packets;
        r.server_rss_mb = rss as f64 / 1e6;
        r.server_rss_growth_mb = before.map_or(0.0, |(_, r0)| (rss as f64 - r0 as f64) / 1e6);
        r.server_rss_kb_per_participant = r.server_rss_growth_mb * 1000.0 / r.participants.max(1) as f64;
    }
    if let (Some((ga, _)), Some((gb, _))) = (gen_a, gen_b) {
        r.loadgen_cpu = (gb - ga) / secs;
    }
    r
}

/// One line a second: joined, packets per second each way, Mbit/s in.
async fn live_lines(totals: Arc<Totals>, planned: usize, on: bool) {
    let mut last = totals.snapshot();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = totals.snapshot();
        if on {
            let (nacks, _, kf) = totals.feedback();
            eprintln!(
                "joined {:>4}/{planned}  out {:>7} pkt/s  in {:>8} pkt/s  {:>7.2} Mbit/s in  NACKs {nacks}  keyframe requests {kf}",
                now.joined,
                now.packets_out - last.packets_out,
                now.packets_in - last.packets_in,
                (now.bytes_in - last.bytes_in) as f64 * 8.0 / 1e6,
            );
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_share_is_spread_over_senders_and_listeners() {
        let mut s = Scenario::named("discussion").expect("scenario");
        let tcp = |s: &Scenario, sender: bool| {
            s.seats().iter().filter(|x| x.sender == sender && x.transport == Transport::Tcp).count()
        };
        assert_eq!((tcp(&s, true), tcp(&s, false)), (0, 0), "UDP by default");
        s.tcp_share = 0.5;
        assert_eq!((tcp(&s, true), tcp(&s, false)), (3, 12), "half of 6 senders and of 24 listeners");
        let listeners: Vec<bool> =
            s.seats().iter().filter(|x| !x.sender).map(|x| x.transport == Transport::Tcp).take(4).collect();
        assert_eq!(listeners, [false, true, false, true], "every other one");
        s.tcp_share = 1.0;
        assert_eq!((tcp(&s, true), tcp(&s, false)), (6, 24));
    }
}
