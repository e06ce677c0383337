//! REST: the organisation tree and single meetings (create, read, edit with
//! ETag / If-Match, list), with conflict warnings. Secretaries and admins
//! write; every write is audited.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::common::AppState;
use super::common::{
    allow, blocking, may_schedule, may_see, meeting_json, visible_meeting, with_etag, ApiError,
};
use crate::permissions::Permission;
use crate::scheduling::conflict::{conflicts, Booking};
use crate::scheduling::lifecycle::Status;
use crate::services::lifecycle::{self, MarkRefused};
use crate::services::meetings::MeetingInput;
use crate::store::{Account, Mark, MeetingRecord, NewAudit};

/// Conflict warnings of `m` against meetings of the same day.
fn warnings_for(
    store: &dyn crate::store::Store,
    m: &MeetingRecord,
) -> Result<serde_json::Value, crate::store::StoreError> {
    let day = m.start.date().and_hms_opt(0, 0, 0).expect("midnight");
    let others = store.meetings_between(day - chrono::Duration::days(1), day + chrono::Duration::days(2))?;
    let booking = |x: &MeetingRecord| Booking {
        meeting: x.id.clone(),
        title: x.title.clone(),
        start: x.start,
        end: x.end,
        chair: x.chair.clone(),
        participants: x.participants.clone(),
    };
    let existing: Vec<Booking> = others.iter().map(booking).collect();
    Ok(serde_json::to_value(conflicts(&booking(m), &existing)).unwrap_or_default())
}

pub(super) async fn create(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<MeetingInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let Json(input) = body?;
    let record = input.into_record(crate::token::random_id(9), 1).map_err(ApiError::invalid)?;
    let (stored, warnings) = save(&state, account.id, "meeting.create", move |s, actor| {
        s.create_meeting(&record, Some(actor), crate::clock::unix_secs())
    })
    .await?;
    Ok(with_etag(stored, StatusCode::CREATED, Some(warnings), state.config.signaling.end_grace_mins))
}

/// Stores a meeting (`op`), computes its conflict warnings and audits it,
/// in one blocking call.
pub(super) async fn save(
    state: &AppState,
    actor: String,
    action: &'static str,
    op: impl FnOnce(&dyn crate::store::Store, &str) -> Result<MeetingRecord, crate::store::StoreError>
        + Send
        + 'static,
) -> Result<(MeetingRecord, serde_json::Value), ApiError> {
    blocking(state.store.clone(), move |s| {
        let (mut op, mut out) = (Some(op), None);
        s.audited(crate::clock::unix_secs(), &mut |s| {
            let op = op.take().ok_or_else(|| crate::store::StoreError::Db("a write ran twice".into()))?;
            let stored = op(s, &actor)?;
            let warnings = warnings_for(s, &stored)?;
            let audit = NewAudit::done(&actor, action, Some(&stored.id), &stored.title).owned();
            out = Some((stored, warnings));
            Ok(audit)
        })?;
        out.ok_or_else(|| crate::store::StoreError::Db("nothing stored".into()))
    })
    .await
}

pub(super) async fn read(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, m) = visible_meeting(&state, account, id).await?;
    Ok(with_etag(m, StatusCode::OK, None, state.config.signaling.end_grace_mins))
}

pub(super) async fn update(
    State(state): State<AppState>,
    account: Account,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<MeetingInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let expected = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .strip_prefix('v')
                .and_then(|n| n.parse::<i64>().ok())
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag you read",
            )
        })?;
    let Json(input) = body?;
    let key = id.clone();
    let current = blocking(state.store.clone(), move |s| s.meeting(&key)).await?;
    let status = crate::services::lifecycle::status(
        &current,
        state.config.signaling.end_grace_mins,
        crate::clock::unix_secs(),
    );
    if matches!(status, Status::Ended | Status::Cancelled) {
        return Err(ApiError::invalid("an ended or cancelled meeting cannot be edited; schedule a new one"));
    }
    let record = input.into_record(id, expected).map_err(ApiError::invalid)?;
    let (stored, warnings) =
        save(&state, account.id, "meeting.update", move |s, _| s.update_meeting(&record, expected)).await?;
    Ok(with_etag(stored, StatusCode::OK, Some(warnings), state.config.signaling.end_grace_mins))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesInput {
    /// The first meeting (title, times of the first occurrence, participants...).
    meeting: MeetingInput,
    /// How it repeats.
    rule: crate::scheduling::recurrence::Rule,
    /// Occurrences cancelled or moved from the start, by planned date.
    #[serde(default)]
    exceptions: std::collections::BTreeMap<chrono::NaiveDate, crate::scheduling::recurrence::Exception>,
}

/// Creates every occurrence of a recurring meeting in one transaction.
pub(super) async fn create_series(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<SeriesInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let Json(input) = body?;
    let first = input.meeting.into_record(String::new(), 1).map_err(ApiError::invalid)?;
    let occurrences = crate::scheduling::recurrence::expand(
        first.start,
        first.end - first.start,
        &input.rule,
        &input.exceptions,
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    // Moved occurrences bring their own times.
    for o in &occurrences {
        crate::services::meetings::check_times(o.start, o.end).map_err(ApiError::invalid)?;
    }
    let series = crate::token::random_id(9);
    let records: Vec<MeetingRecord> = occurrences
        .iter()
        .filter(|o| !o.cancelled)
        .map(|o| MeetingRecord {
            id: crate::token::random_id(9),
            start: o.start,
            end: o.end,
            series: Some(series.clone()),
            ..first.clone()
        })
        .collect();
    let actor = account.id;
    let id = series.clone();
    let stored = blocking(state.store.clone(), move |s| {
        let now = crate::clock::unix_secs();
        s.audited(now, &mut |s| {
            let n = s.create_series(&id, &records, Some(&actor), now)?;
            Ok(NewAudit::done(&actor, "series.create", Some(&id), &format!("{n} occurrences")).owned())
        })?;
        s.series_meetings(&id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"series": series, "meetings": stored}))).into_response())
}

pub(super) async fn read_series(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let meetings = blocking(state.store.clone(), move |s| s.series_meetings(&id)).await?;
    if meetings.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such series"));
    }
    let grace = state.config.signaling.end_grace_mins;
    let visible: Vec<_> =
        meetings.iter().filter(|m| may_see(&account, m).is_ok()).map(|m| meeting_json(m, grace)).collect();
    Ok(Json(json!({"meetings": visible})).into_response())
}

#[derive(Deserialize)]
pub(super) struct Range {
    from: NaiveDateTime,
    to: NaiveDateTime,
}

pub(super) async fn list(
    State(state): State<AppState>,
    account: Account,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let Query(Range { from, to }) =
        range.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    if to <= from || to - from > chrono::Duration::days(400) {
        return Err(ApiError::invalid("from must be before to, at most 400 days apart"));
    }
    let meetings = blocking(state.store.clone(), move |s| s.meetings_between(from, to)).await?;
    let grace = state.config.signaling.end_grace_mins;
    Ok(Json(
        meetings.iter().filter(|m| may_see(&account, m).is_ok()).map(|m| meeting_json(m, grace)).collect(),
    ))
}

/// Secretaries and admins run every meeting; a chair starts and ends the
/// meetings it chairs (cancelling is the secretary's).
fn may_mark(a: &Account, m: &MeetingRecord, mark: Mark) -> Result<(), ApiError> {
    match mark {
        Mark::Cancel => allow(a, Permission::Schedule, Some(m)),
        Mark::Start | Mark::End => allow(a, Permission::RunMeeting, Some(m)),
    }
}

pub(super) async fn mark(
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
