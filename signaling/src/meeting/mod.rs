//! Live meetings. Each is a sans-IO [`core::Core`] (the rules, on time
//! passed in) run by one actor (task) that owns its sessions' queues and
//! talks to the media plane and the store (`actor.rs`, `records.rs`).
//! Sessions and the media plane reach a meeting through its command
//! channel, so its state needs no locks.
//!
//! A meeting opens on its first join (its media room is created then) and
//! closes when its last participant is gone.

mod actor;
mod airing;
mod check;
pub mod core;
mod records;
mod taping;
pub mod viewers;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use huiyi_sfu::{RoomId, SfuEvent, SfuHandle};
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use crate::scheduling::lifecycle::Status;
use crate::services::lifecycle;

pub use self::core::{Admitted, Guest, Input, Refusal};
pub use actor::{Cmd, Out};
pub use check::{CheckError, CHECK_LIFETIME, MAX_CHECKS};
pub use records::roll_call_record;

/// How long after its last heartbeat a meeting's carried state is still
/// restored (a server down longer than this starts its meetings afresh).
pub const MAX_RESTORE_AGE: Duration = Duration::from_secs(6 * 3600);

/// A handle to one running meeting.
#[derive(Clone)]
pub struct MeetingHandle {
    /// Meeting id.
    pub id: String,
    /// Its media room.
    pub room: RoomId,
    tx: mpsc::Sender<Cmd>,
    /// True once the meeting's actor has ended and its records are written.
    done: watch::Receiver<bool>,
}

impl MeetingHandle {
    /// Sends a command; false if the meeting has closed.
    pub async fn send(&self, cmd: Cmd) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// Waits (at most `limit`) until the meeting's records are written: its
    /// carried state forgotten when everyone left, so a meeting opened
    /// again under the same id does not read it back.
    async fn written(&self, limit: Duration) {
        let mut done = self.done.clone();
        if tokio::time::timeout(limit, done.wait_for(|d| *d)).await.is_err() {
            tracing::warn!(meeting = %self.id, "the closing meeting's records are not written yet; opening it again");
        }
    }
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, MeetingHandle>,
    by_room: HashMap<RoomId, MeetingHandle>,
    next_room: u64,
}

/// All live meetings of this server.
#[derive(Clone)]
pub struct Meetings {
    registry: Arc<Mutex<Registry>>,
    sfu: SfuHandle,
    next_peer: Arc<AtomicU64>,
    checks: Arc<check::Checks>,
    grace: Duration,
    store: Arc<dyn crate::store::Store>,
    takeover: bool,
    limits: Arc<crate::limits::Limits>,
    recordings: Option<crate::recording::Recordings>,
    lives: Option<crate::live::Lives>,
}

impl Meetings {
    /// No meetings yet. Dropped participants may resume within `grace`;
    /// meeting records go to `store`.
    pub fn new(sfu: SfuHandle, grace: Duration, store: Arc<dyn crate::store::Store>) -> Self {
        Self {
            registry: Arc::default(),
            sfu,
            next_peer: Arc::new(AtomicU64::new(1)),
            checks: Arc::default(),
            grace,
            store,
            takeover: false,
            limits: Arc::default(),
            recordings: None,
            lives: None,
        }
    }

    /// Lets secretaries stream meetings live to the portal.
    pub fn with_lives(mut self, lives: crate::live::Lives) -> Self {
        self.lives = Some(lives);
        self
    }

    /// The live feeds, if this server makes them.
    pub fn lives(&self) -> Option<&crate::live::Lives> {
        self.lives.as_ref()
    }

    /// Lets chairs and secretaries record meetings into `recordings`.
    pub fn with_recordings(mut self, recordings: crate::recording::Recordings) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// Where meetings are recorded, if they may be.
    pub fn recordings(&self) -> Option<&crate::recording::Recordings> {
        self.recordings.as_ref()
    }

    /// Lets a second use of a link take its holder's seat instead of being
    /// refused (`signaling.link_reuse = "takeover"`).
    pub fn with_link_takeover(mut self, takeover: bool) -> Self {
        self.takeover = takeover;
        self
    }

    /// Holds meetings to `limits` (the defaults otherwise).
    pub fn with_limits(mut self, limits: Arc<crate::limits::Limits>) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force, with their counters.
    pub fn limits(&self) -> &Arc<crate::limits::Limits> {
        &self.limits
    }

    /// Joins `guest` into meeting `id` (opening it if needed); the meeting
    /// then sends to the session through `out`.
    pub async fn attach(
        &self,
        id: &str,
        title: &str,
        guest: Guest,
        resume: Option<String>,
        out: mpsc::Sender<Out>,
    ) -> Result<(Admitted, MeetingHandle), Refusal> {
        for _ in 0..2 {
            let handle = self.open(id, title).await?;
            let (tx, rx) = oneshot::channel();
            let cmd =
                Cmd::Attach { guest: guest.clone(), resume: resume.clone(), out: out.clone(), reply: tx };
            if handle.send(cmd).await {
                if let Ok(result) = rx.await {
                    return result.map(|a| (a, handle));
                }
            }
            // The meeting closed between lookup and attach: forget it and
            // open anew, once what it wrote is written.
            handle.written(Duration::from_secs(10)).await;
            self.forget(handle.room).await;
        }
        Err(Refusal::internal("the meeting could not be opened"))
    }

    async fn open(&self, id: &str, title: &str) -> Result<MeetingHandle, Refusal> {
        let mut reg = self.registry.lock().await;
        if let Some(h) = reg.by_id.get(id) {
            return Ok(h.clone());
        }
        if reg.by_id.len() >= self.limits.cfg.meetings {
            self.limits.refused(crate::limits::Limit::Meetings);
            return Err(Refusal::full(format!(
                "the server runs its maximum of {} meetings at once; try again later",
                self.limits.cfg.meetings
            )));
        }
        reg.next_room += 1;
        let room = RoomId(reg.next_room);
        self.sfu.create_room(room).await.map_err(|e| Refusal::internal(format!("media plane: {e}")))?;
        let (tx, rx) = mpsc::channel(1024);
        let (done_tx, done) = watch::channel(false);
        let handle = MeetingHandle { id: id.to_string(), room, tx, done };
        reg.by_id.insert(id.to_string(), handle.clone());
        reg.by_room.insert(room, handle.clone());
        tracing::info!(meeting = %id, %room, "meeting opened");
        let meetings = self.clone();
        let ctx = actor::Context {
            sfu: self.sfu.clone(),
            grace: self.grace,
            next_peer: self.next_peer.clone(),
            store: self.store.clone(),
            takeover: self.takeover,
            limits: self.limits.clone(),
            recordings: self.recordings.clone(),
            lives: self.lives.clone(),
        };
        let restored = self.restored(id).await;
        let actor = actor::Meeting::new(id.to_string(), title.to_string(), room, ctx, restored);
        tokio::spawn(async move {
            actor.run(rx).await;
            let _ = done_tx.send(true);
            meetings.forget(room).await;
            let _ = meetings.sfu.close_room(room).await;
            tracing::info!(meeting = %handle.id, %room, "meeting closed");
        });
        Ok(reg.by_id[id].clone())
    }

    /// The carried state of meeting `id` from before a restart, if it was
    /// live then (within [`MAX_RESTORE_AGE`]) and the state is readable;
    /// anything else opens the meeting afresh (and says why in the log).
    async fn restored(&self, id: &str) -> Option<core::Carried> {
        let store = self.store.clone();
        let key = id.to_string();
        let row = tokio::task::spawn_blocking(move || store.live_state(&key)).await.ok()?;
        let (json, heartbeat) = match row {
            Ok(Some(row)) => row,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(meeting = %id, error = %e, "cannot read the carried state; the meeting opens afresh");
                return None;
            }
        };
        let age = crate::clock::unix_secs().saturating_sub(heartbeat);
        if age > MAX_RESTORE_AGE.as_secs() as i64 {
            tracing::info!(meeting = %id, age_secs = age, "carried state too old; the meeting opens afresh");
            return None;
        }
        match serde_json::from_str::<core::Carried>(&json) {
            Ok(c) if c.version == core::CARRIED_VERSION => Some(c),
            Ok(c) => {
                tracing::warn!(meeting = %id, version = c.version, "carried state of another version; the meeting opens afresh");
                None
            }
            Err(e) => {
                tracing::warn!(meeting = %id, error = %e, "unreadable carried state; the meeting opens afresh");
                None
            }
        }
    }

    async fn forget(&self, room: RoomId) {
        let mut reg = self.registry.lock().await;
        if let Some(h) = reg.by_room.remove(&room) {
            if reg.by_id.get(&h.id).is_some_and(|x| x.room == room) {
                reg.by_id.remove(&h.id);
            }
        }
    }

    /// Hands a media event to its meeting.
    pub async fn dispatch(&self, event: SfuEvent) {
        let room = match &event {
            SfuEvent::PeerConnected { room, .. }
            | SfuEvent::PeerLeft { room, .. }
            | SfuEvent::TrackPublished { room, .. }
            | SfuEvent::TrackUnpublished { room, .. }
            | SfuEvent::OfferReady { room, .. }
            | SfuEvent::KeyframeNeeded { room, .. }
            | SfuEvent::ActiveSpeaker { room, .. }
            | SfuEvent::PeerStats { room, .. }
            | SfuEvent::VideoPaused { room, .. }
            | SfuEvent::VideoResumed { room, .. }
            | SfuEvent::LayersWanted { room, .. } => *room,
        };
        if matches!(event, SfuEvent::PeerStats { .. } | SfuEvent::KeyframeNeeded { .. }) {
            return;
        }
        let handle = self.registry.lock().await.by_room.get(&room).cloned();
        if let Some(h) = handle {
            h.send(Cmd::Input(Input::Media(event))).await;
        }
    }

    /// Ends live meeting `id`, if it is running: everyone is closed out.
    pub async fn end(&self, id: &str) {
        let handle = self.registry.lock().await.by_id.get(id).cloned();
        if let Some(h) = handle {
            h.send(Cmd::Input(Input::End)).await;
        }
    }

    /// Starts or stops recording live meeting `id` for account `by` (the
    /// console); false if the meeting is not running.
    pub async fn record(&self, id: &str, on: bool, by: &str) -> bool {
        let handle = self.registry.lock().await.by_id.get(id).cloned();
        match handle {
            Some(h) => h.send(Cmd::Input(Input::Record { on, by: by.to_string() })).await,
            None => false,
        }
    }

    /// Starts or stops live meeting `id`'s feed for account `by`; false if
    /// the meeting is not running.
    pub async fn live(&self, id: &str, on: bool, by: &str) -> bool {
        let handle = self.registry.lock().await.by_id.get(id).cloned();
        match handle {
            Some(h) => h.send(Cmd::Input(Input::Live { on, by: by.to_string() })).await,
            None => false,
        }
    }

    /// A WHEP viewer of live meeting `id` from its offer: the answer and
    /// the viewer's session id, or why not (`None`: no such meeting runs).
    pub async fn viewer(
        &self,
        id: &str,
        offer: String,
    ) -> Option<Result<(String, String), viewers::Refused>> {
        let handle = self.registry.lock().await.by_id.get(id).cloned()?;
        let (reply, rx) = oneshot::channel();
        if !handle.send(Cmd::Viewer { offer, reply }).await {
            return None;
        }
        rx.await.ok()
    }

    /// The WHEP viewer of `session` leaves meeting `id`; false if unknown.
    pub async fn viewer_gone(&self, id: &str, session: &str) -> bool {
        let Some(handle) = self.registry.lock().await.by_id.get(id).cloned() else { return false };
        let (reply, rx) = oneshot::channel();
        handle.send(Cmd::ViewerGone { session: session.to_string(), reply }).await
            && rx.await.unwrap_or(false)
    }

    /// The holder of participant `pid`'s seat in live meeting `id` (if it is
    /// running) leaves: its link was re-issued.
    pub async fn revoke(&self, id: &str, pid: &str) {
        let handle = self.registry.lock().await.by_id.get(id).cloned();
        if let Some(h) = handle {
            h.send(Cmd::Input(Input::Revoke { pid: pid.to_string() })).await;
        }
    }

    /// Closes every live meeting for a server stop: each participant's leave
    /// is recorded (attendance stays true across a restart) and clients are
    /// told to come back (1001). Waits up to 5 s for the meetings to close.
    pub async fn shutdown(&self) {
        let handles: Vec<MeetingHandle> = self.registry.lock().await.by_id.values().cloned().collect();
        for h in &handles {
            h.send(Cmd::Input(Input::Shutdown)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.count().await > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ids of the live meetings.
    pub async fn ids(&self) -> Vec<String> {
        self.registry.lock().await.by_id.keys().cloned().collect()
    }

    /// Number of open meetings.
    pub async fn count(&self) -> usize {
        self.registry.lock().await.by_id.len()
    }
}

/// Ends live meetings whose schedule says they are over (the planned end
/// plus the grace), every `period`, until the task is aborted.
pub async fn drive(
    meetings: Meetings,
    store: Arc<dyn crate::store::Store>,
    grace_mins: u32,
    period: Duration,
) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        for id in meetings.ids().await {
            let store = store.clone();
            let key = id.clone();
            let Ok(Ok(m)) = tokio::task::spawn_blocking(move || store.meeting(&key)).await else { continue };
            if matches!(
                lifecycle::status(&m, grace_mins, crate::clock::unix_secs()),
                Status::Ended | Status::Cancelled
            ) {
                tracing::info!(meeting = %id, "the meeting's time is over: ending it");
                meetings.end(&id).await;
            }
        }
    }
}
