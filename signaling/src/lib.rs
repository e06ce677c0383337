//! Huiyi's control plane and the `huiyi` server.
//!
//! [`run`] is the whole server: it starts the media plane from the
//! configuration, serves HTTP on an already-bound listener (so tests bind
//! port 0), and on the shutdown signal stops accepting requests, closes
//! every media peer and joins the media workers before it returns.
//!
//! So far the HTTP side serves `/healthz`, `/metrics` and the web client's
//! placeholder page; signaling over WebSocket, TLS, accounts and scheduling
//! come with their own issues.

pub mod http;

use std::future::Future;

use huiyi_config::Config;
use huiyi_sfu::{Sfu, SfuEvent};
use tokio::net::TcpListener;

/// Runs the server until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.http.tls_cert.is_some() {
        anyhow::bail!("http.tls_cert: HTTPS serving is not in this build yet; remove http.tls_cert/http.tls_key and serve on loopback");
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("data_dir: cannot create {}: {e}", config.data_dir.display()))?;
    let (sfu, mut events) = Sfu::start(&config.sfu)?;
    let media = sfu.handle();
    tracing::info!(media = ?media.local_addrs(), http = %listener.local_addr()?, "huiyi started");
    // Until the signaling module consumes them, media events are logged.
    let event_log = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                SfuEvent::PeerStats { .. } => tracing::trace!(?event, "media event"),
                _ => tracing::debug!(?event, "media event"),
            }
        }
    });
    let app = http::router(http::AppState { media: media.clone() });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    tracing::info!("http stopped; closing media peers");
    tokio::task::spawn_blocking(move || sfu.shutdown()).await?;
    event_log.await?;
    tracing::info!("huiyi stopped");
    Ok(())
}
