//! The audit log, for the audit administrator alone: pages with filters,
//! a CSV export (itself recorded), and a walk of the hash chain. Refusals
//! are recorded by the guard like every other.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::AppState;
use super::common::{allow, blocking, ApiError};
use crate::permissions::Permission;
use crate::store::{Account, AuditFilter, NewAudit};

/// `?before=SEQ&limit=N&actor=USERNAME&action=PREFIX&outcome=ok|failed|denied&from=UNIX&to=UNIX`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    before: Option<i64>,
    limit: Option<i64>,
    /// A username (or an account id).
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// Records in one page at most.
const PAGE: i64 = 500;
/// Records in one export at most.
const EXPORT: i64 = 100_000;

type PageQuery = Result<Query<Page>, axum::extract::rejection::QueryRejection>;

/// The filter the query asks for; an actor given by username is looked up.
async fn filter(state: &AppState, page: PageQuery, limit: i64) -> Result<AuditFilter, ApiError> {
    let Query(page) =
        page.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    if let Some(o) = &page.outcome {
        if !matches!(o.as_str(), "ok" | "failed" | "denied") {
            return Err(ApiError::invalid("outcome is ok, failed or denied"));
        }
    }
    let actor = match page.actor.filter(|a| !a.is_empty()) {
        Some(name) => {
            let lookup = name.clone();
            let found = blocking(state.store.clone(), move |s| match s.account_by_username(&lookup) {
                Ok(a) => Ok(Some(a.id)),
                Err(crate::store::StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            Some(found.unwrap_or(name))
        }
        None => None,
    };
    Ok(AuditFilter {
        before: page.before,
        limit: page.limit.unwrap_or(limit).clamp(1, limit),
        actor,
        action: page.action.filter(|a| !a.is_empty()),
        outcome: page.outcome,
        from: page.from,
        to: page.to,
    })
}

pub(super) async fn audit(
    State(state): State<AppState>,
    account: Account,
    page: PageQuery,
) -> Result<Response, ApiError> {
    allow(&account, Permission::ReadAudit, None)?;
    let f = filter(&state, page, PAGE).await?;
    let limit = f.limit;
    let entries = blocking(state.store.clone(), move |s| s.audit_page(&f)).await?;
    // The next page starts below the oldest record of this one.
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(Json(json!({"entries": entries, "next": next})).into_response())
}

/// The records matching the filters as CSV (newest first, at most 100 000);
/// the export is recorded before it is sent.
pub(super) async fn export(
    State(state): State<AppState>,
    account: Account,
    page: PageQuery,
) -> Result<Response, ApiError> {
    allow(&account, Permission::ReadAudit, None)?;
    let f = filter(&state, page, EXPORT).await?;
    let now = crate::clock::unix_secs();
    let entries = blocking(state.store.clone(), move |s| {
        let entries = s.audit_page(&f)?;
        let detail = format!("{} records", entries.len());
        s.audit(NewAudit::done(&account.id, "audit.export", None, &detail), now)?;
        Ok(entries)
    })
    .await?;
    let mut csv = String::from("\u{feff}seq,at,actor,action,target,detail,source,outcome\r\n");
    for e in &entries {
        let at = crate::scheduling::local_from_unix(e.at).map(|t| t.to_string()).unwrap_or_default();
        let cells = [
            e.seq.to_string(),
            at,
            e.actor_name.clone().or_else(|| e.actor.clone()).unwrap_or_default(),
            e.action.clone(),
            e.target.clone().unwrap_or_default(),
            e.detail.clone(),
            e.source.clone().unwrap_or_default(),
            e.outcome.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| crate::services::text::csv_cell(c)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        csv,
    )
        .into_response())
}

/// Walks the hash chain: `records`, `broken_at` (null when intact),
/// `head_seq`, `head_hash`.
pub(super) async fn verify(State(state): State<AppState>, account: Account) -> Result<Response, ApiError> {
    allow(&account, Permission::ReadAudit, None)?;
    let report = blocking(state.store.clone(), |s| s.audit_verify()).await?;
    Ok(Json(report).into_response())
}
