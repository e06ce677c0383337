//! The HTTP router: health, metrics and the web client.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use huiyi_sfu::SfuHandle;
use serde::Serialize;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The media plane.
    pub media: SfuHandle,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

const INDEX_HTML: &str = include_str!("../../../web-client/index.html");

async fn index() -> impl IntoResponse {
    Html(INDEX_HTML)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    media_sockets: Vec<String>,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        media_sockets: state.media.local_addrs().iter().map(ToString::to_string).collect(),
    })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let c = state.media.counters();
    let mut out = String::new();
    for (name, help, value) in [
        ("huiyi_media_datagrams_in_total", "UDP datagrams received by the media workers", c.datagrams_in),
        ("huiyi_media_datagrams_out_total", "UDP datagrams sent by the media workers", c.datagrams_out),
        ("huiyi_media_rtp_forwarded_total", "RTP packets written to subscribers", c.forwarded),
        ("huiyi_media_dropped_unroutable_total", "Datagrams no peer accepted", c.dropped_unroutable),
        (
            "huiyi_media_dropped_malformed_total",
            "Datagrams that were not WebRTC or were oversized",
            c.dropped_malformed,
        ),
        (
            "huiyi_media_dropped_rejected_total",
            "Datagrams a peer's state machine rejected",
            c.dropped_rejected,
        ),
        ("huiyi_media_peer_failures_total", "Peers removed after an internal failure", c.peer_failures),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
