//! The accept loop for HTTP and HTTPS, with the work an unauthenticated
//! client can cause bounded (issue 11, findings 1 and 2):
//! - at most `per_source` open connections from one address and `total` in
//!   all; a connection over either cap is closed at once;
//! - a TLS handshake must finish, and a request's headers arrive, within
//!   `handshake`/`headers` (slowloris), idle keep-alive connections close;
//! - an accept error (descriptors exhausted) backs off, up to a second,
//!   and is logged at most once a second with the count of the others.
//!
//! WebSocket sessions bound the rest themselves (hello within 10 s,
//! keepalive). The connections are handed back when the loop stops, so the
//! server can close its meetings over them before it drops them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections from one address.
    pub per_source: usize,
    /// Open connections in all.
    pub total: usize,
    /// Time for a TLS handshake.
    pub handshake: Duration,
    /// Time for a request's headers (and an idle keep-alive connection's next request).
    pub headers: Duration,
}

impl Limits {
    /// The limits the configuration sets (`[http]`).
    pub fn from_config(http: &huiyi_config::HttpConfig) -> Self {
        let timeout = Duration::from_secs(u64::from(http.header_timeout_secs));
        Self {
            per_source: http.max_connections_per_source as usize,
            total: http.max_connections as usize,
            handshake: timeout,
            headers: timeout,
        }
    }
}

/// Open connections by source.
#[derive(Default)]
struct Open {
    by_source: HashMap<IpAddr, usize>,
    total: usize,
}

/// One admitted connection; it leaves the count when dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.by_source.get_mut(&self.source) {
                *n -= 1;
                if *n == 0 {
                    open.by_source.remove(&self.source);
                }
            }
        }
    }
}

fn admit(open: &Arc<Mutex<Open>>, source: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut o = open.lock().ok()?;
    let from_source = o.by_source.get(&source).copied().unwrap_or(0);
    if from_source >= limits.per_source || o.total >= limits.total {
        return None;
    }
    o.by_source.insert(source, from_source + 1);
    o.total += 1;
    Some(Slot { open: open.clone(), source })
}

/// Serves `app` on `listener` (over TLS if `tls` is given) until
/// `shutdown`; returns the connections still open.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinSet<()>> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let open = Arc::new(Mutex::new(Open::default()));
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    let mut failures = Failures::default();
    let mut refused = Failures::default();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => {
                    backoff = Duration::ZERO;
                    x
                }
                Err(e) => {
                    // Out of descriptors (or memory): wait for some to free
                    // instead of spinning, and say so without flooding the log.
                    failures.note(|n| tracing::warn!(error = %e, more = n, "accept failed; backing off"));
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = admit(&open, peer.ip(), &limits) else {
            refused.note(
                |n| tracing::warn!(source = %peer.ip(), more = n, "connection limit reached; refusing"),
            );
            drop(tcp);
            continue;
        };
        let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                Some(acceptor) => match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => connection(stream, app, peer, limits).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake too slow"),
                },
                None => connection(tcp, app, peer, limits).await,
            }
        });
        while connections.try_join_next().is_some() {}
    }
    Ok(connections)
}

async fn connection<S>(stream: S, app: axum::Router, peer: SocketAddr, limits: Limits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let io = hyper_util::rt::TokioIo::new(stream);
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.headers)
        .serve_connection(io, service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A repeated event logged at most once a second, with how many were not.
#[derive(Default)]
struct Failures {
    last: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl Failures {
    fn note(&mut self, log: impl FnOnce(u64)) {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            self.unlogged += 1;
            return;
        }
        log(self.unlogged);
        self.unlogged = 0;
        self.last = Some(now);
    }
}
