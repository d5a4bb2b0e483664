//! The state directory: the durable log a server continues after a restart, and the feed built
//! on it.
//!
//! On start the store's epoch, its last state and its recent history become the hub's, so a
//! client that brings its cursor across an upgrade, a crash or a reboot gets what it missed (or
//! nothing, when nothing changed), not a snapshot. Every publish is appended before any client
//! sees it. A background thread prunes by the retention policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use gitops_feed::{Feed, FeedConfig, Log};
use gitops_hub::{Commit, Hub, HubConfig, Restore};
use gitops_store::{Batch, HistoryLimit, RetentionPolicy, Store, StoreConfig};

use crate::history::StoreHistory;

/// The kind of source event that names what the log is of (the report's path or the audit root).
const SERVING: &str = "serving";

/// Where a server keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateDir {
    /// In memory only (`--state-dir none`): every restart is a new epoch.
    Memory,
    /// A directory holding the log.
    Dir(PathBuf),
}

impl StateDir {
    /// The directory, unless the state is kept in memory.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::Memory => None,
            Self::Dir(dir) => Some(dir),
        }
    }

    /// `none`, a path, or (when not given) the per-user default: `$XDG_STATE_HOME/gitops-live`,
    /// else `~/.local/state/gitops-live`.
    pub(crate) fn from_arg(arg: Option<&str>) -> anyhow::Result<Self> {
        match arg.map(str::trim) {
            Some("none") => Ok(Self::Memory),
            Some("") => anyhow::bail!("--state-dir is empty: give a directory, or `none`"),
            Some(path) => Ok(Self::Dir(PathBuf::from(path))),
            None => default_dir().map(Self::Dir).context(
                "no state directory: neither XDG_STATE_HOME nor HOME is set; give --state-dir DIR or --state-dir none",
            ),
        }
    }
}

/// The per-user state directory (XDG Base Directory Specification).
fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = xdg.filter(|p| p.is_absolute()).or_else(|| {
        std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| Path::new(&home).join(".local/state"))
    })?;
    Some(base.join("gitops-live"))
}

/// A feed, and the thread that prunes its log (stopped when this is dropped).
pub(crate) struct Opened {
    pub(crate) feed: Arc<Feed>,
    _pruner: Option<Pruner>,
    action_log: Arc<dyn gitops_transport::ActionLog>,
    notify_queue: Arc<dyn crate::notifications::Queue>,
    /// The store, when it is not the feed's log (with `--engine`), kept open for its lock.
    _store: Option<Store>,
}

impl Opened {
    /// `feed` with nothing kept on disk (`--state-dir none`).
    fn in_memory(feed: Arc<Feed>) -> Self {
        Self {
            feed,
            _pruner: None,
            action_log: Arc::new(gitops_transport::MemoryActionLog::new()),
            notify_queue: Arc::new(crate::notifications::MemoryQueue::new()),
            _store: None,
        }
    }

    /// Where notifications wait for delivery: the store, or memory with `--state-dir none`.
    pub(crate) fn notify_queue(&self) -> Arc<dyn crate::notifications::Queue> {
        self.notify_queue.clone()
    }

    /// Where actions are logged: the store, or memory with `--state-dir none`.
    pub(crate) fn action_log(&self) -> Arc<dyn gitops_transport::ActionLog> {
        self.action_log.clone()
    }
}

/// Builds the feed for `dir`: in memory, or continuing the log kept there (into which, when it
/// is new, the old snapshots of `import` are imported first).
pub(crate) fn open_feed(
    dir: &StateDir,
    config: FeedConfig,
    import: Option<&crate::import::ImportFrom>,
) -> anyhow::Result<Opened> {
    let hub_config = HubConfig::default();
    let StateDir::Dir(dir) = dir else {
        return Ok(Opened::in_memory(Feed::new(Hub::new(hub_config), config)));
    };
    let (mut store, mut alarming) = open_store(dir)?;
    // A log of another report (or audit root) is not continued: its state would be served until
    // the first read and its history mixed with this one's.
    let previous_source = store
        // Health events come in between; retention keeps at most 10,000 of them.
        .source_events(None, 10_000)
        .context("reading the log's source events")?
        .into_iter()
        .find(|event| event.kind == SERVING)
        .map(|event| event.message);
    let other_source = previous_source.as_ref().filter(|previous| **previous != config.path);
    if let Some(previous) = other_source {
        tracing::info!(
            "state directory {}: its log is of {previous}, not {}; starting a new epoch",
            dir.display(),
            config.path
        );
    }
    if previous_source.as_deref() != Some(config.path.as_str()) {
        store
            .record_source_event(SystemTime::now(), SERVING, &config.path)
            .context("recording the source in the log")?;
    }
    if let Some(from) = import.filter(|_| other_source.is_none()) {
        let max_age = RetentionPolicy::default().max_age;
        crate::import::import(&mut store, from, &config.parse, max_age, SystemTime::now());
    }
    let limit = HistoryLimit {
        messages: hub_config.history_max_messages,
        bytes: hub_config.history_max_bytes,
    };
    let restored = match other_source {
        Some(_) => None,
        None => store.latest(limit).context("reading the log's last state")?,
    };
    let hub = match restored {
        Some(restored) => {
            let cursor = restored.cursor;
            let restore = Restore {
                epoch: cursor.epoch,
                base_seq: restored.history_base,
                base: restored.base_state,
                messages: restored.history.into_iter().map(|m| m.bytes).collect(),
            };
            match Hub::restore(&hub_config, restore) {
                Ok(hub) => {
                    tracing::info!(%cursor, "continuing the log in {}", dir.display());
                    hub
                }
                Err(error) => {
                    // A fresh epoch: the log follows it on the first publish (`begin_epoch`),
                    // and every client gets one snapshot.
                    let message = format!(
                        "the log's history cannot be replayed ({error}); starting a new epoch"
                    );
                    tracing::warn!("state directory {}: {message}", dir.display());
                    alarming.push(message);
                    Hub::new(HubConfig { start_seq: cursor.seq, ..hub_config })
                }
            }
        }
        // A new log continues its own epoch; a log of another source gets a new one.
        None if other_source.is_none() => {
            Hub::new(HubConfig { epoch: Some(store.epoch()), ..hub_config })
        }
        None => Hub::new(HubConfig {
            start_seq: store.cursor().map_or(0, |cursor| cursor.seq),
            ..hub_config
        }),
    };
    let history = StoreHistory::new(store.handle().context("a connection for history")?);
    let side = Side::of(&store)?;
    let log = StoreLog { store, needs_snapshot: false };
    let notice = (!alarming.is_empty()).then(|| alarming.join("; "));
    let feed = Feed::with_log(hub, config, Box::new(log), notice);
    feed.set_history(Arc::new(history));
    Ok(side.opened(feed, None))
}

/// Builds the feed for `serve --engine`: Redis is the log (the hub starts empty and follows the
/// stream; the source publishes only while this instance is the writer). The state directory
/// still keeps this instance's action log and notification queue; history is not served (the
/// stream in Redis is capped, and no instance holds all of it).
pub(crate) fn open_engine_feed(
    dir: &StateDir,
    config: FeedConfig,
    engine: &crate::engine::Engine,
) -> anyhow::Result<Opened> {
    let log = gitops_engine::RedisLog::new(engine.engine.clone(), engine.lease.clone());
    let feed = Feed::with_log(Hub::new(HubConfig::default()), config, Box::new(log), None);
    let gate = engine.gate.clone();
    feed.set_publish_gate(Arc::new(move || gate.may_publish()));
    let StateDir::Dir(dir) = dir else { return Ok(Opened::in_memory(feed)) };
    let (store, _) = open_store(dir)?;
    let side = Side::of(&store)?;
    Ok(side.opened(feed, Some(store)))
}

/// Opens the store in `dir` and logs what opening it found; the alarming notices are returned
/// for the status.
fn open_store(dir: &Path) -> anyhow::Result<(Store, Vec<String>)> {
    let opened = Store::open(dir, StoreConfig::default())
        .with_context(|| format!("opening the state directory {}", dir.display()))?;
    let mut alarming = Vec::new();
    for notice in &opened.notices {
        if notice.is_alarming() {
            tracing::warn!("state directory {}: {notice}", dir.display());
            alarming.push(notice.to_string());
        } else {
            tracing::info!("state directory {}: {notice}", dir.display());
        }
    }
    Ok((opened.store, alarming))
}

/// What the state directory keeps besides the feed's log: its pruning, the action log and the
/// notification queue, each on a connection of its own.
struct Side {
    pruner: Pruner,
    action_log: Arc<dyn gitops_transport::ActionLog>,
    notify_queue: Arc<dyn crate::notifications::Queue>,
}

impl Side {
    fn of(store: &Store) -> anyhow::Result<Self> {
        Ok(Self {
            pruner: Pruner::start(store.handle().context("a connection for pruning")?),
            action_log: Arc::new(crate::action_log::StoreActionLog::new(
                store.handle().context("a connection for the action log")?,
            )),
            notify_queue: Arc::new(crate::outbox::StoreQueue::new(
                store.handle().context("a connection for notifications")?,
            )),
        })
    }

    fn opened(self, feed: Arc<Feed>, store: Option<Store>) -> Opened {
        Opened {
            feed,
            _pruner: Some(self.pruner),
            action_log: self.action_log,
            notify_queue: self.notify_queue,
            _store: store,
        }
    }
}

/// The store as the feed's log.
struct StoreLog {
    store: Store,
    /// An append failed: the next commit writes the whole state (under the hub's epoch, which
    /// moved on when the failure happened) instead of messages that would not follow the log.
    needs_snapshot: bool,
}

impl Log for StoreLog {
    fn location(&self) -> String {
        self.store.path().display().to_string()
    }

    fn record_source_event(&mut self, kind: &str, message: &str) {
        if let Err(error) = self.store.record_source_event(SystemTime::now(), kind, message) {
            tracing::debug!(%error, "the log cannot keep a source event");
        }
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), String> {
        let now = SystemTime::now();
        let last_seq = commit.first_seq + (commit.messages.len() as u64).saturating_sub(1);
        let result = if commit.epoch != self.store.epoch() {
            self.store.begin_epoch(commit.epoch, now, last_seq, commit.state)
        } else if self.needs_snapshot || commit.messages.is_empty() {
            self.store.append(&Batch::snapshot(now, last_seq, commit.state))
        } else {
            self.store.append(&Batch::changes(now, commit.messages, commit.state))
        };
        match result {
            Ok(_) => {
                self.needs_snapshot = false;
                Ok(())
            }
            Err(error) => {
                self.needs_snapshot = true;
                Err(error.to_string())
            }
        }
    }
}

/// How often the log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// A thread that prunes the log by the default retention policy every [`PRUNE_EVERY`], the first
/// time one period after start (not during a start's reconnect storm); it ends when dropped.
struct Pruner {
    stop: Option<mpsc::Sender<()>>,
}

impl Pruner {
    fn start(handle: gitops_store::Handle) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned =
            std::thread::Builder::new().name("gitops-live-prune".into()).spawn(move || {
                let mut wait = Duration::from_secs(60);
                // A message or a closed channel both mean stop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    match handle.prune(&RetentionPolicy::default(), SystemTime::now()) {
                        Ok(report)
                            if report.messages
                                + report.checkpoints
                                + report.source_events
                                + report.actions
                                > 0 =>
                        {
                            tracing::info!(?report, "pruned the log")
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(%error, "pruning the log failed; trying again later")
                        }
                    }
                    wait = PRUNE_EVERY;
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the pruning thread; the log is not pruned");
        }
        Self { stop: Some(stop) }
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dir_is_none_a_path_or_the_per_user_default() {
        assert_eq!(StateDir::from_arg(Some("none")).unwrap_or(StateDir::Memory), StateDir::Memory);
        assert_eq!(
            StateDir::from_arg(Some("/var/lib/gitops-live")).ok(),
            Some(StateDir::Dir(PathBuf::from("/var/lib/gitops-live")))
        );
        assert!(StateDir::from_arg(Some(" ")).is_err());
        if let Some(dir) = default_dir() {
            assert!(dir.ends_with("gitops-live") && dir.is_absolute(), "{}", dir.display());
        }
    }
}
