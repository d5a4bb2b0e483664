//! `gitops-live serve --audit-root DIR`: the report is produced in-process. A full audit runs at
//! start and every `--audit-interval`; between runs, a change inside one clone (a commit, a new
//! untracked file) re-audits just that repository and publishes it within a second. The report
//! file is still written after every change, for other readers.
//!
//! The clones are watched by `gitops_watch::watch_tree`, which yields a clone's name once its
//! writes have gone quiet; when it cannot watch, or lost events, the next full audit (at once,
//! or at the interval) covers what it missed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gitops_audit::{AuditConfig, Expected, ExpectedList, GithubAccount};
use gitops_feed::Feed;
use gitops_protocol::WatchState;
use gitops_report::{Repo, Report, Timestamp};
use gitops_watch::{TreeConfig, TreeEvent, TreeWatcher};
use tokio::sync::{mpsc, oneshot};

/// What the server asks of the auditor (after an action, or `POST /api/audit/run`).
#[derive(Debug)]
pub(crate) enum AuditRequest {
    /// Re-audit one repository (a report name or clone folder) now.
    One(String),
    /// Run the whole audit; the sender gets its summary or error.
    All(oneshot::Sender<Result<String, String>>),
}

/// The server's handle on the auditor: implements [`gitops_transport::Auditor`].
#[derive(Debug, Clone)]
pub(crate) struct LiveAuditor {
    requests: mpsc::UnboundedSender<AuditRequest>,
    /// True while a full audit runs.
    running: Arc<AtomicBool>,
}

impl LiveAuditor {
    /// The handle and the receiving end for [`run`].
    pub(crate) fn new() -> (Self, Requests) {
        let (requests, receiver) = mpsc::unbounded_channel();
        let running = Arc::new(AtomicBool::new(false));
        (Self { requests, running: running.clone() }, Requests { receiver, running, closed: false })
    }
}

impl gitops_transport::Auditor for LiveAuditor {
    fn reaudit(&self, name: &str) {
        let _ = self.requests.send(AuditRequest::One(name.to_owned()));
    }

    fn audit_all(&self) -> gitops_transport::AuditTicket {
        let (sender, done) = oneshot::channel();
        let queued = self.running.load(Ordering::Relaxed);
        let _ = self.requests.send(AuditRequest::All(sender));
        gitops_transport::AuditTicket { queued, done }
    }
}

/// The auditor's end of [`LiveAuditor`]. Requests are bounded by the server: one per action
/// ended (one action per repository at a time) and one per `POST /api/audit/run`, each of which
/// the auditor answers within one audit.
#[derive(Debug)]
pub(crate) struct Requests {
    receiver: mpsc::UnboundedReceiver<AuditRequest>,
    running: Arc<AtomicBool>,
    closed: bool,
}

/// Runs audits forever, publishing every result to `feed` and writing it to `out`.
pub(crate) async fn run(
    feed: Arc<Feed>,
    config: AuditConfig,
    out: PathBuf,
    interval: Duration,
    mut requests: Requests,
) {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && let Err(error) = std::fs::create_dir_all(parent)
    {
        tracing::warn!(%error, folder = %parent.display(), "cannot create the report's folder");
    }
    let mut clones = watch_clones(&feed, &config);

    let source = describe_expected(&config.expected);
    tracing::info!(
        "auditing the clones in {} against {source}, every {}; writing the report to {}",
        config.root.display(),
        humanize(interval),
        out.display()
    );
    let mut expected = ExpectedList::default();
    let mut current: Option<Report> = None;
    // Who asked for the next full audit and waits for its end.
    let mut waiting: Vec<oneshot::Sender<Result<String, String>>> = Vec::new();
    loop {
        // Everyone who asked before this audit starts is answered by it.
        drain_requests(&mut requests.receiver, &mut waiting);
        let started = Instant::now();
        requests.running.store(true, Ordering::Relaxed);
        let result = full_audit(&config).await;
        requests.running.store(false, Ordering::Relaxed);
        let answer = match result {
            Ok((list, report)) => {
                if current.is_none() {
                    log_first_audit(&config, &source, &list, &report, &out, started);
                }
                let answer = Ok(describe_audit(&report, started));
                expected = list;
                publish(&feed, &out, report.clone(), started).await;
                current = Some(report);
                answer
            }
            Err(message) => {
                feed.source_failed(&message);
                Err(message)
            }
        };
        for sender in waiting.drain(..) {
            let _ = sender.send(answer.clone());
        }
        let next_full = tokio::time::Instant::now() + interval;
        loop {
            let (name, first_event) = tokio::select! {
                () = tokio::time::sleep_until(next_full) => break,
                () = feed.triggered() => break,
                request = next_request(&mut requests) => match request {
                    AuditRequest::One(name) => (name, Instant::now()),
                    AuditRequest::All(sender) => {
                        waiting.push(sender);
                        break;
                    }
                },
                event = next_clone_event(&mut clones) => match event {
                    Some(TreeEvent::Changed { name, first_event }) => (name, first_event),
                    // Events were lost, or the watch is back after missing some: only a full
                    // audit knows what changed meanwhile.
                    Some(TreeEvent::Rescan { .. }) => break,
                    Some(TreeEvent::Watching) => {
                        feed.set_watch(WatchState::Auditing, None);
                        break;
                    }
                    Some(TreeEvent::Unavailable { reason }) => {
                        feed.set_watch(WatchState::Auditing, Some(unwatched_note(&reason)));
                        continue;
                    }
                    None => {
                        clones = None;
                        let note = unwatched_note("the clone watch stopped");
                        feed.set_watch(WatchState::Auditing, Some(note));
                        continue;
                    }
                },
            };
            let Some(report) = current.as_mut() else { continue };
            match audit_one(&config, &name, &expected).await {
                Ok(repo) => {
                    if replace_repo(report, &name, repo) {
                        publish(&feed, &out, report.clone(), first_event).await;
                    } else {
                        // Nothing changed, but the audit ran: "last audit" stays true.
                        feed.confirm();
                    }
                }
                Err(message) => feed.source_failed(&message),
            }
        }
    }
}

/// The server's next request; never, once the server is gone (audits go on at the interval).
async fn next_request(requests: &mut Requests) -> AuditRequest {
    if !requests.closed
        && let Some(request) = requests.receiver.recv().await
    {
        return request;
    }
    requests.closed = true;
    std::future::pending().await
}

/// Takes every request already sent: full-audit waiters join `waiting`; single re-audits are
/// covered by the full audit about to run.
fn drain_requests(
    receiver: &mut mpsc::UnboundedReceiver<AuditRequest>,
    waiting: &mut Vec<oneshot::Sender<Result<String, String>>>,
) {
    while let Ok(request) = receiver.try_recv() {
        if let AuditRequest::All(sender) = request {
            waiting.push(sender);
        }
    }
}

/// One line on a full audit: what it found, and how long it took.
fn describe_audit(report: &Report, started: Instant) -> String {
    let summary = report.computed_summary();
    format!(
        "audited {} repositories in {:.1} s: {} missing, {} extra, {} dirty, {} mismatched, {} clean",
        report.repos.len(),
        started.elapsed().as_secs_f64(),
        summary.missing,
        summary.extra,
        summary.dirty,
        summary.mismatched.unwrap_or(0),
        summary.clean,
    )
}

/// Starts watching the clones the auditor audits (same root, same skipped folders). A watch
/// that cannot start leaves the full audits to find every change.
fn watch_clones(feed: &Feed, config: &AuditConfig) -> Option<TreeWatcher> {
    let tree = TreeConfig {
        skip: config.skip.clone(),
        skip_hidden: config.skip_hidden,
        ..TreeConfig::new(&config.root)
    };
    match gitops_watch::watch_tree(tree) {
        Ok(clones) => Some(clones),
        Err(error) => {
            feed.set_watch(WatchState::Auditing, Some(unwatched_note(&error.to_string())));
            None
        }
    }
}

/// The next event of the clone watch; never, when there is none.
async fn next_clone_event(clones: &mut Option<TreeWatcher>) -> Option<TreeEvent> {
    match clones {
        Some(clones) => clones.next().await,
        None => std::future::pending().await,
    }
}

/// What the status says while changes inside the clones are not seen as they happen.
fn unwatched_note(reason: &str) -> String {
    format!("cannot watch the clones ({reason}); changes show at the next full audit")
}

async fn full_audit(config: &AuditConfig) -> Result<(ExpectedList, Report), String> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let list = gitops_audit::load_expected(&config)
            .map_err(|e| format!("cannot get the expected list: {e}"))?;
        let report =
            gitops_audit::audit(&config, &list).map_err(|e| format!("audit failed: {e}"))?;
        Ok((list, report))
    })
    .await
    .map_err(|e| format!("audit task failed: {e}"))?
}

async fn audit_one(
    config: &AuditConfig,
    name: &str,
    expected: &ExpectedList,
) -> Result<Option<Repo>, String> {
    let (config, name, expected) = (config.clone(), name.to_owned(), expected.clone());
    tokio::task::spawn_blocking(move || {
        gitops_audit::audit_one(&config, &name, &expected)
            .map_err(|e| format!("re-audit of {name} failed: {e}"))
    })
    .await
    .map_err(|e| format!("audit task failed: {e}"))?
}

/// Puts the re-audited repository into the report (or removes it); true when anything changed.
fn replace_repo(report: &mut Report, name: &str, repo: Option<Repo>) -> bool {
    let position = report.repos.iter().position(|r| r.name == name || folder_of(r) == Some(name));
    let changed = match (position, repo) {
        (Some(i), Some(repo)) if report.repos[i] == repo => false,
        (Some(i), Some(repo)) => {
            report.repos[i] = repo;
            true
        }
        (Some(i), None) => {
            report.repos.remove(i);
            true
        }
        (None, Some(repo)) => {
            report.repos.push(repo);
            true
        }
        (None, None) => false,
    };
    if changed {
        report.summary = Some(report.computed_summary());
        report.health_status = Some(report.computed_health());
        report.timestamp = Some(Timestamp::now());
    }
    changed
}

fn folder_of(repo: &Repo) -> Option<&str> {
    repo.local_path.as_deref().and_then(|p| Path::new(p).file_name()).and_then(|n| n.to_str())
}

/// Writes the report file for other readers, then publishes: a full audit that found nothing
/// new still refreshes when the source last produced a report.
async fn publish(feed: &Feed, out: &Path, report: Report, changed_at: Instant) {
    let (path, written) = (out.to_path_buf(), report.clone());
    match tokio::task::spawn_blocking(move || gitops_audit::write_report_atomic(&path, &written))
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot write the report file; serving the report anyway")
        }
        Err(error) => tracing::warn!(%error, "the report writer failed; serving the report anyway"),
    }
    feed.publish(report, changed_at);
}

/// Where the expected list comes from, for the log.
fn describe_expected(expected: &Expected) -> String {
    match expected {
        Expected::File(path) => format!("the expected list {}", path.display()),
        Expected::Github(GithubAccount::User(user)) => format!("GitHub user {user}'s repositories"),
        Expected::Github(GithubAccount::Org(org)) => {
            format!("GitHub organisation {org}'s repositories")
        }
        Expected::List(list) => format!("a list of {} repositories", list.repos.len()),
    }
}

/// `5m`, `90s`, `1h`: how the interval was most likely typed.
fn humanize(interval: Duration) -> String {
    let seconds = interval.as_secs();
    match seconds {
        _ if interval.subsec_millis() != 0 || seconds == 0 => format!("{}ms", interval.as_millis()),
        _ if seconds.is_multiple_of(3600) => format!("{}h", seconds / 3600),
        _ if seconds.is_multiple_of(60) => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
    }
}

/// Says what the first audit found, so a wrong root or expected list shows at once.
fn log_first_audit(
    config: &AuditConfig,
    source: &str,
    list: &ExpectedList,
    report: &Report,
    out: &Path,
    started: Instant,
) {
    let n_clones = report.repos.iter().filter(|repo| repo.local_path.is_some()).count();
    let summary = report.computed_summary();
    tracing::info!(
        "first audit in {:.1} s: {} in {}, {} repositories expected by {source}: {} \
         ({} missing, {} extra, {} dirty, {} mismatched, {} clean); report written to {}",
        started.elapsed().as_secs_f64(),
        if n_clones == 1 { "1 clone".to_owned() } else { format!("{n_clones} clones") },
        config.root.display(),
        list.repos.len(),
        report.computed_health(),
        summary.missing,
        summary.extra,
        summary.dirty,
        summary.mismatched.unwrap_or(0),
        summary.clean,
        out.display(),
    );
    if n_clones == 0 {
        tracing::warn!(
            "no clones found in {}: is it the folder that holds them (each clone a folder of its own)?",
            config.root.display()
        );
    }
}
