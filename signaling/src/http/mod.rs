//! The HTTP surface, composed in one place: every route of the server is
//! listed in [`router`], each handled in the module of its resource.
//! Resources share `common` and call the domain (`services`, `store`,
//! `permissions`); they never import each other.

mod accounts;
mod assets;
pub(crate) mod attendance;
mod audit;
mod calendar;
mod check;
pub mod common;
mod guard;
mod invitations;
mod live;
mod meetings;
mod notice;
mod ops;
mod org;
mod recordings;
mod session;
mod templates;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::store::{Account, Mark};
pub use common::AppState;
use common::{ApiError, MAX_BODY};

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { assets::serve("index.html") }))
        .route("/console", get(|| async { assets::serve("console.html") }))
        .route("/assets/{name}", get(|Path(name): Path<String>| async move { assets::serve(&name) }))
        .route("/ws", get(ops::websocket))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/notice", get(notice::page).post(notice::reply))
        .route("/live/{id}/{token}/{name}", get(live::file))
        .route("/whep/{id}/{token}", post(live::whep_offer).options(live::whep_options))
        .route(
            "/whep/{id}/{token}/{session}",
            axum::routing::delete(live::whep_delete).options(live::whep_options),
        )
        .merge(api())
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// The REST API under `/api/v1` (docs/api.md).
fn api() -> Router<AppState> {
    let mark = |m: Mark| move |s: State<AppState>, a: Account, p: Path<String>| meetings::mark(s, a, p, m);
    Router::new()
        // Sessions and the audit log.
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/me/password", post(accounts::change_password))
        .route("/api/v1/audit", get(audit::audit))
        .route("/api/v1/audit/export.csv", get(audit::export))
        .route("/api/v1/audit/verify", get(audit::verify))
        // Accounts and the organisation.
        .route("/api/v1/accounts", get(accounts::list).post(accounts::create))
        .route("/api/v1/accounts/{id}/role", post(accounts::set_role))
        .route("/api/v1/accounts/{id}/unlock", post(accounts::unlock))
        .route("/api/v1/accounts/{id}/reset-password", post(accounts::reset_password))
        .route("/api/v1/accounts/{id}/end-sessions", post(accounts::end_sessions))
        .route("/api/v1/org", get(org::tree))
        .route("/api/v1/org/import", post(org::import))
        .route("/api/v1/org/{id}", axum::routing::put(org::update).delete(org::retire))
        // Meetings, series, templates.
        .route("/api/v1/meetings", get(meetings::list).post(meetings::create))
        .route("/api/v1/meetings/{id}", get(meetings::read).put(meetings::update))
        .route("/api/v1/meetings/{id}/start", post(mark(Mark::Start)))
        .route("/api/v1/meetings/{id}/end", post(mark(Mark::End)))
        .route("/api/v1/meetings/{id}/cancel", post(mark(Mark::Cancel)))
        .route("/api/v1/series", post(meetings::create_series))
        .route("/api/v1/series/{id}", get(meetings::read_series))
        .route("/api/v1/templates", get(templates::list).post(templates::create))
        .route("/api/v1/templates/{id}", delete(templates::remove))
        // Invitations and join links.
        .route("/api/v1/meetings/{id}/invitations", get(invitations::invitations))
        .route("/api/v1/meetings/{id}/invitations/{participant}/qr.svg", get(invitations::qr))
        .route("/api/v1/meetings/{id}/invitations/{participant}/reissue", post(invitations::reissue))
        .route("/api/v1/meetings/{id}/join", get(invitations::join))
        // The pre-join media check.
        .route("/api/v1/media-check/paths", post(check::paths))
        .route("/api/v1/media-check", post(check::check))
        // Attendance and calendars.
        .route("/api/v1/meetings/{id}/attendance", get(attendance::attendance))
        .route("/api/v1/meetings/{id}/attendance.csv", get(attendance::attendance_csv))
        .route("/api/v1/meetings/{id}/attendance.xlsx", get(attendance::xlsx))
        .route("/api/v1/meetings/{id}/calendar.ics", get(calendar::ics))
        // Recordings.
        .route("/api/v1/meetings/{id}/recordings", get(recordings::list))
        .route("/api/v1/meetings/{id}/recording", post(recordings::switch))
        .route("/api/v1/recordings/{id}", get(recordings::detail).delete(recordings::delete))
        .route("/api/v1/recordings/{id}/compose", post(recordings::start_compose))
        .route("/api/v1/recordings/{id}/files/{name}", get(recordings::file))
        .route("/api/v1/meetings/{id}/live", get(live::get_live).post(live::switch))
        .route("/api/v1/me/feed", get(calendar::my_feed))
        .route("/api/v1/feeds/{key}", get(calendar::feed))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}
