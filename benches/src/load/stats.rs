//! What the load generator measures: counters shared by all simulated
//! participants (read each second for the live line), the server's CPU and
//! memory from `/proc`, and the final report (table and JSON).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use str0m::media::Mid;

use super::audience::Audience;

/// Counters of every participant together.
#[derive(Default)]
pub struct Totals {
    /// Inside the measured window: latency and reception are recorded.
    measuring: std::sync::atomic::AtomicBool,
    /// The measured window's start and end (µs since the epoch; the end is
    /// `u64::MAX` while it lasts).
    window_start: AtomicU64,
    window_end: AtomicU64,
    joined: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    keyframe_requests: AtomicU64,
    nacks_sent: Mutex<HashMap<(SocketAddr, Mid), u64>>,
    nacks_received: Mutex<HashMap<(SocketAddr, Mid), u64>>,
}

/// A snapshot of [`Totals`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Participants connected (ICE + DTLS).
    pub joined: u64,
    /// Datagrams sent by the participants.
    pub packets_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// RTP packets received by the participants.
    pub packets_in: u64,
    /// RTP payload bytes received.
    pub bytes_in: u64,
}

impl Totals {
    /// Starts or stops the measured window.
    pub fn set_measuring(&self, on: bool) {
        let now = crate::load::peer::wallclock_us();
        if on {
            self.window_start.store(now, Relaxed);
            self.window_end.store(u64::MAX, Relaxed);
        } else {
            self.window_end.store(now, Relaxed);
        }
        self.measuring.store(on, Relaxed);
    }
    /// The measured window (µs since the epoch): start, end.
    pub(crate) fn window(&self) -> (u64, u64) {
        (self.window_start.load(Relaxed), self.window_end.load(Relaxed))
    }
    pub(crate) fn measuring(&self) -> bool {
        self.measuring.load(Relaxed)
    }
    pub(crate) fn joined(&self) {
        self.joined.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_sent(&self, bytes: usize) {
        self.packets_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn add_received(&self, bytes: usize) {
        self.packets_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn keyframe_request(&self) {
        self.keyframe_requests.fetch_add(1, Relaxed);
    }
    pub(crate) fn set_nacks_sent(&self, peer: SocketAddr, mid: Mid, n: u64) {
        if let Ok(mut m) = self.nacks_sent.lock() {
            m.insert((peer, mid), n);
        }
    }
    pub(crate) fn set_nacks_received(&self, peer: SocketAddr, mid: Mid, n: u64) {
        if let Ok(mut m) = self.nacks_received.lock() {
            m.insert((peer, mid), n);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            joined: self.joined.load(Relaxed),
            packets_out: self.packets_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            packets_in: self.packets_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
        }
    }

    /// NACKs sent by receivers and received by senders, keyframe requests.
    pub fn feedback(&self) -> (u64, u64, u64) {
        let sum = |m: &Mutex<HashMap<(SocketAddr, Mid), u64>>| m.lock().map_or(0, |m| m.values().sum());
        (sum(&self.nacks_sent), sum(&self.nacks_received), self.keyframe_requests.load(Relaxed))
    }
}

/// CPU time (s) and resident memory (bytes) of a process, from `/proc`.
pub fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((ticks as f64 / 100.0, rss_kb * 1024))
}

/// CPU time (s) of each thread of a process (`/proc/<pid>/task`), with
/// the thread's name.
pub fn thread_usage(pid: u32) -> Vec<(u32, String, f64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in tasks.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push((tid, stat[open + 1..close].to_string(), (ticks(11) + ticks(12)) as f64 / 100.0));
    }
    out
}

/// The thread that used the most CPU between two [`thread_usage`] readings:
/// its name and seconds.
pub fn busiest_thread(before: &[(u32, String, f64)], after: &[(u32, String, f64)]) -> Option<(String, f64)> {
    after
        .iter()
        .map(|(tid, name, t)| {
            let t0 = before.iter().find(|(b, _, _)| b == tid).map_or(0.0, |(_, _, t0)| *t0);
            (name.clone(), t - t0)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// CPU seconds of the threads whose name starts with `prefix` between two
/// [`thread_usage`] readings (the media workers: `huiyi-media-`).
pub fn threads_cpu(before: &[(u32, String, f64)], after: &[(u32, String, f64)], prefix: &str) -> f64 {
    after
        .iter()
        .filter(|(_, name, _)| name.starts_with(prefix))
        .map(|(tid, _, t)| t - before.iter().find(|(b, _, _)| b == tid).map_or(0.0, |(_, _, t0)| *t0))
        .sum()
}

/// CPU time (s) of the whole machine, all cores: busy (user, nice, system,
/// interrupts) and stolen by the hypervisor, from `/proc/stat`.
pub fn machine_usage() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let busy = [0, 1, 2, 5, 6].iter().filter_map(|i| f.get(*i)).sum::<u64>();
    Some((busy as f64 / 100.0, f.get(7).copied().unwrap_or(0) as f64 / 100.0))
}

/// The pid of the newest process whose command name is `name`.
pub fn find_process(name: &str) -> Option<u32> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == name && found.is_none_or(|f| pid > f) {
            found = Some(pid);
        }
    }
    found
}

/// Value at quantile `q` of sorted samples.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The result of one run against one server.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// `huiyi` or `janus`.
    pub target: String,
    /// The scenario and its numbers.
    pub scenario: String,
    /// Participants planned.
    pub participants: usize,
    /// Participants connected.
    pub joined: usize,
    /// Join time (connect to ICE+DTLS up), ms.
    pub join_ms_p50: f64,
    /// Join time p99, ms.
    pub join_ms_p99: f64,
    /// Seconds measured (after everyone joined).
    pub measured_secs: f64,
    /// Packets sent by participants per second.
    pub packets_out_per_sec: f64,
    /// Packets received by participants per second.
    pub packets_in_per_sec: f64,
    /// Mbit/s sent.
    pub mbit_out: f64,
    /// Mbit/s received.
    pub mbit_in: f64,
    /// Packets that never arrived ÷ expected (after repair), over received streams.
    pub loss: f64,
    /// Packets sent in the window (audio, and video without simulcast) that
    /// reached a receiver of their stream by the end of the drain after it,
    /// and the packets that should have ([`super::delivery`]).
    pub delivered: u64,
    pub offered: u64,
    /// 1 − delivered ÷ offered: lost, still queued when the drain ended, or
    /// not sent to a receiver at all (a video the server paused for it).
    pub undelivered: f64,
    /// The same for audio alone, which the server never pauses.
    pub undelivered_audio: f64,
    /// NACKs sent by receivers.
    pub nacks_sent: u64,
    /// NACKs that reached senders (each asks for retransmissions).
    pub nacks_to_senders: u64,
    /// Packets that arrived after a later one (reordered or retransmitted).
    pub late_packets: u64,
    /// Keyframe requests that reached senders.
    pub keyframe_requests: u64,
    /// End-to-end latency through the server, ms.
    pub latency_ms_p50: f64,
    /// p95, ms.
    pub latency_ms_p95: f64,
    /// p99, ms.
    pub latency_ms_p99: f64,
    /// Server CPU, seconds per second (1.0 = one core busy).
    pub server_cpu: f64,
    /// Server CPU per packet received by participants, µs.
    pub server_cpu_us_per_packet: f64,
    /// The machine's floor measured before the run (`crate::floor`: the
    /// cheaper of `sendmsg` and `sendmmsg` per datagram, with AES-GCM), µs.
    pub floor_us_per_packet: Option<f64>,
    /// Server resident memory at the end, MB.
    pub server_rss_mb: f64,
    /// Server resident memory growth from before the first join, MB.
    pub server_rss_growth_mb: f64,
    /// That growth per participant, KB (a fresh server measures best).
    pub server_rss_kb_per_participant: f64,
    /// The load generator's own CPU, seconds per second.
    pub loadgen_cpu: f64,
    /// The server's busiest thread (a media worker's, normally) and its
    /// CPU, seconds per second (1.0: its core is saturated).
    pub server_busiest_thread: String,
    /// Its CPU, seconds per second.
    pub server_busiest_thread_cpu: f64,
    /// The media workers' CPU per packet received (µs): the forwarding
    /// alone, without the control plane, the recorder or the runtime.
    pub media_cpu_us_per_packet: f64,
    /// The whole machine's busy CPU, cores (every process, the load
    /// generator's and other tenants' included).
    pub machine_cpu: f64,
    /// CPU the hypervisor stole from this machine, cores.
    pub machine_steal: f64,
    /// The audience behind the weak line (with a weak line or simulcast).
    pub weak: Option<Audience>,
    /// The rest of the audience.
    pub unrestricted: Option<Audience>,
    /// Simulcast layer switches the server made in the measured window (its
    /// `/metrics`; Huiyi only).
    pub layer_switches: Option<u64>,
    /// Videos the server paused for a subscriber in the measured window.
    pub videos_paused: Option<u64>,
    /// Participants planned over ICE-TCP (the rest over UDP).
    pub tcp_participants: usize,
    /// Audio RTP packets received by participants per second.
    pub audio_packets_per_sec: f64,
    /// Video RTP packets received by participants per second.
    pub video_packets_per_sec: f64,
    /// Datagrams the participants could not send over ICE-TCP (backlog full).
    pub tcp_drops: u64,
    /// Connected peers by transport on the server at the end of the
    /// measured window (its `/metrics`; Huiyi only): UDP.
    pub server_peers_udp: Option<u64>,
    /// ICE-TCP.
    pub server_peers_tcp: Option<u64>,
    /// ICE-TCP connections the server held then.
    pub server_tcp_connections: Option<u64>,
    /// Datagrams the server dropped during the run because an ICE-TCP
    /// connection's backlog was full.
    pub server_tcp_send_overflows: Option<u64>,
    /// What makes the figures of this run doubtful ([`Report::warnings`]).
    pub warnings: Vec<String>,
}

impl Report {
    /// The live-line and table figures need a rate over `secs`.
    pub fn rates(&mut self, a: Snapshot, b: Snapshot, secs: f64) {
        let secs = secs.max(1e-9);
        self.measured_secs = secs;
        self.packets_out_per_sec = (b.packets_out - a.packets_out) as f64 / secs;
        self.packets_in_per_sec = (b.packets_in - a.packets_in) as f64 / secs;
        self.mbit_out = (b.bytes_out - a.bytes_out) as f64 * 8.0 / secs / 1e6;
        self.mbit_in = (b.bytes_in - a.bytes_in) as f64 * 8.0 / secs / 1e6;
    }
}

impl Report {
    /// What makes this run's figures doubtful, on a machine of `cores`:
    /// a server that fell behind (packets offered but not delivered, its
    /// busiest thread at a full core), a machine with no CPU to spare (the
    /// server and the load generator measure the machine then, not the
    /// server), other processes busy beside them.
    pub fn warnings(&self, cores: usize) -> Vec<String> {
        let mut w = Vec::new();
        if self.undelivered_audio > 0.001 || self.undelivered > 0.01 {
            w.push(format!(
                "overloaded: {:.2} % of the packets offered were not delivered ({:.2} % of audio)",
                self.undelivered * 100.0,
                self.undelivered_audio * 100.0
            ));
        }
        if self.server_busiest_thread_cpu > 0.95 {
            w.push(format!(
                "the server's busiest thread ({}) used {:.2} of a core: it is the bottleneck",
                self.server_busiest_thread, self.server_busiest_thread_cpu
            ));
        }
        let cores = cores.max(1) as f64;
        if self.machine_cpu > 0.9 * cores {
            w.push(format!(
                "the machine was saturated: {:.2} of {cores} cores busy (server {:.2}, load generator {:.2}); \
                 the figures measure the machine, not the server",
                self.machine_cpu, self.server_cpu, self.loadgen_cpu
            ));
        }
        let others = self.machine_cpu - self.server_cpu - self.loadgen_cpu;
        if others > 0.3 {
            w.push(format!("other processes used {others:.2} cores during the run"));
        }
        w
    }
}

/// Prints reports side by side.
pub fn table(reports: &[Report]) -> String {
    type Row = (&'static str, fn(&Report) -> String);
    let opt = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
    let rows: [Row; 26] = [
        ("participants joined", |r| format!("{}/{}", r.joined, r.participants)),
        ("join p50 / p99 (ms)", |r| format!("{:.0} / {:.0}", r.join_ms_p50, r.join_ms_p99)),
        ("measured (s)", |r| format!("{:.1}", r.measured_secs)),
        ("packets/s out", |r| format!("{:.0}", r.packets_out_per_sec)),
        ("packets/s in", |r| format!("{:.0}", r.packets_in_per_sec)),
        ("Mbit/s out", |r| format!("{:.2}", r.mbit_out)),
        ("Mbit/s in", |r| format!("{:.2}", r.mbit_in)),
        ("loss (after repair)", |r| format!("{:.3} %", r.loss * 100.0)),
        ("undelivered (of offered)", |r| format!("{:.3} % of {}", r.undelivered * 100.0, r.offered)),
        ("undelivered audio", |r| format!("{:.3} %", r.undelivered_audio * 100.0)),
        ("NACKs sent", |r| r.nacks_sent.to_string()),
        ("NACKs at senders", |r| r.nacks_to_senders.to_string()),
        ("late/repaired packets", |r| r.late_packets.to_string()),
        ("keyframe requests", |r| r.keyframe_requests.to_string()),
        ("latency p50 (ms)", |r| format!("{:.2}", r.latency_ms_p50)),
        ("latency p95 (ms)", |r| format!("{:.2}", r.latency_ms_p95)),
        ("latency p99 (ms)", |r| format!("{:.2}", r.latency_ms_p99)),
        ("server CPU (s/s)", |r| format!("{:.3}", r.server_cpu)),
        ("server CPU per packet in (µs)", |r| format!("{:.2}", r.server_cpu_us_per_packet)),
        ("media workers' CPU per packet in (µs)", |r| format!("{:.2}", r.media_cpu_us_per_packet)),
        ("CPU per packet ÷ floor (µs)", |r| match r.floor_us_per_packet {
            Some(f) if f > 0.0 => format!("{:.2} ({f:.2})", r.server_cpu_us_per_packet / f),
            _ => "-".into(),
        }),
        ("server RSS end / growth (MB)", |r| {
            format!("{:.1} / {:.1}", r.server_rss_mb, r.server_rss_growth_mb)
        }),
        ("server RSS per participant (KB)", |r| format!("{:.0}", r.server_rss_kb_per_participant)),
        ("load generator CPU (s/s)", |r| format!("{:.3}", r.loadgen_cpu)),
        ("server busiest thread (s/s)", |r| {
            format!("{:.2} {}", r.server_busiest_thread_cpu, r.server_busiest_thread)
        }),
        ("machine busy / stolen (cores)", |r| format!("{:.2} / {:.2}", r.machine_cpu, r.machine_steal)),
    ];
    let mut out = format!("{:<32}", reports.first().map_or("", |r| r.scenario.as_str()));
    for r in reports {
        out.push_str(&format!("{:>18}", r.target));
    }
    out.push('\n');
    let rows = rows.into_iter().map(|(name, f)| (name.to_string(), reports.iter().map(f).collect()));
    let mut transport = Vec::new();
    if reports.iter().any(|r| r.tcp_participants > 0 || r.server_peers_tcp.is_some_and(|n| n > 0)) {
        let planned = reports.iter().map(|r| format!("{}/{}", r.tcp_participants, r.participants));
        transport.push(("participants over ICE-TCP".to_string(), planned.collect()));
        let peers =
            reports.iter().map(|r| format!("{} / {}", opt(r.server_peers_udp), opt(r.server_peers_tcp)));
        transport.push(("server: peers over UDP / TCP".to_string(), peers.collect()));
        let drops = reports
            .iter()
            .map(|r| format!("{} / {}", opt(r.server_tcp_send_overflows), r.tcp_drops))
            .collect();
        transport.push(("TCP backlog drops: server / us".to_string(), drops));
    }
    for (name, values) in rows.chain(transport).chain(super::audience::rows(reports)) {
        out.push_str(&format!("{name:<32}"));
        for v in values {
            out.push_str(&format!("{v:>18}"));
        }
        out.push('\n');
    }
    for r in reports {
        for w in &r.warnings {
            out.push_str(&format!("warning ({}): {w}\n", r.target));
        }
    }
    out
}

/// A duration in ms.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_fell_behind_or_saturated_the_machine_says_so() {
        let calm = Report {
            target: "huiyi".into(),
            server_cpu: 0.4,
            loadgen_cpu: 0.4,
            machine_cpu: 0.85,
            server_busiest_thread_cpu: 0.4,
            ..Report::default()
        };
        assert!(calm.warnings(2).is_empty(), "{:?}", calm.warnings(2));
        let behind = Report {
            undelivered: 0.2,
            undelivered_audio: 0.1,
            server_busiest_thread_cpu: 0.99,
            ..calm.clone()
        };
        let w = behind.warnings(2);
        assert!(w[0].starts_with("overloaded: 20.00 %"), "{w:?}");
        assert!(w[1].contains("bottleneck"), "{w:?}");
        let saturated = Report { server_cpu: 1.0, loadgen_cpu: 0.5, machine_cpu: 1.95, ..calm.clone() };
        let w = saturated.warnings(2);
        assert!(w[0].starts_with("the machine was saturated: 1.95 of 2 cores"), "{w:?}");
        assert!(w[1].starts_with("other processes used 0.45 cores"), "{w:?}");
        // The run keeps them in the report, and the table prints them.
        let reported = Report { warnings: w, ..saturated };
        assert!(table(&[reported]).contains("warning (huiyi): the machine was saturated"));
    }
}
