//! Acting on repositories over HTTP (`serve --audit-root` with an operator token): real clones
//! made with git in temp dirs, the real binary, real sockets. Who may act, what a preview shows,
//! that the result reaches every client, and that hostile names, a symlink out of the root, a
//! race and a server that never answers are refused or stopped with a reason.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use gitops_client::{ConnectOptions, Connection, LiveState};
use gitops_protocol::{ActionState, ActionStatus, ServerMessage};
use gitops_report::Status;
use serde_json::{Value, json};

use crate::support::{Response, Server, eventually, git, http, http_with_body};

const OPERATOR: &str = "operator-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789ab";

/// An audit root with clones in several states, its expected list and token files.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// `alpha` dirty (a modified and an untracked file), `beta` clean, `gamma` expected but
    /// missing, plus whatever `extra` adds to the root.
    fn new(expected_extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("git");
        for name in ["alpha", "beta"] {
            let clone = root.join(name);
            std::fs::create_dir_all(&clone).expect("mkdir");
            git(&clone, &["init", "-q"]);
            std::fs::write(clone.join("README.md"), format!("{name}\n")).expect("write");
            git(&clone, &["add", "."]);
            git(&clone, &["commit", "-q", "-m", "first"]);
            let url = format!("https://github.com/alice/{name}.git");
            git(&clone, &["remote", "add", "origin", &url]);
        }
        std::fs::write(root.join("alpha/README.md"), "alpha, edited\n").expect("write");
        std::fs::write(root.join("alpha/notes.txt"), "new\n").expect("write");
        let mut expected = String::from("alice/alpha\nalice/beta\nalice/gamma\n");
        for line in expected_extra {
            expected.push_str(line);
            expected.push('\n');
        }
        std::fs::write(dir.path().join("expected.txt"), expected).expect("write");
        std::fs::write(dir.path().join("operator"), OPERATOR).expect("write");
        std::fs::write(dir.path().join("viewer"), VIEWER).expect("write");
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("git")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `serve --audit-root` with the operator token (and the viewer token when `viewer`).
    fn serve(&self, viewer: bool, more: &[&str]) -> Server {
        self.serve_env(viewer, more, &[])
    }

    /// [`Fixture::serve`] with environment variables.
    fn serve_env(&self, viewer: bool, more: &[&str], env: &[(&str, &str)]) -> Server {
        let (report, root, expected) = (
            self.path("out/report.json"),
            self.root().display().to_string(),
            self.path("expected.txt"),
        );
        let (operator, viewer_file) = (self.path("operator"), self.path("viewer"));
        let mut args = vec![
            "serve",
            "--report",
            &report,
            "--audit-root",
            &root,
            "--audit-expected",
            &expected,
            "--operator-token-file",
            &operator,
            "--commit-author",
            "Ops Bot <ops@example.invalid>",
        ];
        if viewer {
            args.extend(["--viewer-token-file", &viewer_file]);
        }
        args.extend_from_slice(more);
        let server = Server::start_with_env(&args, env);
        eventually(Duration::from_secs(20), || {
            (http(server.addr, "GET", "/readyz", &[]).status == 200).then_some(())
        });
        server
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// POSTs JSON as a tool would, with `authorization` (if any).
fn post(addr: SocketAddr, path: &str, authorization: Option<&str>, body: &Value) -> Response {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    http_with_body(addr, "POST", path, &headers, body.to_string().as_bytes())
}

fn get_as(addr: SocketAddr, path: &str, authorization: &str) -> Response {
    http(addr, "GET", path, &[("Authorization", authorization)])
}

fn status_in(addr: SocketAddr, authorization: &str, name: &str) -> Option<String> {
    let report = get_as(addr, "/api/audit", authorization).json();
    report["data"]["repos"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
}

/// Waits for the `action-status` of action `id` that ends it, applying state messages on the way.
async fn action_end(connection: &mut Connection, state: &mut LiveState, id: u64) -> ActionStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("the action's end in time")
            .expect("healthy")
            .expect("open");
        if let ServerMessage::ActionStatus { data } = &message
            && data.id == id
            && data.state.is_final()
        {
            return data.clone();
        }
        state.apply(message).expect("applies");
    }
}

fn repo_status(state: &LiveState, name: &str) -> Option<Status> {
    state.report.as_ref()?.repos.iter().find(|r| r.name == name).map(|r| r.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_commits_and_every_client_sees_the_result() {
    let fixture = Fixture::new(&[]);
    let server = fixture.serve(true, &[]);
    let addr = server.addr;
    let (operator, viewer) = (bearer(OPERATOR), bearer(VIEWER));

    // Who may act: nobody unsigned, not a viewer, the operator.
    let commit = "/api/repos/alpha/actions/commit";
    let body = json!({ "message": "Record the edits" });
    assert_eq!(post(addr, commit, None, &body).status, 401);
    let refused = post(addr, commit, Some(&viewer), &body);
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (403, json!("operator-required"))
    );
    let viewer_session = get_as(addr, "/api/session", &viewer).json();
    assert_eq!(viewer_session["operator"]["available"], true);
    assert_eq!(viewer_session["operator"]["signed_in"], false);
    assert_eq!(get_as(addr, "/api/session", &operator).json()["operator"]["signed_in"], true);

    // A viewer's client sees the repository dirty.
    let options = ConnectOptions { bearer: Some(VIEWER.to_owned()), ..ConnectOptions::default() };
    let mut connection =
        Connection::open_with(&format!("ws://{addr}/ws"), None, &options).await.expect("ws");
    let mut state = LiveState::default();
    while repo_status(&state, "alpha") != Some(Status::Dirty) {
        let message = connection.recv().await.expect("healthy").expect("open");
        state.apply(message).expect("applies");
    }

    // The diff view: both files, with their stats.
    let changes = get_as(addr, "/api/repos/alpha/changes", &operator);
    assert_eq!(changes.status, 200);
    let changes = changes.json();
    let files: Vec<&str> = changes["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(files, ["README.md", "notes.txt"], "{changes}");
    assert_eq!(changes["files"][0]["additions"], 1);
    assert_eq!(changes["files"][0]["deletions"], 1);
    assert!(changes["files"][0]["patch"].as_str().expect("a patch").contains("+alpha, edited"));

    // The preview offers a message and changes nothing.
    let preview = post(addr, commit, Some(&operator), &json!({ "dry_run": true }));
    assert_eq!(preview.status, 200);
    let preview = preview.json();
    assert_eq!(preview["preview"]["author"], "Ops Bot <ops@example.invalid>");
    assert!(!preview["preview"]["message"].as_str().unwrap_or_default().is_empty());
    assert_eq!(preview["preview"]["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(status_in(addr, &operator, "alpha").as_deref(), Some("dirty"));

    // The run: 202 at once, its end to every client, and the card turns clean.
    let accepted = post(addr, commit, Some(&operator), &body);
    assert_eq!(accepted.status, 202, "{}", String::from_utf8_lossy(&accepted.body));
    let id = accepted.json()["id"].as_u64().expect("an id");
    let ended = action_end(&mut connection, &mut state, id).await;
    assert_eq!(ended.state, ActionState::Done, "{ended:?}");
    assert_eq!((ended.action.as_str(), ended.repo.as_str()), ("commit", "alpha"));
    assert!(ended.who.starts_with("operator token from 127.0.0.1"), "{}", ended.who);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while repo_status(&state, "alpha") != Some(Status::Clean) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("alpha turns clean in time")
            .expect("healthy")
            .expect("open");
        state.apply(message).expect("applies");
    }
    let log = std::process::Command::new("git")
        .args(["log", "-1", "--format=%an <%ae>|%s"])
        .current_dir(fixture.root().join("alpha"))
        .output()
        .expect("git log");
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        "Ops Bot <ops@example.invalid>|Record the edits"
    );

    // The log has all of it, newest first: who, what, how it ended, git's output.
    let page = get_as(addr, "/api/actions?limit=10", &operator).json();
    let rows: Vec<(String, String, bool)> = page["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["result"].as_str().unwrap().to_owned(),
                a["dry_run"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("commit".to_owned(), "done".to_owned(), false),
            ("commit".to_owned(), "previewed".to_owned(), true),
            ("changes".to_owned(), "previewed".to_owned(), true),
        ]
    );
    assert!(page["actions"][0]["output"].as_str().unwrap_or_default().contains("Record the edits"));
    assert_eq!(get_as(addr, "/api/actions", &viewer).status, 403, "the log is the operator's");

    // A commit on a clean repository is refused, and says why.
    let again = post(addr, commit, Some(&operator), &body);
    assert_eq!(again.status, 202);
    let id = again.json()["id"].as_u64().expect("an id");
    let ended = action_end(&mut connection, &mut state, id).await;
    assert_eq!(ended.state, ActionState::Refused, "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_signs_in_with_a_cookie_that_is_strict_and_only_acts_with_json_from_its_origin()
 {
    let fixture = Fixture::new(&[]);
    let server = fixture.serve(true, &[]);
    let addr = server.addr;
    let signed = http_with_body(
        addr,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json")],
        json!({ "token": OPERATOR }).to_string().as_bytes(),
    );
    assert_eq!(signed.status, 200);
    assert_eq!(signed.json()["operator"]["signed_in"], true);
    let cookie = signed
        .headers
        .iter()
        .find(|(n, v)| {
            n.eq_ignore_ascii_case("set-cookie") && v.starts_with("gitops_live_operator=")
        })
        .map(|(_, v)| v.clone())
        .expect("an operator cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let info = http(addr, "GET", "/api/session", &[("Cookie", &pair)]).json();
    assert_eq!(info["operator"]["signed_in"], true);
    assert_eq!(info["authenticated"], true, "an operator is a viewer");

    let discard = "/api/repos/alpha/actions/discard";
    let preview = json!({ "dry_run": true }).to_string();
    // A form post (no JSON) and a page of another origin are refused before anything runs.
    let form = http_with_body(
        addr,
        "POST",
        discard,
        &[("Cookie", &pair), ("Content-Type", "application/x-www-form-urlencoded")],
        b"dry_run=false",
    );
    assert_eq!((form.status, form.json()["error"].clone()), (415, json!("json-required")));
    let foreign = http_with_body(
        addr,
        "POST",
        discard,
        &[
            ("Cookie", &pair),
            ("Content-Type", "application/json"),
            ("Origin", "http://127.0.0.1:1"),
        ],
        preview.as_bytes(),
    );
    assert_eq!((foreign.status, foreign.json()["error"].clone()), (403, json!("origin")));
    let own_origin = format!("http://{addr}");
    let ok = http_with_body(
        addr,
        "POST",
        discard,
        &[("Cookie", &pair), ("Content-Type", "application/json"), ("Origin", &own_origin)],
        preview.as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let preview = ok.json()["preview"].clone();
    let lost: Vec<(&str, &str)> = preview["lost"]
        .as_array()
        .expect("lost")
        .iter()
        .map(|l| (l["path"].as_str().unwrap(), l["loss"].as_str().unwrap()))
        .collect();
    assert_eq!(lost, [("README.md", "modified"), ("notes.txt", "untracked")]);

    // Running a discard needs the typed name and the preview's fingerprint.
    let headers = [("Cookie", pair.as_str()), ("Content-Type", "application/json")];
    let unconfirmed = http_with_body(
        addr,
        "POST",
        discard,
        &headers,
        json!({ "confirm": "alph" }).to_string().as_bytes(),
    );
    assert_eq!(unconfirmed.status, 400);
    assert!(unconfirmed.json()["message"].as_str().unwrap_or_default().contains("confirm"));
    let body = json!({ "confirm": "alpha", "fingerprint": preview["fingerprint"] });
    let ran = http_with_body(addr, "POST", discard, &headers, body.to_string().as_bytes());
    assert_eq!(ran.status, 202);
    eventually(Duration::from_secs(10), || {
        (status_in(addr, &bearer(OPERATOR), "alpha").as_deref() == Some("clean")).then_some(())
    });
    assert!(!fixture.root().join("alpha/notes.txt").exists());
    let page = http(addr, "GET", "/api/actions?limit=1", &[("Cookie", &pair)]).json();
    assert!(
        page["actions"][0]["who"].as_str().unwrap_or_default().starts_with("operator session ")
    );

    // Signing out ends the operator session.
    let out = http(addr, "DELETE", "/api/session", &[("Cookie", &pair)]);
    assert!(
        out.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("set-cookie")
            && v.starts_with("gitops_live_operator=;"))
    );
}

#[test]
fn hostile_names_and_a_symlink_out_of_the_root_are_refused_with_a_reason() {
    let fixture = Fixture::new(&[]);
    let root = fixture.root();
    // Folders named like shell words and options are plain folders here: nothing interprets them.
    for name in ["-rf", "; rm -rf ~", "ünï côdé", "with space"] {
        std::fs::create_dir_all(root.join(name)).expect("mkdir");
        std::fs::write(root.join(name).join("file"), "x").expect("write");
    }
    let outside = fixture.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    git(&outside, &["init", "-q"]);
    std::fs::write(outside.join("precious"), "keep me").expect("write");
    std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
    let home = fixture.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::write(home.join("canary"), "alive").expect("write");
    let home_text = home.display().to_string();
    let server = fixture.serve_env(false, &[], &[("HOME", &home_text)]);
    let (addr, operator) = (server.addr, bearer(OPERATOR));
    let delete = |name: &str, body: Value| {
        let path = format!("/api/repos/{}/actions/delete", encode(name));
        post(addr, &path, Some(&operator), &body)
    };

    // Not in the report: refused before any path is built.
    for name in ["--upload-pack=touch x", "../../etc", "/etc", "nope"] {
        let response = delete(name, json!({ "dry_run": true }));
        assert_eq!(
            (response.status, response.json()["error"].clone()),
            (404, json!("unknown-repo")),
            "{name}"
        );
    }
    // In the report, but not a name the actions take (it would be an option to git).
    let response = delete("-rf", json!({ "dry_run": true }));
    assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(&response.body));
    assert!(root.join("-rf").exists());
    // A symlink out of the root is refused for every action.
    for (action, body) in [
        ("delete", json!({ "dry_run": true })),
        ("commit", json!({ "dry_run": true })),
        ("discard", json!({ "dry_run": true })),
    ] {
        let path = format!("/api/repos/escape/actions/{action}");
        let response = post(addr, &path, Some(&operator), &body);
        assert_eq!(response.status, 403, "{action}: {}", String::from_utf8_lossy(&response.body));
    }
    assert_eq!(get_as(addr, "/api/repos/escape/changes", &operator).status, 403);
    assert!(outside.join("precious").exists());
    // Shell words, unicode and spaces are just names: each folder moves to the trash, nothing runs.
    for name in ["; rm -rf ~", "ünï côdé", "with space"] {
        let preview = delete(name, json!({ "dry_run": true }));
        assert_eq!(preview.status, 200, "{name}: {}", String::from_utf8_lossy(&preview.body));
        let ran = delete(name, json!({ "confirm": name }));
        assert_eq!(ran.status, 202, "{name}: {}", String::from_utf8_lossy(&ran.body));
        eventually(Duration::from_secs(10), || (!root.join(name).exists()).then_some(()));
    }
    assert_eq!(std::fs::read_to_string(home.join("canary")).expect("the canary"), "alive");
    let trash = get_as(addr, "/api/trash", &operator).json();
    let folders: Vec<&str> = trash["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["folder"].as_str())
        .collect();
    assert_eq!(folders.len(), 3, "{trash}");
    assert!(folders.contains(&"; rm -rf ~"));
    assert_eq!(trash["purge_after_days"], 30);
    // And one comes back from the trash.
    let restored =
        post(addr, "/api/repos/with%20space/actions/restore", Some(&operator), &json!({}));
    assert_eq!(restored.status, 202, "{}", String::from_utf8_lossy(&restored.body));
    eventually(Duration::from_secs(10), || root.join("with space/file").exists().then_some(()));
    // Bad bodies and actions say what is wrong.
    let unknown = post(addr, "/api/repos/beta/actions/explode", Some(&operator), &json!({}));
    assert_eq!((unknown.status, unknown.json()["error"].clone()), (400, json!("bad-action")));
    let extra_field =
        post(addr, "/api/repos/beta/actions/commit", Some(&operator), &json!({ "shell": "rm" }));
    assert_eq!((extra_field.status, extra_field.json()["error"].clone()), (400, json!("bad-body")));
}

/// Percent-encodes a repository name for a path.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_from_a_server_that_never_answers_is_stopped_and_a_second_action_is_busy() {
    // A server that accepts and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in silent.incoming().take(8) {
            match stream {
                Ok(stream) => kept.push(stream),
                Err(_) => break,
            }
        }
        kept
    });
    let url = format!("http://127.0.0.1:{port}/alice/slow.git");
    let fixture = Fixture::new(&[&url]);
    let server = fixture.serve(false, &["--allow-http-clone", "--action-timeout", "2s"]);
    let (addr, operator) = (server.addr, bearer(OPERATOR));
    let mut connection =
        Connection::open(&format!("ws://{addr}/ws"), None, None).await.expect("ws");
    let mut state = LiveState::default();

    let clone = "/api/repos/slow/actions/clone";
    let preview = post(addr, clone, Some(&operator), &json!({ "dry_run": true }));
    assert_eq!(preview.status, 200, "{}", String::from_utf8_lossy(&preview.body));
    assert_eq!(preview.json()["preview"]["url"], url.as_str());
    let first = post(addr, clone, Some(&operator), &json!({}));
    assert_eq!(first.status, 202, "{}", String::from_utf8_lossy(&first.body));
    let id = first.json()["id"].as_u64().expect("an id");
    // While it hangs, a second action on the same repository is refused at once.
    let second = post(addr, clone, Some(&operator), &json!({}));
    assert_eq!((second.status, second.json()["error"].clone()), (409, json!("busy")));
    let batch = post(
        addr,
        "/api/actions/batch",
        Some(&operator),
        &json!({ "actions": [{ "repo": "slow", "action": "clone" }, { "repo": "beta", "action": "discard" }] }),
    );
    assert_eq!(batch.status, 200);
    let results = batch.json()["results"].clone();
    assert_eq!(results[0]["status"], 409, "{results}");
    assert_eq!(results[1]["status"], 400, "discard is not a batch action: {results}");

    let ended = action_end(&mut connection, &mut state, id).await;
    assert_eq!(ended.state, ActionState::Failed, "{ended:?}");
    assert!(
        ended.summary.contains("timed out") || ended.summary.contains("stopped"),
        "{}",
        ended.summary
    );
    assert!(!fixture.root().join("slow").exists(), "a failed clone leaves nothing behind");
    let entry = get_as(addr, &format!("/api/actions/{id}"), &operator).json();
    assert_eq!(
        (entry["result"].clone(), entry["error_class"].clone()),
        (json!("failed"), json!("failed"))
    );
    drop(server);
    drop(held);
}

#[test]
fn without_an_operator_token_or_an_audit_root_the_actions_are_off_and_say_why() {
    let fixture = Fixture::new(&[]);
    let (report, root, expected) = (
        fixture.path("out/report.json"),
        fixture.root().display().to_string(),
        fixture.path("expected.txt"),
    );
    let no_token = Server::start(&[
        "serve",
        "--report",
        &report,
        "--audit-root",
        &root,
        "--audit-expected",
        &expected,
    ]);
    eventually(Duration::from_secs(20), || {
        (http(no_token.addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    let info = http(no_token.addr, "GET", "/api/session", &[]).json();
    assert_eq!(info["operator"]["available"], false);
    assert!(
        info["operator"]["reason"].as_str().unwrap_or_default().contains("--operator-token-file")
    );
    let refused =
        post(no_token.addr, "/api/repos/alpha/actions/commit", Some(&bearer(OPERATOR)), &json!({}));
    assert_eq!((refused.status, refused.json()["error"].clone()), (403, json!("actions-off")));
    drop(no_token);

    // A report file (no audit root): the operator can sign in, and is told why nothing can be done.
    std::fs::create_dir_all(fixture.dir.path().join("out")).expect("mkdir");
    std::fs::write(&report, r#"{"repos":[{"name":"alpha","status":"dirty"}]}"#).expect("write");
    let operator_file = fixture.path("operator");
    let watching =
        Server::start(&["serve", "--report", &report, "--operator-token-file", &operator_file]);
    let info = get_as(watching.addr, "/api/session", &bearer(OPERATOR)).json();
    assert_eq!(info["operator"]["available"], false);
    assert_eq!(info["operator"]["signed_in"], true);
    assert!(info["operator"]["reason"].as_str().unwrap_or_default().contains("--audit-root"));
    let refused =
        post(watching.addr, "/api/repos/alpha/actions/commit", Some(&bearer(OPERATOR)), &json!({}));
    assert_eq!((refused.status, refused.json()["error"].clone()), (403, json!("actions-off")));
}

#[test]
fn the_action_log_survives_a_restart() {
    let fixture = Fixture::new(&[]);
    let state = fixture.path("state");
    let server = fixture.serve(false, &["--state-dir", &state]);
    let (addr, operator) = (server.addr, bearer(OPERATOR));
    let accepted = post(
        addr,
        "/api/repos/alpha/actions/commit",
        Some(&operator),
        &json!({ "message": "keep" }),
    );
    assert_eq!(accepted.status, 202);
    let id = accepted.json()["id"].as_u64().expect("an id");
    eventually(Duration::from_secs(10), || {
        (get_as(addr, &format!("/api/actions/{id}"), &operator).json()["result"] == "done")
            .then_some(())
    });
    drop(server);
    let server = fixture.serve(false, &["--state-dir", &state]);
    let entry = get_as(server.addr, &format!("/api/actions/{id}"), &bearer(OPERATOR)).json();
    assert_eq!(
        (entry["action"].clone(), entry["result"].clone()),
        (json!("commit"), json!("done"))
    );
}

#[test]
fn the_export_is_rfc_4180_csv_with_formulas_neutralised_and_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let body = json!({ "repos": [
        { "name": "=HYPERLINK(\"http://evil\",\"x\")", "status": "extra", "local_path": "/srv/git/=x" },
        { "name": "plain", "status": "missing", "clone_url": "https://example.org/a,b.git" },
        { "name": "@sum", "status": "clean", "mitigation": "-2+3" },
    ]});
    std::fs::write(&report, body.to_string()).expect("write");
    let viewer_file = dir.path().join("viewer");
    std::fs::write(&viewer_file, VIEWER).expect("write");
    let server = Server::start(&[
        "serve",
        "--report",
        &report.display().to_string(),
        "--viewer-token-file",
        &viewer_file.display().to_string(),
    ]);
    let addr = server.addr;
    eventually(Duration::from_secs(20), || {
        (get_as(addr, "/readyz", "").status == 200).then_some(())
    });
    assert_eq!(http(addr, "GET", "/api/export.csv", &[]).status, 401, "a viewer's data");
    let csv = get_as(addr, "/api/export.csv", &bearer(VIEWER));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap_or_default().starts_with("text/csv"));
    assert!(
        csv.header("content-disposition")
            .unwrap_or_default()
            .starts_with("attachment; filename=\"gitops-audit-")
    );
    let text = String::from_utf8(csv.body.clone()).expect("utf-8");
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "name,status,clone_url,local_path,remote_url,expected_url,file_status,mitigation"
    );
    assert_eq!(lines[1], "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",extra,,/srv/git/=x,,,,");
    assert_eq!(lines[2], "plain,missing,\"https://example.org/a,b.git\",,,,,");
    assert_eq!(lines[3], "'@sum,clean,,,,,,'-2+3");
    let old_path = get_as(addr, "/audit/export/csv", &bearer(VIEWER));
    assert_eq!(old_path.body, csv.body, "the old clients' path answers the same");
    let exported = get_as(addr, "/api/export.json", &bearer(VIEWER));
    assert_eq!(exported.status, 200);
    assert_eq!(exported.json()["repos"][1]["name"], "plain");
}
