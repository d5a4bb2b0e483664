//! The feed's rules, without sockets: health transitions, counting, change times, the trigger.

use std::time::{Duration, Instant};

use gitops_hub::{Hub, HubConfig, Published};
use gitops_protocol::{LogState, ReportState, WatchState};
use gitops_report::{ParseOptions, generate_report};

use super::*;

fn feed() -> Arc<Feed> {
    Feed::new(
        Hub::new(HubConfig::default()),
        FeedConfig {
            path: "/srv/audit/GitRepoReport.json".into(),
            watch: WatchState::Watching,
            parse: ParseOptions::default(),
        },
    )
}

fn report_bytes(seed: u64) -> Vec<u8> {
    generate_report(5, seed).to_json_bytes()
}

#[test]
fn an_invalid_first_report_leaves_the_source_waiting_with_the_error() {
    let feed = feed();
    let mut changes = feed.subscribe_source();
    assert!(feed.load(b"{\"repos\": [", Instant::now()).is_err());
    let source = feed.source();
    assert_eq!(source.state, ReportState::Waiting, "no good report yet: still waiting");
    let error = source.last_error.expect("the parse error is shown");
    assert!(error.message.contains("line"), "the error says where: {}", error.message);
    assert!(
        !error.message.contains("last good"),
        "there is no last good report: {}",
        error.message
    );
    assert_eq!(feed.stats().load_errors, 1);
    assert!(changes.has_changed().expect("open"), "clients are told");
    changes.mark_unchanged();
    // The same failure again is counted but tells clients nothing new.
    assert!(feed.load(b"{\"repos\": [", Instant::now()).is_err());
    assert_eq!(feed.stats().load_errors, 2);
    assert!(!changes.has_changed().expect("open"));
}

#[test]
fn a_failure_after_a_good_report_keeps_it_and_recovery_clears_the_error() {
    let feed = feed();
    assert!(matches!(feed.load(&report_bytes(1), Instant::now()), Ok(Published::First { .. })));
    assert_eq!(feed.source().state, ReportState::Ok);
    let cursor = feed.hub().cursor();

    feed.source_failed("the report is missing");
    let failing = feed.source();
    assert_eq!(failing.state, ReportState::Error);
    let since = failing.last_error.expect("an error").since;
    feed.source_failed("cannot read the report: permission denied");
    let still = feed.source().last_error.expect("an error");
    assert_eq!(still.since, since, "since is when failing began, not the latest failure");
    assert!(still.message.contains("permission denied"));
    assert!(still.message.ends_with("; serving the last good report"), "{}", still.message);
    assert_eq!(feed.hub().cursor(), cursor, "the last good state is still served");

    let changes = feed.subscribe_source();
    assert!(feed.load(&report_bytes(2), Instant::now()).is_ok());
    let recovered = feed.source();
    assert_eq!((recovered.state, recovered.last_error), (ReportState::Ok, None));
    assert!(changes.has_changed().expect("open"), "recovery is told");
}

#[test]
fn publishing_while_healthy_updates_the_load_time_without_telling_clients() {
    let feed = feed();
    feed.publish(generate_report(5, 1), Instant::now());
    let mut changes = feed.subscribe_source();
    changes.mark_unchanged();
    assert_eq!(feed.publish(generate_report(5, 1), Instant::now()), Published::Unchanged);
    feed.publish(generate_report(5, 2), Instant::now());
    assert!(!changes.has_changed().expect("open"), "a healthy source's publishes are not news");
    assert!(feed.source().last_loaded.is_some());
    assert_eq!(feed.stats().publishes, 2, "the unchanged publish is not counted");
}

#[tokio::test(start_paused = true)]
async fn a_source_that_stops_producing_is_stale_once_and_fresh_with_the_next_report() {
    let feed = feed();
    assert_eq!(feed.check_staleness(), None, "nothing is expected yet");
    feed.expect_reports_every(std::time::Duration::from_secs(3600));
    feed.publish(generate_report(5, 1), Instant::now());
    let mut changes = feed.subscribe_source();
    changes.mark_unchanged();
    tokio::time::advance(std::time::Duration::from_secs(3599)).await;
    assert_eq!(feed.check_staleness(), None, "within the hour");
    assert!(feed.source().stale.is_none());
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    let stale = feed.check_staleness().expect("stale after the hour");
    assert_eq!(stale.expected_every_s, 3600);
    assert_eq!(Some(stale.since.clone()), feed.source().last_loaded, "since the last report");
    assert_eq!(feed.source().stale, Some(stale));
    assert!(changes.has_changed().expect("open"), "clients are told");
    changes.mark_unchanged();
    tokio::time::advance(std::time::Duration::from_secs(600)).await;
    assert!(feed.check_staleness().is_some());
    assert!(!changes.has_changed().expect("open"), "told once, not on every check");
    // A confirmation (an audit that found nothing new) is a report too.
    feed.confirm();
    assert!(feed.source().stale.is_none());
    assert!(changes.has_changed().expect("open"), "fresh again is news");
    assert_eq!(feed.check_staleness(), None);
}

#[test]
fn a_closed_gate_keeps_the_source_from_publishing_and_failing() {
    let feed = feed();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = open.clone();
    assert!(
        feed.set_publish_gate(Arc::new(move || gate.load(std::sync::atomic::Ordering::Relaxed)))
    );
    assert_eq!(feed.publish(generate_report(5, 1), Instant::now()), Published::Unchanged);
    assert!(feed.hub().cursor().is_none(), "nothing published");
    feed.source_failed("cannot read");
    assert!(feed.source().last_error.is_none(), "another instance owns the source's health");
    open.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(feed.publish(generate_report(5, 1), Instant::now()), Published::First { .. }));
}

#[test]
fn watch_mode_changes_are_told_once() {
    let feed = feed();
    let mut changes = feed.subscribe_source();
    changes.mark_unchanged();
    feed.set_watch(WatchState::Polling, Some("inotify limit reached".into()));
    assert!(changes.has_changed().expect("open"));
    changes.mark_unchanged();
    feed.set_watch(WatchState::Polling, Some("inotify limit reached".into()));
    assert!(!changes.has_changed().expect("open"));
    assert_eq!(feed.source().watch_note.as_deref(), Some("inotify limit reached"));
}

#[test]
fn each_message_maps_to_the_change_that_produced_it() {
    let feed = feed();
    let first = Instant::now();
    feed.publish(generate_report(5, 1), first);
    let second = first + Duration::from_millis(5);
    let Published::Changed { cursor, messages, .. } = feed.publish(generate_report(5, 2), second)
    else {
        panic!("the second report differs");
    };
    assert_eq!(feed.changed_at(1), Some(first));
    for seq in cursor.seq + 1 - messages as u64..=cursor.seq {
        assert_eq!(feed.changed_at(seq), Some(second), "seq {seq}");
    }
    assert_eq!(feed.changed_at(cursor.seq + 1), None);
    let mut seen = Vec::new();
    feed.each_changed_at([1, cursor.seq, cursor.seq + 9].into_iter(), |at| seen.push(at));
    assert_eq!(seen, vec![first, second]);
}

#[tokio::test]
async fn triggers_coalesce_and_wake_the_source() {
    let feed = feed();
    feed.trigger();
    feed.trigger();
    tokio::time::timeout(Duration::from_secs(5), feed.triggered()).await.expect("woken");
    let again = tokio::time::timeout(Duration::from_millis(50), feed.triggered()).await;
    assert!(again.is_err(), "two triggers before the source looked are one");
}

/// A log in memory that can be told to fail, sharing what it kept with the test.
struct SharedLog {
    kept: Arc<Mutex<Vec<u64>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    events: Arc<Mutex<Vec<(String, String)>>>,
}

impl Log for SharedLog {
    fn location(&self) -> String {
        "memory".into()
    }

    fn record_source_event(&mut self, kind: &str, message: &str) {
        self.events.lock().expect("lock").push((kind.to_owned(), message.to_owned()));
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), String> {
        if self.failing.load(Ordering::Relaxed) {
            return Err("disk full".into());
        }
        let last = commit.first_seq + commit.messages.len().saturating_sub(1) as u64;
        self.kept.lock().expect("lock").push(last);
        Ok(())
    }
}

#[test]
fn a_failing_log_is_shown_counted_and_recovers_while_serving_goes_on() {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = SharedLog { kept: kept.clone(), failing: failing.clone(), events: events.clone() };
    let feed = Feed::with_log(
        Hub::new(HubConfig::default()),
        FeedConfig {
            path: "r.json".into(),
            watch: WatchState::Watching,
            parse: ParseOptions::default(),
        },
        Box::new(log),
        None,
    );
    feed.publish(generate_report(5, 1), Instant::now());
    feed.publish(generate_report(5, 2), Instant::now());
    assert_eq!(kept.lock().expect("lock").last().copied(), feed.hub().cursor().map(|c| c.seq));
    let logged_epoch = feed.hub().epoch();
    assert_eq!(feed.log_status().expect("a log").state, LogState::Ok);

    failing.store(true, Ordering::Relaxed);
    let mut changes = feed.subscribe_source();
    changes.mark_unchanged();
    let published = feed.publish(generate_report(5, 3), Instant::now());
    assert!(matches!(published, Published::First { .. }), "served anyway, as a new epoch");
    assert_ne!(feed.hub().epoch(), logged_epoch);
    let status = feed.log_status().expect("a log");
    assert_eq!(status.state, LogState::Failing);
    assert_eq!(status.last_error.expect("an error").message, "disk full");
    assert!(changes.has_changed().expect("open"), "clients are told");
    assert_eq!(feed.stats().log_failures, 1);

    failing.store(false, Ordering::Relaxed);
    feed.publish(generate_report(5, 4), Instant::now());
    assert_eq!(feed.log_status().expect("a log").state, LogState::Ok);

    // The source's health events reach the log once each: a failure (not its repeats), the
    // recovery, a change of watch mode.
    feed.source_failed("the report is missing");
    feed.source_failed("the report is missing");
    feed.publish(generate_report(5, 5), Instant::now());
    feed.set_watch(WatchState::Polling, Some("inotify limit reached".into()));
    let events = events.lock().expect("lock").clone();
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["failed", "recovered", "watch"], "{events:?}");
    assert!(events[0].1.contains("missing") && events[1].1.contains("missing"), "{events:?}");
    assert_eq!(kept.lock().expect("lock").last().copied(), feed.hub().cursor().map(|c| c.seq));
}

/// A log's read side over states kept in memory, counting the rebuilds it is asked for.
#[derive(Default)]
struct StatesHistory {
    states: Mutex<Vec<(gitops_protocol::Cursor, gitops_report::Report)>>,
    rebuilds: AtomicU64,
}

impl History for StatesHistory {
    fn points(
        &self,
        _before: Option<gitops_protocol::Cursor>,
        _limit: usize,
    ) -> Result<gitops_protocol::HistoryPage, HistoryError> {
        Ok(gitops_protocol::HistoryPage { points: Vec::new(), next: None, import: None })
    }

    fn state_at(
        &self,
        cursor: gitops_protocol::Cursor,
    ) -> Result<gitops_report::Report, HistoryError> {
        self.rebuilds.fetch_add(1, Ordering::Relaxed);
        let states = lock(&self.states);
        let found = states.iter().find(|(kept, _)| *kept == cursor);
        found
            .map(|(_, report)| report.clone())
            .ok_or_else(|| HistoryError::NotRetained { cursor, reason: "not in memory".into() })
    }

    fn repo_timeline(
        &self,
        name: &str,
        _before: Option<gitops_protocol::Cursor>,
        _limit: usize,
    ) -> Result<gitops_protocol::RepoTimeline, HistoryError> {
        Ok(gitops_protocol::RepoTimeline { name: name.to_owned(), events: Vec::new(), next: None })
    }

    fn snapshot_names(&self, _limit: usize) -> Result<Vec<String>, HistoryError> {
        Ok(Vec::new())
    }

    fn time_of(&self, _cursor: gitops_protocol::Cursor) -> Result<Option<String>, HistoryError> {
        Ok(None)
    }
}

#[test]
fn a_feed_without_history_says_so_and_one_with_history_diffs_either_way() {
    let feed = feed();
    let some = gitops_protocol::Cursor::new(feed.hub().epoch(), 1);
    assert_eq!(feed.state_at(some).map(|_| ()), Err(HistoryError::Off));
    assert!(!feed.has_history());

    let history = Arc::new(StatesHistory::default());
    feed.set_history(history.clone());
    let mut cursors = Vec::new();
    for seed in 1..=3 {
        let report = generate_report(8, seed);
        feed.publish(report.clone(), Instant::now());
        let cursor = feed.hub().cursor().expect("published");
        lock(&history.states).push((cursor, report));
        cursors.push(cursor);
    }
    let (first, now) = (cursors[0], cursors[2]);
    // The live state comes from the hub; the log is asked only for the past one.
    let forward = feed.history_diff(first, now).expect("a diff");
    assert_eq!(history.rebuilds.load(Ordering::Relaxed), 1);
    let backward = feed.history_diff(now, first).expect("a diff");
    assert_eq!(history.rebuilds.load(Ordering::Relaxed), 1, "the past state was kept");
    let old = feed.state_at(first).expect("kept");
    let new = feed.state_at(now).expect("live");
    let applied = gitops_diff::apply(&forward.into_changes(), &old).expect("applies");
    assert!(gitops_diff::same_state(&applied, &new));
    let applied = gitops_diff::apply(&backward.into_changes(), &new).expect("applies");
    assert!(gitops_diff::same_state(&applied, &old));
    let gone = gitops_protocol::Cursor::new(first.epoch, 99);
    assert!(matches!(feed.history_diff(gone, now), Err(HistoryError::NotRetained { .. })));
}
