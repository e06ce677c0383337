//! Invitations: every invited venue's or person's personal join link (with
//! its notice page and QR code), and each account's own join link.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::common::AppState;
use super::common::{allow, blocking, qr_svg, visible_meeting, ApiError};
use crate::permissions::Permission;
use crate::scheduling::unix_from_local;
use crate::store::{Account, AccountRole, MeetingRecord, OrgKind};
use crate::token::{Claims, Role};

/// A personal invitation to a scheduled meeting.
#[derive(Serialize)]
pub struct Invitation {
    pub participant: String,
    name: String,
    kind: OrgKind,
    pub link: String,
    notice: String,
}

pub(super) async fn invitations(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(invitation_links(&state, account, id).await?).into_response())
}

/// Every invited venue's or person's signed links (secretary or admin).
pub(super) async fn invitation_links(
    state: &AppState,
    account: Account,
    id: String,
) -> Result<Vec<Invitation>, ApiError> {
    allow(&account, Permission::Schedule, None)?;
    let (meeting, org) =
        blocking(state.store.clone(), move |s| Ok((s.meeting(&id)?, s.org_units()?))).await?;
    let base = super::common::public_base_url(&state.config);
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

/// The QR code of one invitation's join link (an SVG), for the console.
pub(super) async fn qr(
    State(state): State<AppState>,
    account: Account,
    Path((id, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let links = invitation_links(&state, account, id).await?;
    let link = links
        .into_iter()
        .find(|i| i.participant == participant)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invitation"))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], qr_svg(&link.link)).into_response())
}

/// The logged-in account's own join link: the secretary and admins join as
/// the secretary (会务), the meeting's chair as chair, an invited venue or
/// person as itself.
pub(super) async fn join(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (account, m) = visible_meeting(&state, account, id).await?;
    let invited = account.org_unit.as_ref().filter(|u| m.participants.contains(u));
    let (pid, role) = match (account.role, invited) {
        (AccountRole::Admin | AccountRole::Secretary, _) => {
            (format!("staff-{}", account.id), Role::Secretary)
        }
        _ if m.chair.as_deref() == Some(account.id.as_str()) => {
            (format!("staff-{}", account.id), Role::Chair)
        }
        (AccountRole::Venue, Some(unit)) => (unit.clone(), Role::Venue),
        (_, Some(unit)) => (unit.clone(), Role::Participant),
        _ => return Err(ApiError::forbidden("you are not invited to this meeting")),
    };
    let claims = link_claims(&m, &pid, &account.display_name, role, state.config.signaling.end_grace_mins);
    let link =
        format!("{}/?token={}", super::common::public_base_url(&state.config), state.signer.sign(&claims));
    Ok(Json(json!({"link": link, "role": role})).into_response())
}
