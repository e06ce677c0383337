//! The load generator against a real in-process server, small and short:
//! its participants join through signaling, media flows through the SFU,
//! and the report says so. (The real load runs are `benches/compare.sh`.)

use std::sync::Arc;
use std::time::Duration;

use huiyi_bench::load::huiyi::Huiyi;
use huiyi_bench::load::{run, RunConfig, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_plenary_is_received_in_full() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("huiyi-load-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = huiyi_config::Config { data_dir: dir.clone(), ..huiyi_config::Config::default() };
    config.sfu.udp_port = 0;
    config.sfu.workers = 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(huiyi_signaling::run(config, listener, async {
        let _ = stopped.await;
    }));
    // The server creates its signing key as it starts.
    let mut signer = None;
    for _ in 0..200 {
        if let Ok(key) = huiyi_signaling::token::Signer::load_existing(&dir) {
            signer = Some(key);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut scenario = Scenario::named("county-plenary").expect("scenario");
    scenario.listeners = 4;
    scenario.video_bps = 300_000;
    let target = Huiyi {
        ws_url: format!("ws://{addr}/ws"),
        signer: Some(signer.expect("the server's key")),
        run_id: "test".into(),
    };
    let cfg = RunConfig {
        join_rate: 20.0,
        duration: Duration::from_secs(2),
        join_timeout: Duration::from_secs(20),
        bind: "127.0.0.1".parse().expect("ip"),
        server_pid: Some(std::process::id()),
        live: false,
    };
    let report = run(Arc::new(target), &scenario, cfg).await.expect("run");
    println!("{}", huiyi_bench::load::stats::table(std::slice::from_ref(&report)));

    assert_eq!((report.joined, report.participants), (5, 5), "everyone joined");
    // One sender (50 audio packets and 25 frames a second) to 4 receivers.
    assert!(report.packets_in_per_sec > 4.0 * 60.0, "media reached the receivers: {report:?}");
    assert!(report.loss < 0.01, "nothing lost on loopback: {report:?}");
    assert!(report.latency_ms_p50 > 0.0 && report.latency_ms_p99 < 1000.0, "latency measured: {report:?}");
    assert!(report.server_cpu > 0.0, "the server's CPU was read");

    let _ = stop.send(());
    server.await.expect("join").expect("clean shutdown");
    std::fs::remove_dir_all(&dir).ok();
}
