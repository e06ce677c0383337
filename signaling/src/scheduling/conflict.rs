//! Conflict warnings: a venue or a chair booked into two meetings at once.
//! Warnings, not errors: the secretary decides (a venue may host a joint
//! test while another meeting is announced, say).

use chrono::NaiveDateTime;
use serde::Serialize;

/// A booked meeting, as far as conflicts are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// Meeting (or occurrence) id.
    pub meeting: String,
    /// Title, for the warning.
    pub title: String,
    /// Start.
    pub start: NaiveDateTime,
    /// End.
    pub end: NaiveDateTime,
    /// The chair's account id.
    pub chair: Option<String>,
    /// Venues and persons invited (org-tree node ids).
    pub participants: Vec<String>,
}

/// One conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The double-booked venue, person or chair.
    pub who: String,
    /// As chair (true) or as participant.
    pub as_chair: bool,
    /// The other meeting.
    pub meeting: String,
    /// Its title.
    pub title: String,
}

/// Conflicts of `new` with `existing` bookings (half-open intervals: a
/// meeting ending at 10:00 does not clash with one starting at 10:00).
pub fn conflicts(new: &Booking, existing: &[Booking]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for other in existing.iter().filter(|o| o.meeting != new.meeting) {
        if !(new.start < other.end && other.start < new.end) {
            continue;
        }
        if let (Some(a), Some(b)) = (&new.chair, &other.chair) {
            if a == b {
                out.push(Conflict {
                    who: a.clone(),
                    as_chair: true,
                    meeting: other.meeting.clone(),
                    title: other.title.clone(),
                });
            }
        }
        for p in new.participants.iter().filter(|p| other.participants.contains(p)) {
            out.push(Conflict {
                who: p.clone(),
                as_chair: false,
                meeting: other.meeting.clone(),
                title: other.title.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn b(id: &str, from: u32, to: u32, chair: &str, venues: &[&str]) -> Booking {
        let t = |h| NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(h, 0, 0)).expect("valid");
        Booking {
            meeting: id.into(),
            title: format!("会议{id}"),
            start: t(from),
            end: t(to),
            chair: Some(chair.into()),
            participants: venues.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn double_booked_venue_and_chair_are_reported() {
        let existing =
            vec![b("a", 9, 11, "县长", &["城关镇", "河西乡"]), b("b", 14, 15, "副县长", &["城关镇"])];
        let new = b("c", 10, 12, "县长", &["城关镇", "东山镇"]);
        let c = conflicts(&new, &existing);
        assert_eq!(c.len(), 2);
        assert!(c.iter().any(|x| x.who == "县长" && x.as_chair && x.meeting == "a"));
        assert!(c.iter().any(|x| x.who == "城关镇" && !x.as_chair && x.meeting == "a"));
    }

    #[test]
    fn back_to_back_and_self_are_not_conflicts() {
        let existing = vec![b("a", 9, 10, "县长", &["城关镇"])];
        assert!(conflicts(&b("c", 10, 11, "县长", &["城关镇"]), &existing).is_empty());
        assert!(
            conflicts(&b("a", 9, 10, "县长", &["城关镇"]), &existing).is_empty(),
            "editing a meeting does not clash with itself"
        );
    }
}
