//! Operations and the signaling socket: `/healthz`, Prometheus `/metrics`,
//! and the WebSocket upgrade (origin check, size limits) into a session.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::common::AppState;
use crate::ws::session::{self, MAX_MESSAGE};

/// Bytes a signaling socket reads at a time.
const WS_READ_BUFFER: usize = 8 * 1024;

pub(super) async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !super::guard::origin_allowed(&headers, &state.config.signaling.allowed_origins) {
        return (StatusCode::FORBIDDEN, "this origin may not open the signaling socket").into_response();
    }
    // tungstenite's default 128 KiB read buffer, allocated up front, was
    // the largest single share of a participant's memory (heaptrack, issue
    // 15); signaling messages are small and a larger one is read in parts.
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(MAX_MESSAGE * 2)
        .max_frame_size(MAX_MESSAGE * 2)
        .on_upgrade(move |socket| session::run(socket, gate(&state)))
}

fn gate(state: &AppState) -> session::Gate {
    session::Gate {
        signer: state.signer.clone(),
        meetings: state.meetings.clone(),
        store: state.store.clone(),
        demo: state.config.signaling.demo,
        end_grace_mins: state.config.signaling.end_grace_mins,
        turn: std::sync::Arc::new(state.config.turn.clone()),
    }
}

#[derive(Serialize)]
pub(super) struct Health {
    status: &'static str,
    version: &'static str,
    media_sockets: Vec<String>,
    /// The ICE-TCP listeners (empty with `sfu.ice_tcp` off).
    media_tcp: Vec<String>,
    meetings: usize,
}

pub(super) async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        media_sockets: state.media.local_addrs().iter().map(ToString::to_string).collect(),
        media_tcp: state.media.tcp_addrs().iter().map(ToString::to_string).collect(),
        meetings: state.meetings.count().await,
    })
}

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let c = state.media.counters();
    let checks = state.meetings.media_check_counts();
    let mut out = String::new();
    for (name, help, value) in [
        (
            "huiyi_media_datagrams_in_total",
            "Datagrams (UDP, and ICE-TCP frames) received by the media workers",
            c.datagrams_in,
        ),
        (
            "huiyi_media_datagrams_out_total",
            "Datagrams (UDP, and ICE-TCP frames) sent by the media workers",
            c.datagrams_out,
        ),
        (
            "huiyi_media_datagrams_segmented_total",
            "Of the UDP datagrams sent, those that left in segmented sends (GSO: a frame's packets to one peer in one system call)",
            c.datagrams_segmented,
        ),
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
        (
            "huiyi_media_layer_switches_total",
            "Simulcast layer switches for subscribers (bandwidth, tile size, priority)",
            c.layer_switches,
        ),
        (
            "huiyi_media_frame_rate_changes_total",
            "Frame-rate changes for subscribers (temporal layers added or dropped at a frame boundary)",
            c.frame_rate_changes,
        ),
        (
            "huiyi_media_packets_thinned_total",
            "Video packets not forwarded to a subscriber because their frame's temporal layer was not",
            c.packets_thinned,
        ),
        (
            "huiyi_media_videos_paused_total",
            "Videos paused because not even their lowest layer fitted a subscriber's link",
            c.videos_paused,
        ),
        (
            "huiyi_media_estimator_restarts_total",
            "Subscribers' bandwidth estimators restarted because they were stuck below what a video waited for",
            c.estimator_restarts,
        ),
        (
            "huiyi_media_audio_unselected_total",
            "Audio packets not forwarded by audio top-N: microphones without a slot in a large meeting",
            c.audio_unselected,
        ),
        (
            "huiyi_media_relayed_total",
            "Packets relayed between media workers that hold parts of one large meeting",
            c.relayed,
        ),
        (
            "huiyi_media_sent_directly_total",
            "Forwarded packets released in the forwarding call, without a pass of the subscriber's send queue",
            c.sent_directly,
        ),
        (
            "huiyi_media_sent_paced_total",
            "Forwarded packets sent through the pacer of a subscriber whose line is the limit",
            c.sent_paced,
        ),
        (
            "huiyi_media_timeout_passes_total",
            "Timeout passes of a participant's connection because its own timer was due",
            c.timeout_passes,
        ),
        ("huiyi_media_checks_total", "Pre-join media checks started", checks.0),
        ("huiyi_media_checks_busy_total", "Pre-join media checks refused: all check slots taken", checks.1),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    let limits = state.meetings.limits();
    out.push_str(
        "# HELP huiyi_limit_refusals_total Requests refused at a configured limit ([limits])\n\
         # TYPE huiyi_limit_refusals_total counter\n",
    );
    for (name, value) in limits.refusals() {
        out.push_str(&format!("huiyi_limit_refusals_total{{limit=\"{name}\"}} {value}\n"));
    }
    out.push_str(&format!(
        "# HELP huiyi_seats Participants' seats in all live meetings (limit {})\n# TYPE huiyi_seats gauge\nhuiyi_seats {}\n",
        limits.cfg.participants,
        limits.seats()
    ));
    let t = state.media.tcp_counters();
    for (name, help, value) in [
        ("huiyi_media_tcp_accepted_total", "ICE-TCP connections accepted", t.accepted),
        (
            "huiyi_media_tcp_refused_total",
            "ICE-TCP connections closed at once: over sfu.max_tcp_connections",
            t.refused,
        ),
        (
            "huiyi_media_tcp_dropped_total",
            "ICE-TCP connections closed for bad framing, a first frame of no peer, or silence",
            t.dropped,
        ),
        (
            "huiyi_media_tcp_send_overflows_total",
            "Datagrams not sent over ICE-TCP because the connection's backlog was full",
            t.send_overflows,
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    let (over_tcp, over_udp) = state.media.peers_by_transport();
    out.push_str("# HELP huiyi_media_peers Connected media peers by transport (TURN-relayed peers arrive over UDP from the relay)\n# TYPE huiyi_media_peers gauge\n");
    out.push_str(&format!("huiyi_media_peers{{transport=\"udp\"}} {over_udp}\nhuiyi_media_peers{{transport=\"tcp\"}} {over_tcp}\n"));
    out.push_str(&format!(
        "# HELP huiyi_media_tcp_connections ICE-TCP connections open\n# TYPE huiyi_media_tcp_connections gauge\nhuiyi_media_tcp_connections {}\n",
        t.open
    ));
    out.push_str(
        "# HELP huiyi_media_worker_peers Media peers on each worker\n# TYPE huiyi_media_worker_peers gauge\n",
    );
    for (i, n) in state.media.peers_per_worker().iter().enumerate() {
        out.push_str(&format!("huiyi_media_worker_peers{{worker=\"{i}\"}} {n}\n"));
    }
    let meetings = state.meetings.count().await;
    out.push_str(&format!(
        "# HELP huiyi_meetings Open meetings\n# TYPE huiyi_meetings gauge\nhuiyi_meetings {meetings}\n"
    ));
    out.push_str(&format!(
        "# HELP huiyi_ws_sessions Signaling WebSocket sessions open\n# TYPE huiyi_ws_sessions gauge\nhuiyi_ws_sessions {}\n",
        crate::ws::session::open_sessions()
    ));
    out.push_str(&format!(
        "# HELP huiyi_tasks Tasks alive in the server's async runtime\n# TYPE huiyi_tasks gauge\nhuiyi_tasks {}\n",
        tokio::runtime::Handle::current().metrics().num_alive_tasks()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
