//! The organisation tree: read by every logged-in account, imported (CSV,
//! all or nothing) by an admin.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::AppState;
use super::common::{allow, blocking, ApiError};
use crate::permissions::Permission;
use crate::services::org;
use crate::store::{Account, NewAudit, OrgUnit};

pub(super) async fn tree(
    State(state): State<AppState>,
    _account: Account,
) -> Result<Json<Vec<OrgUnit>>, ApiError> {
    Ok(Json(blocking(state.store.clone(), |s| s.org_units()).await?))
}

/// CSV with a header line: `id,parent,name,kind` (kind: county, township,
/// department, venue, person, or 县/乡镇/部门/会场/人员).
pub(super) async fn import(
    State(state): State<AppState>,
    account: Account,
    body: String,
) -> Result<Response, ApiError> {
    allow(&account, Permission::Administer, None)?;
    let units = org::parse_csv(&body).map_err(ApiError::invalid)?;
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
