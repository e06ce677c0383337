//! Recording (issue 16): each published track of a meeting written as it
//! arrives, off the media workers, with a manifest; listed, downloaded and
//! deleted from the console; composed into one MP4 afterwards (`compose`).
//!
//! A recording lives in its own directory under `recording.dir`:
//! `manifest.json` and one file per track and simulcast layer
//! (`track<N>-<layer>.ogg|ivf|h264`). The directory is the record: nothing
//! about a recording is kept elsewhere, so a crash can lose at most its last
//! second, and [`Recordings::recover`] marks what a crash left `interrupted`.

pub mod compose;
pub(crate) mod frames;
pub mod h264mkv;
mod ivf;
pub mod manifest;
pub(crate) mod ogg;
pub mod view;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use huiyi_config::RecordingConfig;
use huiyi_sfu::{RoomId, SfuHandle, Tap};

pub use manifest::{Manifest, RecState};
pub use view::{Person, RecView, TrackInfo};
use writer::{Note, Writer};

/// Every recording of this server.
#[derive(Clone)]
pub struct Recordings {
    root: PathBuf,
    cfg: RecordingConfig,
    sfu: SfuHandle,
    /// Manifests read, by directory, with their file's time and size: the
    /// console lists every few seconds, and a manifest is read again only
    /// when it changed.
    read: Arc<Mutex<HashMap<PathBuf, Stamped>>>,
}

/// A manifest as read, with its file's modification time and size.
type Stamped = (std::time::SystemTime, u64, Manifest);

/// A recording being written.
pub struct Recording {
    /// Its id.
    pub id: String,
    notes: crossbeam_channel::Sender<Note>,
    thread: Option<std::thread::JoinHandle<()>>,
    room: RoomId,
    sfu: SfuHandle,
}

impl Recordings {
    /// The recordings under `data_dir` (or `recording.dir` if absolute).
    pub fn new(data_dir: &Path, cfg: &RecordingConfig, sfu: SfuHandle) -> Self {
        Recordings { root: data_dir.join(&cfg.dir), cfg: cfg.clone(), sfu, read: Arc::default() }
    }

    /// Where they live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ffmpeg program that composes them.
    pub fn ffmpeg(&self) -> &str {
        &self.cfg.ffmpeg
    }

    /// At start: a recording still marked `recording` was cut by a crash;
    /// it becomes `interrupted`, stopped at its last write. Returns how many.
    pub fn recover(&self) -> usize {
        let mut n = 0;
        for (dir, mut m) in self.scan() {
            compose::recover(&dir);
            if m.state == RecState::Recording {
                m.state = RecState::Interrupted;
                m.stopped_at = Some(m.updated_at);
                m.stop_reason = Some("server_lost".into());
                m.tracks.retain(|t| t.frames > 0);
                match m.save(&dir) {
                    Ok(()) => n += 1,
                    Err(e) => {
                        tracing::error!(recording = %m.id, error = %e, "cannot mark the recording interrupted")
                    }
                }
            }
        }
        n
    }

    /// Starts recording `meeting` (media room `room`), started by `by`.
    /// Refused with a message when the disk is short of space.
    pub async fn start(
        &self,
        meeting: &str,
        title: &str,
        room: RoomId,
        by: &str,
    ) -> Result<Recording, String> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| format!("cannot create {}: {e}", self.root.display()))?;
        let min_free = self.cfg.min_free_mb.saturating_mul(1024 * 1024);
        if let Ok(st) = rustix::fs::statvfs(&self.root) {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            if free < min_free {
                return Err(format!(
                    "only {} MiB free on the recordings' disk (recording.min_free_mb = {})",
                    free / (1024 * 1024),
                    self.cfg.min_free_mb
                ));
            }
        }
        let now = crate::clock::unix_millis();
        let id = format!("{now}-{}", crate::token::random_id(6).to_lowercase());
        let dir = self.root.join(&id);
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let manifest = Manifest {
            version: manifest::VERSION,
            id: id.clone(),
            meeting: meeting.into(),
            title: title.into(),
            state: RecState::Recording,
            stop_reason: None,
            started_by: by.into(),
            started_at: now,
            stopped_at: None,
            updated_at: now,
            tracks: Vec::new(),
            events: Vec::new(),
            dropped_packets: 0,
            lost_packets: 0,
            bytes: 0,
        };
        manifest.save(&dir).map_err(|e| format!("cannot write the manifest: {e}"))?;
        let (tap, packets) = Tap::new(self.cfg.queue_packets);
        let (notes, notes_rx) = crossbeam_channel::bounded(256);
        let runtime = tokio::runtime::Handle::current();
        let writer = Writer::new(dir, manifest, tap.clone(), self.sfu.clone(), room, runtime, min_free);
        let thread = std::thread::Builder::new()
            .name(format!("recorder-{id}"))
            .spawn(move || writer.run(packets, notes_rx))
            .map_err(|e| format!("cannot start the recorder: {e}"))?;
        let recording = Recording { id, notes, thread: Some(thread), room, sfu: self.sfu.clone() };
        if let Err(e) = self.sfu.set_tap(room, huiyi_sfu::TapKind::Recording, Some(tap)).await {
            recording.stop(Some("media_plane")).await;
            return Err(format!("the media plane refused: {e}"));
        }
        tracing::info!(meeting = %meeting, recording = %recording.id, by = %by, "recording started");
        Ok(recording)
    }

    /// As [`scan`], reading only the manifests that changed since the last.
    fn scan(&self) -> Vec<(PathBuf, Manifest)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut read = self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        for dir in entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()) {
            let Ok(meta) = std::fs::metadata(dir.join("manifest.json")) else { continue };
            let stamp = (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len());
            match read.get(&dir) {
                Some((at, len, m)) if (*at, *len) == stamp => out.push((dir, m.clone())),
                _ => {
                    if let Ok(m) = Manifest::load(&dir) {
                        read.insert(dir.clone(), (stamp.0, stamp.1, m.clone()));
                        out.push((dir, m));
                    }
                }
            }
        }
        let seen: std::collections::HashSet<&PathBuf> = out.iter().map(|(d, _)| d).collect();
        read.retain(|dir, _| seen.contains(dir));
        out.sort_by_key(|(_, m)| std::cmp::Reverse(m.started_at));
        out
    }

    /// The recordings of `meeting` (all with `None`), newest first.
    pub fn list(&self, meeting: Option<&str>) -> Vec<Manifest> {
        self.scan().into_iter().map(|(_, m)| m).filter(|m| meeting.is_none_or(|x| m.meeting == x)).collect()
    }

    /// A recording's directory and manifest, if `id` names one.
    pub fn get(&self, id: &str) -> Option<(PathBuf, Manifest)> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return None;
        }
        let dir = self.root.join(id);
        Manifest::load(&dir).ok().map(|m| (dir, m))
    }

    /// Deletes a recording that is not being written; false if there is
    /// no such recording.
    pub fn delete(&self, id: &str) -> Result<bool, String> {
        let Some((dir, m)) = self.get(id) else { return Ok(false) };
        if m.state == RecState::Recording {
            return Err("the recording is still running; stop it first".into());
        }
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot delete {}: {e}", dir.display()))?;
        Ok(true)
    }

    /// Deletes stopped recordings older than `recording.retention_days`;
    /// the ids and meetings of those deleted.
    pub fn expire(&self, now_ms: u64) -> Vec<(String, String)> {
        if self.cfg.retention_days == 0 {
            return Vec::new();
        }
        let keep_ms = u64::from(self.cfg.retention_days) * 86_400_000;
        self.list(None)
            .into_iter()
            .filter(|m| m.state != RecState::Recording && m.started_at + keep_ms < now_ms)
            .filter(|m| self.delete(&m.id).is_ok_and(|d| d))
            .map(|m| (m.id, m.meeting))
            .collect()
    }
}

/// Every recording under `root` with its directory, newest first.
pub fn scan(root: &Path) -> Vec<(PathBuf, Manifest)> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut out: Vec<(PathBuf, Manifest)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Manifest::load(&e.path()).ok().map(|m| (e.path(), m)))
        .collect();
    out.sort_by_key(|(_, m)| std::cmp::Reverse(m.started_at));
    out
}

/// What [`replay`] made of some packets.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Frames joined (video).
    pub frames: usize,
    /// The largest frame, bytes.
    pub largest_frame: usize,
    /// Ogg bytes written (audio).
    pub ogg_bytes: u64,
    /// IVF bytes written (video).
    pub ivf_bytes: u64,
}

/// The recorder's parsing of one stream, without files or threads: packets
/// put in order, video joined into frames and written to IVF, audio to
/// Ogg, all in memory (the fuzz target `recording` feeds it hostile input).
pub fn replay(packets: Vec<huiyi_sfu::TapPacket>) -> Replayed {
    use huiyi_sfu::TapCodec;
    let mut out = Replayed::default();
    let Some(codec) = packets.first().map(|p| p.codec) else { return out };
    let mut order = frames::Reorder::default();
    let mut joiner = frames::Assembler::new(codec);
    let Ok(mut ogg) = ogg::OggOpus::new(Vec::new(), 1, "fuzz") else { return out };
    let mut ivf: Option<ivf::Ivf<std::io::Cursor<Vec<u8>>>> = None;
    let end = packets.iter().map(|p| p.arrival).max();
    let (mut first, mut pos) = (None::<u32>, 0u64);
    for p in packets {
        order.push(p);
        while let Some((p, lost)) = order.pop(end.unwrap_or_else(std::time::Instant::now) + frames::WAIT) {
            let since = p.timestamp.wrapping_sub(*first.get_or_insert(p.timestamp));
            // The writer's wall-clock check bounds a position; here the RTP
            // distance alone, capped the same way (an hour).
            pos = pos.max(u64::from(since).min(3_600 * 48_000));
            match codec {
                TapCodec::Opus => {
                    let _ = ogg.packet(pos, &p.payload);
                }
                _ => {
                    if let Some(f) = joiner.push(&p, lost) {
                        out.frames += 1;
                        out.largest_frame = out.largest_frame.max(f.data.len());
                        if ivf.is_none() {
                            ivf = ivf::vp8_keyframe_size(&f.data).and_then(|size| {
                                ivf::Ivf::new(std::io::Cursor::new(Vec::new()), b"VP80", size).ok()
                            });
                        }
                        if let Some(w) = &mut ivf {
                            let _ = w.frame(pos, &f.data);
                        }
                    }
                }
            }
        }
    }
    out.ogg_bytes = ogg.finish().map_or(0, |b| b.len() as u64);
    out.ivf_bytes = ivf.and_then(|w| w.finish().ok()).map_or(0, |c| c.into_inner().len() as u64);
    out
}

impl Recording {
    /// Tells the recorder how the meeting is now; false if it is too far
    /// behind to take it (tell it again later).
    pub fn view(&self, view: RecView) -> bool {
        self.notes.try_send(Note::View(view)).is_ok()
    }

    /// The recorder stopped by itself (the disk filled, a write failed).
    pub fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(std::thread::JoinHandle::is_finished)
    }

    /// Stops: the media plane lets go of the tap, the recorder writes what
    /// it has and closes the files. `reason`: why, if not by a person.
    pub async fn stop(mut self, reason: Option<&str>) {
        let _ = self.sfu.set_tap(self.room, huiyi_sfu::TapKind::Recording, None).await;
        let _ = self.notes.send(Note::Stop(reason.map(str::to_string)));
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
