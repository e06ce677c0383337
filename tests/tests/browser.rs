//! The browser client in real Chromium (Debian's package, driven by
//! playwright-core) against the whole server: signaling, join tokens, the
//! media plane. The scenario lives in `tests/browser/meeting.test.mjs`.

use std::path::PathBuf;
use std::process::Command;

use huiyi_signaling::token::Role;
use huiyi_tests::server::{run_setup, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_meet_in_chromium() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    run_setup(&dir.join("setup.sh"));
    let server = TestServer::start("browser").await;
    let people = [("县政府办", Role::Chair), ("城关镇", Role::Venue), ("张三", Role::Participant)];
    let links: Vec<String> = server
        .tokens("browser-test", "浏览器测试会议", &people)
        .into_iter()
        .map(|t| format!("{}/?token={t}", server.base))
        .collect();
    let shots = std::env::var("HUIYI_SCREENSHOTS").unwrap_or_default();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "meeting.test.mjs"])
            .current_dir(dir)
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
    server.stop().await;
    assert!(out.status.success(), "browser scenario failed:\n{report}");
}
