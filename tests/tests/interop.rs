//! Interop with aiortc, an independent WebRTC implementation in Python,
//! speaking the documented signaling protocol: two aiortc participants see
//! and hear each other through Huiyi; a server-side mute stops the audio.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use huiyi_config::Config;
use huiyi_signaling::token::{Claims, Role, Signer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aiortc_participants_meet_through_huiyi() {
    let interop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop");
    let setup = Command::new("bash").arg(interop.join("setup.sh")).status().expect("run setup.sh");
    assert!(setup.success(), "tests/interop/setup.sh failed (aiortc from PyPI)");

    let dir = std::env::temp_dir().join(format!("huiyi-interop-{}", std::process::id()));
    let mut config = Config { data_dir: dir.clone(), ..Config::default() };
    config.sfu.udp_port = 0;
    config.sfu.workers = 1;
    let signer = Signer::load_or_create(&dir).expect("key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ws = format!("ws://{}/ws", listener.local_addr().expect("addr"));
    let now = huiyi_signaling::unix_millis() / 1000;
    let tokens: Vec<String> = [("主会场", Role::Chair), ("城关镇", Role::Venue)]
        .iter()
        .enumerate()
        .map(|(i, (name, role))| {
            signer.sign(&Claims {
                m: "interop".into(),
                t: "互通测试".into(),
                p: format!("p{}", i + 1),
                n: (*name).into(),
                r: *role,
                nbf: now - 60,
                exp: now + 3600,
            })
        })
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(huiyi_signaling::run(config, listener, async {
        let _ = stop_rx.await;
    }));

    let out = tokio::task::spawn_blocking(move || {
        Command::new(interop.join(".venv/bin/python"))
            .arg("meeting.py")
            .current_dir(&interop)
            .env("HUIYI_WS", ws)
            .env("HUIYI_TOKENS", serde_json::to_string(&tokens).expect("json"))
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    let report =
        format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean");
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "aiortc interop failed:\n{report}");
    assert!(report.contains("interop: all checks passed"));
}
