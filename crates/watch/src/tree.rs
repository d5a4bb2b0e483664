//! Watches a folder of clones and yields the names of the clones whose files changed, each
//! once its writes have gone quiet. The public types live here; the crate's documentation
//! describes the behaviour.

mod inbox;
mod task;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::{Error, Result};

/// How many events may wait for the consumer. Small: while the consumer is busy the task keeps
/// coalescing events per clone, so a later read finds one event per clone, not a backlog.
const EVENT_CAPACITY: usize = 4;

/// What to watch and how.
///
/// Build it with [`TreeConfig::new`] and adjust fields:
/// `TreeConfig { skip: vec!["tmp".into()], ..TreeConfig::new(root) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeConfig {
    /// The folder whose top-level folders are the clones. A relative path is taken from the
    /// current directory at [`watch_tree`]. It need not exist yet: the watch reports
    /// [`TreeEvent::Unavailable`] and retries.
    pub root: PathBuf,
    /// Top-level folder names that are not clones, compared ignoring ASCII case. They are not
    /// watched. Default empty.
    pub skip: Vec<String>,
    /// Whether top-level folders whose names start with `.` are left out too. Default `true`.
    pub skip_hidden: bool,
    /// Quiet time after a clone's last event before it is reported. Default 150 ms: git writes
    /// several files per command, a few milliseconds apart.
    pub quiet: Duration,
    /// The longest a clone's first unreported event waits for quiet. Default 2 s.
    pub max_delay: Duration,
    /// How often to try again after [`TreeEvent::Unavailable`]. Default 30 s. Must not be zero.
    pub watcher_retry_interval: Duration,
}

impl TreeConfig {
    /// The defaults for watching the clones in `root`.
    pub fn new(root: impl Into<PathBuf>) -> TreeConfig {
        TreeConfig {
            root: root.into(),
            skip: Vec::new(),
            skip_hidden: true,
            quiet: Duration::from_millis(150),
            max_delay: Duration::from_secs(2),
            watcher_retry_interval: Duration::from_secs(30),
        }
    }
}

/// One thing that happened in the watched tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEvent {
    /// Something inside the top-level folder `name` changed, or the folder appeared, was
    /// renamed or was removed; it has been quiet since for [`TreeConfig::quiet`] (or has waited
    /// [`TreeConfig::max_delay`]). Look at that folder again.
    Changed {
        /// The folder's name in the root.
        name: String,
        /// When the first event of this change was seen: the start of the change-to-delivery
        /// latency.
        first_event: Instant,
    },
    /// Events were lost (the kernel's event queue overflowed, or the consumer was so far behind
    /// that this watch's own queue did): any clone may have changed. Look at all of them.
    Rescan {
        /// When the first loss was seen.
        first_event: Instant,
    },
    /// Changes may be missed: the OS watcher could not be set up or failed, the root is missing
    /// or was moved, or part of the tree cannot be watched (the inotify watch limit, a folder
    /// that cannot be read). Changes that are seen are still reported. A new reason is a new
    /// event; setting up again is retried every [`TreeConfig::watcher_retry_interval`].
    Unavailable {
        /// What failed, for a person to read.
        reason: String,
    },
    /// After [`TreeEvent::Unavailable`]: every clone is watched again. Changes made meanwhile
    /// may have been missed, so look at all of them.
    Watching,
}

/// Counters for diagnostics and tests; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// OS events that said something changed in a clone (or that the watch itself is in
    /// trouble).
    pub relevant_events: u64,
    /// OS events that changed nothing in a clone: opens and reads, files directly in the root.
    pub ignored_events: u64,
    /// Relevant events dropped because the task was behind; each loss leads to one
    /// [`TreeEvent::Rescan`].
    pub dropped_events: u64,
}

/// The counters, shared with notify's thread.
#[derive(Debug, Default)]
struct Counters {
    relevant: AtomicU64,
    ignored: AtomicU64,
    dropped: AtomicU64,
}

/// A running watch of a folder of clones. Dropping it stops the watch: its task, its OS
/// watcher and the OS watcher's thread.
#[derive(Debug)]
pub struct TreeWatcher {
    root: PathBuf,
    events: mpsc::Receiver<TreeEvent>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts watching the clones in `config.root` on the current tokio runtime.
///
/// The watches are set up before this returns (one inotify watch per folder, which takes a
/// moment for a large tree), so every change made after it returns is seen. If they cannot be,
/// the first event is [`TreeEvent::Unavailable`]. Errors only for a bad configuration or a
/// missing runtime.
pub fn watch_tree(config: TreeConfig) -> Result<TreeWatcher> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let TreeConfig { root, skip, skip_hidden, quiet, max_delay, watcher_retry_interval } = config;
    if watcher_retry_interval.is_zero() {
        return Err(Error::ZeroInterval { field: "watcher_retry_interval" });
    }
    let root = if root.is_absolute() {
        root
    } else {
        let current_dir = std::env::current_dir()
            .map_err(|source| Error::CurrentDir { path: root.clone(), source })?;
        current_dir.join(root)
    };
    let counters = Arc::new(Counters::default());
    let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
    let task = task::TreeTask::start(task::TreeTaskConfig {
        filter: inbox::Filter { root: root.clone(), skip, skip_hidden },
        timing: inbox::Timing { quiet, max_delay },
        retry_interval: watcher_retry_interval,
        counters: Arc::clone(&counters),
        events: events_tx,
    });
    let task = runtime.spawn(task.run());
    Ok(TreeWatcher { root, events, counters, task })
}

impl TreeWatcher {
    /// The next event. `None` only if the watch task ended, which happens only when it panicked.
    pub async fn next(&mut self) -> Option<TreeEvent> {
        self.events.recv().await
    }

    /// Counters of events seen, ignored and dropped.
    pub fn stats(&self) -> TreeStats {
        TreeStats {
            relevant_events: self.counters.relevant.load(Ordering::Relaxed),
            ignored_events: self.counters.ignored.load(Ordering::Relaxed),
            dropped_events: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    /// The watched root, made absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for TreeWatcher {
    fn drop(&mut self) {
        // The task owns the OS watcher; dropping it (when the aborted task is dropped) shuts
        // notify's thread down, which drops the callback and its sender.
        self.task.abort();
    }
}
