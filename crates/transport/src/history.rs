//! The history endpoints: pages of points, the state at a point, the diff between two points,
//! one repository's timeline, and the old API's snapshot names. Each asks the feed from a
//! blocking task (the log is read from disk) and answers JSON, compressed when the client
//! accepts it.

use std::sync::Arc;

use bytes::Bytes;
use gitops_feed::{Feed, HistoryError};
use gitops_protocol::Cursor;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::Live;
use crate::http_util::{Body, error, json, respond, retry_later};
use crate::routes::{accepts_html, compress, preferred_coding};

/// The page size when `limit` is not given.
const DEFAULT_POINTS: usize = 50;
/// The timeline length when `limit` is not given.
const DEFAULT_EVENTS: usize = 100;
/// How many names `GET /audit/history` lists when `limit` is not given.
const DEFAULT_NAMES: usize = 1_000;

/// Bodies at least this large are compressed when the client accepts it.
const COMPRESS_FROM: usize = 1024;

/// Whether `path` is a history endpoint asking for data. `GET /audit/history` is the old API's
/// list of snapshot names unless a browser is navigating there (it asks for HTML first), when
/// it is the dashboard's page for a repository named `history`.
pub(crate) fn is_data_path(path: &str, request: &Request<Incoming>) -> bool {
    path == "/api/history"
        || path.starts_with("/api/history/")
        || repo_name(path).is_some()
        || (path == "/audit/history" && !accepts_html(request))
}

/// What a question answered: the JSON body, and the time of the point it is about.
struct Reply {
    bytes: Bytes,
    /// RFC 3339: sent as `Last-Modified`.
    time: Option<String>,
}

impl From<Bytes> for Reply {
    fn from(bytes: Bytes) -> Self {
        Self { bytes, time: None }
    }
}

/// Answers a GET on a path [`is_data_path`] accepted.
pub(crate) async fn answer(live: &Live, request: &Request<Incoming>, path: &str) -> Response<Body> {
    match ask(live.feed.clone(), request, path).await {
        Ok((reply, tag)) => finish(request, reply, tag),
        Err(response) => response,
    }
}

/// The reply and its entity tag, or the response that ends the request (a bad request, a
/// matching entity tag, a question the log could not answer).
async fn ask(
    feed: Arc<Feed>,
    request: &Request<Incoming>,
    path: &str,
) -> Result<(Reply, Option<String>), Response<Body>> {
    let query = Query::parse(request.uri().query());
    if path == "/audit/history" {
        let limit = query.limit(DEFAULT_NAMES)?;
        let reply = blocking(feed, move |feed| Ok(to_json(&feed.snapshot_names(limit)?).into()));
        return Ok((reply.await?, None));
    }
    if path == "/api/history" {
        let before = query.cursor("before")?;
        let limit = query.limit(DEFAULT_POINTS)?;
        let reply =
            blocking(feed, move |feed| Ok(to_json(&feed.history_page(before, limit)?).into()));
        return Ok((reply.await?, None));
    }
    if path == "/api/history/diff" {
        let (Some(from), Some(to)) = (query.cursor("from")?, query.cursor("to")?) else {
            return Err(bad_request("bad-cursor", "give both from=<cursor> and to=<cursor>"));
        };
        let tag = format!("\"{from}..{to}\"");
        if etag_matches(request, &tag) {
            return Err(not_modified(&tag));
        }
        let reply = blocking(feed, move |feed| Ok(to_json(&feed.history_diff(from, to)?).into()));
        return Ok((reply.await?, Some(tag)));
    }
    if let Some(text) = path.strip_prefix("/api/history/") {
        let Some(cursor) = cursor_text(text) else {
            return Err(bad_request(
                "bad-cursor",
                &format!("{text:?} is not a cursor <16 hex digits>:<seq>"),
            ));
        };
        let tag = format!("\"{cursor}\"");
        if etag_matches(request, &tag) {
            return Err(not_modified(&tag));
        }
        let reply = blocking(feed, move |feed| {
            let report = feed.state_at(cursor)?;
            let bytes = gitops_protocol::encode_audit_update(cursor, &report);
            Ok(Reply { bytes, time: feed.time_of(cursor).ok().flatten() })
        });
        return Ok((reply.await?, Some(tag)));
    }
    if let Some(name) = repo_name(path) {
        let before = query.cursor("before")?;
        let limit = query.limit(DEFAULT_EVENTS)?;
        let reply = blocking(feed, move |feed| {
            Ok(to_json(&feed.repo_timeline(&name, before, limit)?).into())
        });
        return Ok((reply.await?, None));
    }
    Err(error(StatusCode::NOT_FOUND, "not-found", "no such path"))
}

/// How many history questions run at once. The log answers one at a time on its connection
/// anyway; the rest wait here, on the runtime, instead of each holding a blocking thread.
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// How long a question waits for its turn before the answer is "busy, try again".
const WAIT_FOR_TURN: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `question` on a blocking thread, when its turn comes; its error becomes the response
/// that says so.
async fn blocking(
    feed: Arc<Feed>,
    question: impl FnOnce(&Feed) -> Result<Reply, HistoryError> + Send + 'static,
) -> Result<Reply, Response<Body>> {
    let Ok(Ok(_turn)) = tokio::time::timeout(WAIT_FOR_TURN, RUNNING.acquire()).await else {
        return Err(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "history-busy",
            "too many history questions at once; try again",
            2,
        ));
    };
    match tokio::task::spawn_blocking(move || question(&feed)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(history_error)) => Err(history_response(&history_error)),
        Err(join_error) => {
            tracing::error!(%join_error, "a history question failed");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the question failed"))
        }
    }
}

/// The response for a question the log could not answer.
fn history_response(history_error: &HistoryError) -> Response<Body> {
    let message = history_error.to_string();
    match history_error {
        HistoryError::Off => error(StatusCode::NOT_FOUND, "history-off", &message),
        HistoryError::NotRetained { .. } => error(StatusCode::NOT_FOUND, "not-retained", &message),
        HistoryError::Unavailable(_) => {
            retry_later(StatusCode::SERVICE_UNAVAILABLE, "history-unavailable", &message, 5)
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// The JSON response, compressed when worth it and accepted, with its entity tag.
fn finish(request: &Request<Incoming>, reply: Reply, tag: Option<String>) -> Response<Body> {
    let Reply { bytes, time } = reply;
    let coding = if bytes.len() >= COMPRESS_FROM { preferred_coding(request) } else { None };
    let compressed = coding.and_then(|coding| Some((coding, compress(&bytes, coding)?)));
    let mut response = match compressed {
        Some((coding, body)) => {
            let mut response = json(StatusCode::OK, body);
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
            response
        }
        None => json(StatusCode::OK, bytes),
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(value) =
        time.as_deref().and_then(http_date).and_then(|d| HeaderValue::from_str(&d).ok())
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    if let Some(value) = tag.and_then(|tag| HeaderValue::from_str(&tag).ok()) {
        headers.insert(header::ETAG, value);
        // A point's state never changes; the tag still lets a signed-out browser's copy go.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
    response
}

/// An RFC 3339 time as an HTTP date (`Fri, 04 Dec 2026 10:00:00 GMT`).
fn http_date(rfc3339: &str) -> Option<String> {
    let time: jiff::Timestamp = rfc3339.parse().ok()?;
    Some(time.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

fn not_modified(tag: &str) -> Response<Body> {
    let mut response = respond(StatusCode::NOT_MODIFIED, "application/json", Bytes::new());
    if let Ok(value) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn etag_matches(request: &Request<Incoming>, tag: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        })
}

fn bad_request(code: &str, message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, code, message)
}

/// A cursor in a path segment or query value, `:` written as is or as `%3A`.
fn cursor_text(text: &str) -> Option<Cursor> {
    percent_decode(text)?.parse().ok()
}

/// The repository name of `/api/repos/<name>/history` (percent-encoded; it may hold `/`).
fn repo_name(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/api/repos/")?.strip_suffix("/history")?;
    percent_decode(encoded).filter(|name| !name.is_empty())
}

/// Decodes `%XX` escapes (and nothing else: `+` stays `+`); `None` for a broken escape or
/// bytes that are not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query string's parameters, decoded.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((percent_decode(name)?, percent_decode(&value.replace('+', " "))?))
            })
            .collect();
        Self(pairs)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// `name=<cursor>`: `None` when absent, 400 when unreadable.
    fn cursor(&self, name: &str) -> Result<Option<Cursor>, BadRequest> {
        let Some(text) = self.get(name) else { return Ok(None) };
        text.parse().map(Some).map_err(|_| BadRequest {
            code: "bad-cursor",
            message: format!("{name}={text:?} is not a cursor <16 hex digits>:<seq>"),
        })
    }

    /// `limit=N`: the default when absent, 400 unless a positive whole number (the feed caps it).
    pub(crate) fn limit(&self, default: usize) -> Result<usize, BadRequest> {
        let Some(text) = self.get("limit") else { return Ok(default) };
        match text.parse::<usize>() {
            Ok(limit) if limit > 0 => Ok(limit),
            _ => Err(BadRequest {
                code: "bad-limit",
                message: format!("limit={text:?} is not a positive number"),
            }),
        }
    }
}

/// A query parameter that cannot be read: answered 400 with `code` and `message`.
#[derive(Debug)]
pub(crate) struct BadRequest {
    code: &'static str,
    message: String,
}

impl From<BadRequest> for Response<Body> {
    fn from(refusal: BadRequest) -> Self {
        bad_request(refusal.code, &refusal.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_decode_cursors_and_names() {
        assert_eq!(
            cursor_text("00000000000000ab%3A7"),
            Some(Cursor::new(gitops_protocol::Epoch(0xab), 7))
        );
        assert_eq!(cursor_text("00000000000000ab:7").map(|c| c.seq), Some(7));
        assert_eq!(cursor_text("nope"), None);
        assert_eq!(cursor_text("%zz"), None);
        assert_eq!(repo_name("/api/repos/alice%2Fhalo/history").as_deref(), Some("alice/halo"));
        assert_eq!(repo_name("/api/repos/a/b/history").as_deref(), Some("a/b"));
        assert_eq!(repo_name("/api/repos//history"), None);
        assert_eq!(repo_name("/api/repos/halo"), None);
        let query = Query::parse(Some("before=00000000000000ab%3A7&limit=20&x"));
        assert_eq!(query.cursor("before").ok().flatten().map(|c| c.seq), Some(7));
        assert_eq!(query.limit(50).ok(), Some(20));
        assert_eq!(Query::parse(None).limit(50).ok(), Some(50));
        assert!(Query::parse(Some("limit=0")).limit(50).is_err());
        assert!(Query::parse(Some("limit=-1")).limit(50).is_err());
        assert!(Query::parse(Some("before=1:2")).cursor("before").is_err());
        assert_eq!(
            http_date("2026-12-04T10:00:00.123Z").as_deref(),
            Some("Fri, 04 Dec 2026 10:00:00 GMT")
        );
    }
}
