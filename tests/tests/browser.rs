//! The browser client in real Chromium (Debian's package, driven by
//! playwright-core) against the whole server: signaling, join tokens, the
//! media plane. The scenario lives in `tests/browser/meeting.test.mjs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use huiyi_config::Config;
use huiyi_signaling::token::{Claims, Role, Signer};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_meet_in_chromium() {
    let setup = Command::new("bash").arg(browser_dir().join("setup.sh")).status().expect("run setup.sh");
    assert!(
        setup.success(),
        "tests/browser/setup.sh failed (Chromium from Debian, playwright-core from npm)"
    );

    let dir = std::env::temp_dir().join(format!("huiyi-browser-{}", std::process::id()));
    let mut config = Config { data_dir: dir.clone(), ..Config::default() };
    config.sfu.udp_port = 0;
    config.sfu.workers = 1;
    let signer = Signer::load_or_create(&dir).expect("signing key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let now = huiyi_signaling::unix_millis() / 1000;
    let links: Vec<String> =
        [("县政府办", Role::Chair), ("城关镇", Role::Venue), ("张三", Role::Participant)]
            .iter()
            .enumerate()
            .map(|(i, (name, role))| {
                let claims = Claims {
                    m: "browser-test".into(),
                    t: "浏览器测试会议".into(),
                    p: format!("p{}", i + 1),
                    n: (*name).into(),
                    r: *role,
                    nbf: now - 60,
                    exp: now + 3600,
                };
                format!("{base}/?token={}", signer.sign(&claims))
            })
            .collect();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(huiyi_signaling::run(config, listener, async {
        let _ = stop_rx.await;
    }));

    let shots = std::env::var("HUIYI_SCREENSHOTS").unwrap_or_default();
    let dir_for_node = browser_dir();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "meeting.test.mjs"])
            .current_dir(dir_for_node)
            .env("HUIYI_LINKS", serde_json::to_string(&links).expect("json"))
            .env("HUIYI_SCREENSHOTS", shots)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let report =
        format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("server stops")
        .expect("task")
        .expect("clean");
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "browser scenario failed:\n{report}");
}
