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

pub mod auth;
pub mod http;
pub mod meeting;
pub mod scheduling;
pub mod store;
pub mod tls;
pub mod token;
pub mod ws;

use std::future::Future;

use huiyi_config::Config;
use std::sync::Arc;

use huiyi_sfu::Sfu;
use tokio::net::TcpListener;

/// Runs the server until `shutdown` completes.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Links point at the address actually bound (port 0 picks one).
    config.http.listen = listener.local_addr()?;
    if config.signaling.public_url.is_empty() && config.http.listen.ip().is_unspecified() {
        tracing::warn!(
            "http.listen is a wildcard address: set signaling.public_url so that join links name this server"
        );
    }
    let tls_config = tls::server_config(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("data_dir: cannot create {}: {e}", config.data_dir.display()))?;
    let (sfu, mut events) = Sfu::start(&config.sfu)?;
    let media = sfu.handle();
    tracing::info!(media = ?media.local_addrs(), http = %listener.local_addr()?, "huiyi started");
    let signer = token::Signer::load_or_create(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("data_dir: cannot read or create the signing key: {e}"))?;
    let grace = std::time::Duration::from_secs(config.signaling.reconnect_grace_secs);
    let store: Arc<dyn store::Store> = Arc::new(
        store::SqliteStore::open(&config.data_dir.join("huiyi.db"))
            .map_err(|e| anyhow::anyhow!("data_dir: cannot open the database: {e}"))?,
    );
    ensure_first_admin(store.as_ref())?;
    let meetings =
        meeting::Meetings::new(media.clone(), grace, config.data_dir.join("records"), store.clone());
    let dispatcher = meetings.clone();
    let live = meetings.clone();
    // Scheduled meetings end on their own at their time.
    let driver = tokio::spawn(http::lifecycle::drive(
        meetings.clone(),
        store.clone(),
        config.signaling.end_grace_mins,
        std::time::Duration::from_secs(5),
    ));

    let app = http::router(http::AppState {
        media: media.clone(),
        meetings,
        signer,
        config: Arc::new(config),
        store,
    });
    // Media events go to their meetings.
    let event_log = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            tracing::trace!(?event, "media event");
            dispatcher.dispatch(event).await;
        }
    });
    match tls_config {
        Some(tls_config) => {
            tracing::info!("serving HTTPS");
            tls::serve(listener, tls_config, app, shutdown).await?;
        }
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    driver.abort();
    tracing::info!("http stopped; closing meetings and media peers");
    live.shutdown().await;
    tokio::task::spawn_blocking(move || sfu.shutdown()).await?;
    event_log.await?;
    tracing::info!("huiyi stopped");
    Ok(())
}

/// Seconds since the Unix epoch (wall clock): what the store and tokens use.
pub fn unix_secs() -> i64 {
    (unix_millis() / 1000) as i64
}

/// Milliseconds since the Unix epoch (wall clock, for user-visible times).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The base URL of join links: `signaling.public_url`, or the listen address.
pub fn public_base_url(config: &Config) -> String {
    if !config.signaling.public_url.is_empty() {
        return config.signaling.public_url.trim_end_matches('/').to_string();
    }
    let scheme = if tls::serves_tls(config) { "https" } else { "http" };
    format!("{scheme}://{}", config.http.listen)
}

/// On the very first start (no accounts), creates the `admin` account with a
/// one-time password and prints it once.
fn ensure_first_admin(store: &dyn store::Store) -> anyhow::Result<()> {
    if store.account_count()? > 0 {
        return Ok(());
    }
    let password = auth::one_time_password();
    create_account(store, "admin", "管理员", store::AccountRole::Admin, &password)?;
    println!("huiyi: first start: created the account \"admin\" with the one-time password {password}");
    println!("huiyi: log in and change it; it is not shown again");
    Ok(())
}

/// Creates an account with a hashed password and audits it.
pub fn create_account(
    store: &dyn store::Store,
    username: &str,
    display_name: &str,
    role: store::AccountRole,
    password: &str,
) -> anyhow::Result<()> {
    let now = unix_secs();
    let account = store::Account {
        id: token::random_id(12),
        username: username.to_string(),
        display_name: display_name.to_string(),
        role,
        org_unit: None,
        password_hash: auth::hash_password(password),
        failed_logins: 0,
        locked_until: None,
    };
    store.create_account(&account, now)?;
    store.audit(
        store::NewAudit {
            action: "account.create",
            target: Some(username),
            detail: role.as_str(),
            outcome: "ok",
            ..Default::default()
        },
        now,
    )?;
    Ok(())
}
