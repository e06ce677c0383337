//! A simulated participant's signaling socket: `ws://`, or `wss://` (TLS,
//! as a production server runs it, issue 15) trusting the certificates
//! given — a server's self-signed one is not in any public root store.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;

/// A byte stream a WebSocket runs over: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open signaling socket.
pub type Socket = WebSocketStream<Box<dyn Io>>;

/// TLS client settings that trust the PEM certificates in `ca`.
pub fn trusting(ca: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("cannot read {}", ca.display()))? {
        roots.add(cert.with_context(|| format!("{} is not a PEM certificate", ca.display()))?)?;
    }
    if roots.is_empty() {
        bail!("{} holds no certificate", ca.display());
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}

/// Host and port of a `ws://` or `wss://` URL, and whether it is `wss://`.
fn endpoint(url: &str) -> Result<(String, u16, bool)> {
    let (secure, rest) = match (url.strip_prefix("wss://"), url.strip_prefix("ws://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => bail!("{url}: not a ws:// or wss:// URL"),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if secure { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().with_context(|| format!("{url}: bad port {port:?}"))?)
        }
        _ => (authority, default),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("{url}: no host");
    }
    Ok((host.to_string(), port, secure))
}

/// Opens the socket (and its TLS session for `wss://`, with `tls`).
pub async fn open(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Socket> {
    let (host, port, secure) = endpoint(url)?;
    let tcp =
        TcpStream::connect((host.as_str(), port)).await.with_context(|| format!("connecting to {url}"))?;
    tcp.set_nodelay(true)?;
    let io: Box<dyn Io> = if secure {
        let config = tls.context("wss:// needs the server's certificate to trust (--ca)")?;
        let name =
            ServerName::try_from(host.clone()).with_context(|| format!("{host}: not a server name"))?;
        Box::new(TlsConnector::from(config.clone()).connect(name, tcp).await.context("TLS handshake")?)
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(url, io).await.context("WebSocket handshake")?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn urls_give_host_port_and_scheme() {
        assert_eq!(endpoint("ws://127.0.0.1:8470/ws").expect("parses"), ("127.0.0.1".into(), 8470, false));
        assert_eq!(
            endpoint("wss://huiyi.example.gov.cn/ws").expect("parses"),
            ("huiyi.example.gov.cn".into(), 443, true)
        );
        assert_eq!(endpoint("wss://[::1]:9443/ws").expect("parses"), ("::1".into(), 9443, true));
        assert_eq!(endpoint("ws://[::1]/ws").expect("parses"), ("::1".into(), 80, false));
        assert!(endpoint("http://127.0.0.1/ws").is_err());
        assert!(endpoint("ws://:80/ws").is_err());
        assert!(endpoint("ws://h:x/ws").is_err());
    }
}
