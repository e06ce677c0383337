//! The pre-join media check (issue 13, `meeting/check.rs`): whoever holds a
//! join link (or may join a demo meeting) may ask for the ICE servers and
//! the media ports, then open a short-lived check connection to the media
//! plane. The meeting itself is not touched: no seat, no attendance.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use huiyi_protocol::IceServer;

use super::common::{ApiError, AppState};
use crate::meeting::CheckError;

/// Who asks: a join link, or a demo join where the server allows them.
#[derive(Deserialize)]
pub(super) struct CheckRequest {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    demo: bool,
    /// The browser's SDP offer (for the check connection itself).
    #[serde(default)]
    sdp: Option<String>,
}

/// Where media goes, for the browser's connection and for the advice it
/// shows when none works.
#[derive(Serialize)]
pub(super) struct MediaPaths {
    ice_servers: Vec<IceServer>,
    /// The media workers' UDP ports.
    udp_ports: Vec<u16>,
    /// Their ICE-TCP ports (empty with `sfu.ice_tcp` off).
    tcp_ports: Vec<u16>,
    /// The TURN relays' URLs (empty without TURN).
    turn: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Answer {
    sdp: String,
}

/// The participant id the link names (for TURN usernames), after checking it.
fn holder(state: &AppState, req: &CheckRequest) -> Result<String, ApiError> {
    match &req.token {
        Some(token) => {
            let now = crate::clock::unix_secs().max(0) as u64;
            let claims = state.signer.verify(token, now).map_err(|e| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", format!("join link: {e}"))
            })?;
            Ok(claims.p)
        }
        None if req.demo && state.config.signaling.demo => {
            Ok(format!("check-{}", crate::token::random_id(6)))
        }
        None => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a join link (token) is required"))
        }
    }
}

/// `POST /api/v1/media-check/paths`: ICE servers and media ports.
pub(super) async fn paths(
    State(state): State<AppState>,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Result<Json<MediaPaths>, ApiError> {
    let Json(req) = body?;
    let who = holder(&state, &req)?;
    let now = crate::clock::unix_secs().max(0) as u64;
    let turn = &state.config.turn;
    Ok(Json(MediaPaths {
        ice_servers: crate::services::turn::ice_servers(turn, &who, now),
        udp_ports: state.media.local_addrs().iter().map(|a| a.port()).collect(),
        tcp_ports: state.media.tcp_addrs().iter().map(|a| a.port()).collect(),
        turn: if turn.enabled() { turn.urls.clone() } else { Vec::new() },
    }))
}

/// `POST /api/v1/media-check`: the check connection's SDP answer.
pub(super) async fn check(
    State(state): State<AppState>,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Result<Json<Answer>, ApiError> {
    let Json(req) = body?;
    holder(&state, &req)?;
    let Some(offer) = req.sdp.filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::invalid("sdp: the check connection's offer is required"));
    };
    let limits = state.meetings.limits();
    if offer.len() > limits.cfg.sdp_bytes {
        limits.refused(crate::limits::Limit::SdpBytes);
        let why = format!("sdp: {} bytes; this server takes at most {}", offer.len(), limits.cfg.sdp_bytes);
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why));
    }
    match state.meetings.media_check(offer).await {
        Ok(sdp) => Ok(Json(Answer { sdp })),
        Err(e @ CheckError::Busy) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()))
        }
        Err(e @ CheckError::BadOffer(_)) => Err(ApiError::invalid(e.to_string())),
        Err(e @ CheckError::Media(_)) => {
            tracing::warn!(error = %e, "a media check failed on the server");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
        }
    }
}
