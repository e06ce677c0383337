//! Recording (issue 16) with real browsers: two Chromium participants (a
//! red and a blue camera, tests/browser/recording.test.mjs); the chair gives
//! the venue the floor and records ~20 s from its console. Every track file
//! decodes (ffprobe) and lasts the recorded time within 1 s; the composite
//! (`huiyi recording compose`) has video and audio of that length and shows
//! the floor holder (blue) large and both as thumbnails in their places. A
//! second recording is cut by SIGKILL: after the restart it is marked
//! interrupted and its files up to the last second decode; the meeting,
//! restored, records again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use huiyi_signaling::recording::compose::{MAIN, THUMB, THUMB_Y};
use huiyi_signaling::recording::{scan, Manifest, RecState};
use huiyi_signaling::token::{Role, Signer};
use huiyi_tests::media_files::{pixel, streams};
use huiyi_tests::process::{wait_file, ServerProcess};

const MEETING: &str = "recording-test";

fn token(signer: &Signer, pid: &str, name: &str, role: Role) -> String {
    huiyi_tests::process::token(signer, MEETING, "录制测试", (pid, name), role)
}

/// ffprobe's duration of a file (seconds), after decoding it all: `None`
/// if it does not decode.
fn probe(path: &Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let decodes = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg")
        .status
        .success();
    let text = String::from_utf8_lossy(&out.stdout);
    decodes.then(|| text.trim().parse().ok()).flatten()
}

fn is_red(c: [u8; 3]) -> bool {
    c[0] > 150 && c[1] < 90 && c[2] < 90
}

fn is_blue(c: [u8; 3]) -> bool {
    c[2] > 150 && c[0] < 90 && c[1] < 90
}

/// Checks one recording's track files: both participants' audio and video,
/// each decoding, each lasting `expect` seconds within `slack`.
fn check_tracks(dir: &Path, m: &Manifest, expect: f64, slack: f64) {
    for (pid, kind) in [("p1", "audio"), ("p1", "video"), ("p2", "audio"), ("p2", "video")] {
        assert!(
            m.tracks.iter().any(|t| t.participant == pid && t.kind == kind),
            "{pid}'s {kind} is recorded: {:?}",
            m.tracks
        );
    }
    for t in &m.tracks {
        let d = probe(&dir.join(&t.file)).unwrap_or_else(|| panic!("{} decodes", t.file));
        eprintln!(
            "recording {}: {} ({} {}, layer {}) lasts {d:.2} s of {expect:.2}",
            m.id, t.file, t.participant, t.kind, t.layer
        );
        assert!((d - expect).abs() <= slack, "{}: {d:.2} s, recorded {expect:.2} s", t.file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_is_recorded_composed_and_survives_a_kill() {
    huiyi_tests::init_logging();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    huiyi_tests::server::run_setup(&here.join("browser").join("setup.sh"));
    let dir = std::env::temp_dir().join(format!("huiyi-recording-{}", std::process::id()));
    let sync = dir.join("sync");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&sync).expect("sync dir");
    let signer = Signer::load_or_create(&dir).expect("key");
    let exe = env!("CARGO_BIN_EXE_huiyi-server-for-tests");
    let mut server = ServerProcess::new(exe, &dir);
    // The test's machine may have less free disk than a server should.
    server.settings.push("recording.min_free_mb=64".into());
    let mut child = server.start().await;
    let link = |pid, name, role| format!("http://{}/?token={}", server.http, token(&signer, pid, name, role));
    let mut node = Command::new("node")
        .args(["--test", "--test-reporter=spec", "recording.test.mjs"])
        .current_dir(here.join("browser"))
        .env("HUIYI_CHAIR_LINK", link("p1", "主会场", Role::Chair))
        .env("HUIYI_VENUE_LINK", link("p2", "城关镇", Role::Venue))
        .env("HUIYI_SYNC_DIR", &sync)
        .spawn()
        .expect("node");
    let root = dir.join("recordings");
    let wait = |name: &'static str, secs| {
        let sync = sync.clone();
        tokio::task::spawn_blocking(move || wait_file(&sync, name, Duration::from_secs(secs)))
    };
    wait("stopped1", 240).await.expect("join");

    // The first recording: complete.
    let first = scan(&root);
    assert_eq!(first.len(), 1, "one recording so far");
    let (rec_dir, m) = &first[0];
    assert_eq!(m.state, RecState::Stopped, "{m:?}");
    let recorded = m.duration_ms() as f64 / 1000.0;
    assert!((18.0..30.0).contains(&recorded), "about 20 s recorded: {recorded}");
    check_tracks(rec_dir, m, recorded, 1.0);
    assert!(
        m.events.iter().any(|e| e.kind == "floor" && e.participant.as_deref() == Some("p2")),
        "{:?}",
        m.events
    );

    // Composed: video and audio of the recorded length, the floor holder
    // (blue) large, both cameras as thumbnails in participant order.
    let composed = Command::new(exe)
        .args(["--data-dir"])
        .arg(&dir)
        .args(["recording", "compose", &m.id])
        .output()
        .expect("compose");
    assert!(composed.status.success(), "compose: {}", String::from_utf8_lossy(&composed.stderr));
    let mp4 = rec_dir.join("composite.mp4");
    let s = streams(&mp4);
    eprintln!("composite: {s:?}");
    for kind in ["video", "audio"] {
        let d = s.iter().find(|(k, _)| k == kind).unwrap_or_else(|| panic!("a {kind} stream: {s:?}")).1;
        assert!((d - recorded).abs() <= 1.0, "{kind} lasts {d} s, recorded {recorded} s");
    }
    let at = recorded / 2.0;
    let main = pixel(&mp4, at, (MAIN.0 / 2, MAIN.1 / 2));
    let thumb1 = pixel(&mp4, at, (THUMB.0 / 2, THUMB_Y + THUMB.1 / 2));
    let thumb2 = pixel(&mp4, at, (THUMB.0 + THUMB.0 / 2, THUMB_Y + THUMB.1 / 2));
    eprintln!("composite at {at:.1} s: large {main:?}, thumbnails {thumb1:?} {thumb2:?}");
    assert!(is_blue(main), "the floor holder (blue) is large: {main:?}");
    assert!(is_red(thumb1) && is_blue(thumb2), "p1 (red), then p2 (blue) below: {thumb1:?} {thumb2:?}");

    // The second recording, cut by SIGKILL.
    wait("recording2", 60).await.expect("join");
    tokio::time::sleep(Duration::from_secs(5)).await;
    child.kill();
    child = server.start().await;
    std::fs::write(sync.join("restarted"), "").expect("write");
    wait("back", 120).await.expect("join");
    tokio::time::sleep(Duration::from_secs(3)).await;
    child.stop();
    std::fs::write(sync.join("finish"), "").expect("write");
    let node_ok =
        tokio::task::spawn_blocking(move || node.wait().expect("node").success()).await.expect("join");

    let all = scan(&root);
    let states: Vec<(RecState, Option<String>)> =
        all.iter().map(|(_, m)| (m.state, m.stop_reason.clone())).collect();
    eprintln!("recordings, newest first: {states:?}");
    if all.len() != 3 || !node_ok {
        server.print_log_tail(120);
    }
    assert_eq!(all.len(), 3, "{states:?}");
    assert!(node_ok, "the Chromium side failed (its report is above)");
    let (cut_dir, cut) = &all[1];
    assert_eq!(cut.state, RecState::Interrupted, "the killed one: {cut:?}");
    let cut_secs = cut.duration_ms() as f64 / 1000.0;
    assert!(cut_secs >= 3.0, "it ran about 5 s before the kill: {cut_secs}");
    // Up to its last flushed second (the manifest's last write).
    check_tracks(cut_dir, cut, cut_secs, 1.5);
    let (_, again) = &all[0];
    assert_eq!(again.state, RecState::Stopped, "the meeting recorded again after the restart: {again:?}");
    assert_eq!(again.stop_reason.as_deref(), Some("server_stopped"));
    assert!(again.tracks.iter().any(|t| t.kind == "video" && t.frames > 0), "{:?}", again.tracks);
    std::fs::remove_dir_all(&dir).ok();
}
