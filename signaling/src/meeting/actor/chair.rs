//! Chair control: what the chair (主席) and the secretary (会务) may do, and
//! the rules every participant's microphone follows. Everything here is
//! enforced at the server: a client that ignores it still cannot be heard
//! (its tracks are muted in the SFU) or seen (broadcast mode filters video
//! in the SFU).

use std::time::{Duration, Instant};

use huiyi_sfu::PeerId;

use super::{Meeting, Out};
use crate::token::Role;
use crate::ws::protocol::{close, Control, ErrorCode, ServerMsg};

/// Layouts the chair can push.
const LAYOUTS: [&str; 6] = ["auto", "1", "1+5", "2x2", "3x3", "4x4"];

impl Meeting {
    /// Chair or secretary (or whoever holds the chair now).
    pub(super) fn is_host(&self, pid: &str) -> bool {
        self.state.chair.as_deref() == Some(pid)
            || self
                .participants
                .get(pid)
                .is_some_and(|p| matches!(p.info.role, Role::Chair | Role::Secretary))
    }

    fn role_of(&self, pid: &str) -> Option<Role> {
        self.participants.get(pid).map(|p| p.info.role)
    }

    /// May `pid` unmute its own microphone now?
    pub(super) fn may_unmute_self(&self, pid: &str) -> bool {
        !self.state.mics_locked
            || self.is_host(pid)
            || self.state.floor.as_deref() == Some(pid)
            || self.unmute_allowed.contains(pid)
    }

    pub(super) async fn control(&mut self, pid: &str, action: Control) {
        let allowed = match &action {
            Control::TransferChair { .. } => {
                self.state.chair.as_deref() == Some(pid) || self.role_of(pid) == Some(Role::Chair)
            }
            Control::TakeChair => self.role_of(pid) == Some(Role::Secretary),
            _ => self.is_host(pid),
        };
        if !allowed {
            return self.error(pid, ErrorCode::Forbidden, "only the chair or the secretary may do this");
        }
        match action {
            Control::MuteParticipant { participant, muted } => {
                self.mute_participant(pid, &participant, muted).await
            }
            Control::MuteAll { lock } => {
                let others: Vec<String> =
                    self.participants.keys().filter(|k| !self.is_host(k)).cloned().collect();
                for other in others {
                    self.set_audio(&other, true).await;
                }
                self.state.mics_locked = lock;
                self.unmute_allowed.clear();
                self.send_state();
            }
            Control::UnlockMics => {
                self.state.mics_locked = false;
                self.send_state();
            }
            Control::GrantFloor { participant, seconds } => {
                self.grant_floor(pid, &participant, seconds).await
            }
            Control::DeclineHand { participant } => {
                self.state.hands.retain(|h| *h != participant);
                self.send_state();
            }
            Control::EndSpeech => {
                self.end_floor().await;
                self.send_state();
            }
            Control::LowerAllHands => {
                self.state.hands.clear();
                self.send_state();
            }
            Control::Broadcast { participants } => {
                if let Some(list) = &participants {
                    if let Some(bad) = list.iter().find(|p| !self.participants.contains_key(*p)) {
                        return self.error(pid, ErrorCode::BadMessage, &format!("no participant {bad:?}"));
                    }
                }
                self.state.broadcast = participants;
                self.apply_broadcast().await;
                self.send_state();
            }
            Control::LockMeeting { locked } => {
                self.state.locked = locked;
                self.send_state();
            }
            Control::RemoveParticipant { participant, bar } => {
                if !self.participants.contains_key(&participant) || participant == pid {
                    return self.error(pid, ErrorCode::BadMessage, "no such participant to remove");
                }
                if bar {
                    self.barred.insert(participant.clone());
                }
                self.send_out(&participant, Out::Close(close::REMOVED, "removed by the chair"));
                self.remove(&participant, "removed").await;
                self.send_state();
            }
            Control::EndMeeting => {
                self.record_end(pid);
                self.close_all(close::ENDED, "the chair ended the meeting", "ended").await;
            }
            Control::TransferChair { participant } => {
                if !self.participants.contains_key(&participant) {
                    return self.error(pid, ErrorCode::BadMessage, "no such participant");
                }
                for (who, role) in [(pid.to_string(), Role::Participant), (participant.clone(), Role::Chair)]
                {
                    if let Some(p) = self.participants.get_mut(&who) {
                        if p.info.role != Role::Secretary {
                            p.info.role = role;
                        }
                    }
                    self.broadcast_updated(&who);
                }
                self.state.chair = Some(participant);
                self.apply_broadcast().await;
                self.send_state();
            }
            Control::TakeChair => {
                self.state.chair = Some(pid.to_string());
                self.send_state();
            }
            Control::Spotlight { participant } => {
                self.state.spotlight = participant.filter(|p| self.participants.contains_key(p));
                self.send_state();
            }
            Control::RollCallStart { participants, auto, timeout_secs } => {
                self.roll_call_start(pid, participants, auto, timeout_secs).await
            }
            Control::RollCallCall { participant } => self.roll_call_call(pid, &participant).await,
            Control::RollCallNext => self.roll_call_next().await,
            Control::RollCallStop => self.roll_call_stop().await,
            Control::Layout { layout } => {
                if !LAYOUTS.contains(&layout.as_str()) {
                    return self.error(
                        pid,
                        ErrorCode::BadMessage,
                        "layout must be auto, 1, 1+5, 2x2, 3x3 or 4x4",
                    );
                }
                self.state.layout = layout;
                self.send_state();
            }
        }
    }

    async fn mute_participant(&mut self, by: &str, target: &str, muted: bool) {
        if !self.participants.contains_key(target) {
            return self.error(by, ErrorCode::BadMessage, "no such participant");
        }
        if muted {
            self.unmute_allowed.remove(target);
            self.set_audio(target, true).await;
        } else if self.role_of(target) == Some(Role::Venue) {
            // An unattended venue terminal: the chair opens its microphone.
            self.set_audio(target, false).await;
        } else {
            // A person decides: ask, and allow the unmute even if locked.
            self.unmute_allowed.insert(target.to_string());
            self.send(target, ServerMsg::UnmuteRequest { by: by.to_string() });
        }
    }

    /// Sets a participant's microphone at the server and tells everyone.
    pub(super) async fn set_audio(&mut self, pid: &str, muted: bool) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        p.info.audio_muted = muted;
        let peer = p.peer;
        let tracks: Vec<_> =
            p.tracks.iter().filter(|t| t.kind == huiyi_sfu::TrackKind::Audio).map(|t| t.id).collect();
        if let Some(peer) = peer {
            for track in tracks {
                if let Err(e) = self.sfu.set_muted(self.room, peer, track, muted).await {
                    tracing::debug!(error = %e, "mute of a track that just ended");
                }
            }
        }
        self.broadcast_updated(pid);
    }

    /// A participant asks for the floor.
    pub(super) fn raise_hand(&mut self, pid: &str, up: bool) {
        if up && self.role_of(pid) == Some(Role::Observer) {
            return self.error(pid, ErrorCode::Forbidden, "observers (列席) cannot ask for the floor");
        }
        let queued = self.state.hands.iter().any(|h| h == pid);
        if up && !queued && self.state.floor.as_deref() != Some(pid) {
            self.state.hands.push(pid.to_string());
        } else if !up {
            self.state.hands.retain(|h| h != pid);
        }
        self.send_state();
    }

    async fn grant_floor(&mut self, by: &str, participant: &str, seconds: Option<u32>) {
        if !self.participants.contains_key(participant) || self.role_of(participant) == Some(Role::Observer) {
            return self.error(by, ErrorCode::BadMessage, "this participant cannot be given the floor");
        }
        if self.state.floor.as_deref().is_some_and(|f| f != participant) {
            self.end_floor().await;
        }
        self.state.hands.retain(|h| h != participant);
        self.state.floor = Some(participant.to_string());
        self.floor_deadline =
            seconds.filter(|s| *s > 0).map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        self.state.floor_ends_at =
            seconds.filter(|s| *s > 0).map(|s| crate::unix_millis() + u64::from(s) * 1000);
        self.set_audio(participant, false).await;
        self.send_state();
    }

    /// The speech ends: the speaker's microphone closes.
    pub(super) async fn end_floor(&mut self) {
        if let Some(speaker) = self.state.floor.take() {
            self.set_audio(&speaker, true).await;
        }
        self.floor_deadline = None;
        self.state.floor_ends_at = None;
    }

    /// A scheduled meeting ended from inside is ended in its record too, so
    /// that nobody rejoins it and the console shows it over (ADR 0006).
    fn record_end(&self, by: &str) {
        let (store, id, by) = (self.store.clone(), self.id.clone(), by.to_string());
        tokio::task::spawn_blocking(move || {
            if store.meeting(&id).is_err() {
                return; // an ad-hoc meeting: no record
            }
            let now = crate::unix_secs();
            let result = store.mark_meeting(&id, crate::store::Mark::End, now).and_then(|m| {
                let detail = format!("{} (ended in the meeting by {by})", m.title);
                let audit = crate::store::NewAudit {
                    action: "meeting.end",
                    target: Some(&id),
                    detail: &detail,
                    outcome: "ok",
                    ..Default::default()
                };
                store.audit(audit, now)
            });
            if let Err(e) = result {
                tracing::error!(meeting = %id, error = %e, "cannot record the end of the meeting");
            }
        });
    }

    /// Closes everyone out of the meeting with `code`; their leaves are
    /// recorded with `reason`.
    pub(super) async fn close_all(&mut self, code: u16, why: &'static str, reason: &str) {
        let all: Vec<String> = self.participants.keys().cloned().collect();
        for p in &all {
            self.send_out(p, Out::Close(code, why));
        }
        for p in all {
            self.remove(&p, reason).await;
        }
    }

    /// Ends a timed speech whose time is up.
    pub(super) async fn tick_floor(&mut self) {
        if self.floor_deadline.is_some_and(|d| Instant::now() >= d) {
            self.end_floor().await;
            self.send_state();
        }
    }

    /// Applies broadcast mode to every participant's video in the SFU: hosts
    /// see everyone (their monitor wall); everyone else only the sources.
    pub(super) async fn apply_broadcast(&mut self) {
        let sources: Option<Vec<PeerId>> =
            self.state.broadcast.as_ref().map(|list| {
                list.iter().filter_map(|p| self.participants.get(p).and_then(|p| p.peer)).collect()
            });
        let targets: Vec<(PeerId, bool)> = self
            .participants
            .values()
            .filter_map(|p| p.peer.map(|peer| (peer, self.is_host(&p.info.id))))
            .collect();
        for (peer, host) in targets {
            let filter = if host { None } else { sources.clone() };
            if let Err(e) = self.sfu.set_video_sources(self.room, peer, filter).await {
                tracing::debug!(error = %e, "broadcast filter for a peer that just left");
            }
        }
    }

    /// Sends the chair-controlled state to everyone.
    pub(super) fn send_state(&mut self) {
        let state = self.state.clone();
        self.broadcast(ServerMsg::MeetingState { state });
    }

    /// A participant left: it no longer queues, speaks or chairs.
    pub(super) async fn forget_in_state(&mut self, pid: &str) {
        let mut changed = false;
        if self.state.hands.iter().any(|h| h == pid) {
            self.state.hands.retain(|h| h != pid);
            changed = true;
        }
        if self.state.floor.as_deref() == Some(pid) {
            self.state.floor = None;
            self.state.floor_ends_at = None;
            self.floor_deadline = None;
            changed = true;
        }
        if self.state.spotlight.as_deref() == Some(pid) {
            self.state.spotlight = None;
            changed = true;
        }
        if let Some(list) = &mut self.state.broadcast {
            if list.iter().any(|p| p == pid) {
                list.retain(|p| p != pid);
                changed = true;
            }
        }
        if changed {
            self.apply_broadcast().await;
            self.send_state();
        }
    }
}
