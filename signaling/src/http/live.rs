//! The live feed (issue 16): the secretary starts and stops it and gets
//! the viewer link; viewers (any player, the portal's web server) fetch the
//! playlist and its segments under that signed, expiring link, without an
//! account, from any site.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::common::{allow, blocking, ApiError, AppState};
use crate::live::Lives;
use crate::meeting::viewers::Refused;
use crate::permissions::Permission;
use crate::store::Account;

fn lives(state: &AppState) -> Result<&Lives, ApiError> {
    state
        .meetings
        .lives()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "this server has no live feed"))
}

/// The live feeds, if `token` is a valid viewer link to meeting `id` now.
fn viewer<'a>(state: &'a AppState, id: &str, token: &str) -> Result<&'a Lives, ApiError> {
    let lives = lives(state)?;
    if !lives.check(id, token, crate::clock::unix_secs().max(0) as u64) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this viewer link is not valid (or expired)",
        ));
    }
    Ok(lives)
}

/// The body of a switch.
#[derive(Deserialize)]
pub(super) struct Switch {
    on: bool,
}

/// What the console shows: whether the feed runs, and the viewer link.
fn status(lives: &Lives, id: &str) -> serde_json::Value {
    let link = lives.link(id, crate::clock::unix_secs().max(0) as u64);
    serde_json::json!({
        "on": lives.since(id).is_some(),
        "since": lives.since(id),
        "playlist": link.path,
        "expires": link.expires,
    })
}

/// `GET /api/v1/meetings/{id}/live`: the feed's state and a viewer link.
pub(super) async fn get_live(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = id.clone();
    let record = blocking(state.store.clone(), move |s| s.meeting(&key)).await?;
    allow(&account, Permission::RunMeeting, Some(&record))?;
    Ok(Json(status(lives(&state)?, &id)).into_response())
}

/// `POST /api/v1/meetings/{id}/live` `{"on": true|false}`: the secretary
/// starts or stops the live meeting's feed (audited).
pub(super) async fn switch(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Json(body): Json<Switch>,
) -> Result<Response, ApiError> {
    let key = id.clone();
    let record = blocking(state.store.clone(), move |s| s.meeting(&key)).await?;
    allow(&account, Permission::RunMeeting, Some(&record))?;
    lives(&state)?;
    if !state.meetings.live(&id, body.on, &account.id).await {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_running", "the meeting is not running"));
    }
    let action = if body.on { "live.start" } else { "live.stop" };
    super::common::record_export(&state, account.id, action, id.clone()).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "on": body.on }))).into_response())
}

/// `GET /live/{id}/{token}/{file}`: the playlist or a segment, for whoever
/// holds an unexpired viewer link.
pub(super) async fn file(
    State(state): State<AppState>,
    Path((id, token, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let lives = viewer(&state, &id, &token)?;
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "not_found", "the feed has no such file (is it live?)");
    let path = lives.file(&id, &name).ok_or_else(not_found)?;
    let data = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    let (kind, cache) = if name.ends_with(".m3u8") {
        ("application/vnd.apple.mpegurl", "no-cache")
    } else {
        ("video/mp2t", "public, max-age=60")
    };
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header(header::CACHE_CONTROL, cache)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Body::from(data))
        .map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not send it")
        })
}

/// The headers a WHEP player on another site needs (CORS).
fn whep_headers(builder: axum::http::response::Builder) -> axum::http::response::Builder {
    builder
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST, DELETE, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type, authorization")
        .header(header::ACCESS_CONTROL_EXPOSE_HEADERS, "location")
        // A portal page on the internet may call a server on the intranet
        // (Private Network Access preflights ask).
        .header("access-control-allow-private-network", "true")
}

/// The largest WHEP offer taken.
const MAX_OFFER: usize = 64 * 1024;

/// `POST /whep/{id}/{token}` (draft-ietf-wish-whep): a viewer's SDP offer
/// (receive-only audio and video) under a valid viewer link, while the
/// meeting is live; `201 Created` with the answer and the session's URL.
pub(super) async fn whep_offer(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    offer: String,
) -> Result<Response, ApiError> {
    viewer(&state, &id, &token)?;
    let sdp_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !sdp_type.starts_with("application/sdp") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "send the offer as application/sdp",
        ));
    }
    if offer.len() > MAX_OFFER {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the offer is too large"));
    }
    let (answer, session) = match state.meetings.viewer(&id, offer).await {
        None => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_running", "the meeting is not running"))
        }
        Some(Err(why @ Refused::BadOffer(_))) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_sdp", why.to_string()))
        }
        Some(Err(why @ Refused::Full)) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "full", why.to_string()))
        }
        Some(Err(why)) => return Err(ApiError::new(StatusCode::CONFLICT, "not_live", why.to_string())),
        Some(Ok(r)) => r,
    };
    whep_headers(Response::builder())
        .status(StatusCode::CREATED)
        .header(header::CONTENT_TYPE, "application/sdp")
        .header(header::LOCATION, format!("/whep/{id}/{token}/{session}"))
        .body(Body::from(answer))
        .map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not answer")
        })
}

/// `DELETE /whep/{id}/{token}/{session}`: the viewer leaves.
pub(super) async fn whep_delete(
    State(state): State<AppState>,
    Path((id, token, session)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    viewer(&state, &id, &token)?;
    if !state.meetings.viewer_gone(&id, &session).await {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such viewer session"));
    }
    whep_headers(Response::builder())
        .status(StatusCode::OK)
        .body(Body::empty())
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no response"))
}

/// `OPTIONS` on the WHEP URLs: what a player on another site may send.
pub(super) async fn whep_options() -> Response {
    whep_headers(Response::builder())
        .status(StatusCode::NO_CONTENT)
        .header("accept-post", "application/sdp")
        .body(Body::empty())
        .unwrap_or_default()
}
