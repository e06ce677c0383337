//! HTTPS: a configured certificate, or a self-signed one generated on first
//! start for the configured host names (browsers need a secure context for
//! camera and microphone anywhere but `localhost`). Plain HTTP stays for
//! loopback development.

use huiyi_config::Config;

/// True when the server speaks HTTPS with this configuration.
pub fn serves_tls(config: &Config) -> bool {
    config.http.tls_cert.is_some() || !config.http.listen.ip().is_loopback()
}
