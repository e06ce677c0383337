//! What every response and every state-changing request goes through:
//! security headers on every page and answer, a cross-site request check
//! (CSRF) beyond `SameSite=Strict` cookies — a browser's request that
//! changes state must come from this server's own pages — and an audit
//! record of every refusal by the permission model (等保 2.0).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::common::{ApiError, AppState, Denied};
use crate::store::NewAudit;

/// Browsers send `Origin`; it must be this server (same host and port as
/// `Host`) or a configured origin. Clients that are not browsers send none.
pub(super) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    !host.is_empty() && origin_host == host
}

/// A state-changing request from another site: its `Origin` is foreign, or
/// the browser says so (`Sec-Fetch-Site: cross-site` / `same-site`).
fn cross_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let foreign_fetch = matches!(fetch_site, Some("cross-site" | "same-site"))
        && !headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| allowed.iter().any(|a| a.trim_end_matches('/') == o));
    foreign_fetch || !origin_allowed(headers, allowed)
}

/// The middleware.
pub(super) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // WHEP players are on other sites by design; their URL is their
    // capability (a signed viewer link), no cookie rides along.
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !request.uri().path().starts_with("/whep/");
    let what = format!("{} {}", request.method(), request.uri().path());
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let mut response = if changes && cross_site(request.headers(), &state.config.signaling.allowed_origins) {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a request from another site may not change anything here",
        )
        .into_response()
    } else {
        next.run(request).await
    };
    if let Some(denied) = response.extensions_mut().remove::<Denied>() {
        let store = state.store.clone();
        let now = crate::clock::unix_secs();
        let recorded = tokio::task::spawn_blocking(move || {
            let audit = NewAudit {
                actor: Some(&denied.actor),
                action: "denied",
                target: Some(&what),
                detail: &denied.message,
                source: source.as_deref(),
                outcome: "denied",
            };
            store.audit(audit, now)
        })
        .await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::error!(?recorded, "cannot record a refusal in the audit log");
        }
    }
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    ));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn origin_must_be_this_server() {
        let o = |origin: Option<&str>, host: &str| {
            let mut pairs = vec![("host", host)];
            if let Some(o) = origin {
                pairs.push(("origin", o));
            }
            headers(&pairs)
        };
        assert!(origin_allowed(&o(Some("http://127.0.0.1:8470"), "127.0.0.1:8470"), &[]));
        assert!(origin_allowed(&o(Some("https://meet.gov:443"), "meet.gov:443"), &[]));
        assert!(!origin_allowed(&o(Some("https://evil.example"), "127.0.0.1:8470"), &[]));
        assert!(origin_allowed(&o(None, "127.0.0.1:8470"), &[]), "non-browser clients");
        assert!(origin_allowed(
            &o(Some("https://portal.gov"), "127.0.0.1:8470"),
            &["https://portal.gov".to_string()]
        ));
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let host = ("host", "127.0.0.1:8470");
        assert!(cross_site(&headers(&[host, ("origin", "https://evil.example")]), &[]));
        assert!(cross_site(&headers(&[host, ("sec-fetch-site", "cross-site")]), &[]));
        assert!(!cross_site(
            &headers(&[host, ("origin", "http://127.0.0.1:8470"), ("sec-fetch-site", "same-origin")]),
            &[]
        ));
        assert!(!cross_site(&headers(&[host]), &[]), "curl, the load generator, tests");
    }
}
