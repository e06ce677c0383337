//! Meeting templates (the same venues every week).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::common::{blocking, may_schedule, ApiError, AppState};
use crate::store::{Account, NewAudit, Template};

pub(super) async fn list(
    State(state): State<AppState>,
    account: Account,
) -> Result<Json<Vec<Template>>, ApiError> {
    may_schedule(&account)?;
    Ok(Json(blocking(state.store.clone(), |s| s.templates()).await?))
}

pub(super) async fn create(
    State(state): State<AppState>,
    account: Account,
    body: Result<Json<Template>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_schedule(&account)?;
    let Json(mut t) = body?;
    t.name = t.name.trim().to_string();
    if t.name.is_empty() || t.name.chars().count() > 100 {
        return Err(ApiError::invalid("a template's name must be 1 to 100 characters"));
    }
    if !crate::services::text::is_plain(&t.name) || !crate::services::text::is_plain(&t.title) {
        return Err(ApiError::invalid("names and titles may not contain control characters"));
    }
    if t.title.trim().is_empty() || t.title.chars().count() > 200 {
        return Err(ApiError::invalid("the title must be 1 to 200 characters"));
    }
    if !(1..=24 * 60).contains(&t.duration_min) || !(0..=24 * 60).contains(&t.open_before_min) {
        return Err(ApiError::invalid("duration_min must be 1 to 1440 and open_before_min 0 to 1440"));
    }
    if t.participants.len() > 1000 {
        return Err(ApiError::invalid("at most 1000 participants"));
    }
    t.id = crate::token::random_id(9);
    let actor = account.id;
    let stored = t.clone();
    blocking(state.store.clone(), move |s| {
        let org = s.org_units()?;
        if let Some(unknown) = t.participants.iter().find(|p| !org.iter().any(|u| &u.id == *p)) {
            return Err(crate::store::StoreError::Invalid(format!("unknown venue or person {unknown:?}")));
        }
        let now = crate::clock::unix_secs();
        s.audited(now, &mut |s| {
            s.create_template(&t, Some(&actor), now)?;
            Ok(NewAudit::done(&actor, "template.create", Some(&t.id), &t.name).owned())
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

pub(super) async fn remove(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    may_schedule(&account)?;
    let actor = account.id;
    blocking(state.store.clone(), move |s| {
        s.audited(crate::clock::unix_secs(), &mut |s| {
            s.delete_template(&id)?;
            Ok(NewAudit::done(&actor, "template.delete", Some(&id), "").owned())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
