//! What other tools read: the watchdog on a report that stops changing, per-repository metrics,
//! badges and the summary for dashboards like Homepage.

use std::time::Duration;

use crate::support::{ReportFile, Server, Style, eventually, http};

fn report(statuses: &[(&str, &str)]) -> Vec<u8> {
    let repos: Vec<serde_json::Value> = statuses
        .iter()
        .map(|(name, status)| serde_json::json!({ "name": name, "status": status, "ahead": 2 }))
        .collect();
    serde_json::json!({ "repos": repos }).to_string().into_bytes()
}

#[test]
fn a_report_that_stops_arriving_is_stale_until_the_next_one() {
    let mut file = ReportFile::new(&report(&[("halo", "clean")]));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path, "--expect-report-every", "1s"]);
    let addr = server.addr;
    let stale = eventually(Duration::from_secs(20), || {
        let status = http(addr, "GET", "/api/ws/status", &[]).json();
        status["report"]["stale"].is_object().then_some(status)
    });
    assert_eq!(stale["report"]["stale"]["expected_every_s"], 1);
    let metrics = String::from_utf8(http(addr, "GET", "/metrics", &[]).body).expect("text");
    assert!(metrics.contains("\ngitops_report_stale 1\n"), "{metrics}");
    file.write(&report(&[("halo", "dirty")]), Style::AtomicRename);
    eventually(Duration::from_secs(10), || {
        let status = http(addr, "GET", "/api/ws/status", &[]).json();
        status["report"].get("stale").is_none().then_some(())
    });
}

#[test]
fn metrics_badges_and_the_summary_show_each_repository() {
    let file =
        ReportFile::new(&report(&[("halo", "dirty"), ("<b>x</b>", "missing"), ("nova", "clean")]));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path]);
    let addr = server.addr;
    eventually(Duration::from_secs(20), || {
        (http(addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    let metrics = String::from_utf8(http(addr, "GET", "/metrics", &[]).body).expect("text");
    assert!(
        metrics.contains("gitops_repo_status{repo=\"halo\",status=\"dirty\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gitops_repo_status{repo=\"halo\",status=\"clean\"} 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("gitops_repo_ahead_commits{repo=\"nova\"} 2\n"), "{metrics}");
    assert!(metrics.contains("gitops_report_age_seconds "), "{metrics}");
    assert!(metrics.contains("\ngitops_report_stale 0\n"), "no expectation, never stale");

    let badge = http(addr, "GET", "/api/badge/halo.svg", &[]);
    assert_eq!(badge.status, 200);
    assert_eq!(badge.header("content-type"), Some("image/svg+xml"));
    let svg = String::from_utf8(badge.body).expect("text");
    assert!(svg.contains(">halo<") && svg.contains(">dirty<"), "{svg}");
    let hostile =
        String::from_utf8(http(addr, "GET", "/api/badge/%3Cb%3Ex%3C%2Fb%3E.svg", &[]).body)
            .expect("text");
    assert!(hostile.contains("&lt;b&gt;x&lt;/b&gt;") && !hostile.contains("<b>"), "{hostile}");
    let shields = http(addr, "GET", "/api/badge/nova.json", &[]).json();
    assert_eq!(shields["schemaVersion"], 1);
    assert_eq!(
        (shields["label"].clone(), shields["message"].clone()),
        ("nova".into(), "clean".into())
    );
    assert_eq!(http(addr, "GET", "/api/badge/absent.svg", &[]).status, 404);
    let overall = String::from_utf8(http(addr, "GET", "/api/badge.svg", &[]).body).expect("text");
    assert!(overall.contains(">red<"), "a missing repository makes the report red: {overall}");
    let summary = http(addr, "GET", "/api/summary", &[]).json();
    assert_eq!(summary["total"], 3);
    assert_eq!((summary["dirty"].clone(), summary["missing"].clone()), (1.into(), 1.into()));
    assert_eq!(summary["needs_attention"], 2);
    assert_eq!(summary["stale"], false);
}

#[test]
fn every_repository_address_loads_the_dashboard_cold() {
    let file = ReportFile::new(&report(&[("café-ツール", "dirty"), ("v1.2.3", "clean")]));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path]);
    let addr = server.addr;
    let html = [("Accept", "text/html")];
    let page = http(addr, "GET", "/", &html);
    for address in [
        "/audit/caf%C3%A9-%E3%83%84%E3%83%BC%E3%83%AB",
        "/audit/v1.2.3?action=view",
        "/audit/100%25",
        "/audit/a%2Fb",
        "/history",
    ] {
        let response = http(addr, "GET", address, &html);
        assert_eq!((response.status, &response.body), (page.status, &page.body), "{address}");
    }
    assert_eq!(http(addr, "GET", "/assets/no-such-file.js", &[]).status, 404);
}

#[test]
fn status_prints_the_health_and_exits_with_it_for_scripts() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
            .args(args)
            .env("GITOPS_CONFIG", "none")
            .env_remove("GITOPS_VIEWER_TOKEN")
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let mut file = ReportFile::new(&report(&[("halo", "clean"), ("nova", "clean")]));
    let path = file.path_str();
    let dir = tempfile::tempdir().expect("temp dir");
    let viewer = dir.path().join("viewer");
    std::fs::write(&viewer, "viewer-token-0123456789ab").expect("write");
    let viewer_arg = viewer.display().to_string();
    let server = Server::start(&["serve", "--report", &path, "--viewer-token-file", &viewer_arg]);
    let url = format!("http://{}", server.addr);
    eventually(Duration::from_secs(20), || {
        (http(server.addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });

    let (code, _, err) = run(&["status", &url]);
    assert_eq!(code, Some(3), "not signed in");
    assert!(err.contains("viewer token"), "{err}");
    let signed = ["status", &url, "--viewer-token-file", &viewer_arg];
    let (code, out, _) = run(&signed);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("green: 2 repositories"), "{out}");
    file.write(&report(&[("halo", "dirty"), ("nova", "clean")]), Style::AtomicRename);
    let (code, out) = eventually(Duration::from_secs(10), || {
        let (code, out, _) = run(&signed);
        (code == Some(1)).then_some((code, out))
    });
    assert_eq!(code, Some(1));
    assert!(out.contains("dirty: halo"), "{out}");
    file.write(&report(&[("halo", "missing"), ("nova", "clean")]), Style::AtomicRename);
    let out = eventually(Duration::from_secs(10), || {
        let (code, out, _) = run(&signed);
        (code == Some(2)).then_some(out)
    });
    assert!(out.contains("missing: halo"), "{out}");
    let mut json_args = signed.to_vec();
    json_args.push("--json");
    let (_, json, _) = run(&json_args);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed["repos"][0]["name"], "halo");
    drop(server);
    let (code, _, err) = run(&signed);
    assert_eq!(code, Some(3), "unreachable: {err}");
}

#[test]
fn the_dashboard_is_installable_from_its_manifest() {
    let file = ReportFile::new(&report(&[("halo", "clean")]));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path]);
    let addr = server.addr;
    let page =
        String::from_utf8(http(addr, "GET", "/", &[("Accept", "text/html")]).body).expect("text");
    if !page.contains("<div id=\"root\">") {
        // Built without the dashboard (no npm): nothing to install; the page says how to build it.
        assert!(page.contains("xtask dashboard") || page.contains("npm"), "{page}");
        return;
    }
    assert!(page.contains("rel=\"manifest\" href=\"/manifest.webmanifest\""), "{page}");
    let manifest = http(addr, "GET", "/manifest.webmanifest", &[]);
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.header("content-type"), Some("application/manifest+json"));
    let manifest = manifest.json();
    assert_eq!(
        (manifest["name"].clone(), manifest["start_url"].clone()),
        ("gitops-live".into(), "/".into())
    );
    assert_eq!(manifest["display"], "standalone");
    for icon in manifest["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().expect("src");
        let served = http(addr, "GET", src, &[]);
        assert_eq!(
            (served.status, served.header("content-type")),
            (200, Some("image/svg+xml")),
            "{src}"
        );
    }
}

#[test]
fn status_reads_a_server_behind_https_trusting_the_given_ca() {
    let file = ReportFile::new(&report(&[("halo", "clean"), ("nova", "dirty")]));
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    eventually(Duration::from_secs(20), || {
        (http(server.addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    let (front, pem, _runtime) = crate::support::tls_front(server.addr);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("write");
    let url = format!("https://127.0.0.1:{}", front.port());
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
            .args(["status", &url, "--timeout", "10s"])
            .args(extra)
            .env("GITOPS_CONFIG", "none")
            .env_remove("GITOPS_CA_FILE")
            .output()
            .expect("runs");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    };
    let (code, out, err) = run(&["--ca-file", &ca.display().to_string()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("dirty: nova"), "{out}");
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(3), "an unknown issuer is refused");
    assert!(err.contains("certificate"), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").expect("write");
    let (code, _, err) = run(&["--ca-file", &empty.display().to_string()]);
    assert_eq!(code, Some(3));
    assert!(err.contains("no PEM certificate"), "{err}");
}
