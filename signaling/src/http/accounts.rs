//! Accounts: the list the console picks chairs from (secretary, admin),
//! creating venue-terminal and person accounts and changing roles (admin).
//! Every change is audited.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::common::AppState;
use super::common::{allow, blocking, ApiError};
use crate::permissions::Permission;
use crate::services::login::{self, Checked};
use crate::store::{Account, AccountRole, NewAudit, OrgKind, StoreError};

fn public(a: &Account) -> serde_json::Value {
    json!({"id": a.id, "username": a.username, "display_name": a.display_name, "role": a.role, "org_unit": a.org_unit})
}

fn admin_only(a: &Account) -> Result<(), ApiError> {
    allow(a, Permission::Administer, None)
}

#[derive(Deserialize)]
pub(super) struct RoleFilter {
    role: Option<AccountRole>,
}

/// Accounts (no secrets), optionally of one role; secretary or admin.
pub(super) async fn list(
    State(state): State<AppState>,
    account: Account,
    filter: Result<Query<RoleFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    allow(&account, Permission::ListAccounts, None)?;
    let Query(filter) =
        filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let all = blocking(state.store.clone(), |s| s.accounts()).await?;
    let list: Vec<_> = all.iter().filter(|a| filter.role.is_none_or(|r| a.role == r)).map(public).collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    username: String,
    display_name: String,
    role: AccountRole,
    #[serde(default)]
    org_unit: Option<String>,
    password: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    admin: Account,
    body: Result<Json<NewAccount>, JsonRejection>,
) -> Result<Response, ApiError> {
    admin_only(&admin)?;
    let Json(input) = body?;
    let username = input.username.trim().to_string();
    if username.is_empty() || username.chars().count() > 64 || username.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("a username is 1 to 64 characters without spaces"));
    }
    if !crate::services::text::is_plain(&input.display_name)
        || !crate::services::text::is_plain(&input.username)
    {
        return Err(ApiError::invalid("names may not contain control characters"));
    }
    if input.display_name.trim().is_empty() || input.display_name.chars().count() > 64 {
        return Err(ApiError::invalid("a display name is 1 to 64 characters"));
    }
    if input.password.chars().count() < 10 {
        return Err(ApiError::invalid("a password has at least 10 characters"));
    }
    let account = Account {
        id: crate::token::random_id(12),
        username,
        display_name: input.display_name.trim().to_string(),
        role: input.role,
        org_unit: input.org_unit.filter(|u| !u.trim().is_empty()),
        password_hash: crate::auth::hash_password(&input.password),
        failed_logins: 0,
        locked_until: None,
    };
    let actor = admin.id;
    let stored = account.clone();
    blocking(state.store.clone(), move |s| {
        let org = s.org_units()?;
        let unit = match &account.org_unit {
            Some(id) => Some(
                org.iter()
                    .find(|u| &u.id == id)
                    .ok_or_else(|| StoreError::Invalid(format!("unknown organisation unit {id:?}")))?,
            ),
            None => None,
        };
        match (account.role, unit.map(|u| u.kind)) {
            (AccountRole::Venue, Some(OrgKind::Venue))
            | (AccountRole::Participant, None | Some(OrgKind::Person)) => {}
            (AccountRole::Venue, _) => {
                return Err(StoreError::Invalid("a venue terminal account needs its venue (org_unit)".into()))
            }
            (AccountRole::Participant, Some(_)) => {
                return Err(StoreError::Invalid("a participant's org_unit must be a person".into()))
            }
            _ => {}
        }
        let now = crate::clock::unix_secs();
        s.create_account(&account, now)?;
        s.audit(NewAudit::done(&actor, "account.create", Some(&account.username), account.role.as_str()), now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(public(&stored))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleChange {
    role: AccountRole,
}

/// A permission change: recorded in the audit log with the old and new role.
pub(super) async fn set_role(
    State(state): State<AppState>,
    admin: Account,
    Path(id): Path<String>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    admin_only(&admin)?;
    let Json(change) = body?;
    if id == admin.id && change.role != AccountRole::Admin {
        return Err(ApiError::invalid("an admin cannot take away its own admin role"));
    }
    let actor = admin.id;
    blocking(state.store.clone(), move |s| {
        let old = s
            .accounts()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        s.set_role(&id, change.role)?;
        let detail = format!("{} → {}", old.role.as_str(), change.role.as_str());
        s.audit(
            NewAudit::done(&actor, "account.role", Some(&old.username), &detail),
            crate::clock::unix_secs(),
        )
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    old: String,
    new: String,
}

/// Changes the logged-in account's password (the first admin's one-time
/// password first of all). A wrong old password counts as a failed login.
pub(super) async fn change_password(
    State(state): State<AppState>,
    account: Account,
    headers: HeaderMap,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(change) = body?;
    if change.new.chars().count() < 10 {
        return Err(ApiError::invalid("a password has at least 10 characters"));
    }
    let keep =
        super::common::session_token(&headers).map(|t| super::common::hash_token(&t)).unwrap_or_default();
    let now = crate::clock::unix_secs();
    let checked =
        login::check(state.store.clone(), &state.hashing, account.username.clone(), change.old, now).await?;
    let (outcome, detail, result) = match checked {
        Checked::Ok(_) => ("ok", "", Ok(())),
        Checked::Wrong { .. } => ("failed", "wrong current password", Err("the current password is wrong")),
        Checked::Locked { .. } => {
            ("denied", "account locked", Err("too many failed attempts: the account is locked for now"))
        }
        Checked::Busy => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many logins at once"))
        }
    };
    let new_hash = result.is_ok().then(|| crate::auth::hash_password(&change.new));
    let outcome = blocking(state.store.clone(), move |s| {
        if let Some(hash) = &new_hash {
            s.set_password(&account.id, hash, &keep)?;
        }
        let audit = NewAudit {
            actor: Some(&account.id),
            action: "account.password",
            target: Some(&account.username),
            detail,
            outcome,
            ..Default::default()
        };
        s.audit(audit, now)?;
        Ok(result)
    })
    .await?;
    outcome.map(|()| StatusCode::NO_CONTENT).map_err(ApiError::forbidden)
}
