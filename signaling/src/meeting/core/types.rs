//! The meeting's vocabulary: what participants ask for, what the meeting
//! tells them, and its state as plain data. The WebSocket layer maps these
//! to and from the wire (`ws/wire.rs`); the meeting never sees JSON.

use huiyi_sfu::TrackId;

/// Roles and track sources are the same words on the wire, in join tokens
/// and here.
pub use huiyi_protocol::{Role, Source};

/// A participant's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// An SDP offer for what it publishes.
    Publish {
        /// The offer.
        sdp: String,
        /// Each published m-line's `mid` and what it carries.
        tracks: Vec<(String, Source)>,
        /// A new peer connection: drop the old media session first.
        restart: bool,
    },
    /// The answer to a server offer.
    Answer {
        /// The offer answered.
        offer_id: u64,
        /// The answer.
        sdp: String,
    },
    /// Mute or unmute its own microphone / camera.
    Mute {
        /// Microphone, if changing.
        audio: Option<bool>,
        /// Camera, if changing.
        video: Option<bool>,
    },
    /// Receive video or not (audio-only mode).
    Receive {
        /// Receive video.
        video: bool,
    },
    /// The highest simulcast layer worth sending of each video it shows
    /// (`None`: not shown).
    View {
        /// Per track.
        tiles: Vec<(TrackId, Option<u8>)>,
    },
    /// A chat message.
    Chat {
        /// The text.
        text: String,
    },
    /// Its network quality (0 bad … 3 good).
    Quality {
        /// Level.
        level: u8,
    },
    /// Chair control.
    Control(Action),
    /// Asks for the floor.
    RaiseHand,
    /// Withdraws the request.
    LowerHand,
    /// Answers the roll call.
    RollCallAnswer,
    /// Signs in (签到).
    SignIn,
    /// Leaves.
    Leave,
}

/// What the chair or the secretary does (docs/protocol.md, chair control).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Mute or unmute one microphone.
    MuteParticipant { participant: String, muted: bool },
    /// Mute everyone but the hosts; optionally lock.
    MuteAll { lock: bool },
    /// Unlock microphones.
    UnlockMics,
    /// Give the floor, optionally timed.
    GrantFloor { participant: String, seconds: Option<u32> },
    /// Decline a request for the floor.
    DeclineHand { participant: String },
    /// End the current speech.
    EndSpeech,
    /// Clear the queue.
    LowerAllHands,
    /// Broadcast mode: these sources only (`None` ends it).
    Broadcast { participants: Option<Vec<String>> },
    /// Lock the meeting against new joins.
    LockMeeting { locked: bool },
    /// Remove a participant, optionally barring it.
    RemoveParticipant { participant: String, bar: bool },
    /// End the meeting for everyone.
    EndMeeting,
    /// Hand the chair on.
    TransferChair { participant: String },
    /// The secretary takes the chair.
    TakeChair,
    /// Show one participant large (`None`: nobody).
    Spotlight { participant: Option<String> },
    /// The layout every client renders.
    Layout { layout: String },
    /// Start a roll call.
    RollCallStart { participants: Option<Vec<String>>, auto: bool, timeout_secs: Option<u32> },
    /// Call one participant.
    RollCallCall { participant: String },
    /// No answer: call the next.
    RollCallNext,
    /// End the roll call.
    RollCallStop,
    /// Start or stop recording.
    Record { on: bool },
    /// Start or stop the live feed.
    Live { on: bool },
}

/// What the meeting tells one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// You are in.
    Welcome(Box<Welcome>),
    /// The answer to your offer.
    Answer {
        /// SDP.
        sdp: String,
    },
    /// The server's offer (what you receive changed).
    Offer {
        /// Identifies it.
        offer_id: u64,
        /// SDP.
        sdp: String,
        /// The m-lines it adds: `mid` and track.
        tracks: Vec<(String, TrackId)>,
    },
    /// Someone joined.
    Joined(ParticipantView),
    /// Someone left, and why (`left`, `timeout`, `removed`, `ended`, …).
    Left {
        /// Who.
        id: String,
        /// Why.
        reason: String,
    },
    /// Someone's state changed.
    Updated(ParticipantView),
    /// A track was published.
    Track(TrackView),
    /// A track ended.
    TrackEnded(TrackId),
    /// A video this participant receives is paused for its bandwidth.
    VideoPaused(TrackId),
    /// … and resumed.
    VideoResumed(TrackId),
    /// To a publisher: send only these simulcast layers (rids) on this m-line.
    Layers {
        /// The m-line.
        mid: String,
        /// The rids to send.
        active: Vec<String>,
    },
    /// The loudest speaker changed.
    ActiveSpeaker(Option<String>),
    /// A chat message.
    Chat {
        /// Sender id.
        from: String,
        /// Sender name.
        name: String,
        /// Text.
        text: String,
        /// Unix milliseconds.
        at: u64,
    },
    /// The chair-controlled state changed.
    State(ChairState),
    /// The chair asks you to unmute.
    UnmuteRequest {
        /// Who asks.
        by: String,
    },
    /// A second use of your link was refused.
    LinkReused,
    /// Your request was refused; the session goes on.
    Refused(Refusal),
}

/// The welcome's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The session key, for resuming.
    pub session: String,
    /// An earlier session was resumed.
    pub resumed: bool,
    /// Meeting id.
    pub meeting_id: String,
    /// Meeting title.
    pub title: String,
    /// You.
    pub you: ParticipantView,
    /// Everyone else present.
    pub participants: Vec<ParticipantView>,
    /// Tracks published now.
    pub tracks: Vec<TrackView>,
    /// The speaker now.
    pub active_speaker: Option<String>,
    /// The meeting's video codec.
    pub video_codec: huiyi_protocol::VideoCodec,
}

/// Why a session is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The participant left.
    Left,
    /// A newer session of the same participant took over; the text says how.
    Replaced(&'static str),
    /// The meeting ended; the text says by whom.
    Ended,
    /// The chair ended it.
    EndedByChair,
    /// The chair removed this participant.
    Removed,
    /// Its link was re-issued: the old one no longer holds the seat.
    LinkReplaced,
    /// The server is stopping; come back later.
    ServerStopping,
    /// The session could not keep up with its messages; it may resume.
    TooSlow,
}

/// A refused request: a kind and a readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// For people.
    pub message: String,
}

/// Kinds of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request is malformed or names nobody.
    BadRequest,
    /// The role does not allow it.
    Forbidden,
    /// The meeting is locked or over.
    Closed,
    /// Not now (no roll call running, already joined, …).
    BadState,
    /// The SDP could not be negotiated.
    BadSdp,
    /// The server could not do it.
    Internal,
    /// The link is in use by a participant who is connected.
    InUse,
    /// A configured limit is reached (the meeting or the server is full).
    Full,
    /// Too large (an SDP over `limits.sdp_bytes`).
    TooLarge,
}

impl Refusal {
    fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    /// A configured limit is reached.
    pub fn full(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Full, message)
    }
    /// Too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::TooLarge, message)
    }
    /// The seat of this link is taken by someone connected.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::InUse, message)
    }
    /// Malformed or names nobody.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::BadRequest, message)
    }
    /// Not allowed for this role.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Forbidden, message)
    }
    /// Locked or over.
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Closed, message)
    }
    /// Not now.
    pub fn bad_state(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::BadState, message)
    }
    /// Bad SDP.
    pub fn bad_sdp(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::BadSdp, message)
    }
    /// The server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Internal, message)
    }
}

/// A participant as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role (a transfer of the chair changes it).
    pub role: Role,
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera off.
    pub video_muted: bool,
    /// Reported network quality.
    pub quality: Option<u8>,
    /// False while its connection is dropped.
    pub connected: bool,
    /// Signed in.
    pub signed_in: bool,
}

/// A published track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackView {
    /// Track id.
    pub track: TrackId,
    /// Publisher.
    pub participant: String,
    /// What it carries.
    pub source: Source,
}

/// The chair-controlled state.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChairState {
    /// Nobody new may join.
    pub locked: bool,
    /// Muted participants cannot unmute themselves.
    pub mics_locked: bool,
    /// The speaking queue.
    pub hands: Vec<String>,
    /// Who has the floor.
    pub floor: Option<String>,
    /// When the floor ends (Unix ms).
    pub floor_ends_at: Option<u64>,
    /// Broadcast sources.
    pub broadcast: Option<Vec<String>>,
    /// Spotlighted participant.
    pub spotlight: Option<String>,
    /// Layout.
    pub layout: String,
    /// Who holds the chair now.
    pub chair: Option<String>,
    /// The roll call in progress, or the last one.
    pub roll_call: Option<RollCall>,
    /// The codec every publisher's video is sent in.
    pub video_codec: huiyi_protocol::VideoCodec,
    /// Recorded since (Unix ms).
    #[serde(default)]
    pub recording_since: Option<u64>,
    /// Broadcast live (HLS for the portal) since (Unix ms).
    #[serde(default)]
    pub live_since: Option<u64>,
}

/// Where a participant stands in a roll call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RollStatus {
    /// Not called yet.
    Waiting,
    /// Being called.
    Calling,
    /// Answered (到).
    Answered,
    /// Called, no answer.
    NoAnswer,
    /// Not in the meeting when called.
    NotJoined,
}

/// One line of a roll call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollEntry {
    /// Participant id.
    pub participant: String,
    /// Name (the id if it never joined).
    pub name: String,
    /// Status.
    pub status: RollStatus,
    /// When called (Unix ms).
    pub called_at: Option<u64>,
    /// When answered (Unix ms).
    pub answered_at: Option<u64>,
}

/// A roll call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollCall {
    /// The list, in calling order.
    pub entries: Vec<RollEntry>,
    /// Who is being called.
    pub current: Option<String>,
    /// Automatic mode.
    pub auto: bool,
    /// Seconds per venue in automatic mode.
    pub timeout_secs: u32,
    /// Started (Unix ms).
    pub started_at: u64,
    /// Everyone called, or stopped.
    pub finished: bool,
}
