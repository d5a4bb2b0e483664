//! The resume history: the messages kept with what each one changed, their byte budget, and the
//! choice between replay, catch-up and snapshot when a subscriber is brought up to date.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use gitops_diff::{Changes, RepoChangeKind, catch_up};
use gitops_protocol::{Cursor, Epoch, encode_audit_update, encode_catch_up};
use gitops_report::{Repo, Report};

use crate::{Answer, AnswerKind, Hub, HubConfig, Inner, index_by_key};

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

/// One published message kept for resume.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) bytes: Bytes,
    delta: Delta,
    /// What this entry holds in memory, counted against [`HubConfig::history_max_bytes`]: the
    /// encoded message and the `before` repository it keeps. Counting only the message let a
    /// repository with one large field, flipping status, grow the history by megabytes per flip
    /// under a budget that saw a few hundred bytes each.
    pub(crate) cost: usize,
}

impl Entry {
    pub(crate) fn new(seq: u64, bytes: Bytes, delta: Delta) -> Self {
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
pub(crate) enum Delta {
    /// A repository changed; `before` is the repository just before this change (`None` when it
    /// was added). The first `before` of a key within a resume range is its state at the cursor.
    Repo { name: String, dup: u32, before: Option<Box<Repo>> },
    /// These top-level fields changed.
    Meta(Vec<String>),
}

impl Hub {
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
            history.push_back(decode_entry(&mut state, Cursor::new(epoch, seq), bytes)?);
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
}

/// Reads back one logged change, the message at `at`: checks that it is that change, applies it
/// to `state` (which must be the state just before it) and returns its history entry.
pub(crate) fn decode_entry(
    state: &mut Report,
    at: Cursor,
    bytes: Bytes,
) -> Result<Entry, RestoreError> {
    let seq = at.seq;
    let message = gitops_protocol::ServerMessage::decode(&bytes)
        .map_err(|e| RestoreError::Undecodable { seq, reason: e.to_string() })?;
    let found = message.cursor();
    if found != Some(at) {
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
            gitops_diff::apply_repo_change(state, &change)
                .map_err(|e| RestoreError::DoesNotApply { seq, reason: e.to_string() })?;
            Delta::Repo { name: change.name, dup: change.dup, before }
        }
        gitops_protocol::ServerMessage::HealthMetricsUpdate { data: meta, .. } => {
            let keys = meta.keys().cloned().collect();
            let changes = Changes { repos: Vec::new(), meta: Some(meta) };
            gitops_diff::apply_in_place(state, &changes)
                .map_err(|e| RestoreError::DoesNotApply { seq, reason: e.to_string() })?;
            Delta::Meta(keys)
        }
        other => {
            let reason = format!("a {other:?} is not a logged change");
            return Err(RestoreError::OutOfOrder { seq, reason });
        }
    };
    Ok(Entry::new(seq, bytes, delta))
}

impl Inner {
    pub(crate) fn snapshot_bytes(&mut self) -> Option<Bytes> {
        if self.snapshot.is_none() {
            let state = self.state.as_ref()?;
            self.snapshot = Some(encode_audit_update(Cursor::new(self.epoch, self.seq), state));
        }
        self.snapshot.clone()
    }

    pub(crate) fn answer(&mut self, since: Option<Cursor>, config: &HubConfig) -> Answer {
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

    pub(crate) fn snapshot_answer(&mut self) -> Answer {
        let cursor = Cursor::new(self.epoch, self.seq);
        match self.snapshot_bytes() {
            Some(bytes) => {
                Answer { kind: AnswerKind::Snapshot, messages: vec![bytes], cursor: Some(cursor) }
            }
            None => Answer { kind: AnswerKind::Waiting, messages: Vec::new(), cursor: None },
        }
    }

    pub(crate) fn trim_history(&mut self, config: &HubConfig) {
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
}

/// Merges the deltas of `entries` into one [`Changes`] that takes the state at the first entry's
/// cursor to `current` (see [`gitops_diff::catch_up`]).
fn merge<'a>(entries: impl Iterator<Item = &'a Entry> + Clone, current: &Report) -> Changes {
    let befores = entries.clone().filter_map(|entry| match &entry.delta {
        Delta::Repo { name, dup, before } => Some(((name.as_str(), *dup), before.as_deref())),
        Delta::Meta(_) => None,
    });
    let touched_meta = entries.flat_map(|entry| match &entry.delta {
        Delta::Repo { .. } => [].iter(),
        Delta::Meta(keys) => keys.iter(),
    });
    catch_up(befores, touched_meta.map(String::as_str), current)
}
