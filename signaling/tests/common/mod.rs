//! Helpers for the WebSocket tests: an in-process server and a JSON client.
#![allow(dead_code)]

pub mod http;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huiyi_config::Config;
use huiyi_protocol::{ClientMsg, Control, PROTOCOL_VERSION};
use huiyi_signaling::token::{Claims, Role, Signer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Server {
    pub addr: std::net::SocketAddr,
    signer: Signer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub dir: std::path::PathBuf,
}

impl Server {
    /// A handle for a server started elsewhere (no key, nothing to stop).
    pub fn at(addr: std::net::SocketAddr) -> Server {
        Server {
            addr,
            signer: Signer::from_bytes(&[0; 32]),
            stop: None,
            dir: std::env::temp_dir().join("huiyi-nonexistent-dir-for-at"),
        }
    }
}

impl Server {
    /// A handle for a server started elsewhere that signs with `signer`.
    pub fn with_signer(addr: std::net::SocketAddr, signer: Signer) -> Server {
        Server { addr, signer, stop: None, dir: std::env::temp_dir().join("huiyi-nonexistent-dir-for-at") }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

pub async fn server(tag: &str, demo: bool) -> Server {
    server_with(tag, demo, |_| {}).await
}

/// As [`server`], with the configuration changed by `tune` first.
pub async fn server_with(tag: &str, demo: bool, tune: impl FnOnce(&mut Config)) -> Server {
    let dir = std::env::temp_dir().join(format!("huiyi-sig-{tag}-{}", std::process::id()));
    let mut config = Config { data_dir: dir.clone(), ..Config::default() };
    config.sfu.udp_port = 0;
    config.sfu.workers = 1;
    config.signaling.demo = demo;
    config.signaling.reconnect_grace_secs = 2;
    tune(&mut config);
    let signer = Signer::load_or_create(&dir).expect("key");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(huiyi_signaling::run(config, listener, async {
        let _ = rx.await;
    }));
    Server { addr, signer, stop: Some(tx), dir }
}

pub fn token(s: &Server, pid: &str, name: &str, role: Role) -> String {
    token_for(s, "m1", pid, name, role)
}

/// A join token for meeting `meeting`.
pub fn token_for(s: &Server, meeting: &str, pid: &str, name: &str, role: Role) -> String {
    let now = huiyi_signaling::clock::unix_millis() / 1000;
    s.signer.sign(&Claims {
        m: meeting.into(),
        t: "例会".into(),
        p: pid.into(),
        n: name.into(),
        r: role,
        nbf: now - 10,
        exp: now + 600,
        e: 0,
    })
}

pub async fn connect(s: &Server, origin: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{}/ws", s.addr).into_client_request().expect("request");
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().expect("origin"));
    }
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// Sends a protocol message, serialised as the server reads it.
pub async fn send_msg(ws: &mut Ws, msg: &ClientMsg) {
    let text = serde_json::to_string(msg).expect("a protocol message serialises");
    ws.send(Message::text(text)).await.expect("send");
}

/// `hello` with a join token, in this server's protocol version.
pub fn hello(token: impl Into<String>) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        token: Some(token.into()),
        demo_meeting: None,
        name: None,
        resume: None,
    }
}

/// A chair control message.
pub fn control(action: Control) -> ClientMsg {
    ClientMsg::Control { action }
}

/// The next JSON message, skipping pings; `None` on close.
pub async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a message in time")?;
        match frame.ok()? {
            Message::Text(t) => return Some(serde_json::from_str(&t).expect("server sends JSON")),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

pub async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let m = recv(ws).await.unwrap_or_else(|| panic!("closed while waiting for {ty}"));
        if m["type"] == ty {
            return m;
        }
    }
}

pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.ok()?? {
            Ok(Message::Close(Some(f))) => return Some(f.code.into()),
            Ok(Message::Close(None)) => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}
