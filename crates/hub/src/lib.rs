//! Versioned report state and fan-out to subscribers, with never-failing resume.
//!
//! The [`Hub`] holds the current report, its [`Cursor`] and a bounded history of the messages that
//! led to it. [`Hub::publish`] diffs a new report against the current one, encodes each change once
//! and queues the shared bytes for every [`Subscription`].
//!
//! The promises, each enforced here rather than in the transports:
//! - **Resume never fails.** A subscriber that brings a cursor gets exactly one of: the missed
//!   messages in order, one merged `catch-up`, or a snapshot ([`Answer`]). Never a gap or a duplicate.
//! - **Slow subscribers cannot hurt others.** Each queue is bounded in bytes. A subscriber whose
//!   queue would overflow has it dropped and is marked lagging; when it next reads it gets one
//!   `catch-up` (or snapshot) to the newest state, computed then. One still lagging after
//!   [`HubConfig::stall_timeout`] is closed with [`CloseReason::Stalled`] and resumes on reconnect.
//!
//! The core is synchronous and has no sockets or timers; a [`Subscription`] can be read with
//! [`Subscription::try_next`] (sync) or [`Subscription::next`] (async, woken by a `Notify`).
#![warn(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gitops_diff::{Changes, RepoChange, RepoChangeKind, change_between, diff, meta_of};
use gitops_protocol::{
    Cursor, Epoch, encode_audit_update, encode_catch_up, encode_meta, encode_repo_change,
};
use gitops_report::{Repo, Report};
use tokio::sync::Notify;

/// Limits and policies of a [`Hub`].
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The most messages kept for resume.
    pub history_max_messages: usize,
    /// The most bytes the resume history may hold: its encoded messages and the repository
    /// states it keeps for catch-ups.
    pub history_max_bytes: usize,
    /// The most bytes queued for one subscriber before its queue is conflated. A single message
    /// larger than this (a big snapshot) is still accepted into an empty queue.
    pub queue_max_bytes: usize,
    /// Missed messages totalling at most this many bytes are replayed as they are, without
    /// trying to merge them.
    pub replay_max_bytes: usize,
    /// How long a lagging subscriber may go without reading before it is closed.
    pub stall_timeout: Duration,
    /// The most control messages (pongs, errors) queued for one subscriber; older ones are dropped.
    pub control_queue_max: usize,
    /// The epoch to use; `None` picks a random one (tests pin it).
    pub epoch: Option<Epoch>,
    /// The seq the first state follows (it gets `start_seq + 1`): above everything a log
    /// already holds, when a hub starts a new epoch over an existing log.
    pub start_seq: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_max_messages: 4096,
            history_max_bytes: 16 << 20,
            queue_max_bytes: 256 << 10,
            replay_max_bytes: 16 << 10,
            stall_timeout: Duration::from_secs(30),
            control_queue_max: 16,
            epoch: None,
            start_seq: 0,
        }
    }
}

/// What [`Hub::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The first report of this epoch; subscribers waiting for data got a snapshot.
    First {
        /// The new cursor.
        cursor: Cursor,
    },
    /// Messages were published.
    Changed {
        /// The new cursor.
        cursor: Cursor,
        /// How many messages (repo changes plus at most one health update).
        messages: usize,
        /// Their total size in bytes, as sent to each subscriber.
        bytes: usize,
    },
    /// The new report equals the current one; nothing was sent.
    Unchanged,
}

/// What a publish hands its log before any subscriber can see it (write-ahead): see
/// [`Hub::publish_with`].
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The epoch of the messages.
    pub epoch: Epoch,
    /// The seq of the first message; for the first state of an epoch, the seq of that state.
    pub first_seq: u64,
    /// The encoded messages, in seq order, exactly as subscribers will get them; empty for the
    /// first state of an epoch (a snapshot: the log keeps `state` itself).
    pub messages: &'a [Bytes],
    /// The state after them.
    pub state: &'a Report,
}

/// A hub's state as a log kept it, to start a hub where a previous one stopped.
#[derive(Debug, Clone)]
pub struct Restore {
    /// The epoch to continue.
    pub epoch: Epoch,
    /// The seq of `base`.
    pub base_seq: u64,
    /// The state at `base_seq`: the start of the resume history.
    pub base: Report,
    /// The messages after `base_seq`, in seq order and without gaps, as they were sent.
    pub messages: Vec<Bytes>,
}

/// Why a [`Restore`] could not be used; the caller should start a fresh epoch instead.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A message could not be read back.
    #[error("message {seq} cannot be decoded: {reason}")]
    Undecodable {
        /// The message's expected seq.
        seq: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// A message is not where its seq says, belongs to another epoch, or is not a change.
    #[error("message {seq} does not continue the log: {reason}")]
    OutOfOrder {
        /// The expected seq.
        seq: u64,
        /// What was found instead.
        reason: String,
    },
    /// A change does not apply to the state it follows.
    #[error("message {seq} does not apply: {reason}")]
    DoesNotApply {
        /// The seq of the change.
        seq: u64,
        /// The diff crate's reason.
        reason: String,
    },
}

/// How a subscriber was brought up to date when it subscribed, resumed or caught up after lagging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// It was already at the current state.
    UpToDate,
    /// The missed messages, replayed in order.
    Replay,
    /// One merged `catch-up`.
    CatchUp,
    /// One `audit-update` snapshot.
    Snapshot,
    /// No report has loaded yet; the snapshot comes when one does.
    Waiting,
}

/// The messages that take a subscriber from a cursor to now.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Which of the resume outcomes this is.
    pub kind: AnswerKind,
    /// The messages, in order, each with the seq it brings the subscriber to.
    pub messages: Vec<Bytes>,
    /// The cursor the subscriber is at after applying them (`None` while waiting).
    pub cursor: Option<Cursor>,
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The subscriber lagged and did not read for longer than the stall timeout.
    Stalled,
    /// The hub is shutting down.
    Shutdown,
}

/// One item read from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A message to send.
    Message(Delivery),
    /// Nothing queued now.
    Empty,
    /// The subscription was closed by the hub.
    Closed(CloseReason),
}

/// A message to send to one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The encoded message, shared with every other subscriber that gets it.
    pub bytes: Bytes,
    /// What kind of message it is.
    pub kind: DeliveryKind,
    /// The cursor the subscriber is at once it has this message (state-bearing messages only).
    pub cursor: Option<Cursor>,
}

/// What kind of message a [`Delivery`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// A live change, as published.
    Live,
    /// Part of an answer to a subscribe, resume or lag.
    Answer(AnswerKind),
    /// A `connection-status`.
    Status,
    /// A control message (pong, error) pushed with [`Subscription::push_control`].
    Control,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Live subscribers.
    pub subscribers: u64,
    /// Messages published.
    pub messages_published: u64,
    /// Answers given, by kind: up to date, replay, catch-up, snapshot.
    pub answers_up_to_date: u64,
    /// See `answers_up_to_date`.
    pub answers_replay: u64,
    /// See `answers_up_to_date`.
    pub answers_catch_up: u64,
    /// See `answers_up_to_date`.
    pub answers_snapshot: u64,
    /// Times a subscriber's queue overflowed and was conflated.
    pub conflations: u64,
    /// Subscribers closed for stalling.
    pub stalls: u64,
}

/// One published message kept for resume.
#[derive(Debug)]
struct Entry {
    seq: u64,
    bytes: Bytes,
    delta: Delta,
    /// What this entry holds in memory, counted against [`HubConfig::history_max_bytes`]: the
    /// encoded message and the `before` repository it keeps. Counting only the message let a
    /// repository with one large field, flipping status, grow the history by megabytes per flip
    /// under a budget that saw a few hundred bytes each.
    cost: usize,
}

impl Entry {
    fn new(seq: u64, bytes: Bytes, delta: Delta) -> Self {
        let kept = match &delta {
            Delta::Repo { before: Some(before), .. } => repo_heap_bytes(before),
            Delta::Repo { before: None, .. } => 0,
            Delta::Meta(keys) => keys.iter().map(|k| k.capacity() + size_of::<String>()).sum(),
        };
        let cost = size_of::<Self>() + bytes.len() + kept;
        Self { seq, bytes, delta, cost }
    }
}

/// Roughly what `repo` holds on the heap: its box, its strings and its JSON values with their
/// map nodes. An estimate that errs on the high side, so the budget bounds real memory.
fn repo_heap_bytes(repo: &Repo) -> usize {
    fn string(s: &str) -> usize {
        s.len()
    }
    fn option(s: Option<&String>) -> usize {
        s.map_or(0, |s| string(s))
    }
    fn value(v: &serde_json::Value) -> usize {
        size_of::<serde_json::Value>()
            + match v {
                serde_json::Value::String(s) => string(s),
                serde_json::Value::Array(items) => items.iter().map(value).sum(),
                serde_json::Value::Object(map) => object(map),
                _ => 0,
            }
    }
    fn object(map: &serde_json::Map<String, serde_json::Value>) -> usize {
        // A B-tree entry costs its key and value plus a share of its node (~2 words).
        map.iter().map(|(k, v)| size_of::<String>() + string(k) + value(v) + 16).sum()
    }
    let status = match &repo.status {
        gitops_report::Status::Other(s) => string(s),
        _ => 0,
    };
    let file_status = match &repo.file_status {
        Some(gitops_report::FileStatus::Other(s)) => string(s),
        _ => 0,
    };
    size_of::<Repo>()
        + string(&repo.name)
        + status
        + file_status
        + option(repo.clone_url.as_ref())
        + option(repo.local_path.as_ref())
        + option(repo.remote_url.as_ref())
        + option(repo.expected_url.as_ref())
        + option(repo.dashboard_link.as_ref())
        + option(repo.mitigation.as_ref())
        + object(&repo.extra)
}

/// What one history entry changed, kept so a catch-up can be computed without old states.
#[derive(Debug)]
enum Delta {
    /// A repository changed; `before` is the repository just before this change (`None` when it
    /// was added). The first `before` of a key within a resume range is its state at the cursor.
    Repo { name: String, dup: u32, before: Option<Box<Repo>> },
    /// These top-level fields changed.
    Meta(Vec<String>),
}

#[derive(Debug)]
struct Slot {
    queue: VecDeque<Delivery>,
    queued_bytes: usize,
    /// The seq of the last state-bearing message this subscriber read, in the hub's epoch.
    consumed: Option<u64>,
    lagging_since: Option<Instant>,
    status_pending: bool,
    control: VecDeque<Bytes>,
    closed: Option<CloseReason>,
    notify: Arc<Notify>,
}

impl Slot {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            queued_bytes: 0,
            consumed: None,
            lagging_since: None,
            status_pending: false,
            control: VecDeque::new(),
            closed: None,
            notify: Arc::new(Notify::new()),
        }
    }

    fn replace_queue(&mut self, answer: &Answer) {
        self.queue.clear();
        self.queued_bytes = 0;
        let n = answer.messages.len();
        for (i, bytes) in answer.messages.iter().enumerate() {
            // Each replayed message brings the subscriber one seq further; the last (or only)
            // message of any answer brings it to the answer's cursor.
            let cursor = answer.cursor.map(|c| Cursor::new(c.epoch, c.seq - (n - 1 - i) as u64));
            self.queued_bytes += bytes.len();
            self.queue.push_back(Delivery {
                bytes: bytes.clone(),
                kind: DeliveryKind::Answer(answer.kind),
                cursor,
            });
        }
    }
}

#[derive(Debug)]
struct Inner {
    epoch: Epoch,
    seq: u64,
    /// History covers the messages with seq in `(base_seq, seq]`.
    base_seq: u64,
    state: Option<Arc<Report>>,
    snapshot: Option<Bytes>,
    history: VecDeque<Entry>,
    history_bytes: usize,
    /// Answers computed since the last publish, by the seq they start from.
    answers: HashMap<u64, Answer>,
    status: Option<Bytes>,
    slots: HashMap<u64, Slot, SlotIdHash>,
    next_slot_id: u64,
    stats: HubStats,
}

/// The versioned state and its subscribers. Share it as `Arc<Hub>`.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    inner: Mutex<Inner>,
    /// Serialises publishers so the diff can run outside the state lock.
    publish_lock: Mutex<()>,
    published_bytes: AtomicU64,
}

impl Hub {
    /// Makes an empty hub: no report yet, a fresh epoch.
    pub fn new(config: HubConfig) -> Arc<Self> {
        let epoch = config.epoch.unwrap_or_else(random_epoch);
        let start_seq = config.start_seq;
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner {
                epoch,
                seq: start_seq,
                base_seq: start_seq,
                state: None,
                snapshot: None,
                history: VecDeque::new(),
                history_bytes: 0,
                answers: HashMap::new(),
                status: None,
                slots: HashMap::default(),
                next_slot_id: 0,
                stats: HubStats::default(),
            }),
            publish_lock: Mutex::new(()),
            published_bytes: AtomicU64::new(0),
        })
    }

    /// This hub's epoch.
    pub fn epoch(&self) -> Epoch {
        self.lock().epoch
    }

    /// The current cursor, or `None` before the first report.
    pub fn cursor(&self) -> Option<Cursor> {
        let inner = self.lock();
        inner.state.as_ref().map(|_| Cursor::new(inner.epoch, inner.seq))
    }

    /// The current report and its cursor.
    pub fn current(&self) -> Option<(Cursor, Arc<Report>)> {
        let inner = self.lock();
        inner.state.clone().map(|state| (Cursor::new(inner.epoch, inner.seq), state))
    }

    /// The current state as an encoded `audit-update`, cached until the next publish.
    pub fn snapshot(&self) -> Option<(Cursor, Bytes)> {
        let mut inner = self.lock();
        let bytes = inner.snapshot_bytes()?;
        Some((Cursor::new(inner.epoch, inner.seq), bytes))
    }

    /// Counters for metrics.
    pub fn stats(&self) -> HubStats {
        let inner = self.lock();
        HubStats { subscribers: inner.slots.len() as u64, ..inner.stats }
    }

    /// Total bytes of messages queued to subscribers since the hub started (each copy counted).
    pub fn published_bytes(&self) -> u64 {
        self.published_bytes.load(Ordering::Relaxed)
    }

    /// Makes `new` the current report and sends what changed to every subscriber.
    ///
    /// The diff runs without holding the state lock, so subscribers keep reading meanwhile.
    pub fn publish(&self, new: Report) -> Published {
        self.publish_with(new, |_| true)
    }

    /// [`Hub::publish`] with a write-ahead log: `commit` is given the encoded messages before
    /// any subscriber can see them, and says whether the log kept them.
    ///
    /// When it did not (a full disk, a broken database), the state is still published, so live
    /// serving goes on, but under a new epoch, as that epoch's first state: no subscriber then
    /// holds a cursor of the log's epoch that the log lacks, and after a restart from the log
    /// every such subscriber gets a snapshot instead of a wrong catch-up. Seqs keep counting up
    /// across the change of epoch.
    pub fn publish_with(&self, new: Report, commit: impl FnOnce(&Commit<'_>) -> bool) -> Published {
        let _publisher = self.publish_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (old, epoch, seq) = {
            let inner = self.lock();
            (inner.state.clone(), inner.epoch, inner.seq)
        };
        let Some(old) = old else {
            let committed =
                commit(&Commit { epoch, first_seq: seq + 1, messages: &[], state: &new });
            let epoch = if committed { epoch } else { random_epoch() };
            return self.publish_first(new, epoch, seq + 1);
        };
        let changes = diff(&old, &new);
        if changes.is_empty() {
            return Published::Unchanged;
        }

        // Encode every message once, outside the state lock (publishers are serialised, so the
        // epoch and seq read above stay current); all subscribers share these bytes. Each change
        // remembers the repository it replaced, for catch-ups (see `Delta`).
        let old_by_key = index_by_key(&old.repos);
        let first_seq = seq + 1;
        let mut entries = Vec::with_capacity(changes.repos.len() + 1);
        let Changes { repos, meta } = changes;
        for (i, change) in repos.into_iter().enumerate() {
            let seq = first_seq + i as u64;
            let bytes = encode_repo_change(Cursor::new(epoch, seq), &change);
            let before = match change.kind {
                RepoChangeKind::Added { .. } => None,
                _ => old_by_key
                    .get(&(change.name.as_str(), change.dup))
                    .map(|repo| Box::new((*repo).clone())),
            };
            entries.push(Entry::new(
                seq,
                bytes,
                Delta::Repo { name: change.name, dup: change.dup, before },
            ));
        }
        if let Some(meta) = meta {
            let seq = first_seq + entries.len() as u64;
            let bytes = encode_meta(Cursor::new(epoch, seq), &meta);
            entries.push(Entry::new(seq, bytes, Delta::Meta(meta.keys().cloned().collect())));
        }
        let n_messages = entries.len();
        let last_seq = first_seq + n_messages as u64 - 1;
        let messages: Vec<Bytes> = entries.iter().map(|e| e.bytes.clone()).collect();
        if !commit(&Commit { epoch, first_seq, messages: &messages, state: &new }) {
            drop(messages);
            return self.publish_first(new, random_epoch(), last_seq);
        }
        drop(messages);
        let total_bytes: usize = entries.iter().map(|e| e.bytes.len()).sum();

        let mut inner = self.lock();
        inner.seq = last_seq;
        inner.state = Some(Arc::new(new));
        inner.snapshot = None;
        inner.answers.clear();
        inner.stats.messages_published += n_messages as u64;

        let now = Instant::now();
        let queue_max = self.config.queue_max_bytes;
        let stall_timeout = self.config.stall_timeout;
        let mut delivered = 0u64;
        let mut conflations = 0u64;
        let mut stalls = 0u64;
        for slot in inner.slots.values_mut() {
            if slot.closed.is_some() {
                continue;
            }
            if let Some(since) = slot.lagging_since {
                if now.duration_since(since) > stall_timeout {
                    slot.closed = Some(CloseReason::Stalled);
                    slot.queue.clear();
                    slot.queued_bytes = 0;
                    stalls += 1;
                    slot.notify.notify_one();
                }
                continue;
            }
            if slot.consumed.is_none() && slot.queue.is_empty() {
                // Subscribed before the first report and has not read its snapshot yet:
                // it will be answered with a snapshot when it reads.
                slot.lagging_since = Some(now);
                slot.notify.notify_one();
                continue;
            }
            if !slot.queue.is_empty() && slot.queued_bytes + total_bytes > queue_max {
                slot.queue.clear();
                slot.queued_bytes = 0;
                slot.lagging_since = Some(now);
                conflations += 1;
                slot.notify.notify_one();
                continue;
            }
            for entry in &entries {
                slot.queue.push_back(Delivery {
                    bytes: entry.bytes.clone(),
                    kind: DeliveryKind::Live,
                    cursor: Some(Cursor::new(epoch, entry.seq)),
                });
            }
            slot.queued_bytes += total_bytes;
            delivered += total_bytes as u64;
            slot.notify.notify_one();
        }
        inner.stats.conflations += conflations;
        inner.stats.stalls += stalls;
        self.published_bytes.fetch_add(delivered, Ordering::Relaxed);

        for entry in entries {
            inner.history_bytes += entry.cost;
            inner.history.push_back(entry);
        }
        inner.trim_history(&self.config);

        Published::Changed {
            cursor: Cursor::new(epoch, inner.seq),
            messages: n_messages,
            bytes: total_bytes,
        }
    }

    /// Makes `new` the first state of `epoch`, at `seq`: every subscriber is answered with a
    /// snapshot when it next reads (encoded once, and only if someone reads it).
    fn publish_first(&self, new: Report, epoch: Epoch, seq: u64) -> Published {
        let mut inner = self.lock();
        inner.epoch = epoch;
        inner.seq = seq;
        inner.base_seq = seq;
        inner.history.clear();
        inner.history_bytes = 0;
        inner.state = Some(Arc::new(new));
        inner.snapshot = None;
        inner.answers.clear();
        let cursor = Cursor::new(epoch, seq);
        let now = Instant::now();
        for slot in inner.slots.values_mut() {
            slot.lagging_since = Some(now);
            slot.notify.notify_one();
        }
        Published::First { cursor }
    }

    /// A hub that continues where a log left off: `restore`'s epoch, its state and its resume
    /// history rebuilt by replaying its messages, so a subscriber that brings a cursor from
    /// before the restart gets what it missed, not a snapshot.
    pub fn restore(config: &HubConfig, restore: Restore) -> Result<Arc<Self>, RestoreError> {
        let Restore { epoch, base_seq, base, messages } = restore;
        let mut state = base;
        let mut history = VecDeque::with_capacity(messages.len());
        let mut seq = base_seq;
        for bytes in messages {
            seq += 1;
            let message = gitops_protocol::ServerMessage::decode(&bytes)
                .map_err(|e| RestoreError::Undecodable { seq, reason: e.to_string() })?;
            let found = message.cursor();
            if found != Some(Cursor::new(epoch, seq)) {
                let reason = format!("found {found:?}");
                return Err(RestoreError::OutOfOrder { seq, reason });
            }
            let delta = match message {
                gitops_protocol::ServerMessage::RepoStatusChange { data: change, .. } => {
                    let before = match change.kind {
                        RepoChangeKind::Added { .. } => None,
                        _ => index_by_key(&state.repos)
                            .get(&(change.name.as_str(), change.dup))
                            .map(|repo| Box::new((*repo).clone())),
                    };
                    gitops_diff::apply_repo_change(&mut state, &change)
                        .map_err(|e| RestoreError::DoesNotApply { seq, reason: e.to_string() })?;
                    Delta::Repo { name: change.name, dup: change.dup, before }
                }
                gitops_protocol::ServerMessage::HealthMetricsUpdate { data: meta, .. } => {
                    let keys = meta.keys().cloned().collect();
                    let changes = Changes { repos: Vec::new(), meta: Some(meta) };
                    gitops_diff::apply_in_place(&mut state, &changes)
                        .map_err(|e| RestoreError::DoesNotApply { seq, reason: e.to_string() })?;
                    Delta::Meta(keys)
                }
                other => {
                    let reason = format!("a {other:?} is not a logged change");
                    return Err(RestoreError::OutOfOrder { seq, reason });
                }
            };
            history.push_back(Entry::new(seq, bytes, delta));
        }
        let hub = Self::new(HubConfig { epoch: Some(epoch), ..config.clone() });
        let mut inner = hub.lock();
        inner.seq = seq;
        inner.base_seq = base_seq;
        inner.history_bytes = history.iter().map(|e| e.cost).sum();
        inner.history = history;
        inner.state = Some(Arc::new(state));
        inner.trim_history(&hub.config);
        drop(inner);
        Ok(hub)
    }

    /// Sets the `connection-status` message; every subscriber gets the latest one once.
    pub fn set_status(&self, status: Bytes) {
        let mut inner = self.lock();
        inner.status = Some(status);
        for slot in inner.slots.values_mut() {
            slot.status_pending = true;
            slot.notify.notify_one();
        }
    }

    /// The messages that take a client at `since` to the current state, without subscribing
    /// (long-poll and SSE use it through [`Hub::subscribe`]; tests and tools may call it directly).
    pub fn answer(&self, since: Option<Cursor>) -> Answer {
        let mut inner = self.lock();
        inner.answer(since, &self.config)
    }

    /// Adds a subscriber that starts from `since` (or from nothing: it gets a snapshot).
    pub fn subscribe(self: &Arc<Self>, since: Option<Cursor>) -> Subscription {
        let mut inner = self.lock();
        let id = inner.next_slot_id;
        inner.next_slot_id += 1;
        let mut slot = Slot::new();
        slot.status_pending = inner.status.is_some();
        let answer = inner.answer(since, &self.config);
        slot.consumed =
            since.filter(|c| c.epoch == inner.epoch && c.seq <= inner.seq).map(|c| c.seq);
        if answer.kind == AnswerKind::Waiting {
            slot.consumed = None;
        } else {
            slot.replace_queue(&answer);
        }
        let notify = slot.notify.clone();
        inner.slots.insert(id, slot);
        Subscription { hub: self.clone(), id, notify }
    }

    /// Closes every subscription with `reason` (for graceful shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        let mut inner = self.lock();
        for slot in inner.slots.values_mut() {
            slot.closed = Some(reason);
            slot.notify.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would leave counters, not invariants, half-updated:
        // every mutation of the queues completes before anything can panic.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn snapshot_bytes(&mut self) -> Option<Bytes> {
        if self.snapshot.is_none() {
            let state = self.state.as_ref()?;
            self.snapshot = Some(encode_audit_update(Cursor::new(self.epoch, self.seq), state));
        }
        self.snapshot.clone()
    }

    fn answer(&mut self, since: Option<Cursor>, config: &HubConfig) -> Answer {
        let epoch = self.epoch;
        let now = Cursor::new(epoch, self.seq);
        if self.state.is_none() {
            return Answer { kind: AnswerKind::Waiting, messages: Vec::new(), cursor: None };
        }
        let resumable =
            since.filter(|c| c.epoch == epoch && c.seq >= self.base_seq && c.seq <= self.seq);
        let Some(since) = resumable else {
            self.stats.answers_snapshot += 1;
            return self.snapshot_answer();
        };
        if since.seq == self.seq {
            self.stats.answers_up_to_date += 1;
            return Answer { kind: AnswerKind::UpToDate, messages: Vec::new(), cursor: Some(now) };
        }
        if let Some(cached) = self.answers.get(&since.seq) {
            let cached = cached.clone();
            self.count(cached.kind);
            return cached;
        }
        let first_index = self.history.len() - (self.seq - since.seq) as usize;
        let replay_bytes: usize = self.history.range(first_index..).map(|e| e.bytes.len()).sum();
        let replay = |history: &VecDeque<Entry>| Answer {
            kind: AnswerKind::Replay,
            messages: history.range(first_index..).map(|e| e.bytes.clone()).collect(),
            cursor: Some(now),
        };
        let answer = if replay_bytes <= config.replay_max_bytes {
            replay(&self.history)
        } else {
            let snapshot_len = self.snapshot_bytes().map_or(usize::MAX, |s| s.len());
            let current = self.state.clone().expect("checked above: a report is loaded");
            let merged = merge(self.history.range(first_index..), &current);
            let catch_up = encode_catch_up(now, since, &merged);
            if catch_up.len() < replay_bytes && catch_up.len() <= snapshot_len {
                Answer { kind: AnswerKind::CatchUp, messages: vec![catch_up], cursor: Some(now) }
            } else if replay_bytes <= snapshot_len {
                replay(&self.history)
            } else {
                self.snapshot_answer()
            }
        };
        self.count(answer.kind);
        self.answers.insert(since.seq, answer.clone());
        answer
    }

    fn count(&mut self, kind: AnswerKind) {
        match kind {
            AnswerKind::UpToDate => self.stats.answers_up_to_date += 1,
            AnswerKind::Replay => self.stats.answers_replay += 1,
            AnswerKind::CatchUp => self.stats.answers_catch_up += 1,
            AnswerKind::Snapshot => self.stats.answers_snapshot += 1,
            AnswerKind::Waiting => {}
        }
    }

    fn snapshot_answer(&mut self) -> Answer {
        let cursor = Cursor::new(self.epoch, self.seq);
        match self.snapshot_bytes() {
            Some(bytes) => {
                Answer { kind: AnswerKind::Snapshot, messages: vec![bytes], cursor: Some(cursor) }
            }
            None => Answer { kind: AnswerKind::Waiting, messages: Vec::new(), cursor: None },
        }
    }

    fn trim_history(&mut self, config: &HubConfig) {
        while self.history.len() > config.history_max_messages
            || self.history_bytes > config.history_max_bytes
        {
            let Some(evicted) = self.history.pop_front() else { break };
            self.history_bytes -= evicted.cost;
            self.base_seq = evicted.seq;
        }
        // Resume points inside a publish are fine; the answer cache holds only starts still covered.
        let base = self.base_seq;
        self.answers.retain(|since, _| *since >= base);
    }

    fn next_for(&mut self, id: u64, config: &HubConfig) -> Next {
        let epoch = self.epoch;
        let Inner { slots, status, .. } = self;
        let Some(slot) = slots.get_mut(&id) else {
            return Next::Closed(CloseReason::Shutdown);
        };
        if let Some(reason) = slot.closed {
            return Next::Closed(reason);
        }
        if let Some(bytes) = slot.control.pop_front() {
            return Next::Message(Delivery { bytes, kind: DeliveryKind::Control, cursor: None });
        }
        if slot.status_pending {
            slot.status_pending = false;
            if let Some(bytes) = status.clone() {
                return Next::Message(Delivery { bytes, kind: DeliveryKind::Status, cursor: None });
            }
        }
        if slot.lagging_since.is_some() {
            let since = slot.consumed.map(|seq| Cursor::new(epoch, seq));
            let answer = self.answer(since, config);
            let Some(slot) = self.slots.get_mut(&id) else {
                return Next::Closed(CloseReason::Shutdown);
            };
            slot.lagging_since = None;
            slot.replace_queue(&answer);
        }
        let Some(slot) = self.slots.get_mut(&id) else {
            return Next::Closed(CloseReason::Shutdown);
        };
        match slot.queue.pop_front() {
            Some(delivery) => {
                slot.queued_bytes -= delivery.bytes.len();
                if let Some(cursor) = delivery.cursor {
                    slot.consumed = Some(cursor.seq);
                }
                Next::Message(delivery)
            }
            None => Next::Empty,
        }
    }
}

/// Merges the deltas of `entries` into one [`Changes`] that takes the state at the first entry's
/// cursor to `current`: per repository key, a diff between its state before the first entry that
/// touched it and its state now. Unlike composing patches, this stays as small as one diff however
/// often a repository flipped meanwhile.
fn merge<'a>(entries: impl Iterator<Item = &'a Entry>, current: &Report) -> Changes {
    let mut first_before: Vec<((&str, u32), Option<&Repo>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut meta_keys: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for entry in entries {
        match &entry.delta {
            Delta::Repo { name, dup, before } => {
                if seen.insert((name.as_str(), *dup)) {
                    first_before.push(((name.as_str(), *dup), before.as_deref()));
                }
            }
            Delta::Meta(keys) => meta_keys.extend(keys.iter().map(String::as_str)),
        }
    }
    let now_by_key = index_by_key(&current.repos);
    let mut repos = Vec::new();
    let mut removed = Vec::new();
    for ((name, dup), before) in first_before {
        let after = now_by_key.get(&(name, dup)).copied();
        match change_between(name, dup, before, after) {
            Some(change @ RepoChange { kind: RepoChangeKind::Removed { .. }, .. }) => {
                removed.push(change)
            }
            Some(change) => repos.push(change),
            None => {}
        }
    }
    // Additions in ascending `dup`, removals in descending `dup`, so each applies to the
    // occurrence its key names while the others are applied one by one.
    repos.sort_by(|a, b| (a.name.as_str(), a.dup).cmp(&(b.name.as_str(), b.dup)));
    removed.sort_by(|a, b| {
        (a.name.as_str(), std::cmp::Reverse(a.dup))
            .cmp(&(b.name.as_str(), std::cmp::Reverse(b.dup)))
    });
    repos.extend(removed);
    // Every top-level field touched in the range, with its value now (`null` when gone).
    let meta = (!meta_keys.is_empty()).then(|| {
        let now = meta_of(current);
        meta_keys
            .into_iter()
            .map(|key| (key.to_owned(), now.get(key).cloned().unwrap_or(serde_json::Value::Null)))
            .collect()
    });
    Changes { repos, meta }
}

/// Every repository by `(name, dup)`, `dup` counting earlier repositories of the same name.
/// Hashes subscriber ids (consecutive numbers) with one multiplication instead of SipHash: the
/// map is looked up once per delivered message, under the hub's lock. The multiplier (2^64 / φ)
/// spreads consecutive ids over the high bits too, which hashbrown uses to tag its slots.
#[derive(Debug, Default, Clone, Copy)]
struct SlotIdHash;

impl BuildHasher for SlotIdHash {
    type Hasher = SlotIdHasher;

    fn build_hasher(&self) -> SlotIdHasher {
        SlotIdHasher(0)
    }
}

/// The hasher of [`SlotIdHash`].
#[derive(Debug, Default)]
struct SlotIdHasher(u64);

impl Hasher for SlotIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this fallback keeps any other key correct.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

fn index_by_key(repos: &[Repo]) -> HashMap<(&str, u32), &Repo> {
    let mut seen: HashMap<&str, u32> = HashMap::with_capacity(repos.len());
    let mut by_key = HashMap::with_capacity(repos.len());
    for repo in repos {
        let dup = seen.entry(repo.name.as_str()).or_insert(0);
        by_key.insert((repo.name.as_str(), *dup), repo);
        *dup += 1;
    }
    by_key
}

/// A subscriber's end: read messages in order with [`try_next`](Self::try_next) or
/// [`next`](Self::next). Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    notify: Arc<Notify>,
}

impl Subscription {
    /// The next message, if one is ready.
    pub fn try_next(&self) -> Next {
        let mut inner = self.hub.lock();
        inner.next_for(self.id, &self.hub.config)
    }

    /// Moves up to `max` queued messages into `out` under one lock (a writer batching what is
    /// ready); returns how many it moved. Stops early when the queue runs dry or the
    /// subscription is closed (which [`Subscription::next`] then reports).
    pub fn take_ready(&self, out: &mut Vec<Delivery>, max: usize) -> usize {
        let mut inner = self.hub.lock();
        let mut taken = 0;
        while taken < max {
            match inner.next_for(self.id, &self.hub.config) {
                Next::Message(delivery) => {
                    out.push(delivery);
                    taken += 1;
                }
                Next::Empty | Next::Closed(_) => break,
            }
        }
        taken
    }

    /// Waits for the next message; returns the close reason when the hub closed this subscription.
    pub async fn next(&self) -> Result<Delivery, CloseReason> {
        loop {
            match self.try_next() {
                Next::Message(delivery) => return Ok(delivery),
                Next::Closed(reason) => return Err(reason),
                // `notify_one` stores a permit when nobody waits, so a wake-up between
                // `try_next` and here is not lost.
                Next::Empty => self.notify.notified().await,
            }
        }
    }

    /// Replaces whatever is queued with the answer from `since` (a client's `resume`).
    pub fn resume(&self, since: Option<Cursor>) -> AnswerKind {
        let mut inner = self.hub.lock();
        let answer = inner.answer(since, &self.hub.config);
        let epoch = inner.epoch;
        let seq = inner.seq;
        let Some(slot) = inner.slots.get_mut(&self.id) else {
            return answer.kind;
        };
        slot.lagging_since = None;
        slot.consumed = since.filter(|c| c.epoch == epoch && c.seq <= seq).map(|c| c.seq);
        if answer.kind == AnswerKind::Waiting {
            slot.queue.clear();
            slot.queued_bytes = 0;
        } else {
            slot.replace_queue(&answer);
        }
        slot.notify.notify_one();
        answer.kind
    }

    /// Queues a snapshot of the current state (a client's `request-update`), replacing the queue.
    pub fn request_snapshot(&self) {
        let mut inner = self.hub.lock();
        let answer = inner.snapshot_answer();
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        if answer.kind == AnswerKind::Snapshot {
            slot.lagging_since = None;
            slot.replace_queue(&answer);
        }
        slot.notify.notify_one();
    }

    /// Queues a control message (a `pong` or an `error`) ahead of state messages; past
    /// [`HubConfig::control_queue_max`] the oldest is dropped.
    pub fn push_control(&self, bytes: Bytes) {
        let mut inner = self.hub.lock();
        let max = self.hub.config.control_queue_max;
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        if slot.control.len() >= max {
            slot.control.pop_front();
        }
        slot.control.push_back(bytes);
        slot.notify.notify_one();
    }

    /// Queues the current `connection-status` again (a client's `get-status`).
    pub fn request_status(&self) {
        let mut inner = self.hub.lock();
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        slot.status_pending = true;
        slot.notify.notify_one();
    }

    /// Bytes queued for this subscriber now.
    pub fn queued_bytes(&self) -> usize {
        let inner = self.hub.lock();
        inner.slots.get(&self.id).map_or(0, |slot| slot.queued_bytes)
    }

    /// The hub this subscription reads from.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        inner.slots.remove(&self.id);
    }
}

fn random_epoch() -> Epoch {
    // RandomState is seeded from the OS per process; mixing in the time keeps epochs of two
    // hubs in one process apart too.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    Epoch(hasher.finish())
}

#[cfg(test)]
mod tests;
