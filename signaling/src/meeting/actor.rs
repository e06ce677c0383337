//! One meeting's actor: the thin shell around its [`Core`]. It reads the
//! clock, feeds commands and media events to the core, and carries out the
//! effects in order — media-plane commands (awaited, their results fed
//! back at once, so an answer always precedes the offers it causes; ADR
//! 0002), notices to sessions (bounded queues: a session too slow to keep
//! up is closed and may resume), and records written by the meeting's
//! recorder on a blocking thread, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use huiyi_sfu::{PeerId, RoomId, SfuError, SfuHandle};
use tokio::sync::{mpsc, oneshot};

use super::airing::Airing;
use super::core::{
    Admitted, Carried, CloseReason, Core, Effect, Guest, Input, Notice, Record, Refusal, SfuCmd, SfuFailure,
    SfuResult,
};
use super::records::Recorder;
use super::taping::Taping;
use super::viewers::Viewers;
use crate::clock;

/// What a session receives from its meeting.
#[derive(Debug)]
pub enum Out {
    /// A notice to turn into a message.
    Notice(Box<Notice>),
    /// Close the socket for this reason.
    Close(CloseReason),
}

/// Commands to a meeting: a session attaching (it brings its queue and
/// waits for its admission), or any other input of the core.
pub enum Cmd {
    /// A session joins (or resumes).
    Attach {
        /// Who, from the verified token.
        guest: Guest,
        /// The `session` of an earlier welcome.
        resume: Option<String>,
        /// The session's outbound queue.
        out: mpsc::Sender<Out>,
        /// The result.
        reply: oneshot::Sender<Result<Admitted, Refusal>>,
    },
    /// A request, a detach, a media event, the end or a server stop.
    Input(Input),
    /// A WHEP viewer's offer (only while the meeting is live): its answer
    /// and session id, or why not.
    Viewer {
        /// The SDP offer.
        offer: String,
        /// The result.
        reply: oneshot::Sender<Result<(String, String), super::viewers::Refused>>,
    },
    /// The WHEP viewer of this session leaves; the reply: whether it was one.
    ViewerGone {
        /// Its session id.
        session: String,
        /// The result.
        reply: oneshot::Sender<bool>,
    },
}

/// What every meeting actor shares with the others.
pub(super) struct Context {
    pub(super) sfu: SfuHandle,
    pub(super) grace: std::time::Duration,
    pub(super) next_peer: Arc<AtomicU64>,
    pub(super) store: Arc<dyn crate::store::Store>,
    pub(super) takeover: bool,
    pub(super) limits: Arc<crate::limits::Limits>,
    pub(super) recordings: Option<crate::recording::Recordings>,
    pub(super) lives: Option<crate::live::Lives>,
}

/// A session attached to the meeting.
struct Session {
    epoch: u64,
    out: mpsc::Sender<Out>,
}

/// How often a running meeting notes that it runs (the end of its
/// attendance intervals after a crash, ADR 0013).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shell of one live meeting.
pub(super) struct Meeting {
    core: Core,
    room: RoomId,
    sfu: SfuHandle,
    next_peer: Arc<AtomicU64>,
    sessions: HashMap<String, Session>,
    recorder: Recorder,
    store: Arc<dyn crate::store::Store>,
    /// The carried state last written.
    carried: Option<Carried>,
    /// The server is stopping: what is carried stays as it was before.
    stopping: bool,
    limits: Arc<crate::limits::Limits>,
    taping: Taping,
    /// A recording to start again: the meeting was recorded before a restart.
    record_again: bool,
    airing: Airing,
    /// The live feed to start again (it ran before a restart).
    live_again: bool,
    viewers: Viewers,
}

impl Meeting {
    /// A meeting; `restored`: its carried state from before a restart.
    pub(super) fn new(
        id: String,
        title: String,
        room: RoomId,
        ctx: Context,
        restored: Option<Carried>,
    ) -> Self {
        let recorder = Recorder::start(id.clone(), title.clone(), ctx.store.clone());
        let mut core = Core::new(id, title, ctx.grace, clock::now());
        core.takeover = ctx.takeover;
        core.max_participants = ctx.limits.cfg.participants_per_meeting;
        core.max_sdp = ctx.limits.cfg.sdp_bytes;
        let carried = restored.map(|c| {
            core.restore(c, clock::now());
            core.carried()
        });
        // A restart ended the recording (the next start marks it
        // interrupted): a new one starts when the meeting opens again.
        let record_again = core.state().recording_since.is_some();
        let live_again = core.state().live_since.is_some();
        // The seats brought back are taken like any other (and given back
        // as they go, or when the meeting ends).
        ctx.limits.seats_changed(0, core.seat_count());
        Self {
            core,
            room,
            sfu: ctx.sfu,
            next_peer: ctx.next_peer,
            sessions: HashMap::new(),
            recorder,
            store: ctx.store,
            carried,
            stopping: false,
            limits: ctx.limits,
            taping: Taping::new(ctx.recordings),
            record_again,
            airing: Airing::new(ctx.lives),
            live_again,
            viewers: Viewers::default(),
        }
    }

    /// The meeting's schedule asks for a recording.
    async fn scheduled_to_record(&self) -> bool {
        let (store, id) = (self.store.clone(), self.core.id().to_string());
        let found = tokio::task::spawn_blocking(move || store.meeting(&id)).await;
        found.ok().and_then(Result::ok).is_some_and(|m| m.record)
    }

    /// Writes the carried state when it changed (off the actor: the
    /// recorder's thread serializes nothing, the JSON is made here, small).
    fn carry(&mut self) {
        if self.stopping {
            return;
        }
        let now = self.core.carried();
        if self.carried.as_ref() == Some(&now) {
            return;
        }
        match serde_json::to_string(&now) {
            Ok(json) => self.recorder.carried(json, crate::clock::unix_secs()),
            Err(e) => {
                tracing::error!(meeting = %self.core.id(), error = %e, "cannot serialize the carried state")
            }
        }
        self.carried = Some(now);
    }

    /// Runs until the last participant is gone; returns once the meeting's
    /// records are written.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        // Recorded again after a restart, or scheduled to be recorded.
        if std::mem::take(&mut self.record_again) || self.scheduled_to_record().await {
            let input = self.taping.apply(true, None, &self.core, self.room).await;
            self.input(input, None).await;
        }
        if std::mem::take(&mut self.live_again) {
            let input = self.airing.apply(true, "server", &self.core, self.room).await;
            self.input(input, None).await;
        }
        loop {
            let deadline = self.core.next_deadline().map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                () = timer => self.input(Input::Tick, None).await,
                _ = heartbeat.tick() => {
                    self.recorder.heartbeat(crate::clock::unix_secs());
                    if let Some(input) = self.taping.check().await {
                        self.input(input, None).await;
                    }
                    if let Some(input) = self.airing.check().await {
                        self.input(input, None).await;
                    }
                }
            }
            self.taping.update(&self.core);
            if self.airing.follow_codec(&self.core, self.room).await {
                if let Some(input) = self.airing.check().await {
                    self.input(input, None).await;
                }
            }
            self.airing.update(&self.core);
            if self.viewers.count() > 0 {
                if self.core.state().live_since.is_none() {
                    self.viewers.clear(&self.sfu, self.room).await;
                } else {
                    self.viewers.update(&self.sfu, self.room, &self.core.rec_view()).await;
                }
            }
            self.carry();
            if self.core.finished() {
                break;
            }
        }
        // Ended, or everyone left: nothing to carry over a restart. (A
        // server stop keeps the state from before it.)
        if self.core.finished() && !self.stopping {
            self.recorder.forget();
        }
        // Anything still queued (a late attach) is refused by dropping its reply.
        drop(rx);
        let why = if self.stopping { "server_stopped" } else { "meeting_ended" };
        self.taping.stop(Some(why)).await;
        self.airing.stop().await;
        self.viewers.clear(&self.sfu, self.room).await;
        // Seats still held (a server stop keeps them in the carried state)
        // are given back.
        self.limits.seats_changed(self.core.seat_count(), 0);
        self.recorder.finish().await;
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Attach { guest, resume, out, reply } => {
                // A new seat, with every meeting's seats taken: refused here
                // (a seat already held, e.g. after a restart, is always taken back).
                let limits = &self.limits;
                if self.core.participant(&guest.pid).is_none() && limits.seats() >= limits.cfg.participants {
                    limits.refused(crate::limits::Limit::Participants);
                    let why = format!(
                        "the server holds its maximum of {} participants in all meetings; try again later",
                        limits.cfg.participants
                    );
                    let _ = reply.send(Err(Refusal::full(why)));
                    return;
                }
                self.input(Input::Attach { guest, resume }, Some((out, reply))).await
            }
            Cmd::Viewer { offer, reply } => {
                let result = if self.core.state().live_since.is_none() {
                    Err(super::viewers::Refused::NotLive)
                } else {
                    let view = self.core.rec_view();
                    self.viewers.add(&self.sfu, self.room, &self.next_peer, offer, &view).await
                };
                let _ = reply.send(result);
            }
            Cmd::ViewerGone { session, reply } => {
                let _ = reply.send(self.viewers.remove(&self.sfu, self.room, &session).await);
            }
            Cmd::Input(Input::Media(huiyi_sfu::SfuEvent::PeerLeft { peer, .. }))
                if self.viewers.has(peer) =>
            {
                self.viewers.gone(peer);
            }
            Cmd::Input(input) => {
                if matches!(input, Input::Shutdown) {
                    self.stopping = true;
                }
                if let Input::Detach { pid, epoch } = &input {
                    if self.sessions.get(pid).is_some_and(|s| s.epoch == *epoch) {
                        self.sessions.remove(pid);
                    }
                }
                self.input(input, None).await
            }
        }
    }

    /// Hands one input to the core and carries out what it says, depth
    /// first: the effects of a media-plane result run before the rest.
    async fn input(&mut self, input: Input, mut joining: Option<Joining>) {
        let seats = self.core.seat_count();
        self.carry_out(input, &mut joining).await;
        self.limits.seats_changed(seats, self.core.seat_count());
    }

    async fn carry_out(&mut self, input: Input, joining: &mut Option<Joining>) {
        let mut queue: VecDeque<Effect> = self.core.handle(clock::now(), input).into();
        while let Some(effect) = queue.pop_front() {
            let follow = match effect {
                Effect::Admit(result) => {
                    self.admit(result, joining.take());
                    None
                }
                Effect::Notify(pid, notice) => self.notify(&pid, notice),
                Effect::Close(pid, reason) => {
                    self.close(&pid, reason);
                    None
                }
                Effect::Sfu(cmd) => self.sfu(cmd).await.map(Input::Sfu),
                Effect::Record(record) => {
                    self.record(record);
                    None
                }
                Effect::Limit(limit) => {
                    self.limits.refused(limit);
                    None
                }
                Effect::Recording { on, by } => {
                    Some(self.taping.apply(on, Some(by), &self.core, self.room).await)
                }
                Effect::Live { on, by } => Some(self.airing.apply(on, &by, &self.core, self.room).await),
            };
            if let Some(input) = follow {
                for e in self.core.handle(clock::now(), input).into_iter().rev() {
                    queue.push_front(e);
                }
            }
        }
    }

    fn admit(&mut self, result: Result<Admitted, Refusal>, joining: Option<Joining>) {
        let Some((out, reply)) = joining else { return };
        if let Ok(a) = &result {
            self.sessions.insert(a.pid.clone(), Session { epoch: a.epoch, out });
        }
        let _ = reply.send(result);
    }

    /// Queues for one session; a session too slow to keep up is closed (its
    /// client reconnects and resumes) rather than stalling the meeting.
    fn notify(&mut self, pid: &str, notice: Notice) -> Option<Input> {
        let session = self.sessions.get(pid)?;
        match session.out.try_send(Out::Notice(Box::new(notice))) {
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.limits.refused(crate::limits::Limit::QueuedMessages);
                tracing::warn!(meeting = %self.core.id(), participant = %pid, "session too slow; closing it");
                let session = self.sessions.remove(pid)?;
                tokio::spawn(async move { session.out.send(Out::Close(CloseReason::TooSlow)).await });
                Some(Input::Detach { pid: pid.to_string(), epoch: session.epoch })
            }
            _ => None,
        }
    }

    fn close(&mut self, pid: &str, reason: CloseReason) {
        let Some(session) = self.sessions.remove(pid) else { return };
        if let Err(mpsc::error::TrySendError::Full(msg)) = session.out.try_send(Out::Close(reason)) {
            tokio::spawn(async move { session.out.send(msg).await });
        }
    }

    fn record(&mut self, record: Record) {
        self.recorder.write(record);
    }

    /// Runs a media-plane command; the result, if the command has one, is
    /// the next input.
    async fn sfu(&mut self, cmd: SfuCmd) -> Option<SfuResult> {
        let room = self.room;
        let sfu = &self.sfu;
        match cmd {
            SfuCmd::AddPeer { pid, sdp, may_publish } => {
                let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
                let added = match may_publish {
                    true => sfu.add_peer(room, peer, sdp).await,
                    false => sfu.add_receiver(room, peer, sdp).await,
                };
                let result = added.map(|answer| (peer, answer)).map_err(failure);
                Some(SfuResult::PeerAdded { pid, result })
            }
            SfuCmd::Renegotiate { pid, peer, sdp } => {
                let result = sfu.renegotiate(room, peer, sdp).await.map_err(failure);
                Some(SfuResult::Renegotiated { pid, result })
            }
            SfuCmd::AcceptAnswer { pid, peer, offer_id, sdp } => {
                let result = sfu.accept_answer(room, peer, offer_id, sdp).await.map_err(failure);
                Some(SfuResult::AnswerApplied { pid, offer_id, result })
            }
            SfuCmd::RemovePeer(peer) => {
                let _ = sfu.remove_peer(room, peer).await;
                None
            }
            SfuCmd::SetMuted(peer, track, muted) => {
                if let Err(e) = sfu.set_muted(room, peer, track, muted).await {
                    tracing::debug!(error = %e, "mute of a track that just ended");
                }
                None
            }
            SfuCmd::SetReceiveVideo(peer, video) => {
                if let Err(e) = sfu.set_receive_video(room, peer, video).await {
                    tracing::debug!(error = %e, "audio-only switch of a peer that just left");
                }
                None
            }
            SfuCmd::SetVideoSources(peer, sources) => {
                if let Err(e) = sfu.set_video_sources(room, peer, sources).await {
                    tracing::debug!(error = %e, "broadcast filter for a peer that just left");
                }
                None
            }
            SfuCmd::SetTileLimits(peer, limits) => {
                if let Err(e) = sfu.set_tile_limits(room, peer, limits).await {
                    tracing::debug!(error = %e, "tile limits for a peer that just left");
                }
                None
            }
            SfuCmd::SetFeatured(featured) => {
                if let Err(e) = sfu.set_featured(room, featured).await {
                    tracing::debug!(error = %e, "featured publishers of a room that closed");
                }
                None
            }
            SfuCmd::SetAlwaysHeard(peers) => {
                if let Err(e) = sfu.set_always_heard(room, peers).await {
                    tracing::debug!(error = %e, "always-heard publishers of a room that closed");
                }
                None
            }
        }
    }
}

/// What a client is told of a refused SDP: the parser's first line, without
/// anything that looks like a memory address or a source location, bounded
/// (the whole text goes to the debug log).
fn public_sdp_error(why: &str) -> String {
    let first = why.lines().next().unwrap_or("");
    let words: Vec<&str> = first
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            !(w.starts_with("0x") || w.contains(".rs:"))
        })
        .collect();
    let text: String = words.join(" ").chars().filter(|c| !c.is_control()).take(160).collect();
    if text.is_empty() {
        "the SDP could not be negotiated".into()
    } else {
        format!("the SDP could not be negotiated: {text}")
    }
}

/// The joining session's queue and where its admission goes.
type Joining = (mpsc::Sender<Out>, oneshot::Sender<Result<Admitted, Refusal>>);

fn failure(e: SfuError) -> SfuFailure {
    match e {
        SfuError::BadSdp(why) => {
            tracing::debug!(%why, "SDP refused");
            SfuFailure::BadSdp(public_sdp_error(&why))
        }
        SfuError::StaleAnswer { .. } => SfuFailure::Stale,
        e => SfuFailure::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::public_sdp_error;

    #[test]
    fn sdp_errors_tell_clients_no_addresses() {
        let raw = "Parse error at 0x7f3a2c001a40: expected attribute\n  at src/sdp/parser.rs:120";
        let told = public_sdp_error(raw);
        assert!(!told.contains("0x") && !told.contains(".rs:"), "{told}");
        assert!(told.contains("expected attribute"), "{told}");
        assert_eq!(public_sdp_error(""), "the SDP could not be negotiated");
    }
}
