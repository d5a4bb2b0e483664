//! Watches one file and yields "its bytes changed" events; knows nothing of what the bytes mean.
//! Also watches a folder of clones and yields the names of those that changed ([`watch_tree`],
//! described in its own section below).
//!
//! Built for a report file that other programs rewrite in any of three ways, all of which must be
//! seen every time:
//!
//! - **in place** (`cp`, shell `>`, an editor): truncate and write. The file is read only after
//!   the writer closes it (inotify's close-after-write), never on the first modification, so a
//!   half-written file is not read.
//! - **temp file + rename** (`mv`, `sed -i`, atomic savers): a watch on the file itself would go
//!   blind after the first rename, so the file's *directory* is watched (non-recursively) and
//!   events are filtered by the exact path: canonical parent directory plus file name. Events
//!   about other files in that directory (a log written next to the report) cause no read.
//! - **symlink swap** (`latest.json -> 2026-...json`, swapped with `ln -sf`): the link is
//!   re-resolved after every event, and the directories of every hop of the link chain are
//!   watched too, so both a swap and an in-place write to the current target are seen.
//!
//! Reads happen on the **trailing edge** only: after the last relevant event, the watch waits for
//! [`WatchConfig::debounce`] of quiet, then reads, so the final state of any burst always
//! arrives. One exception: when the last event completes a write, the file is read at once (at
//! most once per debounce during a burst of them). A write is complete when a writer closes
//! the file after writing and every other process that opened the file since the last read has
//! closed it after writing too (`cp`, a shell's `>`, `tee` and Python's `open('w')` end that
//! way), or when another file of the watched directory is renamed onto the path and every
//! process that opened it for writing had closed it (`mv`, `os.replace`, a new link renamed
//! over the old one: the temp file's opens and closes are counted under its own name). Waiting
//! out the debounce after either only delayed the change by a debounce. A file renamed in from
//! another directory, or renamed while its writer still holds it open, waits out the debounce,
//! and that writer's close (reported under the new name) ends the write. A
//! process that opened the file and has not closed it (a writer at work, or a reader: inotify
//! does not report read-only closes to this watch) sends the read back to the debounce. Unchanged bytes are not emitted again unless the consumer asks with
//! [`Watcher::trigger`]. A removed file is an event ([`WatchEvent::Missing`]), not a reset: the
//! consumer keeps its last good data, and the file's return is a new [`WatchEvent::Changed`].
//!
//! When the OS watcher cannot be set up, or fails later, the watch falls back to polling and
//! says so ([`WatchMode::Polling`], also as [`WatchEvent::Mode`]); it tries to go back to OS
//! watching every [`WatchConfig::watcher_retry_interval`]. A removed watched directory is polled
//! for until it comes back, then watched again.
//!
//! ```no_run
//! # async fn run() -> gitops_watch::Result<()> {
//! use gitops_watch::{WatchConfig, WatchEvent, watch};
//!
//! let mut watcher = watch(WatchConfig::new("/srv/audit/GitRepoReport.json"))?;
//! while let Some(event) = watcher.next().await {
//!     match event {
//!         WatchEvent::Changed { bytes, .. } => println!("{} bytes", bytes.len()),
//!         WatchEvent::Missing { .. } => println!("gone; keep the last good report"),
//!         WatchEvent::Unreadable { error, .. } => println!("unreadable: {error}"),
//!         WatchEvent::Mode(mode) => println!("now {mode}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Why raw `notify` with our own timer rather than `notify-debouncer-full`: the debouncer ticks
//! every quarter timeout and so delivers in `[t, 1.25 t]`, rewrites renames as creates and
//! removes, and knows nothing of close-after-write. We need exactly one trailing-edge timer per
//! watched file, the close-after-write signal
//! (`EventKind::Access(AccessKind::Close(AccessMode::Write))` in notify 8), and a filter on a
//! handful of paths; a tokio deadline over a coalesced inbox does that with a delivery delay of
//! exactly `debounce` and constant memory.
//!
//! A read is emitted only if nothing relevant happened while it ran, and it is checked three
//! ways, because an event can reach us after the change it announces:
//! - the file's stamp (inode, size, times) must not change while it is read;
//! - its status change time must be older than the debounce (a write we have not heard of),
//!   unless the read follows a completed in-place write and has a fence (below), which already
//!   covers every write from before the read;
//! - with OS watching, the task then opens the watched directory and waits for that open's own
//!   event: inotify queues events in order, so by then every event from before the read has
//!   arrived (notify's thread may be late on a busy machine). The stamp is taken once more at
//!   that point, because a truncating writer makes the new size visible a moment before it
//!   updates the times and queues its event.
//!
//! A torn read would need a writer stopped inside that kernel moment for the whole fence round
//! trip (or a third process opening the directory just then); the writer's close would still
//! bring the complete file right after.
//!
//! # A folder of clones
//!
//! The root's top-level folders are the clones (`/srv/git/halo`, `/srv/git/kitshn`). Every
//! change inside one (a commit, a checkout, a new untracked file, the folder created, renamed or
//! removed) becomes one [`TreeEvent::Changed`] with the folder's name, on the trailing edge:
//! after [`TreeConfig::quiet`] without events in that clone, so a git command that writes a
//! dozen files yields one event. A clone written to without pause (a database or a log kept
//! inside it) is still reported [`TreeConfig::max_delay`] after its first unreported event.
//!
//! Only changes count: opens and reads are ignored, so whoever audits a clone after an event
//! does not cause the next one. Skipped and hidden folders are not watched at all, and files
//! directly in the root are not clones.
//!
//! When changes may have been missed the watch says so instead of going quiet:
//! [`TreeEvent::Rescan`] when events were lost (the kernel's queue or ours overflowed),
//! [`TreeEvent::Unavailable`] when the OS watcher cannot be set up, fails, or cannot watch part
//! of the tree, and [`TreeEvent::Watching`] once a retry has every clone watched again.
//!
//! ```no_run
//! # async fn run() -> gitops_watch::Result<()> {
//! use gitops_watch::{TreeConfig, TreeEvent, watch_tree};
//!
//! let mut clones = watch_tree(TreeConfig::new("/srv/git"))?;
//! while let Some(event) = clones.next().await {
//!     match event {
//!         TreeEvent::Changed { name, .. } => println!("re-audit {name}"),
//!         TreeEvent::Rescan { .. } | TreeEvent::Watching => println!("audit every clone"),
//!         TreeEvent::Unavailable { reason } => println!("changes show at the next full audit: {reason}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod inbox;
mod resolve;
mod task;
mod tree;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

pub use error::{Error, Result};
pub use inbox::WatchStats;
pub use tree::{TreeConfig, TreeEvent, TreeStats, TreeWatcher, watch_tree};

use inbox::Inbox;

/// How many events may wait for the consumer. Small on purpose: a slow consumer holds the watch
/// back, and the changes meanwhile coalesce into one later read instead of queueing stale copies.
const EVENT_CAPACITY: usize = 4;

/// What to watch and how.
///
/// Build it with [`WatchConfig::new`] and adjust fields:
/// `WatchConfig { debounce: Duration::from_millis(50), ..WatchConfig::new(path) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// The file to watch. A relative path is taken from the current directory at [`watch`].
    /// It may be a symlink (or a chain of them); the parent directory itself is resolved once
    /// per read, so swapping a *directory* symlink above the file is seen only at the next event.
    pub path: PathBuf,
    /// Quiet time after the last relevant event before the file is read. Default 5 ms.
    /// A write that ends with every writer closing the file is read without this wait, at most
    /// once per `debounce` (see the crate documentation).
    pub debounce: Duration,
    /// How long to wait for an in-place writer to close the file after its last modification
    /// before reading anyway (the writer may hold the file open for good). Default 2 s. Only
    /// platforms that report close-after-write (Linux) wait for the close at all.
    pub max_write_wait: Duration,
    /// How often to look at the file while polling. Default 1 s. Must not be zero.
    pub poll_interval: Duration,
    /// How often to try OS watching again after it failed. Default 30 s. Must not be zero.
    pub watcher_retry_interval: Duration,
    /// Files larger than this are not read: they are reported as [`WatchEvent::Unreadable`]
    /// with [`io::ErrorKind::FileTooLarge`]. Default 64 MiB (a 10,000-repository report is
    /// about 5 MB).
    pub max_bytes: u64,
    /// Poll instead of using the OS watcher, for filesystems whose changes the OS does not
    /// report (NFS, some FUSE and container mounts). Default `false`.
    pub force_polling: bool,
}

impl WatchConfig {
    /// The defaults for watching `path`.
    pub fn new(path: impl Into<PathBuf>) -> WatchConfig {
        WatchConfig {
            path: path.into(),
            debounce: Duration::from_millis(5),
            max_write_wait: Duration::from_secs(2),
            poll_interval: Duration::from_secs(1),
            watcher_retry_interval: Duration::from_secs(30),
            max_bytes: 64 * 1024 * 1024,
            force_polling: false,
        }
    }
}

/// How changes are being noticed right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMode {
    /// The OS reports changes; they are read `debounce` after they happen.
    Watching,
    /// The file is looked at every `poll_interval`, so a change can take that long to be seen.
    Polling {
        /// Why.
        reason: PollingReason,
    },
}

/// Why a watch is polling.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollingReason {
    /// [`WatchConfig::force_polling`] asked for it.
    Forced,
    /// The OS watcher could not be set up (for example the inotify instance or watch limit is
    /// reached). OS watching is retried every `watcher_retry_interval`.
    WatcherUnavailable {
        /// The OS watcher's error.
        error: String,
    },
    /// The OS watcher reported an error while running. OS watching is retried every
    /// `watcher_retry_interval`.
    WatcherFailed {
        /// The OS watcher's error.
        error: String,
    },
    /// A directory on the way to the file does not exist, so it cannot be watched; it is
    /// looked for every `poll_interval` and watched again once it is back.
    DirectoryMissing {
        /// The missing directory.
        directory: PathBuf,
        /// Why it could not be resolved.
        error: String,
    },
}

impl fmt::Display for WatchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchMode::Watching => f.write_str("watching"),
            WatchMode::Polling { reason } => write!(f, "polling: {reason}"),
        }
    }
}

impl fmt::Display for PollingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollingReason::Forced => f.write_str("polling was requested"),
            PollingReason::WatcherUnavailable { error } => {
                write!(f, "the OS watcher could not be set up: {error}")
            }
            PollingReason::WatcherFailed { error } => write!(f, "the OS watcher failed: {error}"),
            PollingReason::DirectoryMissing { directory, error } => {
                write!(f, "directory {} is missing: {error}", directory.display())
            }
        }
    }
}

/// One thing that happened to the watched file.
///
/// The first event of every watch is [`WatchEvent::Mode`] with the starting mode, then the
/// first read: [`WatchEvent::Changed`], [`WatchEvent::Missing`] or [`WatchEvent::Unreadable`].
#[derive(Debug)]
pub enum WatchEvent {
    /// The file was read and its bytes differ from the last ones emitted (or a re-read was
    /// forced, or the file came back after being missing or unreadable).
    Changed {
        /// The whole file, read after the debounce.
        bytes: Bytes,
        /// The file actually read: the end of the symlink chain.
        resolved: PathBuf,
        /// When the last OS event (or poll, or trigger) that led to this read was seen: the
        /// start of the file-change-to-delivery latency.
        last_raw_event: Instant,
        /// Whether this read was forced by [`Watcher::trigger`] (the bytes may be unchanged).
        forced: bool,
    },
    /// The file does not exist (removed, renamed away, dangling symlink, missing directory).
    /// Keep the last good data: a later create is a new [`WatchEvent::Changed`].
    Missing {
        /// The path that was looked for: the end of the symlink chain.
        resolved: PathBuf,
        /// When the last OS event (or poll, or trigger) that led to this read was seen.
        last_raw_event: Instant,
    },
    /// The file exists but could not be read (permissions, not a regular file, a symlink loop,
    /// larger than [`WatchConfig::max_bytes`]).
    Unreadable {
        /// The read error.
        error: io::Error,
        /// The path that was read: the end of the symlink chain.
        resolved: PathBuf,
        /// When the last OS event (or poll, or trigger) that led to this read was seen.
        last_raw_event: Instant,
    },
    /// The way changes are noticed changed (see [`Watcher::mode`]).
    Mode(WatchMode),
}

/// A running watch of one file. Dropping it stops the watch: its task, its OS watcher and the
/// OS watcher's thread.
#[derive(Debug)]
pub struct Watcher {
    path: PathBuf,
    events: mpsc::Receiver<WatchEvent>,
    mode: tokio::sync::watch::Receiver<WatchMode>,
    inbox: Arc<Mutex<Inbox>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts watching `config.path` on the current tokio runtime.
///
/// The OS watcher is set up before this returns, so [`Watcher::mode`] already tells whether the
/// watch is polling. Errors only for a bad configuration or a missing runtime; a missing file or
/// directory is not an error (the watch reports [`WatchEvent::Missing`] and waits for it).
pub fn watch(config: WatchConfig) -> Result<Watcher> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    if config.path.file_name().is_none() {
        return Err(Error::NotAFilePath { path: config.path });
    }
    if config.poll_interval.is_zero() {
        return Err(Error::ZeroInterval { field: "poll_interval" });
    }
    if config.watcher_retry_interval.is_zero() {
        return Err(Error::ZeroInterval { field: "watcher_retry_interval" });
    }
    let path = if config.path.is_absolute() {
        config.path.clone()
    } else {
        let current_dir = std::env::current_dir()
            .map_err(|source| Error::CurrentDir { path: config.path.clone(), source })?;
        current_dir.join(&config.path)
    };
    let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let wake = Arc::new(Notify::new());
    let task = task::Task::start(task::TaskConfig {
        path: path.clone(),
        config: &config,
        inbox: Arc::clone(&inbox),
        wake: Arc::clone(&wake),
        events: events_tx,
    });
    let mode = task.subscribe_mode();
    let task = runtime.spawn(task.run());
    Ok(Watcher { path, events, mode, inbox, wake, task })
}

impl Watcher {
    /// The next event. `None` only if the watch task ended, which happens only when it panicked.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// Asks for a re-read that is emitted even if the bytes did not change. It happens at once
    /// when the file is quiet, or with the read already scheduled by a pending change.
    pub fn trigger(&self) {
        inbox::lock(&self.inbox).pending.note_trigger(Instant::now());
        self.wake.notify_one();
    }

    /// How changes are noticed right now.
    pub fn mode(&self) -> WatchMode {
        self.mode.borrow().clone()
    }

    /// Counters of events seen and reads done, for diagnostics.
    pub fn stats(&self) -> WatchStats {
        inbox::lock(&self.inbox).stats
    }

    /// The watched path, made absolute.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // The task owns the OS watcher; dropping it (when the aborted task is dropped) shuts
        // notify's thread down, which drops the callback and its handle on the inbox.
        self.task.abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_watcher_stops_task_and_os_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "{}").unwrap();
        let mut watcher = watch(WatchConfig::new(&path)).unwrap();
        assert!(matches!(watcher.next().await, Some(WatchEvent::Mode(_))));
        assert!(matches!(watcher.next().await, Some(WatchEvent::Changed { .. })));
        let inbox = Arc::downgrade(&watcher.inbox);
        drop(watcher);
        let deadline = Instant::now() + Duration::from_secs(5);
        while inbox.upgrade().is_some() {
            assert!(Instant::now() < deadline, "task or OS watcher thread still holds the inbox");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn next(watcher: &mut Watcher) -> WatchEvent {
        tokio::time::timeout(Duration::from_secs(10), watcher.next()).await.unwrap().unwrap()
    }

    /// What notify's thread does when reading from inotify fails: the watch must say it is
    /// polling now, keep seeing changes, and go back to OS watching on the next retry.
    #[tokio::test]
    async fn watcher_failure_while_running_falls_back_to_polling_then_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "v0").unwrap();
        let config = WatchConfig {
            poll_interval: Duration::from_millis(50),
            watcher_retry_interval: Duration::from_millis(500),
            ..WatchConfig::new(&path)
        };
        let mut watcher = watch(config).unwrap();
        assert!(matches!(next(&mut watcher).await, WatchEvent::Mode(WatchMode::Watching)));
        assert!(matches!(next(&mut watcher).await, WatchEvent::Changed { .. }));

        let injected = notify::Error::io(io::Error::other("injected read failure"));
        inbox::lock(&watcher.inbox).record(Err(injected), Instant::now());
        watcher.wake.notify_one();
        match next(&mut watcher).await {
            WatchEvent::Mode(WatchMode::Polling {
                reason: PollingReason::WatcherFailed { error },
            }) => {
                assert!(error.contains("injected read failure"), "{error}");
            }
            other => panic!("expected polling after the failure, got {other:?}"),
        }
        std::fs::write(&path, "v1").unwrap();
        let (mut seen_v1, mut back_to_watching) = (false, false);
        while !(seen_v1 && back_to_watching) {
            match next(&mut watcher).await {
                WatchEvent::Changed { bytes, .. } if bytes == "v1" => seen_v1 = true,
                WatchEvent::Mode(WatchMode::Watching) => back_to_watching = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        std::fs::write(&path, "v2").unwrap();
        match next(&mut watcher).await {
            WatchEvent::Changed { bytes, .. } => assert_eq!(bytes, "v2"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn rejects_bad_configuration() {
        assert!(matches!(watch(WatchConfig::new("/")), Err(Error::NotAFilePath { .. })));
        assert!(matches!(watch(WatchConfig::new("a/..")), Err(Error::NotAFilePath { .. })));
        let zero_poll = WatchConfig { poll_interval: Duration::ZERO, ..WatchConfig::new("x") };
        assert!(matches!(watch(zero_poll), Err(Error::ZeroInterval { field: "poll_interval" })));
        let zero_retry =
            WatchConfig { watcher_retry_interval: Duration::ZERO, ..WatchConfig::new("x") };
        assert!(matches!(
            watch(zero_retry),
            Err(Error::ZeroInterval { field: "watcher_retry_interval" })
        ));
    }

    #[test]
    fn needs_a_runtime() {
        assert!(matches!(watch(WatchConfig::new("/tmp/x.json")), Err(Error::NoRuntime)));
    }
}
