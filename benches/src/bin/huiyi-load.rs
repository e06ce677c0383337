//! `huiyi-load`: load-test a Huiyi server (and Janus, side by side) with
//! simulated participants that are real WebRTC endpoints.
//!
//!     huiyi-load county-plenary                      # against http://127.0.0.1:8470
//!     huiyi-load discussion --target both --janus ws://127.0.0.1:8188
//!     huiyi-load county-plenary --simulcast --weak-share 0.33 --link-kbps 300 --loss 5 --rtt 80
//!     huiyi-load discussion --transport tcp          # media over ICE-TCP
//!     huiyi-load county-plenary --tcp-share 0.5      # half over ICE-TCP, half over UDP
//!     huiyi-load small-rooms --soak 1800             # 30 min of joins and leaves (churn)
//!     huiyi-load county-plenary --server https://10.0.0.5:8443 --ca cert.pem --threads 4
//!                                                    # a production-like server: wss:// signaling
//!
//! Prints a line each second and, at the end, a table; writes the report
//! as JSON (`--out`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use huiyi_bench::load::huiyi::Huiyi;
use huiyi_bench::load::janus::Janus;
use huiyi_bench::load::link::{LinkSpec, QUEUE_PACKETS};
use huiyi_bench::load::stats::{find_process, table, Report};
use huiyi_bench::load::tcp::Transport;
use huiyi_bench::load::{run, RunConfig, Scenario};

#[derive(Parser, Debug)]
#[command(name = "huiyi-load", about = "Load-test Huiyi (and Janus) with simulated WebRTC participants")]
struct Args {
    /// county-plenary (1 → 150 venues), weak-plenary (the same, simulcast,
    /// a third on 300 kbit/s lines with 5 % loss and 80 ms RTT), discussion
    /// (6 cameras, 30 people), audio-webinar (10 open microphones, 3 of them
    /// speaking, 300 listeners),
    /// small-rooms (20 × 5).
    scenario: String,
    /// huiyi, janus, or both (one after the other, same participants).
    #[arg(long, default_value = "huiyi")]
    target: String,
    /// The Huiyi server.
    #[arg(long, default_value = "http://127.0.0.1:8470")]
    server: String,
    /// The server's data directory, to sign join tokens with its key;
    /// without it the server must allow demo joins (`signaling.demo`).
    #[arg(long, default_value = "data")]
    data_dir: std::path::PathBuf,
    /// Janus's WebSocket API.
    #[arg(long, default_value = "ws://127.0.0.1:8188")]
    janus: String,
    /// Meetings (default: the scenario's).
    #[arg(long)]
    rooms: Option<usize>,
    /// Participants sending media per meeting.
    #[arg(long)]
    senders: Option<usize>,
    /// Participants only receiving per meeting.
    #[arg(long)]
    listeners: Option<usize>,
    /// Senders per meeting whose microphone carries speech (the rest send
    /// silence, which a server with audio top-N need not forward); default:
    /// every sender, 3 in audio-webinar and discussion.
    #[arg(long)]
    talkers: Option<usize>,
    /// Video bitrate per sender, kbit/s.
    #[arg(long, default_value_t = 1000)]
    video_kbps: u32,
    /// Video frame rate.
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Video senders publish three simulcast layers (q, h, f: 1/16, 1/4
    /// and all of --video-kbps, same frame rate).
    #[arg(long)]
    simulcast: bool,
    /// Video senders pace each frame's packets as browsers do (libwebrtc:
    /// 2.5× the bitrate; a 1 Mbit/s frame over ~14 ms) instead of sending
    /// it as one burst.
    #[arg(long)]
    paced: bool,
    /// Put listeners behind a weak line of this rate each way, kbit/s.
    #[arg(long)]
    link_kbps: Option<u64>,
    /// The weak line loses this share of datagrams each way, percent.
    #[arg(long)]
    loss: Option<f64>,
    /// The weak line's round-trip time, ms (half each way).
    #[arg(long)]
    rtt: Option<u64>,
    /// The share (0 to 1) of each meeting's listeners (of its senders, if it
    /// has no listeners) behind the weak line; default 1 when a line option
    /// is given.
    #[arg(long)]
    weak_share: Option<f64>,
    /// How the participants' media travels: udp, or tcp (ICE-TCP: one
    /// connection to the server's passive TCP candidate, RFC 4571 framing).
    #[arg(long, default_value = "udp")]
    transport: Transport,
    /// The share (0 to 1) of each meeting's senders, and of its listeners,
    /// whose media goes over ICE-TCP; the rest over UDP.
    #[arg(long, conflicts_with = "transport")]
    tcp_share: Option<f64>,
    /// Joins per second.
    #[arg(long, default_value_t = 20.0)]
    join_rate: f64,
    /// Seconds of measured load once everyone joined.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds between everyone joined and the measurement (estimates on
    /// weak lines settle).
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// Local address of the participants' sockets.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// The Huiyi server's pid, for its CPU and memory (default: the newest
    /// process named `huiyi`).
    #[arg(long)]
    huiyi_pid: Option<u32>,
    /// Janus's pid (default: the newest process named `janus`).
    #[arg(long)]
    janus_pid: Option<u32>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "load-report.json")]
    out: std::path::PathBuf,
    /// No line each second.
    #[arg(long)]
    quiet: bool,
    /// Soak: for this many seconds the scenario's participants keep joining
    /// and leaving (each seat lives --lifetime, then a new participant takes
    /// it); then every gauge of the server's /metrics must be back where it
    /// was, and the server's RSS after warm-up is reported (exit 1 on a leak).
    #[arg(long, value_name = "SECONDS")]
    soak: Option<u64>,
    /// A soak seat's life, seconds: MIN-MAX.
    #[arg(long, default_value = "10-40")]
    lifetime: String,
    /// Huiyi records every meeting (its senders join as chairs and start
    /// the recording): what recording costs the server.
    #[arg(long)]
    record: bool,
    /// Threads of the load generator (default: half the cores, at least
    /// one: the server on the same machine has the others).
    #[arg(long)]
    threads: Option<usize>,
    /// Before the runs, measure this machine's floor (`huiyi_bench::floor`:
    /// the kernel's send path and AES-GCM alone per datagram), this many
    /// CPU-seconds for each way of sending; 0: not measured.
    #[arg(long, default_value_t = 1.0)]
    floor: f64,
    /// For an `https://` server: a PEM certificate to trust (default: the
    /// server's self-signed `DATA_DIR/tls/cert.pem`); participants then
    /// signal over `wss://`.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
}

impl Args {
    /// The signaling URL, and for `wss://` the certificates to trust.
    fn signaling(&self) -> Result<(String, Option<Arc<rustls::ClientConfig>>)> {
        let ws_url = format!("{}/ws", self.server.trim_end_matches('/').replacen("http", "ws", 1));
        if !ws_url.starts_with("wss://") {
            return Ok((ws_url, None));
        }
        let ca = self.ca.clone().unwrap_or_else(|| self.data_dir.join("tls").join("cert.pem"));
        Ok((ws_url, Some(huiyi_bench::load::socket::trusting(&ca)?)))
    }

    /// A runtime of `--threads` worker threads.
    fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = self.threads.unwrap_or((cores / 2).max(1));
        if !(1..=256).contains(&threads) {
            bail!("--threads 1 to 256");
        }
        Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let Some(mut scenario) = Scenario::named(&args.scenario) else {
        bail!("unknown scenario {:?}: {}", args.scenario, Scenario::NAMES)
    };
    scenario.rooms = args.rooms.unwrap_or(scenario.rooms);
    scenario.senders = args.senders.unwrap_or(scenario.senders);
    scenario.listeners = args.listeners.unwrap_or(scenario.listeners);
    scenario.talkers = args.talkers.or(scenario.talkers);
    scenario.video_bps = args.video_kbps * 1000;
    scenario.fps = args.fps;
    scenario.simulcast |= args.simulcast;
    scenario.paced = args.paced;
    weak_line(&args, &mut scenario)?;
    scenario.tcp_share = match (args.tcp_share, args.transport) {
        (Some(share), _) if (0.0..=1.0).contains(&share) => share,
        (Some(_), _) => bail!("--tcp-share must be between 0 and 1"),
        (None, Transport::Tcp) => 1.0,
        (None, Transport::Udp) => 0.0,
    };
    if scenario.tcp_share > 0.0 && scenario.link.is_some() {
        bail!("weak lines are simulated over UDP only: no --tcp-share or --transport tcp with them");
    }
    if scenario.participants() == 0 || scenario.participants() > 2000 {
        bail!("between 1 and 2000 participants, please");
    }
    if !(0..=20_000).contains(&args.video_kbps) || !(1..=60).contains(&args.fps) {
        bail!("--video-kbps 0 to 20000, --fps 1 to 60");
    }
    if !(0.1..=500.0).contains(&args.join_rate) || !(1..=3600).contains(&args.duration) || args.settle > 600 {
        bail!("--join-rate 0.1 to 500, --duration 1 to 3600 s, --settle 0 to 600 s");
    }
    if let Some(secs) = args.soak {
        return soak(&args, &scenario, secs);
    }
    let targets: Vec<&str> = match args.target.as_str() {
        "both" => vec!["huiyi", "janus"],
        t @ ("huiyi" | "janus") => vec![t],
        other => bail!("unknown target {other:?}: huiyi, janus or both"),
    };
    if !(0.0..=60.0).contains(&args.floor) {
        bail!("--floor 0 to 60 s");
    }
    let floor = if args.floor > 0.0 {
        let f = huiyi_bench::floor::measure(Duration::from_secs_f64(args.floor))
            .context("measuring the floor")?;
        eprintln!(
            "floor (kernel + AES-GCM per datagram on this machine): sendmsg {:.2} µs, sendmmsg {:.2} µs, \
             a frame per destination segmented {:.2} µs",
            f.sendmsg_us, f.sendmmsg_us, f.segmented_us
        );
        Some(f)
    } else {
        None
    };
    let rt = args.runtime()?;
    rt.block_on(async {
        let _ = rustls_provider();
        let mut reports: Vec<Report> = Vec::new();
        for t in targets {
            let given = if t == "huiyi" { args.huiyi_pid } else { args.janus_pid };
            let server_pid = given.or_else(|| find_process(t));
            if server_pid.is_none() {
                eprintln!("no {t} process found: server CPU and memory will not be reported");
            }
            let cfg = RunConfig {
                join_rate: args.join_rate,
                duration: Duration::from_secs(args.duration),
                settle: Duration::from_secs(args.settle),
                join_timeout: Duration::from_secs(30),
                bind: args.bind,
                server_pid,
                live: !args.quiet,
            };
            let mut report = match t {
                "huiyi" => {
                    let signer = huiyi_signaling::token::Signer::load_existing(&args.data_dir).ok();
                    if signer.is_none() {
                        eprintln!("no {}/secret.key: joining as demo participants", args.data_dir.display());
                    }
                    let (ws_url, tls) = args.signaling()?;
                    let run_id = format!("{}", huiyi_signaling::clock::unix_secs());
                    run(Arc::new(Huiyi { ws_url, signer, run_id, record: args.record, tls }), &scenario, cfg).await?
                }
                _ => run(Arc::new(Janus::new(args.janus.clone())), &scenario, cfg).await?,
            };
            report.floor_us_per_packet = floor.map(|f| f.per_datagram_us());
            reports.push(report);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        println!("\n{}", table(&reports));
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "scenario": scenario.name, "rooms": scenario.rooms, "senders": scenario.senders,
            "listeners": scenario.listeners, "talkers": scenario.talkers, "video_kbps": args.video_kbps, "fps": args.fps,
            "join_rate": args.join_rate, "duration_secs": args.duration, "settle_secs": args.settle,
            "simulcast": scenario.simulcast, "paced": scenario.paced, "link": scenario.link, "weak_share": scenario.weak_share,
            "tcp_share": scenario.tcp_share, "floor": floor,
            "reports": reports,
        }))?;
        std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
        eprintln!("report written to {}", args.out.display());
        Ok(())
    })
}

/// The weak line from the flags, over the scenario's own: a flag given
/// replaces that part of the scenario's line (or makes one, unlimited in
/// what is not given), and `--weak-share` defaults to 1 for a line made here.
fn weak_line(args: &Args, scenario: &mut Scenario) -> Result<()> {
    let given = args.link_kbps.is_some() || args.loss.is_some() || args.rtt.is_some();
    if given {
        let made = scenario.link.is_none();
        let mut link = scenario.link.unwrap_or(LinkSpec {
            rate_bps: None,
            loss: 0.0,
            rtt: Duration::ZERO,
            queue_packets: QUEUE_PACKETS,
        });
        link.rate_bps = args.link_kbps.map(|k| k * 1000).or(link.rate_bps);
        link.loss = args.loss.map_or(link.loss, |pct| pct / 100.0);
        link.rtt = args.rtt.map_or(link.rtt, Duration::from_millis);
        scenario.link = Some(link);
        if made {
            scenario.weak_share = 1.0;
        }
    }
    if let Some(share) = args.weak_share {
        if !(0.0..=1.0).contains(&share) {
            bail!("--weak-share must be between 0 and 1");
        }
        if scenario.link.is_none() {
            bail!("--weak-share needs a weak line: --link-kbps, --loss or --rtt");
        }
        scenario.weak_share = share;
    }
    if let Some(link) = &scenario.link {
        link.validate().map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The soak mode: churn against Huiyi, then the verdict.
fn soak(args: &Args, scenario: &Scenario, secs: u64) -> Result<()> {
    use huiyi_bench::load::soak::{soak, SoakConfig};
    let (min, max) = args
        .lifetime
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .filter(|(a, b)| 1 <= *a && a < b && *b <= 3600)
        .context("--lifetime MIN-MAX in seconds, 1 <= MIN < MAX <= 3600")?;
    if !(10..=7 * 24 * 3600).contains(&secs) {
        bail!("--soak 10 s to a week");
    }
    let rt = args.runtime()?;
    rt.block_on(async {
        let _ = rustls_provider();
        let signer = huiyi_signaling::token::Signer::load_existing(&args.data_dir).ok();
        let (ws_url, tls) = args.signaling()?;
        let metrics = huiyi_bench::load::metrics::http_host_of(&ws_url);
        let server_pid = args.huiyi_pid.or_else(|| find_process("huiyi"));
        let run_id = format!("soak-{}", huiyi_signaling::clock::unix_secs());
        let cfg = SoakConfig {
            duration: Duration::from_secs(secs),
            lifetime: (Duration::from_secs(min), Duration::from_secs(max)),
            warmup_share: 0.2,
            run: RunConfig {
                join_rate: args.join_rate,
                duration: Duration::from_secs(secs),
                settle: Duration::ZERO,
                join_timeout: Duration::from_secs(30),
                bind: args.bind,
                server_pid,
                live: !args.quiet,
            },
            metrics,
        };
        let report = soak(Arc::new(Huiyi { ws_url, signer, run_id, record: false, tls }), scenario, cfg).await?;
        println!(
            "soak: {:.0} s, {} sessions, {} failures; RSS after warm-up {:?} KiB, at the end {:?} KiB ({:+.1} %)",
            report.secs,
            report.sessions,
            report.failures,
            report.rss_warm,
            report.rss_end,
            report.rss_growth_pct.unwrap_or(f64::NAN)
        );
        println!("gauges before {:?}
       peak   {:?}
       after  {:?}", report.gauges_before, report.gauges_peak, report.gauges_after);
        std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", args.out.display()))?;
        let leaks = report.leaks();
        if !leaks.is_empty() {
            bail!("gauges not back after everyone left: {leaks:?}");
        }
        Ok(())
    })
}

/// str0m and tokio-tungstenite share rustls; pick its crypto once.
fn rustls_provider() -> Result<(), std::sync::Arc<rustls::crypto::CryptoProvider>> {
    rustls::crypto::aws_lc_rs::default_provider().install_default()
}
