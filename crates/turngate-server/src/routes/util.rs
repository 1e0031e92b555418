//! Small helpers shared by the routes.

use axum::http::HeaderMap;

/// Compares secrets in time independent of where they differ.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True if the request carries `Authorization: Bearer <token>`, or no token
/// is configured.
pub(super) fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    if token.is_empty() {
        return true;
    }
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    same_secret(presented.trim().as_bytes(), token.as_bytes())
}

/// True if header `name` carries exactly `token`, or no token is configured.
pub(super) fn header_token_ok(headers: &HeaderMap, name: &str, token: &str) -> bool {
    if token.is_empty() {
        return true;
    }
    let presented = headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    same_secret(presented.trim().as_bytes(), token.as_bytes())
}

/// The answer to a request that lacks the credential a door requires. It
/// says which credential, never what was expected.
pub(super) fn unauthorized(what: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (axum::http::StatusCode::UNAUTHORIZED, format!("{what} is required\n")).into_response()
}

/// The externally visible base URL: the configured one, or `https://` plus
/// the request's `Host`.
pub(super) fn public_base(configured: &str, headers: &HeaderMap) -> String {
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_owned();
    }
    let host =
        headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("https://{host}")
}

/// `https://host` → `wss://host`, `http://host` → `ws://host`.
pub(super) fn ws_base(http_base: &str) -> String {
    if let Some(rest) = http_base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_base.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{same_secret, ws_base};

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }

    #[test]
    fn websocket_urls_follow_the_http_scheme() {
        assert_eq!(ws_base("https://a.example"), "wss://a.example");
        assert_eq!(ws_base("http://127.0.0.1:8080"), "ws://127.0.0.1:8080");
    }
}
