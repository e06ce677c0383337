//! Harness for end-to-end tests: WebRTC client peers built on the `webrtc`
//! crate (an implementation independent of str0m), joined to the real media
//! plane over loopback UDP, and a lossy UDP relay to impair one link.

pub mod client;
pub mod media_files;
pub mod process;
pub mod relay;
pub mod server;
pub mod ws_client;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Picks rustls's crypto provider for the whole test process. The `webrtc`
/// crate's DTLS uses rustls's process default, which cannot be chosen
/// automatically once both the `ring` (from `webrtc`) and `aws-lc-rs` (from the
/// server) backends are linked into one binary.
pub fn init_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Waits until `cond` holds, checking every 50 ms, for at most `limit`.
pub async fn wait_for(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cond()
}
