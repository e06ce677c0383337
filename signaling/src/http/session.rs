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
use super::common::{blocking, hash_token, session_token, ApiError, SESSION_COOKIE, SESSION_SECS};
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
}

impl From<&Account> for Me {
    fn from(a: &Account) -> Self {
        Me {
            id: a.id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role,
        }
    }
}

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
        Checked::Wrong { account: None, .. } => {
            (None, "failed", "unknown user", Err("wrong username or password".to_string()))
        }
        Checked::Wrong { account: Some(a), locked } => {
            let detail = if locked { "wrong password; account locked" } else { "wrong password" };
            (Some(a.id), "failed", detail, Err("wrong username or password".to_string()))
        }
        Checked::Locked { account, until } => {
            let minutes = ((until - now) + 59) / 60;
            let message = format!("too many failed logins: the account is locked for {minutes} more minutes");
            (Some(account.id), "denied", "account locked", Err(message))
        }
        Checked::Busy => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many logins at once; try again in a moment",
            ))
        }
    };
    let session = result.as_ref().ok().map(|(token, account)| (hash_token(token), account.id.clone()));
    blocking(state.store.clone(), move |store| {
        if let Some((hash, id)) = &session {
            store.create_session(hash, id, now, now + SESSION_SECS)?;
        }
        let audit = NewAudit {
            actor: actor.as_deref(),
            action: "login",
            target: Some(target.as_str()),
            detail,
            source: source.as_deref(),
            outcome,
        };
        store.audit(audit, now)
    })
    .await?;
    match result {
        Ok((token, account)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{}",
                if secure { "; Secure" } else { "" }
            );
            Ok(([(header::SET_COOKIE, cookie)], Json(Me::from(&account))).into_response())
        }
        Err(message) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)),
    }
}

/// Longest username looked up (and kept in the audit log).
const MAX_USERNAME: usize = 64;
/// Longest password hashed.
const MAX_PASSWORD: usize = 1024;

pub(super) async fn me(account: Account) -> Json<Me> {
    Json(Me::from(&account))
}

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        blocking(state.store.clone(), move |s| s.delete_session(&hash_token(&token))).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], StatusCode::NO_CONTENT).into_response())
}
