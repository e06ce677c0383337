//! The whole server: [`run`] starts the media plane from the
//! configuration, serves HTTP on an already-bound listener (so tests bind
//! port 0), and on the shutdown signal stops accepting requests, closes
//! every live meeting (their records written) and every media peer, and
//! joins the media workers before it returns.

use std::future::Future;
use std::sync::Arc;

use huiyi_config::Config;
use huiyi_sfu::Sfu;
use tokio::net::TcpListener;

use crate::{http, listen, meeting, services, store, tls, token};

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
    keep_private(&config.data_dir);
    if let Some(path) = services::accounts::ensure_administrators(store.as_ref(), &config.data_dir)? {
        // To the terminal, not the log: where the one-time passwords are, not what they are.
        println!(
            "huiyi: created the administrator accounts (系统管理员 admin, 安全管理员 security, \
             审计管理员 auditor) this server lacked; their one-time passwords are in {} (readable by \
             this user only). Each sets its own password at the first login; delete the file after.",
            path.display()
        );
    }
    services::config_audit::record_changes(store.as_ref(), &config)?;
    // Roll calls kept in a file by earlier versions move into the store.
    services::rollcalls::import_legacy(store.as_ref(), &config.data_dir.join("records"))
        .map_err(|e| anyhow::anyhow!("data_dir: cannot import records/rollcalls.jsonl: {e}"))?;
    // No meeting runs before the server does: attendance a crash left open
    // ends at its meeting's last heartbeat (ADR 0013).
    match store.close_open_attendance("server_lost") {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            intervals = n,
            "closed attendance left open by an unclean stop, at the last heartbeat"
        ),
        Err(e) => return Err(anyhow::anyhow!("data_dir: cannot close open attendance: {e}")),
    }
    // Recordings a crash cut off are marked so, complete up to their last second.
    let recordings = crate::recording::Recordings::new(&config.data_dir, &config.recording, media.clone());
    match recordings.recover() {
        0 => {}
        n => tracing::warn!(recordings = n, "marked recordings an unclean stop cut off as interrupted"),
    }
    // Old recordings go after `recording.retention_days`, checked hourly.
    let (expiring, audit) = (recordings.clone(), store.clone());
    let retention = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let (r, s) = (expiring.clone(), audit.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let now = crate::clock::unix_secs();
                for (id, meeting) in r.expire(crate::clock::unix_millis()) {
                    tracing::info!(recording = %id, "deleted: past recording.retention_days");
                    let record = store::NewAudit::done("system", "recording.expire", Some(&id), &meeting);
                    if let Err(e) = s.audit(record, now) {
                        tracing::error!(error = %e, "cannot audit a recording's expiry");
                    }
                }
            })
            .await;
        }
    });
    let meetings = meeting::Meetings::new(media.clone(), grace, store.clone())
        .with_link_takeover(config.signaling.link_reuse == huiyi_config::LinkReuse::Takeover)
        .with_limits(Arc::new(crate::limits::Limits::new(config.limits.clone())))
        .with_recordings(recordings)
        .with_lives(crate::live::Lives::new(
            &config.data_dir,
            &config.recording,
            media.clone(),
            Arc::new(signer.clone()),
        ));
    let dispatcher = meetings.clone();
    let live = meetings.clone();
    // Scheduled meetings end on their own at their time.
    let driver = tokio::spawn(meeting::drive(
        meetings.clone(),
        store.clone(),
        config.signaling.end_grace_mins,
        std::time::Duration::from_secs(5),
    ));

    let limits = listen::Limits::from_config(&config.http);
    let app = http::router(http::AppState {
        media: media.clone(),
        meetings,
        signer,
        config: Arc::new(config),
        store,
        // argon2id one per core at a time; a short queue behind them.
        hashing: Arc::new(services::login::Hashing::new(
            std::thread::available_parallelism().map_or(2, usize::from),
            32,
        )),
    });
    // Media events go to their meetings.
    let event_log = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            tracing::trace!(?event, "media event");
            dispatcher.dispatch(event).await;
        }
    });
    if tls_config.is_some() {
        tracing::info!("serving HTTPS");
    }
    let open = listen::serve(listener, tls_config, app, limits, shutdown).await?;
    driver.abort();
    retention.abort();
    tracing::info!("http stopped; closing meetings and media peers");
    live.shutdown().await;
    // The sessions have been told (1001); what is left of the connections goes.
    let mut open = open;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while open.join_next().await.is_some() {}
    })
    .await;
    open.abort_all();
    tokio::task::spawn_blocking(move || sfu.shutdown()).await?;
    event_log.await?;
    tracing::info!("huiyi stopped");
    Ok(())
}

/// The data directory and the database are the server's alone (等保: no
/// other account of the machine reads accounts, attendance or the audit
/// log): the directory 0700, the database files 0600. A failure is logged.
fn keep_private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: std::path::PathBuf, mode: u32| {
        if path.exists() {
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot restrict permissions");
            }
        }
    };
    set(dir.to_path_buf(), 0o700);
    for file in ["huiyi.db", "huiyi.db-wal", "huiyi.db-shm"] {
        set(dir.join(file), 0o600);
    }
}
