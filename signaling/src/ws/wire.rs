//! The meeting's words on the wire: client messages become requests,
//! notices become server messages, refusals error codes, close reasons
//! close codes.

use huiyi_protocol::{
    close, ClientMsg, Control, ErrorCode, MeetingInfo, MeetingState, OfferedTrack, ParticipantInfo, RollCall,
    RollEntry, RollStatus, ServerMsg, TrackInfo, PROTOCOL_VERSION,
};

use crate::meeting::core::{
    self as core, Action, ChairState, CloseReason, Notice, ParticipantView, Refusal, RefusalKind, Request,
    TrackView,
};

/// The meeting request a client message asks for; `None` for the messages
/// the session handles itself (`hello`, `ping`).
pub fn request(msg: ClientMsg) -> Option<Request> {
    Some(match msg {
        ClientMsg::Hello { .. } | ClientMsg::Ping { .. } => return None,
        ClientMsg::Publish { sdp, tracks, restart } => {
            Request::Publish { sdp, tracks: tracks.into_iter().map(|t| (t.mid, t.source)).collect(), restart }
        }
        ClientMsg::Answer { offer_id, sdp } => Request::Answer { offer_id, sdp },
        ClientMsg::Mute { audio, video } => Request::Mute { audio, video },
        ClientMsg::Receive { video } => Request::Receive { video },
        ClientMsg::View { tiles } => Request::View {
            tiles: tiles
                .into_iter()
                .take(64)
                .filter_map(|t| {
                    let track = huiyi_sfu::TrackId(t.track.parse().ok()?);
                    // Simulcast layers are about a quarter, half and full 720p.
                    let layer = match t.height {
                        _ if !t.visible => None,
                        0..=200 => Some(0),
                        201..=400 => Some(1),
                        _ => Some(2),
                    };
                    Some((track, layer))
                })
                .collect(),
        },
        ClientMsg::Chat { text } => Request::Chat { text },
        ClientMsg::Quality { level } => Request::Quality { level },
        ClientMsg::Leave => Request::Leave,
        ClientMsg::Control { action } => Request::Control(action_of(action)),
        ClientMsg::RaiseHand => Request::RaiseHand,
        ClientMsg::LowerHand => Request::LowerHand,
        ClientMsg::RollCallAnswer => Request::RollCallAnswer,
        ClientMsg::SignIn => Request::SignIn,
    })
}

fn action_of(c: Control) -> Action {
    match c {
        Control::MuteParticipant { participant, muted } => Action::MuteParticipant { participant, muted },
        Control::MuteAll { lock } => Action::MuteAll { lock },
        Control::UnlockMics => Action::UnlockMics,
        Control::GrantFloor { participant, seconds } => Action::GrantFloor { participant, seconds },
        Control::DeclineHand { participant } => Action::DeclineHand { participant },
        Control::EndSpeech => Action::EndSpeech,
        Control::LowerAllHands => Action::LowerAllHands,
        Control::Broadcast { participants } => Action::Broadcast { participants },
        Control::LockMeeting { locked } => Action::LockMeeting { locked },
        Control::RemoveParticipant { participant, bar } => Action::RemoveParticipant { participant, bar },
        Control::EndMeeting => Action::EndMeeting,
        Control::TransferChair { participant } => Action::TransferChair { participant },
        Control::TakeChair => Action::TakeChair,
        Control::Spotlight { participant } => Action::Spotlight { participant },
        Control::Layout { layout } => Action::Layout { layout },
        Control::RollCallStart { participants, auto, timeout_secs } => {
            Action::RollCallStart { participants, auto, timeout_secs }
        }
        Control::RollCallCall { participant } => Action::RollCallCall { participant },
        Control::RollCallNext => Action::RollCallNext,
        Control::RollCallStop => Action::RollCallStop,
        Control::Record { on } => Action::Record { on },
        Control::Live { on } => Action::Live { on },
    }
}

/// The message a notice is sent as.
pub fn message(notice: Notice) -> ServerMsg {
    match notice {
        Notice::Welcome(w) => ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            session: w.session,
            resumed: w.resumed,
            meeting: MeetingInfo { id: w.meeting_id, title: w.title },
            you: participant(w.you),
            participants: w.participants.into_iter().map(participant).collect(),
            tracks: w.tracks.into_iter().map(track).collect(),
            active_speaker: w.active_speaker,
            ice_servers: Vec::new(), // filled in by the session (it knows the TURN settings)
            video_codec: w.video_codec,
        },
        Notice::Answer { sdp } => ServerMsg::Answer { sdp },
        Notice::Offer { offer_id, sdp, tracks } => ServerMsg::Offer {
            offer_id,
            sdp,
            tracks: tracks.into_iter().map(|(mid, t)| OfferedTrack { mid, track: t.to_string() }).collect(),
        },
        Notice::Joined(p) => ServerMsg::ParticipantJoined { participant: participant(p) },
        Notice::Left { id, reason } => ServerMsg::ParticipantLeft { id, reason },
        Notice::Updated(p) => ServerMsg::ParticipantUpdated { participant: participant(p) },
        Notice::Track(t) => ServerMsg::Track { track: track(t) },
        Notice::TrackEnded(t) => ServerMsg::TrackEnded { track: t.to_string() },
        Notice::VideoPaused(t) => {
            ServerMsg::VideoPaused { track: t.to_string(), reason: huiyi_protocol::PauseReason::Bandwidth }
        }
        Notice::VideoResumed(t) => ServerMsg::VideoResumed { track: t.to_string() },
        Notice::Layers { mid, active } => ServerMsg::Layers { mid, active },
        Notice::ActiveSpeaker(participant) => ServerMsg::ActiveSpeaker { participant },
        Notice::Chat { from, name, text, at } => ServerMsg::Chat { from, name, text, at },
        Notice::State(s) => ServerMsg::MeetingState { state: state(s) },
        Notice::UnmuteRequest { by } => ServerMsg::UnmuteRequest { by },
        Notice::LinkReused => ServerMsg::LinkReused,
        Notice::Refused(r) => error(&r),
    }
}

/// The `error` message of a refusal.
pub fn error(r: &Refusal) -> ServerMsg {
    ServerMsg::Error { code: code(r.kind), message: r.message.clone() }
}

/// The error code of a refusal.
pub fn code(kind: RefusalKind) -> ErrorCode {
    match kind {
        RefusalKind::BadRequest => ErrorCode::BadMessage,
        RefusalKind::Forbidden => ErrorCode::Forbidden,
        RefusalKind::Closed => ErrorCode::MeetingClosed,
        RefusalKind::BadState => ErrorCode::BadState,
        RefusalKind::BadSdp => ErrorCode::BadSdp,
        RefusalKind::Internal => ErrorCode::Internal,
        RefusalKind::InUse => ErrorCode::LinkInUse,
        RefusalKind::Full => ErrorCode::Full,
        RefusalKind::TooLarge => ErrorCode::TooLarge,
    }
}

/// The close code and reason of a close.
pub fn close_frame(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Left => (close::NORMAL, "left"),
        CloseReason::Replaced(how) => (close::REPLACED, how),
        CloseReason::Ended => (close::ENDED, "the meeting has ended"),
        CloseReason::EndedByChair => (close::ENDED, "the chair ended the meeting"),
        CloseReason::Removed => (close::REMOVED, "removed by the chair"),
        CloseReason::LinkReplaced => (close::REMOVED, "this link was replaced by a new one"),
        CloseReason::ServerStopping => (close::GOING_AWAY, "the server is restarting"),
        CloseReason::TooSlow => (close::POLICY, "too slow to keep up"),
    }
}

fn participant(p: ParticipantView) -> ParticipantInfo {
    ParticipantInfo {
        id: p.id,
        name: p.name,
        role: p.role,
        audio_muted: p.audio_muted,
        video_muted: p.video_muted,
        quality: p.quality,
        connected: p.connected,
        signed_in: p.signed_in,
    }
}

fn track(t: TrackView) -> TrackInfo {
    TrackInfo { track: t.track.to_string(), participant: t.participant, source: t.source }
}

fn state(s: ChairState) -> MeetingState {
    MeetingState {
        locked: s.locked,
        mics_locked: s.mics_locked,
        hands: s.hands,
        floor: s.floor,
        floor_ends_at: s.floor_ends_at,
        broadcast: s.broadcast,
        spotlight: s.spotlight,
        layout: s.layout,
        chair: s.chair,
        roll_call: s.roll_call.map(roll_call),
        video_codec: s.video_codec,
        recording_since: s.recording_since,
        live_since: s.live_since,
    }
}

fn roll_call(rc: core::RollCall) -> RollCall {
    RollCall {
        entries: rc
            .entries
            .into_iter()
            .map(|e| RollEntry {
                participant: e.participant,
                name: e.name,
                status: match e.status {
                    core::RollStatus::Waiting => RollStatus::Waiting,
                    core::RollStatus::Calling => RollStatus::Calling,
                    core::RollStatus::Answered => RollStatus::Answered,
                    core::RollStatus::NoAnswer => RollStatus::NoAnswer,
                    core::RollStatus::NotJoined => RollStatus::NotJoined,
                },
                called_at: e.called_at,
                answered_at: e.answered_at,
            })
            .collect(),
        current: rc.current,
        auto: rc.auto,
        timeout_secs: rc.timeout_secs,
        started_at: rc.started_at,
        finished: rc.finished,
    }
}
