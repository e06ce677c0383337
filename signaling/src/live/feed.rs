//! The live feed's thread: from a meeting's tapped packets to a Matroska
//! stream on ffmpeg's standard input (ffmpeg makes the HLS).
//!
//! - **Video**: one picture, the meeting's main one as the composite would
//!   show it large (the floor holder, else the broadcast source, the
//!   spotlight, the active speaker; a screen share before a camera), at the
//!   highest simulcast layer that arrives. A switch waits for a keyframe
//!   of the new picture (asked for); while no frame comes (a switch, a
//!   camera turned off, no video at all) the last keyframe is shown again
//!   every half second, so the viewers see a still picture, never a stall.
//! - **Audio**: [`SLOTS`] Opus tracks, each carrying one voice at a time
//!   (the floor holder and the broadcast source first, then whoever spoke
//!   last), with silence where nobody is; ffmpeg mixes them. Every track
//!   has a frame every 20 ms, so the mixer never waits.
//!
//! Everything is timed on the wall clock of the feed's start, held back
//! [`DELAY_MS`] so that late and repaired packets still find their place.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use huiyi_sfu::{RoomId, SfuHandle, TapCodec, TapPacket, TrackId};

use super::mkv::{Block, Mkv, Video};
use crate::recording::frames::{Assembler, Reorder};
use crate::recording::ogg::opus_samples;
use crate::recording::RecView;

/// What the meeting tells its live feed.
pub enum Note {
    /// The meeting as it is now.
    View(RecView),
    /// Stop.
    Stop,
}

/// Audio tracks in the stream: voices heard at once.
pub const SLOTS: u8 = 3;
/// How far behind the wall clock the stream is written (ms).
const DELAY_MS: u64 = 400;
/// How often the stream is written.
const TICK: Duration = Duration::from_millis(20);
/// The picture is shown again when no frame came for this long (ms).
const STILL_MS: u64 = 500;
/// A voice, a video layer, counts while its packets came this recently (ms).
const RECENT_MS: u64 = 1000;
/// Louder than this (dBov) is speech.
const LOUD: i8 = -50;
/// Most packets held per voice: a second (more than [`DELAY_MS`]), so a
/// voice given a track starts at its first word.
const HELD: usize = 50;
/// Shortest interval between keyframe requests.
const ASK_AGAIN: Duration = Duration::from_secs(1);
/// Opus silence, 20 ms (a CELT frame the decoder renders as silence).
const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// A stream's RTP clock tied to the feed's: `(ms, rtp, ssrc)` of one packet.
#[derive(Clone, Copy)]
struct Anchor {
    ms: u64,
    rtp: u32,
    ssrc: u32,
}

/// Where on the feed's clock a packet belongs: its RTP distance from the
/// anchor, unless that strays more than a second from its arrival (a jump,
/// a new SSRC): then it is the anchor.
fn place(anchor: &mut Option<Anchor>, ssrc: u32, rtp: u32, arrival: u64, rate: u32) -> u64 {
    if let Some(a) = anchor.filter(|a| a.ssrc == ssrc) {
        let delta = i64::from(rtp.wrapping_sub(a.rtp) as i32) * 1000 / i64::from(rate);
        let at = a.ms as i64 + delta;
        if at >= 0 && (at - arrival as i64).abs() <= RECENT_MS as i64 {
            return at as u64;
        }
    }
    *anchor = Some(Anchor { ms: arrival, rtp, ssrc });
    arrival
}

/// One microphone's recent packets.
#[derive(Default)]
struct Voice {
    queue: VecDeque<(u64, Vec<u8>)>,
    anchor: Option<Anchor>,
    /// When it last spoke (ms), when its last packet came.
    loud: Option<u64>,
    seen: u64,
}

/// One audio track of the stream.
#[derive(Default)]
struct Slot {
    holder: Option<TrackId>,
    /// The next frame's time (ms).
    pos: u64,
}

/// The picture being followed: a track's layer.
struct Picture {
    track: TrackId,
    layer: u8,
    ssrc: Option<u32>,
    reorder: Reorder,
    assembler: Assembler,
    anchor: Option<Anchor>,
}

impl Picture {
    fn new(codec: TapCodec, track: TrackId, layer: u8) -> Self {
        Picture {
            track,
            layer,
            ssrc: None,
            reorder: Reorder::default(),
            assembler: Assembler::new(codec),
            anchor: None,
        }
    }
}

/// The feed's state.
pub struct Feed<W: Write> {
    /// The meeting's video codec (VP8 or H.264): the stream's.
    codec: TapCodec,
    start: Instant,
    out: Mkv<W>,
    view: RecView,
    voices: HashMap<TrackId, Voice>,
    slots: Vec<Slot>,
    picture: Option<Picture>,
    /// Video layers by when their last packet came (ms).
    layers: HashMap<(TrackId, u8), u64>,
    /// Frames not yet written.
    frames: VecDeque<Block>,
    /// When the last picture was written (ms), and the last keyframe.
    shown: Option<u64>,
    still: Vec<u8>,
    asked: Option<Instant>,
    sfu: Option<(SfuHandle, RoomId, tokio::runtime::Handle)>,
    /// What it wrote, for the log.
    pub stats: Stats,
}

/// What a feed wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// The meeting's video frames.
    pub frames: u64,
    /// Pictures shown again (no frame came).
    pub stills: u64,
    /// Switches of the picture followed.
    pub switches: u64,
    /// Keyframes asked for.
    pub asked: u64,
    /// Voices' frames, and silence.
    pub voice: u64,
    /// Silence frames.
    pub silence: u64,
}

impl<W: Write> Feed<W> {
    /// A feed of the meeting's `codec` (VP8 or H.264) writing to `out`;
    /// `placeholder`: a keyframe in it shown until the first picture;
    /// `sfu`: where keyframes are asked for.
    pub fn new(
        out: W,
        codec: TapCodec,
        placeholder: Vec<u8>,
        sfu: Option<(SfuHandle, RoomId, tokio::runtime::Handle)>,
    ) -> std::io::Result<Self> {
        // H.264 goes in as the assembler joins it: Annex B, the parameter
        // sets in band (browsers send them with each keyframe).
        let video = if codec == TapCodec::H264 { Video::H264(Vec::new()) } else { Video::Vp8 };
        Ok(Feed {
            codec,
            start: Instant::now(),
            out: Mkv::with_video(out, (1280, 720), &video, SLOTS)?,
            view: RecView::default(),
            voices: HashMap::new(),
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            picture: None,
            layers: HashMap::new(),
            frames: VecDeque::new(),
            shown: None,
            still: placeholder,
            asked: None,
            sfu,
            stats: Stats::default(),
        })
    }

    /// Runs until told to stop or ffmpeg goes (a write fails): its error.
    pub fn run(mut self, packets: Receiver<TapPacket>, notes: Receiver<Note>) -> Option<String> {
        let mut report = Instant::now();
        loop {
            match notes.recv_timeout(TICK) {
                Ok(Note::View(v)) => self.view = v,
                Ok(Note::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    tracing::info!(stats = ?self.stats, "the live feed ends");
                    return None;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if report.elapsed() >= Duration::from_secs(10) {
                report = Instant::now();
                let picture = self.picture.as_ref().map(|p| (p.track, p.layer));
                tracing::debug!(stats = ?self.stats, ?picture, "the live feed");
            }
            for p in packets.try_iter() {
                self.packet(p);
            }
            if let Err(e) = self.tick(Instant::now()) {
                return Some(format!("ffmpeg stopped reading: {e}"));
            }
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Takes one tapped packet.
    pub fn packet(&mut self, p: TapPacket) {
        let arrival = self.ms(p.arrival);
        match p.codec {
            TapCodec::Opus => {
                let v = self.voices.entry(p.track).or_default();
                v.seen = arrival;
                if p.level.is_some_and(|l| l >= LOUD) {
                    v.loud = Some(arrival);
                }
                let at = place(&mut v.anchor, p.ssrc, p.timestamp, arrival, 48_000);
                let i = v.queue.iter().rposition(|(t, _)| *t <= at).map_or(0, |i| i + 1);
                v.queue.insert(i, (at, p.payload));
                while v.queue.len() > HELD {
                    v.queue.pop_front();
                }
            }
            codec @ (TapCodec::Vp8 | TapCodec::H264) => {
                if codec != self.codec {
                    return; // the meeting changes its codec: a new feed follows
                }
                self.layers.insert((p.track, p.layer), arrival);
                let Some(pic) = self.picture.as_mut().filter(|c| c.track == p.track && c.layer == p.layer)
                else {
                    return;
                };
                if pic.ssrc != Some(p.ssrc) {
                    // An encoder restart: its numbers start anew.
                    *pic = Picture::new(codec, p.track, p.layer);
                    pic.ssrc = Some(p.ssrc);
                }
                let now = p.arrival;
                pic.reorder.push(p);
                while let Some((p, lost)) = pic.reorder.pop(now) {
                    let Some(f) = pic.assembler.push(&p, lost) else { continue };
                    let at = place(&mut pic.anchor, p.ssrc, f.timestamp, arrival, 90_000);
                    if f.keyframe {
                        self.still.clone_from(&f.data);
                    }
                    self.frames.push_back(Block { track: 1, at, keyframe: f.keyframe, data: f.data });
                }
            }
            TapCodec::Other => {}
        }
    }

    /// The track shown large, and its highest recent layer.
    fn wanted(&self, now: u64) -> Option<(TrackId, u8)> {
        let recent = |t: u64| {
            self.layers
                .iter()
                .filter(|((track, _), seen)| *track == TrackId(t) && now.saturating_sub(**seen) <= RECENT_MS)
                .map(|((_, layer), _)| *layer)
                .max()
        };
        let v = &self.view;
        let main = [
            v.floor.as_ref(),
            v.broadcast.as_ref().and_then(|b| b.first()),
            v.spotlight.as_ref(),
            v.speaker.as_ref(),
        ];
        for pid in main.into_iter().flatten() {
            for source in ["screen", "camera"] {
                let found = v.tracks.iter().find(|(_, t)| &t.participant == pid && t.source == source);
                if let Some(layer) = found.and_then(|(id, _)| recent(*id).map(|l| (TrackId(*id), l))) {
                    return Some(layer);
                }
            }
        }
        // Nobody featured: the first video that arrives.
        v.tracks
            .iter()
            .filter(|(_, t)| t.kind == "video")
            .find_map(|(id, _)| recent(*id).map(|l| (TrackId(*id), l)))
    }

    fn ask_keyframe(&mut self, track: TrackId) {
        let now = Instant::now();
        if self.asked.is_some_and(|t| now.duration_since(t) < ASK_AGAIN) {
            return;
        }
        self.asked = Some(now);
        self.stats.asked += 1;
        if let Some((sfu, room, rt)) = &self.sfu {
            let (sfu, room) = (sfu.clone(), *room);
            rt.spawn(async move { sfu.keyframe_for_recording(room, track).await });
        }
    }

    /// Which voices hold the audio tracks: the floor holder and the
    /// broadcast source first, then by who spoke last; a holder keeps its
    /// track while it stays among them.
    fn assign(&mut self, now: u64) {
        let v = &self.view;
        let pinned: Vec<&String> = v.floor.iter().chain(v.broadcast.iter().flatten().take(1)).collect();
        let mut heard: Vec<(bool, u64, TrackId)> = self
            .voices
            .iter()
            .filter(|(_, voice)| now.saturating_sub(voice.seen) <= RECENT_MS)
            .map(|(id, voice)| {
                let pin = v.tracks.get(&id.0).is_some_and(|t| pinned.contains(&&t.participant));
                (pin, voice.loud.unwrap_or(0), *id)
            })
            .collect();
        heard.sort_by(|a, b| b.cmp(a));
        let chosen: Vec<TrackId> = heard.iter().take(self.slots.len()).map(|h| h.2).collect();
        for slot in &mut self.slots {
            if slot.holder.is_some_and(|h| !chosen.contains(&h)) {
                slot.holder = None;
            }
        }
        for id in chosen {
            if self.slots.iter().any(|s| s.holder == Some(id)) {
                continue;
            }
            if let Some(slot) = self.slots.iter_mut().find(|s| s.holder.is_none()) {
                slot.holder = Some(id);
            }
        }
    }

    /// Writes everything due by `now` less the delay.
    pub fn tick(&mut self, now: Instant) -> std::io::Result<()> {
        let wall = self.ms(now);
        let due = wall.saturating_sub(DELAY_MS);
        // The picture to follow.
        let wanted = self.wanted(wall);
        let current = self.picture.as_ref().map(|p| (p.track, p.layer));
        if let Some((track, layer)) = wanted.filter(|w| Some(*w) != current) {
            tracing::debug!(?current, %track, layer, "the live feed follows another picture");
            self.picture = Some(Picture::new(self.codec, track, layer));
            self.stats.switches += 1;
            self.ask_keyframe(track);
        }
        if wanted.is_none() {
            self.picture = None;
        }
        if self.picture.as_ref().is_some_and(|p| p.assembler.needs_keyframe) {
            if let Some(track) = self.picture.as_ref().map(|p| p.track) {
                self.ask_keyframe(track);
            }
        }
        let mut blocks = Vec::new();
        while self.frames.front().is_some_and(|f| f.at <= due) {
            let f = self.frames.pop_front().expect("front");
            self.shown = Some(f.at);
            self.stats.frames += 1;
            blocks.push(f);
        }
        if self.shown.is_none_or(|s| s + STILL_MS <= due) && !self.still.is_empty() {
            blocks.push(Block { track: 1, at: due, keyframe: true, data: self.still.clone() });
            self.shown = Some(due);
            self.stats.stills += 1;
            // Inter frames before the next keyframe would refer to pictures
            // the viewers no longer have: they go.
            match self.frames.iter().position(|f| f.keyframe) {
                Some(k) => drop(self.frames.drain(..k)),
                None => {
                    self.frames.clear();
                    if let Some(p) = &mut self.picture {
                        p.assembler.needs_keyframe = true;
                    }
                }
            }
        }
        self.assign(wall);
        for (n, slot) in self.slots.iter_mut().enumerate() {
            slot.pos = slot.pos.max(due.saturating_sub(100));
            let mut voice = slot.holder.and_then(|h| self.voices.get_mut(&h));
            while slot.pos + 20 <= due {
                let mut frame = None;
                if let Some(v) = voice.as_deref_mut() {
                    while v.queue.front().is_some_and(|(at, _)| *at + 30 < slot.pos) {
                        v.queue.pop_front(); // too late
                    }
                    if v.queue.front().is_some_and(|(at, _)| *at <= slot.pos + 10) {
                        frame = v.queue.pop_front().map(|(_, data)| data);
                    }
                }
                self.stats.voice += 1;
                let data = frame.unwrap_or_else(|| {
                    self.stats.silence += 1;
                    SILENCE.to_vec()
                });
                let ms = opus_samples(&data).map_or(20, |s| u64::from(s) / 48).max(1);
                blocks.push(Block { track: 2 + n as u8, at: slot.pos, keyframe: true, data });
                slot.pos += ms;
            }
        }
        self.layers.retain(|_, seen| wall.saturating_sub(*seen) <= 10 * RECENT_MS);
        self.voices.retain(|_, v| wall.saturating_sub(v.seen) <= 10 * RECENT_MS);
        blocks.sort_by_key(|b| b.at);
        self.out.cluster(&blocks)
    }
}
