//! What the media plane tells the control plane, and why it refuses commands.

use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};

/// Something happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuEvent {
    /// The peer's ICE and DTLS are up: media can flow.
    PeerConnected {
        /// Room.
        room: RoomId,
        /// Peer.
        peer: PeerId,
    },
    /// The peer is gone from the media plane, and why.
    PeerLeft {
        /// Room.
        room: RoomId,
        /// Peer.
        peer: PeerId,
        /// Why.
        reason: LeaveReason,
    },
    /// A video a subscriber receives is paused: even its lowest layer does
    /// not fit the subscriber's bandwidth estimate (audio goes on).
    VideoPaused {
        /// Room.
        room: RoomId,
        /// The subscriber.
        peer: PeerId,
        /// The paused video.
        track: TrackId,
    },
    /// A video paused for bandwidth is sent again.
    VideoResumed {
        /// Room.
        room: RoomId,
        /// The subscriber.
        peer: PeerId,
        /// The video.
        track: TrackId,
    },
    /// The simulcast layers of a published video that subscribers want
    /// changed: ask the publisher to send only `active` (spatial layers,
    /// 0 lowest; the client's rids `q`, `h`, `f`) and stop the others.
    LayersWanted {
        /// Room.
        room: RoomId,
        /// The publisher.
        peer: PeerId,
        /// Its video.
        track: TrackId,
        /// The video's m-line in the publisher's own session.
        mid: String,
        /// The layers to send.
        active: Vec<u8>,
    },
    /// A peer started publishing a track.
    TrackPublished {
        /// Room.
        room: RoomId,
        /// The publisher.
        peer: PeerId,
        /// The new track.
        track: TrackId,
        /// Audio or video.
        kind: TrackKind,
        /// The m-line (`mid`) of the publisher's SDP that carries it.
        mid: String,
    },
    /// A published track ended (its publisher left or stopped it).
    TrackUnpublished {
        /// Room.
        room: RoomId,
        /// The publisher.
        peer: PeerId,
        /// The track.
        track: TrackId,
    },
    /// The server needs the peer to answer this offer (new or removed
    /// subscriptions). Send it to the client; return its answer with
    /// `accept_answer(offer_id, ..)`. Emitted only after the reply to the
    /// command that caused it.
    OfferReady {
        /// Room.
        room: RoomId,
        /// The peer that must answer.
        peer: PeerId,
        /// Identifies this offer; an answer to an older one is refused.
        offer_id: u64,
        /// The SDP offer.
        sdp: String,
        /// The m-lines this offer adds, and the track each will carry.
        tracks: Vec<(String, TrackId)>,
    },
    /// A keyframe request was sent to a publisher (after coalescing).
    KeyframeNeeded {
        /// Room.
        room: RoomId,
        /// The publisher asked.
        peer: PeerId,
        /// The track.
        track: TrackId,
    },
    /// The loudest speaking publisher of a room changed (from the audio
    /// level header extension); `None` when nobody speaks.
    ActiveSpeaker {
        /// Room.
        room: RoomId,
        /// The speaker.
        peer: Option<PeerId>,
    },
    /// Periodic per-peer counters.
    PeerStats {
        /// Room.
        room: RoomId,
        /// Peer.
        peer: PeerId,
        /// The counters since the peer joined.
        stats: PeerCounters,
    },
}

/// Why a peer left the media plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The control plane removed it.
    Removed,
    /// Its room was closed.
    RoomClosed,
    /// ICE or DTLS lost the connection.
    Disconnected,
    /// Its WebRTC state machine failed (an internal error, or a panic that
    /// was caught); the rest of the room goes on.
    Failed,
    /// The server is shutting down.
    Shutdown,
}

/// Per-peer packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// RTP packets received from the peer (after SRTP).
    pub packets_in: u64,
    /// RTP payload bytes received from the peer.
    pub bytes_in: u64,
    /// RTP packets forwarded to the peer.
    pub packets_out: u64,
    /// RTP payload bytes forwarded to the peer.
    pub bytes_out: u64,
    /// Keyframe requests sent to the peer as a publisher.
    pub keyframe_requests: u64,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    /// No such room on the media plane.
    #[error("room {0} does not exist")]
    RoomNotFound(RoomId),
    /// The room already exists.
    #[error("room {0} already exists")]
    RoomExists(RoomId),
    /// No such peer.
    #[error("peer {0} does not exist")]
    PeerNotFound(PeerId),
    /// A peer with this id is already connected.
    #[error("peer {0} already exists")]
    PeerExists(PeerId),
    /// No such track.
    #[error("track {0} does not exist")]
    TrackNotFound(TrackId),
    /// The SDP could not be parsed or negotiated.
    #[error("bad SDP: {0}")]
    BadSdp(String),
    /// The answer belongs to an offer that is no longer current.
    #[error("answer to offer {got} is stale (current offer: {current:?})")]
    StaleAnswer {
        /// The offer id the answer was for.
        got: u64,
        /// The offer the server waits an answer for, if any.
        current: Option<u64>,
    },
    /// The worker holds its maximum number of peers.
    #[error("media worker is full ({0} peers)")]
    Full(usize),
    /// The media worker is not running (shutting down or crashed).
    #[error("media worker is not running")]
    WorkerGone,
}
