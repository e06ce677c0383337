//! Firefox in the browser matrix (issue 13): Debian's firefox-esr, driven
//! by playwright-core over WebDriver BiDi, meets Chromium through the whole
//! server on 127.0.0.1. Firefox holds the chair's link, Chromium a
//! participant's; the scenario (tests/browser/firefox.test.mjs) checks that
//! each sees and hears the other, Firefox's pre-join page, its simulcast
//! (and its top layer stopped and resumed at the server's request), screens
//! both ways, an ICE restart and a WebSocket resume from Firefox, and the
//! chair console driven from Firefox (mute, unmute request, roll call).
//! About a minute. Screenshots to $HUIYI_SCREENSHOTS when set.

use std::path::PathBuf;
use std::process::Command;

use huiyi_signaling::token::Role;
use huiyi_tests::server::{run_setup, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_chair_meets_a_chromium_participant() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    run_setup(&dir.join("setup.sh")); // Chromium, firefox-esr, fonts, playwright-core
    let server = TestServer::start_with("firefox", |_| {}, true).await;
    let people = [("县政府办", Role::Chair), ("张三", Role::Participant)];
    let links = server.join_links("firefox-test", "火狐浏览器测试会议", &people);
    let links = serde_json::to_string(&links).expect("json");
    let status = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "firefox.test.mjs"])
            .current_dir(dir)
            .env("HUIYI_LINKS", links)
            .env("HUIYI_SCREENSHOTS", std::env::var("HUIYI_SCREENSHOTS").unwrap_or_default())
            .status()
    })
    .await
    .expect("join")
    .expect("run node");
    server.stop().await;
    assert!(status.success(), "the Firefox scenario failed (its report is above)");
}
