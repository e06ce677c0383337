//! Starting, ending and cancelling a scheduled meeting by hand over HTTP;
//! the rules are in `services::lifecycle`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::api::{allow, blocking, ApiError};
use super::meetings::with_etag;
use crate::http::AppState;
use crate::permissions::Permission;
use crate::services::lifecycle::{self, MarkRefused};
use crate::store::{Account, Mark, MeetingRecord};

pub use crate::services::lifecycle::status;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/meetings/{id}/start",
            post(|s: State<AppState>, a: Account, p: Path<String>| mark(s, a, p, Mark::Start)),
        )
        .route(
            "/api/v1/meetings/{id}/end",
            post(|s: State<AppState>, a: Account, p: Path<String>| mark(s, a, p, Mark::End)),
        )
        .route(
            "/api/v1/meetings/{id}/cancel",
            post(|s: State<AppState>, a: Account, p: Path<String>| mark(s, a, p, Mark::Cancel)),
        )
}

/// Secretaries and admins run every meeting; a chair starts and ends the
/// meetings it chairs (cancelling is the secretary's).
fn may_mark(a: &Account, m: &MeetingRecord, mark: Mark) -> Result<(), ApiError> {
    match mark {
        Mark::Cancel => allow(a, Permission::Schedule, Some(m)),
        Mark::Start | Mark::End => allow(a, Permission::RunMeeting, Some(m)),
    }
}

async fn mark(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    mark: Mark,
) -> Result<Response, ApiError> {
    let grace = state.config.signaling.end_grace_mins;
    let key = id.clone();
    let m = blocking(state.store.clone(), move |s| s.meeting(&key)).await?;
    may_mark(&account, &m, mark)?;
    let now = crate::clock::unix_secs();
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || {
        lifecycle::mark(store.as_ref(), &id, mark, &account.id, grace, now)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| match e {
        MarkRefused::Store(e) => ApiError::from(e),
        refused => ApiError::invalid(refused.to_string()),
    })?;
    if mark != Mark::Start {
        state.meetings.end(&stored.id).await;
    }
    Ok(with_etag(stored, StatusCode::OK, None, grace))
}
