//! The live feed for the county portal (嘉宾网谈, training sessions watched
//! by the public): a meeting's main picture and its voices as HLS, made by
//! Debian's ffmpeg from the packets the media plane taps (ADR 0017).
//!
//! The secretary starts and stops it; everyone in the meeting sees 直播中.
//! Viewers need no account: the console hands out a signed link that
//! expires (`recording.live_link_hours`), under which the playlist
//! (`index.m3u8`) and its segments are served, to any player or to the
//! portal's own web server to relay.

pub mod feed;
pub mod mkv;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use huiyi_config::RecordingConfig;
use huiyi_sfu::{RoomId, SfuHandle, Tap, TapCodec, TapKind};

use crate::recording::RecView;
use crate::token::Signer;
use feed::{Feed, Note, SLOTS};

/// Segment length (s) and how many the playlist lists.
const SEGMENT_SECS: u32 = 2;
const WINDOW: u32 = 6;
/// Frame rate of the feed's video.
const FPS: u32 = 15;

/// Every live feed of this server.
#[derive(Clone)]
pub struct Lives {
    root: PathBuf,
    cfg: RecordingConfig,
    sfu: SfuHandle,
    signer: Arc<Signer>,
    /// The feeds running: meeting → since (Unix ms).
    running: Arc<Mutex<std::collections::HashMap<String, u64>>>,
}

/// One meeting's running feed.
pub struct Live {
    meeting: String,
    running: Arc<Mutex<std::collections::HashMap<String, u64>>>,
    notes: crossbeam_channel::Sender<Note>,
    thread: Option<std::thread::JoinHandle<Option<String>>>,
    ffmpeg: Arc<Mutex<Child>>,
    room: RoomId,
    sfu: SfuHandle,
}

/// A viewer link's parts: the token in its path and when it expires (Unix s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerLink {
    /// The path of the playlist.
    pub path: String,
    /// Unix seconds.
    pub expires: u64,
}

/// A link to meeting `meeting`'s playlist, signed with the server's key,
/// valid until `expires` (Unix s).
pub fn viewer_link(signer: &Signer, meeting: &str, expires: u64) -> ViewerLink {
    let tag = signer.tag(&format!("live:{meeting}:{expires}"));
    ViewerLink { path: format!("/live/{meeting}/{expires}.{tag}/index.m3u8"), expires }
}

impl Lives {
    /// The feeds under `data_dir`/`live`.
    pub fn new(data_dir: &Path, cfg: &RecordingConfig, sfu: SfuHandle, signer: Arc<Signer>) -> Self {
        let running = Arc::default();
        Lives { root: data_dir.join("live"), cfg: cfg.clone(), sfu, signer, running }
    }

    /// Since when meeting `meeting`'s feed runs (Unix ms), if it does.
    pub fn since(&self, meeting: &str) -> Option<u64> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(meeting).copied()
    }

    fn dir(&self, meeting: &str) -> PathBuf {
        // Meeting ids are the scheduler's (letters, digits, `-`, `_`).
        self.root.join(meeting)
    }

    /// A signed link to meeting `meeting`'s playlist, valid from `now` (Unix s).
    pub fn link(&self, meeting: &str, now: u64) -> ViewerLink {
        viewer_link(&self.signer, meeting, now + u64::from(self.cfg.live_link_hours) * 3600)
    }

    /// Whether `token` (a link's `{expires}.{tag}`) opens meeting's feed at `now`.
    pub fn check(&self, meeting: &str, token: &str, now: u64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else { return false };
        let Ok(expires) = expires.parse::<u64>() else { return false };
        expires > now && self.signer.check_tag(&format!("live:{meeting}:{expires}"), tag)
    }

    /// The feed's file `name` (the playlist or a segment), if it exists.
    pub fn file(&self, meeting: &str, name: &str) -> Option<PathBuf> {
        let segment = name.strip_prefix("seg").and_then(|n| n.strip_suffix(".ts"));
        let valid = name == "index.m3u8"
            || segment.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let safe_meeting = !meeting.is_empty()
            && meeting.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let path = self.dir(meeting).join(name);
        (valid && safe_meeting && path.is_file()).then_some(path)
    }

    /// The ffmpeg command that turns the feed's stream into HLS in `dir`.
    fn command(&self, dir: &Path) -> Command {
        let h = self.cfg.live_height;
        let w = (h * 16 / 9) & !1;
        let kbps = self.cfg.live_video_kbps;
        let video = format!(
            "[0:v:0]fps={FPS},scale={w}:{h}:force_original_aspect_ratio=decrease,\
             pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x263238,format=yuv420p[v]"
        );
        let inputs: String = (0..SLOTS).map(|n| format!("[0:a:{n}]")).collect();
        let audio = format!("{inputs}amix=inputs={SLOTS}:normalize=0,aresample=async=1000[a]");
        let mut c = Command::new(&self.cfg.ffmpeg);
        c.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-f", "matroska", "-i", "pipe:0"])
            .args(["-filter_complex", &video, "-filter_complex", &audio, "-map", "[v]", "-map", "[a]"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main"])
            .args([
                "-b:v",
                &format!("{kbps}k"),
                "-maxrate",
                &format!("{kbps}k"),
                "-bufsize",
                &format!("{}k", kbps * 2),
            ])
            .args(["-g", &(FPS * SEGMENT_SECS).to_string(), "-keyint_min", &(FPS * SEGMENT_SECS).to_string()])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-ac", "2"])
            .args([
                "-f",
                "hls",
                "-hls_time",
                &SEGMENT_SECS.to_string(),
                "-hls_list_size",
                &WINDOW.to_string(),
            ])
            .args([
                "-hls_flags",
                "delete_segments+independent_segments+omit_endlist+append_list+discont_start",
            ])
            .arg("-hls_segment_filename")
            .arg(dir.join("seg%05d.ts"))
            .arg(dir.join("index.m3u8"));
        c
    }

    /// Starts meeting `meeting`'s feed from media room `room`, whose video
    /// is in `codec`. `fresh`: a new feed (its directory emptied); else the
    /// playlist goes on where the last feed left it (the meeting changed
    /// its codec: players see a discontinuity, not a new stream).
    pub async fn start(
        &self,
        meeting: &str,
        room: RoomId,
        codec: TapCodec,
        fresh: bool,
    ) -> Result<Live, String> {
        let dir = self.dir(meeting);
        if fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let placeholder = placeholder(&self.cfg.ffmpeg, codec)?;
        let log = std::fs::File::create(dir.join("ffmpeg.log"))
            .map_err(|e| format!("cannot write the log: {e}"))?;
        let mut child = self
            .command(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {} (recording.ffmpeg): {e}", self.cfg.ffmpeg))?;
        let stdin = child.stdin.take().ok_or("ffmpeg has no input")?;
        let (tap, packets) = Tap::new(self.cfg.queue_packets);
        let (notes, notes_rx) = crossbeam_channel::bounded(256);
        let ffmpeg = Arc::new(Mutex::new(child));
        let runtime = tokio::runtime::Handle::current();
        let feed = Feed::new(stdin, codec, placeholder, Some((self.sfu.clone(), room, runtime)))
            .map_err(|e| format!("ffmpeg stopped at once: {e}"))?;
        let id = meeting.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("live-{meeting}"))
            .spawn(move || {
                let error = feed.run(packets, notes_rx);
                if let Some(e) = &error {
                    tracing::warn!(meeting = %id, error = %e, "the live feed stopped");
                }
                error
            })
            .map_err(|e| format!("cannot start the feed: {e}"))?;
        let running = self.running.clone();
        let live = Live {
            meeting: meeting.into(),
            running,
            notes,
            thread: Some(thread),
            ffmpeg,
            room,
            sfu: self.sfu.clone(),
        };
        if let Err(e) = self.sfu.set_tap(room, TapKind::Live, Some(tap)).await {
            live.stop().await;
            return Err(format!("the media plane refused: {e}"));
        }
        let now = crate::clock::unix_millis();
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(meeting.into(), now);
        tracing::info!(meeting = %meeting, dir = %dir.display(), "live feed started");
        Ok(live)
    }
}

/// A keyframe (a plain dark picture) in `codec` shown before the meeting's
/// first picture, made once by ffmpeg: VP8, or H.264 in Annex B with its
/// parameter sets.
fn placeholder(ffmpeg: &str, codec: TapCodec) -> Result<Vec<u8>, String> {
    static VP8: OnceLock<Vec<u8>> = OnceLock::new();
    static H264: OnceLock<Vec<u8>> = OnceLock::new();
    let h264 = codec == TapCodec::H264;
    let (made, encoder, format) = if h264 { (&H264, "libx264", "h264") } else { (&VP8, "libvpx", "ivf") };
    if let Some(frame) = made.get() {
        return Ok(frame.clone());
    }
    let out = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=c=0x263238:s=640x360:d=1"])
        .args(["-frames:v", "1", "-pix_fmt", "yuv420p", "-c:v", encoder, "-f", format, "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {ffmpeg} (recording.ffmpeg): {e}"))?;
    let frame = if h264 {
        Some(&out.stdout[..]).filter(|f| !f.is_empty())
    } else {
        // IVF: a 32-byte file header, a 12-byte frame header, the frame.
        out.stdout.get(44..).filter(|f| !f.is_empty() && f[0] & 1 == 0)
    };
    let frame =
        frame.ok_or_else(|| format!("{ffmpeg} made no picture: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(made.get_or_init(|| frame.to_vec()).clone())
}

impl Live {
    /// Tells the feed how the meeting is now; false if it is behind.
    pub fn view(&self, view: RecView) -> bool {
        self.notes.try_send(Note::View(view)).is_ok()
    }

    /// The feed stopped by itself (ffmpeg went).
    pub fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(std::thread::JoinHandle::is_finished)
    }

    /// Stops: the media plane lets go of the tap, the feed's input ends and
    /// ffmpeg writes its last segment (killed if it takes over 5 s).
    pub async fn stop(mut self) {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.meeting);
        let _ = self.sfu.set_tap(self.room, TapKind::Live, None).await;
        let _ = self.notes.send(Note::Stop);
        let (thread, ffmpeg) = (self.thread.take(), self.ffmpeg.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let end = std::time::Instant::now() + Duration::from_secs(5);
            let done = |t: &Option<std::thread::JoinHandle<Option<String>>>| {
                t.as_ref().is_none_or(std::thread::JoinHandle::is_finished)
            };
            while !done(&thread) && std::time::Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut child = ffmpeg.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !done(&thread) {
                let _ = child.kill(); // the feed is stuck writing to it
            }
            if let Some(t) = thread {
                let _ = t.join(); // its pipe closes: ffmpeg finishes
            }
            while std::time::Instant::now() < end {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        })
        .await;
    }
}
