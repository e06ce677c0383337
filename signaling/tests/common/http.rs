//! Plain HTTP/1.1 requests for the API tests.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// The body as bytes.
    pub bytes: Vec<u8>,
}

pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> Reply {
    request_with(addr, method, path, body, cookie, "").await
}

pub async fn request_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    extra: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let cookie = format!("{}{extra}", cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default());
    let content_type = if extra.contains("Content-Type") { "" } else { "Content-Type: application/json\r\n" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{content_type}{cookie}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 4);
    let bytes = raw[split..].to_vec();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Tolerate chunked encoding: take the JSON object in the body.
    let start = rest.find(['{', '[']);
    let json = start
        .and_then(|i| {
            let close = if rest[i..].starts_with('[') { ']' } else { '}' };
            rest.rfind(close).map(|j| &rest[i..=j])
        })
        .unwrap_or("null");
    Reply {
        status,
        headers: head.to_string(),
        body: serde_json::from_str(json).unwrap_or(Value::Null),
        text: rest.to_string(),
        bytes,
    }
}

pub fn session_cookie(headers: &str) -> String {
    headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: huiyi_session="))
        .and_then(|l| l.split_once(": ").map(|(_, v)| v.split(';').next().unwrap_or("").to_string()))
        .expect("a session cookie")
}

pub fn header_value(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// Percent-encodes a form value.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// POSTs an HTML form.
pub async fn post_form(addr: std::net::SocketAddr, path: &str, fields: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
    request_with(
        addr,
        "POST",
        path,
        &body.join("&"),
        None,
        "Content-Type: application/x-www-form-urlencoded\r\n",
    )
    .await
}

/// Creates accounts (user, display name, role, password) in `dir`'s database.
pub fn seed_accounts(
    dir: &std::path::Path,
    accounts: &[(&str, &str, huiyi_signaling::store::AccountRole, &str)],
) {
    let store = huiyi_signaling::store::SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    for (user, name, role, password) in accounts {
        huiyi_signaling::services::accounts::create_account(&store, user, name, *role, password, false)
            .expect("account");
    }
}

/// A whole server on a temporary data directory, port 0 everywhere.
pub struct Running {
    /// Its HTTP address.
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts the server on `dir`.
    pub async fn start(dir: &std::path::Path) -> Running {
        Running::start_with(dir, |_| {}).await
    }

    /// Starts the server on `dir` with some settings changed.
    pub async fn start_with(
        dir: &std::path::Path,
        change: impl FnOnce(&mut huiyi_config::Config),
    ) -> Running {
        let mut config =
            huiyi_config::Config { data_dir: dir.to_path_buf(), ..huiyi_config::Config::default() };
        change(&mut config);
        config.sfu.udp_port = 0;
        config.sfu.workers = 1;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(huiyi_signaling::run(config, listener, async {
            let _ = rx.await;
        }));
        Running { addr, stop, task }
    }

    /// Stops it and checks the shutdown was clean.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let result =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await.expect("stops");
        result.expect("task").expect("clean shutdown");
    }
}

/// Logs in and returns the session cookie (`huiyi_session=…`).
pub async fn login(addr: std::net::SocketAddr, user: &str, password: &str) -> String {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    session_cookie(&request(addr, "POST", "/api/v1/login", &body, None).await.headers)
}

/// The first login of an account made with a given password: it may do
/// nothing but change it (403 `password_change_required`), then it may.
pub async fn first_login(addr: std::net::SocketAddr, user: &str, given: &str, new: &str) {
    let cookie = login(addr, user, given).await;
    let me = request(addr, "GET", "/api/v1/me", "", Some(&cookie)).await;
    assert_eq!(me.body["password_change"], "first_login", "{user}: {:?}", me.body);
    let blocked = request(addr, "GET", "/api/v1/org", "", Some(&cookie)).await;
    assert_eq!(
        (blocked.status, blocked.body["error"]["code"].as_str()),
        (403, Some("password_change_required"))
    );
    let body = serde_json::json!({"old": given, "new": new}).to_string();
    let changed = request(addr, "POST", "/api/v1/me/password", &body, Some(&cookie)).await;
    assert_eq!(changed.status, 204, "{user}: {:?}", changed.body);
    assert_eq!(request(addr, "GET", "/api/v1/org", "", Some(&cookie)).await.status, 200);
}
