//! Recordings in the console (issue 16): a meeting's recordings with their
//! state, size and duration; start and stop; the composite and the raw
//! track files to download or play (with byte ranges, so a browser can
//! seek); composition as a background job with progress; deletion,
//! audited. Who may: the permission model (docs/api.md).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::common::{allow, blocking, ApiError, AppState};
use crate::permissions::Permission;
use crate::recording::compose::{self, ComposeState};
use crate::recording::{Manifest, Recordings};
use crate::store::{Account, MeetingRecord};

fn recordings(state: &AppState) -> Result<&Recordings, ApiError> {
    state
        .meetings
        .recordings()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "this server does not record"))
}

async fn meeting(state: &AppState, id: String) -> Result<MeetingRecord, ApiError> {
    blocking(state.store.clone(), move |s| s.meeting(&id)).await
}

/// A recording and its meeting, if `account` may see it.
async fn visible(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<(std::path::PathBuf, Manifest), ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such recording");
    let (dir, m) = recordings(state)?.get(id).ok_or_else(not_found)?;
    let record = meeting(state, m.meeting.clone()).await?;
    allow(account, Permission::ReadRecordings, Some(&record))?;
    Ok((dir, m))
}

fn summary(dir: &std::path::Path, m: &Manifest) -> serde_json::Value {
    serde_json::json!({
        "id": m.id, "meeting": m.meeting, "title": m.title, "state": m.state, "stop_reason": m.stop_reason,
        "started_by": m.started_by, "started_at": m.started_at, "stopped_at": m.stopped_at,
        "duration_ms": m.duration_ms(), "bytes": m.bytes, "lost_packets": m.lost_packets,
        "dropped_packets": m.dropped_packets,
        "tracks": m.tracks.iter().map(|t| serde_json::json!({
            "file": t.file, "participant": t.participant, "name": t.name, "kind": t.kind, "source": t.source,
            "codec": t.codec, "layer": t.layer, "bytes": t.bytes, "width": t.width, "height": t.height,
        })).collect::<Vec<_>>(),
        "composite": ComposeState::load(dir),
    })
}

/// `GET /api/v1/meetings/{id}/recordings`
pub(super) async fn list(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = meeting(&state, id.clone()).await?;
    allow(&account, Permission::ReadRecordings, Some(&record))?;
    let recs = recordings(&state)?.clone();
    let list = tokio::task::spawn_blocking(move || {
        recs.list(Some(&id)).iter().map(|m| summary(&recs.root().join(&m.id), m)).collect::<Vec<_>>()
    })
    .await
    .map_err(|_| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not list them")
    })?;
    Ok(Json(serde_json::json!({ "recordings": list })).into_response())
}

#[derive(Deserialize)]
pub(super) struct Switch {
    on: bool,
}

/// `POST /api/v1/meetings/{id}/recording` `{"on": true|false}`: the
/// secretary (or the chair) starts or stops recording the live meeting.
pub(super) async fn switch(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Json(body): Json<Switch>,
) -> Result<Response, ApiError> {
    let record = meeting(&state, id.clone()).await?;
    allow(&account, Permission::RunMeeting, Some(&record))?;
    recordings(&state)?;
    if !state.meetings.record(&id, body.on, &account.id).await {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_running", "the meeting is not running"));
    }
    super::common::record_export(
        &state,
        account.id,
        if body.on { "recording.start" } else { "recording.stop" },
        id,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "on": body.on }))).into_response())
}

/// `GET /api/v1/recordings/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (dir, m) = visible(&state, &account, &id).await?;
    let mut body = summary(&dir, &m);
    body["events"] = serde_json::json!(m.events);
    Ok(Json(body).into_response())
}

/// `DELETE /api/v1/recordings/{id}` (audited).
pub(super) async fn delete(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, m) = visible(&state, &account, &id).await?;
    let record = meeting(&state, m.meeting.clone()).await?;
    allow(&account, Permission::DeleteRecordings, Some(&record))?;
    let recs = recordings(&state)?.clone();
    let target = id.clone();
    let gone = tokio::task::spawn_blocking(move || recs.delete(&target)).await.map_err(|_| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not delete it")
    })?;
    gone.map_err(|e| ApiError::new(StatusCode::CONFLICT, "bad_state", e))?;
    // Audited once done (a refused deletion changed nothing).
    let actor = account.id.clone();
    let now = crate::clock::unix_secs();
    blocking(state.store.clone(), move |s| {
        s.audit(crate::store::NewAudit::done(&actor, "recording.delete", Some(&id), &m.meeting), now)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/recordings/{id}/compose`: composes in the background;
/// the recording's `composite` says how far it got.
pub(super) async fn start_compose(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (dir, m) = visible(&state, &account, &id).await?;
    if m.state == crate::recording::RecState::Recording {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "bad_state",
            "the recording is still running; stop it first",
        ));
    }
    let Some(claim) = compose::claim(&dir) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "bad_state", "it is being composed"));
    };
    let ffmpeg = recordings(&state)?.ffmpeg().to_string();
    tokio::task::spawn_blocking(move || {
        let _claim = claim;
        if let Err(e) = compose::compose(&ffmpeg, &dir, |_| {}) {
            tracing::warn!(recording = %id, error = %e, "composition failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "state": "composing" }))).into_response())
}

/// `GET /api/v1/recordings/{id}/files/{name}`: the composite, a track
/// file or the manifest; one byte range if asked (`Range: bytes=a-b`).
pub(super) async fn file(
    State(state): State<AppState>,
    account: Account,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (dir, m) = visible(&state, &account, &id).await?;
    let known = name == "manifest.json" || name == compose::OUTPUT || m.tracks.iter().any(|t| t.file == name);
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file in this recording");
    if !known {
        return Err(not_found());
    }
    let mut f = tokio::fs::File::open(dir.join(&name)).await.map_err(|_| not_found())?;
    let len = f.metadata().await.map_err(|_| not_found())?.len();
    let kind = match name.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("ogg") => "audio/ogg",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|r| byte_range(r, len));
    let (status, start, count) = match range {
        Some(Ok(Some((a, b)))) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Some(Err(())) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no response"));
        }
        _ => (StatusCode::OK, 0, len),
    };
    f.seek(std::io::SeekFrom::Start(start)).await.map_err(|_| not_found())?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f.take(count)));
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, kind)
        .header(header::CONTENT_LENGTH, count)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_DISPOSITION, format!("inline; filename=\"{}-{name}\"", m.id));
    if status == StatusCode::PARTIAL_CONTENT {
        response =
            response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{len}", start + count - 1));
    }
    response.body(body).map_err(|_| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not send it")
    })
}

/// One `bytes=a-b` (or `a-`, or `-n`) range within `len`, inclusive:
/// `Ok(None)` for a header to ignore (malformed, several ranges: the whole
/// file), `Err` for a range outside the file (416).
fn byte_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some((a, b)) = header
        .strip_prefix("bytes=")
        .filter(|spec| !spec.contains(','))
        .and_then(|spec| spec.split_once('-'))
        .map(|(a, b)| (a.trim(), b.trim()))
    else {
        return Ok(None);
    };
    let last = len.checked_sub(1);
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (None, Some(n)) if a.is_empty() => match (n, last) {
            (0, _) | (_, None) => return Err(()),
            (n, Some(last)) => (len.saturating_sub(n), last),
        },
        (Some(a), None) if b.is_empty() => (a, last.ok_or(())?),
        (Some(a), Some(b)) if a <= b => (a, last.map_or(b, |l| b.min(l))),
        _ => return Ok(None),
    };
    if last.is_none_or(|l| start > l) || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_as_browsers_ask() {
        assert_eq!(byte_range("bytes=0-", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=10-19", 100), Ok(Some((10, 19))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(byte_range("bytes=200-", 100), Err(()), "past the end: 416");
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(byte_range("bytes=0-", 0), Err(()), "an empty file has no bytes");
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None), "several: the whole file");
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=9-2", 100), Ok(None));
    }
}
