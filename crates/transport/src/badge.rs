//! Status at a glance for other pages: `GET /api/badge/<repo>.svg` (a badge to put in a README
//! or a wiki), `GET /api/badge/<repo>.json` (a shields.io endpoint), `GET /api/badge.svg` (the
//! whole report's health), and `GET /api/summary` (counts by status for Homepage or Homarr
//! custom widgets). They read the report, so they need a viewer like `/api/audit`.

use gitops_report::{Health, Report, Status};
use http::{HeaderValue, Response, StatusCode, header};

use crate::Live;
use crate::http_util::{Body, error, json, respond, retry_later};

/// Whether `path` is a badge or the summary.
pub(crate) fn is_badge_path(path: &str) -> bool {
    path == "/api/summary" || path == "/api/badge.svg" || path.starts_with("/api/badge/")
}

/// Answers a GET on a path [`is_badge_path`] accepted.
pub(crate) fn answer(live: &Live, path: &str) -> Response<Body> {
    let Some((_, report)) = live.hub.current() else {
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "no report has loaded yet",
            1,
        );
    };
    let mut response = if path == "/api/summary" {
        summary(live, &report)
    } else if path == "/api/badge.svg" {
        let health = report.health_status.clone().unwrap_or_else(|| report.computed_health());
        svg("gitops", health.as_str(), health_colour(&health))
    } else {
        let rest = path.trim_start_matches("/api/badge/");
        let (encoded, kind) = match (rest.strip_suffix(".svg"), rest.strip_suffix(".json")) {
            (Some(name), _) => (name, Kind::Svg),
            (_, Some(name)) => (name, Kind::Shields),
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "a badge is <repo>.svg or <repo>.json",
                );
            }
        };
        let Some(name) = crate::history::percent_decode(encoded) else {
            return error(StatusCode::BAD_REQUEST, "bad-name", "the name is not readable");
        };
        let Some(repo) = report.repos.iter().find(|r| r.name == name) else {
            return error(
                StatusCode::NOT_FOUND,
                "unknown-repo",
                "no such repository in the report",
            );
        };
        let status = repo.status.to_string();
        let colour = status_colour(&repo.status);
        match kind {
            Kind::Svg => svg(&repo.name, &status, colour),
            Kind::Shields => {
                let body = serde_json::json!({
                    "schemaVersion": 1,
                    "label": repo.name,
                    "message": status,
                    "color": colour.trim_start_matches('#'),
                });
                json(StatusCode::OK, body.to_string())
            }
        }
    };
    // Badges are fetched by other pages and proxies (camo): short caching, always revalidated.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, max-age=0"));
    response
}

enum Kind {
    Svg,
    Shields,
}

fn summary(live: &Live, report: &Report) -> Response<Body> {
    let counts = report.computed_summary();
    let health = report.health_status.clone().unwrap_or_else(|| report.computed_health());
    let source = live.feed.source();
    let body = serde_json::json!({
        "health": health.as_str(),
        "total": report.repos.len(),
        "missing": counts.missing,
        "extra": counts.extra,
        "dirty": counts.dirty,
        "mismatched": counts.mismatched.unwrap_or(0),
        "clean": counts.clean,
        "needs_attention": report.repos.iter().filter(|r| r.status != Status::Clean).count(),
        "last_report": source.last_loaded,
        "stale": source.stale.is_some(),
    });
    json(StatusCode::OK, body.to_string())
}

fn status_colour(status: &Status) -> &'static str {
    match status {
        Status::Clean => "#2e7d32",
        Status::Dirty => "#ef6c00",
        Status::Mismatched => "#8e24aa",
        Status::Missing | Status::Extra => "#c62828",
        _ => "#616161",
    }
}

fn health_colour(health: &Health) -> &'static str {
    match health {
        Health::Green => "#2e7d32",
        Health::Yellow => "#f9a825",
        Health::Red => "#c62828",
        _ => "#616161",
    }
}

/// A flat two-part badge: `label` on grey, `message` on `colour`.
fn svg(label: &str, message: &str, colour: &str) -> Response<Body> {
    // Verdana-ish 11 px: about 6.5 px a character, plus padding.
    let width = |text: &str| 10 + (text.chars().count() as u32 * 13).div_ceil(2);
    let (left, right) = (width(label), width(message));
    let total = left + right;
    let (label, message) = (xml(label), xml(message));
    let body = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{rx}" y="14">{message}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    );
    respond(StatusCode::OK, "image/svg+xml", body)
}

/// Text for an SVG: the five XML specials escaped, control characters dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_text_is_escaped_so_a_name_cannot_inject_markup() {
        assert_eq!(
            xml("<script>alert('x')</script>&\u{7}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
        assert!(is_badge_path("/api/badge/halo.svg"));
        assert!(is_badge_path("/api/badge.svg"));
        assert!(is_badge_path("/api/summary"));
        assert!(!is_badge_path("/api/badges"));
    }
}
