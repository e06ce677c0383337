//! What every resource's handlers share: the one error shape, the
//! logged-in account (an extractor) and permission checks, store calls off
//! the async threads, a meeting the account may read, time and URL text.
//! Resource modules import this and the domain, never each other.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

use huiyi_config::Config;

use huiyi_sfu::SfuHandle;

use crate::meeting::Meetings;
use crate::permissions::Permission;
use crate::store::{Account, MeetingRecord, Store, StoreError};
use crate::token::Signer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The media plane.
    pub media: SfuHandle,
    /// Live meetings.
    pub meetings: Meetings,
    /// Verifies join tokens.
    pub signer: Signer,
    /// The configuration.
    pub config: Arc<Config>,
    /// Accounts, meetings, audit log.
    pub store: Arc<dyn crate::store::Store>,
    /// Bounds password hashing (logins, password changes).
    pub hashing: Arc<crate::services::login::Hashing>,
}

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "huiyi_session";

/// Largest request body accepted by the API.
pub const MAX_BODY: usize = 64 * 1024;

/// The one error shape: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// A refusal by the permission model, of this account: the guard
    /// records it in the audit log.
    denied: Option<String>,
}

/// On a response: the permission model refused this account (id) this.
#[derive(Debug, Clone)]
pub struct Denied {
    /// The account.
    pub actor: String,
    /// Why.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), denied: None }
    }

    /// 403: the permission model refuses `account` this (audited).
    pub fn denied(account: &Account, message: impl Into<String>) -> Self {
        Self { denied: Some(account.id.clone()), ..ApiError::forbidden(message) }
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
        let mut response =
            (self.status, Json(json!({"error": {"code": self.code, "message": &self.message}})))
                .into_response();
        if let Some(actor) = self.denied {
            response.extensions_mut().insert(Denied { actor, message: self.message });
        }
        response
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

pub fn hash_token(token: &str) -> String {
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

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Records that `actor` took `what` (an export, the invitation links) of
/// `target` out of the server, before it is sent.
pub async fn record_export(
    state: &AppState,
    actor: String,
    what: &'static str,
    target: String,
) -> Result<(), ApiError> {
    let now = crate::clock::unix_secs();
    blocking(state.store.clone(), move |s| {
        s.audit(crate::store::NewAudit::done(&actor, what, Some(&target), ""), now)
    })
    .await
}

/// Refuses (403) unless `account` may do `what` (to `meeting`).
pub fn allow(account: &Account, what: Permission, meeting: Option<&MeetingRecord>) -> Result<(), ApiError> {
    if account.may(what, meeting) {
        Ok(())
    } else {
        Err(ApiError::denied(account, what.denial()))
    }
}

/// The logged-in account as a handler argument (401 without a session).
impl axum::extract::FromRequestParts<AppState> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let account = current_account(state, &parts.headers).await?;
        // An account whose password must change first may do only that
        // (and see who it is, and log out).
        let exempt = matches!(parts.uri.path(), "/api/v1/me" | "/api/v1/me/password" | "/api/v1/logout");
        if !exempt {
            if let Some(why) = crate::services::passwords::change_due(
                &account,
                &state.config.security,
                crate::clock::unix_secs(),
            ) {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "password_change_required", why.message()));
            }
        }
        Ok(account)
    }
}

/// The account behind the request's session cookie.
async fn current_account(state: &AppState, headers: &HeaderMap) -> Result<Account, ApiError> {
    let token = session_token(headers)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "please log in"))?;
    let now = crate::clock::unix_secs();
    let idle = i64::from(state.config.security.session_idle_mins) * 60;
    blocking(state.store.clone(), move |s| s.session_account(&hash_token(&token), now, idle)).await.map_err(
        |e| match e.status {
            StatusCode::NOT_FOUND => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the session has expired; please log in",
            ),
            _ => e,
        },
    )
}

/// Secretaries and admins schedule (meetings, series, templates).
pub fn may_schedule(a: &Account) -> Result<(), ApiError> {
    allow(a, Permission::Schedule, None)
}

/// Who may read a meeting: the secretary, admins and auditors every one; a
/// chair the meetings it chairs; venues, persons and chairs the meetings
/// their node of the organisation is invited to.
pub fn may_see(a: &Account, m: &MeetingRecord) -> Result<(), ApiError> {
    allow(a, Permission::ReadMeeting, Some(m))
}

fn etag(m: &MeetingRecord) -> String {
    format!("\"v{}\"", m.version)
}

/// A meeting as JSON, with its current `status`.
pub fn meeting_json(m: &MeetingRecord, grace_mins: u32) -> serde_json::Value {
    let mut body = serde_json::to_value(m).unwrap_or_default();
    body["status"] =
        serde_json::to_value(crate::services::lifecycle::status(m, grace_mins, crate::clock::unix_secs()))
            .unwrap_or_default();
    body
}

/// A meeting response with its `ETag`, status and conflict warnings.
pub fn with_etag(
    m: MeetingRecord,
    status: StatusCode,
    warnings: Option<serde_json::Value>,
    grace_mins: u32,
) -> Response {
    let tag = etag(&m);
    let mut body = meeting_json(&m, grace_mins);
    if let Some(w) = warnings {
        body["warnings"] = w;
    }
    (status, [(header::ETAG, tag)], Json(body)).into_response()
}

/// The logged-in account and meeting `id`, if the account may read it.
pub async fn visible_meeting(
    state: &AppState,
    account: Account,
    id: String,
) -> Result<(Account, MeetingRecord), ApiError> {
    let m = blocking(state.store.clone(), move |s| s.meeting(&id)).await?;
    may_see(&account, &m)?;
    Ok((account, m))
}

/// A county-local time as text, or nothing.
pub fn local_text(t: Option<i64>) -> String {
    t.and_then(crate::scheduling::local_from_unix)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A meeting as a calendar entry.
pub fn calendar_event(m: &crate::store::MeetingRecord) -> crate::scheduling::ics::CalendarEvent<'_> {
    crate::scheduling::ics::CalendarEvent {
        uid: &m.id,
        title: &m.title,
        description: &m.agenda,
        start: m.start,
        end: m.end,
        sequence: m.version,
        cancelled: m.cancelled_at.is_some(),
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).build(),
        Err(_) => String::new(),
    }
}

/// The base URL of join links: `signaling.public_url`, or the listen address.
pub fn public_base_url(config: &Config) -> String {
    if !config.signaling.public_url.is_empty() {
        return config.signaling.public_url.trim_end_matches('/').to_string();
    }
    let scheme = if crate::tls::serves_tls(config) { "https" } else { "http" };
    format!("{scheme}://{}", config.http.listen)
}
