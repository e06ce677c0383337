//! REST: the organisation tree and single meetings (create, read, edit with
//! ETag / If-Match, list), with conflict warnings. Secretaries and admins
//! write; every write is audited.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::api::{allow, blocking, current_account, ApiError};
use crate::http::AppState;
use crate::permissions::Permission;
use crate::scheduling::conflict::{conflicts, Booking};
use crate::scheduling::lifecycle::Status;
use crate::store::{Account, MeetingRecord, NewAudit, OrgKind, OrgUnit};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/org", get(org))
        .route("/api/v1/org/import", post(import_org))
        .route("/api/v1/meetings", get(list).post(create))
        .route("/api/v1/meetings/{id}", get(read).put(update))
        .route("/api/v1/series", post(create_series))
        .route("/api/v1/series/{id}", get(read_series))
}

/// Secretaries and admins schedule (meetings, series, templates).
pub(super) fn may_schedule(a: &Account) -> Result<(), ApiError> {
    allow(a, Permission::Schedule, None)
}

/// Who may read a meeting: the secretary, admins and auditors every one; a
/// chair the meetings it chairs; venues, persons and chairs the meetings
/// their node of the organisation is invited to.
pub(super) fn may_see(a: &Account, m: &MeetingRecord) -> Result<(), ApiError> {
    allow(a, Permission::ReadMeeting, Some(m))
}

async fn org(State(state): State<AppState>, _account: Account) -> Result<Json<Vec<OrgUnit>>, ApiError> {
    Ok(Json(blocking(state.store.clone(), |s| s.org_units()).await?))
}

/// CSV with a header line: `id,parent,name,kind` (kind: county, township,
/// department, venue, person, or 县/乡镇/部门/会场/人员).
async fn import_org(
    State(state): State<AppState>,
    account: Account,
    body: String,
) -> Result<Response, ApiError> {
    allow(&account, Permission::Administer, None)?;
    let units = parse_org_csv(&body).map_err(ApiError::invalid)?;
    let actor = account.id.clone();
    let n = blocking(state.store.clone(), move |s| {
        let n = s.import_org(&units)?;
        let detail = format!("{n} units");
        s.audit(NewAudit::done(&actor, "org.import", None, &detail), crate::clock::unix_secs())?;
        Ok(n)
    })
    .await?;
    Ok(Json(json!({"imported": n})).into_response())
}

/// Parses the organisation CSV; errors name the line.
pub fn parse_org_csv(text: &str) -> Result<Vec<OrgUnit>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let header: Vec<String> =
        split_csv(header.trim_start_matches('\u{feff}')).iter().map(|h| h.trim().to_lowercase()).collect();
    if header != ["id", "parent", "name", "kind"] {
        return Err(format!("the first line must be id,parent,name,kind (found {})", header.join(",")));
    }
    let mut units = Vec::new();
    for (i, line) in lines {
        let f = split_csv(line);
        if f.len() != 4 {
            return Err(format!("line {}: 4 columns expected, found {}", i + 1, f.len()));
        }
        let kind = OrgKind::parse(&f[3]).ok_or_else(|| format!("line {}: unknown kind {:?}", i + 1, f[3]))?;
        let parent = Some(f[1].trim().to_string()).filter(|p| !p.is_empty());
        units.push(OrgUnit { id: f[0].trim().into(), parent, name: f[2].trim().into(), kind });
    }
    if units.len() > 10_000 {
        return Err("more than 10 000 units in one import".into());
    }
    Ok(units)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("non-empty").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeetingInput {
    title: String,
    #[serde(default)]
    agenda: String,
    start: NaiveDateTime,
    end: NaiveDateTime,
    #[serde(default)]
    chair: Option<String>,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default = "thirty")]
    open_before_min: i64,
}

fn thirty() -> i64 {
    30
}

impl MeetingInput {
    fn into_record(self, id: String, version: i64) -> Result<MeetingRecord, ApiError> {
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err(ApiError::invalid("the title must be 1 to 200 characters"));
        }
        if self.end <= self.start {
            return Err(ApiError::invalid("the meeting must end after it starts"));
        }
        if self.end - self.start > chrono::Duration::hours(24) {
            return Err(ApiError::invalid("a meeting lasts at most 24 hours"));
        }
        if !(0..=24 * 60).contains(&self.open_before_min) {
            return Err(ApiError::invalid("open_before_min must be between 0 and 1440"));
        }
        if self.participants.len() > 1000 {
            return Err(ApiError::invalid("at most 1000 participants"));
        }
        Ok(MeetingRecord {
            id,
            title: self.title,
            agenda: self.agenda,
            start: self.start,
            end: self.end,
            chair: self.chair,
            open_before_min: self.open_before_min,
            participants: self.participants,
            version,
            series: None,
            started_at: None,
            ended_at: None,
            cancelled_at: None,
        })
    }
}

fn etag(m: &MeetingRecord) -> String {
    format!("\"v{}\"", m.version)
}

/// A meeting as JSON, with its current `status`.
pub(super) fn meeting_json(m: &MeetingRecord, grace_mins: u32) -> serde_json::Value {
    let mut body = serde_json::to_value(m).unwrap_or_default();
    body["status"] = serde_json::to_value(super::lifecycle::status(m, grace_mins, crate::clock::unix_secs()))
        .unwrap_or_default();
    body
}

/// A meeting response with its `ETag`, status and conflict warnings.
pub(super) fn with_etag(
    m: MeetingRecord,
    status: StatusCode,
    warnings: Option<serde_json::Value>,
    grace_mins: u32,
) -> Response {
    let tag = etag(&m);
    let mut body = meeting_json(&m, grace_mins);
    if let Some(w) = warnings {
        body["warnings"] = w;
    }
    (status, [(header::ETAG, tag)], Json(body)).into_response()
}

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

async fn create(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<MeetingInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let Json(input) = body?;
    let record = input.into_record(crate::token::random_id(9), 1)?;
    let (stored, warnings) = save(&state, account.id, "meeting.create", move |s, actor| {
        s.create_meeting(&record, Some(actor), crate::clock::unix_secs())
    })
    .await?;
    Ok(with_etag(stored, StatusCode::CREATED, Some(warnings), state.config.signaling.end_grace_mins))
}

/// Stores a meeting (`op`), computes its conflict warnings and audits it,
/// in one blocking call.
async fn save(
    state: &AppState,
    actor: String,
    action: &'static str,
    op: impl FnOnce(&dyn crate::store::Store, &str) -> Result<MeetingRecord, crate::store::StoreError>
        + Send
        + 'static,
) -> Result<(MeetingRecord, serde_json::Value), ApiError> {
    blocking(state.store.clone(), move |s| {
        let stored = op(s, &actor)?;
        let warnings = warnings_for(s, &stored)?;
        s.audit(NewAudit::done(&actor, action, Some(&stored.id), &stored.title), crate::clock::unix_secs())?;
        Ok((stored, warnings))
    })
    .await
}

/// The logged-in account and meeting `id`, if the account may read it.
pub(super) async fn visible_meeting(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
) -> Result<(Account, MeetingRecord), ApiError> {
    let account = current_account(state, headers).await?;
    let m = blocking(state.store.clone(), move |s| s.meeting(&id)).await?;
    may_see(&account, &m)?;
    Ok((account, m))
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, m) = visible_meeting(&state, &headers, id).await?;
    Ok(with_etag(m, StatusCode::OK, None, state.config.signaling.end_grace_mins))
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<MeetingInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let account = current_account(&state, &headers).await?;
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
    let status =
        super::lifecycle::status(&current, state.config.signaling.end_grace_mins, crate::clock::unix_secs());
    if matches!(status, Status::Ended | Status::Cancelled) {
        return Err(ApiError::invalid("an ended or cancelled meeting cannot be edited; schedule a new one"));
    }
    let record = input.into_record(id, expected)?;
    let (stored, warnings) =
        save(&state, account.id, "meeting.update", move |s, _| s.update_meeting(&record, expected)).await?;
    Ok(with_etag(stored, StatusCode::OK, Some(warnings), state.config.signaling.end_grace_mins))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesInput {
    /// The first meeting (title, times of the first occurrence, participants...).
    meeting: MeetingInput,
    /// How it repeats.
    rule: crate::scheduling::recurrence::Rule,
    /// Occurrences cancelled or moved from the start, by planned date.
    #[serde(default)]
    exceptions: std::collections::BTreeMap<chrono::NaiveDate, crate::scheduling::recurrence::Exception>,
}

/// Creates every occurrence of a recurring meeting in one transaction.
async fn create_series(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<SeriesInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let Json(input) = body?;
    let first = input.meeting.into_record(String::new(), 1)?;
    let occurrences = crate::scheduling::recurrence::expand(
        first.start,
        first.end - first.start,
        &input.rule,
        &input.exceptions,
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
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
        let n = s.create_series(&id, &records, Some(&actor), crate::clock::unix_secs())?;
        let detail = format!("{n} occurrences");
        s.audit(NewAudit::done(&actor, "series.create", Some(&id), &detail), crate::clock::unix_secs())?;
        s.series_meetings(&id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"series": series, "meetings": stored}))).into_response())
}

async fn read_series(
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
struct Range {
    from: NaiveDateTime,
    to: NaiveDateTime,
}

async fn list(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_csv_parses_quotes_bom_and_chinese_kinds() {
        let csv = "\u{feff}id,parent,name,kind\ncounty,,某某县,县\nt1,county,\"城关镇, 镇政府\",乡镇\n\nv1,t1,城关镇会议室,会场\n";
        let units = parse_org_csv(csv).expect("parses");
        assert_eq!(units.len(), 3);
        assert_eq!(units[1].name, "城关镇, 镇政府");
        assert_eq!(units[2].kind, OrgKind::Venue);
        assert_eq!(units[0].parent, None);
    }

    #[test]
    fn org_csv_errors_name_the_line() {
        assert!(parse_org_csv("").is_err());
        assert!(parse_org_csv("a,b\n").expect_err("header").contains("id,parent,name,kind"));
        assert!(parse_org_csv("id,parent,name,kind\nx,,y\n").expect_err("columns").contains("line 2"));
        assert!(parse_org_csv("id,parent,name,kind\nx,,y,castle\n").expect_err("kind").contains("castle"));
    }
}
