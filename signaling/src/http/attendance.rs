//! Invitations (personal join links for a scheduled meeting) and attendance
//! (who joined when, who left, who never came), as JSON and CSV.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::api::{allow, blocking, current_account, ApiError};
use crate::http::AppState;
use crate::permissions::Permission;
use crate::scheduling::unix_from_local;
use crate::store::{MeetingRecord, OrgKind};
use crate::token::{Claims, Role};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/meetings/{id}/invitations", get(invitations))
        .route("/api/v1/meetings/{id}/attendance", get(attendance))
        .route("/api/v1/meetings/{id}/attendance.csv", get(attendance_csv))
        .route("/api/v1/meetings/{id}/calendar.ics", get(ics))
}

/// A personal invitation to a scheduled meeting.
#[derive(Serialize)]
pub(super) struct Invitation {
    pub(super) participant: String,
    name: String,
    kind: OrgKind,
    pub(super) link: String,
    notice: String,
}

async fn invitations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(invitation_links(&state, &headers, id).await?).into_response())
}

/// Every invited venue's or person's signed links (secretary or admin).
pub(super) async fn invitation_links(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
) -> Result<Vec<Invitation>, ApiError> {
    let account = current_account(state, headers).await?;
    allow(&account, Permission::Schedule, None)?;
    let (meeting, org) =
        blocking(state.store.clone(), move |s| Ok((s.meeting(&id)?, s.org_units()?))).await?;
    let base = crate::server::public_base_url(&state.config);
    let grace = state.config.signaling.end_grace_mins;
    let links: Vec<Invitation> = meeting
        .participants
        .iter()
        .filter_map(|pid| org.iter().find(|u| &u.id == pid))
        .map(|unit| {
            let role = if unit.kind == OrgKind::Venue { Role::Venue } else { Role::Participant };
            let claims = link_claims(&meeting, &unit.id, &unit.name, role, grace);
            Invitation {
                participant: unit.id.clone(),
                name: unit.name.clone(),
                kind: unit.kind,
                link: format!("{base}/?token={}", state.signer.sign(&claims)),
                notice: format!("{base}/notice?token={}", state.signer.sign(&claims)),
            }
        })
        .collect();
    Ok(links)
}

/// The claims of a personal join link to `meeting`: valid from its join
/// window (`open_before_min` before the start) until the server ends it
/// (the planned end plus the grace).
pub(super) fn link_claims(
    meeting: &MeetingRecord,
    pid: &str,
    name: &str,
    role: Role,
    grace_mins: u32,
) -> Claims {
    let nbf = unix_from_local(meeting.start) - meeting.open_before_min * 60;
    let exp = unix_from_local(meeting.end) + i64::from(grace_mins) * 60;
    Claims {
        m: meeting.id.clone(),
        t: meeting.title.clone(),
        p: pid.to_string(),
        n: name.to_string(),
        r: role,
        nbf: nbf.max(0) as u64,
        exp: exp.max(0) as u64,
    }
}

#[derive(Serialize)]
pub(super) struct Line {
    participant: String,
    name: String,
    /// `present` (in the meeting now), `left`, or `absent` (never joined).
    status: &'static str,
    first_join: Option<i64>,
    last_leave: Option<i64>,
    joins: usize,
    /// Signed in (签到) at.
    signed_in: Option<i64>,
    /// Reply to the notice: `confirmed` or `leave`.
    rsvp: Option<String>,
    /// Reason given with a leave request (请假).
    leave_reason: Option<String>,
}

/// Column headers of the attendance sheet (CSV and XLSX).
pub(super) const HEADERS: [&str; 8] =
    ["参会单位/人员", "状态", "回复", "请假事由", "签到时间", "首次入会", "最后离会", "入会次数"];

/// A county-local time as text, or nothing.
pub(super) fn local_text(t: Option<i64>) -> String {
    t.and_then(crate::scheduling::local_from_unix)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

impl Line {
    /// The line as the sheet's cells, in [`HEADERS`] order.
    pub(super) fn cells(&self) -> [String; 8] {
        let status = match self.status {
            "present" => "在会",
            "left" => "已离会",
            _ => "缺席",
        };
        let rsvp = match self.rsvp.as_deref() {
            Some("confirmed") => "确认参会",
            Some("leave") => "请假",
            _ => "未回复",
        };
        [
            self.name.clone(),
            status.into(),
            rsvp.into(),
            self.leave_reason.clone().unwrap_or_default(),
            local_text(self.signed_in),
            local_text(self.first_join),
            local_text(self.last_leave),
            self.joins.to_string(),
        ]
    }

    /// Invited (or seen) but not joined yet.
    fn absent(participant: &str, name: String) -> Line {
        Line {
            participant: participant.to_string(),
            name,
            status: "absent",
            first_join: None,
            last_leave: None,
            joins: 0,
            signed_in: None,
            rsvp: None,
            leave_reason: None,
        }
    }
}

pub(super) async fn summary(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
) -> Result<(String, Vec<Line>), ApiError> {
    let account = current_account(state, headers).await?;
    let (meeting, org, events, sign_ins, rsvps) = blocking(state.store.clone(), move |s| {
        Ok((s.meeting(&id)?, s.org_units()?, s.attendance(&id)?, s.sign_ins(&id)?, s.rsvps(&id)?))
    })
    .await?;
    allow(&account, Permission::ReadAttendance, Some(&meeting))?;
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for pid in &meeting.participants {
        let name = org.iter().find(|u| &u.id == pid).map_or_else(|| pid.clone(), |u| u.name.clone());
        lines.insert(pid.clone(), Line::absent(pid, name));
    }
    for e in &events {
        let line = lines
            .entry(e.participant.clone())
            .or_insert_with(|| Line::absent(&e.participant, e.name.clone()));
        if e.event == "join" {
            line.joins += 1;
            line.first_join.get_or_insert(e.at);
            line.status = "present";
        } else {
            line.last_leave = Some(e.at);
            line.status = "left";
        }
    }
    for (who, at) in sign_ins {
        if let Some(line) = lines.get_mut(&who) {
            line.signed_in = Some(at);
        }
    }
    for (who, response, reason) in rsvps {
        if let Some(line) = lines.get_mut(&who) {
            line.leave_reason = (response == "leave").then_some(reason);
            line.rsvp = Some(response);
        }
    }
    Ok((meeting.title, lines.into_values().collect()))
}

async fn attendance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (title, lines) = summary(&state, &headers, id).await?;
    Ok(Json(serde_json::json!({"title": title, "participants": lines})).into_response())
}

async fn attendance_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (title, lines) = summary(&state, &headers, id).await?;
    let mut csv = format!("\u{feff}{}\r\n", HEADERS.join(","));
    for l in &lines {
        let cells = l.cells().map(|c| format!("\"{}\"", csv_safe(&c).replace('"', "\"\"")));
        csv.push_str(&cells.join(","));
        csv.push_str("\r\n");
    }
    let disposition = format!(
        "attachment; filename=\"attendance.csv\"; filename*=UTF-8''{}",
        urlencode(&format!("签到-{title}.csv"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

async fn ics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, m) = super::meetings::visible_meeting(&state, &headers, id).await?;
    let body = crate::scheduling::ics::calendar(&[calendar_event(&m)], crate::clock::unix_secs());
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response())
}

/// A cell as Excel may read it: text that starts like a formula (`=`, `+`,
/// `-`, `@`, tab, CR) — a leave reason typed on the notice page, say — is
/// prefixed with `'` so it stays text.
fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// A meeting as a calendar entry.
pub(super) fn calendar_event(m: &crate::store::MeetingRecord) -> crate::scheduling::ics::CalendarEvent<'_> {
    crate::scheduling::ics::CalendarEvent {
        uid: &m.id,
        title: &m.title,
        description: &m.agenda,
        start: m.start,
        end: m.end,
        sequence: m.version,
        cancelled: m.cancelled_at.is_some(),
    }
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::csv_safe;

    #[test]
    fn cells_that_look_like_formulas_stay_text() {
        assert_eq!(csv_safe("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(csv_safe(lead).starts_with('\''), "{lead}");
        }
        assert_eq!(csv_safe("防汛值班"), "防汛值班");
        assert_eq!(csv_safe(""), "");
    }
}
