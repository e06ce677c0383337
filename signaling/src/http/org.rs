//! The organisation tree: read by every logged-in account; imported (CSV,
//! all or nothing), moved, renamed and retired by the system administrator.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::common::AppState;
use super::common::{allow, blocking, ApiError};
use crate::permissions::Permission;
use crate::services::org;
use crate::store::{Account, NewAudit, StoreError};

#[derive(Deserialize)]
pub(super) struct TreeQuery {
    #[serde(default)]
    include_retired: bool,
}

/// The tree; `?include_retired=true` adds retired units with `retired: true`
/// (the names of past meetings' venues).
pub(super) async fn tree(
    State(state): State<AppState>,
    _account: Account,
    query: Result<axum::extract::Query<TreeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    if !query.include_retired {
        return Ok(Json(blocking(state.store.clone(), |s| s.org_units()).await?).into_response());
    }
    let (live, all) = blocking(state.store.clone(), |s| Ok((s.org_units()?, s.all_org_units()?))).await?;
    let units: Vec<serde_json::Value> = all
        .iter()
        .map(|u| {
            let mut v = serde_json::to_value(u).unwrap_or_default();
            v["retired"] = json!(!live.iter().any(|l| l.id == u.id));
            v
        })
        .collect();
    Ok(Json(units).into_response())
}

/// CSV with a header line: `id,parent,name,kind` (kind: county, township,
/// department, venue, person, or 县/乡镇/部门/会场/人员).
pub(super) async fn import(
    State(state): State<AppState>,
    account: Account,
    body: String,
) -> Result<Response, ApiError> {
    allow(&account, Permission::ManageOrg, None)?;
    let units = org::parse_csv(&body).map_err(ApiError::invalid)?;
    let actor = account.id.clone();
    let max = state.meetings.limits().cfg.org_units;
    let over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let over_in = over.clone();
    let mut n = 0;
    let imported = blocking(state.store.clone(), move |s| {
        s.audited(crate::clock::unix_secs(), &mut |s| {
            n = s.import_org(&units)?;
            // Counted after the import, in its transaction: over the limit,
            // nothing of it is kept.
            let total = s.org_units()?.len();
            if total > max {
                over_in.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(StoreError::Invalid(format!(
                    "the organisation would have {total} units; this server keeps at most {max} (limits.org_units)"
                )));
            }
            Ok(NewAudit::done(&actor, "org.import", None, &format!("{n} units")).owned())
        })?;
        Ok(n)
    })
    .await;
    if over.load(std::sync::atomic::Ordering::Relaxed) {
        state.meetings.limits().refused(crate::limits::Limit::OrgUnits);
    }
    let n = imported?;
    Ok(Json(json!({"imported": n})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Move {
    parent: Option<String>,
    name: String,
}

/// Moves a unit under another parent and/or renames it (`{"parent", "name"}`);
/// a move that would make it its own ancestor is refused (422).
pub(super) async fn update(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    body: Result<Json<Move>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    allow(&account, Permission::ManageOrg, None)?;
    let Json(change) = body?;
    let name = change.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || !crate::services::text::is_plain(&name) {
        return Err(ApiError::invalid("a unit's name is 1 to 100 characters without control characters"));
    }
    let parent = change.parent.filter(|p| !p.trim().is_empty());
    blocking(state.store.clone(), move |s| {
        s.audited(crate::clock::unix_secs(), &mut |s| {
            s.move_org_unit(&id, parent.as_deref(), &name)?;
            let detail = format!("parent {} name {name}", parent.as_deref().unwrap_or("-"));
            Ok(NewAudit::done(&account.id, "org.move", Some(&id), &detail).owned())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retires a unit nothing current refers to (refused with 422 naming what
/// does); past meetings keep its name.
pub(super) async fn retire(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    allow(&account, Permission::ManageOrg, None)?;
    let now = crate::clock::unix_secs();
    let today =
        crate::scheduling::local_from_unix(now).ok_or_else(|| ApiError::invalid("the clock is off"))?;
    blocking(state.store.clone(), move |s| {
        s.audited(now, &mut |s| {
            s.retire_org_unit(&id, today, now)?;
            Ok(NewAudit::done(&account.id, "org.retire", Some(&id), "").owned())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
