//! The feed's [`History`] over the store: pages of points, the state at a cursor, one
//! repository's timeline and the old API's snapshot names, read on a connection of their own.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use gitops_diff::Changes;
use gitops_feed::{History, HistoryError};
use gitops_protocol::{
    Cursor, HistoryImport, HistoryPage, HistoryPoint, PointKind, RepoEvent, RepoTimeline,
    RepoTransition, ServerMessage, TRANSITIONS_PER_POINT, TransitionKind,
};
use gitops_report::Report;
use gitops_store::{ChangeKind, Epochs, Handle, Publish, PublishKind, TouchedRepo};

/// The kind of source event that records an import of old snapshots (its message is the
/// [`HistoryImport`] as JSON).
pub(crate) const IMPORTED: &str = "history-import";

/// The store's history, read through a [`Handle`] (a second SQLite connection: reads never
/// wait for the publishing thread, and WAL lets them run beside its appends).
pub(crate) struct StoreHistory {
    /// One connection, one question at a time. SQLite connections are not `Sync`.
    handle: Mutex<Handle>,
    /// The import of old snapshots, when the log's first points came from one.
    import: Option<HistoryImport>,
}

impl StoreHistory {
    /// History over `handle`; the import record is read once, here.
    pub(crate) fn new(handle: Handle) -> Self {
        let import = handle.source_events(None, 10_000).ok().and_then(|events| {
            events
                .into_iter()
                .find(|event| event.kind == IMPORTED)
                .and_then(|event| serde_json::from_str(&event.message).ok())
        });
        Self { handle: Mutex::new(handle), import }
    }

    fn handle(&self) -> MutexGuard<'_, Handle> {
        // A panic while reading leaves nothing half-written: the connection is still usable.
        self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl History for StoreHistory {
    fn points(&self, before: Option<Cursor>, limit: usize) -> Result<HistoryPage, HistoryError> {
        let handle = self.handle();
        let epochs = handle.epochs().map_err(unavailable)?;
        let before_seq = before.map(|cursor| check_named(&epochs, cursor)).transpose()?;
        // One more than asked tells whether an older page exists; one more again because the
        // publish that holds `before` itself starts before it too.
        let mut publishes = handle.publishes(before_seq, limit + 2).map_err(unavailable)?;
        if let Some(before) = before_seq {
            publishes.retain(|publish| publish.last_seq < before);
        }
        let more = publishes.len() > limit;
        publishes.truncate(limit);
        let points = walk(&handle, &epochs, publishes)?;
        let next = if more { points.last().map(|point| point.cursor) } else { None };
        Ok(HistoryPage { points, next, import: self.import.clone() })
    }

    fn state_at(&self, cursor: Cursor) -> Result<Report, HistoryError> {
        let handle = self.handle();
        let epochs = handle.epochs().map_err(unavailable)?;
        let seq = check_named(&epochs, cursor)?;
        handle.state_at(seq).map_err(|error| not_kept(cursor, error))
    }

    fn states_at(&self, a: Cursor, b: Cursor) -> Result<(Report, Report), HistoryError> {
        let handle = self.handle();
        let epochs = handle.epochs().map_err(unavailable)?;
        let (seq_a, seq_b) = (check_named(&epochs, a)?, check_named(&epochs, b)?);
        let (older, newer) = if seq_a <= seq_b { (a, b) } else { (b, a) };
        let base = handle.state_at(older.seq).map_err(|error| not_kept(older, error))?;
        let carried = if newer.seq - older.seq <= CARRY_MAX {
            carry(&handle, base.clone(), older.seq, newer.seq)?
        } else {
            None
        };
        let later = match carried {
            Some(state) => state,
            None => handle.state_at(newer.seq).map_err(|error| not_kept(newer, error))?,
        };
        Ok(if seq_a <= seq_b { (base, later) } else { (later, base) })
    }

    fn repo_timeline(
        &self,
        name: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<RepoTimeline, HistoryError> {
        let handle = self.handle();
        let epochs = handle.epochs().map_err(unavailable)?;
        let before_seq = before.map(|cursor| check_named(&epochs, cursor)).transpose()?;
        let mut found = handle.repo_history(name, before_seq, limit + 1).map_err(unavailable)?;
        let more = found.len() > limit;
        found.truncate(limit);
        let events: Vec<RepoEvent> = found
            .into_iter()
            .filter_map(|event| {
                let cursor = epochs.cursor_of(event.change.seq)?;
                Some(RepoEvent {
                    cursor,
                    time: time_text(event.time),
                    transition: transition(event.change),
                })
            })
            .collect();
        let next = if more { events.last().map(|event| event.cursor) } else { None };
        Ok(RepoTimeline { name: name.to_owned(), events, next })
    }

    fn time_of(&self, cursor: Cursor) -> Result<Option<String>, HistoryError> {
        let handle = self.handle();
        let epochs = handle.epochs().map_err(unavailable)?;
        let seq = check_named(&epochs, cursor)?;
        // The publish that starts at or before `seq`: it holds `seq` when it reaches it.
        let publishes = handle.publishes(Some(seq.saturating_add(1)), 1).map_err(unavailable)?;
        Ok(publishes
            .first()
            .filter(|publish| publish.last_seq >= seq)
            .map(|publish| time_text(publish.time)))
    }

    fn snapshot_names(&self, limit: usize) -> Result<Vec<String>, HistoryError> {
        let publishes = self.handle().publishes(None, limit).map_err(unavailable)?;
        let mut names: Vec<String> = Vec::with_capacity(publishes.len());
        for publish in publishes {
            let name = snapshot_name(publish.time);
            // Newest first: the first point of a second names it (the state as that second ended).
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// The most messages [`History::states_at`] replays to carry a state forward; farther points
/// are rebuilt from their own checkpoint.
const CARRY_MAX: u64 = 2_000;

/// `state` (at `from`) carried forward to `to` by applying the messages between them, or `None`
/// when they are not all there (a snapshot's gap lies between).
fn carry(
    handle: &Handle,
    mut state: Report,
    from: u64,
    to: u64,
) -> Result<Option<Report>, HistoryError> {
    if from == to {
        return Ok(Some(state));
    }
    let span = usize::try_from(to - from).unwrap_or(usize::MAX);
    let messages = handle.messages(from, span).map_err(unavailable)?;
    let contiguous = messages.len() == span
        && messages.iter().zip(from + 1..).all(|(message, seq)| message.seq == seq);
    if !contiguous {
        return Ok(None);
    }
    let changes = decode_changes(&messages)?;
    gitops_diff::apply_in_place(&mut state, &changes).map_err(|error| {
        HistoryError::Unavailable(format!("the log cannot be replayed up to {to}: {error}"))
    })?;
    Ok(Some(state))
}

/// The messages as one [`Changes`]: repository changes in order, top-level changes merged.
fn decode_changes(messages: &[gitops_store::StoredMessage]) -> Result<Changes, HistoryError> {
    let mut changes = Changes::default();
    for message in messages {
        match ServerMessage::decode(&message.bytes) {
            Ok(ServerMessage::RepoStatusChange { data, .. }) => changes.repos.push(data),
            Ok(ServerMessage::HealthMetricsUpdate { data, .. }) => {
                // Shallow merge patches compose key by key.
                changes.meta.get_or_insert_with(Default::default).extend(data);
            }
            Ok(_) | Err(_) => {
                return Err(HistoryError::Unavailable(format!(
                    "message {} of the log cannot be read back",
                    message.seq
                )));
            }
        }
    }
    Ok(changes)
}

/// The name the old API would have given a snapshot written at `time`, as producers name them:
/// `audit-history/2026-02-11T03-00-00Z.json`.
pub(crate) fn snapshot_name(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.strftime("%Y-%m-%dT%H-%M-%SZ.json").to_string())
        .unwrap_or_else(|_| "unknown.json".to_owned())
}

/// RFC 3339 in UTC with milliseconds: `2026-12-01T10:00:00.123Z`.
pub(crate) fn time_text(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// The seq `cursor` names in this log, or why it names none.
fn check_named(epochs: &Epochs, cursor: Cursor) -> Result<u64, HistoryError> {
    if epochs.names(cursor) {
        return Ok(cursor.seq);
    }
    let reason = match epochs.epoch_of(cursor.seq) {
        _ if !epochs.as_slice().iter().any(|e| e.epoch == cursor.epoch) => format!(
            "the log has no epoch {} (a server run whose changes were not kept, or another server's)",
            cursor.epoch
        ),
        Some(epoch) => {
            format!("seq {} of the log belongs to epoch {epoch}, not {}", cursor.seq, cursor.epoch)
        }
        None => format!("the log has no seq {}", cursor.seq),
    };
    Err(HistoryError::NotRetained { cursor, reason })
}

fn unavailable(error: impl std::fmt::Display) -> HistoryError {
    HistoryError::Unavailable(error.to_string())
}

/// A store error for the point at `cursor`: not kept, or the log cannot be read.
fn not_kept(cursor: Cursor, error: gitops_store::Error) -> HistoryError {
    match error {
        gitops_store::Error::NotRetained { seq, oldest, last } => {
            let why = if oldest == 0 {
                "the log holds no point yet".to_owned()
            } else if seq < oldest {
                format!("it is older than the oldest point kept ({oldest})")
            } else if seq > last {
                format!("it is newer than the last point kept ({last})")
            } else {
                "it was served while the log could not keep up".to_owned()
            };
            HistoryError::NotRetained {
                cursor,
                reason: format!("the log does not keep {cursor}: {why}"),
            }
        }
        other => unavailable(other),
    }
}

/// The points of `publishes` (newest first, as the store gives them): each publish's state is
/// rebuilt once for the oldest and then carried forward by applying each publish's messages, so
/// a page costs one rebuild and one pass over its messages.
fn walk(
    handle: &Handle,
    epochs: &Epochs,
    mut publishes: Vec<Publish>,
) -> Result<Vec<HistoryPoint>, HistoryError> {
    // The oldest publishes may be older than what can be rebuilt (after an interrupted prune):
    // they are left out.
    let mut state = loop {
        let Some(oldest) = publishes.last() else { return Ok(Vec::new()) };
        match handle.state_at(oldest.last_seq) {
            Ok(state) => break state,
            Err(gitops_store::Error::NotRetained { oldest: keep, .. }) => {
                let before = publishes.len();
                publishes.retain(|publish| publish.last_seq >= keep && keep > 0);
                if publishes.len() == before {
                    publishes.pop();
                }
            }
            Err(error) => return Err(unavailable(error)),
        }
    };
    publishes.reverse();
    let (first, newest) = match (publishes.first(), publishes.last()) {
        (Some(first), Some(newest)) => (first.last_seq, newest.last_seq),
        _ => return Ok(Vec::new()),
    };
    let span = usize::try_from(newest - first).unwrap_or(usize::MAX);
    let messages = handle.messages(first, span).map_err(unavailable)?;
    let mut messages = messages.into_iter().peekable();
    let mut points = Vec::with_capacity(publishes.len());
    for (index, publish) in publishes.into_iter().enumerate() {
        if index > 0 {
            match publish.kind {
                PublishKind::Snapshot => {
                    state = handle.state_at(publish.last_seq).map_err(unavailable)?;
                }
                PublishKind::Changes => {
                    let mut own = Vec::new();
                    while let Some(message) =
                        messages.next_if(|message| message.seq <= publish.last_seq)
                    {
                        own.push(message);
                    }
                    let changes = decode_changes(&own)?;
                    gitops_diff::apply_in_place(&mut state, &changes).map_err(|error| {
                        HistoryError::Unavailable(format!(
                            "the log cannot be replayed at {}: {error}",
                            publish.last_seq
                        ))
                    })?;
                }
            }
        }
        let Some(cursor) = epochs.cursor_of(publish.last_seq) else { continue };
        points.push(point(cursor, publish, &state));
    }
    points.reverse();
    Ok(points)
}

fn point(cursor: Cursor, publish: Publish, state: &Report) -> HistoryPoint {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for repo in &state.repos {
        *counts.entry(repo.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let repos_changed = publish.repos.len() as u64;
    HistoryPoint {
        cursor,
        time: time_text(publish.time),
        kind: match publish.kind {
            PublishKind::Changes => PointKind::Changes,
            PublishKind::Snapshot => PointKind::Snapshot,
        },
        timestamp: state.timestamp.as_ref().map(|t| t.raw.clone()),
        health_status: state.health_status.clone(),
        summary: state.summary.clone(),
        counts,
        repos: publish.repos.into_iter().take(TRANSITIONS_PER_POINT).map(transition).collect(),
        repos_changed,
        meta_changed: publish.meta_changed,
    }
}

fn transition(touched: TouchedRepo) -> RepoTransition {
    RepoTransition {
        name: touched.name,
        dup: touched.dup,
        change: match touched.change {
            ChangeKind::Added => TransitionKind::Added,
            ChangeKind::Removed => TransitionKind::Removed,
            ChangeKind::Changed => TransitionKind::Changed,
        },
        old_status: touched.old_status,
        new_status: touched.new_status,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use gitops_hub::{Hub, HubConfig};
    use gitops_protocol::Epoch;
    use gitops_report::{Status, generate_report};
    use gitops_store::{Store, StoreConfig};

    use super::*;

    /// Publishes `report` through `hub` into `store` (a snapshot first, changes after), as the
    /// binary's log does; returns the cursor after it.
    fn publish(hub: &Hub, store: &mut Store, report: Report) -> Cursor {
        let time = SystemTime::now();
        hub.publish_with(report, |commit| {
            let result = if commit.epoch != store.epoch() {
                let last = commit.first_seq + (commit.messages.len() as u64).saturating_sub(1);
                store.begin_epoch(commit.epoch, time, last, commit.state)
            } else if commit.messages.is_empty() {
                store.append(&gitops_store::Batch::snapshot(time, commit.first_seq, commit.state))
            } else {
                store.append(&gitops_store::Batch::changes(time, commit.messages, commit.state))
            };
            result.is_ok()
        });
        hub.cursor().expect("published")
    }

    /// `report` with repository `index` in `status` and a new path: always a change.
    fn flip(report: &Report, index: usize, status: Status) -> Report {
        let mut next = report.clone();
        next.repos[index].status = status;
        next.repos[index].local_path = Some(format!("/srv/git/moved-{index}"));
        next
    }

    #[test]
    fn points_of_every_epoch_keep_their_cursors_and_other_epochs_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut store = Store::open(dir.path(), StoreConfig::default()).expect("open").store;
        let first_epoch = store.epoch();
        let hub = Hub::new(HubConfig { epoch: Some(first_epoch), ..HubConfig::default() });
        let r0 = generate_report(5, 3);
        let r1 = flip(&r0, 0, Status::Missing);
        let a0 = publish(&hub, &mut store, r0.clone());
        let a1 = publish(&hub, &mut store, r1.clone());
        // A server that served on under a new epoch (its log failed, say) and whose log followed.
        let second_epoch = Epoch(first_epoch.0 ^ 0x55);
        let hub = Hub::new(HubConfig {
            epoch: Some(second_epoch),
            start_seq: a1.seq + 3,
            ..HubConfig::default()
        });
        let r2 = flip(&r1, 1, Status::Dirty);
        let r3 = flip(&r2, 2, Status::Extra);
        let b0 = publish(&hub, &mut store, r2.clone());
        let b1 = publish(&hub, &mut store, r3.clone());
        assert_eq!(b0.epoch, second_epoch);

        let history = StoreHistory::new(store.handle().expect("a handle"));
        let page = history.points(None, 10).expect("a page");
        let cursors: Vec<Cursor> = page.points.iter().map(|p| p.cursor).collect();
        assert_eq!(cursors, [b1, b0, a1, a0], "each point named by the epoch that wrote it");
        assert_eq!(page.points[1].kind, PointKind::Snapshot, "the new epoch starts whole");
        for (cursor, expected) in [(a0, &r0), (a1, &r1), (b0, &r2), (b1, &r3)] {
            let state = history.state_at(cursor).expect("kept");
            assert!(gitops_diff::same_state(&state, expected), "{cursor}");
            assert!(history.time_of(cursor).expect("a time").is_some());
        }
        let (old, new) = history.states_at(b1, a0).expect("both");
        assert!(gitops_diff::same_state(&old, &r3) && gitops_diff::same_state(&new, &r0));

        let refused = |cursor: Cursor| match history.state_at(cursor) {
            Err(HistoryError::NotRetained { reason, .. }) => reason,
            other => panic!("{cursor}: {other:?}"),
        };
        assert!(refused(Cursor::new(second_epoch, a1.seq)).contains("belongs to epoch"));
        assert!(refused(Cursor::new(first_epoch, b1.seq)).contains("belongs to epoch"));
        assert!(refused(Cursor::new(Epoch(7), a0.seq)).contains("no epoch"));
        // The seqs the new epoch skipped (served while the log could not keep up) are not kept.
        let gap = Cursor::new(first_epoch, a1.seq + 1);
        assert!(refused(gap).contains("could not keep up"), "{}", refused(gap));
        // Paging by cursor crosses the epochs.
        let older = history.points(Some(b0), 10).expect("a page");
        assert_eq!(older.points.iter().map(|p| p.cursor).collect::<Vec<_>>(), [a1, a0]);
        assert_eq!(history.points(Some(b1), 1).expect("a page").next, Some(b0));
        let names = history.snapshot_names(10).expect("names");
        assert!(!names.is_empty() && names.len() <= 4, "{names:?}");
    }
}
