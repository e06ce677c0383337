//! Roll call (点名): the chair calls venues one by one; the called venue is
//! shown to everyone (spotlight) and, for a venue terminal, its microphone
//! opens; it answers with one click (`roll_call_answer`) or by speaking
//! (it becomes the active speaker). Automatic mode walks the list with a
//! timeout per venue. A finished roll call is recorded in the store.

use std::time::Duration;

use super::{Core, Record, Refusal, Role, RollCall, RollEntry, RollStatus};

const DEFAULT_TIMEOUT: u32 = 20;

impl Core {
    pub(super) fn roll_call_start(
        &mut self,
        by: &str,
        list: Option<Vec<String>>,
        auto: bool,
        timeout: Option<u32>,
    ) {
        self.roll_call_close_current();
        let ids = list.unwrap_or_else(|| {
            let mut venues: Vec<String> = self
                .participants
                .values()
                .filter(|p| p.view.role == Role::Venue)
                .map(|p| p.view.id.clone())
                .collect();
            venues.sort();
            venues
        });
        if ids.is_empty() {
            return self.refuse(by, Refusal::bad_request("nobody to call: no venue is present"));
        }
        let entries = ids
            .into_iter()
            .map(|id| RollEntry {
                name: self.participants.get(&id).map_or_else(|| id.clone(), |p| p.view.name.clone()),
                participant: id,
                status: RollStatus::Waiting,
                called_at: None,
                answered_at: None,
            })
            .collect();
        self.state.roll_call = Some(RollCall {
            entries,
            current: None,
            auto,
            timeout_secs: timeout.filter(|t| (3..=600).contains(t)).unwrap_or(DEFAULT_TIMEOUT),
            started_at: self.now.unix_ms,
            finished: false,
        });
        tracing::info!(meeting = %self.id, by, auto, "roll call started");
        if auto {
            self.roll_call_advance();
        }
        self.send_state();
    }

    /// Calls one participant.
    pub(super) fn roll_call_call(&mut self, by: &str, pid: &str) {
        let Some(rc) = &self.state.roll_call else {
            return self.refuse(by, Refusal::bad_state("no roll call in progress"));
        };
        if !rc.entries.iter().any(|e| e.participant == pid) {
            return self.refuse(by, Refusal::bad_request("this participant is not on the roll call list"));
        }
        self.roll_call_close_current();
        self.call(pid);
        self.send_state();
    }

    fn call(&mut self, pid: &str) {
        let present = self.participants.contains_key(pid);
        let venue_muted =
            self.participants.get(pid).is_some_and(|p| p.view.role == Role::Venue && p.view.audio_muted);
        let now = self.now;
        let Some(rc) = &mut self.state.roll_call else { return };
        let timeout = rc.timeout_secs;
        let Some(entry) = rc.entries.iter_mut().find(|e| e.participant == pid) else { return };
        entry.called_at = Some(now.unix_ms);
        if !present {
            entry.status = RollStatus::NotJoined;
            rc.current = None;
            return;
        }
        entry.status = RollStatus::Calling;
        rc.current = Some(pid.to_string());
        self.roll_deadline = Some(now.mono + Duration::from_secs(u64::from(timeout)));
        self.state.spotlight = Some(pid.to_string());
        if venue_muted {
            self.roll_opened_mic = Some(pid.to_string());
            self.set_audio(pid, false);
        }
    }

    /// The called participant answered (a click, or speaking).
    pub(super) fn roll_call_answer(&mut self, pid: &str) {
        let now = self.now.unix_ms;
        let Some(rc) = &mut self.state.roll_call else { return };
        if rc.current.as_deref() != Some(pid) {
            return;
        }
        if let Some(e) = rc.entries.iter_mut().find(|e| e.participant == pid) {
            e.status = RollStatus::Answered;
            e.answered_at = Some(now);
        }
        tracing::info!(meeting = %self.id, participant = pid, "roll call answered");
        if rc.auto {
            self.roll_call_close_current();
            self.roll_call_advance();
        }
        self.send_state();
    }

    /// No answer: mark the current one and call the next.
    pub(super) fn roll_call_next(&mut self) {
        self.roll_call_close_current();
        self.roll_call_advance();
        self.send_state();
    }

    pub(super) fn roll_call_stop(&mut self) {
        self.roll_call_close_current();
        self.roll_call_finish();
        self.send_state();
    }

    /// An unanswered call in automatic mode times out.
    pub(super) fn tick_roll_call(&mut self) {
        let auto = self.state.roll_call.as_ref().is_some_and(|rc| rc.auto && !rc.finished);
        if auto && self.roll_deadline.is_some_and(|d| self.now.mono >= d) {
            self.roll_call_next();
        }
    }

    /// Ends the current call: unanswered becomes no answer; a microphone the
    /// call opened closes again.
    fn roll_call_close_current(&mut self) {
        self.roll_deadline = None;
        if let Some(rc) = &mut self.state.roll_call {
            if let Some(cur) = rc.current.take() {
                if let Some(e) =
                    rc.entries.iter_mut().find(|e| e.participant == cur && e.status == RollStatus::Calling)
                {
                    e.status = RollStatus::NoAnswer;
                }
                if self.state.spotlight.as_deref() == Some(cur.as_str()) {
                    self.state.spotlight = None;
                }
            }
        }
        if let Some(pid) = self.roll_opened_mic.take() {
            self.set_audio(&pid, true);
        }
    }

    /// Calls the next waiting participant (skipping absent ones), or finishes.
    fn roll_call_advance(&mut self) {
        loop {
            let next = self
                .state
                .roll_call
                .as_ref()
                .and_then(|rc| rc.entries.iter().find(|e| e.status == RollStatus::Waiting))
                .map(|e| e.participant.clone());
            let Some(next) = next else {
                self.roll_call_finish();
                return;
            };
            self.call(&next);
            if self.state.roll_call.as_ref().is_some_and(|rc| rc.current.is_some()) {
                return;
            }
        }
    }

    fn roll_call_finish(&mut self) {
        let Some(rc) = &mut self.state.roll_call else { return };
        if rc.finished {
            return;
        }
        rc.finished = true;
        rc.current = None;
        for e in rc.entries.iter_mut().filter(|e| e.status == RollStatus::Waiting) {
            e.status = if self.participants.contains_key(&e.participant) {
                RollStatus::NoAnswer
            } else {
                RollStatus::NotJoined
            };
        }
        let answered = rc.entries.iter().filter(|e| e.status == RollStatus::Answered).count();
        tracing::info!(meeting = %self.id, answered, called = rc.entries.len(), "roll call finished");
        let record = rc.clone();
        self.record(Record::RollCall(record));
    }
}
