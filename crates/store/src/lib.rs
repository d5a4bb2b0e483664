//! The durable log of gitops-live on SQLite: the epoch, every published change, checkpoints of
//! the state, the report source's health, the action log, and the notification outbox, kept
//! across restarts.
//!
//! A [`Store`] owns one state directory (`gitops-live.db` in WAL mode, and a lock file naming
//! the process that holds it). The publishing thread appends each publish as one [`Batch`]: the
//! messages exactly as clients are sent them, each with its own sequence number following the
//! last one. The store adds a checkpoint (the whole report) every so many messages or bytes, so
//! that the state at any retained point is the nearest checkpoint plus a bounded replay.
//!
//! After a restart, [`Store::latest`] gives back the cursor, the state at it and the most recent
//! messages, so the hub resumes the same epoch and clients that bring their cursor get the
//! changes they missed instead of a snapshot. Other threads read and prune through a [`Handle`],
//! a second SQLite connection to the same file.
//!
//! How a publisher uses it:
//! - At start, [`Store::open`]; show [`Opened::notices`]. Take the epoch from
//!   [`Store::epoch`] and the state, cursor and recent history from [`Store::latest`]. An empty
//!   log starts with [`Batch::snapshot`] at sequence number 1.
//! - For each publish, encode the messages with the store's epoch and the next sequence numbers,
//!   [`Store::append`] them with the new report, and only then send them (write-ahead).
//! - If an append fails and serving goes on (a full disk), call [`Store::note_served`] before
//!   sending; once appends work again, append a [`Batch::snapshot`] at the current sequence
//!   number and carry on.
//! - Every few minutes, from another thread, [`Handle::prune`].
//!
//! Remediation actions are logged from any thread through a [`Handle`]: [`Handle::begin_action`]
//! before acting and [`Handle::finish_action`] after, or [`Handle::record_action`] for a preview
//! or a refusal. An action that was running when the process stopped is marked interrupted on
//! the next open ([`Notice::ActionsInterrupted`]).
//!
//! Notifications wait in the outbox until delivered, from any thread: [`Handle::enqueue`] a
//! payload per destination, take what is [`Handle::due`], and mark each [`Handle::delivered`] or
//! [`Handle::failed`] (to retry later, or as a dead letter). A restart loses nothing committed.
//! Small caller state lives in a key-value table ([`Handle::kv_get`], [`Handle::kv_set`]).
//!
//! ```
//! # fn main() -> Result<(), gitops_store::Error> {
//! use std::time::SystemTime;
//! use gitops_protocol::{encode_meta, Cursor};
//! use gitops_store::{Batch, HistoryLimit, Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().expect("a temp dir");
//! let gitops_store::Opened { mut store, .. } = Store::open(dir.path(), StoreConfig::default())?;
//! let first = gitops_report::generate_report(10, 1);
//! store.append(&Batch::snapshot(SystemTime::now(), 1, &first))?;
//!
//! let mut second = first.clone();
//! second.github_user = Some("bob".to_owned());
//! let changes = gitops_diff::diff(&first, &second);
//! let meta = changes.meta.expect("the user changed");
//! let message = encode_meta(Cursor::new(store.epoch(), 2), &meta);
//! store.append(&Batch::changes(SystemTime::now(), &[message], &second))?;
//!
//! let restored = store.latest(HistoryLimit::default())?.expect("two entries");
//! assert_eq!(restored.cursor.seq, 2);
//! assert!(gitops_diff::same_state(&restored.state, &second));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod actions;
mod append;
mod epochs;
mod error;
mod lock;
mod open;
mod outbox;
mod read;
mod replay;
mod retention;
mod schema;
mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gitops_protocol::{Cursor, Epoch};
use gitops_report::Report;
use rusqlite::Connection;

pub use actions::{
    ACTION_INTERRUPTED, ACTION_RUNNING, ActionEnd, ActionFilter, INTERRUPTED_SUMMARY,
    MAX_ACTION_TEXT_BYTES, NewAction, StoredAction, TRUNCATED_MARKER,
};
pub use append::{Appended, Batch};
pub use epochs::{EpochStart, Epochs};
pub use error::{Error, Result};
pub use outbox::{
    MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES, MAX_OUTBOX_ERROR_BYTES, MAX_OUTBOX_PAYLOAD_BYTES,
    OUTBOX_DEAD, OUTBOX_DELIVERED, OUTBOX_PENDING, OutboxFilter, OutboxItem,
};
pub use read::{
    ChangeKind, HistoryLimit, MessageKind, Publish, PublishKind, RepoEvent, Restored, SourceEvent,
    StoreStats, StoredMessage, TouchedRepo,
};
pub use retention::{PruneReport, RetentionPolicy};

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "gitops-live.db";
/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = lock::LOCK_FILE;
/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = schema::CURRENT;

/// How hard a commit works to reach the disk (SQLite's `synchronous`, in WAL mode).
///
/// Measured on the publish path (`cargo run --release -p gitops-store --example append_cost`,
/// see docs/operations.md): the choice is between surviving a process crash and surviving a
/// power cut without losing the last commits. Both keep the file consistent in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncLevel {
    /// `synchronous=NORMAL`: a commit is written to the WAL but not fsynced; the WAL is fsynced
    /// when it is checkpointed into the database. A killed or crashed process loses nothing; a
    /// power cut or kernel crash may lose the last commits (never consistency). The store notices
    /// such a reboot on the next open and starts a new epoch, so no client is ever answered from
    /// a log that lost what it was sent. The default: see [`StoreConfig::sync`].
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before `append` returns.
    Full,
}

/// Settings of a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The sync level of commits.
    ///
    /// The default is [`SyncLevel::Normal`]: in WAL mode it makes an append cost a write, not a
    /// write plus an fsync. Losing the last commits in a power cut costs each client one
    /// snapshot after the reboot (the store starts a new epoch when it sees the machine went
    /// down with the log open), while an fsync on every publish would delay every change to
    /// every client by a disk flush. See docs/operations.md for the figures.
    pub sync: SyncLevel,
    /// A checkpoint is written once this many messages have been appended since the last one.
    /// Default 10,000.
    pub checkpoint_every_messages: u64,
    /// A checkpoint is written once this many bytes of messages, or as many bytes as the last
    /// checkpoint if that is more, have been appended since the last one. Default 1 MiB.
    ///
    /// Scaling with the state keeps both costs in proportion whatever the report's size: the
    /// messages replayed to rebuild a state are never more than about one checkpoint's worth of
    /// JSON (so `state_at` costs at most about twice reading a checkpoint), and checkpoints take
    /// at most about as much room as the messages between them.
    pub checkpoint_every_bytes: u64,
    /// How long a statement waits for another connection's write (a prune) before failing with
    /// [`Error::Sqlite`] (busy). Default 5 s.
    pub busy_timeout: Duration,
    /// How long opening waits for the state directory's lock before [`Error::Locked`]. A short
    /// wait covers a child process being started in this process at the moment the store is
    /// reopened (it holds a copy of the lock until its exec). Default 500 ms.
    pub lock_wait: Duration,
    /// Run SQLite's `quick_check` when opening, so a damaged file is found and moved aside at
    /// start rather than failing later. It reads the whole file once. Default true.
    pub check_on_open: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sync: SyncLevel::Normal,
            checkpoint_every_messages: 10_000,
            checkpoint_every_bytes: 1 << 20,
            busy_timeout: Duration::from_secs(5),
            lock_wait: Duration::from_millis(500),
            check_on_open: true,
        }
    }
}

/// A store just opened, and what opening it found.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: Store,
    /// What the caller should tell the operator, in the order found; show the ones that
    /// [`Notice::is_alarming`] loudly.
    pub notices: Vec<Notice>,
}

/// Something opening the store found or did that the operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new database was created: first start, or the file was missing.
    Created {
        /// The database file.
        path: PathBuf,
    },
    /// The database was damaged; it was moved aside and a fresh one started with a new epoch.
    /// Every client gets a snapshot. Show this loudly.
    MovedAside {
        /// Where the damaged file is now (with its `-wal` beside it, if it had one).
        moved_to: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The lock file says a log was served up to `served`, but the database was missing or
    /// empty: it was deleted or replaced while the server was stopped. Show this loudly.
    LogLost {
        /// The last cursor the previous holder committed.
        served: Cursor,
    },
    /// The schema was upgraded.
    Migrated {
        /// The version found.
        from: u32,
        /// The version now.
        to: u32,
    },
    /// The previous holder stopped without closing the store (a crash or kill -9). Nothing
    /// committed was lost.
    UncleanStop {
        /// Its process id.
        pid: u32,
    },
    /// Actions were running when the previous holder stopped (a crash or kill -9); they were
    /// marked [`ACTION_INTERRUPTED`]. The repositories they acted on may be half-changed: show
    /// this loudly, so that an operator looks at them.
    ActionsInterrupted {
        /// How many.
        count: u64,
    },
    /// A new epoch was started, so every client gets one snapshot instead of a wrong catch-up.
    NewEpoch {
        /// The new epoch.
        epoch: Epoch,
        /// Why.
        reason: NewEpochReason,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Created { path } => write!(f, "a new log was created at {}", path.display()),
            Self::MovedAside { moved_to, reason } => write!(
                f,
                "the log was damaged ({reason}); it was moved to {} and a fresh one started: every client gets one snapshot",
                moved_to.display()
            ),
            Self::LogLost { served } => write!(
                f,
                "the log was deleted or replaced while stopped (it had served up to {served}); a fresh one was started"
            ),
            Self::Migrated { from, to } => {
                write!(f, "the log's schema was upgraded from {from} to {to}")
            }
            Self::UncleanStop { pid } => write!(
                f,
                "the previous server (pid {pid}) stopped without closing the log; nothing committed was lost"
            ),
            Self::ActionsInterrupted { count: 1 } => write!(
                f,
                "1 action was running when the previous server stopped; it is marked interrupted in the action log: check its repository"
            ),
            Self::ActionsInterrupted { count } => write!(
                f,
                "{count} actions were running when the previous server stopped; they are marked interrupted in the action log: check their repositories"
            ),
            Self::NewEpoch { epoch, reason: NewEpochReason::Behind { served, log } } => write!(
                f,
                "the log ends at {log} but clients were sent up to {served} (an older copy restored?): new epoch {epoch}, every client gets one snapshot"
            ),
            Self::NewEpoch { epoch, reason: NewEpochReason::UncleanReboot } => write!(
                f,
                "the machine went down with the log open, so its last commits may be lost: new epoch {epoch}, every client gets one snapshot"
            ),
        }
    }
}

impl Notice {
    /// Whether this should be shown loudly (a warning, and the status page): data was lost or
    /// set aside, or a repository may have been left half-changed.
    pub fn is_alarming(&self) -> bool {
        matches!(
            self,
            Self::MovedAside { .. }
                | Self::LogLost { .. }
                | Self::NewEpoch { .. }
                | Self::ActionsInterrupted { .. }
        )
    }
}

/// Why a store started a new epoch on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewEpochReason {
    /// The log ends before what was served: the database file was replaced by an older copy (a
    /// backup restored). Clients may hold cursors the log does not have.
    Behind {
        /// The last cursor the previous holder committed, from the lock file.
        served: Cursor,
        /// The last sequence number in the log.
        log: u64,
    },
    /// The machine went down with the log open and [`SyncLevel::Normal`]: the last commits may be
    /// lost while clients hold their cursors.
    UncleanReboot,
}

/// What a [`Store`] and its [`Handle`]s share: where the files are, the lock, the settings.
#[derive(Debug)]
struct Shared {
    db_path: PathBuf,
    config: StoreConfig,
    /// Held for as long as any store or handle is alive.
    lock: lock::Lock,
    /// Taken around every write transaction of this process's connections, so that an append
    /// waiting for a prune's chunk starts the moment the chunk commits, instead of at SQLite's
    /// next busy-handler poll (which sleeps up to tens of milliseconds).
    write_gate: std::sync::Mutex<()>,
}

/// The durable log of one state directory: the only writer of it. See the crate docs.
///
/// `Store` is `Send` but not `Sync`: it belongs to the publishing thread. Other threads use a
/// [`Handle`] from [`Store::handle`].
#[derive(Debug)]
pub struct Store {
    db: Db,
    epoch: Epoch,
    /// The last sequence number in the log, `None` while it is empty.
    last_seq: Option<u64>,
    /// What was appended since the last checkpoint; `None` with no checkpoint.
    since_checkpoint: Option<SinceCheckpoint>,
    /// Bytes appended since the WAL file's size was last looked at.
    wal_unchecked: u64,
}

/// What was appended since the last checkpoint, to decide when the next one is due.
#[derive(Debug, Clone, Copy, Default)]
struct SinceCheckpoint {
    /// Messages appended since.
    messages: u64,
    /// Bytes of those messages.
    bytes: u64,
    /// The size of the last checkpoint.
    checkpoint_size: u64,
}

/// A second connection to a store's database, for another thread: every query,
/// [`Handle::prune`], and the action log's writes. It keeps the state directory locked while
/// it lives.
///
/// `Handle` is `Send` but not `Sync` (one SQLite connection is used by one thread at a time):
/// threads that log actions concurrently each take a handle of their own, or share one behind a
/// `Mutex`. Writes from all of a process's connections take turns on the store's write gate.
#[derive(Debug)]
pub struct Handle {
    db: Db,
}

/// One connection and what it shares.
#[derive(Debug)]
struct Db {
    conn: Connection,
    shared: Arc<Shared>,
}

impl Store {
    /// Opens the store in `dir`, creating the directory and the database if missing.
    ///
    /// Takes the directory's lock (a second opener, in this process or another, gets
    /// [`Error::Locked`] naming the holder), brings the schema up to date, and checks the file.
    /// A damaged database is moved aside as `gitops-live.db.corrupt-<time>` and a fresh one
    /// started ([`Notice::MovedAside`]). Errors: [`Error::NotADirectory`], [`Error::NotWritable`],
    /// [`Error::Locked`], [`Error::NewerSchema`].
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Opened> {
        open::open(dir, config)
    }

    /// The epoch every message appended must carry. It is created on first open and kept
    /// after that, except when [`Notice::NewEpoch`] says otherwise.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The cursor of the last entry, or `None` while the log is empty.
    pub fn cursor(&self) -> Option<Cursor> {
        self.last_seq.map(|seq| Cursor::new(self.epoch, seq))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.shared.db_path
    }

    /// Records that clients were sent messages up to `served` although the log holds less:
    /// appends failed (a full disk) while serving went on. If the process then stops before the
    /// log catches up, the next open sees the log is behind what was served and starts a new
    /// epoch, so those sequence numbers are never reused for other changes under the same epoch.
    /// Call it before sending what could not be appended. It writes a few bytes in place in the
    /// lock file, which works on a full disk.
    pub fn note_served(&self, served: Cursor) {
        if served.epoch == self.epoch && self.last_seq.is_none_or(|last| served.seq > last) {
            self.db.shared.lock.write_head(served);
        }
    }

    /// Starts the log over in `epoch` (a new one, which the log has never held) with the whole
    /// state at `seq`, which must be above the log's last one.
    ///
    /// For a server that served on while appends failed: it moved its clients to a new epoch
    /// then, so no client holds a cursor of the log's epoch that the log lacks; once appends work
    /// again, the log follows it there. If the snapshot cannot be written after the epoch is,
    /// the call fails and the next one (or a plain [`Batch::snapshot`]) completes it.
    pub fn begin_epoch(
        &mut self,
        epoch: Epoch,
        time: SystemTime,
        seq: u64,
        state: &Report,
    ) -> Result<Appended> {
        if epoch != self.epoch {
            let reason = "the server served on under a new epoch while appends failed";
            open::start_epoch(&mut self.db.conn, epoch, seq, time, reason)
                .map_err(|e| error::from_sqlite(&self.db.shared.db_path, e))?;
            self.epoch = epoch;
        }
        self.append(&Batch::snapshot(time, seq, state))
    }

    /// A second connection for another thread.
    pub fn handle(&self) -> Result<Handle> {
        Ok(Handle { db: Db::connect(self.db.shared.clone())? })
    }

    /// Records an event of the report source's health (loaded, failed, recovered, watch mode),
    /// returning its id. `kind` is a short word chosen by the caller; `message` is for people.
    pub fn record_source_event(
        &mut self,
        time: SystemTime,
        kind: &str,
        message: &str,
    ) -> Result<u64> {
        self.db.record_source_event(time, kind, message)
    }

    /// See [`Handle::latest`].
    pub fn latest(&self, limit: HistoryLimit) -> Result<Option<Restored>> {
        self.db.latest(limit)
    }

    /// See [`Handle::state_at`].
    pub fn state_at(&self, seq: u64) -> Result<Report> {
        self.db.state_at(seq)
    }

    /// See [`Handle::messages`].
    pub fn messages(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredMessage>> {
        self.db.messages(after_seq, limit)
    }

    /// See [`Handle::publishes`].
    pub fn publishes(&self, before_seq: Option<u64>, limit: usize) -> Result<Vec<Publish>> {
        self.db.publishes(before_seq, limit)
    }

    /// See [`Handle::repo_history`].
    pub fn repo_history(
        &self,
        name: &str,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RepoEvent>> {
        self.db.repo_history(name, before_seq, limit)
    }

    /// See [`Handle::source_events`].
    pub fn source_events(&self, before_id: Option<u64>, limit: usize) -> Result<Vec<SourceEvent>> {
        self.db.source_events(before_id, limit)
    }

    /// See [`Handle::begin_action`].
    pub fn begin_action(&self, action: &NewAction) -> Result<u64> {
        self.db.begin_action(action)
    }

    /// See [`Handle::finish_action`].
    pub fn finish_action(&self, id: u64, end: &ActionEnd) -> Result<()> {
        self.db.finish_action(id, end)
    }

    /// See [`Handle::record_action`].
    pub fn record_action(&self, action: &NewAction, end: &ActionEnd) -> Result<u64> {
        self.db.record_action(action, end)
    }

    /// See [`Handle::actions`].
    pub fn actions(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: ActionFilter<'_>,
    ) -> Result<Vec<StoredAction>> {
        self.db.actions(before_id, limit, filter)
    }

    /// See [`Handle::action`].
    pub fn action(&self, id: u64) -> Result<Option<StoredAction>> {
        self.db.action(id)
    }

    /// See [`Handle::enqueue`].
    pub fn enqueue(&self, destination: &str, payload: &[u8], now: SystemTime) -> Result<u64> {
        self.db.enqueue(destination, payload, now)
    }

    /// See [`Handle::due`].
    pub fn due(&self, destination: &str, now: SystemTime, limit: usize) -> Result<Vec<OutboxItem>> {
        self.db.due(destination, now, limit)
    }

    /// See [`Handle::next_due`].
    pub fn next_due(&self, destination: &str) -> Result<Option<SystemTime>> {
        self.db.next_due(destination)
    }

    /// See [`Handle::delivered`].
    pub fn delivered(&self, id: u64, now: SystemTime) -> Result<()> {
        self.db.delivered(id, now)
    }

    /// See [`Handle::failed`].
    pub fn failed(
        &self,
        id: u64,
        error: &str,
        retry: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<()> {
        self.db.failed(id, error, retry, now)
    }

    /// See [`Handle::requeue`].
    pub fn requeue(&self, id: u64, now: SystemTime) -> Result<()> {
        self.db.requeue(id, now)
    }

    /// See [`Handle::outbox`].
    pub fn outbox(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: OutboxFilter<'_>,
    ) -> Result<Vec<OutboxItem>> {
        self.db.outbox(before_id, limit, filter)
    }

    /// See [`Handle::outbox_counts`].
    pub fn outbox_counts(&self) -> Result<BTreeMap<(String, String), u64>> {
        self.db.outbox_counts()
    }

    /// See [`Handle::kv_get`].
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.db.kv_get(key)
    }

    /// See [`Handle::kv_set`].
    pub fn kv_set(&self, key: &str, value: &str, now: SystemTime) -> Result<()> {
        self.db.kv_set(key, value, now)
    }

    /// See [`Handle::stats`].
    pub fn stats(&self) -> Result<StoreStats> {
        self.db.stats()
    }

    /// See [`Handle::prune`].
    pub fn prune(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<PruneReport> {
        self.db.prune(policy, now)
    }
}

impl Handle {
    /// The last cursor, the state at it, and the most recent messages within `limit`, so that a
    /// hub can rebuild its resume history after a restart; `None` while the log is empty.
    ///
    /// The messages are those after [`Restored::history_base`], contiguous up to the cursor;
    /// they never reach back past a snapshot entry or into an earlier epoch.
    pub fn latest(&self, limit: HistoryLimit) -> Result<Option<Restored>> {
        self.db.latest(limit)
    }

    /// The state after the message with sequence number `seq` (or at a snapshot's `seq`),
    /// rebuilt from the nearest checkpoint. [`Error::NotRetained`] when the log cannot.
    ///
    /// Repositories added after the checkpoint come last, as a client that applied the
    /// messages has them; compare states with `gitops_diff::same_state`.
    pub fn state_at(&self, seq: u64) -> Result<Report> {
        self.db.state_at(seq)
    }

    /// Up to `limit` messages with a sequence number above `after_seq`, in order. The points of
    /// a snapshot entry have no message, so the sequence numbers skip them. After a prune that
    /// was interrupted, the first ones may be older than the oldest point that can be rebuilt
    /// ([`StoreStats::oldest_seq`]); the next prune removes them.
    pub fn messages(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredMessage>> {
        self.db.messages(after_seq, limit)
    }

    /// Up to `limit` publishes that start before `before_seq` (all when `None`), newest first,
    /// each with the repositories it touched: a page of history.
    pub fn publishes(&self, before_seq: Option<u64>, limit: usize) -> Result<Vec<Publish>> {
        self.db.publishes(before_seq, limit)
    }

    /// Up to `limit` changes of the repositories named `name` before `before_seq`, newest first.
    pub fn repo_history(
        &self,
        name: &str,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RepoEvent>> {
        self.db.repo_history(name, before_seq, limit)
    }

    /// Up to `limit` source events with an id below `before_id` (all when `None`), newest first.
    pub fn source_events(&self, before_id: Option<u64>, limit: usize) -> Result<Vec<SourceEvent>> {
        self.db.source_events(before_id, limit)
    }

    /// Logs an action as it starts, before anything is done, and returns its id for
    /// [`Handle::finish_action`]. The row reads [`ACTION_RUNNING`] until then; if the process
    /// stops first, the next open marks it [`ACTION_INTERRUPTED`]. Texts longer than
    /// [`MAX_ACTION_TEXT_BYTES`] are cut.
    pub fn begin_action(&self, action: &NewAction) -> Result<u64> {
        self.db.begin_action(action)
    }

    /// Records how the action `id` (from [`Handle::begin_action`], on any connection) ended.
    /// [`Error::NoSuchAction`] when the log has no such action, [`Error::ActionFinished`] when
    /// it has ended already (or was marked interrupted on open); nothing is written then. Output
    /// and detail longer than [`MAX_ACTION_TEXT_BYTES`] are cut.
    pub fn finish_action(&self, id: u64, end: &ActionEnd) -> Result<()> {
        self.db.finish_action(id, end)
    }

    /// Logs an action that starts and ends at once (a preview, a refusal) in one write, and
    /// returns its id.
    pub fn record_action(&self, action: &NewAction, end: &ActionEnd) -> Result<u64> {
        self.db.record_action(action, end)
    }

    /// Up to `limit` actions with an id below `before_id` (all when `None`), newest first, that
    /// pass `filter`.
    pub fn actions(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: ActionFilter<'_>,
    ) -> Result<Vec<StoredAction>> {
        self.db.actions(before_id, limit, filter)
    }

    /// The action `id`, if the log still has it.
    pub fn action(&self, id: u64) -> Result<Option<StoredAction>> {
        self.db.action(id)
    }

    /// Keeps `payload` for `destination` in the outbox, pending and due at `now`, and returns its
    /// id. [`Error::TooLarge`] above [`MAX_OUTBOX_PAYLOAD_BYTES`], with nothing written.
    pub fn enqueue(&self, destination: &str, payload: &[u8], now: SystemTime) -> Result<u64> {
        self.db.enqueue(destination, payload, now)
    }

    /// Up to `limit` pending items for `destination` due at `now` (next attempt at or before
    /// it), oldest first.
    pub fn due(&self, destination: &str, now: SystemTime, limit: usize) -> Result<Vec<OutboxItem>> {
        self.db.due(destination, now, limit)
    }

    /// When the next pending item for `destination` is due (perhaps already), or `None` when
    /// none is pending.
    pub fn next_due(&self, destination: &str) -> Result<Option<SystemTime>> {
        self.db.next_due(destination)
    }

    /// Item `id` was delivered at `now`: it leaves the pending ones and stays in the delivery
    /// log until retention drops it. [`Error::NoSuchOutboxItem`] or [`Error::OutboxItemState`]
    /// (not pending) otherwise, with nothing written.
    pub fn delivered(&self, id: u64, now: SystemTime) -> Result<()> {
        self.db.delivered(id, now)
    }

    /// An attempt on item `id` failed with `error` at `now`: counts it and keeps the error (cut
    /// to [`MAX_OUTBOX_ERROR_BYTES`]), then either makes it due again at `retry` or, when `retry`
    /// is `None`, a dead letter. The same errors as [`Handle::delivered`].
    pub fn failed(
        &self,
        id: u64,
        error: &str,
        retry: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<()> {
        self.db.failed(id, error, retry, now)
    }

    /// Makes the dead letter `id` pending again, due at `now`, with its attempts back at 0 (its
    /// last error is kept): an operator's "retry". [`Error::NoSuchOutboxItem`], or
    /// [`Error::OutboxItemState`] when it is not dead, with nothing written.
    pub fn requeue(&self, id: u64, now: SystemTime) -> Result<()> {
        self.db.requeue(id, now)
    }

    /// Up to `limit` items of the outbox with an id below `before_id` (all when `None`), newest
    /// first, that pass `filter`: a page of the delivery log, or of the dead letters.
    pub fn outbox(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: OutboxFilter<'_>,
    ) -> Result<Vec<OutboxItem>> {
        self.db.outbox(before_id, limit, filter)
    }

    /// How many items the outbox holds, by destination and state (only the pairs it has), for
    /// metrics.
    pub fn outbox_counts(&self) -> Result<BTreeMap<(String, String), u64>> {
        self.db.outbox_counts()
    }

    /// The value kept under `key`, if any.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.db.kv_get(key)
    }

    /// Keeps `value` under `key`, replacing what was there. [`Error::TooLarge`] above
    /// [`MAX_KV_VALUE_BYTES`] (or a key above [`MAX_KV_KEY_BYTES`]), with nothing written.
    pub fn kv_set(&self, key: &str, value: &str, now: SystemTime) -> Result<()> {
        self.db.kv_set(key, value, now)
    }

    /// Counts and sizes, for metrics and the status page.
    pub fn stats(&self) -> Result<StoreStats> {
        self.db.stats()
    }

    /// Removes what `policy` no longer keeps, in short transactions so that appends on the
    /// store's own connection wait at most one of them, then folds the write-ahead log into the
    /// database without blocking appends (a passive WAL checkpoint). Run it from a background
    /// thread every few minutes: the store's own connection only folds the WAL when it passes
    /// 64 MiB, so that the publish path never pays for it in the normal case. Every point kept can still be rebuilt:
    /// history is cut at a checkpoint, never between a checkpoint and the messages after it, and
    /// the latest checkpoint with everything after it is always kept.
    pub fn prune(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<PruneReport> {
        self.db.prune(policy, now)
    }
}

impl Db {
    /// Opens another connection to the shared database, set up as the store's own.
    fn connect(shared: Arc<Shared>) -> Result<Self> {
        let conn = Connection::open(&shared.db_path)
            .map_err(|error| error::from_sqlite(&shared.db_path, error))?;
        open::configure(&conn, &shared.config)
            .map_err(|error| error::from_sqlite(&shared.db_path, error))?;
        Ok(Self { conn, shared })
    }

    fn path(&self) -> &Path {
        &self.shared.db_path
    }

    /// The write gate (see [`Shared::write_gate`]).
    fn gate(&self) -> std::sync::MutexGuard<'_, ()> {
        // The gate guards no data: a panic while it was held leaves nothing to repair.
        self.shared.write_gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sqlite(&self, error: rusqlite::Error) -> Error {
        error::from_sqlite(self.path(), error)
    }
}

// The store moves to the publishing thread and handles to others: a compile-time check.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Store>();
    send::<Handle>();
};
