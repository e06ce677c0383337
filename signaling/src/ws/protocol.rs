//! The signaling protocol, version 1: JSON text frames, one object each,
//! tagged by `type`. `docs/protocol.md` documents every message.

use serde::{Deserialize, Serialize};

use crate::token::Role;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message: who I am.
    Hello {
        /// Protocol version the client speaks.
        version: u32,
        /// The join token from the invitation link.
        #[serde(default)]
        token: Option<String>,
        /// Demo mode only: the meeting to join without a token.
        #[serde(default)]
        demo_meeting: Option<String>,
        /// Display name (demo mode; a token carries its own).
        #[serde(default)]
        name: Option<String>,
        /// The `session` of an earlier `welcome`, to resume after a drop.
        #[serde(default)]
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
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
