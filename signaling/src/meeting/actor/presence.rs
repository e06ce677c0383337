//! Presence records: every join and leave, and the sign-in (签到), written to
//! the store off the actor's thread.

use super::Meeting;

impl Meeting {
    /// 签到: recorded once, shown to everyone.
    pub(super) fn sign_in(&mut self, pid: &str) {
        let Some(p) = self.participants.get_mut(pid) else { return };
        if p.info.signed_in {
            return;
        }
        p.info.signed_in = true;
        let (meeting, name, store) = (self.id.clone(), p.info.name.clone(), self.store.clone());
        let (who, at) = (pid.to_string(), crate::unix_secs());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.record_sign_in(&meeting, &who, &name, at) {
                tracing::error!(%meeting, error = %e, "cannot record the sign-in");
            }
        });
        self.broadcast_updated(pid);
    }
}

impl Meeting {
    /// Records a join or leave for the attendance, off the actor's thread.
    pub(super) fn attend(&self, pid: &str, name: &str, event: &str, reason: &str) {
        let e = crate::store::AttendanceEvent {
            meeting: self.id.clone(),
            participant: pid.to_string(),
            name: name.to_string(),
            event: event.to_string(),
            at: crate::unix_secs(),
            reason: reason.to_string(),
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = store.record_attendance(&e) {
                tracing::error!(meeting = %e.meeting, error = %err, "cannot record attendance");
            }
        });
    }
}
