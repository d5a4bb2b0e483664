//! Shared helpers: a temp directory, report versions, and bounded waits for events.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use gitops_watch::{WatchConfig, WatchEvent, WatchMode, Watcher, watch};
use tokio::time::Instant;

/// How long any single expectation may take. Generous: the machine is small and shared.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Tests that lower the inotify instance limit take this exclusively while it is lowered; the
/// others hold it shared while they create their OS watcher, so they never see the lowered limit.
static INOTIFY_LIMIT: RwLock<()> = RwLock::new(());

pub(crate) fn shared_inotify() -> RwLockReadGuard<'static, ()> {
    INOTIFY_LIMIT.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn exclusive_inotify() -> RwLockWriteGuard<'static, ()> {
    INOTIFY_LIMIT.write().unwrap_or_else(PoisonError::into_inner)
}

/// The inotify instance limit per user.
pub(crate) const INSTANCES: &str = "/proc/sys/fs/inotify/max_user_instances";
/// The size of the event queue of inotify instances created from now on.
pub(crate) const QUEUED_EVENTS: &str = "/proc/sys/fs/inotify/max_queued_events";

/// An inotify limit lowered for a moment (take [`exclusive_inotify`] first); the old value is
/// put back when dropped, panicking or not.
pub(crate) struct LoweredLimit {
    file: &'static str,
    original: String,
}

impl LoweredLimit {
    /// `None` when this process may not change the limit (not root): the test cannot run here,
    /// and says so.
    pub(crate) fn lower(file: &'static str, value: u32) -> Option<LoweredLimit> {
        let original = std::fs::read_to_string(file).unwrap();
        match std::fs::write(file, value.to_string()) {
            Ok(()) => Some(LoweredLimit { file, original }),
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: {file} is not writable (needs root)");
                None
            }
            Err(error) => panic!("cannot lower {file}: {error}"),
        }
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(self.file, self.original.trim()) {
            eprintln!("could not restore {} to {}: {error}", self.file, self.original.trim());
        }
    }
}

/// A temp directory, canonicalised so paths compare with the ones the watch reports.
pub(crate) struct Scene {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Scene {
    pub(crate) fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        Scene { _dir: dir, root }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// A complete report of version `n`: JSON with padding, so a torn read is obvious.
pub(crate) fn version(n: usize) -> Vec<u8> {
    format!("{{\"version\":{n},\"pad\":\"{}\"}}\n", "x".repeat(8 * 1024)).into_bytes()
}

pub(crate) fn versions(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(version).collect()
}

/// The test configuration: the default debounce, quick polling, and a `max_write_wait` so long
/// that only the writer's close can end an in-place write.
pub(crate) fn config(path: &Path) -> WatchConfig {
    WatchConfig {
        max_write_wait: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(100),
        ..WatchConfig::new(path)
    }
}

/// Starts a watch (never while another test has the inotify limit lowered).
pub(crate) fn start(config: WatchConfig) -> Watcher {
    let _shared = shared_inotify();
    watch(config).unwrap()
}

/// Starts a watch and checks its first two events: OS watching, then the initial read.
pub(crate) async fn start_watching(config: WatchConfig, initial: Option<&[u8]>) -> Watcher {
    let mut watcher = start(config);
    match next_event(&mut watcher).await {
        WatchEvent::Mode(WatchMode::Watching) => {}
        other => panic!("expected the watching mode first, got {other:?}"),
    }
    match (next_event(&mut watcher).await, initial) {
        (WatchEvent::Changed { bytes, .. }, Some(initial)) => assert_eq!(&bytes[..], initial),
        (WatchEvent::Missing { .. }, None) => {}
        (other, _) => panic!("unexpected initial read {other:?}"),
    }
    watcher
}

pub(crate) async fn next_event(watcher: &mut Watcher) -> WatchEvent {
    tokio::time::timeout(WAIT, watcher.next())
        .await
        .expect("no event within the wait")
        .expect("the watch ended")
}

/// What may be seen on the way to an expected event besides allowed payloads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnTheWay {
    /// Nothing else: a `Missing`, `Unreadable` or mode change fails the test.
    Nothing,
    /// `Missing` events and mode changes too (non-atomic producers, directory removal).
    MissingAndModes,
}

/// Waits for a `Changed` with `expected` bytes. Every `Changed` on the way must be one of
/// `allowed` (complete versions): a torn or unknown payload fails the test. Returns the event's
/// resolved path.
pub(crate) async fn expect_bytes(
    watcher: &mut Watcher,
    expected: &[u8],
    allowed: &[Vec<u8>],
    on_the_way: OnTheWay,
) -> PathBuf {
    let deadline = Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, watcher.next())
            .await
            .unwrap_or_else(|_| panic!("expected bytes not seen: {}", preview(expected)))
            .expect("the watch ended");
        match event {
            WatchEvent::Changed { bytes, resolved, .. } => {
                if bytes == expected {
                    return resolved;
                }
                assert!(
                    allowed.iter().any(|allowed| allowed[..] == bytes[..]),
                    "emitted a payload that was never written whole: {}",
                    preview(&bytes)
                );
            }
            WatchEvent::Missing { .. } | WatchEvent::Mode(_)
                if on_the_way == OnTheWay::MissingAndModes => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Waits for `Missing`, allowing mode changes on the way when told.
pub(crate) async fn expect_missing(watcher: &mut Watcher, on_the_way: OnTheWay) {
    loop {
        match next_event(watcher).await {
            WatchEvent::Missing { .. } => return,
            WatchEvent::Mode(_) if on_the_way == OnTheWay::MissingAndModes => {}
            other => panic!("expected missing, got {other:?}"),
        }
    }
}

/// Waits for a mode matching `wanted`, allowing other mode changes on the way.
pub(crate) async fn expect_mode(watcher: &mut Watcher, wanted: impl Fn(&WatchMode) -> bool) {
    loop {
        match next_event(watcher).await {
            WatchEvent::Mode(mode) if wanted(&mode) => return,
            WatchEvent::Mode(_) => {}
            other => panic!("expected a mode change, got {other:?}"),
        }
    }
}

/// Asserts no event arrives for `quiet`.
pub(crate) async fn expect_no_event(watcher: &mut Watcher, quiet: Duration) {
    if let Ok(event) = tokio::time::timeout(quiet, watcher.next()).await {
        panic!("expected no event, got {event:?}");
    }
}

/// Writes a file through a temp name and an atomic rename, as careful producers do.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Points `link` at `target` atomically: a new symlink at a temp name renamed over the old one.
pub(crate) fn swap_symlink(link: &Path, target: &Path) {
    let temp = link.with_extension("swap");
    std::os::unix::fs::symlink(target, &temp).unwrap();
    std::fs::rename(&temp, link).unwrap();
}

/// Runs a shell command in `dir`, failing the test if it fails.
pub(crate) fn sh(dir: &Path, script: &str) {
    let status =
        std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap();
    assert!(status.success(), "`{script}` failed: {status}");
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let end = text.char_indices().nth(40).map_or(text.len(), |(index, _)| index);
    format!("{:?}… ({} bytes)", &text[..end], bytes.len())
}
