//! Invitations (personal join links for a scheduled meeting) and attendance
//! (who joined when, who left, who never came), as JSON and CSV.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::api::{blocking, current_account, ApiError};
use crate::http::AppState;
use crate::scheduling::unix_from_local;
use crate::store::{AccountRole, OrgKind};
use crate::token::{Claims, Role};

/// Links stay valid this long after the planned end (a meeting running late).
const LATE_SECS: i64 = 30 * 60;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/meetings/{id}/invitations", get(invitations))
        .route("/api/v1/meetings/{id}/attendance", get(attendance))
        .route("/api/v1/meetings/{id}/attendance.csv", get(attendance_csv))
        .route("/api/v1/meetings/{id}/calendar.ics", get(ics))
}

#[derive(Serialize)]
struct Invitation {
    participant: String,
    name: String,
    kind: OrgKind,
    link: String,
    notice: String,
}

async fn invitations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = current_account(&state, &headers).await?;
    if !matches!(account.role, AccountRole::Admin | AccountRole::Secretary) {
        return Err(ApiError::forbidden("only a secretary or an admin may see the invitation links"));
    }
    let (meeting, org) =
        blocking(state.store.clone(), move |s| Ok((s.meeting(&id)?, s.org_units()?))).await?;
    let nbf = unix_from_local(meeting.start) - meeting.open_before_min * 60;
    let exp = unix_from_local(meeting.end) + LATE_SECS;
    let base = crate::public_base_url(&state.config);
    let links: Vec<Invitation> = meeting
        .participants
        .iter()
        .filter_map(|pid| org.iter().find(|u| &u.id == pid))
        .map(|unit| {
            let claims = Claims {
                m: meeting.id.clone(),
                t: meeting.title.clone(),
                p: unit.id.clone(),
                n: unit.name.clone(),
                r: if unit.kind == OrgKind::Venue { Role::Venue } else { Role::Participant },
                nbf: nbf.max(0) as u64,
                exp: exp.max(0) as u64,
            };
            Invitation {
                participant: unit.id.clone(),
                name: unit.name.clone(),
                kind: unit.kind,
                link: format!("{base}/?token={}", state.signer.sign(&claims)),
                notice: format!("{base}/notice?token={}", state.signer.sign(&claims)),
            }
        })
        .collect();
    Ok(Json(links).into_response())
}

#[derive(Serialize)]
struct Line {
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

impl Line {
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

async fn summary(state: &AppState, headers: &HeaderMap, id: String) -> Result<(String, Vec<Line>), ApiError> {
    current_account(state, headers).await?;
    let (meeting, org, events, sign_ins, rsvps) = blocking(state.store.clone(), move |s| {
        Ok((s.meeting(&id)?, s.org_units()?, s.attendance(&id)?, s.sign_ins(&id)?, s.rsvps(&id)?))
    })
    .await?;
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
    let time = |t: Option<i64>| {
        t.and_then(crate::scheduling::local_from_unix)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    let status = |s: &str| match s {
        "present" => "在会",
        "left" => "已离会",
        _ => "缺席",
    };
    let mut csv =
        String::from("\u{feff}参会单位/人员,状态,回复,请假事由,签到时间,首次入会,最后离会,入会次数\r\n");
    for l in &lines {
        csv.push_str(&format!(
            "\"{}\",{},{},\"{}\",{},{},{},{}\r\n",
            l.name.replace('"', "\"\""),
            status(l.status),
            match l.rsvp.as_deref() {
                Some("confirmed") => "确认参会",
                Some("leave") => "请假",
                _ => "未回复",
            },
            l.leave_reason.as_deref().unwrap_or("").replace('"', "\"\""),
            time(l.signed_in),
            time(l.first_join),
            time(l.last_leave),
            l.joins
        ));
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
    current_account(&state, &headers).await?;
    let m = blocking(state.store.clone(), move |s| s.meeting(&id)).await?;
    let event = crate::scheduling::ics::CalendarEvent {
        uid: &m.id,
        title: &m.title,
        description: &m.agenda,
        start: m.start,
        end: m.end,
        sequence: m.version,
    };
    let body = crate::scheduling::ics::calendar(&[event], crate::unix_secs());
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response())
}

fn urlencode(s: &str) -> String {
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
