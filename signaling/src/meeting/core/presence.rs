//! Who is in the meeting: joining, resuming, dropping and coming back
//! within the grace period, leaving, and the sign-in (签到).

use std::collections::HashMap;

use super::{
    Admitted, CloseReason, Core, Effect, Guest, Notice, Participant, ParticipantView, Record, Refusal, Role,
    SfuCmd, TrackView, Welcome,
};
use crate::token::random_id;

impl Core {
    /// Admits a session (the [`Effect::Admit`] goes out before its welcome),
    /// or refuses it.
    pub(super) fn attach(&mut self, guest: Guest, resume: Option<String>) -> Result<(), Refusal> {
        self.ever_joined = true;
        let pid = guest.pid.clone();
        if self.barred.contains(&pid) {
            return Err(Refusal::forbidden("the chair removed you from this meeting"));
        }
        if self.state.locked && !self.participants.contains_key(&pid) {
            return Err(Refusal::closed("the meeting is locked: no new participants"));
        }
        if !self.participants.contains_key(&pid) && self.participants.len() >= self.max_participants {
            self.out.push(Effect::Limit(crate::limits::Limit::ParticipantsPerMeeting));
            return Err(Refusal::full(format!(
                "the meeting is full ({} participants); ask the secretary",
                self.max_participants
            )));
        }
        let replaced = self.participants.contains_key(&pid);
        let resumed = match self.participants.get(&pid) {
            Some(p) if resume.as_deref() == Some(p.session_key.as_str()) => {
                self.take_over(&pid, "resumed elsewhere");
                true
            }
            Some(p) if p.attached && !self.takeover => {
                // The same link again while its holder is here, without the
                // holder's session: someone else has the link (or a second
                // tab). Refused; the holder is told (ADR 0009).
                tracing::warn!(meeting = %self.id, participant = %pid, "a second use of a link refused");
                self.notify(&pid, Notice::LinkReused);
                return Err(Refusal::in_use(
                    "this link is already in use in the meeting; if that is not you, ask the secretary for a new link",
                ));
            }
            Some(_) => {
                // The same participant again without resume (its holder gone,
                // or `takeover` allowed): the new session takes over with
                // fresh media.
                self.take_over(&pid, "joined from another window");
                let p = self.participants.get_mut(&pid).expect("present");
                if std::mem::take(&mut p.carried) {
                    // Back after a server restart: a new attendance interval.
                    let (name, at) = (p.view.name.clone(), self.now.unix_secs());
                    tracing::info!(meeting = %self.id, participant = %pid, "participant back after a restart");
                    self.out.push(Effect::Record(Record::Attendance {
                        pid: pid.clone(),
                        name,
                        event: "join",
                        reason: String::new(),
                        at,
                    }));
                }
                let p = self.participants.get_mut(&pid).expect("present");
                p.session_key = random_id(18);
                p.pending_offer = None;
                let ended: Vec<_> = p.tracks.drain(..).map(|t| t.id).collect();
                if let Some(peer) = p.peer.take() {
                    self.sfu(SfuCmd::RemovePeer(peer));
                }
                for t in ended {
                    self.broadcast_except(&pid, Notice::TrackEnded(t));
                }
                false
            }
            None => {
                let view = ParticipantView {
                    id: pid.clone(),
                    name: guest.name.clone(),
                    role: guest.role,
                    audio_muted: false,
                    video_muted: false,
                    quality: None,
                    connected: true,
                    signed_in: false,
                };
                self.participants.insert(
                    pid.clone(),
                    Participant {
                        view: view.clone(),
                        session_key: random_id(18),
                        epoch: 1,
                        attached: true,
                        peer: None,
                        tracks: Vec::new(),
                        sources: HashMap::new(),
                        receive_video: true,
                        tiles: Vec::new(),
                        pending_offer: None,
                        gone_since: None,
                        video_codecs: None,
                        carried: false,
                    },
                );
                tracing::info!(meeting = %self.id, participant = %pid, role = ?guest.role, "participant joined");
                let at = self.now.unix_secs();
                self.record(Record::Attendance {
                    pid: pid.clone(),
                    name: guest.name,
                    event: "join",
                    reason: String::new(),
                    at,
                });
                self.broadcast_except(&pid, Notice::Joined(view));
                false
            }
        };
        let chair_taken = guest.role == Role::Chair && self.state.chair.is_none();
        if chair_taken {
            self.state.chair = Some(pid.clone());
        }
        let p = &self.participants[&pid];
        let welcome = Welcome {
            session: p.session_key.clone(),
            resumed,
            meeting_id: self.id.clone(),
            title: self.title.clone(),
            you: p.view.clone(),
            participants: self.views_except(&pid),
            tracks: self.track_views(),
            active_speaker: self.speaker.clone(),
            video_codec: self.state.video_codec,
        };
        let epoch = p.epoch;
        let pending = if resumed { p.pending_offer.clone() } else { None };
        self.out.push(Effect::Admit(Ok(Admitted { pid: pid.clone(), epoch })));
        self.notify(&pid, Notice::Welcome(Box::new(welcome)));
        if chair_taken {
            self.send_state();
        } else {
            let state = self.state.clone();
            self.notify(&pid, Notice::State(state));
        }
        if let Some(offer) = pending {
            self.notify(&pid, offer);
        }
        if replaced {
            // Connected again, whether resumed or from a new window.
            self.broadcast_updated(&pid);
        }
        Ok(())
    }

    /// A new session takes this participant's place; the old one is closed.
    fn take_over(&mut self, pid: &str, how: &'static str) {
        let p = self.participants.get_mut(pid).expect("present");
        if p.attached {
            self.out.push(Effect::Close(pid.to_string(), CloseReason::Replaced(how)));
        }
        p.epoch += 1;
        p.attached = true;
        p.gone_since = None;
        p.view.connected = true;
    }

    fn views_except(&self, pid: &str) -> Vec<ParticipantView> {
        let mut views: Vec<ParticipantView> =
            self.participants.values().filter(|o| o.view.id != pid).map(|o| o.view.clone()).collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    pub(super) fn track_views(&self) -> Vec<TrackView> {
        let mut views: Vec<TrackView> = self
            .participants
            .values()
            .flat_map(|p| {
                p.tracks.iter().map(|t| TrackView {
                    track: t.id,
                    participant: p.view.id.clone(),
                    source: t.source,
                })
            })
            .collect();
        views.sort_by_key(|t| t.track);
        views
    }

    pub(super) fn detach(&mut self, pid: &str, epoch: u64) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        if p.epoch != epoch || !p.attached {
            return;
        }
        p.attached = false;
        p.gone_since = Some(self.now.mono);
        p.view.connected = false;
        tracing::info!(meeting = %self.id, participant = %pid, "connection dropped; waiting for it to resume");
        self.broadcast_updated(pid);
    }

    pub(super) fn expire_dropped(&mut self) {
        let now = self.now.mono;
        let mut expired: Vec<String> = self
            .participants
            .values()
            .filter(|p| p.gone_since.is_some_and(|t| now.duration_since(t) >= self.grace_of(p)))
            .map(|p| p.view.id.clone())
            .collect();
        expired.sort();
        for pid in expired {
            self.remove(&pid, "timeout");
        }
    }

    pub(super) fn remove(&mut self, pid: &str, reason: &str) {
        let Some(p) = self.participants.remove(pid) else { return };
        if let Some(peer) = p.peer {
            self.sfu(SfuCmd::RemovePeer(peer));
        }
        tracing::info!(meeting = %self.id, participant = %pid, reason, "participant left");
        // A seat carried over a restart and never taken again had its
        // interval closed at the restart.
        if !p.carried {
            let at = self.now.unix_secs();
            self.record(Record::Attendance {
                pid: pid.to_string(),
                name: p.view.name.clone(),
                event: "leave",
                reason: reason.to_string(),
                at,
            });
        }
        for t in &p.tracks {
            self.broadcast(Notice::TrackEnded(t.id));
        }
        self.broadcast(Notice::Left { id: pid.to_string(), reason: reason.to_string() });
        self.unmute_allowed.remove(pid);
        self.forget_in_state(pid);
    }

    /// Closes everyone out with `why`; their leaves are recorded with `reason`.
    pub(super) fn close_all(&mut self, why: CloseReason, reason: &str) {
        let mut all: Vec<String> =
            self.participants.values().filter(|p| p.attached).map(|p| p.view.id.clone()).collect();
        all.sort();
        for p in &all {
            self.out.push(Effect::Close(p.clone(), why));
        }
        let mut everyone: Vec<String> = self.participants.keys().cloned().collect();
        everyone.sort();
        for p in everyone {
            self.remove(&p, reason);
        }
    }

    /// 签到: recorded once, shown to everyone.
    pub(super) fn sign_in(&mut self, pid: &str) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        if p.view.signed_in {
            return;
        }
        p.view.signed_in = true;
        let name = p.view.name.clone();
        let at = self.now.unix_secs();
        self.record(Record::SignIn { pid: pid.to_string(), name, at });
        self.broadcast_updated(pid);
    }
}
