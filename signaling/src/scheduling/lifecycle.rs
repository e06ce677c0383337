//! A meeting's lifecycle: scheduled → open (the join window) → in progress →
//! ended, or cancelled. It follows the clock on its own (opening N minutes
//! early, ending after a grace period), and the secretary can start or end
//! it by hand, which wins over the clock.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// Where a meeting stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Planned; not yet joinable.
    Scheduled,
    /// The join window is open (joint test, 联调), the meeting has not begun.
    Open,
    /// Running.
    InProgress,
    /// Over.
    Ended,
    /// Called off.
    Cancelled,
}

/// What the secretary did by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Manual {
    /// Started by hand at.
    pub started: Option<NaiveDateTime>,
    /// Ended by hand at.
    pub ended: Option<NaiveDateTime>,
    /// Cancelled.
    pub cancelled: bool,
}

/// The times that drive a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Planned start.
    pub start: NaiveDateTime,
    /// Planned end.
    pub end: NaiveDateTime,
    /// The join window opens this long before the start.
    pub open_before: Duration,
    /// A meeting still running at its planned end ends this much later.
    pub grace: Duration,
}

impl Schedule {
    /// The status at `now`.
    pub fn status(&self, manual: &Manual, now: NaiveDateTime) -> Status {
        if manual.cancelled {
            return Status::Cancelled;
        }
        // Checked: a date at the end of the calendar must not overflow (it
        // then counts as never reached).
        let over = self.end.checked_add_signed(self.grace).is_some_and(|t| now >= t);
        if manual.ended.is_some_and(|t| t <= now) || over {
            return Status::Ended;
        }
        if manual.started.is_some_and(|t| t <= now) || now >= self.start {
            return Status::InProgress;
        }
        if self.start.checked_sub_signed(self.open_before).is_none_or(|t| now >= t) {
            return Status::Open;
        }
        Status::Scheduled
    }

    /// Whether participants may join at `now`.
    pub fn joinable(&self, manual: &Manual, now: NaiveDateTime) -> bool {
        matches!(self.status(manual, now), Status::Open | Status::InProgress)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn t(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(h, m, 0)).expect("valid")
    }

    fn schedule() -> Schedule {
        Schedule {
            start: t(9, 0),
            end: t(10, 0),
            open_before: Duration::minutes(30),
            grace: Duration::minutes(15),
        }
    }

    #[test]
    fn follows_the_clock() {
        let s = schedule();
        let m = Manual::default();
        assert_eq!(s.status(&m, t(8, 29)), Status::Scheduled);
        assert_eq!(s.status(&m, t(8, 30)), Status::Open);
        assert!(s.joinable(&m, t(8, 30)));
        assert_eq!(s.status(&m, t(9, 0)), Status::InProgress);
        assert_eq!(s.status(&m, t(10, 14)), Status::InProgress, "grace after the planned end");
        assert_eq!(s.status(&m, t(10, 15)), Status::Ended);
        assert!(!s.joinable(&m, t(10, 15)));
    }

    #[test]
    fn dates_at_the_ends_of_the_calendar_do_not_overflow() {
        let last = NaiveDateTime::MAX;
        let s = Schedule {
            start: last,
            end: last,
            open_before: Duration::minutes(30),
            grace: Duration::minutes(30),
        };
        assert_eq!(s.status(&Manual::default(), t(9, 0)), Status::Scheduled);
        let first = NaiveDateTime::MIN;
        let s = Schedule {
            start: first,
            end: first,
            open_before: Duration::minutes(30),
            grace: Duration::minutes(30),
        };
        assert_eq!(s.status(&Manual::default(), t(9, 0)), Status::Ended);
    }

    #[test]
    fn the_secretary_wins_over_the_clock() {
        let s = schedule();
        let started_early = Manual { started: Some(t(8, 40)), ..Manual::default() };
        assert_eq!(s.status(&started_early, t(8, 45)), Status::InProgress);
        let ended_early = Manual { ended: Some(t(9, 30)), ..Manual::default() };
        assert_eq!(s.status(&ended_early, t(9, 31)), Status::Ended);
        let cancelled = Manual { cancelled: true, ..Manual::default() };
        assert_eq!(s.status(&cancelled, t(9, 0)), Status::Cancelled);
        assert!(!s.joinable(&cancelled, t(9, 0)));
    }
}
