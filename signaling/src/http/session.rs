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
use crate::auth::{attempt, Login};
use crate::store::{Account, AccountRole, NewAudit, StoreError};

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
    let result = blocking(state.store.clone(), move |store| {
        let audit = |actor: Option<&str>, outcome: &str, detail: &str| {
            store.audit(
                NewAudit {
                    actor,
                    action: "login",
                    target: Some(req.username.as_str()),
                    detail,
                    source: source.as_deref(),
                    outcome,
                },
                now,
            )
        };
        let account = match store.account_by_username(&req.username) {
            Ok(a) => a,
            Err(StoreError::NotFound(_)) => {
                audit(None, "failed", "unknown user")?;
                return Ok(Err("wrong username or password".to_string()));
            }
            Err(e) => return Err(e),
        };
        match attempt(&account, &req.password, now) {
            Login::Ok => {
                store.set_login_state(&account.id, 0, None)?;
                let token = URL_SAFE_NO_PAD.encode(crate::token::random_bytes::<32>());
                store.create_session(&hash_token(&token), &account.id, now, now + SESSION_SECS)?;
                audit(Some(&account.id), "ok", "")?;
                Ok(Ok((token, account)))
            }
            Login::Failed { failures, locked_until } => {
                store.set_login_state(&account.id, failures, locked_until)?;
                let detail =
                    if locked_until.is_some() { "wrong password; account locked" } else { "wrong password" };
                audit(Some(&account.id), "failed", detail)?;
                Ok(Err("wrong username or password".to_string()))
            }
            Login::Locked { until } => {
                audit(Some(&account.id), "denied", "account locked")?;
                let minutes = ((until - now) + 59) / 60;
                Ok(Err(format!("too many failed logins: the account is locked for {minutes} more minutes")))
            }
        }
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
