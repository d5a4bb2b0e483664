//! Host and Origin checks (the defence against DNS rebinding and cross-site use), admin-token
//! checks and the security headers every response carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderValue, Request, header};

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Which `Host` names and which `Origin`s may use this server.
///
/// DNS rebinding: a page on `http://attacker.example:3070` whose name the attacker re-resolves to
/// 127.0.0.1 talks to this server as if it were its own origin, and the browser sends
/// `Host: attacker.example:3070` and the same `Origin`. Comparing the Origin with the Host proves
/// nothing then; refusing every name the operator did not give does. An IP literal cannot be
/// rebound (the browser's origin *is* the address), so those always pass, as do `localhost`
/// and `*.localhost` (browsers resolve them to loopback themselves, RFC 6761).
#[derive(Debug, Clone)]
pub(crate) struct HostPolicy {
    /// Exact names, lowercase, without a trailing dot.
    names: Vec<String>,
    /// Suffixes of `*.suffix` patterns, each starting with a dot.
    suffixes: Vec<String>,
    /// `*` was given: every well-formed name passes (the operator turned the check off).
    any: bool,
    /// Allowed origins, normalised (`scheme://host:port`).
    origins: Vec<String>,
    /// The server's own scheme: `https` with TLS, else `http`.
    scheme: &'static str,
}

/// Why a request's `Host` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostRefusal {
    /// No `Host` header (and no authority in the request line).
    Missing,
    /// More than one `Host` header.
    Duplicated,
    /// A `Host` that is not `name[:port]`, or a request line's authority that differs from it.
    Malformed,
    /// A well-formed name this server does not answer to.
    NotAllowed(String),
}

impl HostRefusal {
    /// The reason given to the client.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Missing => "the request has no Host header".to_owned(),
            Self::Duplicated => "the request has more than one Host header".to_owned(),
            Self::Malformed => {
                "the Host header is not a host name with an optional port".to_owned()
            }
            Self::NotAllowed(name) => format!(
                "this server does not answer to the name {name:?}; its operator can allow it with --allowed-host"
            ),
        }
    }
}

/// A parsed `Host` (or the host part of an origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostName {
    /// The name lowercased, without a trailing dot; an IPv6 address without brackets.
    pub(crate) name: String,
    /// An IP address, when the name is one.
    pub(crate) ip: Option<IpAddr>,
    /// The port, when one was given.
    pub(crate) port: Option<u16>,
}

impl HostName {
    /// Parses `name`, `name:port`, `1.2.3.4:port` or `[v6]:port`. Refuses user info, paths,
    /// empty names and characters a DNS name or address cannot hold.
    pub(crate) fn parse(text: &str) -> Option<HostName> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            let ip: Ipv6Addr = v6.parse().ok()?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(after.strip_prefix(':')?)?),
            };
            return Some(HostName { name: ip.to_string(), ip: Some(IpAddr::V6(ip)), port });
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(parse_port(port)?)),
                None => (text, None),
            }
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(valid_label) {
            return None;
        }
        let name = host.to_ascii_lowercase();
        let ip = name.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
        Some(HostName { name, ip, port })
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `scheme://host:port` with the port made explicit, or `None` when `origin` is not one.
fn normalise_origin(origin: &str) -> Option<(String, HostName)> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let host = HostName::parse(rest)?;
    let port = host.port.unwrap_or(default_port);
    let shown = match host.ip {
        Some(IpAddr::V6(_)) => format!("[{}]", host.name),
        _ => host.name.clone(),
    };
    Some((format!("{scheme}://{shown}:{port}"), host))
}

impl HostPolicy {
    /// The policy for `hosts` (names, `*.suffix` patterns, or `*`), `origins` (whose names are
    /// allowed as hosts too) and the server's scheme.
    pub(crate) fn new(hosts: &[String], origins: &[String], tls: bool) -> Self {
        let mut policy = HostPolicy {
            names: vec!["localhost".to_owned()],
            suffixes: vec![".localhost".to_owned()],
            any: false,
            origins: Vec::new(),
            scheme: if tls { "https" } else { "http" },
        };
        for host in hosts {
            let host = host.trim().to_ascii_lowercase();
            let host = host.strip_suffix('.').unwrap_or(&host);
            if host == "*" {
                policy.any = true;
            } else if let Some(suffix) = host.strip_prefix("*.") {
                policy.suffixes.push(format!(".{suffix}"));
            } else if let Some(parsed) = HostName::parse(host) {
                policy.names.push(parsed.name);
            }
        }
        for origin in origins {
            if let Some((normalised, host)) = normalise_origin(origin.trim()) {
                policy.origins.push(normalised);
                policy.names.push(host.name);
            }
        }
        policy
    }

    /// Whether `host` is a name (or address) this server answers to.
    pub(crate) fn allows(&self, host: &HostName) -> bool {
        self.any
            || host.ip.is_some()
            || self.names.contains(&host.name)
            || self.suffixes.iter().any(|s| host.name.ends_with(s.as_str()))
    }

    /// Checks a request's `Host` (exactly one, well formed, allowed; and equal to the request
    /// line's authority when it has one).
    pub(crate) fn check_request<B>(&self, request: &Request<B>) -> Result<(), HostRefusal> {
        let mut values = request.headers().get_all(header::HOST).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(HostRefusal::Duplicated);
        }
        let from_uri = request.uri().authority().map(|a| a.as_str());
        let text = match (first, from_uri) {
            (Some(value), _) => value.to_str().map_err(|_| HostRefusal::Malformed)?,
            (None, Some(authority)) => authority,
            (None, None) => return Err(HostRefusal::Missing),
        };
        let host = HostName::parse(text).ok_or(HostRefusal::Malformed)?;
        if let Some(authority) = from_uri
            && HostName::parse(authority).as_ref() != Some(&host)
        {
            return Err(HostRefusal::Malformed);
        }
        if self.allows(&host) { Ok(()) } else { Err(HostRefusal::NotAllowed(host.name)) }
    }

    /// Whether a request's `Origin` may use this server listening on `port`.
    ///
    /// Browsers send `Origin` on every WebSocket handshake and cross-origin POST; a request
    /// without one comes from a non-browser client, which the same-origin policy does not
    /// concern. An origin passes when it is one of the configured origins (scheme included);
    /// or when its name passes the Host allowlist and it is either the origin the request was
    /// sent to (its name and port equal the request's `Host`, which has passed the allowlist
    /// before routing: a rebinding page never gets this far) or this server's own scheme and
    /// listening port.
    pub(crate) fn origin_allowed(&self, headers: &HeaderMap, port: Option<u16>) -> bool {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let Some(origin) = values.next() else { return true };
        if values.next().is_some() {
            return false;
        }
        let Ok(origin) = origin.to_str() else { return false };
        let Some((normalised, host)) = normalise_origin(origin.trim()) else { return false };
        if self.origins.contains(&normalised) {
            return true;
        }
        if !self.allows(&host) {
            return false;
        }
        // The page came from the name and port this request was sent to: the same origin as
        // the browser sees it, through a port mapping or a TCP proxy too (the server cannot know
        // the port it is published on). Safe because `Host` itself has passed the allowlist, so
        // a rebinding name never gets here.
        let origin_port =
            host.port.unwrap_or(if normalised.starts_with("https:") { 443 } else { 80 });
        let request_host =
            headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(HostName::parse);
        if let Some(request_host) = request_host
            && request_host.name == host.name
            && request_host.port.unwrap_or(origin_port) == origin_port
        {
            return true;
        }
        // Or from this server's own scheme and listening port under an allowed name.
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        normalised.starts_with(self.scheme)
            && normalised.as_bytes().get(self.scheme.len()) == Some(&b':')
            && port.is_some_and(|p| host.port.unwrap_or(default_port) == p)
    }
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

    fn request(host_headers: &[&'static str], uri: &str) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for host in host_headers {
            builder = builder.header("host", *host);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn host_names_parse_strictly() {
        let parsed = HostName::parse("Dash.Example.org.:8080").expect("name with port");
        assert_eq!(
            (parsed.name.as_str(), parsed.port, parsed.ip),
            ("dash.example.org", Some(8080), None)
        );
        let v6 = HostName::parse("[::1]:3070").expect("v6");
        assert_eq!(v6.ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(
            HostName::parse("127.0.0.1").and_then(|h| h.ip),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        for bad in [
            "",
            ":3070",
            "a:",
            "a:99999",
            "a:1:2",
            "user@host",
            "a/b",
            "a b",
            "[::1",
            "[nope]:1",
            "a..b",
            "a:+1",
            "é.example",
        ] {
            assert_eq!(HostName::parse(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn rebinding_names_are_refused_and_local_names_pass() {
        let policy = HostPolicy::new(&[], &[], false);
        for good in [
            "127.0.0.1:3070",
            "localhost:3070",
            "LOCALHOST",
            "[::1]:3070",
            "10.1.2.3:80",
            "app.localhost:3070",
        ] {
            assert_eq!(policy.check_request(&request(&[good], "/")), Ok(()), "{good}");
        }
        assert_eq!(
            policy.check_request(&request(&["rebind.attacker.example:3070"], "/api/audit")),
            Err(HostRefusal::NotAllowed("rebind.attacker.example".into()))
        );
        // A decimal address is a name to the parser, and no allowed one.
        assert!(policy.check_request(&request(&["2130706433:3070"], "/")).is_err());
        assert_eq!(policy.check_request(&request(&[], "/")), Err(HostRefusal::Missing));
        assert_eq!(
            policy.check_request(&request(&["localhost", "localhost"], "/")),
            Err(HostRefusal::Duplicated)
        );
        assert_eq!(
            policy.check_request(&request(&["local host"], "/")),
            Err(HostRefusal::Malformed)
        );
        // An absolute request line must agree with Host.
        assert_eq!(
            policy.check_request(&request(&["localhost:3070"], "http://evil.example:3070/")),
            Err(HostRefusal::Malformed)
        );
        assert_eq!(policy.check_request(&request(&[], "http://localhost:3070/")), Ok(()));
    }

    #[test]
    fn configured_names_patterns_and_origins_pass() {
        let policy = HostPolicy::new(
            &["nas.lan".into(), "*.home.arpa".into()],
            &["https://dash.example.org".into()],
            false,
        );
        for good in ["nas.lan:3070", "NAS.LAN.", "x.home.arpa", "dash.example.org"] {
            assert_eq!(policy.check_request(&request(&[good], "/")), Ok(()), "{good}");
        }
        assert!(policy.check_request(&request(&["home.arpa.evil.example"], "/")).is_err());
        let open = HostPolicy::new(&["*".into()], &[], false);
        assert_eq!(open.check_request(&request(&["anything.example"], "/")), Ok(()));
        assert!(open.check_request(&request(&[], "/")).is_err(), "even * needs a Host");
    }

    #[test]
    fn origins_are_compared_with_the_server_not_the_request() {
        let policy =
            HostPolicy::new(&["nas.lan".into()], &["https://dash.example.org".into()], false);
        let ok = |origin: &'static str| {
            policy.origin_allowed(&headers(&[("origin", origin)]), Some(3070))
        };
        assert!(policy.origin_allowed(&headers(&[]), Some(3070)), "no Origin: not a browser");
        assert!(ok("http://127.0.0.1:3070"));
        assert!(ok("http://localhost:3070"));
        assert!(ok("http://[::1]:3070"));
        assert!(ok("http://nas.lan:3070"));
        assert!(ok("https://dash.example.org"));
        assert!(ok("https://DASH.example.org:443"));
        // The rebinding page: its Origin equals its Host, and neither is ours.
        assert!(!policy.origin_allowed(
            &headers(&[
                ("host", "rebind.attacker.example:3070"),
                ("origin", "http://rebind.attacker.example:3070")
            ]),
            Some(3070)
        ));
        assert!(!ok("http://127.0.0.1:3071"), "another port is another origin");
        assert!(!ok("https://127.0.0.1:3070"), "another scheme is another origin");
        assert!(!ok("http://dash.example.org"), "the configured origin is https");
        assert!(!ok("null"));
        assert!(!ok("http://a.com.evil.org:3070"));
        assert!(!ok("ftp://127.0.0.1:3070"));
        // Through a port mapping (published on 8080, listening on 3070): the origin the request
        // was sent to, by its allowed Host, passes; another port of that host does not.
        let mapped = |origin: &'static str| {
            policy.origin_allowed(
                &headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]),
                Some(3070),
            )
        };
        assert!(mapped("http://127.0.0.1:8080"));
        assert!(!mapped("http://127.0.0.1:9090"));
        assert!(!mapped("http://localhost:8080"), "another name is another origin");
        let tls = HostPolicy::new(&[], &[], true);
        assert!(tls.origin_allowed(&headers(&[("origin", "https://localhost:8443")]), Some(8443)));
        assert!(!tls.origin_allowed(&headers(&[("origin", "http://localhost:8443")]), Some(8443)));
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(&headers(&[("authorization", "Bearer s3cret")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[("authorization", "Bearer s3cre")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[("authorization", "Basic s3cret")]), "s3cret"));
        assert!(!bearer_matches(&headers(&[]), "s3cret"));
    }
}
