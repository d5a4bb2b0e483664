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
//! The stall deadline is measured with `tokio::time::Instant`, which is the system clock except
//! under a paused tokio test clock, so tests move time with `tokio::time::advance`.
//!
//! This file holds the public types and the publish path; `history` keeps the resume history
//! and answers cursors (replay, catch-up or snapshot), `slots` keeps the per-subscriber queues.
#![warn(missing_docs)]

mod follow;
mod history;
mod slots;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use gitops_diff::{Changes, RepoChangeKind, diff};
use gitops_protocol::{Cursor, Epoch, encode_meta, encode_repo_change};
use gitops_report::{Repo, Report};
use tokio::time::Instant;

use history::{Delta, Entry};
use slots::{Slot, SlotIdHash};

pub use follow::FollowError;
pub use history::{Restore, RestoreError};
pub use slots::{Subscription, Wake};

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

/// A subscriber's writer that the publisher may use itself: instead of waking the reader's task
/// for each publish (a wake-up, a poll of every source the task waits on, a lock to take the
/// messages), the hub hands the publish's messages to the sink, and the publisher writes them.
/// At 1,000 clients that is most of a change's cost that is neither the kernel's nor the parse's.
///
/// The right to write belongs to one side at a time: the reader's task while it runs, the
/// publisher for one batch it [claimed](Sink::claim) while the task waited. Messages are taken
/// from the queue only by the side that holds the right, so they go out in order.
pub trait Sink: Send + Sync {
    /// Takes the right to write for one batch, if the reader's task is waiting and nothing is
    /// left to finish. Called under the hub's lock: quick, and never calls the hub.
    fn claim(&self) -> bool;
    /// Writes `batch`, the subscriber's whole queue, taken after a successful
    /// [`claim`](Sink::claim), then gives the right back (or hands what it could not write to
    /// the reader's task, copied: that is rare). Called on the publisher's thread after the
    /// hub's lock is released, once per claim; must not block. The batch is borrowed because it
    /// is usually one publish's messages, the same for every subscriber that had nothing
    /// queued: one copy for all of them, not an allocation and a reference count per message
    /// for each (the two fan-out threads contended on those counts).
    fn write(&self, batch: &[Delivery]);
    /// Brings into the cache what [`write`](Sink::write) will touch first, with plain loads
    /// only. The publisher calls it for a few sinks in a row before writing them, so that their
    /// cache misses overlap instead of each write waiting for its own. Does nothing by default.
    fn warm(&self) {}
}

/// The most messages handed to a [`Sink`] at once; a longer queue wakes the reader instead.
const SINK_BATCH_MAX: usize = 64;

/// From how many sinks a publish's writes are shared with a second thread. Below this one thread
/// is cheaper: at 1,000 clients sharing cost 0.6 ms more CPU per change (the two threads pass
/// the same counters' and the loopback's cache lines back and forth) for 1 ms of latency; at
/// 10,000 it took p50 102 → 88 ms and p99 131 → 121 ms for 5 ms more CPU per change.
const SINKS_SHARED_FROM: usize = 2_048;

/// How many sinks are warmed ([`Sink::warm`]) together before they are written.
const WARM_GROUP: usize = 8;

/// A claimed sink and what it is to write: its own queue, or (`None`) the publish's messages.
type Direct = (Arc<dyn Sink>, Option<Vec<Delivery>>);

/// Calls every sink with its batch (`published` for those without one of their own). A large
/// fan-out is split in two halves, the second written by a scoped thread while this one writes
/// the first: each write is a system call that does not wait, and at 10,000 clients one thread
/// took ~50 ms for them.
fn write_to_sinks(mut direct: Vec<Direct>, published: &[Delivery]) {
    let write_all = |direct: Vec<Direct>| {
        for group in direct.chunks(WARM_GROUP) {
            for (sink, _) in group {
                sink.warm();
            }
            for (sink, batch) in group {
                sink.write(batch.as_deref().unwrap_or(published));
            }
        }
    };
    let shared = direct.len() >= SINKS_SHARED_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if !shared {
        write_all(direct);
        return;
    }
    let half = Mutex::new(Some(direct.split_off(direct.len() / 2)));
    let take_half = || half.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("gitops-fanout".into())
            .stack_size(256 << 10)
            .spawn_scoped(scope, || write_all(take_half().unwrap_or_default()));
        write_all(direct);
        // Every claimed sink must be written (or it stays claimed): without a helper, here.
        if helper.is_err() {
            write_all(take_half().unwrap_or_default());
        }
    });
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
        self.deliver(new, epoch, last_seq, entries)
    }

    /// Makes `new` the current state at `last_seq`, queues `entries` (the messages that led to
    /// it, in seq order, in `epoch`, the hub's epoch) to every subscriber and keeps them for resume.
    /// The caller holds the publish lock.
    fn deliver(&self, new: Report, epoch: Epoch, last_seq: u64, entries: Vec<Entry>) -> Published {
        let n_messages = entries.len();
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
        let mut direct: Vec<Direct> = Vec::new();
        // The messages of this publish, for every claimed sink that had nothing queued.
        let published: Vec<Delivery> = entries
            .iter()
            .map(|entry| Delivery {
                bytes: entry.bytes.clone(),
                kind: DeliveryKind::Live,
                cursor: Some(Cursor::new(epoch, entry.seq)),
            })
            .collect();
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
            delivered += total_bytes as u64;
            if slot.queue.is_empty() && slot.claim_for(&published) {
                if let Some(sink) = &slot.sink {
                    direct.push((sink.clone(), None));
                }
                continue;
            }
            slot.queue.extend(published.iter().cloned());
            slot.queued_bytes += total_bytes;
            if let Some(batch) = slot.take_for_sink() {
                if let Some(sink) = &slot.sink {
                    direct.push((sink.clone(), Some(batch)));
                }
                continue;
            }
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
        let cursor = Cursor::new(epoch, inner.seq);
        drop(inner);
        write_to_sinks(direct, &published);
        Published::Changed { cursor, messages: n_messages, bytes: total_bytes }
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

    /// Sets the `connection-status` message; every subscriber gets the latest one once.
    pub fn set_status(&self, status: Bytes) {
        let mut inner = self.lock();
        inner.status = Some(status);
        for slot in inner.slots.values_mut() {
            slot.status_pending = true;
            slot.notify.notify_one();
        }
    }

    /// Queues a control message (an `action-status`, say) to every subscriber, ahead of state
    /// messages; a subscriber with [`HubConfig::control_queue_max`] control messages waiting
    /// loses its oldest. Not kept: a subscriber that joins later does not get it.
    pub fn broadcast_control(&self, bytes: &Bytes) {
        let mut inner = self.lock();
        let max = self.config.control_queue_max;
        for slot in inner.slots.values_mut() {
            if slot.control.len() >= max {
                slot.control.pop_front();
            }
            slot.control.push_back(bytes.clone());
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

    /// Wakes every subscriber's reader ([`Subscription::woken`]) with no message: for a server
    /// whose readers have something of their own to look at (its shutdown signal).
    pub fn wake_all(&self) {
        let inner = self.lock();
        for slot in inner.slots.values() {
            slot.notify.notify_one();
        }
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

/// Every repository by `(name, dup)`, `dup` counting earlier repositories of the same name.
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
