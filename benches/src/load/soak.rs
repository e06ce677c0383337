//! Soak mode (issue 14): the scenario's participants keep joining and
//! leaving (each seat lives a while, leaves, and a new participant takes
//! its place) for a given time. Along the way the server's RSS and its
//! `/metrics` gauges are sampled; at the end, once everyone has left, the
//! gauges (media peers, seats, meetings, WebSocket sessions, runtime tasks)
//! must be back where they were before, and the RSS after warm-up flat
//! within a few percent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio::sync::watch;

use super::stats::{process_usage, Totals};
use super::{RunConfig, RunShared, Scenario, Target};

/// The gauges that must come back to their starting value.
pub const GAUGES: [&str; 5] =
    ["huiyi_media_peers", "huiyi_seats", "huiyi_meetings", "huiyi_ws_sessions", "huiyi_tasks"];

/// How a soak goes.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long participants churn.
    pub duration: Duration,
    /// A seat's life, from … to (spread evenly over the seats and turns).
    pub lifetime: (Duration, Duration),
    /// The share of `duration` before RSS counts as warmed up.
    pub warmup_share: f64,
    /// How the seats run (bind address, server pid, join timeout).
    pub run: RunConfig,
    /// `host:port` of the server's plain-HTTP `/metrics`.
    pub metrics: Option<String>,
}

/// What a soak saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    /// Seconds of churn.
    pub secs: f64,
    /// Participants that joined (welcomed and connected) and left.
    pub sessions: u64,
    /// Participants that failed (refused, no media, an error).
    pub failures: u64,
    /// The server's RSS (KiB) sampled every few seconds: (seconds, KiB).
    pub rss: Vec<(f64, u64)>,
    /// RSS at the end of the warm-up and at the end, KiB.
    pub rss_warm: Option<u64>,
    /// RSS at the end of the churn.
    pub rss_end: Option<u64>,
    /// Growth after warm-up, percent.
    pub rss_growth_pct: Option<f64>,
    /// Gauges before the first join.
    pub gauges_before: BTreeMap<String, f64>,
    /// Their highest values during the churn.
    pub gauges_peak: BTreeMap<String, f64>,
    /// And once everyone left.
    pub gauges_after: BTreeMap<String, f64>,
}

impl SoakReport {
    /// The gauges that did not come back (name, before, after).
    pub fn leaks(&self) -> Vec<(String, f64, f64)> {
        GAUGES
            .iter()
            .filter_map(|g| {
                let (before, after) = (self.gauges_before.get(*g)?, self.gauges_after.get(*g)?);
                (after > before).then(|| (g.to_string(), *before, *after))
            })
            .collect()
    }
}

/// Sums each gauge's series in a `/metrics` text (labels summed away).
pub fn gauges(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let base = name.split('{').next().unwrap_or(name);
        if GAUGES.contains(&base) {
            if let Ok(v) = value.trim().parse::<f64>() {
                *out.entry(base.to_string()).or_default() += v;
            }
        }
    }
    out
}

async fn scrape(host_port: &str) -> Option<BTreeMap<String, f64>> {
    Some(gauges(&super::metrics::fetch(host_port).await?))
}

/// A seat's life for its `turn`: spread over the range by a small hash, so
/// that leaves do not come in waves.
fn lifetime(range: (Duration, Duration), slot: usize, turn: u64) -> Duration {
    let mut x = (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ turn.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    let span = range.1.saturating_sub(range.0).as_millis() as u64;
    range.0 + Duration::from_millis(if span == 0 { 0 } else { x % span })
}

/// Churns the scenario's seats on `target` for `cfg.duration`.
pub async fn soak<T: Target>(target: Arc<T>, scenario: &Scenario, cfg: SoakConfig) -> Result<SoakReport> {
    let seats = scenario.seats();
    let totals = Arc::new(Totals::default());
    target.prepare(scenario).await?;
    let mut report = SoakReport::default();
    if let Some(m) = &cfg.metrics {
        report.gauges_before = scrape(m).await.unwrap_or_default();
    }
    let started = Instant::now();
    let end = started + cfg.duration;
    let sessions = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    eprintln!("soak: {} seats of {} churning for {:?}", seats.len(), scenario.name, cfg.duration);
    let gap = Duration::from_secs_f64(1.0 / cfg.run.join_rate.max(0.1));
    let mut slots = Vec::new();
    for (slot, seat) in seats.into_iter().enumerate() {
        let (target, totals, run) = (target.clone(), totals.clone(), cfg.run.clone());
        let (sessions, failures, range) = (sessions.clone(), failures.clone(), cfg.lifetime);
        slots.push(tokio::spawn(async move {
            let mut turn = 0u64;
            while Instant::now() + range.0 < end {
                let (stop_tx, stop) = watch::channel(false);
                let shared = Arc::new(RunShared { totals: totals.clone(), stop, started, cfg: run.clone() });
                let life = lifetime(range, slot, turn);
                let t = target.clone();
                let seat = seat.clone();
                let task = tokio::spawn(async move { t.seat(seat, shared).await });
                tokio::time::sleep(life.min(end.saturating_duration_since(Instant::now()))).await;
                let _ = stop_tx.send(true);
                match tokio::time::timeout(Duration::from_secs(20), task).await {
                    Ok(Ok(Ok(r))) if !r.peers.is_empty() && r.peers.iter().all(|p| p.join_time.is_some()) => {
                        sessions.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok(Ok(Ok(_))) | Ok(Ok(Err(_))) | Ok(Err(_)) | Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
                turn += 1;
                tokio::time::sleep(Duration::from_millis(200 + (slot as u64 * 37) % 800)).await;
            }
        }));
        tokio::time::sleep(gap).await;
    }
    // Sample the server while the seats churn.
    let warm_at = cfg.duration.mul_f64(cfg.warmup_share.clamp(0.0, 0.9));
    let mut every = tokio::time::interval(Duration::from_secs(5));
    while Instant::now() < end {
        every.tick().await;
        let t = started.elapsed();
        if let Some((_, rss)) = cfg.run.server_pid.and_then(process_usage) {
            report.rss.push((t.as_secs_f64(), rss / 1024));
            if t >= warm_at && report.rss_warm.is_none() {
                report.rss_warm = Some(rss / 1024);
            }
        }
        if let Some(m) = &cfg.metrics {
            for (k, v) in scrape(m).await.unwrap_or_default() {
                let peak = report.gauges_peak.entry(k).or_default();
                *peak = peak.max(v);
            }
        }
        if cfg.run.live {
            eprintln!(
                "soak {:>5.0} s: {} sessions, {} failures, rss {:?} KiB",
                t.as_secs_f64(),
                sessions.load(Ordering::Relaxed),
                failures.load(Ordering::Relaxed),
                report.rss.last().map(|r| r.1)
            );
        }
    }
    for s in slots {
        let _ = s.await;
    }
    report.secs = started.elapsed().as_secs_f64();
    report.rss_end = cfg.run.server_pid.and_then(process_usage).map(|(_, rss)| rss / 1024);
    report.rss_growth_pct = match (report.rss_warm, report.rss_end) {
        (Some(w), Some(e)) if w > 0 => Some((e as f64 - w as f64) * 100.0 / w as f64),
        _ => None,
    };
    // Everyone left: the server lets go of them within its grace periods.
    if let Some(m) = &cfg.metrics {
        let settle = Instant::now() + Duration::from_secs(30);
        loop {
            report.gauges_after = scrape(m).await.unwrap_or_default();
            if report.leaks().is_empty() || Instant::now() > settle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    report.sessions = sessions.load(Ordering::Relaxed);
    report.failures = failures.load(Ordering::Relaxed);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_summed_over_their_labels_and_others_ignored() {
        let text = "HTTP/1.0 200 OK\r\n\r\n# HELP huiyi_seats x\nhuiyi_seats 3\n\
            huiyi_media_peers{transport=\"udp\"} 2\nhuiyi_media_peers{transport=\"tcp\"} 1\n\
            huiyi_media_datagrams_in_total 99\nhuiyi_tasks 17\n";
        let g = gauges(text);
        assert_eq!(g.get("huiyi_seats"), Some(&3.0));
        assert_eq!(g.get("huiyi_media_peers"), Some(&3.0));
        assert_eq!(g.get("huiyi_tasks"), Some(&17.0));
        assert!(!g.contains_key("huiyi_media_datagrams_in_total"));
    }

    #[test]
    fn lifetimes_stay_in_their_range_and_differ() {
        let range = (Duration::from_secs(5), Duration::from_secs(15));
        let lives: Vec<Duration> = (0..50).map(|i| lifetime(range, i, i as u64 / 7)).collect();
        assert!(lives.iter().all(|l| *l >= range.0 && *l < range.1));
        assert!(lives.iter().collect::<std::collections::BTreeSet<_>>().len() > 20);
    }
}
