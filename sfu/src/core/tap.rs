//! The recording tap: a copy of each packet a room's publishers send, handed
//! off the media worker to whoever records them (the server's recorder).
//!
//! The worker never waits for the recorder: the queue is bounded, and a
//! packet that does not fit is counted and dropped (the recording shows a
//! gap; the meeting's media is untouched). Packets are taken after the
//! server-enforced mute and the bitrate cap, before audio top-N (a recording
//! keeps every microphone), with RED unwrapped to its primary block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use str0m::media::KeyframeRequestKind;

use crate::core::engine::Engine;
use crate::core::events::SfuError;
use crate::core::ids::{PeerId, RoomId, TrackId};

/// The codec of a tapped packet, as far as a recorder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TapCodec {
    /// Opus audio (48 kHz RTP clock).
    Opus,
    /// VP8 video (90 kHz).
    Vp8,
    /// H.264 video (90 kHz).
    H264,
    /// Anything else (not recorded).
    Other,
}

/// Who takes a room's copies: a room has one tap of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// The recording.
    Recording = 0,
    /// The live feed (HLS for the portal).
    Live = 1,
}

/// One packet of a published track.
#[derive(Debug, Clone)]
pub struct TapPacket {
    /// The track.
    pub track: TrackId,
    /// Its publisher.
    pub publisher: PeerId,
    /// The simulcast layer (0 without simulcast).
    pub layer: u8,
    /// The publisher's SSRC of the layer (a new one after an encoder
    /// restart: its numbers start anew).
    pub ssrc: u32,
    /// Extended sequence number (RTX repairs carry the original's).
    pub seq: u64,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP marker bit (the last packet of a video frame).
    pub marker: bool,
    /// When it arrived.
    pub arrival: Instant,
    /// Its codec.
    pub codec: TapCodec,
    /// Audio level (RFC 6464, dBov: 0 loudest, −127 silence), if sent.
    pub level: Option<i8>,
    /// The payload (RED unwrapped).
    pub payload: Vec<u8>,
}

/// The sending end, held by a room while it is recorded.
#[derive(Debug, Clone)]
pub struct Tap {
    tx: Sender<TapPacket>,
    dropped: Arc<AtomicU64>,
}

impl Tap {
    /// A tap whose queue holds `capacity` packets, and its receiving end.
    pub fn new(capacity: usize) -> (Tap, Receiver<TapPacket>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (Tap { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Hands a packet on, or counts it dropped if the recorder is behind.
    /// False once the recorder has gone.
    pub fn offer(&self, packet: TapPacket) -> bool {
        match self.tx.try_send(packet) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Engine {
    /// Starts (`Some`) or stops (`None`) `room`'s tap of `kind`: from now on
    /// each published packet is offered to `tap`. Every video track is asked
    /// for a keyframe, on every layer, so the copy starts with a picture.
    pub fn set_tap(
        &mut self,
        now: Instant,
        room: RoomId,
        kind: TapKind,
        tap: Option<Tap>,
    ) -> Result<(), SfuError> {
        let r = self.rooms.get_mut(&room).ok_or(SfuError::RoomNotFound(room))?;
        let starting = tap.is_some();
        *r.tap_mut(kind) = tap;
        if starting {
            let tracks: Vec<TrackId> = r.tracks.keys().copied().collect();
            for track in tracks {
                self.keyframe_for_recording(now, room, track)?;
            }
        }
        self.finish(now);
        Ok(())
    }

    /// A keyframe on every layer of `track` (the recorder lost packets of
    /// it, or starts): throttled like any other request.
    pub fn keyframe_for_recording(
        &mut self,
        now: Instant,
        room: RoomId,
        track: TrackId,
    ) -> Result<(), SfuError> {
        let (owner, ui) = *self
            .rooms
            .get(&room)
            .and_then(|r| r.tracks.get(&track))
            .ok_or(SfuError::TrackNotFound(track))?;
        if let Some(up) = self.peer_mut(owner).and_then(|o| o.up[ui].as_mut()) {
            up.keyframe_layers = 0;
        }
        self.request_keyframe(now, owner, ui, KeyframeRequestKind::Pli);
        self.finish(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u64) -> TapPacket {
        TapPacket {
            track: TrackId(1),
            publisher: PeerId(1),
            layer: 0,
            ssrc: 1,
            seq,
            timestamp: 0,
            marker: false,
            arrival: Instant::now(),
            codec: TapCodec::Opus,
            level: None,
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_never_blocks() {
        let (tap, rx) = Tap::new(2);
        for seq in 0..5 {
            assert!(tap.offer(packet(seq)));
        }
        assert_eq!(tap.dropped(), 3);
        let got: Vec<u64> = rx.try_iter().map(|p| p.seq).collect();
        assert_eq!(got, [0, 1]);
        drop(rx);
        assert!(!tap.offer(packet(9)), "the recorder has gone");
    }
}
