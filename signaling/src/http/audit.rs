//! The audit log, for the auditor alone; a denied read is itself recorded.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::AppState;
use super::common::{blocking, ApiError};
use crate::permissions::Permission;
use crate::store::{Account, NewAudit};

pub(super) async fn audit(State(state): State<AppState>, account: Account) -> Result<Response, ApiError> {
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
    let entries = blocking(state.store.clone(), |s| s.audit_log(500)).await?;
    Ok(Json(json!({"entries": entries})).into_response())
}
