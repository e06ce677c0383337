//! REST API under `/api/v1` (JSON, one error shape): sessions and the audit
//! log so far. Every login, success or not, lands in the audit log with the
//! source address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{attempt, Login};
use crate::http::AppState;
use crate::permissions::Permission;
use crate::store::{Account, AccountRole, MeetingRecord, NewAudit, Store, StoreError};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "huiyi_session";
/// Session lifetime (seconds).
const SESSION_SECS: i64 = 12 * 3600;
/// Largest request body accepted by the API.
pub const MAX_BODY: usize = 64 * 1024;

/// The one error shape: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl ApiError {
    /// 403 with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 422 with a reason.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
            }
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "conflict", e.to_string())
            }
            StoreError::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, "duplicate", e.to_string()),
            StoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            StoreError::Db(m) => {
                tracing::error!(error = %m, "database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not do it; try again",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let status =
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE { e.status() } else { StatusCode::BAD_REQUEST };
        ApiError::new(status, "bad_request", e.body_text())
    }
}

/// The API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/audit", get(audit))
        .merge(super::meetings::routes())
        .merge(super::attendance::routes())
        .merge(super::lifecycle::routes())
        .merge(super::export::routes())
        .merge(super::templates::routes())
        .merge(super::accounts::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Me {
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

pub(super) fn hash_token(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Runs a store operation off the async threads.
pub async fn blocking<T: Send + 'static>(
    store: Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not do it")
        })?
        .map_err(ApiError::from)
}

async fn login(
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

pub(super) fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Refuses (403) unless `account` may do `what` (to `meeting`).
pub fn allow(account: &Account, what: Permission, meeting: Option<&MeetingRecord>) -> Result<(), ApiError> {
    if account.may(what, meeting) {
        Ok(())
    } else {
        Err(ApiError::forbidden(what.denial()))
    }
}

/// The logged-in account as a handler argument (401 without a session).
impl axum::extract::FromRequestParts<AppState> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current_account(state, &parts.headers).await
    }
}

/// The account behind the request's session cookie.
pub async fn current_account(state: &AppState, headers: &HeaderMap) -> Result<Account, ApiError> {
    let token = session_token(headers)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "please log in"))?;
    let now = crate::clock::unix_secs();
    blocking(state.store.clone(), move |s| s.session_account(&hash_token(&token), now)).await.map_err(|e| {
        match e.status {
            StatusCode::NOT_FOUND => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the session has expired; please log in",
            ),
            _ => e,
        }
    })
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me::from(&current_account(&state, &headers).await?)))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        blocking(state.store.clone(), move |s| s.delete_session(&hash_token(&token))).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], StatusCode::NO_CONTENT).into_response())
}

async fn audit(State(state): State<AppState>, account: Account) -> Result<Response, ApiError> {
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
