//! The watch task: owns the OS watcher (or the poller), waits out the debounce, reads the file
//! and emits events. The only place with async IO; the rules it follows live in [`crate::inbox`]
//! and [`crate::resolve`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{Notify, mpsc, watch};

use crate::inbox::{self, Due, Inbox, Step, Timing};
use crate::resolve::{self, FileStamp, MissingDir, ReadLimits, ReadOutcome, Resolution, Signature};
use crate::{PollingReason, WatchConfig, WatchEvent, WatchMode};

/// The longest wait for a read fence. It normally arrives within a millisecond; this only
/// bounds the wait if the OS watcher stalls.
const FENCE_TIMEOUT: Duration = Duration::from_secs(1);

/// How changes are noticed.
enum Backend {
    /// Polling because the configuration asked for it.
    Forced,
    /// The OS watcher, and the directories it watches.
    Os { watcher: RecommendedWatcher, watched: Vec<PathBuf> },
    /// The OS watcher is unavailable or failed: polling, retrying it now and then.
    Down { reason: PollingReason },
}

/// The last thing emitted, to skip emitting it again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Emitted {
    Nothing,
    Bytes(Bytes),
    Missing,
    Unreadable(String),
}

/// What [`Task::start`] needs.
pub(crate) struct TaskConfig<'a> {
    /// The absolute path to watch.
    pub(crate) path: PathBuf,
    /// The user's configuration (its path may be relative; `path` is the one to use).
    pub(crate) config: &'a WatchConfig,
    /// Shared with the OS watcher's callback and the [`crate::Watcher`].
    pub(crate) inbox: Arc<Mutex<Inbox>>,
    /// Wakes the task when the inbox changed.
    pub(crate) wake: Arc<Notify>,
    /// Where events go.
    pub(crate) events: mpsc::Sender<WatchEvent>,
}

/// The state of one watch.
pub(crate) struct Task {
    path: PathBuf,
    timing: Timing,
    max_bytes: u64,
    poll_interval: Duration,
    retry_interval: Duration,
    inbox: Arc<Mutex<Inbox>>,
    wake: Arc<Notify>,
    backend: Backend,
    missing_dir: Option<MissingDir>,
    events: mpsc::Sender<WatchEvent>,
    mode: watch::Sender<WatchMode>,
    last_emitted: Emitted,
    last_signature: Option<Signature>,
    next_poll: Instant,
    next_retry: Instant,
    /// When the last read found the file empty and was held back: the count of relevant events
    /// seen by then, to tell whether a writer has been at work since.
    empty_held: Option<u64>,
}

/// The receiver has gone: the [`crate::Watcher`] was dropped, so the task should end.
struct ConsumerGone;

/// Creates an OS watcher whose callback feeds `inbox`.
///
/// The callback runs on notify's thread. It only takes the inbox lock, which the task holds for
/// a few field updates at a time and never across an await, so it cannot block for long.
fn os_watcher(inbox: &Arc<Mutex<Inbox>>, wake: &Arc<Notify>) -> notify::Result<RecommendedWatcher> {
    let inbox = Arc::clone(inbox);
    let wake = Arc::clone(wake);
    notify::recommended_watcher(move |event| {
        let now = Instant::now();
        if inbox::lock(&inbox).record(event, now) {
            wake.notify_one();
        }
    })
}

pub(crate) fn is_not_found(error: &notify::Error) -> bool {
    match &error.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(error) => error.kind() == io::ErrorKind::NotFound,
        _ => false,
    }
}

impl Task {
    /// Sets the watch up: the OS watcher (unless polling is forced) and its directories.
    pub(crate) fn start(setup: TaskConfig<'_>) -> Task {
        let TaskConfig { path, config, inbox, wake, events } = setup;
        let now = Instant::now();
        let backend = if config.force_polling {
            Backend::Forced
        } else {
            match os_watcher(&inbox, &wake) {
                Ok(watcher) => Backend::Os { watcher, watched: Vec::new() },
                Err(error) => Backend::Down {
                    reason: PollingReason::WatcherUnavailable { error: error.to_string() },
                },
            }
        };
        let (mode, _) = watch::channel(WatchMode::Watching);
        let mut task = Task {
            path,
            timing: Timing { debounce: config.debounce, max_write_wait: config.max_write_wait },
            max_bytes: config.max_bytes,
            poll_interval: config.poll_interval,
            retry_interval: config.watcher_retry_interval,
            inbox,
            wake,
            backend,
            missing_dir: None,
            events,
            mode,
            last_emitted: Emitted::Nothing,
            last_signature: None,
            next_poll: now + config.poll_interval,
            next_retry: now + config.watcher_retry_interval,
            empty_held: None,
        };
        let resolution = task.follow_path();
        task.apply_watches(&resolution, false);
        task.mode.send_replace(task.current_mode());
        task
    }

    /// A receiver of the current mode.
    pub(crate) fn subscribe_mode(&self) -> watch::Receiver<WatchMode> {
        self.mode.subscribe()
    }

    /// Runs the watch until the consumer goes away (or the task is aborted).
    pub(crate) async fn run(mut self) {
        let _ = self.run_until_gone().await;
    }

    async fn run_until_gone(&mut self) -> Result<(), ConsumerGone> {
        let mode = self.mode.borrow().clone();
        self.send(WatchEvent::Mode(mode)).await?;
        let mut due = Some(Due {
            last_raw_event: Instant::now(),
            forced: false,
            dir_changed: false,
            write_complete: false,
        });
        loop {
            if let Some(due) = due.take() {
                self.read(due).await?;
            }
            let now = Instant::now();
            let step = inbox::lock(&self.inbox).step(now, self.timing);
            match step {
                Step::Failed(error) => {
                    tracing::warn!(path = %self.path.display(), %error, "OS watcher failed; polling");
                    // Dropping the OS watcher stops its thread. The failure left a read pending,
                    // so the file is read again after the debounce.
                    self.backend = Backend::Down { reason: PollingReason::WatcherFailed { error } };
                    self.next_retry = now + self.retry_interval;
                    self.publish_mode().await?;
                }
                Step::Read(read) => {
                    tracing::trace!(
                        since_last_event_us = now.duration_since(read.last_raw_event).as_micros(),
                        forced = read.forced,
                        write_complete = read.write_complete,
                        "read due"
                    );
                    due = Some(read);
                }
                Step::Wait(deadline) => self.wait(deadline).await,
            }
        }
    }

    fn current_mode(&self) -> WatchMode {
        let reason = match (&self.backend, &self.missing_dir) {
            (Backend::Forced, _) => PollingReason::Forced,
            (Backend::Down { reason }, _) => reason.clone(),
            (Backend::Os { .. }, Some(missing)) => PollingReason::DirectoryMissing {
                directory: missing.directory.clone(),
                error: missing.error.clone(),
            },
            (Backend::Os { .. }, None) => return WatchMode::Watching,
        };
        WatchMode::Polling { reason }
    }

    /// Emits the mode if it changed since it was last emitted.
    async fn publish_mode(&mut self) -> Result<(), ConsumerGone> {
        let mode = self.current_mode();
        if *self.mode.borrow() == mode {
            return Ok(());
        }
        let now = Instant::now();
        if mode != WatchMode::Watching && *self.mode.borrow() == WatchMode::Watching {
            self.next_poll = now + self.poll_interval;
        }
        tracing::info!(path = %self.path.display(), %mode, "watch mode changed");
        self.mode.send_replace(mode.clone());
        self.send(WatchEvent::Mode(mode)).await
    }

    async fn send(&self, event: WatchEvent) -> Result<(), ConsumerGone> {
        self.events.send(event).await.map_err(|_| ConsumerGone)
    }

    /// Resolves the path and points the callback's filter at the result.
    fn follow_path(&self) -> Resolution {
        let resolution = resolve::resolve(&self.path);
        let mut inbox = inbox::lock(&self.inbox);
        inbox.files.clone_from(&resolution.chain);
        inbox.dirs.clone_from(&resolution.dirs);
        inbox.fence_dir = resolution.target().parent().map(Path::to_path_buf);
        resolution
    }

    /// Makes the OS watcher watch exactly the directories of `resolution`. The filter must
    /// already name the new paths, so no event between watching and reading is dropped.
    fn apply_watches(&mut self, resolution: &Resolution, dir_changed: bool) {
        self.missing_dir = resolution.missing_dir.clone();
        let Backend::Os { watcher, watched } = &mut self.backend else {
            return;
        };
        if dir_changed {
            // A watched directory was removed or moved: its watch is gone or now follows the
            // directory elsewhere, so start again from the paths as they are now.
            for dir in watched.drain(..) {
                let _ = watcher.unwatch(&dir);
            }
        }
        watched.retain(|dir| {
            let keep = resolution.dirs.contains(dir);
            if !keep {
                let _ = watcher.unwatch(dir);
            }
            keep
        });
        let mut failure = None;
        for dir in &resolution.dirs {
            if watched.contains(dir) {
                continue;
            }
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => watched.push(dir.clone()),
                // Removed since it was resolved: poll for it like any missing directory.
                Err(error) if is_not_found(&error) => {
                    self.missing_dir.get_or_insert(MissingDir {
                        directory: dir.clone(),
                        error: error.to_string(),
                    });
                }
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            }
        }
        if let Some(error) = failure {
            tracing::warn!(path = %self.path.display(), %error, "cannot watch; polling");
            self.backend = Backend::Down { reason: PollingReason::WatcherUnavailable { error } };
            self.next_retry = Instant::now() + self.retry_interval;
        }
    }

    /// Sleeps until the deadline, an inbox change, or the next poll or retry, and does those.
    async fn wait(&mut self, deadline: Option<Instant>) {
        let retrying = matches!(self.backend, Backend::Down { .. });
        let polling = self.current_mode() != WatchMode::Watching;
        let mut wake_at = deadline;
        for (active, at) in [(polling, self.next_poll), (retrying, self.next_retry)] {
            if active {
                wake_at = Some(wake_at.map_or(at, |wake_at| wake_at.min(at)));
            }
        }
        let sleep = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.wake.notified() => {}
            () = sleep => {}
        }
        let now = Instant::now();
        if retrying && now >= self.next_retry {
            self.retry_os_watcher(now);
            self.next_retry = now + self.retry_interval;
        }
        if self.current_mode() != WatchMode::Watching && now >= self.next_poll {
            self.poll(now).await;
            self.next_poll = now + self.poll_interval;
        }
    }

    /// Tries to go back from polling to OS watching.
    fn retry_os_watcher(&mut self, now: Instant) {
        match os_watcher(&self.inbox, &self.wake) {
            Ok(watcher) => {
                tracing::info!(path = %self.path.display(), "OS watcher is back");
                self.backend = Backend::Os { watcher, watched: Vec::new() };
                // The next read sets the watches up, reports the mode and catches anything
                // that changed while nothing was watching.
                inbox::lock(&self.inbox).pending.note_raw_event(now);
            }
            Err(error) => {
                tracing::debug!(path = %self.path.display(), %error, "OS watcher still unavailable");
            }
        }
    }

    /// One look at the file while polling: schedule a read if its stamp or content changed.
    async fn poll(&mut self, now: Instant) {
        let resolution = self.follow_path();
        let signature = resolve::signature(&resolution);
        let changed = if self.last_signature.as_ref() != Some(&signature) {
            true
        } else if let Emitted::Bytes(last) = &self.last_emitted {
            // The stamp can miss a same-size rewrite within the filesystem's time granularity;
            // the content cannot.
            match self.read_file(resolution.target().to_path_buf(), Duration::ZERO, None).await.0 {
                ReadOutcome::Settled { bytes, .. } => bytes != last[..],
                ReadOutcome::Unsettled | ReadOutcome::Failed(_) => true,
            }
        } else {
            false
        };
        if changed {
            inbox::lock(&self.inbox).pending.note_raw_event(now);
        }
    }

    /// Re-resolves, re-watches, reads, and emits what changed.
    async fn read(&mut self, due: Due) -> Result<(), ConsumerGone> {
        inbox::lock(&self.inbox).stats.reads += 1;
        let resolution = self.follow_path();
        self.apply_watches(&resolution, due.dir_changed);
        self.publish_mode().await?;
        let signature = resolve::signature(&resolution);
        let target = resolution.target().to_path_buf();
        let fence = self.fence_dir(&resolution);
        // The status change time says "a write we have not heard of" only without a fence:
        // with one, every event from before the read is in hand before anything is emitted.
        // After a completed write (a close after writing, a rename onto the file) the last
        // change is normally younger than the debounce, so the check would send the read round
        // once more for nothing.
        let quiet = if due.write_complete && fence.is_some() {
            Duration::ZERO
        } else {
            self.timing.debounce
        };
        let (mut outcome, fences_before) = self.read_file(target.clone(), quiet, fence).await;
        tracing::trace!(outcome = %outcome.describe(), "read done");
        if let Some(fences_before) = fences_before {
            self.await_fence(fences_before).await;
            tracing::trace!("read fence passed");
            // A truncating writer makes the new size visible a moment before it updates the
            // file's times and queues its event, so a read in that moment looks settled and
            // the fence can pass before the event exists. By now the writer is almost surely
            // past that moment: a changed stamp gives it away.
            if let ReadOutcome::Settled { stamp, .. } = &outcome {
                let stamp_now =
                    tokio::fs::metadata(&target).await.ok().map(|meta| FileStamp::of(&meta));
                if stamp_now != Some(*stamp) {
                    tracing::trace!("stamp changed after the fence: unsettled");
                    outcome = ReadOutcome::Unsettled;
                }
            }
        }
        // Truncating on open (`open(O_TRUNC)`, a shell's `>`) empties the file a moment before
        // the kernel updates its times and queues the event, and a read in that moment passes
        // every check above (seen: 3 to 17 in 300 writes of a 330 KB report, in place). The file
        // is empty in exactly that moment, so an empty read is treated as an in-place write that
        // has begun: held back until the writer closes the file, or for `max_write_wait` if no
        // writer shows up (then a file that really is empty is emitted). Holding it for one
        // debounce only was not enough on a loaded machine, where the writer can be preempted
        // inside its `open` for longer than that.
        // It is emitted only when a second empty read finds no relevant event since the hold:
        // with rapid writes, the next read can fall into the next writer's `open` just the same.
        let empty = matches!(&outcome, ReadOutcome::Settled { bytes, .. } if bytes.is_empty());
        let events_seen = inbox::lock(&self.inbox).stats.relevant_events;
        let hold_empty = empty && self.empty_held != Some(events_seen);
        self.empty_held = hold_empty.then_some(events_seen);
        if hold_empty {
            tracing::trace!("empty read held back as a write that has begun");
            outcome = ReadOutcome::Unsettled;
        }
        {
            let mut inbox = inbox::lock(&self.inbox);
            let unsettled = matches!(outcome, ReadOutcome::Unsettled);
            if unsettled || inbox.pending.has_raw_event() {
                // The file changed while (or just before) it was read: what we read may be torn
                // or already stale, and another read is coming, so emit nothing now.
                tracing::trace!(unsettled, "read discarded; another read follows");
                let now = Instant::now();
                inbox.pending.restore(due, now);
                if hold_empty {
                    inbox.pending.note_write_begun(now);
                } else if unsettled {
                    inbox.pending.note_raw_event(now);
                }
                return Ok(());
            }
        }
        self.last_signature = Some(signature);
        match self.event_for(outcome, due, target) {
            Some(event) => {
                tracing::trace!("emitting the read");
                self.send(event).await
            }
            None => {
                tracing::trace!("read repeats the last emitted one; not emitted");
                Ok(())
            }
        }
    }

    /// The directory to open as a read fence: the target's, when the OS watches it and
    /// reports opens.
    fn fence_dir(&self, resolution: &Resolution) -> Option<PathBuf> {
        let Backend::Os { watched, .. } = &self.backend else {
            return None;
        };
        let dir = resolution.target().parent()?;
        (inbox::OPEN_REPORTED && watched.iter().any(|watched| watched == dir))
            .then(|| dir.to_path_buf())
    }

    /// Reads the file on a blocking thread (a 5 MB report takes milliseconds). With a fence
    /// directory, then opens it, and returns the fence count from just before that open.
    async fn read_file(
        &self,
        path: PathBuf,
        quiet: Duration,
        fence: Option<PathBuf>,
    ) -> (ReadOutcome, Option<u64>) {
        let limits = ReadLimits { quiet, max_bytes: self.max_bytes };
        let inbox = Arc::clone(&self.inbox);
        let read = move || {
            // Our own open is an `IN_OPEN` like any writer's: count it, so it is not taken for
            // a writer that has not closed the file. Only reads with a fence count: without
            // one the OS reports no opens (polling, or no watch on the directory).
            let count_own_open = || {
                if fence.is_some() {
                    inbox::lock(&inbox).opens.own += 1;
                }
            };
            let outcome = resolve::read_settled(&path, limits, count_own_open);
            let fences_before = fence.and_then(|dir| {
                let before = inbox::lock(&inbox).fences_seen;
                // An unreadable directory just means no fence.
                std::fs::File::open(dir).ok().map(|_| before)
            });
            (outcome, fences_before)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(result) => result,
            Err(error) => (ReadOutcome::Failed(io::Error::other(error.to_string())), None),
        }
    }

    /// Waits until the callback has seen the fence (and so every event queued before it), for
    /// at most [`FENCE_TIMEOUT`]; later than that, carries on without it.
    async fn await_fence(&self, fences_before: u64) {
        let deadline = tokio::time::Instant::now() + FENCE_TIMEOUT;
        while inbox::lock(&self.inbox).fences_seen <= fences_before {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(path = %self.path.display(), "read fence late; carrying on");
                    return;
                }
            }
        }
    }

    /// The event to emit for a read, or `None` when it repeats the last one and was not forced.
    fn event_for(
        &mut self,
        outcome: ReadOutcome,
        due: Due,
        resolved: PathBuf,
    ) -> Option<WatchEvent> {
        let last_raw_event = due.last_raw_event;
        let (emitted, event) = match outcome {
            ReadOutcome::Settled { bytes, .. } => {
                let bytes = Bytes::from(bytes);
                let event = WatchEvent::Changed {
                    bytes: bytes.clone(),
                    resolved,
                    last_raw_event,
                    forced: due.forced,
                };
                (Emitted::Bytes(bytes), event)
            }
            ReadOutcome::Failed(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                (Emitted::Missing, WatchEvent::Missing { resolved, last_raw_event })
            }
            ReadOutcome::Failed(error) => (
                Emitted::Unreadable(error.to_string()),
                WatchEvent::Unreadable { error, resolved, last_raw_event },
            ),
            // Handled by the caller, which reads again instead.
            ReadOutcome::Unsettled => return None,
        };
        if !due.forced && emitted == self.last_emitted {
            return None;
        }
        self.last_emitted = emitted;
        Some(event)
    }
}
