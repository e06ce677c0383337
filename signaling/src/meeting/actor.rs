//! One meeting's actor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huiyi_sfu::{PeerId, RoomId, SfuError, SfuEvent, SfuHandle, TrackId, TrackKind};
use tokio::sync::{mpsc, oneshot};

mod chair;
mod media;
mod presence;
mod rollcall;

use std::collections::HashSet;

use super::Refusal;
use crate::token::{random_id, Claims, Role};
use crate::ws::protocol::{
    close, ClientMsg, ErrorCode, MeetingInfo, MeetingState, ParticipantInfo, ServerMsg, Source, TrackInfo,
    PROTOCOL_VERSION,
};

/// What a session receives from its meeting.
#[derive(Debug)]
pub enum Out {
    /// A message to send.
    Msg(Box<ServerMsg>),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// How many messages may wait for one session before it counts as too slow.
pub const OUTBOUND_QUEUE: usize = 256;

/// Commands to a meeting.
pub enum Cmd {
    /// A session joins (or resumes).
    Attach {
        /// Who, from the verified token.
        claims: Claims,
        /// The `session` of an earlier welcome.
        resume: Option<String>,
        /// The session's outbound queue.
        out: mpsc::Sender<Out>,
        /// The result.
        reply: oneshot::Sender<Result<Attached, Refusal>>,
    },
    /// A message from an attached session.
    Client {
        /// Participant.
        pid: String,
        /// Session epoch (ignored if a newer session replaced it).
        epoch: u64,
        /// The message.
        msg: ClientMsg,
    },
    /// The session's socket closed without `leave`.
    Detach {
        /// Participant.
        pid: String,
        /// Session epoch.
        epoch: u64,
    },
    /// An event from the media plane.
    Media(SfuEvent),
    /// The meeting is over (ended by the secretary or by its schedule):
    /// everyone is closed out.
    End,
    /// The server stops: everyone's leave is recorded, clients reconnect later.
    Shutdown,
}

/// A session's identity inside its meeting.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Participant id.
    pub pid: String,
    /// Which session of the participant this is.
    pub epoch: u64,
}

struct Published {
    id: TrackId,
    kind: TrackKind,
    source: Source,
}

struct Participant {
    info: ParticipantInfo,
    session_key: String,
    epoch: u64,
    out: Option<mpsc::Sender<Out>>,
    peer: Option<PeerId>,
    tracks: Vec<Published>,
    sources: HashMap<String, Source>,
    /// False in audio-only mode: the server sends it no video.
    receive_video: bool,
    /// The server offer waiting for this participant's answer (re-sent on resume).
    pending_offer: Option<ServerMsg>,
    gone_since: Option<Instant>,
}

impl Participant {
    /// A new session takes this participant's place; the old one is closed.
    fn take_over(&mut self, out: mpsc::Sender<Out>, reason: &'static str) {
        if let Some(old) = self.out.take() {
            let _ = old.try_send(Out::Close(close::REPLACED, reason));
        }
        self.epoch += 1;
        self.out = Some(out);
        self.gone_since = None;
        self.info.connected = true;
    }
}

/// The state of one live meeting.
pub struct Meeting {
    id: String,
    title: String,
    room: RoomId,
    sfu: SfuHandle,
    grace: Duration,
    next_peer: Arc<AtomicU64>,
    /// Where this meeting's records (roll calls) are appended.
    records: std::path::PathBuf,
    /// Attendance (every join and leave) goes here.
    store: Arc<dyn crate::store::Store>,
    participants: HashMap<String, Participant>,
    speaker: Option<String>,
    ever_joined: bool,
    /// The chair-controlled state (locks, hands, floor, broadcast, layout).
    state: MeetingState,
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
    /// Every finished roll call of this meeting (for the attendance record).
    roll_call_log: Vec<crate::ws::protocol::RollCall>,
}

impl Meeting {
    pub(super) fn new(id: String, title: String, room: RoomId, ctx: super::Context) -> Self {
        Self {
            id,
            title,
            room,
            sfu: ctx.sfu,
            grace: ctx.grace,
            next_peer: ctx.next_peer,
            records: ctx.records,
            store: ctx.store,
            participants: HashMap::new(),
            speaker: None,
            ever_joined: false,
            state: MeetingState { layout: "auto".into(), ..MeetingState::default() },
            barred: HashSet::new(),
            unmute_allowed: HashSet::new(),
            floor_deadline: None,
            roll_deadline: None,
            roll_opened_mic: None,
            roll_call_log: Vec::new(),
        }
    }

    /// Runs until the last participant is gone.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                _ = tick.tick() => {
                    self.expire_dropped().await;
                    self.tick_floor().await;
                    self.tick_roll_call().await;
                }
            }
            if self.ever_joined && self.participants.is_empty() {
                break;
            }
        }
        // Anything still queued (a late attach) is refused by dropping its reply.
    }

    async fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Attach { claims, resume, out, reply } => {
                let result = self.attach(claims, resume, out);
                let _ = reply.send(result);
            }
            Cmd::Client { pid, epoch, msg } => {
                if self.participants.get(&pid).is_some_and(|p| p.epoch == epoch) {
                    self.client(&pid, msg).await;
                }
            }
            Cmd::Detach { pid, epoch } => self.detach(&pid, epoch),
            Cmd::Media(event) => self.media(event).await,
            Cmd::End => self.close_all(close::ENDED, "the meeting has ended", "ended").await,
            Cmd::Shutdown => {
                self.close_all(close::GOING_AWAY, "the server is restarting", "server_stopped").await
            }
        }
    }

    fn attach(
        &mut self,
        claims: Claims,
        resume: Option<String>,
        out: mpsc::Sender<Out>,
    ) -> Result<Attached, Refusal> {
        self.ever_joined = true;
        let pid = claims.p.clone();
        if self.barred.contains(&pid) {
            return Err((ErrorCode::Forbidden, "the chair removed you from this meeting".into()));
        }
        if self.state.locked && !self.participants.contains_key(&pid) {
            return Err((ErrorCode::MeetingClosed, "the meeting is locked: no new participants".into()));
        }
        if claims.r == Role::Chair && self.state.chair.is_none() {
            self.state.chair = Some(pid.clone());
        }
        let resumed = match self.participants.get_mut(&pid) {
            Some(p) if resume.as_deref() == Some(p.session_key.as_str()) => {
                p.take_over(out, "resumed elsewhere");
                true
            }
            Some(p) => {
                // The same participant again without resume (a new tab, a new
                // device): the new session takes over with fresh media.
                p.take_over(out, "joined from another window");
                p.session_key = random_id(18);
                p.pending_offer = None;
                let ended: Vec<TrackId> = p.tracks.drain(..).map(|t| t.id).collect();
                if let Some(peer) = p.peer.take() {
                    let sfu = self.sfu.clone();
                    let room = self.room;
                    tokio::spawn(async move { sfu.remove_peer(room, peer).await });
                }
                for t in ended {
                    self.broadcast_except(&pid, ServerMsg::TrackEnded { track: t.to_string() });
                }
                false
            }
            None => {
                let info = ParticipantInfo {
                    id: pid.clone(),
                    name: claims.n.clone(),
                    role: claims.r,
                    audio_muted: false,
                    video_muted: false,
                    quality: None,
                    connected: true,
                    signed_in: false,
                };
                self.participants.insert(
                    pid.clone(),
                    Participant {
                        info: info.clone(),
                        session_key: random_id(18),
                        epoch: 1,
                        out: Some(out),
                        peer: None,
                        tracks: Vec::new(),
                        sources: HashMap::new(),
                        receive_video: true,
                        pending_offer: None,
                        gone_since: None,
                    },
                );
                tracing::info!(meeting = %self.id, participant = %pid, role = ?claims.r, "participant joined");
                self.attend(&pid, &claims.n, "join", "");
                self.broadcast_except(&pid, ServerMsg::ParticipantJoined { participant: info });
                false
            }
        };
        let p = &self.participants[&pid];
        let welcome = ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            session: p.session_key.clone(),
            resumed,
            meeting: MeetingInfo { id: self.id.clone(), title: self.title.clone() },
            you: p.info.clone(),
            participants: self
                .participants
                .values()
                .filter(|o| o.info.id != pid)
                .map(|o| o.info.clone())
                .collect(),
            tracks: self.track_infos(),
            active_speaker: self.speaker.clone(),
        };
        let epoch = p.epoch;
        let pending = if resumed { p.pending_offer.clone() } else { None };
        self.send(&pid, welcome);
        let state = self.state.clone();
        self.send(&pid, ServerMsg::MeetingState { state });
        if let Some(offer) = pending {
            self.send(&pid, offer);
        }
        if resumed {
            self.broadcast_updated(&pid);
        }
        Ok(Attached { pid, epoch })
    }

    fn track_infos(&self) -> Vec<TrackInfo> {
        self.participants
            .values()
            .flat_map(|p| {
                p.tracks.iter().map(|t| TrackInfo {
                    track: t.id.to_string(),
                    participant: p.info.id.clone(),
                    source: t.source,
                })
            })
            .collect()
    }

    async fn client(&mut self, pid: &str, msg: ClientMsg) {
        match msg {
            ClientMsg::Hello { .. } => self.error(pid, ErrorCode::BadState, "already joined"),
            ClientMsg::Publish { sdp, tracks, restart } => self.publish(pid, sdp, tracks, restart).await,
            ClientMsg::Answer { offer_id, sdp } => self.answer(pid, offer_id, sdp).await,
            ClientMsg::Mute { audio, video } => self.mute(pid, audio, video).await,
            ClientMsg::Receive { video } => {
                let p = self.participants.get_mut(pid).expect("checked by caller");
                p.receive_video = video;
                if let Some(peer) = p.peer {
                    if let Err(e) = self.sfu.set_receive_video(self.room, peer, video).await {
                        self.error(pid, ErrorCode::Internal, &e.to_string());
                    }
                }
            }
            ClientMsg::Chat { text } => {
                let text = text.trim();
                if text.is_empty() || text.chars().count() > 2000 {
                    return self.error(pid, ErrorCode::BadMessage, "chat text must be 1 to 2000 characters");
                }
                let name = self.participants[pid].info.name.clone();
                let at = crate::unix_millis();
                self.broadcast(ServerMsg::Chat { from: pid.to_string(), name, text: text.to_string(), at });
            }
            ClientMsg::Quality { level } => {
                let level = level.min(3);
                let p = self.participants.get_mut(pid).expect("checked by caller");
                if p.info.quality != Some(level) {
                    p.info.quality = Some(level);
                    self.broadcast_updated(pid);
                }
            }
            ClientMsg::Ping { nonce } => self.send(pid, ServerMsg::Pong { nonce }),
            ClientMsg::Control { action } => self.control(pid, action).await,
            ClientMsg::RaiseHand => self.raise_hand(pid, true),
            ClientMsg::LowerHand => self.raise_hand(pid, false),
            ClientMsg::RollCallAnswer => self.roll_call_answer(pid).await,
            ClientMsg::SignIn => self.sign_in(pid),
            ClientMsg::Leave => {
                self.send_out(pid, Out::Close(close::NORMAL, "left"));
                self.remove(pid, "left").await;
            }
        }
    }

    async fn publish(
        &mut self,
        pid: &str,
        sdp: String,
        tracks: Vec<crate::ws::protocol::TrackMeta>,
        restart: bool,
    ) {
        let p = self.participants.get_mut(pid).expect("checked by caller");
        if restart {
            if let Some(old) = p.peer.take() {
                p.pending_offer = None;
                let ended: Vec<TrackId> = p.tracks.drain(..).map(|t| t.id).collect();
                let _ = self.sfu.remove_peer(self.room, old).await;
                for t in ended {
                    self.broadcast(ServerMsg::TrackEnded { track: t.to_string() });
                }
            }
        }
        let p = self.participants.get_mut(pid).expect("checked by caller");
        if p.info.role == Role::Observer && sdp_sends_media(&sdp) {
            return self.error(pid, ErrorCode::Forbidden, "observers (列席) cannot publish audio or video");
        }
        for t in tracks {
            p.sources.insert(t.mid, t.source);
        }
        let result = match p.peer {
            Some(peer) => self.sfu.renegotiate(self.room, peer, sdp).await,
            None => {
                let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
                let r = self.sfu.add_peer(self.room, peer, sdp).await;
                if r.is_ok() {
                    let receive_video = match self.participants.get_mut(pid) {
                        Some(p) => {
                            p.peer = Some(peer);
                            p.receive_video
                        }
                        None => true,
                    };
                    if !receive_video {
                        let _ = self.sfu.set_receive_video(self.room, peer, false).await;
                    }
                    if self.state.broadcast.is_some() {
                        self.apply_broadcast().await;
                    }
                }
                r
            }
        };
        match result {
            Ok(answer) => self.send(pid, ServerMsg::Answer { sdp: answer }),
            Err(SfuError::BadSdp(why)) => self.error(pid, ErrorCode::BadSdp, &why),
            Err(e) => self.error(pid, ErrorCode::Internal, &e.to_string()),
        }
    }

    async fn answer(&mut self, pid: &str, offer_id: u64, sdp: String) {
        let Some(peer) = self.participants[pid].peer else {
            return self.error(pid, ErrorCode::BadState, "no media session to answer for");
        };
        match self.sfu.accept_answer(self.room, peer, offer_id, sdp).await {
            Ok(()) => {
                let p = self.participants.get_mut(pid).expect("checked by caller");
                if matches!(&p.pending_offer, Some(ServerMsg::Offer { offer_id: id, .. }) if *id == offer_id)
                {
                    p.pending_offer = None;
                }
            }
            // A newer offer follows; the client answers that one.
            Err(SfuError::StaleAnswer { .. }) => {}
            Err(SfuError::BadSdp(why)) => self.error(pid, ErrorCode::BadSdp, &why),
            Err(e) => self.error(pid, ErrorCode::Internal, &e.to_string()),
        }
    }

    async fn mute(&mut self, pid: &str, audio: Option<bool>, video: Option<bool>) {
        if let Some(muted) = audio {
            if !muted && !self.may_unmute_self(pid) {
                self.error(pid, ErrorCode::Forbidden, "the chair has locked microphones; ask for the floor");
            } else {
                if !muted {
                    self.unmute_allowed.remove(pid);
                }
                self.set_audio(pid, muted).await;
            }
        }
        let Some(muted) = video else { return };
        let p = self.participants.get_mut(pid).expect("checked by caller");
        p.info.video_muted = muted;
        let peer = p.peer;
        // The camera switch leaves a screen share alone.
        let cameras: Vec<TrackId> = p
            .tracks
            .iter()
            .filter(|t| t.kind == TrackKind::Video && t.source != Source::Screen)
            .map(|t| t.id)
            .collect();
        if let Some(peer) = peer {
            for id in cameras {
                if let Err(e) = self.sfu.set_muted(self.room, peer, id, muted).await {
                    tracing::debug!(error = %e, "mute of a track that just ended");
                }
            }
        }
        self.broadcast_updated(pid);
    }

    fn detach(&mut self, pid: &str, epoch: u64) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        if p.epoch != epoch {
            return;
        }
        p.out = None;
        p.gone_since = Some(Instant::now());
        p.info.connected = false;
        tracing::info!(meeting = %self.id, participant = %pid, "connection dropped; waiting for it to resume");
        self.broadcast_updated(pid);
    }

    async fn expire_dropped(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .participants
            .values()
            .filter(|p| p.gone_since.is_some_and(|t| now.duration_since(t) >= self.grace))
            .map(|p| p.info.id.clone())
            .collect();
        for pid in expired {
            self.remove(&pid, "timeout").await;
        }
    }

    async fn remove(&mut self, pid: &str, reason: &str) {
        let Some(p) = self.participants.remove(pid) else { return };
        if let Some(peer) = p.peer {
            let _ = self.sfu.remove_peer(self.room, peer).await;
        }
        tracing::info!(meeting = %self.id, participant = %pid, reason, "participant left");
        self.attend(pid, &p.info.name, "leave", reason);
        for t in &p.tracks {
            self.broadcast(ServerMsg::TrackEnded { track: t.id.to_string() });
        }
        self.broadcast(ServerMsg::ParticipantLeft { id: pid.to_string(), reason: reason.to_string() });
        self.unmute_allowed.remove(pid);
        self.forget_in_state(pid).await;
    }

    fn pid_of(&self, peer: PeerId) -> Option<String> {
        self.participants.values().find(|p| p.peer == Some(peer)).map(|p| p.info.id.clone())
    }

    fn error(&mut self, pid: &str, code: ErrorCode, message: &str) {
        self.send(pid, ServerMsg::Error { code, message: message.to_string() });
    }

    fn send(&mut self, pid: &str, msg: ServerMsg) {
        self.send_out(pid, Out::Msg(Box::new(msg)));
    }

    /// Queues for one session; a session too slow to keep up is closed (its
    /// client reconnects and resumes) rather than stalling the meeting.
    fn send_out(&mut self, pid: &str, out: Out) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        let Some(tx) = &p.out else { return };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(out) {
            tracing::warn!(meeting = %self.id, participant = %pid, "session too slow; closing it");
            let tx = p.out.take().expect("checked");
            tokio::spawn(async move { tx.send(Out::Close(close::POLICY, "too slow to keep up")).await });
            p.gone_since = Some(Instant::now());
            p.info.connected = false;
        }
    }

    fn broadcast(&mut self, msg: ServerMsg) {
        let pids: Vec<String> = self.participants.keys().cloned().collect();
        for pid in pids {
            self.send(&pid, msg.clone());
        }
    }

    fn broadcast_except(&mut self, except: &str, msg: ServerMsg) {
        let pids: Vec<String> = self.participants.keys().filter(|k| *k != except).cloned().collect();
        for pid in pids {
            self.send(&pid, msg.clone());
        }
    }

    fn broadcast_updated(&mut self, pid: &str) {
        if let Some(p) = self.participants.get(pid) {
            let participant = p.info.clone();
            self.broadcast(ServerMsg::ParticipantUpdated { participant });
        }
    }
}

/// True if an SDP offer has an audio or video m-line that sends (sendrecv,
/// the default, or sendonly) and is not rejected (port 0).
fn sdp_sends_media(sdp: &str) -> bool {
    let mut sending = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = parts.next().unwrap_or("");
            let port = parts.next().unwrap_or("0");
            sending.push(matches!(kind, "audio" | "video") && port != "0");
        } else if line == "a=recvonly" || line == "a=inactive" {
            if let Some(last) = sending.last_mut() {
                *last = false;
            }
        }
    }
    sending.into_iter().any(|s| s)
}

#[cfg(test)]
mod tests {
    use super::sdp_sends_media;

    #[test]
    fn recognises_sending_offers() {
        assert!(sdp_sends_media("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n"));
        assert!(sdp_sends_media("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(!sdp_sends_media(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\nm=video 9 X 96\r\na=inactive\r\n"
        ));
        assert!(!sdp_sends_media("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
        assert!(!sdp_sends_media("v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n"));
    }
}
