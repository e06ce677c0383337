//! Roll call (点名): the chair calls venues one by one; the called venue is
//! shown to everyone (spotlight) and, for a venue terminal, its microphone
//! opens; it answers with one click (`roll_call_answer`) or by speaking
//! (it becomes the active speaker). Automatic mode walks the list with a
//! timeout per venue. Every roll call is kept in the meeting's log.

use std::time::{Duration, Instant};

use super::Meeting;
use crate::token::Role;
use crate::ws::protocol::{ErrorCode, RollCall, RollEntry, RollStatus};

const DEFAULT_TIMEOUT: u32 = 20;

impl Meeting {
    pub(super) async fn roll_call_start(
        &mut self,
        by: &str,
        list: Option<Vec<String>>,
        auto: bool,
        timeout: Option<u32>,
    ) {
        self.roll_call_close_current().await;
        let ids = list.unwrap_or_else(|| {
            let mut venues: Vec<String> = self
                .participants
                .values()
                .filter(|p| p.info.role == Role::Venue)
                .map(|p| p.info.id.clone())
                .collect();
            venues.sort();
            venues
        });
        if ids.is_empty() {
            return self.error(by, ErrorCode::BadMessage, "nobody to call: no venue is present");
        }
        let entries = ids
            .into_iter()
            .map(|id| RollEntry {
                name: self.participants.get(&id).map_or_else(|| id.clone(), |p| p.info.name.clone()),
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
            started_at: crate::unix_millis(),
            finished: false,
        });
        tracing::info!(meeting = %self.id, by, auto, "roll call started");
        if auto {
            self.roll_call_advance().await;
        }
        self.send_state();
    }

    /// Calls one participant.
    pub(super) async fn roll_call_call(&mut self, by: &str, pid: &str) {
        let Some(rc) = &self.state.roll_call else {
            return self.error(by, ErrorCode::BadState, "no roll call in progress");
        };
        if !rc.entries.iter().any(|e| e.participant == pid) {
            return self.error(by, ErrorCode::BadMessage, "this participant is not on the roll call list");
        }
        self.roll_call_close_current().await;
        self.call(pid).await;
        self.send_state();
    }

    async fn call(&mut self, pid: &str) {
        let present = self.participants.contains_key(pid);
        let venue = self.participants.get(pid).is_some_and(|p| p.info.role == Role::Venue);
        let timeout = self.state.roll_call.as_ref().map_or(DEFAULT_TIMEOUT, |rc| rc.timeout_secs);
        let Some(rc) = &mut self.state.roll_call else { return };
        let Some(entry) = rc.entries.iter_mut().find(|e| e.participant == pid) else { return };
        entry.called_at = Some(crate::unix_millis());
        if !present {
            entry.status = RollStatus::NotJoined;
            rc.current = None;
            return;
        }
        entry.status = RollStatus::Calling;
        rc.current = Some(pid.to_string());
        self.roll_deadline = Some(Instant::now() + Duration::from_secs(u64::from(timeout)));
        self.state.spotlight = Some(pid.to_string());
        if venue && self.participants[pid].info.audio_muted {
            self.roll_opened_mic = Some(pid.to_string());
            self.set_audio(pid, false).await;
        }
    }

    /// The called participant answered (a click, or speaking).
    pub(super) async fn roll_call_answer(&mut self, pid: &str) {
        let Some(rc) = &mut self.state.roll_call else { return };
        if rc.current.as_deref() != Some(pid) {
            return;
        }
        if let Some(e) = rc.entries.iter_mut().find(|e| e.participant == pid) {
            e.status = RollStatus::Answered;
            e.answered_at = Some(crate::unix_millis());
        }
        tracing::info!(meeting = %self.id, participant = pid, "roll call answered");
        let auto = rc.auto;
        if auto {
            self.roll_call_close_current().await;
            self.roll_call_advance().await;
        }
        self.send_state();
    }

    /// No answer: mark the current one and call the next.
    pub(super) async fn roll_call_next(&mut self) {
        self.roll_call_close_current().await;
        self.roll_call_advance().await;
        self.send_state();
    }

    pub(super) async fn roll_call_stop(&mut self) {
        self.roll_call_close_current().await;
        self.roll_call_finish();
        self.send_state();
    }

    /// Every second: an unanswered call in automatic mode times out.
    pub(super) async fn tick_roll_call(&mut self) {
        let auto = self.state.roll_call.as_ref().is_some_and(|rc| rc.auto && !rc.finished);
        if auto && self.roll_deadline.is_some_and(|d| Instant::now() >= d) {
            self.roll_call_next().await;
        }
    }

    /// Ends the current call: unanswered becomes no answer; a microphone the
    /// call opened closes again.
    async fn roll_call_close_current(&mut self) {
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
            self.set_audio(&pid, true).await;
        }
    }

    /// Calls the next waiting participant (skipping absent ones), or finishes.
    async fn roll_call_advance(&mut self) {
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
            self.call(&next).await;
            if self.state.roll_call.as_ref().is_some_and(|rc| rc.current.is_some()) {
                return;
            }
        }
    }

    fn roll_call_finish(&mut self) {
        if let Some(rc) = &mut self.state.roll_call {
            if !rc.finished {
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
                self.roll_call_log.push(record.clone());
                self.save_roll_call(&record);
            }
        }
    }
}

impl Meeting {
    /// Appends a finished roll call to `records/rollcalls.jsonl` (one JSON
    /// object per line: meeting, title, and the roll call), for the
    /// attendance record. A failure is logged; the meeting goes on.
    fn save_roll_call(&self, rc: &RollCall) {
        use std::io::Write;
        let line = serde_json::json!({"meeting": self.id, "title": self.title, "roll_call": rc});
        let result = std::fs::create_dir_all(&self.records).and_then(|()| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.records.join("rollcalls.jsonl"))?;
            writeln!(f, "{line}")?;
            f.sync_data()
        });
        if let Err(e) = result {
            tracing::error!(meeting = %self.id, error = %e, "cannot save the roll call record");
        }
    }
}
