//! The live feed (issue 16) with real browsers: two Chromium participants
//! (a red and a blue camera, tests/browser/live.test.mjs); the chair
//! broadcasts itself and goes live from its console. Under the signed
//! viewer link the HLS playlist lists segments that decode (`ffprobe`:
//! H.264 video and AAC audio, each about a segment long) and show the
//! broadcast source (red); after the chair gives the venue the floor, new
//! segments show the venue (blue). A WHEP viewer (Chromium, from a blank
//! page: another site) watches through the media plane and sees the venue;
//! its session ends with DELETE. A wrong or expired link is refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use huiyi_signaling::live::viewer_link;
use huiyi_signaling::token::{Role, Signer};
use huiyi_tests::process::{wait_file, ServerProcess};

const MEETING: &str = "live-test";

/// A plain HTTP/1.1 GET: status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    request(addr, "GET", path, None)
}

/// A plain HTTP/1.1 request (with an SDP body, if any): status and body.
fn request(addr: SocketAddr, method: &str, path: &str, sdp: Option<&str>) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").expect("request");
    if let Some(body) = sdp {
        write!(s, "Content-Type: application/sdp\r\nContent-Length: {}\r\n", body.len()).expect("request");
    }
    write!(s, "\r\n{}", sdp.unwrap_or("")).expect("request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
    (status, raw[end..].to_vec())
}

/// The segments the playlist lists now.
fn segments(addr: SocketAddr, playlist: &str) -> Vec<String> {
    let (status, body) = get(addr, playlist);
    if status != 200 {
        return Vec::new();
    }
    String::from_utf8_lossy(&body).lines().filter(|l| l.ends_with(".ts")).map(str::to_string).collect()
}

/// Waits for a segment that was not listed before `after` and fetches it.
fn next_segment(addr: SocketAddr, playlist: &str, after: &[String], out: &Path) -> String {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let now = segments(addr, playlist);
        // The newest is still being written only if ffmpeg lists it early:
        // it lists a segment once it is complete.
        if let Some(name) = now.iter().rev().find(|s| !after.contains(s)) {
            let base = playlist.rsplit_once('/').expect("dir").0;
            let (status, body) = get(addr, &format!("{base}/{name}"));
            assert_eq!(status, 200, "{name}");
            std::fs::write(out, &body).expect("write");
            return name.clone();
        }
        assert!(Instant::now() < end, "no new segment in 60 s (listed: {now:?})");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// ffprobe's streams of a file: (codec, duration).
fn streams(path: &Path) -> Vec<(String, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(k, d)| (k.to_string(), d.parse().unwrap_or(0.0)))
        .collect()
}

/// Decodes the whole file without an error.
fn decodes(path: &Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .expect("ffmpeg")
        .success()
}

/// The loudest sample of the file's audio (dB), from ffmpeg's volumedetect.
fn max_volume(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let text = String::from_utf8_lossy(&out.stderr);
    let line =
        text.lines().find(|l| l.contains("max_volume:")).unwrap_or_else(|| panic!("volumedetect: {text}"));
    line.split("max_volume:")
        .nth(1)
        .and_then(|v| v.trim().trim_end_matches(" dB").parse().ok())
        .expect("a level")
}

/// Checks one segment: H.264 and AAC, about 2 s each, decoding; its colour.
fn check_segment(path: &Path) -> [u8; 3] {
    let s = streams(path);
    eprintln!("segment {}: {s:?}", path.display());
    for codec in ["h264", "aac"] {
        let d = s.iter().find(|(c, _)| c == codec).unwrap_or_else(|| panic!("{codec} in {s:?}")).1;
        assert!((1.0..=4.5).contains(&d), "{codec} lasts {d} s");
    }
    assert!(decodes(path), "{} decodes", path.display());
    // Chromium's fake microphone beeps: the voices are in the mix.
    let loudest = max_volume(path);
    assert!(loudest > -40.0, "the segment's audio is not silence: {loudest} dB");
    huiyi_tests::media_files::last_pixel(path, (320, 180))
}

fn log_has(dir: &Path, text: &str) -> bool {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default().contains(text)
}

fn is_red(c: [u8; 3]) -> bool {
    c[0] > 150 && c[1] < 90 && c[2] < 90
}

fn is_blue(c: [u8; 3]) -> bool {
    c[2] > 150 && c[0] < 90 && c[1] < 90
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_goes_live_as_hls() {
    huiyi_tests::init_logging();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    huiyi_tests::server::run_setup(&here.join("browser").join("setup.sh"));
    let dir = std::env::temp_dir().join(format!("huiyi-live-{}", std::process::id()));
    let sync = dir.join("sync");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&sync).expect("sync dir");
    let signer = Signer::load_or_create(&dir).expect("key");
    let exe = env!("CARGO_BIN_EXE_huiyi-server-for-tests");
    let mut server = ServerProcess::new(exe, &dir);
    // A small picture: the test machine encodes three streams at once.
    server.settings.push("recording.live_height=360".into());
    server.settings.push("recording.live_video_kbps=500".into());
    let mut child = server.start().await;
    let token =
        |pid, name, role| huiyi_tests::process::token(&signer, MEETING, "直播测试", (pid, name), role);
    let link = |pid, name, role| format!("http://{}/?token={}", server.http, token(pid, name, role));
    let now = huiyi_signaling::clock::unix_secs() as u64;
    let mut node = Command::new("node")
        .args(["--test", "--test-reporter=spec", "live.test.mjs"])
        .current_dir(here.join("browser"))
        .env("HUIYI_CHAIR_LINK", link("p1", "主会场", Role::Chair))
        .env("HUIYI_VENUE_LINK", link("p2", "城关镇", Role::Venue))
        .env("HUIYI_SYNC_DIR", &sync)
        .env(
            "HUIYI_WHEP_URL",
            format!(
                "http://{}{}",
                server.http,
                viewer_link(&signer, MEETING, now + 3600)
                    .path
                    .replace("/live/", "/whep/")
                    .replace("/index.m3u8", "")
            ),
        )
        .spawn()
        .expect("node");
    let playlist = viewer_link(&signer, MEETING, now + 3600).path;
    let addr = server.http;
    let (sync2, playlist2, out) = (sync.clone(), playlist.clone(), dir.clone());
    let checked = tokio::task::spawn_blocking(move || {
        wait_file(&sync2, "live-red", Duration::from_secs(180));
        // Segments made from now on show the broadcast source.
        let before = segments(addr, &playlist2);
        let first = next_segment(addr, &playlist2, &before, &out.join("red.ts"));
        let listed = segments(addr, &playlist2);
        let second = next_segment(addr, &playlist2, &listed, &out.join("red2.ts"));
        eprintln!("red segments: {first}, {second}");
        let red = check_segment(&out.join("red2.ts"));
        // A WHEP offer that is no SDP is refused as such, and nothing breaks.
        let whep = playlist2.replace("/live/", "/whep/").replace("/index.m3u8", "");
        let (status, body) = request(addr, "POST", &whep, Some("v=0\r\nthis is no offer\r\n"));
        assert_eq!(status, 400, "a malformed offer: {}", String::from_utf8_lossy(&body));
        std::fs::write(sync2.join("checked-red"), "").expect("write");
        wait_file(&sync2, "live-blue", Duration::from_secs(60));
        // The picture follows the floor within a segment or two.
        let mut blue = [0; 3];
        let mut seen = segments(addr, &playlist2);
        for i in 0..4 {
            let name = next_segment(addr, &playlist2, &seen, &out.join(format!("blue{i}.ts")));
            seen.push(name);
            blue = check_segment(&out.join(format!("blue{i}.ts")));
            if is_blue(blue) {
                break;
            }
        }
        std::fs::write(sync2.join("checked-blue"), "").expect("write");
        (red, blue)
    })
    .await;
    // Links that do not open it.
    let (status, _) = get(addr, &playlist.replace("/index.m3u8", "x/index.m3u8"));
    assert_eq!(status, 403, "a forged link is refused");
    let expired = viewer_link(&signer, MEETING, now - 1).path;
    assert_eq!(get(addr, &expired).0, 403, "an expired link is refused");
    let other = viewer_link(&signer, "another-meeting", now + 3600).path;
    assert_eq!(get(addr, &other.replace("another-meeting", MEETING)).0, 403, "another meeting's link");
    let node_ok =
        tokio::task::spawn_blocking(move || node.wait().expect("node").success()).await.expect("join");
    child.stop();
    let (red, blue) = match checked {
        Ok(colours) => colours,
        Err(e) => {
            server.print_log_tail(80);
            let log = std::fs::read_to_string(dir.join("live").join(MEETING).join("ffmpeg.log"))
                .unwrap_or_default();
            eprintln!("ffmpeg's log:\n{log}");
            panic!("the feed's checks failed: {e}");
        }
    };
    eprintln!("live feed: red phase {red:?}, blue phase {blue:?}");
    assert!(is_red(red), "the broadcast source (red) is shown: {red:?}");
    assert!(is_blue(blue), "the floor holder (blue) is shown: {blue:?}");
    assert!(node_ok, "the Chromium side failed (its report is above)");
    assert!(sync.join("whep-done").exists(), "the WHEP viewer watched");
    assert!(log_has(&dir, "a WHEP viewer joined"), "the server counted the viewer");
    // The meeting's own frames went out, not the last picture shown again.
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let end = log.lines().find(|l| l.contains("the live feed ends")).expect("the feed's last report");
    eprintln!("{end}");
    let count = |key: &str| -> u64 {
        let at = end.find(&format!("{key}: ")).unwrap_or_else(|| panic!("{key} in {end}")) + key.len() + 2;
        end[at..].split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a number")
    };
    let (frames, stills) = (count("frames"), count("stills"));
    assert!(frames >= 50, "the meeting's frames went out: {frames}");
    assert!(stills * 10 <= frames, "a picture shown again only while none came: {stills} of {frames}");
    // Two microphones on three audio tracks: two thirds are voices.
    let (voice, silence) = (count("voice"), count("silence"));
    assert!(silence * 2 <= voice, "the voices went out: {silence} of {voice} frames silent");
    std::fs::remove_dir_all(&dir).ok();
}
