//! Sessions: logging in (argon2id, lockout, every attempt audited with the
//! source address), logging out, and who is logged in.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::common::AppState;
use super::common::{blocking, hash_token, session_token, ApiError, SESSION_COOKIE};
use crate::services::login::{self, Checked};
use crate::store::{Account, AccountRole, NewAudit};

#[derive(Deserialize)]
pub(super) struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
pub(super) struct Me {
    id: String,
    username: String,
    display_name: String,
    role: AccountRole,
    /// `first_login` or `expired` when the password must change before
    /// anything else; null otherwise.
    password_change: Option<&'static str>,
    /// What a new password must be (for the form's hints).
    password_policy: serde_json::Value,
}

impl Me {
    fn of(a: &Account, state: &AppState) -> Self {
        let due =
            crate::services::passwords::change_due(a, &state.config.security, crate::clock::unix_secs());
        Me {
            id: a.id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role,
            password_change: due.map(|d| d.as_str()),
            password_policy: serde_json::json!({
                "min_length": state.config.security.password_min_length,
                "kinds": 3,
                "history": state.config.security.password_history,
                "max_age_days": state.config.security.password_max_age_days,
            }),
        }
    }
}

/// What every refused login says, whether the name is unknown, the password
/// wrong or the account locked: nobody learns which names exist.
const REFUSED: &str =
    "wrong username or password (after 5 failures in a row an account is locked for 15 minutes)";

pub(super) async fn login(
    State(state): State<AppState>,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let source = addr.map(|axum::Extension(ConnectInfo(a))| a.ip().to_string());
    let now = crate::clock::unix_secs();
    let secure = crate::tls::serves_tls(&state.config);
    // What the audit log keeps of the name typed: bounded (a flood of huge
    // names must not flood the log).
    let target: String = req.username.chars().take(MAX_USERNAME).collect();
    let checked = if req.username.chars().count() > MAX_USERNAME || req.password.len() > MAX_PASSWORD {
        Checked::Wrong { account: None, locked: false }
    } else {
        login::check(state.store.clone(), &state.hashing, req.username, req.password, now).await?
    };
    let (actor, outcome, detail, result) = match checked {
        Checked::Ok(account) => {
            let token = URL_SAFE_NO_PAD.encode(crate::token::random_bytes::<32>());
            (Some(account.id.clone()), "ok", "", Ok((token, account)))
        }
        Checked::Wrong { account: None, .. } => (None, "failed", "unknown user", Err(REFUSED)),
        Checked::Wrong { account: Some(a), locked } => {
            let detail = if locked { "wrong password; account locked" } else { "wrong password" };
            (Some(a.id), "failed", detail, Err(REFUSED))
        }
        Checked::Locked { account, .. } => (Some(account.id), "denied", "account locked", Err(REFUSED)),
        Checked::Busy => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many logins at once; try again in a moment",
            ))
        }
    };
    let session = result.as_ref().ok().map(|(token, account)| (hash_token(token), account.id.clone()));
    let lifetime = i64::from(state.config.security.session_hours) * 3600;
    let max_sessions = state.config.security.max_sessions;
    blocking(state.store.clone(), move |store| {
        store.audited(now, &mut |s| {
            if let Some((hash, id)) = &session {
                s.create_session(hash, id, now, now + lifetime, max_sessions)?;
            }
            let audit = NewAudit {
                actor: actor.as_deref(),
                action: "login",
                target: Some(target.as_str()),
                detail,
                source: source.as_deref(),
                outcome,
            };
            Ok(audit.owned())
        })
    })
    .await?;
    match result {
        Ok((token, account)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={lifetime}{}",
                if secure { "; Secure" } else { "" }
            );
            Ok(([(header::SET_COOKIE, cookie)], Json(Me::of(&account, &state))).into_response())
        }
        Err(message) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)),
    }
}

/// Longest username looked up (and kept in the audit log).
const MAX_USERNAME: usize = 64;
/// Longest password hashed.
const MAX_PASSWORD: usize = 1024;

pub(super) async fn me(State(state): State<AppState>, account: Account) -> Json<Me> {
    Json(Me::of(&account, &state))
}

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        blocking(state.store.clone(), move |s| s.delete_session(&hash_token(&token))).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], StatusCode::NO_CONTENT).into_response())
}
