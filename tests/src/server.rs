//! The whole Huiyi server, in-process, for end-to-end tests: temporary data
//! directory, port 0 everywhere, join tokens signed with its key.

use std::time::Duration;

use huiyi_config::Config;
use huiyi_signaling::token::{Claims, Role, Signer};

/// A running server; stops (cleanly) when dropped or on [`TestServer::stop`].
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `ws://127.0.0.1:PORT/ws`.
    pub ws: String,
    signer: Signer,
    dir: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server with one media worker.
    pub async fn start(tag: &str) -> TestServer {
        TestServer::start_seeded(tag, |_| {}).await
    }

    /// Starts a server whose database `seed` filled first (accounts, the
    /// organisation), as an earlier run or an admin would have.
    pub async fn start_seeded(
        tag: &str,
        seed: impl FnOnce(&huiyi_signaling::store::SqliteStore),
    ) -> TestServer {
        Self::start_with(tag, seed, false).await
    }

    /// As [`TestServer::start_seeded`], with bandwidth estimation and layer
    /// allocation on or off (off for the `webrtc` crate's peers, below).
    pub async fn start_with(
        tag: &str,
        seed: impl FnOnce(&huiyi_signaling::store::SqliteStore),
        estimation: bool,
    ) -> TestServer {
        Self::start_configured(tag, seed, estimation, |_| {}).await
    }

    /// As [`TestServer::start_with`], with `configure` changing the
    /// configuration last (a setting a test is about).
    pub async fn start_configured(
        tag: &str,
        seed: impl FnOnce(&huiyi_signaling::store::SqliteStore),
        estimation: bool,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = std::env::temp_dir().join(format!("huiyi-{tag}-{}", std::process::id()));
        seed(&huiyi_signaling::store::SqliteStore::open(&dir.join("huiyi.db")).expect("database"));
        let mut config = Config { data_dir: dir.clone(), ..Config::default() };
        config.sfu.udp_port = 0;
        config.sfu.workers = 1;
        // No bandwidth estimation for the `webrtc` crate's peers: their
        // transport-wide feedback drives str0m's estimate down on a clean
        // loopback (2 Mbit/s to under 300 kbit/s in seconds) and their
        // videos would be paused (issue 12's notes). Browsers run with it
        // (tests/browser.rs, tests/weaklink.rs).
        if !estimation {
            config.sfu.bwe_initial_kbps = 0;
        }
        // The test machine may have less free disk than a server should.
        config.recording.min_free_mb = 64;
        configure(&mut config);
        let signer = Signer::load_or_create(&dir).expect("signing key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(huiyi_signaling::run(config, listener, async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            ws: format!("ws://{addr}/ws"),
            signer,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Its data directory (removed when it is dropped).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The web client's join links for one meeting (`BASE/?token=…`), as
    /// [`TestServer::tokens`] gives the tokens.
    pub fn join_links(&self, meeting: &str, title: &str, people: &[(&str, Role)]) -> Vec<String> {
        self.tokens(meeting, title, people).into_iter().map(|t| format!("{}/?token={t}", self.base)).collect()
    }

    /// Join tokens for one meeting, participants `p1`, `p2`, … in order.
    pub fn tokens(&self, meeting: &str, title: &str, people: &[(&str, Role)]) -> Vec<String> {
        let now = huiyi_signaling::clock::unix_millis() / 1000;
        people
            .iter()
            .enumerate()
            .map(|(i, (name, role))| {
                self.signer.sign(&Claims {
                    m: meeting.into(),
                    t: title.into(),
                    p: format!("p{}", i + 1),
                    n: (*name).into(),
                    r: *role,
                    nbf: now - 60,
                    exp: now + 3600,
                    e: 0,
                })
            })
            .collect()
    }

    /// Stops the server and checks that it shut down cleanly.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(task) = self.task.take() {
            let result =
                tokio::time::timeout(Duration::from_secs(15), task).await.expect("server stops in time");
            result.expect("server task").expect("clean shutdown");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Runs a helper script (`setup.sh`) of the test suite, failing clearly.
pub fn run_setup(script: &std::path::Path) {
    let status = std::process::Command::new("bash").arg(script).status().expect("run setup script");
    assert!(status.success(), "{} failed", script.display());
}
