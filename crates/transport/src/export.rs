//! The report as a download: `GET /api/export.csv` (and the old clients' `/audit/export/csv`)
//! and `GET /api/export.json`.
//!
//! The CSV follows RFC 4180 (CRLF line ends; a field with a comma, quote, CR or LF is quoted,
//! quotes doubled) and is safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`,
//! `@`, a tab or a CR is prefixed with `'`, so it is shown as text instead of being run as a
//! formula (repository names and URLs come from whoever can create a repository).

use bytes::Bytes;
use gitops_report::Report;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::Live;
use crate::http_util::{Body, error, respond, retry_later};

/// The CSV's columns, in order.
const COLUMNS: [&str; 8] = [
    "name",
    "status",
    "clone_url",
    "local_path",
    "remote_url",
    "expected_url",
    "file_status",
    "mitigation",
];

/// Whether `path` is an export.
pub(crate) fn is_export_path(path: &str) -> bool {
    matches!(path, "/api/export.csv" | "/audit/export/csv" | "/api/export.json")
}

/// Answers a GET on a path [`is_export_path`] accepted.
pub(crate) fn answer(live: &Live, _request: &Request<Incoming>, path: &str) -> Response<Body> {
    let Some((cursor, report)) = live.hub.current() else {
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "no report has loaded yet",
            1,
        );
    };
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let (mut response, name) = if path.ends_with(".json") {
        match serde_json::to_vec_pretty(&*report) {
            Ok(bytes) => (
                respond(StatusCode::OK, "application/json", bytes),
                format!("gitops-audit-{stamp}.json"),
            ),
            Err(e) => {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string());
            }
        }
    } else {
        (
            respond(StatusCode::OK, "text/csv; charset=utf-8", Bytes::from(to_csv(&report))),
            format!("gitops-audit-{stamp}.csv"),
        )
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("\"{cursor}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The report as CSV: a header row, then one row per repository.
pub(crate) fn to_csv(report: &Report) -> String {
    let mut out = String::with_capacity(128 * (report.repos.len() + 1));
    push_row(&mut out, COLUMNS.iter().copied());
    for repo in &report.repos {
        let status = repo.status.to_string();
        let file_status = repo.file_status.as_ref().map(ToString::to_string).unwrap_or_default();
        let optional = |value: &Option<String>| value.clone().unwrap_or_default();
        let row = [
            repo.name.clone(),
            status,
            optional(&repo.clone_url),
            optional(&repo.local_path),
            optional(&repo.remote_url),
            optional(&repo.expected_url),
            file_status,
            optional(&repo.mitigation),
        ];
        push_row(&mut out, row.iter().map(String::as_str));
    }
    out
}

fn push_row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// One field: neutralised against formulas, then quoted when RFC 4180 needs it.
fn push_cell(out: &mut String, cell: &str) {
    let neutralise = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = neutralise && cell.contains([',', '"', '\r', '\n'])
        || cell.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if neutralise {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use gitops_report::{Repo, Status};

    use super::*;

    fn cell(text: &str) -> String {
        let mut out = String::new();
        push_cell(&mut out, text);
        out
    }

    #[test]
    fn cells_are_quoted_as_rfc_4180_says() {
        assert_eq!(cell("halo"), "halo");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(cell("ünïcödé name"), "ünïcödé name");
    }

    #[test]
    fn formulas_are_shown_as_text() {
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-rf"), "'-rf");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\t=1"), "'\t=1");
        assert_eq!(cell("=1,2"), "\"'=1,2\"");
        assert_eq!(cell("a=1"), "a=1", "only a leading sign counts");
    }

    #[test]
    fn a_report_becomes_a_header_and_one_row_per_repository() {
        let report = Report {
            repos: vec![
                Repo {
                    name: "halo".into(),
                    status: Status::Dirty,
                    local_path: Some("/srv/git/halo".into()),
                    ..Repo::default()
                },
                Repo {
                    name: "=cmd|' /C calc'!A0".into(),
                    status: Status::Missing,
                    clone_url: Some("https://example.org/a,b.git".into()),
                    ..Repo::default()
                },
            ],
            ..Report::default()
        };
        let csv = to_csv(&report);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "name,status,clone_url,local_path,remote_url,expected_url,file_status,mitigation"
        );
        assert_eq!(lines[1], "halo,dirty,,/srv/git/halo,,,,");
        assert_eq!(lines[2], "'=cmd|' /C calc'!A0,missing,\"https://example.org/a,b.git\",,,,,");
        assert_eq!(lines[3], "", "every row ends with CRLF");
        assert_eq!(lines.len(), 4);
    }
}
