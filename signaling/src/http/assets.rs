//! The web client, embedded in the binary: no build step, no CDN, nothing
//! fetched from anywhere but this server.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        ($name, $mime, include_bytes!(concat!("../../../web-client/", $name)) as &[u8])
    };
}

const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("protocol.js", "text/javascript; charset=utf-8"),
    asset!("media.js", "text/javascript; charset=utf-8"),
    asset!("check.js", "text/javascript; charset=utf-8"),
    asset!("prejoin.js", "text/javascript; charset=utf-8"),
    asset!("chair.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("model.js", "text/javascript; charset=utf-8"),
    asset!("meeting-i18n.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("console.html", "text/html; charset=utf-8"),
    asset!("console.js", "text/javascript; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("console-api.js", "text/javascript; charset=utf-8"),
    asset!("console-calendar.js", "text/javascript; charset=utf-8"),
    asset!("console-detail.js", "text/javascript; charset=utf-8"),
    asset!("console-recordings.js", "text/javascript; charset=utf-8"),
    asset!("console-form.js", "text/javascript; charset=utf-8"),
    asset!("console-i18n.js", "text/javascript; charset=utf-8"),
    asset!("console-org.js", "text/javascript; charset=utf-8"),
    asset!("console-templates.js", "text/javascript; charset=utf-8"),
    asset!("console-tree.js", "text/javascript; charset=utf-8"),
    asset!("console-util.js", "text/javascript; charset=utf-8"),
    asset!("console-rules.js", "text/javascript; charset=utf-8"),
    asset!("console-password.js", "text/javascript; charset=utf-8"),
    asset!("console-accounts.js", "text/javascript; charset=utf-8"),
    asset!("console-audit.js", "text/javascript; charset=utf-8"),
    asset!("console-i18n-admin.js", "text/javascript; charset=utf-8"),
];

/// For working on the client: `HUIYI_DEV_ASSETS=web-client` serves the files
/// from that directory instead of the embedded copies (only the names above).
fn dev_override(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("HUIYI_DEV_ASSETS")?;
    std::fs::read(std::path::Path::new(&dir).join(name)).ok()
}

/// Serves one embedded file by name.
pub fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((name, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'",
                ),
            ],
            dev_override(name).unwrap_or_else(|| body.to_vec()),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// Every page, script and style sheet of web-client/ is embedded (a
    /// module missing here blanks the page that imports it).
    #[test]
    fn every_client_file_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../web-client");
        for entry in std::fs::read_dir(dir).expect("web-client/") {
            let name = entry.expect("entry").file_name().to_string_lossy().to_string();
            if [".js", ".css", ".html"].iter().any(|e| name.ends_with(e)) {
                assert!(super::ASSETS.iter().any(|(n, _, _)| *n == name), "{name} is not embedded");
            }
        }
    }
}
