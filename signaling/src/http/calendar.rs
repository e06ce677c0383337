//! Calendars: one meeting as iCalendar, and each account's subscribable
//! feed (a capability URL: the account id and an HMAC under the server key).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::common::AppState;
use super::common::{blocking, calendar_event, may_see, ApiError};
use crate::store::Account;

pub(super) async fn ics(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, m) = super::common::visible_meeting(&state, account, id).await?;
    let body = crate::scheduling::ics::calendar(&[calendar_event(&m)], crate::clock::unix_secs());
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response())
}

/// The logged-in account's calendar feed address (a secret URL calendar
/// programs can subscribe to without logging in).
pub(super) async fn my_feed(State(state): State<AppState>, account: Account) -> Result<Response, ApiError> {
    let key = format!("{}.{}", account.id, state.signer.tag(&format!("feed:{}", account.id)));
    let url = format!("{}/api/v1/feeds/{key}.ics", super::common::public_base_url(&state.config));
    Ok(Json(serde_json::json!({"url": url})).into_response())
}

/// A calendar of the meetings the feed's account may see, from 90 days ago
/// to a year ahead.
pub(super) async fn feed(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let refused = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such calendar feed");
    let (id, tag) = key.strip_suffix(".ics").and_then(|k| k.split_once('.')).ok_or_else(refused)?;
    if !state.signer.check_tag(&format!("feed:{id}"), tag) {
        return Err(refused());
    }
    let id = id.to_string();
    let now = crate::clock::unix_secs();
    let today = crate::scheduling::local_from_unix(now).ok_or_else(refused)?;
    let (from, to) = (today - chrono::Duration::days(90), today + chrono::Duration::days(365));
    let (account, meetings) = blocking(state.store.clone(), move |s| {
        let account = s.accounts()?.into_iter().find(|a| a.id == id);
        Ok((account, s.meetings_between(from, to)?))
    })
    .await?;
    let account = account.ok_or_else(refused)?;
    let visible: Vec<_> = meetings.iter().filter(|m| may_see(&account, m).is_ok()).collect();
    let events: Vec<_> = visible.iter().map(|m| calendar_event(m)).collect();
    let body = crate::scheduling::ics::calendar(&events, now);
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response())
}
