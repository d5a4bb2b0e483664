//! History against the real binary: the points a server lists survive its restart, the state
//! it answers for a cursor is the state a live client held at that cursor, the diff between
//! any two points takes one to the other, and old snapshots beside the report are imported
//! once, oldest first, with a broken one skipped and listed.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use gitops_client::{Connection, LiveState};
use gitops_diff::same_state;
use gitops_protocol::{Cursor, HistoryDiff, HistoryPage, RepoTimeline, ServerMessage};
use gitops_report::{Report, Status, Timestamp, generate_report};
use proptest::test_runner::{Config, TestRunner};

use crate::support::{ReportFile, Server, Style, eventually, http};

fn start(file: &ReportFile, state_dir: &Path, extra: &[&str]) -> Server {
    let report = file.path_str();
    let mut args = vec!["serve", "--report", report.as_str()];
    args.extend_from_slice(extra);
    Server::start_with_env(&args, &[("GITOPS_STATE_DIR", state_dir.to_str().expect("utf-8"))])
}

fn live_cursor(server: &Server) -> Option<Cursor> {
    let response = http(server.addr, "GET", "/api/audit", &[]);
    (response.status == 200)
        .then(|| response.header("etag").expect("an etag").parse().expect("a cursor"))
}

fn page(server: &Server, query: &str) -> HistoryPage {
    let response = http(server.addr, "GET", &format!("/api/history{query}"), &[]);
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    serde_json::from_slice(&response.body).expect("a history page")
}

/// Every point, newest first, following `next` page by page (bounded).
fn all_points(server: &Server, limit: usize) -> HistoryPage {
    let mut all = page(server, &format!("?limit={limit}"));
    for _ in 0..1_000 {
        let Some(next) = all.next else { return all };
        let more = page(server, &format!("?limit={limit}&before={next}"));
        all.points.extend(more.points);
        all.next = more.next;
    }
    panic!("more than 1,000 pages");
}

fn state_at(server: &Server, cursor: Cursor) -> Report {
    let response = http(server.addr, "GET", &format!("/api/history/{cursor}"), &[]);
    assert_eq!(response.status, 200, "{cursor}: {}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("etag"), Some(format!("\"{cursor}\"").as_str()));
    match ServerMessage::decode(&response.body).expect("a message") {
        ServerMessage::AuditUpdate { epoch, seq, data } => {
            assert_eq!(Cursor::new(epoch, seq), cursor);
            data
        }
        other => panic!("an audit-update, not {other:?}"),
    }
}

fn diff(server: &Server, from: Cursor, to: Cursor) -> HistoryDiff {
    let response = http(server.addr, "GET", &format!("/api/history/diff?from={from}&to={to}"), &[]);
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    serde_json::from_slice(&response.body).expect("a diff")
}

/// The next report: a few statuses move, sometimes a repository goes or comes, and every
/// third round the top-level fields change.
fn next_report(report: &Report, round: usize) -> Report {
    let mut next = report.clone();
    let statuses = [Status::Clean, Status::Dirty, Status::Missing, Status::Extra];
    let n = next.repos.len();
    for k in 0..1 + round % 3 {
        let repo = &mut next.repos[(round * 7 + k * 5) % n];
        repo.status = statuses[(round + k) % statuses.len()].clone();
    }
    match round % 5 {
        1 => {
            next.repos.remove(round % n);
        }
        2 => {
            let mut added = next.repos[0].clone();
            added.name = format!("added-{round}");
            next.repos.insert(round % n, added);
        }
        _ => {}
    }
    if round.is_multiple_of(3) {
        next.github_user = Some(format!("user-{round}"));
        next.health_status = Some(next.computed_health());
    }
    next
}

/// A live client's state after every state-bearing message it applied, by cursor.
type Held = Vec<(Cursor, Report)>;

/// Reads until the client's state equals `report`, recording the state at every cursor.
async fn follow(
    connection: &mut Connection,
    state: &mut LiveState,
    report: &Report,
    held: &mut Held,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !state.report.as_ref().is_some_and(|r| same_state(r, report)) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("the state arrives in time")
            .expect("healthy")
            .expect("open");
        state.apply(message).expect("applies");
        if let (Some(cursor), Some(report)) = (state.cursor, &state.report)
            && held.last().is_none_or(|(last, _)| *last != cursor)
        {
            held.push((cursor, report.clone()));
        }
    }
}

/// Starts a server on a fresh state directory, makes `rounds` changes to the report while a
/// live client follows, and returns what the client held at each cursor.
async fn session(rounds: usize) -> (Server, ReportFile, tempfile::TempDir, Held, usize) {
    let state_dir = tempfile::tempdir().expect("a state dir");
    let mut report = generate_report(30, 5);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = start(&file, state_dir.path(), &[]);
    eventually(Duration::from_secs(10), || live_cursor(&server));
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    let mut held = Held::new();
    follow(&mut connection, &mut state, &report, &mut held).await;
    let mut publishes = 1;
    for round in 1..=rounds {
        let next = next_report(&report, round);
        if !same_state(&next, &report) {
            publishes += 1;
        }
        report = next;
        let style = if round % 2 == 0 { Style::AtomicRename } else { Style::InPlace };
        file.write(&report.to_json_bytes(), style);
        follow(&mut connection, &mut state, &report, &mut held).await;
    }
    (server, file, state_dir, held, publishes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_every_change_across_a_restart_and_each_point_is_what_a_client_held() {
    let (server, file, state_dir, held, publishes) = session(12).await;
    let live = live_cursor(&server).expect("a cursor");
    let before = all_points(&server, 5);
    // One point per publish: the first state, then one per round that changed the report.
    let seqs: Vec<u64> = before.points.iter().map(|p| p.cursor.seq).collect();
    assert_eq!(before.points.len(), publishes, "{seqs:?}");
    assert!(publishes > 10);
    assert_eq!(before.points[0].cursor, live, "the newest point is the live state");
    assert_eq!(before.points.last().map(|p| p.kind), Some(gitops_protocol::PointKind::Snapshot));
    let seqs: Vec<u64> = before.points.iter().map(|p| p.cursor.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seqs:?}");
    // A point's counts and transitions say what the client saw there.
    let by_cursor: HashMap<Cursor, &Report> = held.iter().map(|(c, r)| (*c, r)).collect();
    for point in &before.points {
        let report = by_cursor[&point.cursor];
        let total: u64 = point.counts.values().sum();
        assert_eq!(total, report.repos.len() as u64);
        let dirty = report.repos.iter().filter(|r| r.status == Status::Dirty).count() as u64;
        assert_eq!(point.counts.get("dirty").copied().unwrap_or(0), dirty);
        assert_eq!(point.repos_changed as usize, point.repos.len());
        for transition in &point.repos {
            let now = report.repos.iter().find(|r| r.name == transition.name);
            assert_eq!(now.map(|r| &r.status), transition.new_status.as_ref(), "{transition:?}");
        }
    }

    // The server stops and starts again on the same state directory: the same points.
    assert!(server.terminate().success());
    let server = start(&file, state_dir.path(), &[]);
    eventually(Duration::from_secs(10), || live_cursor(&server));
    let after = all_points(&server, 50);
    assert_eq!(after, before, "the history is the same after a restart");

    // Every cursor the client held, whether the end of a publish or a message inside one,
    // names the state the client had there.
    assert!(held.len() > 13, "messages inside publishes too: {}", held.len());
    for (cursor, report) in &held {
        assert!(same_state(&state_at(&server, *cursor), report), "the state at {cursor}");
    }

    // The repository that changed most has a timeline that agrees with the points.
    let name = &before.points[0].repos.first().expect("the last round changed something").name;
    let response = http(server.addr, "GET", &format!("/api/repos/{name}/history"), &[]);
    let timeline: RepoTimeline = serde_json::from_slice(&response.body).expect("a timeline");
    assert!(!timeline.events.is_empty());
    for event in &timeline.events {
        let report = by_cursor[&event.cursor];
        let now = report.repos.iter().find(|r| &r.name == name).map(|r| &r.status);
        assert_eq!(now, event.transition.new_status.as_ref(), "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_between_any_two_points_applied_to_the_first_gives_the_second() {
    let (server, _file, _state_dir, held, _) = session(10).await;
    let cursors: Vec<Cursor> = held.iter().map(|(cursor, _)| *cursor).collect();
    let states: std::cell::RefCell<HashMap<Cursor, Report>> = Default::default();
    let mut runner =
        TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let n = cursors.len();
    runner
        .run(&(0..n, 0..n), |(i, j)| {
            let (from, to) = (cursors[i], cursors[j]);
            let old =
                states.borrow_mut().entry(from).or_insert_with(|| state_at(&server, from)).clone();
            let new =
                states.borrow_mut().entry(to).or_insert_with(|| state_at(&server, to)).clone();
            let changes = diff(&server, from, to);
            assert_eq!((changes.from, changes.to), (from, to));
            let changes = changes.into_changes();
            if i == j {
                assert!(changes.is_empty(), "a point does not differ from itself");
            }
            let applied = gitops_diff::apply(&changes, &old).expect("the diff applies");
            assert!(same_state(&applied, &new), "diff({from}, {to}) applied to {from}");
            Ok(())
        })
        .expect("every pair");
}

/// A report of three repositories stamped `hours_ago` hours before now, with `halo` in `status`.
fn snapshot(hours_ago: i64, status: Status) -> Report {
    let mut report = generate_report(3, 8);
    report.repos[0].name = "halo".into();
    report.repos[0].status = status;
    let when = jiff::Timestamp::now().as_second() - hours_ago * 3600;
    report.timestamp = Some(Timestamp::from_unix_seconds(when));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_snapshots_beside_the_report_are_imported_once_oldest_first_skipping_a_broken_one() {
    let dir = tempfile::tempdir().expect("a report folder");
    let history = dir.path().join("audit-history");
    std::fs::create_dir(&history).expect("audit-history");
    let oldest = snapshot(72, Status::Missing);
    let middle = snapshot(48, Status::Dirty);
    let newest = snapshot(24, Status::Clean);
    // Names that do not sort as the times do: the times decide the order.
    std::fs::write(history.join("c.json"), oldest.to_json_bytes()).expect("write");
    std::fs::write(history.join("a.json"), middle.to_json_bytes()).expect("write");
    // The same report again (as a producer that writes every run does): the same time, so the
    // file name breaks the tie, and no point of its own.
    std::fs::write(history.join("b.json"), middle.to_json_bytes()).expect("write");
    std::fs::write(history.join("d.json"), newest.to_json_bytes()).expect("write");
    std::fs::write(history.join("broken.json"), b"{\"repos\": [{\"name\": ").expect("write");
    std::fs::write(history.join("notes.txt"), b"not a snapshot").expect("write");
    std::os::unix::fs::symlink("audit-history/d.json", dir.path().join("latest.json"))
        .expect("latest.json");
    let report = dir.path().join("latest.json");
    let state_dir = tempfile::tempdir().expect("a state dir");
    let run = || {
        Server::start_with_env(
            &["serve", "--report", report.to_str().expect("utf-8")],
            &[("GITOPS_STATE_DIR", state_dir.path().to_str().expect("utf-8"))],
        )
    };

    let server = run();
    let live = eventually(Duration::from_secs(10), || live_cursor(&server));
    let imported = all_points(&server, 50);
    let import = imported.import.clone().expect("the import is recorded");
    assert_eq!(import.imported, 3, "{import:?}");
    assert_eq!(import.unchanged, 1, "b.json repeats a.json: {import:?}");
    assert_eq!(import.too_old, 0);
    assert_eq!(import.skipped.len(), 1, "{import:?}");
    assert_eq!(import.skipped[0].file, "broken.json");
    assert!(import.skipped[0].error.contains("line 1"), "says where: {}", import.skipped[0].error);
    let points = &imported.points;
    assert_eq!(points.len(), 3);
    assert_eq!(points[0].cursor, live, "the report being served is the newest snapshot");
    for (point, expected) in points.iter().rev().zip([&oldest, &middle, &newest]) {
        assert!(same_state(&state_at(&server, point.cursor), expected));
        let stamp = expected.timestamp.as_ref().and_then(|t| t.instant).expect("a time");
        assert_eq!(point.time, stamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        assert_eq!(
            point.timestamp.as_deref(),
            Some(expected.timestamp.as_ref().expect("t").raw.as_str())
        );
    }
    let halo = points[0].repos.iter().find(|t| t.name == "halo").expect("halo changed");
    assert_eq!(
        (halo.old_status.clone(), halo.new_status.clone()),
        (Some(Status::Dirty), Some(Status::Clean))
    );
    // The old API's names: one per point, newest first.
    let names: Vec<String> =
        serde_json::from_slice(&http(server.addr, "GET", "/audit/history", &[]).body)
            .expect("names");
    assert_eq!(names.len(), 3);
    let newest_name = newest.timestamp.as_ref().and_then(|t| t.instant).expect("t");
    assert_eq!(names[0], newest_name.strftime("%Y-%m-%dT%H-%M-%SZ.json").to_string());

    // A restart imports nothing again, and a new snapshot in the folder is not imported either:
    // it is the live report's business now.
    assert!(server.terminate().success());
    std::fs::write(history.join("e.json"), snapshot(1, Status::Extra).to_json_bytes())
        .expect("write");
    let server = run();
    eventually(Duration::from_secs(10), || live_cursor(&server));
    let again = all_points(&server, 50);
    assert_eq!(again, imported, "imported once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_import_skips_what_retention_would_drop_and_a_log_with_history_is_left_alone() {
    let folder = tempfile::tempdir().expect("snapshots");
    let too_old = snapshot(24 * 45, Status::Dirty);
    let recent = snapshot(5, Status::Missing);
    std::fs::write(folder.path().join("1.json"), too_old.to_json_bytes()).expect("write");
    std::fs::write(folder.path().join("2.json"), recent.to_json_bytes()).expect("write");
    let file = ReportFile::new(&snapshot(1, Status::Clean).to_json_bytes());
    let state_dir = tempfile::tempdir().expect("a state dir");
    let import = folder.path().to_str().expect("utf-8");
    let server = start(&file, state_dir.path(), &["--history-import", import]);
    // The log starts with the imported point; the live report's change follows once read.
    let history = eventually(Duration::from_secs(10), || {
        Some(all_points(&server, 50)).filter(|history| history.points.len() == 2)
    });
    let summary = history.import.clone().expect("imported");
    assert_eq!((summary.imported, summary.too_old), (1, 1), "{summary:?}");
    assert_eq!(summary.from, import);
    // The imported point, then the live report's change on top of it.
    let [live, imported] = history.points.as_slice() else {
        panic!("two points: {:#?}", history.points)
    };
    assert!(same_state(&state_at(&server, imported.cursor), &recent));
    let halo = live.repos.iter().find(|t| t.name == "halo").expect("halo changed");
    assert_eq!(
        (halo.old_status.clone(), halo.new_status.clone()),
        (Some(Status::Missing), Some(Status::Clean))
    );

    // Another folder on a log that holds history: nothing is imported (it could only come
    // after the live points), and the history is as it was.
    assert!(server.terminate().success());
    let other = tempfile::tempdir().expect("more snapshots");
    std::fs::write(other.path().join("3.json"), snapshot(3, Status::Extra).to_json_bytes())
        .expect("write");
    let other = other.path().to_str().expect("utf-8");
    let server = start(&file, state_dir.path(), &["--history-import", other]);
    eventually(Duration::from_secs(10), || live_cursor(&server));
    assert_eq!(all_points(&server, 50), history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_questions_it_cannot_answer_say_why() {
    // No state directory: no history, and the answer says how to get one.
    let file = ReportFile::new(&generate_report(300, 3).to_json_bytes());
    let memory = Server::start(&["serve", "--report", &file.path_str(), "--state-dir", "none"]);
    eventually(Duration::from_secs(10), || live_cursor(&memory));
    for path in ["/api/history", "/audit/history", "/api/repos/halo/history"] {
        let response = http(memory.addr, "GET", path, &[]);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.json()["error"], "history-off", "{path}");
        let message = response.json()["message"].as_str().unwrap_or("").to_owned();
        assert!(message.contains("--state-dir"), "{message}");
    }
    drop(memory);

    let state_dir = tempfile::tempdir().expect("a state dir");
    let server = start(&file, state_dir.path(), &[]);
    let live = eventually(Duration::from_secs(10), || live_cursor(&server));
    let status = |path: &str| http(server.addr, "GET", path, &[]);
    let other_epoch = Cursor::new(gitops_protocol::Epoch(live.epoch.0 ^ 1), live.seq);
    let cases = [
        (format!("/api/history/{}", "not-a-cursor"), 400, "bad-cursor"),
        ("/api/history?before=12:3".to_owned(), 400, "bad-cursor"),
        ("/api/history?limit=0".to_owned(), 400, "bad-limit"),
        (format!("/api/history/diff?from={live}"), 400, "bad-cursor"),
        (format!("/api/history/{}:{}", live.epoch, live.seq + 1), 404, "not-retained"),
        (format!("/api/history/{other_epoch}"), 404, "not-retained"),
        (format!("/api/history/diff?from={live}&to={other_epoch}"), 404, "not-retained"),
    ];
    for (path, code, error) in cases {
        let response = status(&path);
        assert_eq!(response.status, code, "{path}: {}", String::from_utf8_lossy(&response.body));
        assert_eq!(response.json()["error"], error, "{path}");
    }
    // A limit above the cap is capped, not refused.
    assert_eq!(status("/api/history?limit=1000000").status, 200);
    // The state is compressed when the client accepts it, and a matching tag is a 304.
    let path = format!("/api/history/{live}");
    let gzipped = http(server.addr, "GET", &path, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let tag = format!("\"{live}\"");
    let cached = http(server.addr, "GET", &path, &[("If-None-Match", tag.as_str())]);
    assert_eq!(cached.status, 304);
    // A browser navigating to /audit/history gets the dashboard (a repository named history).
    let page = http(server.addr, "GET", "/audit/history", &[("Accept", "text/html,*/*")]);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    drop(server);

    // With viewer sign-in on, history needs it like every other data endpoint.
    let token = "history-viewer-token-0123456789";
    let server = Server::start_with_env(
        &["serve", "--report", &file.path_str()],
        &[
            ("GITOPS_STATE_DIR", state_dir.path().to_str().expect("utf-8")),
            ("GITOPS_VIEWER_TOKEN", token),
        ],
    );
    eventually(Duration::from_secs(10), || {
        (http(server.addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    let bearer = format!("Bearer {token}");
    for path in
        ["/api/history", &format!("/api/history/{live}"), "/audit/history", "/api/repos/x/history"]
    {
        assert_eq!(http(server.addr, "GET", path, &[]).status, 401, "{path}");
        let signed_in = http(server.addr, "GET", path, &[("Authorization", bearer.as_str())]);
        assert_eq!(signed_in.status, 200, "{path}");
    }
}
