//! Interop with aiortc, an independent WebRTC implementation in Python,
//! speaking the documented signaling protocol: two aiortc participants see
//! and hear each other through Huiyi; a server-side mute stops the audio.

use std::path::PathBuf;
use std::process::Command;

use huiyi_signaling::token::Role;
use huiyi_tests::server::{run_setup, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aiortc_participants_meet_through_huiyi() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop");
    run_setup(&dir.join("setup.sh"));
    let server = TestServer::start("interop").await;
    let tokens = server.tokens("interop", "互通测试", &[("主会场", Role::Chair), ("城关镇", Role::Venue)]);
    let ws = server.ws.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(dir.join(".venv/bin/python"))
            .arg("meeting.py")
            .current_dir(&dir)
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
    server.stop().await;
    assert!(out.status.success(), "aiortc interop failed:\n{report}");
    assert!(report.contains("interop: all checks passed"));
}
