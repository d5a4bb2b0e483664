//! Origin checks, admin-token checks and the security headers every response carries.

use http::{HeaderMap, HeaderValue, header};

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether a request's `Origin` may use this server.
///
/// Browsers send `Origin` on every WebSocket handshake and cross-origin POST; a request without
/// one comes from a non-browser client, which the same-origin policy does not concern. An origin
/// is allowed when its host and port equal the request's `Host`, or when it is in `allowed`.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(authority) =
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    authority.eq_ignore_ascii_case(host)
}

/// Whether the request carries `Authorization: Bearer <expected>`, compared in constant time.
/// Tokens in the URL are never looked at.
pub(crate) fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else { return false };
    constant_time_eq(token.trim().as_bytes(), expected.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds the headers every response carries.
pub(crate) fn add_security_headers(headers: &mut HeaderMap, is_api: bool) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_and_allowlisted_origins_pass_others_fail() {
        let allowed = vec!["https://dash.example.org".to_owned()];
        assert!(origin_allowed(&headers(&[("host", "127.0.0.1:3070")]), &allowed));
        assert!(origin_allowed(
            &headers(&[("host", "127.0.0.1:3070"), ("origin", "http://127.0.0.1:3070")]),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(&[("host", "x:1"), ("origin", "https://dash.example.org")]),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "127.0.0.1:3070"), ("origin", "http://127.0.0.1:3071")]),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "127.0.0.1:3070"), ("origin", "null")]),
            &allowed
        ));
        assert!(!origin_allowed(&headers(&[("origin", "http://127.0.0.1:3070")]), &allowed));
        assert!(!origin_allowed(
            &headers(&[("host", "a.com"), ("origin", "http://a.com.evil.org")]),
            &allowed
        ));
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(&headers(&[("authorization", "Bearer s3cret")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[("authorization", "Bearer s3cre")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[("authorization", "Basic s3cret")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[]), "s3cret"));
    }
}
