//! Attendance (签到表) of a scheduled meeting, computed from what the live
//! meeting recorded: every join and leave, the sign-ins, the replies to the
//! notice. Pure: the caller reads the store.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{AttendanceEvent, MeetingRecord, OrgUnit};

/// Where a participant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// In the meeting now.
    Present,
    /// Joined, and left.
    Left,
    /// Never joined.
    Absent,
}

/// A reply to the meeting notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Will attend (确认参会).
    Confirmed,
    /// Asks for leave (请假).
    Leave,
}

/// One invited (or joined) participant's attendance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Participant id (an org-tree id for invited venues and persons).
    pub participant: String,
    /// Name.
    pub name: String,
    /// Present, left or absent.
    pub status: Presence,
    /// First join (Unix s).
    pub first_join: Option<i64>,
    /// Last leave (Unix s).
    pub last_leave: Option<i64>,
    /// How many times it joined.
    pub joins: usize,
    /// Signed in (签到) at.
    pub signed_in: Option<i64>,
    /// Reply to the notice.
    pub rsvp: Option<Reply>,
    /// Reason given with a leave request (请假).
    pub leave_reason: Option<String>,
}

impl Line {
    fn absent(participant: &str, name: String) -> Line {
        Line {
            participant: participant.to_string(),
            name,
            status: Presence::Absent,
            first_join: None,
            last_leave: None,
            joins: 0,
            signed_in: None,
            rsvp: None,
            leave_reason: None,
        }
    }
}

/// The attendance of `meeting`: one line per invited participant (absent
/// until it joins) and per anyone else who joined, by id.
pub fn summarize(
    meeting: &MeetingRecord,
    org: &[OrgUnit],
    events: &[AttendanceEvent],
    sign_ins: &[(String, i64)],
    replies: &[(String, String, String)],
) -> Vec<Line> {
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for pid in &meeting.participants {
        let name = org.iter().find(|u| &u.id == pid).map_or_else(|| pid.clone(), |u| u.name.clone());
        lines.insert(pid.clone(), Line::absent(pid, name));
    }
    for e in events {
        let line = lines
            .entry(e.participant.clone())
            .or_insert_with(|| Line::absent(&e.participant, e.name.clone()));
        if e.event == "join" {
            line.joins += 1;
            line.first_join.get_or_insert(e.at);
            line.status = Presence::Present;
        } else {
            line.last_leave = Some(e.at);
            line.status = Presence::Left;
        }
    }
    for (who, at) in sign_ins {
        if let Some(line) = lines.get_mut(who) {
            line.signed_in = Some(*at);
        }
    }
    for (who, response, reason) in replies {
        if let Some(line) = lines.get_mut(who) {
            let reply = match response.as_str() {
                "confirmed" => Some(Reply::Confirmed),
                "leave" => Some(Reply::Leave),
                _ => None,
            };
            line.leave_reason = (reply == Some(Reply::Leave)).then(|| reason.clone());
            line.rsvp = reply;
        }
    }
    lines.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OrgKind;

    #[test]
    fn invited_joined_left_and_replies() {
        let at =
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("date");
        let meeting = MeetingRecord {
            id: "m".into(),
            title: "周例会".into(),
            agenda: String::new(),
            start: at,
            end: at,
            chair: None,
            open_before_min: 30,
            participants: vec!["v1".into(), "v2".into(), "v3".into()],
            version: 1,
            series: None,
            started_at: None,
            ended_at: None,
            cancelled_at: None,
            record: false,
        };
        let org =
            vec![OrgUnit { id: "v1".into(), parent: None, name: "城关镇".into(), kind: OrgKind::Venue }];
        let event = |who: &str, event: &str, at: i64| AttendanceEvent {
            meeting: "m".into(),
            participant: who.into(),
            name: who.into(),
            event: event.into(),
            at,
            reason: String::new(),
        };
        let events = [
            event("v1", "join", 10),
            event("v1", "leave", 20),
            event("v1", "join", 30),
            event("v2", "join", 40),
            event("v2", "leave", 50),
            event("guest", "join", 60),
        ];
        let replies = [("v3".to_string(), "leave".to_string(), "防汛值班".to_string())];
        let lines = summarize(&meeting, &org, &events, &[("v1".into(), 15)], &replies);
        let by = |id: &str| lines.iter().find(|l| l.participant == id).expect(id).clone();
        let v1 = by("v1");
        assert_eq!(
            (v1.name.as_str(), v1.status, v1.joins, v1.first_join, v1.last_leave, v1.signed_in),
            ("城关镇", Presence::Present, 2, Some(10), Some(20), Some(15))
        );
        assert_eq!(by("v2").status, Presence::Left);
        let v3 = by("v3");
        assert_eq!(
            (v3.status, v3.rsvp, v3.leave_reason.as_deref()),
            (Presence::Absent, Some(Reply::Leave), Some("防汛值班"))
        );
        assert_eq!(by("guest").status, Presence::Present, "someone not invited who joined is listed");
        assert_eq!(lines.len(), 4);
    }
}
