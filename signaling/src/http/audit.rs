//! The audit log, for the auditor alone; a denied read is itself recorded.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::AppState;
use super::common::{blocking, ApiError};
use crate::permissions::Permission;
use crate::store::{Account, NewAudit};

/// `?before=SEQ&limit=N`: a page of the log, newest first.
#[derive(serde::Deserialize)]
pub(super) struct Page {
    before: Option<i64>,
    limit: Option<i64>,
}

/// Records in one page at most.
const PAGE: i64 = 500;

pub(super) async fn audit(
    State(state): State<AppState>,
    account: Account,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !account.may(Permission::ReadAudit, None) {
        let (id, now) = (account.id.clone(), crate::clock::unix_secs());
        blocking(state.store.clone(), move |s| {
            s.audit(
                NewAudit { actor: Some(&id), action: "audit.read", outcome: "denied", ..Default::default() },
                now,
            )
        })
        .await?;
        return Err(ApiError::forbidden(Permission::ReadAudit.denial()));
    }
    let Query(page) =
        page.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let limit = page.limit.unwrap_or(PAGE).clamp(1, PAGE);
    let before = page.before;
    let entries = blocking(state.store.clone(), move |s| s.audit_page(before, limit)).await?;
    // The next page starts below the oldest record of this one.
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(Json(json!({"entries": entries, "next": next})).into_response())
}
