//! The recorder's thread: takes the tapped packets of one meeting and the
//! meeting's views, and writes each track's file and the manifest. It runs
//! off the media workers and the runtime; the workers never wait for it
//! (the tap's queue is bounded). Files are flushed and the manifest written
//! every second, so a crash loses at most the last second.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use huiyi_sfu::{RoomId, SfuHandle, Tap, TapCodec, TapPacket, TrackId};

use super::frames::{Assembler, Reorder};
use super::ivf::{vp8_keyframe_size, Ivf};
use super::manifest::{Manifest, RecState, TrackFile};
use super::ogg::OggOpus;
use super::view::{changes, RecView};

/// What the meeting tells its recorder.
pub enum Note {
    /// The meeting as it is now.
    View(RecView),
    /// Stop (why, if not by a person).
    Stop(Option<String>),
}

type Out = BufWriter<File>;

enum Sink {
    Opus(OggOpus<Out>),
    /// Opened at the first keyframe (its size goes in the header).
    Vp8(Option<Ivf<Out>>),
    /// Annex B, and each frame's time (90 kHz) and size on a line of its own.
    H264(Option<(Out, Out)>),
}

struct Stream {
    reorder: Reorder,
    assembler: Option<Assembler>,
    sink: Sink,
    /// Its entry in the manifest's tracks.
    entry: usize,
    /// Extended RTP timestamp of the last packet, and its raw value.
    ext: Option<(u64, u32)>,
    /// Extended timestamp of the file's first media.
    first: Option<u64>,
    asked_keyframe: Option<Instant>,
    /// The publisher's SSRC (a new one restarts the numbers).
    ssrc: u32,
    /// When its last packet came.
    seen: Instant,
}

/// One recording being written.
pub struct Writer {
    pub(super) dir: PathBuf,
    pub(super) manifest: Manifest,
    pub(super) tap: Tap,
    pub(super) sfu: SfuHandle,
    pub(super) room: RoomId,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) min_free: u64,
    streams: HashMap<(TrackId, u8), Stream>,
    view: Option<RecView>,
}

/// How often files are flushed and the manifest written.
const FLUSH: Duration = Duration::from_secs(1);
/// Shortest interval between the recorder's keyframe requests for one stream.
const ASK_AGAIN: Duration = Duration::from_secs(1);
/// How often the queued packets are taken and written.
const SWEEP: Duration = Duration::from_millis(20);
/// A stream without packets this long is closed (a track that ended); if
/// it comes back, it goes on in a new file.
const IDLE: Duration = Duration::from_secs(10);
/// Most streams one recording writes at once.
const MAX_STREAMS: usize = 256;
/// How far a stream's RTP clock may stray from the wall clock before its
/// timeline follows the wall clock (a jump in timestamps, an encoder
/// restart): gaps are filled only as long as they really were.
const SLACK_MS: u64 = 3000;

impl Writer {
    /// A writer for `manifest`'s recording in `dir`.
    pub fn new(
        dir: PathBuf,
        manifest: Manifest,
        tap: Tap,
        sfu: SfuHandle,
        room: RoomId,
        runtime: tokio::runtime::Handle,
        min_free: u64,
    ) -> Self {
        Writer { dir, manifest, tap, sfu, room, runtime, min_free, streams: HashMap::new(), view: None }
    }

    /// Runs until told to stop, the meeting's task goes, or the disk fills.
    pub fn run(mut self, packets: Receiver<TapPacket>, notes: Receiver<Note>) {
        let mut next_flush = Instant::now() + FLUSH;
        // The packets are taken in batches every SWEEP, never waited on: a
        // worker's send then never has a sleeping thread to wake (a system
        // call per packet on the forwarding path).
        let reason = loop {
            match notes.recv_timeout(SWEEP) {
                Ok(Note::View(v)) => self.view(v),
                Ok(Note::Stop(reason)) => break reason,
                Err(RecvTimeoutError::Disconnected) => break Some("meeting_ended".into()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            for p in packets.try_iter() {
                self.packet(p);
            }
            let now = Instant::now();
            self.release(now, false);
            self.close_idle(now);
            if now >= next_flush {
                next_flush = Instant::now() + FLUSH;
                if let Err(e) = self.flush() {
                    tracing::error!(recording = %self.manifest.id, error = %e, "cannot write the recording; it stops");
                    break Some("write_failed".into());
                }
                if self.free_space().is_some_and(|free| free < self.min_free) {
                    tracing::warn!(recording = %self.manifest.id, "the disk is nearly full; the recording stops");
                    break Some("disk_full".into());
                }
            }
        };
        // What is still queued arrived before the stop.
        for p in packets.try_iter() {
            self.packet(p);
        }
        self.release(Instant::now(), true);
        self.finish(reason);
    }

    fn view(&mut self, v: RecView) {
        let at = crate::clock::unix_millis();
        self.manifest.events.extend(changes(self.view.as_ref(), &v, at));
        for t in &mut self.manifest.tracks {
            if let Some(info) = v.tracks.get(&t.track) {
                t.participant.clone_from(&info.participant);
                t.source = info.source.into();
                if let Some(p) = v.participants.get(&info.participant) {
                    t.name.clone_from(&p.name);
                }
            }
        }
        self.view = Some(v);
    }

    fn packet(&mut self, p: TapPacket) {
        let key = (p.track, p.layer);
        if !self.streams.contains_key(&key) {
            if self.streams.len() >= MAX_STREAMS {
                return;
            }
            let Some(stream) = self.open(&p) else { return };
            self.streams.insert(key, stream);
        }
        let arrival = p.arrival;
        if let Some(s) = self.streams.get_mut(&key) {
            if s.ssrc != p.ssrc {
                // An encoder restart: new numbers; the timeline goes on by
                // the wall clock, video from the next keyframe.
                (s.ssrc, s.reorder, s.ext) = (p.ssrc, Reorder::default(), None);
                if let Some(a) = &mut s.assembler {
                    *a = Assembler::new(p.codec);
                }
            }
            s.seen = arrival;
            s.reorder.push(p);
        }
        // What is in order goes out now; a gap waits for the sweep.
        self.release_stream(key, arrival, Instant::now());
    }

    /// Starts a stream's file on its first packet.
    fn open(&mut self, p: &TapPacket) -> Option<Stream> {
        let (ext, codec, kind) = match p.codec {
            TapCodec::Opus => ("ogg", "opus", "audio"),
            TapCodec::Vp8 => ("ivf", "vp8", "video"),
            TapCodec::H264 => ("h264", "h264", "video"),
            TapCodec::Other => return None,
        };
        // A stream closed when idle that comes back goes on in a new file.
        let before =
            self.manifest.tracks.iter().filter(|t| t.track == p.track.0 && t.layer == p.layer).count();
        let file = match before {
            0 => format!("track{}-{}.{ext}", p.track.0, p.layer),
            n => format!("track{}-{}-{n}.{ext}", p.track.0, p.layer),
        };
        let sink = match p.codec {
            TapCodec::Opus => {
                let out = BufWriter::new(File::create(self.dir.join(&file)).ok()?);
                Sink::Opus(OggOpus::new(out, p.track.0 as u32, &self.manifest.title).ok()?)
            }
            TapCodec::Vp8 => Sink::Vp8(None),
            _ => Sink::H264(None),
        };
        let info = self.view.as_ref().and_then(|v| v.tracks.get(&p.track.0));
        let participant = info.map(|i| i.participant.clone()).unwrap_or_default();
        let name = self
            .view
            .as_ref()
            .and_then(|v| v.participants.get(&participant))
            .map(|x| x.name.clone())
            .unwrap_or_default();
        self.manifest.tracks.push(TrackFile {
            file,
            track: p.track.0,
            participant,
            name,
            kind: kind.into(),
            source: info.map_or(if kind == "audio" { "microphone" } else { "camera" }, |i| i.source).into(),
            codec: codec.into(),
            layer: p.layer,
            first_at: 0,
            last_at: 0,
            frames: 0,
            bytes: 0,
            width: 0,
            height: 0,
        });
        let assembler = (kind == "video").then(|| Assembler::new(p.codec));
        Some(Stream {
            reorder: Reorder::default(),
            assembler,
            sink,
            entry: self.manifest.tracks.len() - 1,
            ext: None,
            first: None,
            asked_keyframe: None,
            ssrc: p.ssrc,
            seen: p.arrival,
        })
    }

    /// Closes the streams that went quiet.
    fn close_idle(&mut self, now: Instant) {
        let idle: Vec<(TrackId, u8)> = self
            .streams
            .iter()
            .filter(|(_, s)| now.duration_since(s.seen) >= IDLE)
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            self.release_stream(key, now + super::frames::WAIT, now);
            if let Some(s) = self.streams.remove(&key) {
                self.close(s.sink);
            }
        }
    }

    fn close(&self, sink: Sink) {
        let done = match sink {
            Sink::Opus(ogg) => ogg.finish().map(drop),
            Sink::Vp8(Some(ivf)) => ivf.finish().map(drop),
            Sink::H264(Some((mut a, mut b))) => a.flush().and_then(|()| b.flush()),
            _ => Ok(()),
        };
        if let Err(e) = done {
            tracing::warn!(recording = %self.manifest.id, error = %e, "a track file could not be closed");
        }
    }

    /// Writes every packet that is in order (all of them at the end).
    fn release(&mut self, now: Instant, all: bool) {
        let keys: Vec<(TrackId, u8)> = self.streams.keys().copied().collect();
        // At the end nothing missing is waited for any more.
        let at = if all { now + super::frames::WAIT } else { now };
        for key in keys {
            self.release_stream(key, at, now);
        }
    }

    /// Writes one stream's packets that are in order, or waited for
    /// until `at`.
    fn release_stream(&mut self, key: (TrackId, u8), at: Instant, now: Instant) {
        while let Some(s) = self.streams.get_mut(&key) {
            let Some((p, lost)) = s.reorder.pop(at) else { break };
            if lost {
                self.manifest.lost_packets += 1;
            }
            if let Err(e) = self.write(key, &p, lost, now) {
                tracing::warn!(recording = %self.manifest.id, error = %e, "a track file could not be written");
            }
        }
    }

    fn write(&mut self, key: (TrackId, u8), p: &TapPacket, lost: bool, now: Instant) -> std::io::Result<()> {
        let Some(s) = self.streams.get_mut(&key) else { return Ok(()) };
        let ext = match s.ext {
            None => 1u64 << 32 | u64::from(p.timestamp),
            Some((e, raw)) => e.saturating_add_signed(i64::from(p.timestamp.wrapping_sub(raw) as i32)),
        };
        s.ext = Some((ext, p.timestamp));
        let at = unix_ms_of(p.arrival, now);
        let entry = &mut self.manifest.tracks[s.entry];
        let per_ms = if matches!(s.sink, Sink::Opus(_)) { 48 } else { 90 };
        // Where on the file's timeline: by the RTP clock, unless it strays
        // from the wall clock (then the wall clock, and the RTP clock anew).
        let place = |first: &mut Option<u64>| {
            // Nothing written yet: this is the file's start.
            let Some(f) = first.filter(|_| entry.frames > 0) else {
                *first = Some(ext);
                return 0;
            };
            let wall = at.saturating_sub(entry.first_at) * per_ms;
            let rtp = ext.checked_sub(f);
            if rtp.is_none_or(|r| r.abs_diff(wall) > SLACK_MS * per_ms) {
                *first = Some(ext.saturating_sub(wall));
                return ext - first.unwrap_or(ext);
            }
            rtp.unwrap_or(0)
        };
        match &mut s.sink {
            Sink::Opus(ogg) => {
                let pos = place(&mut s.first);
                let before = ogg.bytes;
                if ogg.packet(pos, &p.payload)? {
                    if entry.frames == 0 {
                        entry.first_at = at;
                    }
                    entry.frames += 1;
                    entry.last_at = at;
                }
                entry.bytes += ogg.bytes - before;
            }
            Sink::Vp8(_) | Sink::H264(_) => {
                let Some(frame) = s.assembler.as_mut().and_then(|a| a.push(p, lost)) else {
                    let wants = s.assembler.as_ref().is_some_and(|a| a.needs_keyframe);
                    if wants && s.asked_keyframe.is_none_or(|t| now.duration_since(t) >= ASK_AGAIN) {
                        s.asked_keyframe = Some(now);
                        let (sfu, room, track) = (self.sfu.clone(), self.room, p.track);
                        self.runtime.spawn(async move { sfu.keyframe_for_recording(room, track).await });
                    }
                    return Ok(());
                };
                let pts = place(&mut s.first);
                let written = match &mut s.sink {
                    Sink::Vp8(ivf) => {
                        if ivf.is_none() {
                            let Some(size) = vp8_keyframe_size(&frame.data) else { return Ok(()) };
                            let out = BufWriter::new(File::create(self.dir.join(&entry.file))?);
                            (entry.width, entry.height) = size;
                            *ivf = Some(Ivf::new(out, b"VP80", size)?);
                        }
                        let ivf = ivf.as_mut().expect("opened above");
                        let before = ivf.bytes;
                        ivf.frame(pts, &frame.data)?;
                        ivf.bytes - before
                    }
                    Sink::H264(files) => {
                        if files.is_none() {
                            let data = BufWriter::new(File::create(self.dir.join(&entry.file))?);
                            let times =
                                BufWriter::new(File::create(self.dir.join(format!("{}.pts", entry.file)))?);
                            *files = Some((data, times));
                        }
                        let (data, times) = files.as_mut().expect("opened above");
                        data.write_all(&frame.data)?;
                        writeln!(times, "{pts} {}", frame.data.len())?;
                        frame.data.len() as u64
                    }
                    Sink::Opus(_) => 0,
                };
                if entry.frames == 0 {
                    entry.first_at = at;
                }
                entry.frames += 1;
                entry.last_at = at;
                entry.bytes += written;
            }
        }
        Ok(())
    }

    /// Flushes every file and writes the manifest.
    fn flush(&mut self) -> std::io::Result<()> {
        for s in self.streams.values_mut() {
            match &mut s.sink {
                Sink::Opus(ogg) => {
                    ogg.flush_page(0)?;
                    ogg.get_mut().flush()?;
                }
                Sink::Vp8(Some(ivf)) => ivf.update_length()?,
                Sink::H264(Some((a, b))) => {
                    a.flush()?;
                    b.flush()?;
                }
                _ => {}
            }
        }
        self.manifest.updated_at = crate::clock::unix_millis();
        self.manifest.dropped_packets = self.tap.dropped();
        self.manifest.bytes = self.manifest.tracks.iter().map(|t| t.bytes).sum();
        self.manifest.save(&self.dir)
    }

    fn finish(mut self, reason: Option<String>) {
        let streams: Vec<Stream> = self.streams.drain().map(|(_, s)| s).collect();
        for s in streams {
            self.close(s.sink);
        }
        // Files that never got media (a camera that stayed off) are left out.
        self.manifest.tracks.retain(|t| t.frames > 0);
        self.manifest.state = RecState::Stopped;
        self.manifest.stop_reason = reason;
        let now = crate::clock::unix_millis();
        self.manifest.stopped_at = Some(now);
        if let Err(e) = self.flush() {
            tracing::error!(recording = %self.manifest.id, error = %e, "cannot write the recording's manifest");
        }
        tracing::info!(
            recording = %self.manifest.id,
            tracks = self.manifest.tracks.len(),
            bytes = self.manifest.bytes,
            "recording stopped"
        );
    }

    /// Free bytes on the recording's disk, if the system says.
    fn free_space(&self) -> Option<u64> {
        let st = rustix::fs::statvfs(&self.dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
}

/// The Unix time (ms) of an instant shortly before `now`.
fn unix_ms_of(at: Instant, now: Instant) -> u64 {
    crate::clock::unix_millis().saturating_sub(now.saturating_duration_since(at).as_millis() as u64)
}
