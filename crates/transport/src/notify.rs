//! The operator's view of notifications (`docs/protocol.md`, "Notifications"): where they go,
//! what was delivered or given up on, a test message, retrying a dead letter, and snoozing a
//! repository. The binary implements [`Notifications`] over `gitops-notify` and the store; this
//! module only checks who asks and turns answers into HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::Live;
use crate::actions::{is_json, operator_only, read_body};
use crate::http_util::{Body, error, json};

/// What the server can do with notifications. Called from blocking threads.
pub trait Notifications: Send + Sync + std::fmt::Debug + 'static {
    /// Destinations (redacted), the delivery log, dead letters and snoozes, as JSON.
    fn overview(&self) -> Result<serde_json::Value, NotifyError>;
    /// Queues a test message to `destination` (every destination when `None`); the queued ids.
    fn send_test(&self, destination: Option<&str>) -> Result<serde_json::Value, NotifyError>;
    /// Puts dead letter `id` back in the queue.
    fn retry(&self, id: u64) -> Result<(), NotifyError>;
    /// Snoozes `repo` until `until`, or wakes it (`None`).
    fn snooze(&self, repo: &str, until: Option<SystemTime>) -> Result<(), NotifyError>;
    /// How many deliveries are in each state (`pending`, `delivered`, `dead`, …), by destination
    /// id, for `/metrics`; empty when they cannot be counted.
    fn counts(&self) -> Vec<(String, String, u64)>;
}

/// Appends `gitops_notifications{destination,state}` to a `/metrics` text.
pub(crate) fn render_counts(out: &mut String, counts: &[(String, String, u64)]) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP gitops_notifications Notification deliveries by destination and state.\n\
         # TYPE gitops_notifications gauge"
    );
    for (destination, state, n) in counts {
        let (destination, state) =
            (crate::repo_metrics::escape(destination), crate::repo_metrics::escape(state));
        let _ = writeln!(
            out,
            "gitops_notifications{{destination=\"{destination}\",state=\"{state}\"}} {n}"
        );
    }
}

/// A refusal or failure of [`Notifications`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError {
    /// The HTTP status to answer with.
    pub status: u16,
    /// A short code (`unknown-destination`, `not-found`, `unavailable`).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl NotifyError {
    /// A `404` for something that is not there.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: 404, code, message: message.into() }
    }

    /// A `503`: the queue or the log cannot be used now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, code: "unavailable", message: message.into() }
    }
}

/// Whether `path` is one of the notification endpoints.
pub(crate) fn is_notify_path(path: &str) -> bool {
    path == "/api/notifications"
        || path.starts_with("/api/notifications/")
        || (path.starts_with("/api/repos/") && path.ends_with("/snooze"))
}

/// The longest snooze.
const MAX_SNOOZE: Duration = Duration::from_secs(366 * 86_400);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    destination: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    /// `1h`, `30m`, `7d`: from now.
    #[serde(rename = "for")]
    for_: Option<String>,
    /// An RFC 3339 time.
    until: Option<String>,
}

/// Answers a request on a path [`is_notify_path`] accepted.
pub(crate) async fn answer(
    live: Arc<Live>,
    request: Request<Incoming>,
    peer: SocketAddr,
    remote: SocketAddr,
) -> Response<Body> {
    let off = || "notifications are off: no operator token is configured".to_owned();
    if let Err(response) = operator_only(&live, &request, peer, remote, "operator-off", off) {
        return response;
    }
    let Some(notifications) = live.notifications.get().cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "notifications-off",
            "no notification destination is configured (--notify-url)",
        );
    };
    let method = request.method().clone();
    if method == Method::POST && !is_json(&request) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json-required",
            "send the body as Content-Type: application/json",
        );
    }
    let path = request.uri().path().to_owned();
    let result = match (method, path.as_str()) {
        (Method::GET, "/api/notifications") => run(move || notifications.overview()).await,
        (Method::POST, "/api/notifications/test") => match read_body::<TestBody>(request).await {
            Ok(body) => run(move || notifications.send_test(body.destination.as_deref())).await,
            Err(response) => return response,
        },
        (Method::POST, p) if p.starts_with("/api/notifications/") && p.ends_with("/retry") => {
            let id = p.trim_start_matches("/api/notifications/").trim_end_matches("/retry");
            let Ok(id) = id.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "not-found", "a delivery id is a number");
            };
            run(move || notifications.retry(id).map(|()| serde_json::json!({ "queued": id }))).await
        }
        (method @ (Method::POST | Method::DELETE), p) if p.ends_with("/snooze") => {
            let encoded = p.trim_start_matches("/api/repos/").trim_end_matches("/snooze");
            let Some(repo) = crate::history::percent_decode(encoded).filter(|n| !n.is_empty())
            else {
                return error(StatusCode::BAD_REQUEST, "bad-name", "the name is not readable");
            };
            let until = if method == Method::DELETE {
                None
            } else {
                match read_body::<SnoozeBody>(request).await.map(|body| snooze_until(&body)) {
                    Ok(Ok(until)) => Some(until),
                    Ok(Err(message)) => {
                        return error(StatusCode::BAD_REQUEST, "bad-body", &message);
                    }
                    Err(response) => return response,
                }
            };
            let answer = serde_json::json!({
                "repo": repo,
                "until": until.and_then(|t| jiff::Timestamp::try_from(t).ok()).map(|t| t.to_string()),
            });
            run(move || notifications.snooze(&repo, until).map(|()| answer)).await
        }
        _ => return error(StatusCode::METHOD_NOT_ALLOWED, "method", "method not allowed here"),
    };
    match result {
        Ok(value) => json(StatusCode::OK, value.to_string()),
        Err(refusal) => error(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            refusal.code,
            &refusal.message,
        ),
    }
}

/// When a snooze ends: `for` from now, or `until`; one of them, within a year.
fn snooze_until(body: &SnoozeBody) -> Result<SystemTime, String> {
    let now = SystemTime::now();
    let until = match (&body.for_, &body.until) {
        (Some(text), None) => {
            let span = parse_span(text)
                .ok_or_else(|| format!("for={text:?}: write a duration like 30m, 4h or 7d"))?;
            now + span
        }
        (None, Some(text)) => {
            let time: jiff::Timestamp =
                text.parse().map_err(|_| format!("until={text:?} is not an RFC 3339 time"))?;
            SystemTime::try_from(time).map_err(|_| format!("until={text:?} is out of range"))?
        }
        _ => return Err(r#"give one of "for" (30m, 4h, 7d) or "until" (RFC 3339)"#.to_owned()),
    };
    match until.duration_since(now) {
        Ok(span) if span <= MAX_SNOOZE => Ok(until),
        Ok(_) => Err("a snooze lasts a year at most".to_owned()),
        Err(_) => Err("that time has passed; DELETE the snooze to wake the repository".to_owned()),
    }
}

/// `30m`, `4h`, `7d`, `90s`.
fn parse_span(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(seconds)?)).filter(|d| !d.is_zero())
}

async fn run(
    work: impl FnOnce() -> Result<serde_json::Value, NotifyError> + Send + 'static,
) -> Result<serde_json::Value, NotifyError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(NotifyError::unavailable("the notifications task failed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snoozes_are_a_span_or_a_time_within_a_year() {
        assert_eq!(parse_span("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_span("7d"), Some(Duration::from_secs(7 * 86_400)));
        for bad in ["", "m", "0h", "-1h", "1w", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_span(bad), None, "{bad:?}");
        }
        let body = SnoozeBody { for_: Some("4h".into()), until: None };
        let until = snooze_until(&body).expect("valid");
        let left = until.duration_since(SystemTime::now()).expect("future");
        assert!(left > Duration::from_secs(4 * 3600 - 60) && left <= Duration::from_secs(4 * 3600));
        let past = SnoozeBody { for_: None, until: Some("2020-01-01T00:00:00Z".into()) };
        assert!(snooze_until(&past).is_err());
        let both =
            SnoozeBody { for_: Some("1h".into()), until: Some("2999-01-01T00:00:00Z".into()) };
        assert!(snooze_until(&both).is_err());
        assert!(snooze_until(&SnoozeBody { for_: Some("400d".into()), until: None }).is_err());
        assert!(is_notify_path("/api/repos/halo/snooze"));
        assert!(is_notify_path("/api/notifications/7/retry"));
        assert!(!is_notify_path("/api/repos/halo/history"));
    }
}
