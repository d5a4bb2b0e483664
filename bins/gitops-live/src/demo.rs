//! `gitops-live demo`: the embedded default. Serves the bundled sample report from a temporary
//! folder and changes it about every second, writing it each of the three ways producers do
//! (in place, atomic rename, symlink swap), so a newcomer sees live updates with no arguments.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use gitops_report::{FileStatus, Health, Repo, Report, Status, Timestamp};
use gitops_watch::WatchConfig;

use crate::serve::{ServerArgs, start, watch_source};

/// Arguments of `gitops-live demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Average time between simulated audit changes, e.g. 1200ms or 5s (at least 50ms).
    #[arg(long, env = "GITOPS_DEMO_INTERVAL", value_name = "DURATION", default_value = "1200ms", value_parser = crate::cli::positive_duration)]
    pub(crate) interval: Duration,
    /// --interval in the older spelling, where a bare number is milliseconds.
    #[arg(long, env = "GITOPS_DEMO_INTERVAL_MS", hide = true, value_name = "MS", value_parser = crate::cli::positive_millis, conflicts_with = "interval")]
    pub(crate) interval_ms: Option<Duration>,
    /// Folder to write the demo report in (default: a new temporary folder, removed on exit).
    #[arg(long, env = "GITOPS_DEMO_DIR")]
    pub(crate) dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<std::process::ExitCode> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("gitops-live-demo-")
                .tempdir()
                .context("making a temporary folder")?;
            temp.path().to_path_buf()
        }
    };
    let mut report = settled(
        gitops_report::parse(gitops_report::SAMPLE_REPORT.as_bytes())
            .context("the bundled sample report must parse")?
            .report,
    );
    let mut producer = Producer::new(&dir)?;
    stamp(&mut report, 0);
    producer.write(&report, 2)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(async {
        let watched = producer.latest.clone();
        let feed = gitops_feed::FeedConfig {
            path: watched.display().to_string(),
            watch: gitops_protocol::WatchState::Watching,
            parse: gitops_report::ParseOptions::default(),
        };
        // The demo keeps its log beside its report, in its own folder: a restart of the demo
        // continues its stream, and nothing is written to the user's own state directory.
        let state_dir = crate::state::StateDir::Dir(dir.join("state"));
        let server = start(&args.server, feed, &state_dir, None, None).await?;
        let interval = args.interval_ms.unwrap_or(args.interval).max(Duration::from_millis(50));
        println!("demo report: {} (changes every ~{} ms)", watched.display(), interval.as_millis());
        let source = tokio::spawn(watch_source(server.feed.clone(), WatchConfig::new(&watched)));
        // Dropping `stop` ends the simulator at once, wherever it is waiting: a blocking task
        // cannot be aborted, and the runtime waits for it when it shuts down.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let simulator =
            tokio::task::spawn_blocking(move || simulate(report, producer, interval, &stopped));
        let result = server.run_until_signal().await;
        source.abort();
        drop(stop);
        let _ = simulator.await;
        result
    });
    runtime.shutdown_timeout(
        result.as_ref().map_or(crate::serve::SHUTDOWN_GRACE, |stop| stop.grace()),
    );
    result?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Writes the report the way audit jobs do.
struct Producer {
    history: PathBuf,
    /// The watched path: a symlink into `history`.
    latest: PathBuf,
    /// The file `latest` points at now.
    target: PathBuf,
    n_written: u64,
}

impl Producer {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        let history = dir.join("audit-history");
        std::fs::create_dir_all(&history)
            .with_context(|| format!("creating {}", history.display()))?;
        Ok(Self {
            latest: dir.join("latest.json"),
            target: history.join("initial.json"),
            history,
            n_written: 0,
        })
    }

    /// Writes `report` in place (style 0), by atomic rename (1) or as a new history file with the
    /// symlink swapped over `latest.json` (2).
    fn write(&mut self, report: &Report, style: u64) -> anyhow::Result<()> {
        let bytes = report.to_json_pretty_bytes();
        self.n_written += 1;
        match style % 3 {
            0 if self.target.exists() => std::fs::write(&self.target, &bytes)?,
            1 if self.target.exists() => {
                let temp = self.history.join(format!(".tmp-{}", self.n_written));
                std::fs::write(&temp, &bytes)?;
                std::fs::rename(&temp, &self.target)?;
            }
            _ => {
                let name = format!("{:06}.json", self.n_written);
                let target = self.history.join(&name);
                std::fs::write(&target, &bytes)?;
                let link = self.latest.with_file_name(format!(".latest-{}", self.n_written));
                symlink(&Path::new("audit-history").join(&name), &link)?;
                std::fs::rename(&link, &self.latest)?;
                let previous = std::mem::replace(&mut self.target, target);
                if previous != self.target {
                    // Keep the folder small: the previous target is no longer referenced.
                    let _ = std::fs::remove_file(previous);
                }
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::copy(link.with_file_name(target), link).map(|_| ())
}

/// Changes the report every ~`interval` until the process ends.
fn simulate(
    mut report: Report,
    mut producer: Producer,
    interval: Duration,
    stop: &std::sync::mpsc::Receiver<()>,
) {
    let mut rng = SplitMix(0x5eed ^ u64::from(std::process::id()));
    let mut step = 0u64;
    loop {
        // Between 0.5 and 1.5 times the interval, so changes do not tick like a clock.
        let jitter = 0.5 + (rng.next() % 1000) as f64 / 1000.0;
        match stop.recv_timeout(interval.mul_f64(jitter)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // The sender is dropped (or sent) when the server stops.
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        step += 1;
        mutate(&mut report, &mut rng, step);
        stamp(&mut report, step);
        if let Err(error) = producer.write(&report, step) {
            tracing::warn!(%error, "demo: writing the report failed");
        }
    }
}

/// The sample report made into one the auditor could have written: every repository gets the
/// fields the auditor writes for its status, and the sample's unknown `archived` status (there to
/// test readers) becomes `clean`.
fn settled(mut report: Report) -> Report {
    let root = report.local_git_root.clone().unwrap_or_else(|| "/srv/git".to_owned());
    let owner = report.github_user.clone().unwrap_or_else(|| "alice".to_owned());
    for repo in &mut report.repos {
        let status = if repo.status.is_known() { repo.status.clone() } else { Status::Clean };
        repo.extra.remove("archived_at");
        set_status(repo, status, &root, &owner);
    }
    report
}

/// The fields about a local clone, which a missing repository does not have.
const CLONE_FIELDS: [&str; 18] = [
    "branch",
    "detached",
    "upstream",
    "ahead",
    "behind",
    "unpushed_commits",
    "stash_count",
    "last_commit",
    "last_commit_date",
    "last_commit_age_days",
    "staged",
    "unstaged",
    "untracked",
    "conflicted",
    "uncommitted_files",
    "missing_files",
    "error",
    "bare",
];

/// Gives `repo` the status `status` with the fields the auditor writes for it (see
/// `gitops_audit`'s status table): a missing repository has no local path, origin or file
/// status; a clean or dirty one's origin is the expected URL; a mismatched one's is not; an
/// extra one is expected by nobody.
fn set_status(repo: &mut Repo, status: Status, root: &str, owner: &str) {
    let name = repo.name.clone();
    let expected_url = repo
        .clone_url
        .clone()
        .or_else(|| repo.expected_url.clone())
        .unwrap_or_else(|| format!("https://github.com/{owner}/{name}.git"));
    let local_path = repo.local_path.clone().unwrap_or_else(|| format!("{root}/{name}"));
    let (action, mitigation) = match &status {
        Status::Missing => {
            repo.local_path = None;
            repo.remote_url = None;
            repo.expected_url = None;
            repo.file_status = None;
            repo.clone_url = Some(expected_url);
            for field in CLONE_FIELDS {
                repo.extra.remove(field);
            }
            ("clone", Some("clone_missing"))
        }
        Status::Extra => {
            repo.local_path = Some(local_path);
            repo.clone_url = None;
            repo.expected_url = None;
            repo.remote_url.get_or_insert_with(String::new);
            ("review", Some("review_or_delete"))
        }
        Status::Mismatched => {
            repo.local_path = Some(local_path);
            let wrong = repo
                .remote_url
                .clone()
                .filter(|url| !url.is_empty() && *url != expected_url)
                .unwrap_or_else(|| format!("https://github.com/{owner}/{name}-old.git"));
            repo.remote_url = Some(wrong);
            repo.expected_url = Some(expected_url.clone());
            repo.clone_url = Some(expected_url);
            ("fix_remote", Some("fix_remote_or_rename"))
        }
        Status::Dirty | Status::Clean | Status::Other(_) => {
            repo.local_path = Some(local_path);
            repo.remote_url = Some(expected_url.clone());
            repo.expected_url = None;
            repo.clone_url = Some(expected_url);
            if status == Status::Dirty {
                let changed = repo.extra.get("uncommitted_files").and_then(|n| n.as_u64());
                repo.extra.insert("uncommitted_files".to_owned(), changed.unwrap_or(3).into());
                ("commit", Some("commit_or_discard"))
            } else {
                repo.extra.remove("uncommitted_files");
                ("view", None)
            }
        }
    };
    if status != Status::Missing && repo.file_status.is_none() {
        repo.file_status = Some(FileStatus::Complete);
    }
    repo.dashboard_link = Some(format!("/audit/{name}?action={action}"));
    repo.mitigation = mitigation.map(str::to_owned);
    repo.status = status;
}

/// Sets the clone's distance from its upstream, as the auditor writes it after a commit, a push
/// or a fetch.
fn set_ahead_behind(repo: &mut Repo, ahead: u64, behind: u64) {
    let branch = repo.extra.get("branch").and_then(|b| b.as_str()).unwrap_or("main").to_owned();
    repo.extra.insert("branch".to_owned(), branch.clone().into());
    repo.extra.insert("upstream".to_owned(), format!("origin/{branch}").into());
    repo.extra.insert("ahead".to_owned(), ahead.into());
    repo.extra.insert("behind".to_owned(), behind.into());
    repo.extra.insert("unpushed_commits".to_owned(), ahead.into());
}

fn count(repo: &Repo, field: &str) -> u64 {
    repo.extra.get(field).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

/// One plausible change, as a real audit would see it: a clone is edited, committed (and not yet
/// pushed), pushed, falls behind, is deleted or cloned again, has its remote fixed; or a local
/// experiment appears or goes away.
fn mutate(report: &mut Report, rng: &mut SplitMix, step: u64) {
    let root = report.local_git_root.clone().unwrap_or_else(|| "/srv/git".to_owned());
    let owner = report.github_user.clone().unwrap_or_else(|| "alice".to_owned());
    let roll = rng.next() % 10;
    if roll == 0 {
        let name = format!("experiment-{step}");
        let mut repo = Repo { name, ..Repo::default() };
        set_status(&mut repo, Status::Extra, &root, &owner);
        // A `git init` with a commit or two: no README yet, and pushed nowhere.
        repo.file_status = Some(FileStatus::MissingReadme);
        repo.extra.insert("missing_files".to_owned(), serde_json::json!(["README"]));
        repo.extra.insert("branch".to_owned(), "main".into());
        repo.extra.insert("upstream".to_owned(), serde_json::Value::Null);
        repo.extra.insert("unpushed_commits".to_owned(), (1 + rng.next() % 3).into());
        report.repos.push(repo);
        return;
    }
    if roll == 1
        && let Some(index) = report.repos.iter().position(|r| r.name.starts_with("experiment-"))
    {
        report.repos.remove(index);
        return;
    }
    if report.repos.is_empty() {
        return;
    }
    let index = (rng.next() % report.repos.len() as u64) as usize;
    let repo = &mut report.repos[index];
    match (&repo.status, rng.next() % 8) {
        // The clone was deleted.
        (Status::Clean, 0) => set_status(repo, Status::Missing, &root, &owner),
        // A commit that is not pushed yet, or the push of what was.
        (Status::Clean, 1 | 2) => {
            let ahead = count(repo, "ahead");
            let ahead = if ahead > 0 { 0 } else { 1 + rng.next() % 2 };
            let behind = count(repo, "behind");
            set_ahead_behind(repo, ahead, behind);
        }
        // A fetch found new commits upstream, or a pull brought them in.
        (Status::Clean, 3) => {
            let behind = if count(repo, "behind") > 0 { 0 } else { 1 + rng.next() % 4 };
            let ahead = count(repo, "ahead");
            set_ahead_behind(repo, ahead, behind);
        }
        (Status::Clean, _) => set_status(repo, Status::Dirty, &root, &owner),
        // Committed: the work is now one more unpushed commit.
        (Status::Dirty, _) => {
            set_status(repo, Status::Clean, &root, &owner);
            let (ahead, behind) = (count(repo, "ahead") + 1, count(repo, "behind"));
            set_ahead_behind(repo, ahead, behind);
        }
        // Cloned again: a fresh clone is in step with its remote.
        (Status::Missing, _) => {
            set_status(repo, Status::Clean, &root, &owner);
            set_ahead_behind(repo, 0, 0);
            repo.extra.insert("stash_count".to_owned(), 0.into());
        }
        (Status::Mismatched, _) => set_status(repo, Status::Clean, &root, &owner),
        // An extra clone stays extra until someone deletes it; its files change instead.
        (Status::Extra, _) => {
            let next = match repo.file_status {
                Some(FileStatus::Complete) => FileStatus::MissingReadme,
                _ => FileStatus::Complete,
            };
            if next == FileStatus::Complete {
                repo.extra.remove("missing_files");
            } else {
                repo.extra.insert("missing_files".to_owned(), serde_json::json!(["README"]));
            }
            repo.file_status = Some(next);
        }
        (Status::Other(_), _) => set_status(repo, Status::Clean, &root, &owner),
    }
}

/// Sets the summary, health and timestamp the way a correct producer would.
fn stamp(report: &mut Report, step: u64) {
    report.summary = Some(report.computed_summary());
    report.health_status = Some(report.computed_health());
    report.timestamp = Some(Timestamp::now());
    report.extra.insert("demo_step".to_owned(), serde_json::Value::from(step));
    debug_assert!(matches!(
        report.health_status,
        Some(Health::Green | Health::Yellow | Health::Red)
    ));
}

/// A small deterministic generator; the demo needs variety, not cryptographic randomness.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use gitops_report::{Severity, SyncIssue, validate};

    use super::*;

    /// What no auditor writes, beyond `validate`'s contradictions: every status known, and the
    /// fields each status must have present.
    fn auditor_could_write(report: &Report) -> Result<(), String> {
        let warnings: Vec<String> = validate(report)
            .iter()
            .filter(|finding| finding.severity == Severity::Warning)
            .map(ToString::to_string)
            .collect();
        if !warnings.is_empty() {
            return Err(warnings.join("\n"));
        }
        for repo in &report.repos {
            let name = &repo.name;
            let ok = match &repo.status {
                Status::Missing => {
                    repo.local_path.is_none()
                        && repo.remote_url.is_none()
                        && repo.file_status.is_none()
                        && repo.clone_url.is_some()
                        && repo.sync_issues().is_empty()
                }
                Status::Clean | Status::Dirty => {
                    repo.local_path.is_some()
                        && repo.remote_url.is_some()
                        && repo.remote_url == repo.clone_url
                        && repo.expected_url.is_none()
                }
                Status::Mismatched => {
                    repo.local_path.is_some()
                        && repo.expected_url.is_some()
                        && repo.remote_url != repo.expected_url
                }
                Status::Extra => {
                    repo.local_path.is_some()
                        && repo.clone_url.is_none()
                        && repo.remote_url.is_some()
                }
                Status::Other(status) => return Err(format!("{name}: unknown status {status:?}")),
            };
            if !ok {
                return Err(format!("{name}: fields that do not fit {}: {repo:?}", repo.status));
            }
            let expected_action = match repo.status {
                Status::Missing => "clone",
                Status::Extra => "review",
                Status::Dirty => "commit",
                Status::Mismatched => "fix_remote",
                _ => "view",
            };
            if !repo.dashboard_link.as_deref().is_some_and(|link| link.ends_with(expected_action)) {
                return Err(format!("{name}: link {:?} for {}", repo.dashboard_link, repo.status));
            }
        }
        Ok(())
    }

    fn sample() -> Report {
        gitops_report::parse(gitops_report::SAMPLE_REPORT.as_bytes()).expect("parses").report
    }

    #[test]
    fn the_consistency_check_catches_what_the_old_simulator_wrote() {
        // The old simulator turned a clean repository missing and left its clone's fields.
        let mut report = settled(sample());
        let repo =
            report.repos.iter_mut().find(|r| r.status == Status::Clean).expect("a clean one");
        repo.status = Status::Missing;
        stamp(&mut report, 1);
        assert!(auditor_could_write(&report).is_err());
        // And the sample itself, with its `archived` test repository, is not what the demo shows.
        assert!(auditor_could_write(&sample()).is_err());
    }

    #[test]
    fn every_simulated_state_is_one_an_auditor_could_write() {
        let mut report = settled(sample());
        stamp(&mut report, 0);
        auditor_could_write(&report).expect("the starting report");
        let mut rng = SplitMix(42);
        let mut seen_statuses = std::collections::BTreeSet::new();
        let mut seen_issues = std::collections::BTreeSet::new();
        for step in 1..=3_000 {
            mutate(&mut report, &mut rng, step);
            stamp(&mut report, step);
            if let Err(problem) = auditor_could_write(&report) {
                panic!("step {step}: {problem}");
            }
            for repo in &report.repos {
                seen_statuses.insert(repo.status.to_string());
                seen_issues.extend(repo.sync_issues().iter().map(|issue| issue.kind()));
            }
        }
        // The simulation shows every status and the sync issues the dashboard marks.
        assert_eq!(seen_statuses.len(), 5, "{seen_statuses:?}");
        for kind in [
            SyncIssue::Unpushed { commits: 1 }.kind(),
            SyncIssue::Behind { commits: 1 }.kind(),
            SyncIssue::NoUpstream.kind(),
        ] {
            assert!(seen_issues.contains(kind), "{kind} never shows: {seen_issues:?}");
        }
    }
}
