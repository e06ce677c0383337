//! The pre-join media check (issue 13) against the whole server: the holder
//! of a join link learns the media ports and opens a check connection (a
//! data channel only, on the independent `webrtc` crate) that really
//! connects; a stranger gets nothing, a bad offer a clear error, and the
//! number of checks at once is capped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use huiyi_signaling::token::Role;
use huiyi_tests::server::TestServer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;

/// POSTs JSON; returns the status and the JSON body.
async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("addr");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.expect("read");
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = rest.find('{').and_then(|i| rest.rfind('}').map(|j| &rest[i..=j])).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

async fn metrics(base: &str) -> String {
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("addr");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.expect("read");
    raw
}

/// A browser's check connection: one data channel, loopback UDP only.
async fn check_peer() -> Arc<RTCPeerConnection> {
    huiyi_tests::init_crypto();
    let mut s = SettingEngine::default();
    s.set_network_types(vec![NetworkType::Udp4]);
    s.set_include_loopback_candidate(true);
    s.set_ip_filter(Box::new(|ip| ip.is_loopback()));
    s.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    let api = APIBuilder::new().with_setting_engine(s).build();
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await.expect("peer connection"));
    pc.create_data_channel("check", None).await.expect("data channel");
    pc
}

async fn offer_of(pc: &RTCPeerConnection) -> String {
    let offer = pc.create_offer(None).await.expect("offer");
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(offer).await.expect("local description");
    let _ = gathered.recv().await;
    pc.local_description().await.expect("local").sdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_of_a_link_checks_its_media_path_and_strangers_get_nothing() {
    huiyi_tests::init_logging();
    let server = TestServer::start("media-check").await;
    let base = server.base.clone();
    let token = server.tokens("m-check", "例会", &[("乡镇会场", Role::Participant)]).remove(0);

    // Strangers: no link, a forged one.
    let (status, body) = post(&base, "/api/v1/media-check/paths", &json!({})).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post(&base, "/api/v1/media-check/paths", &json!({"token": "x.y"})).await;
    assert_eq!(status, 401);
    let (status, _) = post(&base, "/api/v1/media-check", &json!({"token": "x.y", "sdp": "v=0"})).await;
    assert_eq!(status, 401, "no check connection without a link");

    // The paths: the worker's UDP and ICE-TCP ports, no relay configured.
    let (status, paths) = post(&base, "/api/v1/media-check/paths", &json!({"token": token})).await;
    assert_eq!(status, 200, "{paths}");
    let udp = paths["udp_ports"].as_array().expect("udp ports");
    assert_eq!(udp.len(), 1, "one worker: {paths}");
    assert!(udp[0].as_u64().is_some_and(|p| p > 0), "{paths}");
    assert_eq!(paths["tcp_ports"].as_array().map(Vec::len), Some(1), "{paths}");
    assert_eq!(paths["ice_servers"], json!([]), "no TURN configured: {paths}");
    assert_eq!(paths["turn"], json!([]));

    // A bad offer: a clear error, nothing started.
    let (status, body) =
        post(&base, "/api/v1/media-check", &json!({"token": token, "sdp": "v=0\r\nnonsense"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("SDP")), "{body}");
    let (status, _) = post(&base, "/api/v1/media-check", &json!({"token": token})).await;
    assert_eq!(status, 422, "an offer is required");

    // The check connection connects (ICE and DTLS with the media worker).
    let pc = check_peer().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    pc.on_peer_connection_state_change(Box::new(move |s| {
        let _ = tx.send(s);
        Box::pin(async {})
    }));
    let offer = offer_of(&pc).await;
    let (status, answer) = post(&base, "/api/v1/media-check", &json!({"token": token, "sdp": offer})).await;
    assert_eq!(status, 200, "{answer}");
    let sdp = answer["sdp"].as_str().expect("an answer").to_string();
    pc.set_remote_description(RTCSessionDescription::answer(sdp).expect("answer")).await.expect("remote");
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(s) = rx.recv().await {
            if s == RTCPeerConnectionState::Connected {
                return true;
            }
            if s == RTCPeerConnectionState::Failed {
                return false;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(connected, "the check connection reaches the media worker");
    let m = metrics(&base).await;
    assert!(m.contains("\nhuiyi_media_checks_total 1\n"), "counted: {m}");

    // The cap: MAX_CHECKS at once (the first still holds its slot), then busy.
    let mut held = vec![pc];
    for _ in 1..huiyi_signaling::meeting::MAX_CHECKS {
        let pc = check_peer().await;
        let (status, body) =
            post(&base, "/api/v1/media-check", &json!({"token": token, "sdp": offer_of(&pc).await})).await;
        assert_eq!(status, 200, "{body}");
        held.push(pc);
    }
    let pc = check_peer().await;
    let (status, body) =
        post(&base, "/api/v1/media-check", &json!({"token": token, "sdp": offer_of(&pc).await})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "busy");
    let m = metrics(&base).await;
    assert!(m.contains("\nhuiyi_media_checks_busy_total 1\n"), "counted: {m}");
    for pc in held {
        let _ = pc.close().await;
    }
    let _ = pc.close().await;
    server.stop().await;
}
