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
use crate::services::invitations;
use crate::store::{Account, OrgKind};

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
    let actor = account.id.clone();
    let links = invitation_links(&state, account, id.clone()).await?;
    // The links are the keys to the meeting: who took them out is recorded.
    super::common::record_export(&state, actor, "invitations.read", id).await?;
    Ok(Json(links).into_response())
}

/// Re-issues one participant's link (it leaked, or a device was lost): the
/// old link stops working at once for new joins; the new one is returned.
pub(super) async fn reissue(
    State(state): State<AppState>,
    account: Account,
    Path((id, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    allow(&account, Permission::Schedule, None)?;
    let (m, p, actor) = (id.clone(), participant.clone(), account.id.clone());
    blocking(state.store.clone(), move |s| {
        let meeting = s.meeting(&m)?;
        if !meeting.participants.contains(&p) {
            return Err(crate::store::StoreError::NotFound(format!("invitation of {p:?}")));
        }
        s.audited(crate::clock::unix_secs(), &mut |s| {
            let epoch = s.bump_link_epoch(&m, &p)?;
            Ok(crate::store::NewAudit::done(
                &actor,
                "invitation.reissue",
                Some(&m),
                &format!("{p} epoch {epoch}"),
            )
            .owned())
        })
    })
    .await?;
    // Whoever is in the meeting with the old link leaves now.
    state.meetings.revoke(&id, &participant).await;
    let links = invitation_links(&state, account, id).await?;
    let link = links
        .into_iter()
        .find(|i| i.participant == participant)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invitation"))?;
    Ok(Json(link).into_response())
}

/// Every invited venue's or person's signed links (secretary or admin).
pub(super) async fn invitation_links(
    state: &AppState,
    account: Account,
    id: String,
) -> Result<Vec<Invitation>, ApiError> {
    allow(&account, Permission::Schedule, None)?;
    let (meeting, org, epochs) = blocking(state.store.clone(), move |s| {
        let meeting = s.meeting(&id)?;
        let epochs = meeting
            .participants
            .iter()
            .map(|p| Ok((p.clone(), s.link_epoch(&id, p)?)))
            .collect::<Result<std::collections::HashMap<String, i64>, crate::store::StoreError>>()?;
        Ok((meeting, s.org_units()?, epochs))
    })
    .await?;
    let base = super::common::public_base_url(&state.config);
    let grace = state.config.signaling.end_grace_mins;
    let epoch_of = |p: &str| epochs.get(p).copied().unwrap_or(0).max(0) as u64;
    let links: Vec<Invitation> = invitations::invitees(&meeting, &org, grace, epoch_of)
        .into_iter()
        .map(|i| Invitation {
            participant: i.unit.id,
            name: i.unit.name,
            kind: i.unit.kind,
            link: format!("{base}/?token={}", state.signer.sign(&i.claims)),
            notice: format!("{base}/notice?token={}", state.signer.sign(&i.claims)),
        })
        .collect();
    Ok(links)
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
    let mut claims = invitations::own_link(&account, &m, state.config.signaling.end_grace_mins)
        .ok_or_else(|| ApiError::forbidden("you are not invited to this meeting"))?;
    // The seat's current link (a re-issue bumps its epoch).
    let (mid, pid) = (claims.m.clone(), claims.p.clone());
    claims.e = blocking(state.store.clone(), move |s| s.link_epoch(&mid, &pid)).await?.max(0) as u64;
    let role = claims.r;
    let link =
        format!("{}/?token={}", super::common::public_base_url(&state.config), state.signer.sign(&claims));
    Ok(Json(json!({"link": link, "role": role})).into_response())
}
