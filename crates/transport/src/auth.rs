//! Viewer sign-in: who may read the report.
//!
//! Off by default. With a viewer token, a browser exchanges the token for a session cookie at
//! `POST /api/session`, and tools may send the token itself as `Authorization: Bearer`. With a
//! proxy header, a request from a trusted reverse-proxy address that carries the header is
//! signed in as the user it names (the header is ignored from any other address, so it cannot
//! be forged by a client that reaches the server directly).
//!
//! The cookie holds its own expiry and an HMAC-SHA256 of it, under a key derived from the token:
//! there is no session store, sessions survive a restart, and changing the token signs everyone
//! out. The cookie is `HttpOnly` (scripts never see it), `SameSite=Strict` (other sites' pages
//! never send it) and `Secure` when served over TLS or when configured.
//!
//! The operator (who may act on repositories) signs in the same way with the operator token, at
//! the same endpoint, and gets a second cookie ([`OPERATOR_COOKIE`]) under a key derived from
//! that token; it names a random session id, so the action log can tell sessions apart. An
//! operator is a viewer too.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gitops_protocol::{OperatorInfo, Session, SignInMethod};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use ring::hmac;

use crate::http_util::{Body, error, json, retry_later};
use crate::security::constant_time_eq;
use crate::{Live, lock};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gitops_live_session";

/// The operator session cookie's name.
pub const OPERATOR_COOKIE: &str = "gitops_live_operator";

/// A secret string (a token) whose `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself, for comparing; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An address or a network (`10.0.0.0/8`, `::1`): where a trusted reverse proxy may connect from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    network: IpAddr,
    prefix: u8,
}

impl AddrRange {
    /// Whether `address` is in the range. IPv4 addresses seen as IPv6 (`::ffff:a.b.c.d`, on a
    /// dual-stack listener) match their IPv4 ranges.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }

    /// The loopback addresses, `127.0.0.1` and `::1`: a proxy on the same machine.
    pub fn loopback() -> Vec<Self> {
        vec![
            Self { network: IpAddr::from([127, 0, 0, 1]), prefix: 32 },
            Self { network: IpAddr::from(std::net::Ipv6Addr::LOCALHOST), prefix: 128 },
        ]
    }
}

impl FromStr for AddrRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Who may read the report. The default lets everyone (a homelab behind its own network).
#[derive(Debug, Clone)]
pub struct ViewerAuth {
    /// The viewer token: exchanged for a session cookie at `POST /api/session`, or sent by tools
    /// as `Authorization: Bearer <token>`. `None` turns token sign-in off.
    pub token: Option<Secret>,
    /// How long a session cookie lasts.
    pub session_ttl: Duration,
    /// A header a trusted reverse proxy sets to the signed-in user's name (e.g. `Remote-User`).
    /// `None` turns proxy sign-in off.
    pub proxy_header: Option<HeaderName>,
    /// The addresses a request carrying `proxy_header` must come from.
    pub trusted_proxies: Vec<AddrRange>,
    /// Marks the cookie `Secure` even when this server speaks plain HTTP (TLS ends at a proxy).
    pub secure_cookies: bool,
}

impl Default for ViewerAuth {
    fn default() -> Self {
        Self {
            token: None,
            session_ttl: Duration::from_secs(12 * 3600),
            proxy_header: None,
            trusted_proxies: AddrRange::loopback(),
            secure_cookies: false,
        }
    }
}

impl ViewerAuth {
    /// Whether data endpoints need a signed-in viewer.
    pub fn required(&self) -> bool {
        self.token.is_some() || self.proxy_header.is_some()
    }

    fn methods(&self) -> Vec<SignInMethod> {
        let mut methods = Vec::new();
        if self.proxy_header.is_some() {
            methods.push(SignInMethod::Proxy);
        }
        if self.token.is_some() {
            methods.push(SignInMethod::Token);
        }
        methods
    }
}

/// Who may act on repositories. Off (no token) by default.
#[derive(Debug, Clone)]
pub struct OperatorAuth {
    /// The operator token: exchanged for an operator session cookie at `POST /api/session`, or
    /// sent by tools as `Authorization: Bearer <token>`. `None` turns every action off.
    pub token: Option<Secret>,
    /// How long an operator session cookie lasts.
    pub session_ttl: Duration,
}

impl Default for OperatorAuth {
    fn default() -> Self {
        Self { token: None, session_ttl: Duration::from_secs(8 * 3600) }
    }
}

/// A request signed in as the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operator {
    /// How the action log names it: `operator token` or `operator session <id>`.
    pub(crate) who: String,
    /// When its session cookie expires (Unix seconds), when signed in with one.
    pub(crate) expires: Option<u64>,
}

/// A signed-in request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Viewer {
    /// The user a trusted proxy named.
    pub(crate) user: Option<String>,
    /// When the session cookie expires (Unix seconds), when signed in with one.
    pub(crate) expires: Option<u64>,
}

impl Viewer {
    /// When the session ends, as a timer deadline; `None` for sessions without an end.
    pub(crate) fn deadline(&self) -> Option<tokio::time::Instant> {
        let left = self.expires?.saturating_sub(unix_now());
        Some(tokio::time::Instant::now() + Duration::from_secs(left))
    }
}

/// Sign-in failures allowed from one address within [`FAILURE_WINDOW`].
const MAX_FAILURES: u32 = 5;
/// The window failed sign-ins are counted over.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The most addresses whose failed sign-ins are counted at once.
const MAX_TRACKED_ADDRESSES: usize = 10_000;
/// The largest sign-in body read.
const MAX_SIGN_IN_BYTES: usize = 4096;

/// The sign-in state of a running server: the configuration, the cookie key and the failure counts.
pub(crate) struct Gate {
    config: ViewerAuth,
    key: Option<hmac::Key>,
    operator: OperatorAuth,
    operator_key: Option<hmac::Key>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// A key derived from `token` for `purpose`: a cookie cannot be turned back into the token, and a
/// new token invalidates every cookie made under the old one.
fn derived_key(token: &Secret, purpose: &[u8]) -> hmac::Key {
    let root = hmac::Key::new(hmac::HMAC_SHA256, token.expose().as_bytes());
    let derived = hmac::sign(&root, purpose);
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

impl Gate {
    pub(crate) fn new(config: ViewerAuth, operator: OperatorAuth) -> Self {
        let key = config
            .token
            .as_ref()
            .map(|token| derived_key(token, b"gitops-live viewer session key v1"));
        let operator_key = operator
            .token
            .as_ref()
            .map(|token| derived_key(token, b"gitops-live operator session key v1"));
        Self { config, key, operator, operator_key, failures: Mutex::new(HashMap::new()) }
    }

    /// Whether an operator token is configured.
    pub(crate) fn has_operator(&self) -> bool {
        self.operator.token.is_some()
    }

    /// The operator making this request, if it is signed in as one (bearer token or cookie).
    pub(crate) fn operator(&self, headers: &HeaderMap) -> Option<Operator> {
        let token = self.operator.token.as_ref()?;
        if crate::security::bearer_matches(headers, token.expose()) {
            return Some(Operator { who: "operator token".to_owned(), expires: None });
        }
        cookie_values(headers, OPERATOR_COOKIE).find_map(|value| self.verify_operator_cookie(value))
    }

    /// An operator cookie value valid until `expires` for session `id`: `<expires>.<id>.<hex HMAC>`.
    fn make_operator_cookie(&self, expires: u64, id: &str) -> Option<String> {
        let key = self.operator_key.as_ref()?;
        let tag = hmac::sign(key, format!("op1:{expires}:{id}").as_bytes());
        Some(format!("{expires}.{id}.{}", hex(tag.as_ref())))
    }

    fn verify_operator_cookie(&self, value: &str) -> Option<Operator> {
        let key = self.operator_key.as_ref()?;
        let mut parts = value.splitn(3, '.');
        let (expires, id, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: u64 = expires.parse().ok()?;
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tag = unhex(tag)?;
        hmac::verify(key, format!("op1:{expires}:{id}").as_bytes(), &tag).ok()?;
        (expires > unix_now())
            .then(|| Operator { who: format!("operator session {id}"), expires: Some(expires) })
    }

    pub(crate) fn required(&self) -> bool {
        self.config.required()
    }

    /// Who is making this request, or `None` when it is not signed in (always signed in when
    /// sign-in is off). `remote` is the connection's peer, not a forwarded address: it decides
    /// whether a proxy's header is believed.
    pub(crate) fn viewer(&self, headers: &HeaderMap, remote: SocketAddr) -> Option<Viewer> {
        if !self.required() {
            return Some(Viewer::default());
        }
        if let Some(user) = self.proxy_user(headers, remote) {
            return Some(Viewer { user: Some(user), expires: None });
        }
        if let Some(operator) = self.operator(headers) {
            return Some(Viewer { user: None, expires: operator.expires });
        }
        let token = self.config.token.as_ref()?;
        if crate::security::bearer_matches(headers, token.expose()) {
            return Some(Viewer::default());
        }
        let expires =
            cookie_values(headers, SESSION_COOKIE).find_map(|value| self.verify_cookie(value))?;
        Some(Viewer { user: None, expires: Some(expires) })
    }

    /// The address of the client behind `remote`: when `remote` is a trusted proxy and the
    /// request carries `X-Forwarded-For`, its last entry (the one the proxy added), else `remote`
    /// itself. Per-address limits (connection caps, the sign-in throttle) count this address.
    pub(crate) fn client_address(&self, headers: &HeaderMap, remote: SocketAddr) -> SocketAddr {
        if !self.config.trusted_proxies.iter().any(|range| range.contains(remote.ip())) {
            return remote;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        forwarded.map_or(remote, |ip| SocketAddr::new(ip, remote.port()))
    }

    /// The user named by the proxy header, when the request comes from a trusted proxy.
    fn proxy_user(&self, headers: &HeaderMap, remote: SocketAddr) -> Option<String> {
        let name = self.config.proxy_header.as_ref()?;
        let value = headers.get(name)?.to_str().ok()?.trim();
        if value.is_empty() {
            return None;
        }
        if !self.config.trusted_proxies.iter().any(|range| range.contains(remote.ip())) {
            tracing::debug!(%remote, header = %name, "proxy header from an untrusted address ignored");
            return None;
        }
        Some(value.to_owned())
    }

    /// A cookie value valid until `expires` (Unix seconds): `<expires>.<hex HMAC>`.
    fn make_cookie(&self, expires: u64) -> Option<String> {
        let key = self.key.as_ref()?;
        let tag = hmac::sign(key, format!("v1:{expires}").as_bytes());
        Some(format!("{expires}.{}", hex(tag.as_ref())))
    }

    /// The expiry of a valid, unexpired cookie value.
    fn verify_cookie(&self, value: &str) -> Option<u64> {
        let key = self.key.as_ref()?;
        let (expires, tag) = value.split_once('.')?;
        let expires: u64 = expires.parse().ok()?;
        let tag = unhex(tag)?;
        hmac::verify(key, format!("v1:{expires}").as_bytes(), &tag).ok()?;
        (expires > unix_now()).then_some(expires)
    }

    fn session(&self, viewer: Option<&Viewer>, operator: OperatorInfo) -> Session {
        Session {
            required: self.required(),
            methods: self.config.methods(),
            authenticated: viewer.is_some(),
            user: viewer.and_then(|v| v.user.clone()),
            expires_at: viewer.and_then(|v| v.expires).and_then(rfc3339),
            operator,
        }
    }

    /// `Some(seconds to wait)` when `ip` has used up its failed attempts.
    fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let failures = lock(&self.failures);
        let (since, count) = failures.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    fn record_failure(&self, ip: IpAddr) {
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&ip) {
            failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                // Memory stays bounded; so many addresses failing at once is logged instead.
                tracing::warn!(%ip, "too many addresses failing to sign in to track them all");
                return;
            }
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    fn forget_failures(&self, ip: IpAddr) {
        lock(&self.failures).remove(&ip);
    }

    fn cookie_header(
        &self,
        name: &str,
        value: &str,
        max_age: u64,
        tls: bool,
    ) -> Option<HeaderValue> {
        let secure = if tls || self.config.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .ok()
    }
}

/// The values of every cookie called `name` the request carries.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The answer to a data request without a signed-in viewer.
pub(crate) fn unauthenticated(live: &Live) -> Response<Body> {
    live.metrics.unauthenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    error(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in: POST /api/session")
}

/// `GET /api/session`: whether sign-in is needed and whether this request is signed in. `peer`
/// is the connection's address (a proxy's headers count only from a trusted one).
pub(crate) fn session_info(
    live: &Live,
    request: &Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let viewer = live.gate.viewer(request.headers(), peer);
    let operator = live.operator_info(live.gate.operator(request.headers()).as_ref());
    session_response(&live.gate.session(viewer.as_ref(), operator), &[])
}

/// `POST /api/session` with `{"token": "..."}`: checks the token and sets the session cookie.
pub(crate) async fn sign_in(
    live: Arc<Live>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let gate = &live.gate;
    // Failures are counted per client, the one behind a trusted proxy when there is one.
    let remote = gate.client_address(request.headers(), peer);
    if gate.config.token.is_none() && gate.operator.token.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "token-sign-in-off",
            "this server has no viewer or operator token; nothing to sign in with",
        );
    }
    if let Some(wait) = gate.blocked(remote.ip()) {
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            "too many failed sign-ins from this address",
            wait,
        );
    }
    let body = http_body_util::Limited::new(request.into_body(), MAX_SIGN_IN_BYTES);
    let bytes: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "the body is over 4 KiB or cut off",
            );
        }
    };
    #[derive(serde::Deserialize)]
    struct SignIn {
        token: String,
    }
    let Ok(sign_in) = serde_json::from_slice::<SignIn>(&bytes) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            r#"send {"token": "<viewer or operator token>"}"#,
        );
    };
    let given = sign_in.token.trim().as_bytes();
    let matches = |token: &Option<Secret>| {
        token.as_ref().is_some_and(|token| constant_time_eq(given, token.expose().as_bytes()))
    };
    // Both are compared, whichever matches, so the time taken says nothing about which it was.
    let (is_operator, is_viewer) = (matches(&gate.operator.token), matches(&gate.config.token));
    if !is_operator && !is_viewer {
        gate.record_failure(remote.ip());
        live.metrics.sign_in_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%remote, "a sign-in failed");
        return error(StatusCode::UNAUTHORIZED, "bad-token", "that token was not accepted");
    }
    gate.forget_failures(remote.ip());
    let tls = live.config.tls;
    if is_operator {
        let ttl = gate.operator.session_ttl.as_secs().max(1);
        let expires = unix_now() + ttl;
        let id = session_id();
        tracing::info!(%remote, session = %id, "the operator signed in");
        let cookie = gate
            .make_operator_cookie(expires, &id)
            .and_then(|v| gate.cookie_header(OPERATOR_COOKIE, &v, ttl, tls));
        let operator = Operator { who: format!("operator session {id}"), expires: Some(expires) };
        let viewer = Viewer { user: None, expires: Some(expires) };
        let info = live.operator_info(Some(&operator));
        return session_response(&gate.session(Some(&viewer), info), &[cookie]);
    }
    let ttl = gate.config.session_ttl.as_secs().max(1);
    let expires = unix_now() + ttl;
    let viewer = Viewer { user: None, expires: Some(expires) };
    let cookie =
        gate.make_cookie(expires).and_then(|v| gate.cookie_header(SESSION_COOKIE, &v, ttl, tls));
    // Signing in as a viewer ends an operator session in this browser.
    let ended = gate.cookie_header(OPERATOR_COOKIE, "", 0, tls);
    let info = live.operator_info(None);
    session_response(&gate.session(Some(&viewer), info), &[cookie, ended])
}

/// A random operator session id: 8 hex digits, enough to tell sessions apart in the log.
fn session_id() -> String {
    let mut bytes = [0u8; 4];
    // The system's random source; should it fail, the time still tells sessions apart.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        bytes = (SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            .to_be_bytes();
    }
    hex(&bytes)
}

/// `DELETE /api/session`: clears the cookie. The signature cannot be revoked; the cookie is
/// gone from this browser, and changing the token ends every session.
pub(crate) fn sign_out(
    live: &Live,
    request: &Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let mut headers = request.headers().clone();
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    // What is left (a trusted proxy's header) may still sign the request in.
    let viewer = live.gate.viewer(&headers, peer).filter(|_| live.gate.required());
    let tls = live.config.tls;
    let cookies = [
        live.gate.cookie_header(SESSION_COOKIE, "", 0, tls),
        live.gate.cookie_header(OPERATOR_COOKIE, "", 0, tls),
    ];
    let mut session = live.gate.session(viewer.as_ref(), live.operator_info(None));
    session.authenticated = viewer.is_some() || !live.gate.required();
    session_response(&session, &cookies)
}

fn session_response(session: &Session, cookies: &[Option<HeaderValue>]) -> Response<Body> {
    let mut response = json(StatusCode::OK, serde_json::to_vec(session).unwrap_or_default());
    for cookie in cookies.iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    response
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn rfc3339(unix: u64) -> Option<String> {
    let seconds = i64::try_from(unix).ok()?;
    jiff::Timestamp::from_second(seconds).ok().map(|t| t.to_string())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(token: &str) -> Gate {
        Gate::new(
            ViewerAuth { token: Some(Secret::new(token)), ..ViewerAuth::default() },
            OperatorAuth::default(),
        )
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let cookie = format!("theme=dark; {SESSION_COOKIE}={value}; other=1");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).expect("header"));
        headers
    }

    fn with_operator_cookie(value: &str) -> HeaderMap {
        let cookie = format!("{SESSION_COOKIE}=junk; {OPERATOR_COOKIE}={value}");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).expect("header"));
        headers
    }

    fn remote(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 40000)
    }

    #[test]
    fn a_cookie_is_valid_until_it_expires_and_only_under_its_own_token() {
        let gate = gate("0123456789abcdef-viewer");
        let later = unix_now() + 60;
        let cookie = gate.make_cookie(later).expect("a key");
        let viewer = gate.viewer(&with_cookie(&cookie), remote("10.0.0.9")).expect("signed in");
        assert_eq!(viewer.expires, Some(later));

        let expired = gate.make_cookie(unix_now() - 1).expect("a key");
        assert!(gate.viewer(&with_cookie(&expired), remote("10.0.0.9")).is_none(), "expired");

        let (_, tag) = cookie.split_once('.').expect("a dot");
        let extended = format!("{}.{tag}", later + 3600);
        assert!(
            gate.viewer(&with_cookie(&extended), remote("10.0.0.9")).is_none(),
            "edited expiry"
        );

        let other = self::gate("another-token-0123456789");
        assert!(other.viewer(&with_cookie(&cookie), remote("10.0.0.9")).is_none(), "new token");
        for junk in
            ["", ".", "x.y", "1.zz", &format!("{later}."), &format!("{later}.{}", "0".repeat(64))]
        {
            assert!(gate.viewer(&with_cookie(junk), remote("10.0.0.9")).is_none(), "{junk:?}");
        }
        assert!(gate.viewer(&HeaderMap::new(), remote("10.0.0.9")).is_none(), "no cookie");
    }

    #[test]
    fn an_operator_cookie_names_its_session_and_is_valid_only_under_the_operator_token() {
        let operator = Secret::new("operator-0123456789abcdef");
        let gate = Gate::new(
            ViewerAuth {
                token: Some(Secret::new("viewer-0123456789abcdef")),
                ..Default::default()
            },
            OperatorAuth { token: Some(operator.clone()), ..Default::default() },
        );
        let later = unix_now() + 60;
        let cookie = gate.make_operator_cookie(later, "0a1b2c3d").expect("a key");
        let signed_in = gate.operator(&with_operator_cookie(&cookie)).expect("an operator");
        assert_eq!(signed_in.who, "operator session 0a1b2c3d");
        assert_eq!(signed_in.expires, Some(later));
        // An operator is a viewer too.
        assert!(gate.viewer(&with_operator_cookie(&cookie), remote("10.0.0.9")).is_some());
        // A viewer cookie is not an operator cookie, even under the operator cookie's name.
        let viewer_cookie = gate.make_cookie(later).expect("a key");
        assert!(gate.operator(&with_operator_cookie(&viewer_cookie)).is_none());
        assert!(gate.operator(&with_cookie(&viewer_cookie)).is_none());
        // Edited id, expiry, or another token: refused.
        let edited_id = cookie.replacen("0a1b2c3d", "0a1b2c3e", 1);
        let edited_expiry = cookie.replacen(&later.to_string(), &(later + 1).to_string(), 1);
        for bad in [edited_id, edited_expiry, "1.2.3".to_owned(), format!("{later}..aa")] {
            assert!(gate.operator(&with_operator_cookie(&bad)).is_none(), "{bad:?}");
        }
        let other = Gate::new(
            ViewerAuth::default(),
            OperatorAuth {
                token: Some(Secret::new("another-operator-token")),
                ..Default::default()
            },
        );
        assert!(other.operator(&with_operator_cookie(&cookie)).is_none());
        // The bearer token works for tools; the viewer token does not make an operator.
        let mut bearer = HeaderMap::new();
        let value = format!("Bearer {}", operator.expose());
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_str(&value).expect("header"));
        assert_eq!(gate.operator(&bearer).map(|o| o.who).as_deref(), Some("operator token"));
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer viewer-0123456789abcdef"),
        );
        assert!(gate.operator(&bearer).is_none());
        assert!(gate.viewer(&bearer, remote("10.0.0.9")).is_some());
    }

    #[test]
    fn the_proxy_header_counts_only_from_trusted_addresses() {
        let gate = Gate::new(
            ViewerAuth {
                proxy_header: Some(HeaderName::from_static("remote-user")),
                trusted_proxies: vec!["10.1.0.0/16".parse().expect("range")],
                ..ViewerAuth::default()
            },
            OperatorAuth::default(),
        );
        let mut headers = HeaderMap::new();
        headers.insert("remote-user", HeaderValue::from_static("alice"));
        let viewer = gate.viewer(&headers, remote("10.1.2.3")).expect("trusted proxy");
        assert_eq!(viewer.user.as_deref(), Some("alice"));
        assert!(gate.viewer(&headers, remote("::ffff:10.1.2.3")).is_some(), "v4-mapped");
        assert!(gate.viewer(&headers, remote("10.2.0.1")).is_none(), "untrusted address");
        assert!(gate.viewer(&HeaderMap::new(), remote("10.1.2.3")).is_none(), "no header");
        headers.insert("remote-user", HeaderValue::from_static("  "));
        assert!(gate.viewer(&headers, remote("10.1.2.3")).is_none(), "empty user");
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_last_forwarded_address() {
        let gate = Gate::new(ViewerAuth::default(), OperatorAuth::default()); // trusts loopback
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.4"));
        headers.append("x-forwarded-for", HeaderValue::from_static("192.0.2.7"));
        let behind = gate.client_address(&headers, remote("127.0.0.1"));
        assert_eq!(
            behind.ip(),
            "192.0.2.7".parse::<IpAddr>().expect("ip"),
            "the proxy's own entry"
        );
        assert_eq!(
            gate.client_address(&headers, remote("10.9.9.9")),
            remote("10.9.9.9"),
            "untrusted"
        );
        assert_eq!(
            gate.client_address(&HeaderMap::new(), remote("127.0.0.1")),
            remote("127.0.0.1")
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(gate.client_address(&headers, remote("127.0.0.1")), remote("127.0.0.1"), "junk");
    }

    #[test]
    fn address_ranges_parse_and_match() {
        let range: AddrRange = "192.168.0.0/24".parse().expect("range");
        assert!(range.contains("192.168.0.200".parse().expect("ip")));
        assert!(!range.contains("192.168.1.1".parse().expect("ip")));
        let all: AddrRange = "0.0.0.0/0".parse().expect("range");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        assert!(!all.contains("::1".parse().expect("ip")));
        let v6: AddrRange = "fd00::/8".parse().expect("range");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains("fe80::1".parse().expect("ip")));
        assert!(AddrRange::loopback()[1].contains("::1".parse().expect("ip")));
        for bad in ["", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x"] {
            assert!(bad.parse::<AddrRange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failures_block_an_address_after_the_limit_and_not_others() {
        let gate = gate("0123456789abcdef-viewer");
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        for _ in 0..MAX_FAILURES {
            assert!(gate.blocked(ip).is_none());
            gate.record_failure(ip);
        }
        assert!(gate.blocked(ip).is_some_and(|s| (1..=60).contains(&s)));
        assert!(gate.blocked("10.0.0.2".parse().expect("ip")).is_none());
        gate.forget_failures(ip);
        assert!(gate.blocked(ip).is_none());
    }

    #[test]
    fn the_failure_table_stays_bounded() {
        let gate = gate("0123456789abcdef-viewer");
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 500) {
            gate.record_failure(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(lock(&gate.failures).len(), MAX_TRACKED_ADDRESSES);
        let known = IpAddr::from(7u32.to_be_bytes());
        for _ in 0..MAX_FAILURES {
            gate.record_failure(known);
        }
        assert!(gate.blocked(known).is_some(), "addresses already tracked keep counting");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = ViewerAuth {
            token: Some(Secret::new("hunter2-hunter2-hunter2")),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
