//! The live meeting as plain data and rules: participants, the chair, the
//! floor and the speaking queue, roll calls, broadcast, layout.
//!
//! Sans-IO, like the media plane's `Engine`: [`Core::handle`] takes the time
//! and one [`Input`] and returns the [`Effect`]s to carry out, in order. No
//! `await`, no clock reads, no sockets, no wire types: the actor
//! (`meeting/actor.rs`) executes the effects (media-plane commands, store
//! records, notices to sessions) and feeds the media plane's results back
//! as inputs; the WebSocket session turns [`Notice`]s into wire messages.
//! ADR 0008 records the design.

mod carry;
mod chair;
mod media;
mod presence;
mod recview;
mod rollcall;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use huiyi_sfu::{PeerId, SfuEvent, TrackId, TrackKind};

pub use carry::{Carried, CarriedParticipant, CARRIED_VERSION, RESTORE_GRACE};
pub use types::*;

use crate::clock::Now;

/// Something that happened to the meeting.
#[derive(Debug)]
pub enum Input {
    /// A session joins (or resumes with the `session` key of its welcome).
    Attach {
        /// Who, from the verified token.
        guest: Guest,
        /// The session key of an earlier welcome.
        resume: Option<String>,
    },
    /// A request from an attached session.
    Request {
        /// Participant.
        pid: String,
        /// Session epoch (ignored if a newer session replaced it).
        epoch: u64,
        /// The request.
        request: Request,
    },
    /// The session's connection dropped (without `leave`), or it was too
    /// slow to keep up: the participant may resume within the grace period.
    Detach {
        /// Participant.
        pid: String,
        /// Session epoch.
        epoch: u64,
    },
    /// An event from the media plane.
    Media(SfuEvent),
    /// The result of an [`SfuCmd`] that has one.
    Sfu(SfuResult),
    /// Time passed: timers due at `now` fire.
    Tick,
    /// The meeting is over (ended by the secretary or by its schedule).
    End,
    /// The secretary re-issued this participant's link: whoever holds the
    /// seat with the old one leaves now (the new link joins afterwards).
    Revoke {
        /// Participant.
        pid: String,
    },
    /// The server stops: everyone's leave is recorded, clients come back later.
    Shutdown,
    /// Start or stop the recording from the console (account `by`, whose
    /// permission the console checked).
    Record {
        /// Start or stop.
        on: bool,
        /// The account.
        by: String,
    },
    /// The recording runs since (`Some`, Unix ms) or stopped; `error`: why
    /// it could not start (told to `by`).
    Recorded {
        /// Running since.
        since: Option<u64>,
        /// Who asked, if anyone.
        by: Option<String>,
        /// What went wrong.
        error: Option<String>,
    },
    /// Start or stop the live feed from the console (account `by`).
    Live {
        /// Start or stop.
        on: bool,
        /// The account.
        by: String,
    },
    /// The live feed runs since (`Some`, Unix ms) or stopped; `error`: why
    /// it stopped or could not start (logged).
    Aired {
        /// Running since.
        since: Option<u64>,
        /// What went wrong.
        error: Option<String>,
    },
}

/// A participant as its verified join token names it.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Participant id, unique within the meeting.
    pub pid: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// What to do, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// The answer to an [`Input::Attach`].
    Admit(Result<Admitted, Refusal>),
    /// Deliver a notice to one participant's session.
    Notify(String, Notice),
    /// Close one participant's current session.
    Close(String, CloseReason),
    /// A command to the media plane.
    Sfu(SfuCmd),
    /// Something to keep in the store.
    Record(Record),
    /// A configured limit refused something (counted for `/metrics`).
    Limit(crate::limits::Limit),
    /// Start (`on`) or stop the recording, asked by `by`; the result comes
    /// back as [`Input::Recorded`].
    Recording {
        /// Start or stop.
        on: bool,
        /// Who asked (participant id).
        by: String,
    },
    /// Start (`on`) or stop the live feed, asked by account `by`; the
    /// result comes back as [`Input::Aired`].
    Live {
        /// Start or stop.
        on: bool,
        /// Who asked.
        by: String,
    },
}

/// The session's identity inside its meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Participant id.
    pub pid: String,
    /// Which session of the participant this is.
    pub epoch: u64,
}

/// Media-plane commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuCmd {
    /// Create a media session for `pid` from its offer; the result comes
    /// back as [`SfuResult::PeerAdded`].
    AddPeer {
        /// Participant.
        pid: String,
        /// Its SDP offer.
        sdp: String,
        /// False for an observer: the media plane publishes nothing of it.
        may_publish: bool,
    },
    /// A new offer on an existing media session; result: [`SfuResult::Renegotiated`].
    Renegotiate {
        /// Participant.
        pid: String,
        /// Its media session.
        peer: PeerId,
        /// The offer.
        sdp: String,
    },
    /// An answer to a server offer; result: [`SfuResult::AnswerApplied`].
    AcceptAnswer {
        /// Participant.
        pid: String,
        /// Its media session.
        peer: PeerId,
        /// The offer answered.
        offer_id: u64,
        /// The answer.
        sdp: String,
    },
    /// Drop a media session.
    RemovePeer(PeerId),
    /// Forward or hold a track.
    SetMuted(PeerId, TrackId, bool),
    /// Audio-only mode of a receiver.
    SetReceiveVideo(PeerId, bool),
    /// Whose video a receiver gets (`None`: everyone's).
    SetVideoSources(PeerId, Option<Vec<PeerId>>),
    /// The highest layer worth sending a subscriber of each video (`None`: not shown).
    SetTileLimits(PeerId, Vec<(TrackId, Option<u8>)>),
    /// The publishers whose video comes first for everyone (floor, broadcast, spotlight).
    SetFeatured(Vec<PeerId>),
    /// The publishers always heard in a large meeting (the chair), whatever
    /// audio top-N chooses.
    SetAlwaysHeard(Vec<PeerId>),
}

/// How a media-plane command with a result went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuResult {
    /// [`SfuCmd::AddPeer`]: the answer, and the new session's id.
    PeerAdded {
        /// Participant.
        pid: String,
        /// The answer and the peer, or why not.
        result: Result<(PeerId, String), SfuFailure>,
    },
    /// [`SfuCmd::Renegotiate`]: the answer.
    Renegotiated {
        /// Participant.
        pid: String,
        /// The answer, or why not.
        result: Result<String, SfuFailure>,
    },
    /// [`SfuCmd::AcceptAnswer`].
    AnswerApplied {
        /// Participant.
        pid: String,
        /// The offer answered.
        offer_id: u64,
        /// Whether it was taken.
        result: Result<(), SfuFailure>,
    },
}

/// Why the media plane refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuFailure {
    /// The SDP could not be negotiated.
    BadSdp(String),
    /// An answer to an offer that a newer one replaced.
    Stale,
    /// Anything else (the media plane is unavailable).
    Other(String),
}

/// Records for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A join or a leave.
    Attendance {
        /// Participant.
        pid: String,
        /// Name.
        name: String,
        /// `join` or `leave`.
        event: &'static str,
        /// Why it left (empty for a join).
        reason: String,
        /// Unix seconds.
        at: i64,
    },
    /// A sign-in (签到).
    SignIn {
        /// Participant.
        pid: String,
        /// Name.
        name: String,
        /// Unix seconds.
        at: i64,
    },
    /// A finished roll call.
    RollCall(RollCall),
    /// The chair ended the meeting from inside: its record ends too.
    Ended {
        /// Who ended it.
        by: String,
        /// Unix seconds.
        at: i64,
    },
}

/// Entries a `publish` may list in `tracks`: a camera, a microphone and a
/// screen are three; the media plane takes at most `sfu.max_tracks_per_peer`.
const MAX_LISTED_TRACKS: usize = 16;

/// One participant as the meeting keeps it.
struct Participant {
    view: ParticipantView,
    session_key: String,
    epoch: u64,
    /// A session is attached (false while dropped, within the grace period).
    attached: bool,
    peer: Option<PeerId>,
    tracks: Vec<Published>,
    /// The sources of the m-lines its latest `publish` sends, by mid: the
    /// list of one message (every sending m-line, as the protocol says),
    /// replaced by the next, at most `MAX_LISTED_TRACKS`.
    sources: HashMap<String, Source>,
    /// False in audio-only mode: the server sends it no video.
    receive_video: bool,
    /// What its tiles show (the latest `view` per track), kept across
    /// media sessions and applied to each new one.
    tiles: Vec<(TrackId, Option<u8>)>,
    /// The server offer waiting for this participant's answer (re-sent on resume).
    pending_offer: Option<Notice>,
    gone_since: Option<Instant>,
    /// The video codecs its offers list (VP8, H.264), once it offered video.
    video_codecs: Option<(bool, bool)>,
    /// Carried over a server restart and not taken again yet: its
    /// attendance interval was closed at the restart (carry.rs).
    carried: bool,
}

struct Published {
    id: TrackId,
    kind: TrackKind,
    source: Source,
}

/// The state of one live meeting.
pub struct Core {
    id: String,
    title: String,
    grace: Duration,
    /// A second use of a link whose holder is connected takes the seat
    /// (`signaling.link_reuse = "takeover"`) instead of being refused.
    pub takeover: bool,
    /// Most seats (`limits.participants_per_meeting`).
    pub max_participants: usize,
    /// Largest SDP accepted, bytes (`limits.sdp_bytes`).
    pub max_sdp: usize,
    /// The featured publishers last told to the media plane.
    featured: Vec<PeerId>,
    /// The always-heard publishers last told to the media plane.
    heard: Vec<PeerId>,
    participants: HashMap<String, Participant>,
    speaker: Option<String>,
    ever_joined: bool,
    /// The chair-controlled state (locks, hands, floor, broadcast, layout).
    state: ChairState,
    /// Removed and barred from rejoining this meeting.
    barred: HashSet<String>,
    /// Persons the chair asked to unmute (allowed even with locked mics).
    unmute_allowed: HashSet<String>,
    /// When the current timed speech ends.
    floor_deadline: Option<Instant>,
    /// When the current roll-call call times out (automatic mode).
    roll_deadline: Option<Instant>,
    /// The venue whose microphone the current roll-call call opened.
    roll_opened_mic: Option<String>,
    /// The time of the input being handled.
    now: Now,
    /// Effects of the input being handled.
    out: Vec<Effect>,
}

impl Core {
    /// A meeting with nobody in it yet; dropped participants may resume
    /// within `grace`.
    pub fn new(id: String, title: String, grace: Duration, now: Now) -> Self {
        Self {
            id,
            title,
            grace,
            takeover: false,
            max_participants: usize::MAX,
            max_sdp: usize::MAX,
            featured: Vec::new(),
            heard: Vec::new(),
            participants: HashMap::new(),
            speaker: None,
            ever_joined: false,
            state: ChairState { layout: "auto".into(), ..ChairState::default() },
            barred: HashSet::new(),
            unmute_allowed: HashSet::new(),
            floor_deadline: None,
            roll_deadline: None,
            roll_opened_mic: None,
            now,
            out: Vec::new(),
        }
    }

    /// Handles one input at `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Now, input: Input) -> Vec<Effect> {
        self.now = now;
        match input {
            Input::Attach { guest, resume } => {
                if let Err(refusal) = self.attach(guest, resume) {
                    self.out.push(Effect::Admit(Err(refusal)));
                }
            }
            Input::Request { pid, epoch, request } => {
                if self.participants.get(&pid).is_some_and(|p| p.epoch == epoch && p.attached) {
                    self.request(&pid, request);
                }
            }
            Input::Detach { pid, epoch } => self.detach(&pid, epoch),
            Input::Media(event) => self.media(event),
            Input::Sfu(result) => self.sfu_result(result),
            Input::Tick => {
                self.expire_dropped();
                self.tick_floor();
                self.tick_roll_call();
            }
            Input::End => self.close_all(CloseReason::Ended, "ended"),
            Input::Revoke { pid } => {
                if self.participants.get(&pid).is_some_and(|p| p.attached) {
                    self.out.push(Effect::Close(pid.clone(), CloseReason::LinkReplaced));
                }
                self.remove(&pid, "link_replaced");
            }
            Input::Shutdown => self.close_all(CloseReason::ServerStopping, "server_stopped"),
            Input::Record { on, by } => {
                if on != self.state.recording_since.is_some() {
                    self.out.push(Effect::Recording { on, by });
                }
            }
            Input::Recorded { since, by, error } => {
                if let (Some(by), Some(error)) = (by, error) {
                    self.refuse(&by, Refusal::bad_state(format!("recording: {error}")));
                }
                if self.state.recording_since != since {
                    self.state.recording_since = since;
                    self.send_state();
                }
            }
            Input::Live { on, by } => {
                if on != self.state.live_since.is_some() {
                    self.out.push(Effect::Live { on, by });
                }
            }
            Input::Aired { since, error } => {
                if let Some(error) = error {
                    tracing::warn!(meeting = %self.id, %error, "the live feed");
                }
                if self.state.live_since != since {
                    self.state.live_since = since;
                    self.send_state();
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// The next time [`Input::Tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let grace = self.participants.values().filter_map(|p| p.gone_since.map(|t| t + self.grace_of(p)));
        grace.chain(self.floor_deadline).chain(self.roll_deadline).min()
    }

    /// True once the meeting had someone and everyone is gone: it closes.
    pub fn finished(&self) -> bool {
        self.ever_joined && self.participants.is_empty()
    }

    /// The meeting's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The meeting's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The chair-controlled state now.
    pub fn state(&self) -> &ChairState {
        &self.state
    }

    /// A participant as everyone sees it.
    pub fn participant(&self, pid: &str) -> Option<&ParticipantView> {
        self.participants.get(pid).map(|p| &p.view)
    }

    /// Seats taken (present, or dropped within their grace).
    pub fn seat_count(&self) -> usize {
        self.participants.len()
    }

    fn request(&mut self, pid: &str, request: Request) {
        if let Request::Publish { sdp, .. } | Request::Answer { sdp, .. } = &request {
            if sdp.len() > self.max_sdp {
                self.out.push(Effect::Limit(crate::limits::Limit::SdpBytes));
                let why =
                    format!("the SDP is {} bytes; this server takes at most {}", sdp.len(), self.max_sdp);
                return self.refuse(pid, Refusal::too_large(why));
            }
        }
        if let Request::Publish { tracks, .. } = &request {
            if tracks.len() > MAX_LISTED_TRACKS {
                let why = format!(
                    "the publish lists {} tracks; a session sends at most {MAX_LISTED_TRACKS}",
                    tracks.len()
                );
                return self.refuse(pid, Refusal::too_large(why));
            }
        }
        match request {
            Request::Publish { sdp, tracks, restart } => self.publish(pid, sdp, tracks, restart),
            Request::Answer { offer_id, sdp } => self.answer(pid, offer_id, sdp),
            Request::Mute { audio, video } => self.mute(pid, audio, video),
            Request::Receive { video } => self.receive(pid, video),
            Request::View { tiles } => {
                let Some(p) = self.participants.get_mut(pid) else { return };
                for (track, limit) in &tiles {
                    if let Some(known) = p.tiles.iter_mut().find(|(t, _)| t == track) {
                        known.1 = *limit;
                    } else if p.tiles.len() < 256 {
                        p.tiles.push((*track, *limit));
                    }
                }
                if let Some(peer) = p.peer {
                    self.sfu(SfuCmd::SetTileLimits(peer, tiles));
                }
            }
            Request::Chat { text } => self.chat(pid, &text),
            Request::Quality { level } => {
                let level = level.min(3);
                let p = self.participants.get_mut(pid).expect("checked by caller");
                if p.view.quality != Some(level) {
                    p.view.quality = Some(level);
                    self.broadcast_updated(pid);
                }
            }
            Request::Control(action) => self.control(pid, action),
            Request::RaiseHand => self.raise_hand(pid, true),
            Request::LowerHand => self.raise_hand(pid, false),
            Request::RollCallAnswer => self.roll_call_answer(pid),
            Request::SignIn => self.sign_in(pid),
            Request::Leave => {
                self.out.push(Effect::Close(pid.to_string(), CloseReason::Left));
                self.remove(pid, "left");
            }
        }
    }

    fn chat(&mut self, pid: &str, text: &str) {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 2000 {
            return self.refuse(pid, Refusal::bad_request("chat text must be 1 to 2000 characters"));
        }
        if !crate::services::text::is_multiline(text) {
            return self.refuse(pid, Refusal::bad_request("chat text may not contain control characters"));
        }
        let name = self.participants[pid].view.name.clone();
        let at = self.now.unix_ms;
        self.broadcast(Notice::Chat { from: pid.to_string(), name, text: text.to_string(), at });
    }

    fn refuse(&mut self, pid: &str, refusal: Refusal) {
        self.notify(pid, Notice::Refused(refusal));
    }

    fn notify(&mut self, pid: &str, notice: Notice) {
        if self.participants.get(pid).is_some_and(|p| p.attached) {
            self.out.push(Effect::Notify(pid.to_string(), notice));
        }
    }

    fn broadcast(&mut self, notice: Notice) {
        let mut pids: Vec<String> =
            self.participants.values().filter(|p| p.attached).map(|p| p.view.id.clone()).collect();
        pids.sort();
        for pid in pids {
            self.out.push(Effect::Notify(pid, notice.clone()));
        }
    }

    fn broadcast_except(&mut self, except: &str, notice: Notice) {
        let mut pids: Vec<String> = self
            .participants
            .values()
            .filter(|p| p.attached && p.view.id != except)
            .map(|p| p.view.id.clone())
            .collect();
        pids.sort();
        for pid in pids {
            self.out.push(Effect::Notify(pid, notice.clone()));
        }
    }

    fn broadcast_updated(&mut self, pid: &str) {
        if let Some(p) = self.participants.get(pid) {
            let view = p.view.clone();
            self.broadcast(Notice::Updated(view));
        }
    }

    fn send_state(&mut self) {
        let state = self.state.clone();
        self.broadcast(Notice::State(state));
        self.update_featured();
    }

    /// Tells the media plane whose video comes first for everyone: the
    /// floor holder, the broadcast sources, the spotlight (when it changed).
    pub(super) fn update_featured(&mut self) {
        let mut pids: Vec<&String> = Vec::new();
        pids.extend(self.state.floor.iter());
        pids.extend(self.state.broadcast.iter().flatten());
        pids.extend(self.state.spotlight.iter());
        let mut featured: Vec<PeerId> = Vec::new();
        for pid in pids {
            if let Some(peer) = self.participants.get(pid.as_str()).and_then(|p| p.peer) {
                if !featured.contains(&peer) {
                    featured.push(peer);
                }
            }
        }
        if featured != self.featured {
            self.featured = featured.clone();
            self.sfu(SfuCmd::SetFeatured(featured));
        }
        let heard: Vec<PeerId> = self
            .state
            .chair
            .iter()
            .filter_map(|pid| self.participants.get(pid.as_str()).and_then(|p| p.peer))
            .collect();
        if heard != self.heard {
            self.heard = heard.clone();
            self.sfu(SfuCmd::SetAlwaysHeard(heard));
        }
    }

    fn sfu(&mut self, cmd: SfuCmd) {
        self.out.push(Effect::Sfu(cmd));
    }

    fn record(&mut self, record: Record) {
        self.out.push(Effect::Record(record));
    }

    fn role_of(&self, pid: &str) -> Option<Role> {
        self.participants.get(pid).map(|p| p.view.role)
    }

    fn pid_of(&self, peer: PeerId) -> Option<String> {
        self.participants.values().find(|p| p.peer == Some(peer)).map(|p| p.view.id.clone())
    }
}
