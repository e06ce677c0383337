//! Composition (`huiyi recording compose ID`): one MP4 (H.264 + AAC, plays
//! everywhere) from a recording's track files, laid out as the meeting
//! went: the floor holder large (else the broadcast source, the spotlight,
//! the active speaker, the first camera), every video as a thumbnail below,
//! names on the tiles, every microphone mixed. Built by Debian's `ffmpeg`
//! from the manifest alone, so the same recording composes the same way.
//!
//! [`plan`] turns a manifest into ffmpeg's arguments (pure, tested);
//! [`compose`] runs it, reporting progress into `compose.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, TrackFile};

/// The composite's picture and rate.
pub const WIDTH: u32 = 1280;
/// The composite's picture height.
pub const HEIGHT: u32 = 720;
/// Frames per second.
pub const FPS: u32 = 15;
/// The large tile (top).
pub const MAIN: (u32, u32) = (1280, 540);
/// A thumbnail (the strip below), at most this many.
pub const THUMB: (u32, u32) = (256, 144);
/// Thumbnails in the strip.
pub const THUMBS: usize = 5;
/// The strip's top.
pub const THUMB_Y: u32 = 558;
/// The composite's file name in the recording's directory.
pub const OUTPUT: &str = "composite.mp4";

/// A CJK font for the names (Debian's fonts-noto-cjk), if installed.
const FONTS: [&str; 2] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
];

/// Where a composition stands (`compose.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComposeState {
    /// `composing`, `ready` or `failed`.
    pub state: String,
    /// 0 to 1.
    pub progress: f64,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ComposeState {
    /// Reads `dir/compose.json`.
    pub fn load(dir: &Path) -> Option<ComposeState> {
        serde_json::from_slice(&std::fs::read(dir.join("compose.json")).ok()?).ok()
    }

    fn save(&self, dir: &Path) {
        if let Ok(json) = serde_json::to_vec(self) {
            let tmp = dir.join("compose.json.tmp");
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(tmp, dir.join("compose.json"));
            }
        }
    }
}

/// Who is large from when to when (seconds from the recording's start).
pub fn main_speaker(m: &Manifest, with_video: &[String]) -> Vec<(f64, f64, String)> {
    let end = m.duration_ms() as f64 / 1000.0;
    let (mut floor, mut broadcast, mut spotlight, mut speaker) = (None, None::<String>, None, None);
    let pick = |floor: &Option<String>, b: &Option<String>, s: &Option<String>, sp: &Option<String>| {
        [floor, b, s, sp]
            .into_iter()
            .flatten()
            .find(|p| with_video.contains(p))
            .cloned()
            .or_else(|| with_video.first().cloned())
    };
    let mut out: Vec<(f64, f64, String)> = Vec::new();
    let push = |at: f64, who: Option<String>, out: &mut Vec<(f64, f64, String)>| {
        if let Some(last) = out.last_mut() {
            last.1 = at;
            if Some(&last.2) == who.as_ref() {
                return;
            }
            if last.1 <= last.0 {
                out.pop();
            }
        }
        if let Some(w) = who {
            if out.last().is_some_and(|l| l.2 == w) {
                return;
            }
            out.push((at, end, w));
        }
    };
    push(0.0, pick(&floor, &broadcast, &spotlight, &speaker), &mut out);
    for e in &m.events {
        let at = (e.at.saturating_sub(m.started_at) as f64 / 1000.0).min(end);
        match e.kind.as_str() {
            "floor" => floor = e.participant.clone(),
            "broadcast" => {
                broadcast =
                    e.value.as_array().and_then(|a| a.first()).and_then(|v| v.as_str()).map(str::to_string)
            }
            "spotlight" => spotlight = e.participant.clone(),
            "speaker" => {
                if e.participant.is_some() {
                    speaker = e.participant.clone();
                }
            }
            _ => continue,
        }
        push(at, pick(&floor, &broadcast, &spotlight, &speaker), &mut out);
    }
    if let Some(last) = out.last_mut() {
        last.1 = end;
    }
    out.retain(|s| s.1 > s.0);
    out
}

/// The video files for the composite, each with its participant's slot
/// (participants in id order): of each track one simulcast layer, every
/// file of it (a track that paused and came back has several); a
/// participant's cameras first, screens after (drawn over them). The layer
/// is the highest that lasts (nearly) as long as the longest: a publisher
/// stops sending a layer nobody watches, or its link cannot carry, and a
/// tile must not go blank when its top layer stops.
fn videos(m: &Manifest) -> Vec<(usize, &TrackFile)> {
    let usable = || {
        m.tracks
            .iter()
            .filter(|t| t.kind == "video" && (t.codec == "vp8" || t.codec == "h264") && t.frames > 0)
    };
    let span = |track: u64, layer: u8| -> u64 {
        usable()
            .filter(|t| t.track == track && t.layer == layer)
            .map(|t| t.last_at.saturating_sub(t.first_at))
            .sum()
    };
    let top = |track: u64| {
        let layers: Vec<u8> = usable().filter(|t| t.track == track).map(|t| t.layer).collect();
        let longest = layers.iter().map(|l| span(track, *l)).max().unwrap_or(0);
        layers.into_iter().filter(|l| span(track, *l) * 10 >= longest * 9).max()
    };
    let mut who: Vec<&str> = usable().map(|t| t.participant.as_str()).collect();
    who.sort_unstable();
    who.dedup();
    let mut out: Vec<(usize, &TrackFile)> = usable()
        .filter(|t| top(t.track) == Some(t.layer))
        .filter_map(|t| who.iter().position(|p| *p == t.participant).map(|slot| (slot, t)))
        .collect();
    out.sort_by_key(|(slot, t)| (*slot, t.source == "screen", t.first_at));
    out
}

/// The file ffmpeg reads for a track: an H.264 track's timed copy.
fn input_file(t: &TrackFile) -> String {
    if t.codec == "h264" {
        format!("{}.mkv", t.file)
    } else {
        t.file.clone()
    }
}

/// Makes each H.264 track of `m` into Matroska (ffmpeg cannot time raw
/// H.264); a track that cannot be is left out of the composite (logged).
fn timed_h264(dir: &Path, m: &mut Manifest) {
    m.tracks.retain(|t| {
        if t.codec != "h264" || t.frames == 0 {
            return true;
        }
        let (h264, pts) = (dir.join(&t.file), dir.join(format!("{}.pts", t.file)));
        match super::h264mkv::convert(&h264, &pts, &dir.join(input_file(t))) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(file = %t.file, error = %e, "an H.264 track is left out of the composite");
                false
            }
        }
    });
}

/// A path or text for ffmpeg's filter syntax.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'").replace(':', "\\:").replace(',', "\\,")
}

/// ffmpeg's arguments for `m` in `dir`, writing `out`; names go to text
/// files in `dir` (never into the filter text). `font`: a CJK font.
pub fn plan(m: &Manifest, dir: &Path, out: &Path, font: Option<&Path>) -> std::io::Result<Vec<String>> {
    let dur = (m.duration_ms() as f64 / 1000.0).max(0.1);
    let offset = |t: &TrackFile| t.first_at.saturating_sub(m.started_at) as f64 / 1000.0;
    let vids = videos(m);
    let auds: Vec<&TrackFile> = m.tracks.iter().filter(|t| t.kind == "audio" && t.frames > 0).collect();
    let mut args: Vec<String> =
        ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"].map(String::from).to_vec();
    // Video is shifted to its place by the input offset; audio by adelay
    // in the graph (an input offset as well would count twice).
    for (_, t) in &vids {
        args.extend([
            "-itsoffset".into(),
            format!("{:.3}", offset(t)),
            "-i".into(),
            dir.join(input_file(t)).display().to_string(),
        ]);
    }
    for t in &auds {
        args.extend(["-i".into(), dir.join(&t.file).display().to_string()]);
    }
    let mut who: Vec<String> = vids.iter().map(|(_, v)| v.participant.clone()).collect();
    who.dedup();
    let segments = main_speaker(m, &who);
    let mut f: Vec<String> = vec![format!("color=c=0x1e1e1e:s={WIDTH}x{HEIGHT}:r={FPS}:d={dur:.3}[base]")];
    let mut last = "base".to_string();
    let mut n = 0;
    let mut label = |f: &mut Vec<String>, input: &str, filter: String| {
        n += 1;
        let l = format!("v{n}");
        f.push(format!("[{last}][{input}]{filter}[{l}]"));
        last = l;
    };
    for (k, (i, v)) in vids.iter().enumerate() {
        let (i, k) = (*i, k);
        let windows: Vec<String> = segments
            .iter()
            .filter(|s| s.2 == v.participant)
            .map(|s| format!("between(t,{:.3},{:.3})", s.0, s.1))
            .collect();
        let thumb = i < THUMBS;
        let outs = usize::from(!windows.is_empty()) + usize::from(thumb);
        if outs == 0 {
            continue;
        }
        let fit = |(w, h): (u32, u32)| {
            format!("scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x000000")
        };
        let mut chain = format!("[{k}:v]fps={FPS},setsar=1");
        if let Some(font) = font {
            let name = dir.join(format!("name{i}.txt"));
            std::fs::write(&name, &v.name)?;
            chain += &format!(
                ",drawtext=fontfile='{}':textfile='{}':expansion=none:fontsize=h/12:fontcolor=white:box=1:boxcolor=black@0.5:x=8:y=h-th-8",
                escape(&font.display().to_string()),
                escape(&name.display().to_string())
            );
        }
        chain += &format!(",split={outs}");
        if !windows.is_empty() {
            chain += &format!("[big{k}]");
        }
        if thumb {
            chain += &format!("[th{k}]");
        }
        f.push(chain);
        if !windows.is_empty() {
            f.push(format!("[big{k}]{}[bigs{k}]", fit(MAIN)));
            let enable = windows.join("+");
            label(&mut f, &format!("bigs{k}"), format!("overlay=0:0:eof_action=pass:enable='{enable}'"));
        }
        if thumb {
            f.push(format!("[th{k}]{}[ths{k}]", fit(THUMB)));
            let x = i as u32 * THUMB.0;
            label(&mut f, &format!("ths{k}"), format!("overlay={x}:{THUMB_Y}:eof_action=pass"));
        }
    }
    f.push(format!("[{last}]null[vout]"));
    if auds.is_empty() {
        f.push(format!("anullsrc=r=48000:cl=mono:d={dur:.3}[aout]"));
    } else {
        let mut mix = String::new();
        for (k, a) in auds.iter().enumerate() {
            let ms = (offset(a) * 1000.0).round() as u64;
            f.push(format!("[{}:a]adelay=delays={ms}:all=1[a{k}]", vids.len() + k));
            mix += &format!("[a{k}]");
        }
        f.push(format!(
            "{mix}amix=inputs={}:normalize=0:duration=longest,apad,atrim=0:{dur:.3}[aout]",
            auds.len()
        ));
    }
    // In a file: a long meeting's graph outgrows one argument (128 KiB).
    let script = dir.join("compose.filter");
    std::fs::write(&script, f.join(";\n"))?;
    args.extend(["-filter_complex_script".into(), script.display().to_string()]);
    args.extend(
        [
            "-map", "[vout]", "-map", "[aout]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "26",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-t",
        ]
        .map(String::from),
    );
    args.push(format!("{dur:.3}"));
    args.extend(["-movflags", "+faststart", "-progress", "pipe:1", "-nostats"].map(String::from));
    args.push(out.display().to_string());
    Ok(args)
}

/// Composes recording `dir` with `ffmpeg`, writing `composite.mp4` and its
/// progress to `compose.json`. Returns the output's path.
pub fn compose(ffmpeg: &str, dir: &Path, progress: impl FnMut(f64)) -> Result<PathBuf, String> {
    let m = Manifest::load(dir).map_err(|e| format!("no readable manifest in {}: {e}", dir.display()))?;
    if m.state == super::RecState::Recording {
        return Err("the recording is still running; stop it first".into());
    }
    let mut state = ComposeState { state: "composing".into(), progress: 0.0, error: None };
    state.save(dir);
    let mut m = m;
    timed_h264(dir, &mut m);
    let result = run(ffmpeg, dir, &m, &mut state, progress);
    if let Err(error) = &result {
        state.state = "failed".into();
        state.error = Some(error.clone());
        state.save(dir);
    }
    result
}

/// Marks a composition as one this process runs; `None` if one already
/// runs for `dir` (a second request while the first composes).
pub fn claim(dir: &Path) -> Option<Claim> {
    let running = RUNNING.get_or_init(Default::default);
    let mut set = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    set.insert(dir.to_path_buf()).then(|| Claim(dir.to_path_buf()))
}

static RUNNING: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<PathBuf>>> =
    std::sync::OnceLock::new();

/// A running composition (see [`claim`]); released when dropped.
pub struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(running) = RUNNING.get() {
            running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.0);
        }
    }
}

/// A composition the server left `composing` when it stopped has failed.
pub fn recover(dir: &Path) {
    if ComposeState::load(dir).is_some_and(|c| c.state == "composing") {
        let error = Some("the server stopped while composing; compose it again".to_string());
        ComposeState { state: "failed".into(), progress: 0.0, error }.save(dir);
    }
}

fn run(
    ffmpeg: &str,
    dir: &Path,
    m: &Manifest,
    state: &mut ComposeState,
    mut progress: impl FnMut(f64),
) -> Result<PathBuf, String> {
    let font = FONTS.iter().map(Path::new).find(|p| p.exists());
    let partial = dir.join("composite.partial.mp4");
    let args = plan(m, dir, &partial, font).map_err(|e| format!("cannot prepare the composition: {e}"))?;
    let dur = (m.duration_ms() as f64 / 1000.0).max(0.1);
    // ffmpeg's messages go to a file: a pipe nobody reads while the
    // progress is read could fill and stop it.
    let log = std::fs::File::create(dir.join("compose.log")).map_err(|e| format!("compose.log: {e}"))?;
    let mut child =
        Command::new(ffmpeg).args(&args).stdout(Stdio::piped()).stderr(Stdio::from(log)).spawn().map_err(
            |e| format!("cannot run {ffmpeg}: {e} (install it: apt install ffmpeg, or set recording.ffmpeg)"),
        )?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(us) = line.strip_prefix("out_time_us=").and_then(|v| v.trim().parse::<f64>().ok()) {
                state.progress = (us / 1e6 / dur).clamp(0.0, 1.0);
                state.save(dir);
                progress(state.progress);
            }
        }
    }
    let status = child.wait().map_err(|e| format!("ffmpeg: {e}"))?;
    if !status.success() {
        let err = std::fs::read_to_string(dir.join("compose.log")).unwrap_or_default();
        let tail: String = err.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!("ffmpeg failed ({status}): {}", tail.trim()));
    }
    let done = dir.join(OUTPUT);
    std::fs::rename(&partial, &done).map_err(|e| format!("cannot move the composite into place: {e}"))?;
    state.state = "ready".into();
    state.progress = 1.0;
    state.save(dir);
    progress(1.0);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::manifest::{RecEvent, RecState, VERSION};

    fn track(file: &str, pid: &str, kind: &str, layer: u8, first_at: u64) -> TrackFile {
        TrackFile {
            file: file.into(),
            // One track per participant and kind.
            track: u64::from(pid.as_bytes()[1]) * 2 + u64::from(kind == "video"),
            participant: pid.into(),
            name: format!("名{pid}"),
            kind: kind.into(),
            source: if kind == "audio" { "microphone" } else { "camera" }.into(),
            codec: if kind == "audio" { "opus" } else { "vp8" }.into(),
            layer,
            first_at,
            last_at: first_at + 1000,
            frames: 10,
            bytes: 100,
            width: 320,
            height: 240,
        }
    }

    fn ev(at: u64, kind: &str, who: Option<&str>) -> RecEvent {
        RecEvent {
            at,
            kind: kind.into(),
            participant: who.map(str::to_string),
            value: serde_json::Value::Null,
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            version: VERSION,
            id: "r1".into(),
            meeting: "m1".into(),
            title: "例会".into(),
            state: RecState::Stopped,
            stop_reason: None,
            started_by: "p1".into(),
            started_at: 1_000_000,
            stopped_at: Some(1_020_000),
            updated_at: 1_020_000,
            tracks: vec![
                track("a.ivf", "p2", "video", 0, 1_000_500),
                track("b.ivf", "p2", "video", 2, 1_000_500),
                track("c.ivf", "p1", "video", 0, 1_001_000),
                track("d.ogg", "p1", "audio", 0, 1_000_200),
                // p2's camera again after a pause, in a second file.
                track("e.ivf", "p2", "video", 2, 1_015_000),
            ],
            events: vec![
                ev(1_005_000, "speaker", Some("p2")),
                ev(1_010_000, "floor", Some("p1")),
                ev(1_012_000, "speaker", None),
            ],
            dropped_packets: 0,
            lost_packets: 0,
            bytes: 0,
        }
    }

    #[test]
    fn a_tile_takes_the_layer_that_lasts_not_one_that_stopped() {
        let mut m = manifest();
        // p2's top layer stops after 2 s of its 15; its middle one goes on.
        m.tracks = vec![
            TrackFile { last_at: 1_002_500, ..track("top.h264", "p2", "video", 2, 1_000_500) },
            TrackFile { last_at: 1_015_500, ..track("mid.h264", "p2", "video", 1, 1_000_500) },
            TrackFile { last_at: 1_015_500, ..track("low.h264", "p2", "video", 0, 1_000_500) },
        ];
        for t in &mut m.tracks {
            t.codec = "h264".into();
        }
        let files: Vec<&str> = videos(&m).iter().map(|(_, t)| t.file.as_str()).collect();
        assert_eq!(files, ["mid.h264"], "the highest layer that lasts");
        // A top layer that lasts as long is taken.
        m.tracks[0].last_at = 1_015_000;
        let files: Vec<&str> = videos(&m).iter().map(|(_, t)| t.file.as_str()).collect();
        assert_eq!(files, ["top.h264"]);
        let dir = std::env::temp_dir();
        let args = plan(&m, &dir, &dir.join("out.mp4"), None).expect("plan");
        assert!(
            args.iter().any(|a| a.ends_with("top.h264.mkv")),
            "H.264 is read from its timed copy: {args:?}"
        );
    }

    #[test]
    fn the_large_tile_follows_the_floor_then_the_speaker() {
        let m = manifest();
        let s = main_speaker(&m, &["p1".into(), "p2".into()]);
        assert_eq!(s, [(0.0, 5.0, "p1".into()), (5.0, 10.0, "p2".into()), (10.0, 20.0, "p1".into())]);
    }

    #[test]
    fn the_plan_takes_the_highest_layer_and_every_microphone_in_place() {
        let m = manifest();
        let dir = std::env::temp_dir().join(format!("huiyi-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let args = plan(&m, &dir, &dir.join("out.mp4"), None).expect("plan");
        let files: Vec<String> = args.windows(2).filter(|w| w[0] == "-i").map(|w| w[1].clone()).collect();
        assert_eq!(files.len(), 4, "p1's camera, p2's best layer (both files), p1's microphone: {files:?}");
        assert!(files[0].ends_with("c.ivf") && files[1].ends_with("b.ivf") && files[2].ends_with("e.ivf"));
        assert!(files[3].ends_with("d.ogg"));
        let script = &args[args.iter().position(|a| a == "-filter_complex_script").expect("graph") + 1];
        let graph = &std::fs::read_to_string(script).expect("the graph");
        assert!(graph.contains("[3:a]adelay=delays=200:all=1"), "audio after the three videos: {graph}");
        assert!(graph.contains("overlay=256:558"), "p2's thumbnail, both its files: {graph}");
        assert!(graph.contains("adelay=delays=200:all=1"), "{graph}");
        assert!(graph.contains("between(t,5.000,10.000)"), "{graph}");
        assert!(args.windows(2).any(|w| w[0] == "-t" && w[1] == "20.000"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
