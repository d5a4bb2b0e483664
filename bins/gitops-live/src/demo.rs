//! `gitops-live demo`: the embedded default. Serves the bundled sample report from a temporary
//! folder and changes it about every second, writing it each of the three ways producers do
//! (in place, atomic rename, symlink swap), so a newcomer sees live updates with no arguments.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use gitops_report::{Health, Repo, Report, Status, Timestamp};
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
    let mut report = gitops_report::parse(gitops_report::SAMPLE_REPORT.as_bytes())
        .context("the bundled sample report must parse")?
        .report;
    let mut producer = Producer::new(&dir)?;
    stamp(&mut report, 0);
    producer.write(&report, 2)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(async {
        let watched = producer.latest.clone();
        let server = start(&args.server, &watched).await?;
        let interval = args.interval_ms.unwrap_or(args.interval).max(Duration::from_millis(50));
        println!("demo report: {} (changes every ~{} ms)", watched.display(), interval.as_millis());
        let watch = WatchConfig::new(&watched);
        let source = tokio::spawn(watch_source(
            server.live.clone(),
            watch,
            server.trigger.clone(),
            64 << 20,
        ));
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

/// One plausible change: a repository's status flips, or an experiment appears or goes away.
fn mutate(report: &mut Report, rng: &mut SplitMix, step: u64) {
    let roll = rng.next() % 10;
    if roll == 0 {
        let name = format!("experiment-{step}");
        report.repos.push(Repo {
            name: name.clone(),
            status: Status::Extra,
            local_path: Some(format!("/srv/git/{name}")),
            dashboard_link: Some(format!("/audit/{name}?action=review")),
            mitigation: Some("review_or_delete".to_owned()),
            ..Repo::default()
        });
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
    let next = match (&repo.status, rng.next() % 4) {
        (Status::Clean, 0) => Status::Missing,
        (Status::Clean, _) => Status::Dirty,
        (Status::Dirty | Status::Missing | Status::Mismatched, _) => Status::Clean,
        (Status::Extra, _) => Status::Clean,
        (Status::Other(_), _) => Status::Clean,
    };
    let (action, mitigation) = match next {
        Status::Missing => ("clone", Some("clone_missing")),
        Status::Dirty => ("commit", Some("commit_or_discard")),
        _ => ("view", None),
    };
    repo.dashboard_link = Some(format!("/audit/{}?action={action}", repo.name));
    repo.mitigation = mitigation.map(str::to_owned);
    repo.status = next;
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
