//! Chair control: what the chair (主席) and the secretary (会务) may do, and
//! the rules every participant's microphone follows. Everything here is
//! enforced at the server: a client that ignores it still cannot be heard
//! (its tracks are muted in the SFU) or seen (broadcast mode filters video
//! in the SFU).

use std::time::Duration;

use huiyi_sfu::PeerId;

use super::{Action, CloseReason, Core, Effect, Notice, Record, Refusal, Role, SfuCmd};

/// Layouts the chair can push.
const LAYOUTS: [&str; 6] = ["auto", "1", "1+5", "2x2", "3x3", "4x4"];

impl Core {
    /// Chair or secretary (or whoever holds the chair now).
    pub(super) fn is_host(&self, pid: &str) -> bool {
        self.state.chair.as_deref() == Some(pid)
            || self
                .participants
                .get(pid)
                .is_some_and(|p| matches!(p.view.role, Role::Chair | Role::Secretary))
    }

    /// May `pid` unmute its own microphone now?
    pub(super) fn may_unmute_self(&self, pid: &str) -> bool {
        !self.state.mics_locked
            || self.is_host(pid)
            || self.state.floor.as_deref() == Some(pid)
            || self.unmute_allowed.contains(pid)
    }

    pub(super) fn control(&mut self, pid: &str, action: Action) {
        let allowed = match &action {
            Action::TransferChair { .. } => {
                self.state.chair.as_deref() == Some(pid) || self.role_of(pid) == Some(Role::Chair)
            }
            Action::TakeChair => self.role_of(pid) == Some(Role::Secretary),
            _ => self.is_host(pid),
        };
        if !allowed {
            return self.refuse(pid, Refusal::forbidden("only the chair or the secretary may do this"));
        }
        match action {
            Action::MuteParticipant { participant, muted } => self.mute_participant(pid, &participant, muted),
            Action::MuteAll { lock } => {
                let mut others: Vec<String> =
                    self.participants.keys().filter(|k| !self.is_host(k)).cloned().collect();
                others.sort();
                for other in others {
                    self.set_audio(&other, true);
                }
                self.state.mics_locked = lock;
                self.unmute_allowed.clear();
                self.send_state();
            }
            Action::UnlockMics => {
                self.state.mics_locked = false;
                self.send_state();
            }
            Action::GrantFloor { participant, seconds } => self.grant_floor(pid, &participant, seconds),
            Action::DeclineHand { participant } => {
                self.state.hands.retain(|h| *h != participant);
                self.send_state();
            }
            Action::EndSpeech => {
                self.end_floor();
                self.send_state();
            }
            Action::LowerAllHands => {
                self.state.hands.clear();
                self.send_state();
            }
            Action::Broadcast { participants } => {
                if let Some(list) = &participants {
                    if let Some(bad) = list.iter().find(|p| !self.participants.contains_key(*p)) {
                        return self.refuse(pid, Refusal::bad_request(format!("no participant {bad:?}")));
                    }
                }
                self.state.broadcast = participants;
                self.apply_broadcast();
                self.send_state();
            }
            Action::LockMeeting { locked } => {
                self.state.locked = locked;
                self.send_state();
            }
            Action::RemoveParticipant { participant, bar } => {
                if !self.participants.contains_key(&participant) || participant == pid {
                    return self.refuse(pid, Refusal::bad_request("no such participant to remove"));
                }
                if bar {
                    self.barred.insert(participant.clone());
                }
                if self.participants[&participant].attached {
                    self.out.push(Effect::Close(participant.clone(), CloseReason::Removed));
                }
                self.remove(&participant, "removed");
                self.send_state();
            }
            Action::EndMeeting => {
                let at = self.now.unix_secs();
                self.record(Record::Ended { by: pid.to_string(), at });
                self.close_all(CloseReason::EndedByChair, "ended");
            }
            Action::TransferChair { participant } => {
                if !self.participants.contains_key(&participant) {
                    return self.refuse(pid, Refusal::bad_request("no such participant"));
                }
                // The holder steps down, whoever of the chairs asked.
                let holder = self.state.chair.clone();
                self.hand_chair(holder.as_deref(), &participant);
            }
            Action::TakeChair => {
                let holder = self.state.chair.clone();
                match holder {
                    Some(h) if h != pid => self.hand_chair(Some(&h), pid),
                    Some(_) => self.send_state(),
                    None => self.hand_chair(None, pid),
                }
            }
            Action::Spotlight { participant } => {
                self.state.spotlight = participant.filter(|p| self.participants.contains_key(p));
                self.send_state();
            }
            Action::RollCallStart { participants, auto, timeout_secs } => {
                self.roll_call_start(pid, participants, auto, timeout_secs)
            }
            Action::RollCallCall { participant } => self.roll_call_call(pid, &participant),
            Action::RollCallNext => self.roll_call_next(),
            Action::RollCallStop => self.roll_call_stop(),
            Action::Record { on } => {
                if on != self.state.recording_since.is_some() {
                    self.out.push(Effect::Recording { on, by: pid.to_string() });
                }
            }
            Action::Live { on } => {
                if on != self.state.live_since.is_some() {
                    self.out.push(Effect::Live { on, by: pid.to_string() });
                }
            }
            Action::Layout { layout } => {
                if !LAYOUTS.contains(&layout.as_str()) {
                    return self
                        .refuse(pid, Refusal::bad_request("layout must be auto, 1, 1+5, 2x2, 3x3 or 4x4"));
                }
                self.state.layout = layout;
                self.send_state();
            }
        }
    }

    /// The chair passes from `from` (if anyone holds it) to `to`: the old
    /// holder becomes an ordinary participant (a secretary stays
    /// secretary), the new one a chair.
    fn hand_chair(&mut self, from: Option<&str>, to: &str) {
        let mut changes = vec![(to.to_string(), Role::Chair)];
        if let Some(from) = from.filter(|f| *f != to) {
            changes.insert(0, (from.to_string(), Role::Participant));
        }
        for (who, role) in changes {
            if let Some(p) = self.participants.get_mut(&who) {
                if p.view.role != Role::Secretary {
                    p.view.role = role;
                }
                self.broadcast_updated(&who);
            }
        }
        self.state.chair = Some(to.to_string());
        self.apply_broadcast();
        self.send_state();
    }

    fn mute_participant(&mut self, by: &str, target: &str, muted: bool) {
        if !self.participants.contains_key(target) {
            return self.refuse(by, Refusal::bad_request("no such participant"));
        }
        if muted {
            self.unmute_allowed.remove(target);
            self.set_audio(target, true);
        } else if self.role_of(target) == Some(Role::Venue) {
            // An unattended venue terminal: the chair opens its microphone.
            self.set_audio(target, false);
        } else {
            // A person decides: ask, and allow the unmute even if locked.
            self.unmute_allowed.insert(target.to_string());
            self.notify(target, Notice::UnmuteRequest { by: by.to_string() });
        }
    }

    /// A participant asks for the floor.
    pub(super) fn raise_hand(&mut self, pid: &str, up: bool) {
        if up && self.role_of(pid) == Some(Role::Observer) {
            return self.refuse(pid, Refusal::forbidden("observers (列席) cannot ask for the floor"));
        }
        let queued = self.state.hands.iter().any(|h| h == pid);
        if up && !queued && self.state.floor.as_deref() != Some(pid) {
            self.state.hands.push(pid.to_string());
        } else if !up {
            self.state.hands.retain(|h| h != pid);
        }
        self.send_state();
    }

    fn grant_floor(&mut self, by: &str, participant: &str, seconds: Option<u32>) {
        if !self.participants.contains_key(participant) || self.role_of(participant) == Some(Role::Observer) {
            return self.refuse(by, Refusal::bad_request("this participant cannot be given the floor"));
        }
        if self.state.floor.as_deref().is_some_and(|f| f != participant) {
            self.end_floor();
        }
        self.state.hands.retain(|h| h != participant);
        self.state.floor = Some(participant.to_string());
        let limit = seconds.filter(|s| *s > 0).map(|s| Duration::from_secs(u64::from(s)));
        self.floor_deadline = limit.map(|d| self.now.mono + d);
        self.state.floor_ends_at = limit.map(|d| self.now.unix_ms + d.as_millis() as u64);
        self.set_audio(participant, false);
        self.send_state();
    }

    /// The speech ends: the speaker's microphone closes.
    pub(super) fn end_floor(&mut self) {
        if let Some(speaker) = self.state.floor.take() {
            self.set_audio(&speaker, true);
        }
        self.floor_deadline = None;
        self.state.floor_ends_at = None;
    }

    /// Ends a timed speech whose time is up.
    pub(super) fn tick_floor(&mut self) {
        if self.floor_deadline.is_some_and(|d| self.now.mono >= d) {
            self.end_floor();
            self.send_state();
        }
    }

    /// Applies broadcast mode to every participant's video in the SFU: hosts
    /// see everyone (their monitor wall); everyone else only the sources.
    pub(super) fn apply_broadcast(&mut self) {
        let sources: Option<Vec<PeerId>> =
            self.state.broadcast.as_ref().map(|list| {
                list.iter().filter_map(|p| self.participants.get(p).and_then(|p| p.peer)).collect()
            });
        let mut targets: Vec<(PeerId, bool)> = self
            .participants
            .values()
            .filter_map(|p| p.peer.map(|peer| (peer, self.is_host(&p.view.id))))
            .collect();
        targets.sort();
        for (peer, host) in targets {
            let filter = if host { None } else { sources.clone() };
            self.sfu(SfuCmd::SetVideoSources(peer, filter));
        }
    }

    /// A participant left: it no longer queues, speaks, chairs or is shown.
    pub(super) fn forget_in_state(&mut self, pid: &str) {
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
        if self.state.chair.as_deref() == Some(pid) {
            // The chair passes to another chair present, else nobody holds it.
            let mut chairs: Vec<&String> = self
                .participants
                .values()
                .filter(|p| p.view.role == Role::Chair)
                .map(|p| &p.view.id)
                .collect();
            chairs.sort();
            self.state.chair = chairs.first().map(|c| (*c).clone());
            changed = true;
        }
        if changed {
            self.apply_broadcast();
            self.send_state();
        }
    }
}
