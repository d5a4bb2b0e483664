//! The tree watch's task: owns the OS watcher, adds a watch for each new clone folder, waits out
//! the quiet time and emits events. The rules it follows live in [`super::inbox`].
//!
//! The root is watched on its own (not recursively) and each clone folder recursively, so
//! skipped and hidden folders cost no watch and no event, and a failure in one clone leaves the
//! others watched.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{Notify, mpsc};

use super::inbox::{Filter, Quiet, Raw, Ready, Timing};
use super::{Counters, TreeEvent};

/// How many raw events may wait between notify's thread and the task. The task drains them as
/// fast as they come (it only folds names into a map), so this fills only when the task is
/// starved of CPU for a while.
const RAW_CAPACITY: usize = 1024;

/// The most raw events handled in one go before the task looks at its other duties.
const DRAIN_BATCH: usize = 256;

/// What the callback could not queue, and the bell that says so.
#[derive(Debug, Default)]
struct Spill {
    /// Relevant events were dropped.
    lost: AtomicBool,
    /// A dropped failure or root removal: too important to lose with the rest.
    trouble: Mutex<Option<Raw>>,
    /// Wakes the task when either is set.
    wake: Notify,
}

/// What [`TreeTask::start`] needs.
pub(crate) struct TreeTaskConfig {
    pub(crate) filter: Filter,
    pub(crate) timing: Timing,
    pub(crate) retry_interval: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) events: mpsc::Sender<TreeEvent>,
}

/// A new OS watcher with its watches, or why it is not complete.
struct Setup {
    /// `None` when no watcher could be created or the root could not be watched.
    watcher: Option<RecommendedWatcher>,
    /// Why changes may be missed with this setup; `None` when every clone is watched.
    problem: Option<String>,
}

/// Everything the OS watcher's callback and a setup share with the task.
#[derive(Clone)]
struct Shared {
    filter: Arc<Filter>,
    raw: mpsc::Sender<Raw>,
    spill: Arc<Spill>,
    counters: Arc<Counters>,
}

/// The state of one tree watch.
pub(crate) struct TreeTask {
    shared: Shared,
    timing: Timing,
    retry_interval: Duration,
    raw: mpsc::Receiver<Raw>,
    os: Option<RecommendedWatcher>,
    /// Why changes may be missed now; `None` when every clone is watched.
    problem: Option<String>,
    /// What the consumer was last told: the problem, or `None` for "watching".
    told: Option<String>,
    quiet: Quiet,
    events: mpsc::Sender<TreeEvent>,
    next_retry: Instant,
    retrying: Option<tokio::task::JoinHandle<Setup>>,
}

impl Shared {
    /// Creates an OS watcher whose callback classifies events and queues what matters.
    ///
    /// The callback runs on notify's thread and never blocks: when the queue is full it drops
    /// the event and raises a flag, which the task turns into one [`TreeEvent::Rescan`]
    /// (a consumer that looks at every clone then, or at its next full audit, covers it).
    fn os_watcher(&self) -> notify::Result<RecommendedWatcher> {
        let shared = self.clone();
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let raws = shared.filter.classify(&event);
            let counters = &shared.counters;
            if raws.is_empty() {
                counters.ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            counters.relevant.fetch_add(1, Ordering::Relaxed);
            for raw in raws {
                let Err(mpsc::error::TrySendError::Full(raw)) = shared.raw.try_send(raw) else {
                    // Sent, or the task is gone (the watch is being dropped).
                    continue;
                };
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                if matches!(raw, Raw::Failed(_) | Raw::RootGone) {
                    let mut trouble =
                        shared.spill.trouble.lock().unwrap_or_else(PoisonError::into_inner);
                    *trouble = Some(raw);
                }
                shared.spill.lost.store(true, Ordering::Release);
                shared.spill.wake.notify_one();
            }
        })
    }

    /// Sets a watch up from scratch: a new OS watcher, the root (not recursively) and every
    /// clone folder (recursively). Blocking: one inotify watch per folder.
    fn set_up(&self) -> Setup {
        let root = &self.filter.root;
        let mut watcher = match self.os_watcher() {
            Ok(watcher) => watcher,
            Err(error) => {
                let problem = format!("the OS watcher could not be set up: {error}");
                return Setup { watcher: None, problem: Some(problem) };
            }
        };
        // The root first, so a clone created while the others are being watched is seen.
        if let Err(error) = watcher.watch(root, RecursiveMode::NonRecursive) {
            return Setup { watcher: None, problem: Some(describe(root, &error)) };
        }
        let entries = match std::fs::read_dir(root) {
            Ok(entries) => entries,
            Err(error) => {
                let problem = format!("cannot list {}: {error}", root.display());
                return Setup { watcher: None, problem: Some(problem) };
            }
        };
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else { continue };
            if self.filter.is_skipped(name) {
                continue;
            }
            if let Err(problem) = watch_clone(&mut watcher, &entry.path()) {
                problems.push(problem);
            }
        }
        let problem = match problems.len() {
            0 => None,
            1 => problems.pop(),
            n => Some(format!("{} (and {} more folders)", problems[0], n - 1)),
        };
        Setup { watcher: Some(watcher), problem }
    }
}

/// Watches one clone folder recursively. A folder gone meanwhile is fine (its removal is an
/// event); a file is not a clone and is not watched.
fn watch_clone(watcher: &mut RecommendedWatcher, path: &Path) -> Result<(), String> {
    // Follows a symlinked clone, as the auditor does.
    if !std::fs::metadata(path).is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    match watcher.watch(path, RecursiveMode::Recursive) {
        Ok(()) => Ok(()),
        Err(error) if crate::task::is_not_found(&error) => Ok(()),
        Err(error) => Err(describe(path, &error)),
    }
}

/// Says why `path` cannot be watched, with what to do about the watch limit.
fn describe(path: &Path, error: &notify::Error) -> String {
    match error.kind {
        notify::ErrorKind::MaxFilesWatch => format!(
            "cannot watch {}: the inotify watch limit is reached (raise fs.inotify.max_user_watches)",
            path.display()
        ),
        _ => format!("cannot watch {}: {error}", path.display()),
    }
}

impl TreeTask {
    /// Sets the watch up (see [`Shared::set_up`]).
    pub(crate) fn start(config: TreeTaskConfig) -> TreeTask {
        let TreeTaskConfig { filter, timing, retry_interval, counters, events } = config;
        let (raw_tx, raw) = mpsc::channel(RAW_CAPACITY);
        let shared = Shared {
            filter: Arc::new(filter),
            raw: raw_tx,
            spill: Arc::new(Spill::default()),
            counters,
        };
        let Setup { watcher, problem } = shared.set_up();
        if let Some(problem) = &problem {
            tracing::warn!(root = %shared.filter.root.display(), %problem, "cannot watch every clone");
        }
        TreeTask {
            shared,
            timing,
            retry_interval,
            raw,
            os: watcher,
            problem,
            told: None,
            quiet: Quiet::default(),
            events,
            next_retry: Instant::now() + retry_interval,
            retrying: None,
        }
    }

    /// Runs the watch until the consumer goes away (or the task is aborted).
    pub(crate) async fn run(mut self) {
        loop {
            let now = Instant::now();
            let announce = self.problem != self.told;
            let deadline = self.quiet.deadline(self.timing);
            let due = deadline.is_some_and(|at| at <= now);
            let wait_for_quiet = deadline.filter(|_| !due);
            let retry_at =
                (self.problem.is_some() && self.retrying.is_none()).then_some(self.next_retry);
            let spill = Arc::clone(&self.shared.spill);
            // An owned permit, so the event is chosen (which needs `&mut self`) only once the
            // consumer has room for it.
            let events = self.events.clone();
            tokio::select! {
                raw = self.raw.recv() => {
                    // The task keeps a sender itself, so the channel never closes.
                    let Some(raw) = raw else { return };
                    self.handle(raw, Instant::now());
                    for _ in 1..DRAIN_BATCH {
                        let Ok(raw) = self.raw.try_recv() else { break };
                        self.handle(raw, Instant::now());
                    }
                }
                () = spill.wake.notified() => self.take_spill(Instant::now()),
                permit = events.reserve_owned(), if announce || due => {
                    let Ok(permit) = permit else { return };
                    if let Some(event) = self.next_event(announce) {
                        permit.send(event);
                    }
                }
                () = sleep_until(wait_for_quiet), if wait_for_quiet.is_some() => {}
                () = sleep_until(retry_at), if retry_at.is_some() => self.start_retry(),
                setup = wait_for(&mut self.retrying), if self.retrying.is_some() => {
                    self.retrying = None;
                    self.finish_retry(setup);
                }
            }
        }
    }

    /// The event to send now: a change of mode first, then the report due earliest.
    fn next_event(&mut self, announce: bool) -> Option<TreeEvent> {
        if announce {
            self.told.clone_from(&self.problem);
            return Some(match &self.problem {
                Some(reason) => TreeEvent::Unavailable { reason: reason.clone() },
                None => TreeEvent::Watching,
            });
        }
        Some(match self.quiet.take_due(Instant::now(), self.timing)? {
            Ready::Changed { name, first_event } => TreeEvent::Changed { name, first_event },
            Ready::Rescan { first_event } => TreeEvent::Rescan { first_event },
        })
    }

    fn handle(&mut self, raw: Raw, now: Instant) {
        match raw {
            Raw::Touched { name, new_folder } => {
                if new_folder {
                    self.watch_new_folder(&name, now);
                }
                self.quiet.note(&name, now);
            }
            Raw::Overflow => self.quiet.note_rescan(now),
            Raw::Failed(error) => self.set_problem(format!("the OS watcher failed: {error}"), now),
            Raw::RootGone => {
                let root = self.shared.filter.root.display();
                self.set_problem(format!("{root} was removed or moved"), now);
            }
        }
    }

    /// Watches a folder that appeared in the root. Events inside it before this are not seen,
    /// but its own creation is, so it is reported after they happened.
    fn watch_new_folder(&mut self, name: &str, now: Instant) {
        let Some(watcher) = &mut self.os else { return };
        if let Err(problem) = watch_clone(watcher, &self.shared.filter.root.join(name)) {
            self.set_problem(problem, now);
        }
    }

    fn take_spill(&mut self, now: Instant) {
        if self.shared.spill.lost.swap(false, Ordering::Acquire) {
            self.quiet.note_rescan(now);
        }
        let trouble =
            self.shared.spill.trouble.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(raw) = trouble {
            self.handle(raw, now);
        }
    }

    fn set_problem(&mut self, problem: String, now: Instant) {
        if self.problem.is_none() {
            self.next_retry = now + self.retry_interval;
        }
        if self.problem.as_ref() != Some(&problem) {
            tracing::warn!(root = %self.shared.filter.root.display(), %problem, "cannot watch every clone");
            self.problem = Some(problem);
        }
    }

    /// Sets everything up again on a blocking thread, while the current watcher (if any) goes
    /// on reporting what it sees.
    fn start_retry(&mut self) {
        let shared = self.shared.clone();
        self.retrying = Some(tokio::task::spawn_blocking(move || shared.set_up()));
    }

    /// Takes a complete new setup in place of the old one. An incomplete one is kept only if
    /// there was no watcher at all: the old one may hold the watches the new one lacked.
    fn finish_retry(&mut self, setup: Result<Setup, tokio::task::JoinError>) {
        let now = Instant::now();
        self.next_retry = now + self.retry_interval;
        match setup {
            Ok(Setup { watcher: Some(watcher), problem: None }) => {
                tracing::info!(root = %self.shared.filter.root.display(), "every clone is watched again");
                self.os = Some(watcher);
                self.problem = None;
            }
            Ok(Setup { watcher, problem }) => {
                if self.os.is_none() {
                    self.os = watcher;
                }
                if let Some(problem) = problem {
                    self.set_problem(problem, now);
                }
            }
            Err(error) => tracing::warn!(%error, "setting the tree watch up again failed"),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits for the retry in flight; never resolves when there is none (the select guards it).
async fn wait_for(
    retrying: &mut Option<tokio::task::JoinHandle<Setup>>,
) -> Result<Setup, tokio::task::JoinError> {
    match retrying {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}
