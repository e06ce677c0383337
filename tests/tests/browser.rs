//! The browser client in real Chromium (Debian's package, driven by
//! playwright-core) against the whole server: signaling, join tokens, the
//! media plane. The scenario lives in `tests/browser/meeting.test.mjs`.

use std::path::PathBuf;
use std::process::Command;

use huiyi_signaling::token::Role;
use huiyi_tests::server::{run_setup, TestServer};

/// The browser scenarios run one at a time: each starts several Chromium
/// processes, and they share `tests/browser/node_modules` (set up once).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This test's turn with the browsers, once `tests/browser` is set up
/// (Chromium, fonts, node modules: `setup.sh`).
async fn browser_turn() -> tokio::sync::MutexGuard<'static, ()> {
    let turn = ONE_AT_A_TIME.lock().await;
    run_setup(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser").join("setup.sh"));
    turn
}

/// Runs one node scenario in `tests/browser` with the given environment;
/// its report goes straight to this process's output as it runs.
async fn node_scenario(file: &'static str, env: Vec<(&'static str, String)>) -> bool {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    let status = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", file])
            .current_dir(dir)
            .envs(env)
            .env("HUIYI_SCREENSHOTS", std::env::var("HUIYI_SCREENSHOTS").unwrap_or_default())
            .status()
    })
    .await
    .expect("join")
    .expect("run node");
    status.success()
}

/// The secretary's console: log in, schedule a meeting for two venues on
/// the organisation tree, open a venue's link in a second browser, and see
/// it counted present in the live status (tests/browser/console.test.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secretary_schedules_and_sees_a_venue_join() {
    let _turn = browser_turn().await;
    let server = TestServer::start_with(
        "console",
        |store| {
            use huiyi_signaling::store::{AccountRole, OrgKind, OrgUnit, Store};
            let unit = |id: &str, parent: Option<&str>, name: &str, kind| OrgUnit {
                id: id.into(),
                parent: parent.map(Into::into),
                name: name.into(),
                kind,
            };
            store
                .import_org(&[
                    unit("county", None, "某某县", OrgKind::County),
                    unit("t1", Some("county"), "城关镇", OrgKind::Township),
                    unit("v1", Some("t1"), "城关镇会议室", OrgKind::Venue),
                    unit("t2", Some("county"), "河口乡", OrgKind::Township),
                    unit("v2", Some("t2"), "河口乡会议室", OrgKind::Venue),
                ])
                .expect("org");
            huiyi_signaling::services::accounts::create_account(
                store,
                "mishu",
                "王秘书",
                AccountRole::Secretary,
                "Console-Test-2026",
                false,
            )
            .expect("account");
        },
        true,
    )
    .await;
    let env = vec![
        ("HUIYI_BASE", server.base.clone()),
        ("HUIYI_SECRETARY", "mishu".to_string()),
        ("HUIYI_PASSWORD", "Console-Test-2026".to_string()),
    ];
    let ok = node_scenario("console.test.mjs", env).await;
    server.stop().await;
    assert!(ok, "the console scenario failed (its report is above)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_meet_in_chromium() {
    let _turn = browser_turn().await;
    let server = TestServer::start_with("browser", |_| {}, true).await;
    let people = [("县政府办", Role::Chair), ("城关镇", Role::Venue), ("张三", Role::Participant)];
    let links = server.join_links("browser-test", "浏览器测试会议", &people);
    let env = vec![("HUIYI_LINKS", serde_json::to_string(&links).expect("json"))];
    let ok = node_scenario("meeting.test.mjs", env).await;
    server.stop().await;
    assert!(ok, "the meeting scenario failed (its report is above)");
}

/// Audio top-N's voice lines (ADR 0015) in Chromium: with top-N from two
/// participants on, the third to join hears the others on two voice lines
/// (tests/browser/voicelines.test.mjs). As in a large meeting, the third
/// joins a room "too large" for an estimator, so what it receives carries
/// no transport-wide sequence numbers (ADR 0027), and it still sees both
/// cameras and hears both voices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latecomer_hears_the_meeting_on_voice_lines() {
    let _turn = browser_turn().await;
    let server = TestServer::start_configured(
        "voicelines",
        |_| {},
        true,
        |config| {
            config.sfu.audio_top_n_min_peers = 2;
            config.sfu.audio_voice_lines = true;
            config.sfu.bwe_max_room_peers = 2;
        },
    )
    .await;
    // No chair: a chair's microphone is always heard, on a line of its own
    // beyond the N (the test counts exactly the N lines' worth).
    let people = [("城关镇", Role::Venue), ("河口乡", Role::Venue), ("东坝镇", Role::Venue)];
    let links = server.join_links("voicelines-test", "语音线路测试", &people);
    let env = vec![("HUIYI_LINKS", serde_json::to_string(&links).expect("json"))];
    let ok = node_scenario("voicelines.test.mjs", env).await;
    server.stop().await;
    assert!(ok, "the voice lines scenario failed (its report is above)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h264_only_participant_meets_vp8_participants() {
    let _turn = browser_turn().await;
    let server = TestServer::start_with("h264", |_| {}, true).await;
    let people = [("县政府办", Role::Chair), ("城关镇", Role::Venue), ("会议终端", Role::Venue)];
    let links = server.join_links("h264-test", "H.264 终端测试", &people);
    let env = vec![("HUIYI_LINKS", serde_json::to_string(&links).expect("json"))];
    let ok = node_scenario("h264.test.mjs", env).await;
    assert!(ok, "the H.264 scenario failed (its report is above)");
    // The recording of an H.264 meeting composes with its pictures: its
    // tracks are H.264 (Annex B), timed into Matroska for ffmpeg.
    let recordings = huiyi_signaling::recording::scan(&server.data_dir().join("recordings"));
    assert_eq!(recordings.len(), 1, "one recording");
    let (rec, m) = &recordings[0];
    let h264: Vec<_> = m.tracks.iter().filter(|t| t.codec == "h264" && t.frames > 0).collect();
    assert!(h264.len() >= 3, "every camera recorded in H.264: {:?}", m.tracks);
    for t in &m.tracks {
        eprintln!(
            "track {} {} {} layer {} frames {} from {} to {} (recording {}..{:?})",
            t.file,
            t.participant,
            t.codec,
            t.layer,
            t.frames,
            t.first_at,
            t.last_at,
            m.started_at,
            m.stopped_at
        );
    }
    let composite = huiyi_signaling::recording::compose::compose("ffmpeg", rec, |_| {}).expect("composed");
    let recorded = m.duration_ms() as f64 / 1000.0;
    let s = huiyi_tests::media_files::streams(&composite);
    let video = s.iter().find(|(k, _)| k == "video").map(|v| v.1).unwrap_or(0.0);
    assert!((video - recorded).abs() <= 1.0, "video of {video} s, recorded {recorded} s: {s:?}");
    use huiyi_signaling::recording::compose::{THUMB, THUMB_Y};
    for i in 0..3u32 {
        let c = huiyi_tests::media_files::pixel(
            &composite,
            recorded / 2.0,
            (THUMB.0 * i + THUMB.0 / 2, THUMB_Y + THUMB.1 / 2),
        );
        eprintln!("composite: thumbnail {i} at its centre {c:?}");
        // Chromium's fake camera is green; the composite's background is grey.
        assert!(c[1] > 100 && c[1] > c[0] + 40, "thumbnail {i} shows its H.264 camera: {c:?}");
    }
    // The live feed of an H.264 meeting shows its pictures (not the slate).
    let live = server.data_dir().join("live").join("h264-test");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&live)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "ts")).collect())
        .unwrap_or_default();
    segments.sort();
    assert!(segments.len() >= 3, "the feed made segments: {segments:?}");
    let seg = &segments[segments.len() - 2];
    let s = huiyi_tests::media_files::streams(seg);
    assert!(s.iter().any(|(k, _)| k == "video") && s.iter().any(|(k, _)| k == "audio"), "{s:?}");
    let c = huiyi_tests::media_files::last_pixel(seg, (640, 360));
    eprintln!("live feed of the H.264 meeting: {} at its centre {c:?}", seg.display());
    assert!(c[1] > 100 && c[1] > c[0] + 40, "the feed shows an H.264 camera: {c:?}");
    server.stop().await;
}
