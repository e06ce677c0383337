//! Accounts. The system administrator creates the accounts of the people
//! who use meetings; the security administrator changes their roles,
//! unlocks them, resets their passwords and ends their sessions; everyone
//! changes their own password. No one can make, change or touch an
//! administrator's account here (ADR 0009). Every change is audited in the
//! same transaction as the change.

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
use crate::services::passwords;
use crate::store::{Account, AccountRole, NewAudit, OrgKind, PasswordSet, StoreError};

fn public(a: &Account) -> serde_json::Value {
    json!({
        "id": a.id, "username": a.username, "display_name": a.display_name, "role": a.role,
        "org_unit": a.org_unit, "locked_until": a.locked_until, "must_change_password": a.must_change_password,
    })
}

fn busy() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many password checks at once; try again")
}

#[derive(Deserialize)]
pub(super) struct RoleFilter {
    role: Option<AccountRole>,
}

/// Accounts (no secrets), optionally of one role.
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
    /// The first password; without it the server makes a one-time password
    /// and returns it once. Either way it must be changed at the first login.
    #[serde(default)]
    password: Option<String>,
}

/// Whether a role fits the account's node of the organisation.
fn check_unit(role: AccountRole, unit: Option<OrgKind>) -> Result<(), StoreError> {
    match (role, unit) {
        (AccountRole::Venue, Some(OrgKind::Venue))
        | (AccountRole::Participant, None | Some(OrgKind::Person)) => Ok(()),
        (AccountRole::Venue, _) => {
            Err(StoreError::Invalid("a venue terminal account needs its venue (org_unit)".into()))
        }
        (AccountRole::Participant, Some(_)) => {
            Err(StoreError::Invalid("a participant's org_unit must be a person".into()))
        }
        _ => Ok(()),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    admin: Account,
    body: Result<Json<NewAccount>, JsonRejection>,
) -> Result<Response, ApiError> {
    allow(&admin, Permission::CreateAccounts, None)?;
    let Json(input) = body?;
    if input.role.is_administrator() {
        return Err(ApiError::denied(
            &admin,
            "administrator accounts are made on the server (huiyi admin create)",
        ));
    }
    let username = crate::services::accounts::check_names(&input.username, &input.display_name)
        .map_err(ApiError::invalid)?;
    let (password, generated) = match input.password {
        Some(p) => {
            passwords::check_strength(&p, &username, state.config.security.password_min_length)
                .map_err(ApiError::invalid)?;
            (p, false)
        }
        None => (crate::auth::one_time_password(), true),
    };
    let hash = state.hashing.hash(password.clone()).await.ok_or_else(busy)?;
    let account = Account {
        id: crate::token::random_id(12),
        username,
        display_name: input.display_name.trim().to_string(),
        role: input.role,
        org_unit: input.org_unit.filter(|u| !u.trim().is_empty()),
        password_hash: hash,
        failed_logins: 0,
        locked_until: None,
        must_change_password: true,
        password_changed_at: None,
    };
    let actor = admin.id;
    let stored = account.clone();
    let now = crate::clock::unix_secs();
    blocking(state.store.clone(), move |s| {
        s.audited(now, &mut |s| {
            let org = s.org_units()?;
            let unit = match &account.org_unit {
                Some(id) => Some(
                    org.iter()
                        .find(|u| &u.id == id)
                        .ok_or_else(|| StoreError::Invalid(format!("unknown organisation unit {id:?}")))?,
                ),
                None => None,
            };
            check_unit(account.role, unit.map(|u| u.kind))?;
            s.create_account(&account, now)?;
            Ok(NewAudit::done(&actor, "account.create", Some(&account.username), account.role.as_str())
                .owned())
        })
    })
    .await?;
    let mut body = public(&stored);
    if generated {
        body["one_time_password"] = json!(password);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The account `id` for the security administrator: never an administrator's.
async fn managed(state: &AppState, security: &Account, id: String) -> Result<Account, ApiError> {
    allow(security, Permission::ManageAccounts, None)?;
    let target = blocking(state.store.clone(), move |s| s.account_by_id(&id)).await?;
    if target.role.is_administrator() {
        return Err(ApiError::denied(security, "administrator accounts are managed on the server only"));
    }
    Ok(target)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleChange {
    role: AccountRole,
}

/// A permission change: recorded with the old and new role.
pub(super) async fn set_role(
    State(state): State<AppState>,
    security: Account,
    Path(id): Path<String>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let target = managed(&state, &security, id).await?;
    let Json(change) = body?;
    if change.role.is_administrator() {
        return Err(ApiError::denied(&security, "no account becomes an administrator through the API"));
    }
    let actor = security.id;
    blocking(state.store.clone(), move |s| {
        let unit = match &target.org_unit {
            Some(id) => s.all_org_units()?.into_iter().find(|u| &u.id == id).map(|u| u.kind),
            None => None,
        };
        check_unit(change.role, unit)?;
        s.audited(crate::clock::unix_secs(), &mut |s| {
            s.set_role(&target.id, change.role)?;
            let detail = format!("{} → {}", target.role.as_str(), change.role.as_str());
            Ok(NewAudit::done(&actor, "account.role", Some(&target.username), &detail).owned())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a lockout.
pub(super) async fn unlock(
    State(state): State<AppState>,
    security: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let target = managed(&state, &security, id).await?;
    blocking(state.store.clone(), move |s| {
        s.audited(crate::clock::unix_secs(), &mut |s| {
            s.set_login_state(&target.id, 0, None)?;
            Ok(NewAudit::done(&security.id, "account.unlock", Some(&target.username), "").owned())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new one-time password (returned once, never logged); the account's
/// sessions end and it must set its own password at the next login.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    security: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let target = managed(&state, &security, id).await?;
    let password = crate::auth::one_time_password();
    let hash = state.hashing.hash(password.clone()).await.ok_or_else(busy)?;
    let history = state.config.security.password_history;
    blocking(state.store.clone(), move |s| {
        let now = crate::clock::unix_secs();
        s.audited(now, &mut |s| {
            let set = PasswordSet { hash: &hash, keep_session: "", now, must_change: true, history };
            s.set_password(&target.id, &set)?;
            Ok(NewAudit::done(&security.id, "account.password_reset", Some(&target.username), "").owned())
        })
    })
    .await?;
    Ok(Json(json!({"one_time_password": password})).into_response())
}

/// Ends every session of the account (a lost laptop).
pub(super) async fn end_sessions(
    State(state): State<AppState>,
    security: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let target = managed(&state, &security, id).await?;
    let mut ended = 0;
    let ended = blocking(state.store.clone(), move |s| {
        s.audited(crate::clock::unix_secs(), &mut |s| {
            ended = s.end_sessions(&target.id)?;
            let detail = format!("{ended} sessions");
            Ok(NewAudit::done(&security.id, "account.sessions_end", Some(&target.username), &detail).owned())
        })?;
        Ok(ended)
    })
    .await?;
    Ok(Json(json!({"ended": ended})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    old: String,
    new: String,
}

/// Changes the logged-in account's password (a one-time password first of
/// all): the policy's strength, none of the recent passwords, the current
/// one right (a wrong one counts as a failed login). Other sessions end.
pub(super) async fn change_password(
    State(state): State<AppState>,
    account: Account,
    headers: HeaderMap,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(change) = body?;
    let policy = &state.config.security;
    passwords::check_strength(&change.new, &account.username, policy.password_min_length)
        .map_err(ApiError::invalid)?;
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
        Checked::Busy => return Err(busy()),
    };
    let mut new_hash = None;
    if result.is_ok() {
        let id = account.id.clone();
        let mut recent = blocking(state.store.clone(), move |s| s.password_history(&id)).await?;
        recent.truncate((policy.password_history as usize).saturating_sub(1));
        recent.push(account.password_hash.clone());
        if state.hashing.matches_any(change.new.clone(), recent).await.ok_or_else(busy)? {
            return Err(ApiError::invalid(format!(
                "choose a password different from your last {} ones",
                policy.password_history.max(1)
            )));
        }
        new_hash = Some(state.hashing.hash(change.new).await.ok_or_else(busy)?);
    }
    let history = policy.password_history;
    blocking(state.store.clone(), move |s| {
        s.audited(now, &mut |s| {
            if let Some(hash) = &new_hash {
                let set = PasswordSet { hash, keep_session: &keep, now, must_change: false, history };
                s.set_password(&account.id, &set)?;
            }
            let audit = NewAudit {
                actor: Some(&account.id),
                action: "account.password",
                target: Some(&account.username),
                detail,
                outcome,
                ..Default::default()
            };
            Ok(audit.owned())
        })
    })
    .await?;
    result.map(|()| StatusCode::NO_CONTENT).map_err(ApiError::forbidden)
}
