//! A scheduled meeting's lifecycle as a service: its status (from the clock
//! and the secretary's hand), admission of a join, starting, ending and
//! cancelling — by hand or from inside the meeting — each with its audit
//! record, through one path (ADR 0006). The task that ends live meetings
//! at their time is `meeting::drive`.

use chrono::Duration;

use crate::scheduling::lifecycle::{Manual, Schedule, Status};
use crate::scheduling::local_from_unix;
use crate::store::{Mark, MeetingRecord, NewAudit, Store, StoreError};
use crate::token::Role;

/// The schedule and the manual marks of `m`.
fn schedule_of(m: &MeetingRecord, grace_mins: u32) -> (Schedule, Manual) {
    let local = |t: Option<i64>| t.and_then(local_from_unix);
    let schedule = Schedule {
        start: m.start,
        end: m.end,
        open_before: Duration::minutes(m.open_before_min),
        grace: Duration::minutes(grace_mins.into()),
    };
    let manual = Manual {
        started: local(m.started_at),
        ended: local(m.ended_at),
        cancelled: m.cancelled_at.is_some(),
    };
    (schedule, manual)
}

/// The status of `m` at `now` (Unix seconds).
pub fn status(m: &MeetingRecord, grace_mins: u32, now: i64) -> Status {
    let (schedule, manual) = schedule_of(m, grace_mins);
    schedule.status(&manual, local_from_unix(now).unwrap_or(m.start))
}

/// Why a join is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAdmitted {
    /// Over, cancelled or not open yet (the text says which).
    #[error("{0}")]
    Closed(&'static str),
    /// The link's holder is no longer invited.
    #[error("this invitation was withdrawn: you are no longer on the meeting's list")]
    Revoked,
    /// The secretary re-issued this participant's link; this one is old.
    #[error("this link was replaced by a new one: ask the secretary for the new link")]
    Replaced,
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

/// Whether `who` (a participant id from a verified join link) may join
/// meeting `id` at `now`. A scheduled meeting admits joins while
/// `Schedule::joinable` says so, and only from the people it invites now:
/// a venue or person removed from the meeting, a chair replaced, a staff
/// account demoted or gone is refused even with a link still in date
/// (links are revoked by editing the meeting). Meetings made outside the
/// scheduler (links from `huiyi meeting create`) are governed by their
/// token alone. Blocking (reads the store).
pub fn admit(
    store: &dyn Store,
    id: &str,
    who: &str,
    role: Role,
    epoch: u64,
    grace_mins: u32,
    now: i64,
) -> Result<(), NotAdmitted> {
    let m = match store.meeting(id) {
        Ok(m) => m,
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(NotAdmitted::Store(e.to_string())),
    };
    let (schedule, manual) = schedule_of(&m, grace_mins);
    let at = local_from_unix(now).unwrap_or(m.start);
    if !schedule.joinable(&manual, at) {
        return Err(NotAdmitted::Closed(match schedule.status(&manual, at) {
            Status::Cancelled => "the meeting was cancelled",
            // A link of a meeting moved later than its link's window.
            Status::Scheduled => "the meeting has not opened yet",
            _ => "the meeting has ended",
        }));
    }
    let invited = super::invitations::still_invited(store, &m, who, role)
        .map_err(|e| NotAdmitted::Store(e.to_string()))?;
    if !invited {
        return Err(NotAdmitted::Revoked);
    }
    let current = store.link_epoch(id, who).map_err(|e| NotAdmitted::Store(e.to_string()))?;
    if current != epoch as i64 {
        return Err(NotAdmitted::Replaced);
    }
    Ok(())
}

/// Why a mark was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarkRefused {
    /// Not in this status.
    #[error("the meeting is {status} and cannot be {what}")]
    Status {
        /// The status now.
        status: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// The store failed or has no such meeting.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Scheduled => "scheduled",
        Status::Open => "open",
        Status::InProgress => "in_progress",
        Status::Ended => "ended",
        Status::Cancelled => "cancelled",
    }
}

/// Starts, ends or cancels meeting `id` by hand for `actor` (an account id;
/// permission is checked by the caller), with its audit record. Blocking.
pub fn mark(
    store: &dyn Store,
    id: &str,
    mark: Mark,
    actor: &str,
    grace_mins: u32,
    now: i64,
) -> Result<MeetingRecord, MarkRefused> {
    let m = store.meeting(id)?;
    let current = status(&m, grace_mins, now);
    let allowed = match mark {
        // Before its join window nobody's link works yet: move the meeting instead.
        Mark::Start => current == Status::Open,
        Mark::End => matches!(current, Status::Open | Status::InProgress),
        Mark::Cancel => matches!(current, Status::Scheduled | Status::Open),
    };
    if !allowed {
        let what = match mark {
            Mark::Start => "started",
            Mark::End => "ended",
            Mark::Cancel => "cancelled (end it instead if it is running)",
        };
        return Err(MarkRefused::Status { status: status_word(current), what });
    }
    let action = match mark {
        Mark::Start => "meeting.start",
        Mark::End => "meeting.end",
        Mark::Cancel => "meeting.cancel",
    };
    let mut stored = None;
    store.audited(now, &mut |s| {
        let m = s.mark_meeting(id, mark, now)?;
        let audit = NewAudit::done(actor, action, Some(&m.id), &m.title).owned();
        stored = Some(m);
        Ok(audit)
    })?;
    stored.ok_or_else(|| StoreError::Db("nothing stored".into()).into())
}

/// The chair ended meeting `id` from inside it (participant `by`): a
/// scheduled meeting's record ends too, so that nobody rejoins it and the
/// console shows it over; an ad-hoc meeting has no record. Blocking.
pub fn end_from_inside(store: &dyn Store, id: &str, by: &str, now: i64) -> Result<(), StoreError> {
    match store.meeting(id) {
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    store.audited(now, &mut |s| {
        let m = s.mark_meeting(id, Mark::End, now)?;
        let detail = format!("{} (ended in the meeting by {by})", m.title);
        let audit = NewAudit {
            action: "meeting.end",
            target: Some(id),
            detail: &detail,
            outcome: "ok",
            ..Default::default()
        };
        Ok(audit.owned())
    })
}
