//! The server's own counters, read from Huiyi's Prometheus `/metrics`
//! over plain HTTP (the server serves plain HTTP on loopback; over HTTPS
//! the counters are simply not reported).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counters a Huiyi server exposes on `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// `huiyi_media_layer_switches_total`.
    pub layer_switches: u64,
    /// `huiyi_media_videos_paused_total`.
    pub videos_paused: u64,
    /// `huiyi_media_peers{transport="udp"}`: connected peers over UDP now.
    pub peers_udp: Option<u64>,
    /// `huiyi_media_peers{transport="tcp"}`: connected peers over ICE-TCP now.
    pub peers_tcp: Option<u64>,
    /// `huiyi_media_tcp_connections`: ICE-TCP connections open now.
    pub tcp_connections: Option<u64>,
    /// `huiyi_media_tcp_send_overflows_total`: datagrams not sent over
    /// ICE-TCP because a connection's backlog was full.
    pub tcp_send_overflows: Option<u64>,
}

/// Reads the counters from `host:port` (`http://host:port/metrics`);
/// `None` if the server cannot be reached or does not expose them.
pub async fn scrape(host_port: &str) -> Option<ServerCounters> {
    parse(&fetch(host_port).await?)
}

/// The text of `http://host:port/metrics` (headers and all), within 3 s.
pub async fn fetch(host_port: &str) -> Option<String> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(host_port).await.ok()?;
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {host_port}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        s.take(1 << 20).read_to_end(&mut body).await.ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(3), get).await.ok()?
}

/// The counters in a `/metrics` response (headers and all).
pub fn parse(text: &str) -> Option<ServerCounters> {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse::<u64>().ok())?
        })
    };
    Some(ServerCounters {
        layer_switches: value("huiyi_media_layer_switches_total")?,
        videos_paused: value("huiyi_media_videos_paused_total")?,
        peers_udp: value("huiyi_media_peers{transport=\"udp\"}"),
        peers_tcp: value("huiyi_media_peers{transport=\"tcp\"}"),
        tcp_connections: value("huiyi_media_tcp_connections"),
        tcp_send_overflows: value("huiyi_media_tcp_send_overflows_total"),
    })
}

/// `host:port` of a `ws://host:port/...` URL; `None` for anything else
/// (`wss://` included: no TLS here).
pub fn http_host_of(ws_url: &str) -> Option<String> {
    let rest = ws_url.strip_prefix("ws://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(if host.contains(':') && !host.ends_with(']') { host.into() } else { format!("{host}:80") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_are_read_from_the_exposition() {
        let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n\
            # HELP huiyi_media_layer_switches_total x\n# TYPE huiyi_media_layer_switches_total counter\n\
            huiyi_media_layer_switches_total 12\nhuiyi_media_videos_paused_total 3\nhuiyi_meetings 1\n\
            huiyi_media_peers{transport=\"udp\"} 2\nhuiyi_media_peers{transport=\"tcp\"} 5\n\
            huiyi_media_tcp_connections 6\n";
        let expected = ServerCounters {
            layer_switches: 12,
            videos_paused: 3,
            peers_udp: Some(2),
            peers_tcp: Some(5),
            tcp_connections: Some(6),
            tcp_send_overflows: None,
        };
        assert_eq!(parse(text), Some(expected));
        assert_eq!(parse("huiyi_meetings 1\n"), None);
    }

    #[test]
    fn only_plain_websocket_urls_name_a_host() {
        assert_eq!(http_host_of("ws://127.0.0.1:8470/ws").as_deref(), Some("127.0.0.1:8470"));
        assert_eq!(http_host_of("ws://example.org/ws").as_deref(), Some("example.org:80"));
        assert_eq!(http_host_of("wss://example.org/ws"), None);
    }
}
