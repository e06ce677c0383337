//! The meeting's recorder: what the core asks to keep (joins and leaves,
//! sign-ins, finished roll calls, the end of the meeting), and the carried
//! state and heartbeats that let the meeting survive a restart (ADR 0013),
//! are written to the store in order, on a blocking thread of its own,
//! never on the actor's.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::core::{Record, RollCall, RollStatus};
use crate::services::lifecycle;
use crate::store::{AttendanceEvent, RollCallLine, RollCallRecord, Store};

/// One write.
enum Write {
    Record(Record),
    /// The carried state (JSON) as of a time (Unix s).
    Carried(String, i64),
    Heartbeat(i64),
    /// The meeting ended or emptied: nothing to carry any more.
    Forget,
}

/// Writes one meeting's records.
pub(super) struct Recorder {
    tx: Option<mpsc::UnboundedSender<Write>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Starts the writer of meeting `meeting` (titled `title`).
    pub(super) fn start(meeting: String, title: String, store: Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
        let id = meeting;
        let task = tokio::task::spawn_blocking(move || {
            while let Some(w) = rx.blocking_recv() {
                let result = match w {
                    Write::Record(record) => write(store.as_ref(), &id, &title, record),
                    Write::Carried(state, at) => store.save_live(&id, &state, at),
                    Write::Heartbeat(at) => store.live_heartbeat(&id, at),
                    Write::Forget => store.forget_live(&id),
                };
                if let Err(e) = result {
                    tracing::error!(meeting = %id, error = %e, "cannot write a meeting record");
                }
            }
        });
        Self { tx: Some(tx), task: Some(task) }
    }

    fn send(&self, w: Write) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(w);
        }
    }

    /// Queues a record.
    pub(super) fn write(&self, record: Record) {
        self.send(Write::Record(record));
    }

    /// Queues the carried state (JSON) as of `at` (Unix s).
    pub(super) fn carried(&self, state: String, at: i64) {
        self.send(Write::Carried(state, at));
    }

    /// Queues a heartbeat at `at` (Unix s).
    pub(super) fn heartbeat(&self, at: i64) {
        self.send(Write::Heartbeat(at));
    }

    /// Queues forgetting the carried state.
    pub(super) fn forget(&self) {
        self.send(Write::Forget);
    }

    /// Waits until everything queued is written.
    pub(super) async fn finish(&mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn write(
    store: &dyn Store,
    meeting: &str,
    title: &str,
    record: Record,
) -> Result<(), crate::store::StoreError> {
    match record {
        Record::Attendance { pid, name, event, reason, at } => store.record_attendance(&AttendanceEvent {
            meeting: meeting.to_string(),
            participant: pid,
            name,
            event: event.to_string(),
            at,
            reason,
        }),
        Record::SignIn { pid, name, at } => store.record_sign_in(meeting, &pid, &name, at),
        Record::RollCall(rc) => store.record_roll_call(&roll_call_record(meeting, title, &rc)),
        Record::Ended { by, at } => lifecycle::end_from_inside(store, meeting, &by, at),
    }
}

/// The store's form of a roll call.
pub fn roll_call_record(meeting: &str, title: &str, rc: &RollCall) -> RollCallRecord {
    RollCallRecord {
        meeting: meeting.to_string(),
        title: title.to_string(),
        started_at_ms: rc.started_at as i64,
        auto: rc.auto,
        entries: rc
            .entries
            .iter()
            .map(|e| RollCallLine {
                participant: e.participant.clone(),
                name: e.name.clone(),
                status: status_word(e.status).to_string(),
                called_at_ms: e.called_at.map(|t| t as i64),
                answered_at_ms: e.answered_at.map(|t| t as i64),
            })
            .collect(),
    }
}

fn status_word(s: RollStatus) -> &'static str {
    match s {
        RollStatus::Waiting => "waiting",
        RollStatus::Calling => "calling",
        RollStatus::Answered => "answered",
        RollStatus::NoAnswer => "no_answer",
        RollStatus::NotJoined => "not_joined",
    }
}
