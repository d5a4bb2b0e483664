//! The route table: which handler answers which method and path.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gitops_protocol::Cursor;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::http_util::{Body, error, json, respond, retry_later};
use crate::security::{HostRefusal, add_security_headers, bearer_matches};
use crate::{Live, auth, lock, sse, ws};

/// Encodings computed once per state and shared by every request for it.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    bare_report: Option<(Cursor, Bytes)>,
    snapshot_gzip: Option<(Cursor, Bytes)>,
    snapshot_brotli: Option<(Cursor, Bytes)>,
    last_trigger: Option<Instant>,
}

/// The shortest interval between two accepted `trigger-update` calls.
const TRIGGER_INTERVAL: Duration = Duration::from_secs(1);

/// Answers one request.
pub(crate) async fn route(
    live: Arc<Live>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    // Before anything else: a name this server does not answer to is a DNS-rebinding page (or a
    // misrouted request), and a head over the configured size is refused whatever it asks for.
    if let Some(response) = refuse_before_routing(&live, &request) {
        return response;
    }
    // Behind a trusted reverse proxy the client is the address the proxy forwarded: per-address
    // limits count it. Whether to trust the proxy's headers is decided by `peer`.
    let remote = live.gate.client_address(request.headers(), peer);
    let path = request.uri().path().to_owned();
    let history = crate::history::is_data_path(&path, &request);
    let acting = crate::actions::is_action_path(&path);
    let notifying = crate::notify::is_notify_path(&path);
    let export = crate::export::is_export_path(&path) || crate::badge::is_badge_path(&path);
    let is_api = path.starts_with("/api/")
        || history
        || export
        || matches!(path.as_str(), "/audit" | "/ws" | "/healthz" | "/readyz" | "/metrics");
    // Browsers send Origin on every cross-origin request that changes something.
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !live.origin_allowed(request.headers()) {
        live.metrics.origin_refused.fetch_add(1, Ordering::Relaxed);
        let mut response =
            error(StatusCode::FORBIDDEN, "origin", "this origin may not use this server");
        add_security_headers(response.headers_mut(), true);
        return response;
    }
    let reads_data = history
        || export
        || matches!(
            path.as_str(),
            "/ws" | "/api/events" | "/api/updates" | "/api/audit" | "/audit" | "/api/ws/status"
        );
    let viewer = if reads_data && live.gate.required() {
        match live.gate.viewer(request.headers(), peer) {
            Some(viewer) => Some(viewer),
            None => {
                let mut response = auth::unauthenticated(&live);
                add_security_headers(response.headers_mut(), true);
                return response;
            }
        }
    } else {
        None
    };
    let session_end = viewer.as_ref().and_then(auth::Viewer::deadline);
    let mut response = match (request.method().clone(), path.as_str()) {
        (Method::GET, "/ws") => ws::upgrade(live, request, remote, session_end),
        (Method::GET, "/healthz") => json(StatusCode::OK, r#"{"status":"ok"}"#),
        (Method::GET, "/readyz") => readyz(&live),
        (Method::GET, "/metrics") => metrics(&live),
        (Method::GET, "/audit") => bare_report(&live),
        (Method::GET | Method::HEAD, "/api/audit") => audit_message(&live, &request),
        (Method::GET, "/api/events") => sse::events(live, &request, remote, session_end),
        (Method::GET, "/api/updates") => sse::long_poll(live, &request, remote).await,
        (Method::GET, "/api/ws/status") => status(&live),
        (Method::GET, "/api/session") => auth::session_info(&live, &request, peer),
        (Method::POST, "/api/session") => auth::sign_in(live, request, peer).await,
        (Method::DELETE, "/api/session") => auth::sign_out(&live, &request, peer),
        (Method::POST, "/api/ws/trigger-update") => admin(&live, &request, trigger_update),
        (Method::GET, "/api/ws/clients") => admin(&live, &request, clients),
        (Method::GET, _) if history => crate::history::answer(&live, &request, &path).await,
        (Method::GET, _) if crate::badge::is_badge_path(&path) => {
            crate::badge::answer(&live, &path)
        }
        (Method::GET, _) if export => crate::export::answer(&live, &request, &path),
        (_, _) if notifying => crate::notify::answer(live, request, peer, remote).await,
        (_, _) if acting => crate::actions::answer(live, request, peer, remote).await,
        (Method::GET | Method::HEAD, _) if !is_api => asset(&live, &request, &path),
        (_, _) if is_api => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method", "method not allowed here")
        }
        _ => error(StatusCode::NOT_FOUND, "not-found", "no such path"),
    };
    add_security_headers(response.headers_mut(), is_api);
    response
}

/// The refusal of a request with a bad or foreign `Host` (400 or 421) or a head larger than
/// [`crate::TransportConfig::max_header_bytes`] (431), if it is one.
fn refuse_before_routing(live: &Live, request: &Request<Incoming>) -> Option<Response<Body>> {
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    let mut response = if header_bytes > live.config.max_header_bytes {
        live.metrics.oversized_heads.fetch_add(1, Ordering::Relaxed);
        error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            &format!("request headers are limited to {} bytes", live.config.max_header_bytes),
        )
    } else {
        let refusal = live.hosts.check_request(request).err()?;
        live.metrics.host_refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(reason = %refusal.message(), "refused a request by its Host");
        let status = match refusal {
            HostRefusal::NotAllowed(_) => StatusCode::MISDIRECTED_REQUEST,
            _ => StatusCode::BAD_REQUEST,
        };
        error(status, "host", &refusal.message())
    };
    // Nothing more is read from a connection that sent such a head.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    add_security_headers(response.headers_mut(), true);
    Some(response)
}

fn readyz(live: &Live) -> Response<Body> {
    // A failing log does not make the server unready (it serves on), but the probe says so.
    let log = live.feed.log_status().map(|log| match log.last_error {
        Some(error) => {
            serde_json::json!({ "state": log.state, "error": error.message, "since": error.since })
        }
        None => serde_json::json!({ "state": log.state }),
    });
    if let Some(reason) = crate::lock(&live.unready).clone() {
        let body = serde_json::json!({
            "ready": false,
            "reason": reason,
            "cursor": live.hub.cursor(),
            "log": log,
        });
        return json(StatusCode::SERVICE_UNAVAILABLE, body.to_string());
    }
    match live.hub.cursor() {
        Some(cursor) => {
            let body = serde_json::json!({ "ready": true, "cursor": cursor, "log": log });
            json(StatusCode::OK, body.to_string())
        }
        None => {
            let body = serde_json::json!({
                "ready": false,
                "reason": "no report has loaded yet",
                "log": log,
            });
            json(StatusCode::SERVICE_UNAVAILABLE, body.to_string())
        }
    }
}

fn metrics(live: &Live) -> Response<Body> {
    let clients = live.registry().counts;
    let mut text =
        live.metrics.render(clients, &live.hub.stats(), &live.feed.stats(), live.started.elapsed());
    let source = live.feed.source();
    crate::repo_metrics::render_source(&mut text, &source, live.feed.since_last_report().as_secs());
    if let Some((_, report)) = live.hub.current() {
        crate::repo_metrics::render_repos(&mut text, &report, crate::repo_metrics::MAX_REPO_SERIES);
    }
    if let Some(notifications) = live.notifications.get() {
        crate::notify::render_counts(&mut text, &notifications.counts());
    }
    respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text)
}

fn status(live: &Live) -> Response<Body> {
    #[derive(serde::Serialize)]
    struct Status {
        ready: bool,
        protocol: u32,
        #[serde(flatten)]
        status: gitops_protocol::ConnectionStatus,
    }
    let status = live.connection_status();
    let body = Status {
        ready: status.cursor.is_some(),
        protocol: gitops_protocol::PROTOCOL_VERSION,
        status,
    };
    json(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
}

fn not_ready() -> Response<Body> {
    retry_later(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "no report has loaded yet", 1)
}

/// `GET /audit`: the bare report, as the old API served it.
fn bare_report(live: &Live) -> Response<Body> {
    let Some((cursor, report)) = live.hub.current() else { return not_ready() };
    let mut caches = lock(&live.caches);
    let bytes = match &caches.bare_report {
        Some((cached, bytes)) if *cached == cursor => bytes.clone(),
        _ => {
            let bytes = Bytes::from(serde_json::to_vec(&*report).unwrap_or_default());
            caches.bare_report = Some((cursor, bytes.clone()));
            bytes
        }
    };
    drop(caches);
    let mut response = json(StatusCode::OK, bytes);
    set_etag(&mut response, cursor);
    response
}

/// `GET /api/audit`: the current `audit-update` message; `ETag` is the cursor.
fn audit_message(live: &Live, request: &Request<Incoming>) -> Response<Body> {
    let Some((cursor, bytes)) = live.hub.snapshot() else { return not_ready() };
    let etag_matches =
        request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(
            |tags| {
                tags.split(',').any(|tag| tag.trim().parse::<Cursor>().is_ok_and(|c| c == cursor))
            },
        );
    if etag_matches {
        let mut response = respond(StatusCode::NOT_MODIFIED, "application/json", Bytes::new());
        set_etag(&mut response, cursor);
        return response;
    }
    let coding = if bytes.len() > 1024 { preferred_coding(request) } else { None };
    let mut response = match coding {
        Some(coding) => {
            let mut response =
                json(StatusCode::OK, compressed_cached(live, cursor, &bytes, coding));
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
            response
        }
        None => json(StatusCode::OK, bytes),
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    set_etag(&mut response, cursor);
    if request.method() == Method::HEAD {
        *response.body_mut() = crate::http_util::empty();
    }
    response
}

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }
}

/// Whether the request's `Accept-Encoding` accepts `wanted` (and does not refuse it with `q=0`).
fn accepts(request: &Request<Incoming>, wanted: &str) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case(wanted) && !refused
        })
}

/// Whether the request asks for HTML (a browser navigating), as opposed to an API client.
pub(crate) fn accepts_html(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// Brotli when the client accepts it (smaller), else gzip, else none.
pub(crate) fn preferred_coding(request: &Request<Incoming>) -> Option<Coding> {
    if accepts(request, "br") {
        Some(Coding::Brotli)
    } else if accepts(request, "gzip") {
        Some(Coding::Gzip)
    } else {
        None
    }
}

/// The snapshot compressed with `coding`, computed once per state.
fn compressed_cached(live: &Live, cursor: Cursor, bytes: &Bytes, coding: Coding) -> Bytes {
    let mut caches = lock(&live.caches);
    let slot = match coding {
        Coding::Brotli => &mut caches.snapshot_brotli,
        Coding::Gzip => &mut caches.snapshot_gzip,
    };
    if let Some((cached, compressed)) = slot
        && *cached == cursor
    {
        return compressed.clone();
    }
    let Some(compressed) = compress(bytes, coding) else { return bytes.clone() };
    *slot = Some((cursor, compressed.clone()));
    compressed
}

/// `bytes` compressed with `coding`, `None` if that failed.
pub(crate) fn compress(bytes: &[u8], coding: Coding) -> Option<Bytes> {
    let compressed = match coding {
        Coding::Gzip => {
            // A fast level: the snapshot is JSON, so even level 3 shrinks it several times over.
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(bytes.len() / 4),
                flate2::Compression::new(3),
            );
            encoder.write_all(bytes).and_then(|()| encoder.finish())
        }
        Coding::Brotli => {
            // Quality 5 compresses JSON better than gzip at a similar speed.
            let mut out = Vec::with_capacity(bytes.len() / 5);
            let params =
                brotli::enc::BrotliEncoderParams { quality: 5, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).map(|_| out)
        }
    };
    compressed.map(Bytes::from).ok()
}

fn set_etag(response: &mut Response<Body>, cursor: Cursor) {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{cursor}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

/// Runs `handler` only for requests with the admin token.
fn admin(
    live: &Live,
    request: &Request<Incoming>,
    handler: fn(&Live) -> Response<Body>,
) -> Response<Body> {
    let Some(token) = &live.config.admin_token else {
        return error(
            StatusCode::FORBIDDEN,
            "admin-disabled",
            "no admin token is configured on this server",
        );
    };
    if !bearer_matches(request.headers(), token.expose()) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
        );
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    handler(live)
}

fn trigger_update(live: &Live) -> Response<Body> {
    let mut caches = lock(&live.caches);
    let now = Instant::now();
    if caches.last_trigger.is_some_and(|last| now.duration_since(last) < TRIGGER_INTERVAL) {
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "one trigger per second; coalesced",
            1,
        );
    }
    caches.last_trigger = Some(now);
    drop(caches);
    live.feed.trigger();
    json(StatusCode::ACCEPTED, r#"{"triggered":true}"#)
}

fn clients(live: &Live) -> Response<Body> {
    let (list, counts) = live.client_list();
    let body = serde_json::json!({ "counts": counts, "clients": list });
    json(StatusCode::OK, body.to_string())
}

/// What a GET outside the API asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageOrAsset<'a> {
    /// A file of the dashboard, by its name in the embedded map.
    Asset(&'a str),
    /// One of the dashboard's own addresses: the page, whatever the name in it holds (`%`, `.`,
    /// any script), since the page reads the address itself.
    Page,
    /// Neither.
    NotFound,
}

/// The rule: the dashboard's routes (`/`, `/history`, `/actions`, `/audit/<anything>`) are the
/// page; any other path is a file if the embedded map has it (exact name; nothing can escape a
/// map), else not found. Nothing is decided by the shape of a repository's name.
pub(crate) fn page_or_asset<'a>(path: &'a str, has: impl Fn(&str) -> bool) -> PageOrAsset<'a> {
    const PAGES: [&str; 4] = ["/", "/index.html", "/history", "/actions"];
    let trimmed = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    if PAGES.contains(&trimmed) || path.strip_prefix("/audit/").is_some_and(|rest| !rest.is_empty())
    {
        return PageOrAsset::Page;
    }
    let name = path.strip_prefix('/').unwrap_or(path);
    if !name.is_empty() && has(name) { PageOrAsset::Asset(name) } else { PageOrAsset::NotFound }
}

fn asset(live: &Live, request: &Request<Incoming>, path: &str) -> Response<Body> {
    let name = match page_or_asset(path, |name| live.assets.get(name).is_some()) {
        PageOrAsset::Page => "index.html",
        PageOrAsset::Asset(name) => name,
        PageOrAsset::NotFound => return error(StatusCode::NOT_FOUND, "not-found", "no such file"),
    };
    let Some(asset) = live.assets.get(name) else {
        return error(StatusCode::NOT_FOUND, "not-found", "no such file");
    };
    let has_gzip = asset.gzip.is_some();
    let gzipped = asset.gzip.filter(|_| accepts(request, "gzip"));
    let compressed = gzipped.is_some();
    let mut response = respond(StatusCode::OK, asset.content_type, gzipped.unwrap_or(asset.bytes));
    let headers = response.headers_mut();
    if compressed {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if has_gzip {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboards_routes_are_the_page_and_files_are_found_by_exact_name() {
        let has = |name: &str| matches!(name, "index.html" | "assets/app-1a2b.js" | "favicon.svg");
        for page in [
            "/",
            "/index.html",
            "/history",
            "/history/",
            "/actions",
            "/audit/halo",
            "/audit/caf%C3%A9-%E3%83%84%E3%83%BC%E3%83%AB",
            "/audit/café-ツール",
            "/audit/v1.2.3",
            "/audit/a%2Fb",
            "/audit/100%",
            "/audit/..%2F..%2Fetc",
            "/audit/x/",
        ] {
            assert_eq!(page_or_asset(page, has), PageOrAsset::Page, "{page}");
        }
        assert_eq!(
            page_or_asset("/assets/app-1a2b.js", has),
            PageOrAsset::Asset("assets/app-1a2b.js")
        );
        assert_eq!(page_or_asset("/favicon.svg", has), PageOrAsset::Asset("favicon.svg"));
        for missing in ["/assets/gone.js", "/audit", "/audit/", "/../etc/passwd", "/x", "//"] {
            assert_eq!(page_or_asset(missing, has), PageOrAsset::NotFound, "{missing}");
        }
    }
}
