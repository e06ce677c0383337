//! Huiyi's signaling protocol, version 1: JSON text frames, one object each,
//! tagged by `type`. `docs/protocol.md` documents every message.
//!
//! This crate is the leaf below everything else: the server, the load
//! generator and the test clients all speak through these types, and every
//! type goes both ways (serialise and deserialise), so no Rust code writes
//! message JSON by hand.

use serde::{Deserialize, Serialize};

mod state;

pub use state::{MeetingState, RollCall, RollEntry, RollStatus, VideoCodec};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A participant's role in a live meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Chairs the meeting (主席).
    Chair,
    /// Meeting secretary (会务).
    Secretary,
    /// An unattended venue terminal (会场).
    Venue,
    /// A person.
    Participant,
    /// Attends, never publishes (列席).
    Observer,
}

/// Where a published track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The microphone.
    Microphone,
    /// The camera.
    Camera,
    /// A shared screen or window.
    Screen,
}

/// A client's description of one m-line it publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackMeta {
    /// The m-line's `mid` in the client's offer.
    pub mid: String,
    /// What it carries.
    pub source: Source,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message: who I am.
    Hello {
        /// Protocol version the client speaks.
        version: u32,
        /// The join token from the invitation link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Demo mode only: the meeting to join without a token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        demo_meeting: Option<String>,
        /// Display name (demo mode; a token carries its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The `session` of an earlier `welcome`, to resume after a drop.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// An SDP offer for what the client publishes (first join, screen share,
    /// ICE restart).
    Publish {
        /// The offer.
        sdp: String,
        /// What each published m-line carries.
        #[serde(default)]
        tracks: Vec<TrackMeta>,
        /// The client started a new peer connection (after a network
        /// failure): the server drops the old media session first.
        #[serde(default)]
        restart: bool,
    },
    /// The answer to a server `offer`.
    Answer {
        /// The `offer_id` of the offer answered.
        offer_id: u64,
        /// The answer.
        sdp: String,
    },
    /// Mute or unmute my microphone / camera (enforced by the server).
    Mute {
        /// New microphone state, if changing.
        #[serde(default)]
        audio: Option<bool>,
        /// New camera state, if changing.
        #[serde(default)]
        video: Option<bool>,
    },
    /// What I want to receive: `video: false` is audio-only mode for a weak
    /// link (the server stops sending me video).
    Receive {
        /// Receive video.
        video: bool,
    },
    /// What I show of the videos I receive (sent when tiles change size or
    /// visibility): the server sends no more of a video than its tile can
    /// show, and nothing of one I do not show. Tracks not named keep what
    /// was said before (at first: everything, at its best).
    View {
        /// One per video track.
        tiles: Vec<TileView>,
    },
    /// A chat message to everyone.
    Chat {
        /// The text (at most 2 000 characters).
        text: String,
    },
    /// My network quality as the client measures it (0 bad … 3 good).
    Quality {
        /// Level.
        level: u8,
    },
    /// Application-level keepalive.
    Ping {
        /// Echoed in `pong`.
        #[serde(default)]
        nonce: u64,
    },
    /// I leave the meeting.
    Leave,
    /// Chair control (chair and secretary only); see [`Control`].
    Control {
        /// The action.
        #[serde(flatten)]
        action: Control,
    },
    /// I ask for the floor (申请发言): join the speaking queue.
    RaiseHand,
    /// I withdraw my request.
    LowerHand,
    /// I answer the roll call (到).
    RollCallAnswer,
    /// I sign in (签到): my presence is recorded for the attendance.
    SignIn,
}

/// What the chair (主席) or the secretary (会务) does to the meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Control {
    /// Mute or unmute one participant's microphone. Unmuting a venue opens
    /// its microphone directly; a person is asked (`unmute_request`).
    MuteParticipant {
        /// Who.
        participant: String,
        /// Mute (true) or unmute (false).
        muted: bool,
    },
    /// Mute everyone but the chair and secretary; with `lock`, muted
    /// participants cannot unmute themselves.
    MuteAll {
        /// Lock the microphones.
        #[serde(default)]
        lock: bool,
    },
    /// Let participants unmute themselves again.
    UnlockMics,
    /// Give the floor: the speaker's microphone opens; with `seconds`, a
    /// speaking timer runs and the microphone closes when it ends.
    GrantFloor {
        /// Who.
        participant: String,
        /// Speaking time limit.
        #[serde(default)]
        seconds: Option<u32>,
    },
    /// Decline a speaking request.
    DeclineHand {
        /// Whose.
        participant: String,
    },
    /// End the current speech: the speaker's microphone closes.
    EndSpeech,
    /// Clear the speaking queue.
    LowerAllHands,
    /// Broadcast mode (会议广播): everyone but the chair and secretary
    /// receives only these participants' video; `null` ends it.
    Broadcast {
        /// The sources shown to everyone.
        participants: Option<Vec<String>>,
    },
    /// Lock the meeting: nobody new may join.
    LockMeeting {
        /// Locked or not.
        locked: bool,
    },
    /// Remove a participant, optionally barring it from rejoining.
    RemoveParticipant {
        /// Who.
        participant: String,
        /// Refuse its token for the rest of the meeting.
        #[serde(default)]
        bar: bool,
    },
    /// End the meeting for everyone.
    EndMeeting,
    /// Hand the chair to another participant (the chair only).
    TransferChair {
        /// The new chair.
        participant: String,
    },
    /// The secretary takes the chair over.
    TakeChair,
    /// Show one participant large on every screen (`null`: nobody).
    Spotlight {
        /// Who.
        participant: Option<String>,
    },
    /// The layout every client renders.
    Layout {
        /// `1`, `1+5`, `2x2`, `3x3` or `4x4`.
        layout: String,
    },
    /// Start a roll call (点名) of these participants (default: the venues
    /// present, in id order). With `auto`, the server calls them one after
    /// the other, `timeout_secs` (default 20) each.
    RollCallStart {
        /// Whom to call, in order (may include venues not joined yet).
        #[serde(default)]
        participants: Option<Vec<String>>,
        /// Walk the list automatically.
        #[serde(default)]
        auto: bool,
        /// Seconds to wait for an answer in automatic mode.
        #[serde(default)]
        timeout_secs: Option<u32>,
    },
    /// Call one participant now.
    RollCallCall {
        /// Whom.
        participant: String,
    },
    /// No answer from the one called: mark it and call the next.
    RollCallNext,
    /// End the roll call.
    RollCallStop,
    /// Start (`true`) or stop recording the meeting (录制): everyone sees
    /// `recording_since` in the meeting state.
    Record {
        /// On or off.
        on: bool,
    },
    /// Start (`true`) or stop the live feed for the portal (直播, HLS):
    /// everyone sees `live_since` in the meeting state. The viewer link is
    /// the secretary's console's to hand out.
    Live {
        /// On or off.
        on: bool,
    },
}

/// A participant as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Participant id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera off.
    pub video_muted: bool,
    /// Network quality reported by the participant (0 bad … 3 good).
    pub quality: Option<u8>,
    /// False while its connection is dropped and it may still come back.
    pub connected: bool,
    /// Signed in (签到) for this meeting.
    #[serde(default)]
    pub signed_in: bool,
}

/// A published track as subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// Track id (stable while published).
    pub track: String,
    /// The publisher.
    pub participant: String,
    /// What it carries.
    pub source: Source,
}

/// Meeting facts sent on welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingInfo {
    /// Meeting id.
    pub id: String,
    /// Title.
    pub title: String,
}

/// An m-line of a server offer and the track it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedTrack {
    /// The m-line's `mid`.
    pub mid: String,
    /// Track id.
    pub track: String,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, or not a message of this protocol.
    BadMessage,
    /// The client speaks another protocol version.
    UnsupportedVersion,
    /// Missing, damaged, forged or expired token.
    Unauthorized,
    /// The role does not allow this (an observer publishing).
    Forbidden,
    /// The meeting is locked or over.
    MeetingClosed,
    /// Message sent in the wrong state (e.g. before `hello`).
    BadState,
    /// The SDP could not be negotiated.
    BadSdp,
    /// The client sends too fast.
    RateLimited,
    /// The message is too large.
    TooLarge,
    /// The resume session is unknown or its grace period is over.
    ResumeFailed,
    /// The server could not do it (media plane unavailable).
    Internal,
    /// The join link is in use by a participant who is connected (a second
    /// device or tab, or someone else holding the link).
    LinkInUse,
    /// A configured limit is reached: the meeting or the server is full.
    Full,
}

/// How one received video is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileView {
    /// Track id.
    pub track: String,
    /// Its tile's height in device pixels (CSS pixels × devicePixelRatio).
    pub height: u32,
    /// On screen at all (false: a hidden tab, a collapsed panel, scrolled away).
    pub visible: bool,
}

/// Why a video is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// Your link cannot carry it now.
    Bandwidth,
}

/// A TURN server as `RTCPeerConnection` takes it (`RTCIceServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// Time-limited username (`expiry:participant`).
    pub username: String,
    /// Its password.
    pub credential: String,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// You are in.
    Welcome {
        /// Protocol version.
        version: u32,
        /// Keep it: `hello { resume }` with it after a drop.
        session: String,
        /// True when an earlier session was resumed.
        resumed: bool,
        /// The meeting.
        meeting: MeetingInfo,
        /// You.
        you: ParticipantInfo,
        /// Everyone else present.
        participants: Vec<ParticipantInfo>,
        /// Tracks currently published.
        tracks: Vec<TrackInfo>,
        /// The speaker now, if any.
        active_speaker: Option<String>,
        /// TURN relays to give the peer connection (`iceServers`), with
        /// credentials valid for hours; absent when the server has none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// The meeting's video codec (as in `meeting_state`): publish in it
        /// from the first offer.
        #[serde(default)]
        video_codec: VideoCodec,
    },
    /// The answer to your `publish`.
    Answer {
        /// SDP answer.
        sdp: String,
    },
    /// The server's offer (what you receive changed); reply with `answer`.
    Offer {
        /// Identifies the offer.
        offer_id: u64,
        /// SDP offer.
        sdp: String,
        /// The m-lines it adds and their tracks.
        tracks: Vec<OfferedTrack>,
    },
    /// Someone joined.
    ParticipantJoined {
        /// Who.
        participant: ParticipantInfo,
    },
    /// Someone left.
    ParticipantLeft {
        /// Who.
        id: String,
        /// Why (`left`, `timeout`, `removed`, `failed`).
        reason: String,
    },
    /// Someone's state changed (mute, quality, connection).
    ParticipantUpdated {
        /// New state.
        participant: ParticipantInfo,
    },
    /// A track was published.
    Track {
        /// The track.
        #[serde(flatten)]
        track: TrackInfo,
    },
    /// A track ended.
    TrackEnded {
        /// Track id.
        track: String,
    },
    /// A video you receive is paused: even its smallest layer does not fit
    /// your link now. Audio goes on. Keep its last frame (or its name) with
    /// a "weak network" (网络较差) badge; it resumes by itself.
    VideoPaused {
        /// Track id.
        track: String,
        /// Why.
        reason: PauseReason,
    },
    /// A paused video is sent again.
    VideoResumed {
        /// Track id.
        track: String,
    },
    /// Send only these simulcast encodings of your video on m-line `mid`
    /// (by rid: `q`, `h`, `f`), `active: false` on the others: nobody
    /// receives them now. Sent again with more when someone does.
    Layers {
        /// The m-line of your camera or screen.
        mid: String,
        /// The rids to send.
        active: Vec<String>,
    },
    /// The loudest speaker changed.
    ActiveSpeaker {
        /// Participant id, or null for silence.
        participant: Option<String>,
    },
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
    /// A request failed; the session goes on.
    Error {
        /// Machine-readable.
        code: ErrorCode,
        /// For people.
        message: String,
    },
    /// The chair-controlled state changed (also sent after `welcome`).
    MeetingState {
        /// The state.
        #[serde(flatten)]
        state: MeetingState,
    },
    /// The chair asks you to unmute (you are a person, not a venue terminal):
    /// reply with `mute {audio: false}` to accept.
    UnmuteRequest {
        /// Who asks.
        by: String,
    },
    /// Someone else tried to join with your link while you are here, and was
    /// refused: if it was not you, tell the secretary (the link has leaked).
    LinkReused,
    /// Reply to `ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// WebSocket close codes used by the server.
pub mod close {
    /// Normal: the participant left or the meeting ended.
    pub const NORMAL: u16 = 1000;
    /// Protocol violation (binary frames, no hello in time, repeated bad messages).
    pub const PROTOCOL: u16 = 1002;
    /// Policy: unauthorized, rate abuse, too slow to keep up.
    pub const POLICY: u16 = 1008;
    /// A frame larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// Server going down.
    pub const GOING_AWAY: u16 = 1001;
    /// This session was replaced by a newer one of the same participant.
    pub const REPLACED: u16 = 4001;
    /// The chair ended the meeting.
    pub const ENDED: u16 = 4002;
    /// The chair removed this participant.
    pub const REMOVED: u16 = 4003;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse() {
        let m: ClientMsg =
            serde_json::from_str(r#"{"type":"hello","version":1,"token":"x"}"#).expect("hello");
        assert!(matches!(m, ClientMsg::Hello { version: 1, .. }));
        let m: ClientMsg = serde_json::from_str(r#"{"type":"leave"}"#).expect("leave");
        assert_eq!(m, ClientMsg::Leave);
        let m: ClientMsg = serde_json::from_str(r#"{"type":"mute","audio":true}"#).expect("mute");
        assert_eq!(m, ClientMsg::Mute { audio: Some(true), video: None });
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"type":"nope"}"#,
            r#"{"type":"chat"}"#,
            r#"{"type":"chat","text":5}"#,
            r#"{"type":"answer","offer_id":-1,"sdp":""}"#,
        ] {
            assert!(serde_json::from_str::<ClientMsg>(bad).is_err(), "{bad}");
        }
    }

    /// Every message goes both ways: what the server sends, a client reads
    /// back unchanged, and the other way round.
    #[test]
    fn messages_round_trip() {
        let client = [
            ClientMsg::Hello {
                version: 1,
                token: Some("t".into()),
                demo_meeting: None,
                name: None,
                resume: None,
            },
            ClientMsg::Publish {
                sdp: "v=0".into(),
                tracks: vec![TrackMeta { mid: "0".into(), source: Source::Camera }],
                restart: false,
            },
            ClientMsg::Control { action: Control::UnlockMics },
            ClientMsg::Control { action: Control::GrantFloor { participant: "p".into(), seconds: Some(60) } },
            ClientMsg::Control { action: Control::Broadcast { participants: None } },
            ClientMsg::Leave,
        ];
        for m in client {
            let json = serde_json::to_string(&m).expect("serialise");
            assert_eq!(serde_json::from_str::<ClientMsg>(&json).expect(&json), m);
        }
        let json = serde_json::to_value(ClientMsg::Control { action: Control::UnlockMics }).expect("json");
        assert_eq!(json, serde_json::json!({"type": "control", "action": "unlock_mics"}));
        let hello = serde_json::to_value(ClientMsg::Hello {
            version: 1,
            token: Some("t".into()),
            demo_meeting: None,
            name: None,
            resume: None,
        })
        .expect("json");
        assert_eq!(hello, serde_json::json!({"type": "hello", "version": 1, "token": "t"}));
        let state = MeetingState {
            layout: "2x2".into(),
            chair: Some("c".into()),
            roll_call: Some(RollCall {
                entries: vec![RollEntry {
                    participant: "v".into(),
                    name: "城关镇".into(),
                    status: RollStatus::NoAnswer,
                    called_at: Some(1),
                    answered_at: None,
                }],
                current: None,
                auto: true,
                timeout_secs: 20,
                started_at: 1,
                finished: true,
            }),
            ..MeetingState::default()
        };
        let server = [
            ServerMsg::MeetingState { state },
            ServerMsg::Track {
                track: TrackInfo { track: "t".into(), participant: "p".into(), source: Source::Microphone },
            },
            ServerMsg::Error { code: ErrorCode::Forbidden, message: "no".into() },
            ServerMsg::Pong { nonce: 7 },
        ];
        for m in server {
            let json = serde_json::to_string(&m).expect("serialise");
            assert_eq!(serde_json::from_str::<ServerMsg>(&json).expect(&json), m);
        }
    }

    #[test]
    fn server_messages_are_tagged() {
        let v = serde_json::to_value(ServerMsg::TrackEnded { track: "t1".into() }).expect("json");
        assert_eq!(v, serde_json::json!({"type": "track_ended", "track": "t1"}));
        let v = serde_json::to_value(ServerMsg::Track {
            track: TrackInfo { track: "t".into(), participant: "p".into(), source: Source::Screen },
        })
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!({"type": "track", "track": "t", "participant": "p", "source": "screen"})
        );
    }
}
