//! The action log: begin, finish and one-shot records read back, paging, hostile texts and the
//! cap, writes from several threads, a version 1 file migrated, retention, and kill -9 while
//! actions are logged.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use gitops_diff::same_state;
use gitops_store::{
    ACTION_INTERRUPTED, ACTION_RUNNING, ActionEnd, ActionFilter, DB_FILE, Error, HistoryLimit,
    INTERRUPTED_SUMMARY, MAX_ACTION_TEXT_BYTES, NewAction, Notice, RetentionPolicy, SCHEMA_VERSION,
    Store, StoreConfig, StoredAction, SyncLevel, TRUNCATED_MARKER,
};

use crate::child::spawn;
use crate::common::{
    Publisher, Rng, assert_rebuilds, config, fresh_seed, no_limits, older_file, schema_of,
    table_rows,
};

/// A fixed, whole-millisecond time `secs` seconds into the test's day.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000 + secs)
}

fn new_action(action: &str, repo: &str, time: SystemTime) -> NewAction {
    NewAction {
        who: "alice".to_owned(),
        action: action.to_owned(),
        repo: repo.to_owned(),
        dry_run: false,
        time,
    }
}

fn end(result: &str, output: &str, time: SystemTime) -> ActionEnd {
    ActionEnd {
        result: result.to_owned(),
        error_class: None,
        summary: format!("{result} in the test"),
        output: output.to_owned(),
        detail: None,
        time,
    }
}

/// Every row of the log, newest first.
fn all(store: &Store) -> Vec<StoredAction> {
    store.actions(None, usize::MAX, ActionFilter::any()).unwrap()
}

#[test]
fn an_action_begun_and_finished_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let handle = store.handle().unwrap();
    let started = at(10);
    let mut action = new_action("commit", "esphome", started);
    action.who = "bob".to_owned();
    let id = handle.begin_action(&action).unwrap();

    // Read from the other connection while it runs.
    let running = store.action(id).unwrap().expect("the row is there");
    assert_eq!(
        running,
        StoredAction {
            id,
            started,
            ended: None,
            who: "bob".to_owned(),
            action: "commit".to_owned(),
            repo: "esphome".to_owned(),
            dry_run: false,
            result: ACTION_RUNNING.to_owned(),
            error_class: None,
            summary: String::new(),
            output: String::new(),
            detail: None,
        }
    );

    let ended = started + Duration::from_millis(1234);
    let finish = ActionEnd {
        result: "failed".to_owned(),
        error_class: Some("hook-refused".to_owned()),
        summary: "the commit was refused".to_owned(),
        output: "error: nothing to commit\n".to_owned(),
        detail: Some(r#"{"files":["a.yaml"]}"#.to_owned()),
        time: ended,
    };
    store.finish_action(id, &finish).unwrap();
    let done = handle.action(id).unwrap().unwrap();
    assert_eq!(done.ended, Some(ended));
    assert_eq!(done.result, "failed");
    assert_eq!(done.error_class.as_deref(), Some("hook-refused"));
    assert_eq!(done.summary, "the commit was refused");
    assert_eq!(done.output, "error: nothing to commit\n");
    assert_eq!(done.detail.as_deref(), Some(r#"{"files":["a.yaml"]}"#));
    assert_eq!((done.started, done.who.as_str(), done.repo.as_str()), (started, "bob", "esphome"));

    // An action ends once; an id the log never gave is refused. Nothing changes either way.
    let again = store.finish_action(id, &end("done", "", ended)).unwrap_err();
    assert!(matches!(again, Error::ActionFinished { id: got } if got == id), "{again:?}");
    for missing in [id + 1, 0, u64::MAX] {
        let error = handle.finish_action(missing, &end("done", "", ended)).unwrap_err();
        assert!(matches!(error, Error::NoSuchAction { id: got } if got == missing), "{error:?}");
        assert_eq!(store.action(missing).unwrap(), None);
    }
    assert_eq!(store.action(id).unwrap().unwrap(), done);
    assert_eq!(all(&store), [done]);
}

#[test]
fn a_one_shot_record_is_ended_when_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let mut preview = new_action("discard", "ha-notify", at(5));
    preview.dry_run = true;
    let mut previewed = end("previewed", "", at(6));
    previewed.detail = Some(r#"{"fingerprint":"abc","files":3}"#.to_owned());
    let first = store.record_action(&preview, &previewed).unwrap();
    let mut refused = end("refused", "", at(7));
    refused.error_class = Some("name-mismatch".to_owned());
    let second = store.handle().unwrap().record_action(&preview, &refused).unwrap();
    assert!(second > first);

    let rows = all(&store);
    assert_eq!(rows.iter().map(|a| a.id).collect::<Vec<_>>(), [second, first]);
    let [refused_row, previewed_row] = rows.as_slice() else { panic!("{rows:?}") };
    assert!(previewed_row.dry_run);
    assert_eq!(previewed_row.started, at(5));
    assert_eq!(previewed_row.ended, Some(at(6)));
    assert_eq!(previewed_row.result, "previewed");
    assert_eq!(previewed_row.detail, previewed.detail);
    assert_eq!(refused_row.error_class.as_deref(), Some("name-mismatch"));
    // Runs only: the two previews are left out, a run is kept.
    let ran = store
        .record_action(&new_action("commit", "ha-notify", at(8)), &end("done", "", at(9)))
        .unwrap();
    let runs_only = ActionFilter { runs_only: true, ..ActionFilter::repo("ha-notify") };
    let runs = store.actions(None, usize::MAX, runs_only).unwrap();
    assert_eq!(runs.iter().map(|a| a.id).collect::<Vec<_>>(), [ran]);
    assert_eq!(refused_row.ended, Some(at(7)));
    // A one-shot record has ended: it cannot be finished again.
    let error = store.finish_action(first, &end("done", "", at(8))).unwrap_err();
    assert!(matches!(error, Error::ActionFinished { .. }), "{error:?}");
}

#[test]
fn pages_are_newest_first_and_filter_by_repository() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let repos = ["halo", "scratch", "esphome"];
    let mut ids_by_repo: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut ids = Vec::new();
    for i in 0..25u64 {
        let repo = repos[(i % 3) as usize];
        let id = if i % 2 == 0 {
            store.record_action(&new_action("pull", repo, at(i)), &end("done", "", at(i))).unwrap()
        } else {
            let id = store.begin_action(&new_action("push", repo, at(i))).unwrap();
            store.finish_action(id, &end("done", "", at(i + 1))).unwrap();
            id
        };
        ids.push(id);
        ids_by_repo.entry(repo).or_default().push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // Page through everything, 10 at a time.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store.actions(before, 10, ActionFilter::any()).unwrap();
        assert!(page.len() <= 10);
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        paged.extend(page.iter().map(|a| a.id));
    }
    let newest_first: Vec<u64> = ids.iter().rev().copied().collect();
    assert_eq!(paged, newest_first);
    assert_eq!(store.actions(Some(ids[0]), 10, ActionFilter::any()).unwrap(), []);
    assert_eq!(store.actions(None, 0, ActionFilter::any()).unwrap(), []);

    for (repo, want) in &ids_by_repo {
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store.actions(before, 3, ActionFilter::repo(repo)).unwrap();
            let Some(last) = page.last() else { break };
            assert!(page.iter().all(|a| a.repo == *repo));
            before = Some(last.id);
            paged.extend(page.iter().map(|a| a.id));
        }
        let want: Vec<u64> = want.iter().rev().copied().collect();
        assert_eq!(paged, want, "{repo}");
    }
    assert_eq!(
        store.actions(None, 10, ActionFilter::repo("hal")).unwrap(),
        [],
        "an exact match only"
    );
    assert_eq!(store.stats().unwrap().actions, 25);
}

#[test]
fn hostile_texts_round_trip_and_huge_ones_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let hostile = [
        "'; DROP TABLE actions; --",
        "\"quoted\" and 'single' and `back` and \\ backslash",
        "émoji 🦀 and RTL \u{202e}txet and combining e\u{301} and zero-width \u{200b}",
        "%_ like wildcards * ? [x]",
        "line\nbreaks\r\nand\ttabs",
        "",
    ];
    let mut written = Vec::new();
    for (i, text) in hostile.iter().enumerate() {
        let action = NewAction {
            who: (*text).to_owned(),
            action: (*text).to_owned(),
            repo: (*text).to_owned(),
            dry_run: i % 2 == 0,
            time: at(i as u64),
        };
        let ended = ActionEnd {
            result: (*text).to_owned(),
            error_class: Some((*text).to_owned()),
            summary: (*text).to_owned(),
            output: (*text).to_owned(),
            detail: Some((*text).to_owned()),
            time: at(i as u64 + 1),
        };
        let id = store.begin_action(&action).unwrap();
        store.finish_action(id, &ended).unwrap();
        written.push((id, *text));
    }
    for (id, text) in &written {
        let row = store.action(*id).unwrap().unwrap();
        for field in [&row.who, &row.action, &row.repo, &row.result, &row.summary, &row.output] {
            assert_eq!(field, text);
        }
        assert_eq!(row.error_class.as_deref(), Some(*text));
        assert_eq!(row.detail.as_deref(), Some(*text));
        let by_repo = store.actions(None, 10, ActionFilter::repo(text)).unwrap();
        assert_eq!(by_repo.iter().map(|a| a.id).collect::<Vec<_>>(), [*id], "{text:?}");
    }
    assert_eq!(all(&store).len(), hostile.len(), "the table is still there");

    // A mebibyte of output and of detail: both are cut to the cap at a character boundary.
    let crabs = "🦀".repeat(1 << 18);
    let ascii = "x".repeat(1 << 20);
    let mut huge = end("done", &crabs, at(100));
    huge.detail = Some(ascii.clone());
    let id = store.record_action(&new_action("audit-run", "all", at(99)), &huge).unwrap();
    let row = store.action(id).unwrap().unwrap();
    for (kept, original) in [(&row.output, &crabs), (row.detail.as_ref().unwrap(), &ascii)] {
        assert!(kept.len() <= MAX_ACTION_TEXT_BYTES, "{}", kept.len());
        assert!(kept.len() > MAX_ACTION_TEXT_BYTES - TRUNCATED_MARKER.len() - 4);
        let body = kept.strip_suffix(TRUNCATED_MARKER).expect("marked as cut");
        assert!(original.starts_with(body));
    }
    // The same through begin and finish.
    let id = store.begin_action(&new_action("clone", "big", at(1))).unwrap();
    store.finish_action(id, &huge).unwrap();
    let row = store.action(id).unwrap().unwrap();
    assert!(row.output.len() <= MAX_ACTION_TEXT_BYTES && row.output.ends_with(TRUNCATED_MARKER));
    let file = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len()
        + std::fs::metadata(dir.path().join(format!("{DB_FILE}-wal"))).map_or(0, |m| m.len());
    println!("database and WAL after two 2 MiB actions: {file} bytes");
}

#[test]
fn several_threads_log_actions_while_the_store_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(30, 3));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let handle = store.handle().unwrap();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..40u64 {
                    let repo = format!("repo-{t}");
                    let id = handle.begin_action(&new_action("pull", &repo, at(i))).unwrap();
                    let output = format!("thread {t} action {i}");
                    handle.finish_action(id, &end("done", &output, at(i + 1))).unwrap();
                    ids.push((id, output));
                }
                ids
            })
        })
        .collect();
    publisher.run(&mut store, 40, 3);
    let mut written = BTreeMap::new();
    for thread in threads {
        written.extend(thread.join().expect("a writer thread"));
    }
    assert_eq!(written.len(), 160, "every id given once");
    let rows = all(&store);
    assert_eq!(rows.len(), 160);
    for row in &rows {
        assert_eq!(row.result, "done");
        assert_eq!(Some(&row.output), written.get(&row.id), "row {}", row.id);
    }
    assert_rebuilds(&store, &publisher, 1);
}

#[test]
fn an_action_left_running_is_marked_interrupted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (running, finished) = {
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
        let running = [
            store.begin_action(&new_action("clone", "halo", at(1))).unwrap(),
            store.begin_action(&new_action("push", "scratch", at(2))).unwrap(),
        ];
        let finished =
            store.record_action(&new_action("pull", "x", at(3)), &end("done", "ok", at(4)));
        (running, finished.unwrap())
    };
    let before = SystemTime::now() - Duration::from_secs(1);
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let notice = Notice::ActionsInterrupted { count: 2 };
    assert!(opened.notices.contains(&notice), "{:?}", opened.notices);
    assert!(notice.is_alarming());
    println!("{notice}");
    assert!(notice.to_string().contains("2 actions"));
    let store = opened.store;
    for id in running {
        let row = store.action(id).unwrap().unwrap();
        assert_eq!(row.result, ACTION_INTERRUPTED);
        assert_eq!(row.summary, INTERRUPTED_SUMMARY);
        assert!(row.ended.unwrap() >= before, "ended at the reopen");
        let error = store.finish_action(id, &end("done", "", at(9))).unwrap_err();
        assert!(matches!(error, Error::ActionFinished { .. }), "too late: {error:?}");
    }
    assert_eq!(store.action(finished).unwrap().unwrap().result, "done", "finished rows stay");
    drop(store);
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(
        !opened.notices.iter().any(|n| matches!(n, Notice::ActionsInterrupted { .. })),
        "counted once: {:?}",
        opened.notices
    );
}

#[test]
fn a_version_1_file_migrates_with_its_data_intact() {
    // A log written through the normal API (at the current version), then a version 1 file
    // made from it: the same SQL for every table and index but those added later, the same
    // rows, version 1.
    let root = tempfile::tempdir().unwrap();
    let (new_dir, old_dir) = (root.path().join("new"), root.path().join("v1"));
    let publisher = {
        let mut store = Store::open(&new_dir, config(10)).unwrap().store;
        let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(40, 21));
        publisher.run(&mut store, 30, 21);
        store.record_source_event(at(50), "loaded", "the report was read").unwrap();
        publisher
    };
    // Version 2 added the action log, version 3 the outbox and the key-value table.
    let v1_tables = older_file(&new_dir, &old_dir, &["actions", "outbox", "kv"], 1);
    assert!(v1_tables.len() >= 6 && !v1_tables.iter().any(|t| t == "actions"), "{v1_tables:?}");
    let v1_rows: Vec<Vec<String>> = {
        let conn = rusqlite::Connection::open(old_dir.join(DB_FILE)).unwrap();
        v1_tables.iter().map(|t| table_rows(&conn, t)).collect()
    };
    assert!(v1_rows.iter().all(|rows| !rows.is_empty()), "every table has rows");

    let opened = Store::open(&old_dir, config(10)).unwrap();
    assert_eq!(opened.notices, [Notice::Migrated { from: 1, to: SCHEMA_VERSION }]);
    let store = opened.store;
    assert_eq!(store.epoch(), publisher.epoch);
    assert_eq!(store.cursor().map(|c| c.seq), Some(publisher.seq));
    let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert!(same_state(&restored.state, &publisher.state));
    assert_rebuilds(&store, &publisher, 1);
    let events = store.source_events(None, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "the report was read");
    assert_eq!(all(&store), []);
    let id = store.begin_action(&new_action("clone", "halo", at(60))).unwrap();
    store.finish_action(id, &end("done", "cloned", at(61))).unwrap();
    assert_eq!(id, 1);
    drop(store);

    // The same rows as before, and the same schema as a file made at the current version.
    let migrated = rusqlite::Connection::open(old_dir.join(DB_FILE)).unwrap();
    let fresh = rusqlite::Connection::open(new_dir.join(DB_FILE)).unwrap();
    for (table, rows) in v1_tables.iter().zip(&v1_rows) {
        assert_eq!(&table_rows(&migrated, table), rows, "{table}");
    }
    assert_eq!(schema_of(&migrated), schema_of(&fresh));
    let version: u32 = migrated.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(version, 3);
}

#[test]
fn retention_keeps_the_newest_rows_and_never_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    // Three actions still running, the oldest of all, then 1,200 finished ones a second apart.
    let running: Vec<u64> =
        (0..3).map(|i| store.begin_action(&new_action("clone", "slow", at(i))).unwrap()).collect();
    let mut finished = Vec::new();
    for i in 0..1200u64 {
        let action = new_action("pull", "fast", at(10 + i));
        finished.push(store.record_action(&action, &end("done", "", at(10 + i))).unwrap());
    }
    let count = RetentionPolicy { max_actions: Some(100), ..no_limits() };
    let pruned = store.prune(&count, at(5000)).unwrap();
    assert_eq!(pruned.actions, 1100);
    let kept: Vec<u64> = all(&store).iter().rev().map(|a| a.id).collect();
    let want: Vec<u64> = running.iter().chain(&finished[1100..]).copied().collect();
    assert_eq!(kept, want, "the newest 100 and the running ones");
    assert_eq!(store.prune(&count, at(5000)).unwrap().actions, 0);

    // By age: finished rows that started more than 60 s before now go; running ones stay.
    let age = RetentionPolicy { max_age: Some(Duration::from_secs(60)), ..no_limits() };
    let now = at(10 + 1140 + 60);
    let pruned = store.prune(&age, now).unwrap();
    assert_eq!(pruned.actions, 40, "rows 1100..1140 started before {now:?} - 60 s");
    let kept: Vec<u64> = all(&store).iter().rev().map(|a| a.id).collect();
    let want: Vec<u64> = running.iter().chain(&finished[1140..]).copied().collect();
    assert_eq!(kept, want);

    // Everything finished goes with a limit of 0; running rows stay until they end.
    let none = RetentionPolicy { max_actions: Some(0), ..no_limits() };
    assert_eq!(store.prune(&none, now).unwrap().actions, 60);
    assert_eq!(all(&store).iter().map(|a| a.id).collect::<Vec<_>>(), [3, 2, 1]);
    for id in &running {
        store.finish_action(*id, &end("done", "", now)).unwrap();
    }
    assert_eq!(store.prune(&none, now).unwrap().actions, 3);
    assert_eq!(all(&store), []);

    // Ids are never given twice, even once the newest rows are gone.
    let next = store.record_action(&new_action("pull", "x", now), &end("done", "", now)).unwrap();
    assert_eq!(next, *finished.last().unwrap() + 1);
    assert_eq!(store.stats().unwrap().actions, 1);
    assert_eq!(RetentionPolicy::default().max_actions, Some(10_000));
}

/// The output a child writes for action `id`: checkable by the parent from the id alone.
fn child_output(id: u64, lines: usize) -> String {
    format!("line of action {id}\n").repeat(lines.max(1))
}

/// What the `actions` child does: logs actions from this thread through the store and from a
/// second through a handle, until `limit` each or `deadline`, printing each id once its call
/// returned.
pub(crate) fn action_loop(dir: &Path, seed: u64, sync: SyncLevel, limit: usize, deadline: Instant) {
    let store = Store::open(dir, StoreConfig { sync, ..StoreConfig::default() })
        .expect("the child opens the store")
        .store;
    let say = |what: &str, id: u64| {
        let mut out = std::io::stdout().lock();
        // The parent counts on these lines meaning "committed": print only after the call.
        let _ = writeln!(out, "{what} {id}");
        let _ = out.flush();
    };
    let work = |begin: &dyn Fn(&NewAction) -> gitops_store::Result<u64>,
                finish: &dyn Fn(u64, &ActionEnd) -> gitops_store::Result<()>,
                record: &dyn Fn(&NewAction, &ActionEnd) -> gitops_store::Result<u64>,
                thread: u64| {
        let mut rng = Rng(seed ^ thread);
        for i in 0..limit {
            if Instant::now() > deadline {
                break;
            }
            let repo = format!("repo-{}", rng.below(5));
            let action = new_action("push", &repo, SystemTime::now());
            // Mostly short outputs, sometimes one past the cap, so kills land in big writes too.
            let lines = if rng.below(10) == 0 { 4000 } else { rng.below(50) as usize };
            if i % 3 == 2 {
                let id =
                    record(&action, &end("previewed", "", SystemTime::now())).expect("a record");
                say("recorded", id);
            } else {
                let id = begin(&action).expect("a begin");
                say("begun", id);
                let result = if rng.below(4) == 0 { "failed" } else { "done" };
                let ended = end(result, &child_output(id, lines), SystemTime::now());
                finish(id, &ended).expect("a finish");
                say("finished", id);
            }
        }
    };
    let handle = store.handle().expect("a handle");
    std::thread::scope(|scope| {
        // The handle moves to its thread: a connection is used by one thread at a time.
        scope.spawn(move || {
            work(
                &|a| handle.begin_action(a),
                &|id, e| handle.finish_action(id, e),
                &|a, e| handle.record_action(a, e),
                1,
            )
        });
        work(
            &|a| store.begin_action(a),
            &|id, e| store.finish_action(id, e),
            &|a, e| store.record_action(a, e),
            0,
        );
    });
}

#[test]
fn kill_9_while_actions_are_logged_leaves_every_row_finished_or_interrupted() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(120);
    // What previous rounds left, by id: it must never change.
    let mut settled: BTreeMap<u64, StoredAction> = BTreeMap::new();
    let (mut rounds, mut interrupted_total, mut printed_total) = (0, 0u64, 0usize);

    for round in 0..40 {
        if Instant::now() > deadline {
            println!("stopping after {round} rounds: time is up");
            break;
        }
        let sync = if round % 2 == 0 { SyncLevel::Normal } else { SyncLevel::Full };
        let mut child = spawn("actions", dir.path(), seed.wrapping_add(round), sync);
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Some((what, id)) = line.split_once(' ') else { continue };
                let Ok(id) = id.parse::<u64>() else { continue };
                if lines.send((what.to_owned(), id)).is_err() {
                    break;
                }
            }
        });
        // Kill at a random moment: after 0..30 lines, plus up to 3 ms.
        let mut printed = Vec::new();
        for _ in 0..rng.below(30) {
            match received.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => printed.push(line),
                Err(_) => panic!("round {round}: the child reported nothing for 20 s"),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("the child is reaped");
        assert!(!status.success(), "round {round}: the child was killed, not finished: {status}");
        reader.join().expect("the reader ends with the pipe");
        printed.extend(received.try_iter());
        printed_total += printed.len();

        let opened = Store::open(dir.path(), StoreConfig { sync, ..StoreConfig::default() })
            .unwrap_or_else(|e| panic!("round {round}: reopening failed: {e}"));
        let mut noticed = 0;
        for notice in &opened.notices {
            match notice {
                Notice::ActionsInterrupted { count } => noticed = *count,
                Notice::UncleanStop { .. } | Notice::Created { .. } => {}
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        let store = opened.store;
        let rows = all(&store);
        assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "round {round}: ids decrease");

        // What this round's child left: everything after the previous rounds' rows.
        let newest_settled = settled.keys().next_back().copied().unwrap_or(0);
        let (new, old): (Vec<_>, Vec<_>) = rows.into_iter().partition(|a| a.id > newest_settled);
        assert_eq!(old.len(), settled.len(), "round {round}: earlier rows are all kept");
        for row in &old {
            assert_eq!(Some(row), settled.get(&row.id), "round {round}: an earlier row changed");
        }
        let mut interrupted = 0;
        for row in &new {
            let ended = row.ended.unwrap_or_else(|| panic!("round {round}: {row:?} never ended"));
            assert!(ended >= row.started);
            match row.result.as_str() {
                ACTION_INTERRUPTED => {
                    interrupted += 1;
                    assert_eq!(row.summary, INTERRUPTED_SUMMARY);
                    assert_eq!(row.output, "", "round {round}: an interrupted row kept no output");
                }
                "done" | "failed" => {
                    let body = row.output.strip_suffix(TRUNCATED_MARKER).unwrap_or(&row.output);
                    assert!(
                        child_output(row.id, 4000).starts_with(body) && !body.is_empty(),
                        "round {round}: row {} holds another action's output",
                        row.id
                    );
                }
                "previewed" => assert_eq!(row.summary, "previewed in the test"),
                other => panic!("round {round}: row {} has result {other:?}", row.id),
            }
        }
        assert_eq!(interrupted, noticed, "round {round}: the notice counts the interrupted rows");
        assert!(interrupted <= 2, "round {round}: two threads, {interrupted} interrupted");
        interrupted_total += interrupted;

        // Every call the child saw return is in the log as it said.
        let by_id: BTreeMap<u64, &StoredAction> = new.iter().map(|a| (a.id, a)).collect();
        for (what, id) in &printed {
            let row = by_id
                .get(id)
                .unwrap_or_else(|| panic!("round {round}: {what} {id} is not in the log"));
            match what.as_str() {
                "finished" => assert!(
                    row.result == "done" || row.result == "failed",
                    "round {round}: {id} finished but reads {:?}",
                    row.result
                ),
                "recorded" => assert_eq!(row.result, "previewed"),
                "begun" => {}
                other => panic!("round {round}: the child said {other:?}"),
            }
        }
        settled.extend(new.into_iter().map(|a| (a.id, a)));
        rounds += 1;
    }
    println!(
        "{rounds} rounds checked, {printed_total} calls reported, {} rows, {interrupted_total} interrupted",
        settled.len()
    );
    assert!(rounds >= 10, "too few rounds ran to mean anything: {rounds}");
    assert!(printed_total > 0, "the children logged nothing");
    assert!(!settled.is_empty());
}
