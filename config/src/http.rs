//! The control plane's HTTP listener (`[http]`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Problem;

/// Where the HTTP(S) server listens and which certificate it presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address of the HTTP server.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the server speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key belonging to `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Host names and IP addresses for the self-signed certificate generated
    /// when no certificate is configured and `listen` is not loopback. Empty
    /// means the listen address.
    pub hostnames: Vec<String>,
    /// Open connections in all (HTTP, WebSocket, TLS); more are closed at once.
    pub max_connections: u32,
    /// Open connections from one address.
    pub max_connections_per_source: u32,
    /// Seconds for a TLS handshake, a request's headers, or an idle
    /// keep-alive connection's next request.
    pub header_timeout_secs: u32,
}

/// The documented default HTTP port on loopback.
pub const DEFAULT_HTTP_PORT: u16 = 8470;

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
            tls_cert: None,
            tls_key: None,
            hostnames: Vec::new(),
            max_connections: 4000,
            max_connections_per_source: 200,
            header_timeout_secs: 10,
        }
    }
}

impl HttpConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if !(16..=1_000_000).contains(&self.max_connections) {
            problems.push(Problem::new("http.max_connections", "must be between 16 and 1000000"));
        }
        if self.max_connections_per_source == 0 || self.max_connections_per_source > self.max_connections {
            problems.push(Problem::new(
                "http.max_connections_per_source",
                "must be between 1 and http.max_connections",
            ));
        }
        if !(1..=300).contains(&self.header_timeout_secs) {
            problems.push(Problem::new("http.header_timeout_secs", "must be between 1 and 300"));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                problems.push(Problem::new("http.tls_key", "is required when http.tls_cert is set"))
            }
            (None, Some(_)) => {
                problems.push(Problem::new("http.tls_cert", "is required when http.tls_key is set"))
            }
            _ => {}
        }
        for (key, path) in [("http.tls_cert", &self.tls_cert), ("http.tls_key", &self.tls_key)] {
            if let Some(path) = path {
                if !path.is_file() {
                    problems.push(Problem::new(key, format!("{} is not a readable file", path.display())));
                }
            }
        }
    }
}
