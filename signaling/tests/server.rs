//! The `huiyi` server as a whole: start, serve, shut down.

use std::process::Command;
use std::time::Duration;

use huiyi_config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.sfu.udp_port = 0;
    config.sfu.workers = 2;
    config.data_dir = dir.to_path_buf();
    config
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn serves_health_page_and_metrics_then_shuts_down_cleanly() {
    let dir = std::env::temp_dir().join(format!("huiyi-server-test-{}", std::process::id()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(huiyi_signaling::run(test_config(&dir), listener, async {
        let _ = stop_rx.await;
    }));

    let health = get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let body: serde_json::Value =
        serde_json::from_str(health.split("\r\n\r\n").nth(1).unwrap_or("")).expect("JSON health");
    assert_eq!(body["media_sockets"].as_array().map(Vec::len), Some(2), "two media workers bound: {health}");
    assert_eq!(
        body["media_tcp"].as_array().map(Vec::len),
        Some(2),
        "each with its ICE-TCP listener: {health}"
    );

    let page = get(addr, "/").await;
    assert!(page.contains("会议 Huiyi"), "placeholder page served");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page requests nothing but the server"
    );

    let metrics = get(addr, "/metrics").await;
    assert!(metrics.contains("huiyi_media_rtp_forwarded_total 0"), "{metrics}");

    assert!(dir.is_dir(), "data directory created");
    stop_tx.send(()).expect("server running");
    let result = tokio::time::timeout(Duration::from_secs(10), server).await.expect("shuts down in time");
    result.expect("task").expect("clean exit");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_config_value_fails_at_start_with_key_and_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_huiyi"))
        .args(["--set", "sfu.udp_port=70000"])
        .env_remove("HUIYI_CONFIG")
        .output()
        .expect("run huiyi");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sfu.udp_port: 70000 is not a port"), "{err}");
}

#[test]
fn print_config_shows_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_huiyi")).arg("--print-config").output().expect("run huiyi");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let config = Config::from_toml_str(&text).expect("printed config parses back");
    assert_eq!(config, Config::default());
}

#[test]
fn sigterm_stops_the_binary_gracefully() {
    let dir = std::env::temp_dir().join(format!("huiyi-sigterm-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_huiyi"))
        .args(["--listen", "127.0.0.1:0", "--set", "sfu.udp_port=0", "--data-dir"])
        .arg(&dir)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "did not stop within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("huiyi stopped"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn serves_https_with_a_configured_certificate() {
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let dir = std::env::temp_dir().join(format!("huiyi-https-test-{}", std::process::id()));
    let (cert, key) =
        huiyi_signaling::tls::self_signed(&dir.join("certs"), &["127.0.0.1".into()]).expect("cert");
    let mut config = test_config(&dir);
    config.http.tls_cert = Some(cert.clone());
    config.http.tls_key = Some(key);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(huiyi_signaling::run(config, listener, async {
        let _ = stop_rx.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert).expect("pem")).expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    tls.read_to_string(&mut out).await.ok();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"status\":\"ok\""));

    // Plain HTTP on the TLS port gets no answer.
    let plain = get(addr, "/healthz").await;
    assert!(!plain.contains("200 OK"));

    stop_tx.send(()).expect("running");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean");
    std::fs::remove_dir_all(&dir).ok();
}
