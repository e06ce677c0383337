//! A scheduled meeting's lifecycle over HTTP: its status (from the clock and
//! the secretary's hand), starting, ending or cancelling it by hand, the
//! server ending a live meeting at its time, and joins to a meeting that is
//! over refused.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::Duration;

use super::api::{blocking, current_account, ApiError};
use super::meetings::with_etag;
use crate::http::AppState;
use crate::meeting::{Meetings, Refusal};
use crate::scheduling::lifecycle::{Manual, Schedule, Status};
use crate::scheduling::local_from_unix;
use crate::store::{Account, AccountRole, Mark, MeetingRecord, NewAudit, Store, StoreError};
use crate::ws::protocol::ErrorCode;

/// The status of `m` at `now` (Unix seconds).
pub fn status(m: &MeetingRecord, grace_mins: u32, now: i64) -> Status {
    let local = |t: Option<i64>| t.and_then(local_from_unix);
    let schedule = Schedule {
        start: m.start,
        end: m.end,
        open_before: Duration::minutes(m.open_before_min),
        grace: Duration::minutes(grace_mins.into()),
    };
    let manual = Manual {
        started: local(m.started_at),
        ended: local(m.ended_at),
        cancelled: m.cancelled_at.is_some(),
    };
    schedule.status(&manual, local_from_unix(now).unwrap_or(m.start))
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/meetings/{id}/start",
            post(|s: State<AppState>, h: HeaderMap, p: Path<String>| mark(s, h, p, Mark::Start)),
        )
        .route(
            "/api/v1/meetings/{id}/end",
            post(|s: State<AppState>, h: HeaderMap, p: Path<String>| mark(s, h, p, Mark::End)),
        )
        .route(
            "/api/v1/meetings/{id}/cancel",
            post(|s: State<AppState>, h: HeaderMap, p: Path<String>| mark(s, h, p, Mark::Cancel)),
        )
}

/// Secretaries and admins run every meeting; a chair starts and ends the
/// meetings it chairs (cancelling is the secretary's).
fn may_mark(a: &Account, m: &MeetingRecord, mark: Mark) -> Result<(), ApiError> {
    let chair = a.role == AccountRole::Chair && m.chair.as_deref() == Some(a.id.as_str());
    match a.role {
        AccountRole::Admin | AccountRole::Secretary => Ok(()),
        _ if chair && mark != Mark::Cancel => Ok(()),
        _ => Err(ApiError::forbidden("only the secretary, an admin or this meeting's chair may do this")),
    }
}

async fn mark(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mark: Mark,
) -> Result<Response, ApiError> {
    let account = current_account(&state, &headers).await?;
    let grace = state.config.signaling.end_grace_mins;
    let key = id.clone();
    let m = blocking(state.store.clone(), move |s| s.meeting(&key)).await?;
    may_mark(&account, &m, mark)?;
    let now = crate::unix_secs();
    let current = status(&m, grace, now);
    let allowed = match mark {
        // Before its join window nobody's link works yet: move the meeting instead.
        Mark::Start => current == Status::Open,
        Mark::End => matches!(current, Status::Open | Status::InProgress),
        Mark::Cancel => matches!(current, Status::Scheduled | Status::Open),
    };
    if !allowed {
        let what = match mark {
            Mark::Start => "started",
            Mark::End => "ended",
            Mark::Cancel => "cancelled (end it instead if it is running)",
        };
        let st = serde_json::to_value(current).unwrap_or_default();
        return Err(ApiError::invalid(format!(
            "the meeting is {} and cannot be {what}",
            st.as_str().unwrap_or("?")
        )));
    }
    let action = match mark {
        Mark::Start => "meeting.start",
        Mark::End => "meeting.end",
        Mark::Cancel => "meeting.cancel",
    };
    let actor = account.id;
    let stored = blocking(state.store.clone(), move |s| {
        let stored = s.mark_meeting(&id, mark, now)?;
        s.audit(NewAudit::done(&actor, action, Some(&stored.id), &stored.title), now)?;
        Ok(stored)
    })
    .await?;
    if mark != Mark::Start {
        state.meetings.end(&stored.id).await;
    }
    Ok(with_etag(stored, StatusCode::OK, None, grace))
}

/// Whether a join into meeting `id` may go ahead: a scheduled meeting that
/// is over or cancelled refuses it; meetings made outside the scheduler
/// (links from `huiyi meeting create`) are governed by their token alone.
pub async fn join_allowed(store: Arc<dyn Store>, id: String, grace_mins: u32) -> Result<(), Refusal> {
    let found = tokio::task::spawn_blocking(move || store.meeting(&id)).await;
    let m = match found {
        Ok(Ok(m)) => m,
        Ok(Err(StoreError::NotFound(_))) => return Ok(()),
        Ok(Err(e)) => return Err((ErrorCode::Internal, e.to_string())),
        Err(e) => return Err((ErrorCode::Internal, e.to_string())),
    };
    match status(&m, grace_mins, crate::unix_secs()) {
        Status::Ended => Err((ErrorCode::MeetingClosed, "the meeting has ended".into())),
        Status::Cancelled => Err((ErrorCode::MeetingClosed, "the meeting was cancelled".into())),
        // A link of a meeting moved later than its link's window.
        Status::Scheduled => Err((ErrorCode::MeetingClosed, "the meeting has not opened yet".into())),
        Status::Open | Status::InProgress => Ok(()),
    }
}

/// Ends live meetings whose schedule says they are over (the planned end
/// plus the grace), every `period`, until the task is aborted.
pub async fn drive(meetings: Meetings, store: Arc<dyn Store>, grace_mins: u32, period: StdDuration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        for id in meetings.ids().await {
            let store = store.clone();
            let key = id.clone();
            let Ok(Ok(m)) = tokio::task::spawn_blocking(move || store.meeting(&key)).await else { continue };
            if matches!(status(&m, grace_mins, crate::unix_secs()), Status::Ended | Status::Cancelled) {
                tracing::info!(meeting = %id, "the meeting's time is over: ending it");
                meetings.end(&id).await;
            }
        }
    }
}
