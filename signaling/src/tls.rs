//! HTTPS: a configured certificate, or a self-signed one generated on first
//! start for the configured host names (browsers need a secure context for
//! camera and microphone anywhere but `localhost`). Plain HTTP stays for
//! loopback development.
//!
//! The handshakes themselves happen in the accept loop (`listen.rs`), with
//! the same limits as plain HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use huiyi_config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// True when the server speaks HTTPS with this configuration.
pub fn serves_tls(config: &Config) -> bool {
    config.http.tls_cert.is_some() || !config.http.listen.ip().is_loopback()
}

/// The rustls configuration to serve, or `None` for plain HTTP (loopback
/// without a configured certificate). Generates and keeps a self-signed
/// certificate in `data_dir/tls/` when needed.
pub fn server_config(config: &Config) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let (cert, key) = match (&config.http.tls_cert, &config.http.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ if config.http.listen.ip().is_loopback() => return Ok(None),
        _ => {
            let names = if config.http.hostnames.is_empty() {
                vec![config.http.listen.ip().to_string()]
            } else {
                config.http.hostnames.clone()
            };
            self_signed(&config.data_dir.join("tls"), &names)?
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("http.tls_cert: cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("http.tls_cert: {} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "http.tls_cert: {} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("http.tls_key: {} is not a PEM private key", key.display()))?;
    tracing::info!(fingerprint = %fingerprint(&chain[0]), "TLS certificate (SHA-256)");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("http.tls_key: the key does not match the certificate")?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}

/// Loads `dir/cert.pem` and `dir/key.pem`, generating them for `names` on first
/// use. Returns their paths.
pub fn self_signed(dir: &Path, names: &[String]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .with_context(|| format!("http.hostnames: cannot make a certificate for {names:?}"))?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())?;
    let der = CertificateDer::from(certified.cert.der().to_vec());
    let fp = fingerprint(&der);
    // Printed for the operator, who compares it with what browsers show.
    println!("huiyi: generated a self-signed TLS certificate for {names:?} in {}", dir.display());
    println!("huiyi: its SHA-256 fingerprint is {fp}");
    Ok((cert_path, key_path))
}

/// SHA-256 fingerprint as colon-separated hex, as browsers show it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        f.write_all(bytes)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_loads() {
        let dir = std::env::temp_dir().join(format!("huiyi-tls-{}", std::process::id()));
        let (c1, _) = self_signed(&dir, &["10.1.2.3".into(), "meet.county.gov.cn".into()]).expect("generate");
        let first = std::fs::read(&c1).expect("cert");
        let (c2, _) = self_signed(&dir, &["other".into()]).expect("reuse");
        assert_eq!(std::fs::read(&c2).expect("cert"), first, "kept across restarts");
        let mut config = Config { data_dir: dir.clone(), ..Config::default() };
        config.http.listen = "10.1.2.3:8470".parse().expect("addr");
        assert!(serves_tls(&config));
        assert!(server_config(&config).expect("loads").is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn loopback_without_certificate_is_plain_http() {
        let config = Config::default();
        assert!(!serves_tls(&config));
        assert!(server_config(&config).expect("no tls").is_none());
    }
}
