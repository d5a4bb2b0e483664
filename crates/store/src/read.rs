//! Queries: the latest state and history for a restart, the state at any retained point, and
//! pages of history for people.

use std::time::SystemTime;

use bytes::Bytes;
use gitops_protocol::{Cursor, Epoch};
use gitops_report::{Report, Status};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Db;
use crate::error::{Error, Result};
use crate::replay::{apply_messages, decode_checkpoint};
use crate::time::from_unix_ms;

/// The log's last sequence number as an SQL expression. Pruning may remove every publish row
/// but never the latest checkpoint, so both tables are asked. Publishes follow one another
/// without overlapping, so the last one (by its indexed first seq) ends the highest: looking it
/// up is one index step, where `MAX(last_seq)` would read every row.
macro_rules! last_seq_sql {
    () => {
        "(SELECT MAX(s) FROM (SELECT * FROM (SELECT last_seq AS s FROM publishes
                                             ORDER BY first_seq DESC LIMIT 1)
                              UNION ALL SELECT MAX(seq) FROM checkpoints))"
    };
}

/// How much recent history [`crate::Store::latest`] returns: set it to the hub's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit {
    /// The most messages.
    pub messages: usize,
    /// The most bytes of messages.
    pub bytes: usize,
}

impl Default for HistoryLimit {
    /// The hub's defaults: 4,096 messages, 16 MiB.
    fn default() -> Self {
        Self { messages: 4096, bytes: 16 << 20 }
    }
}

/// What a restart resumes from: see [`crate::Store::latest`].
#[derive(Debug, Clone)]
pub struct Restored {
    /// The last cursor in the log, in the store's current epoch.
    pub cursor: Cursor,
    /// The state at `cursor`.
    pub state: Report,
    /// The sequence number the history starts from: `history` holds the messages with sequence
    /// numbers `history_base + 1 ..= cursor.seq`, in order, without a gap.
    pub history_base: u64,
    /// The state at `history_base`, from which `history` replays to `state`: what a hub needs to
    /// know which repository each message replaced.
    pub base_state: Report,
    /// The most recent messages, exactly as clients were sent them.
    pub history: Vec<StoredMessage>,
}

/// One message as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its sequence number.
    pub seq: u64,
    /// When it was published.
    pub time: SystemTime,
    /// Which message it is.
    pub kind: MessageKind,
    /// Its bytes, exactly as clients were sent them.
    pub bytes: Bytes,
}

/// The kinds of message the log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `repo-status-change`.
    RepoStatusChange,
    /// `health-metrics-update`.
    HealthMetricsUpdate,
}

impl MessageKind {
    /// The message's `type`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RepoStatusChange => "repo-status-change",
            Self::HealthMetricsUpdate => "health-metrics-update",
        }
    }

    fn from_stored(text: &str, seq: u64) -> Result<Self> {
        match text {
            "repo-status-change" => Ok(Self::RepoStatusChange),
            "health-metrics-update" => Ok(Self::HealthMetricsUpdate),
            other => Err(Error::Replay { seq, detail: format!("unknown message kind {other:?}") }),
        }
    }
}

/// One publish: a page entry of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Its first sequence number.
    pub first_seq: u64,
    /// Its last sequence number: the cursor after it.
    pub last_seq: u64,
    /// When it was published.
    pub time: SystemTime,
    /// Changes, or a whole state.
    pub kind: PublishKind,
    /// The bytes of its messages.
    pub bytes: u64,
    /// The repositories it touched, in order.
    pub repos: Vec<TouchedRepo>,
    /// Whether it changed top-level fields (health, summary, timestamp, ...).
    pub meta_changed: bool,
}

/// What a publish was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishKind {
    /// Change messages, one per sequence number.
    Changes,
    /// A whole state with no messages (see [`crate::Batch::snapshot`]).
    Snapshot,
}

/// One repository a message touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedRepo {
    /// The message's sequence number.
    pub seq: u64,
    /// The repository's name.
    pub name: String,
    /// Which repository of that name (see `gitops_diff::RepoChange::dup`).
    pub dup: u32,
    /// What happened to it.
    pub change: ChangeKind,
    /// Its status before, unless it was added.
    pub old_status: Option<Status>,
    /// Its status after, unless it was removed.
    pub new_status: Option<Status>,
}

/// What happened to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// It appeared.
    Added,
    /// It went.
    Removed,
    /// It changed.
    Changed,
}

/// One change of one repository, with its time: an entry of a repository's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoEvent {
    /// When it was published.
    pub time: SystemTime,
    /// What changed.
    pub change: TouchedRepo,
}

/// One event of the report source's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    /// Its id, increasing.
    pub id: u64,
    /// When it happened.
    pub time: SystemTime,
    /// The caller's short word for it.
    pub kind: String,
    /// The caller's sentence.
    pub message: String,
}

/// Counts and sizes of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// The current epoch.
    pub epoch: Epoch,
    /// The oldest point whose state can be rebuilt (the oldest checkpoint), if any.
    pub oldest_seq: Option<u64>,
    /// The last sequence number, if any.
    pub last_seq: Option<u64>,
    /// Messages kept.
    pub messages: u64,
    /// Checkpoints kept.
    pub checkpoints: u64,
    /// Bytes of messages and checkpoints kept: what [`crate::RetentionPolicy::max_bytes`] bounds.
    pub payload_bytes: u64,
    /// Source events kept.
    pub source_events: u64,
    /// Rows of the action log kept.
    pub actions: u64,
    /// The size of the database file.
    pub db_file_bytes: u64,
    /// The size of its write-ahead log.
    pub wal_file_bytes: u64,
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl ChangeKind {
    fn from_stored(text: &str, seq: u64) -> Result<Self> {
        match text {
            "added" => Ok(Self::Added),
            "removed" => Ok(Self::Removed),
            "changed" => Ok(Self::Changed),
            other => Err(Error::Replay { seq, detail: format!("unknown change {other:?}") }),
        }
    }
}

/// A stored repository change row: seq, name, dup, change, old, new.
type RepoRow = (u64, String, u32, String, Option<String>, Option<String>);

fn touched(row: RepoRow) -> Result<TouchedRepo> {
    let (seq, name, dup, change, old_status, new_status) = row;
    Ok(TouchedRepo {
        seq,
        name,
        dup,
        change: ChangeKind::from_stored(&change, seq)?,
        old_status: old_status.as_deref().map(Status::from_text),
        new_status: new_status.as_deref().map(Status::from_text),
    })
}

impl Db {
    pub(crate) fn latest(&self, limit: HistoryLimit) -> Result<Option<Restored>> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sqlite(e))?;
        let conn: &Connection = &tx;
        let Some(last) = last_seq(conn).map_err(|e| self.sqlite(e))? else {
            return Ok(None);
        };
        let epoch = current_epoch(conn).map_err(|e| self.sqlite(e))?;
        let (epoch_first, snapshot_floor, oldest): (u64, Option<u64>, Option<u64>) = conn
            .query_row(
                "SELECT (SELECT MAX(first_seq) FROM epochs),
                        (SELECT MAX(last_seq) FROM publishes WHERE kind = 'snapshot'),
                        (SELECT MIN(seq) FROM checkpoints)",
                [],
                |row| Ok((row.get::<_, Option<u64>>(0)?.unwrap_or(1), row.get(1)?, row.get(2)?)),
            )
            .map_err(|e| self.sqlite(e))?;
        let Some(oldest) = oldest else {
            return Err(Error::Replay {
                seq: last,
                detail: "the log has no checkpoint".to_owned(),
            });
        };
        // History never reaches back past a snapshot (its points before are lost), into an
        // earlier epoch (no client of this epoch holds those cursors) or past what can be rebuilt.
        let floor = oldest.max(snapshot_floor.unwrap_or(0)).max(epoch_first.saturating_sub(1));

        let mut history = Vec::new();
        let mut bytes = 0usize;
        {
            let mut statement = conn
                .prepare_cached(
                    "SELECT seq, time_ms, kind, bytes FROM messages
                     WHERE seq > ?1 ORDER BY seq DESC LIMIT ?2",
                )
                .map_err(|e| self.sqlite(e))?;
            let mut rows = statement
                .query(params![floor, sql_limit(limit.messages)])
                .map_err(|e| self.sqlite(e))?;
            while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
                let message = stored_message(row).map_err(|e| self.sqlite(e))??;
                if bytes + message.bytes.len() > limit.bytes {
                    break;
                }
                bytes += message.bytes.len();
                history.push(message);
            }
        }
        history.reverse();
        let history_base = history.first().map_or(last, |first| first.seq - 1);
        let base_state = rebuild(conn, history_base).map_err(|e| self.or_sqlite(e))?;
        let mut state = base_state.clone();
        apply_messages(
            &mut state,
            history_base,
            history.iter().map(|message| (message.seq, message.bytes.as_ref())),
        )?;
        Ok(Some(Restored {
            cursor: Cursor::new(epoch, last),
            state,
            history_base,
            base_state,
            history,
        }))
    }

    pub(crate) fn state_at(&self, seq: u64) -> Result<Report> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sqlite(e))?;
        let conn: &Connection = &tx;
        let (last, oldest, in_gap): (Option<u64>, Option<u64>, bool) = conn
            .query_row(
                concat!(
                    "SELECT ",
                    last_seq_sql!(),
                    ", (SELECT MIN(seq) FROM checkpoints), ",
                    // Only the publish that starts last at or before `seq` can hold it.
                    "EXISTS (SELECT 1 FROM (SELECT kind, last_seq FROM publishes
                                            WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1)
                             WHERE kind = 'snapshot' AND last_seq > ?1)"
                ),
                params![seq],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(|e| self.sqlite(e))?;
        let (last, oldest) = (last.unwrap_or(0), oldest.unwrap_or(0));
        if seq > last || seq < oldest || oldest == 0 || in_gap {
            return Err(Error::NotRetained { seq, oldest, last });
        }
        rebuild(conn, seq).map_err(|e| self.or_sqlite(e))
    }

    pub(crate) fn messages(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredMessage>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, time_ms, kind, bytes FROM messages WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![after_seq, sql_limit(limit)], stored_message)
            .map_err(|e| self.sqlite(e))?;
        let mut messages = Vec::new();
        for row in rows {
            messages.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(messages)
    }

    pub(crate) fn publishes(&self, before_seq: Option<u64>, limit: usize) -> Result<Vec<Publish>> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sqlite(e))?;
        let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
        let mut publishes = Vec::new();
        {
            let mut statement = tx
                .prepare_cached(
                    "SELECT first_seq, last_seq, time_ms, kind, bytes FROM publishes
                     WHERE first_seq < ?1 ORDER BY first_seq DESC LIMIT ?2",
                )
                .map_err(|e| self.sqlite(e))?;
            let rows = statement
                .query_map(params![before, sql_limit(limit)], |row| {
                    let kind: String = row.get(3)?;
                    Ok(Publish {
                        first_seq: row.get(0)?,
                        last_seq: row.get(1)?,
                        time: from_unix_ms(row.get(2)?),
                        kind: if kind == "snapshot" {
                            PublishKind::Snapshot
                        } else {
                            PublishKind::Changes
                        },
                        bytes: row.get(4)?,
                        repos: Vec::new(),
                        meta_changed: false,
                    })
                })
                .map_err(|e| self.sqlite(e))?;
            for row in rows {
                publishes.push(row.map_err(|e| self.sqlite(e))?);
            }
        }
        let (Some(newest), Some(oldest)) = (publishes.first(), publishes.last()) else {
            return Ok(publishes);
        };
        let (low, high) = (oldest.first_seq, newest.last_seq);
        let mut statement = tx
            .prepare_cached(
                "SELECT seq, kind, repo, dup, change, old_status, new_status FROM messages
                 WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let mut rows = statement.query(params![low, high]).map_err(|e| self.sqlite(e))?;
        // Publishes are newest first and messages oldest first: walk the publishes backwards.
        let mut index = publishes.len();
        while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
            let seq: u64 = row.get(0).map_err(|e| self.sqlite(e))?;
            while index > 0 && publishes[index - 1].last_seq < seq {
                index -= 1;
            }
            let Some(publish) = index.checked_sub(1).map(|i| &mut publishes[i]) else { break };
            let kind: String = row.get(1).map_err(|e| self.sqlite(e))?;
            if MessageKind::from_stored(&kind, seq)? == MessageKind::HealthMetricsUpdate {
                publish.meta_changed = true;
                continue;
            }
            let repo_row: RepoRow = (|| {
                Ok((
                    seq,
                    row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    row.get::<_, Option<u32>>(3)?.unwrap_or(0),
                    row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    row.get(5)?,
                    row.get(6)?,
                ))
            })()
            .map_err(|e| self.sqlite(e))?;
            publish.repos.push(touched(repo_row)?);
        }
        Ok(publishes)
    }

    pub(crate) fn repo_history(
        &self,
        name: &str,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RepoEvent>> {
        let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, time_ms, repo, dup, change, old_status, new_status FROM messages
                 WHERE repo = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![name, before, sql_limit(limit)], |row| {
                let time: i64 = row.get(1)?;
                let repo_row: RepoRow =
                    (row.get(0)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?);
                Ok((time, repo_row))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut events = Vec::new();
        for row in rows {
            let (time, repo_row) = row.map_err(|e| self.sqlite(e))?;
            events.push(RepoEvent { time: from_unix_ms(time), change: touched(repo_row)? });
        }
        Ok(events)
    }

    pub(crate) fn source_events(
        &self,
        before_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<SourceEvent>> {
        let before = before_id.map_or(i64::MAX, |id| i64::try_from(id).unwrap_or(i64::MAX));
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, time_ms, kind, message FROM source_events
                 WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![before, sql_limit(limit)], |row| {
                Ok(SourceEvent {
                    id: row.get(0)?,
                    time: from_unix_ms(row.get(1)?),
                    kind: row.get(2)?,
                    message: row.get(3)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.sqlite(e))
    }

    pub(crate) fn stats(&self) -> Result<StoreStats> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sqlite(e))?;
        let epoch = current_epoch(&tx).map_err(|e| self.sqlite(e))?;
        let stats = tx
            .query_row(
                concat!(
                    "SELECT (SELECT MIN(seq) FROM checkpoints), ",
                    last_seq_sql!(),
                    ", (SELECT COUNT(*) FROM messages),
                        (SELECT COUNT(*) FROM checkpoints),
                        (SELECT COALESCE(SUM(bytes), 0) FROM publishes)
                          + (SELECT COALESCE(SUM(size), 0) FROM checkpoints),
                        (SELECT COUNT(*) FROM source_events),
                        (SELECT COUNT(*) FROM actions)"
                ),
                [],
                |row| {
                    Ok(StoreStats {
                        epoch,
                        oldest_seq: row.get(0)?,
                        last_seq: row.get(1)?,
                        messages: row.get(2)?,
                        checkpoints: row.get(3)?,
                        payload_bytes: row.get(4)?,
                        source_events: row.get(5)?,
                        actions: row.get(6)?,
                        db_file_bytes: 0,
                        wal_file_bytes: 0,
                    })
                },
            )
            .map_err(|e| self.sqlite(e))?;
        let size = |suffix: &str| {
            let mut name = self.path().as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(name).map_or(0, |metadata| metadata.len())
        };
        Ok(StoreStats { db_file_bytes: size(""), wal_file_bytes: size("-wal"), ..stats })
    }

    /// A replay error as it is, a SQLite one as the store's error.
    fn or_sqlite(&self, error: RebuildError) -> Error {
        match error {
            RebuildError::Sqlite(error) => self.sqlite(error),
            RebuildError::Store(error) => error,
        }
    }
}

/// Why a rebuild failed: SQLite, or the log's content.
pub(crate) enum RebuildError {
    Sqlite(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for RebuildError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}

impl From<Error> for RebuildError {
    fn from(error: Error) -> Self {
        Self::Store(error)
    }
}

/// The state at `seq`: the nearest checkpoint at or before it, and the messages after that.
fn rebuild(conn: &Connection, seq: u64) -> Result<Report, RebuildError> {
    let checkpoint: Option<(u64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT seq, state FROM checkpoints WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![seq], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((checkpoint_seq, state)) = checkpoint else {
        return Err(Error::NotRetained { seq, oldest: 0, last: 0 }.into());
    };
    let mut report = decode_checkpoint(checkpoint_seq, &state)?;
    drop(state);
    let mut statement = conn.prepare_cached(
        "SELECT seq, bytes FROM messages WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let rows = statement
        .query_map(params![checkpoint_seq, seq], |row| {
            Ok((row.get::<_, u64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // The messages up to `seq` must all be there: `apply_messages` checks there is no gap, and
    // the last one must be `seq` itself.
    if seq > checkpoint_seq && rows.last().map(|(last, _)| *last) != Some(seq) {
        return Err(Error::Replay {
            seq,
            detail: "the messages after the checkpoint stop short".to_owned(),
        }
        .into());
    }
    apply_messages(&mut report, checkpoint_seq, rows.iter().map(|(s, b)| (*s, b.as_slice())))?;
    Ok(report)
}

/// The log's last sequence number, `None` while it is empty.
pub(crate) fn last_seq(conn: &Connection) -> rusqlite::Result<Option<u64>> {
    conn.query_row(concat!("SELECT ", last_seq_sql!()), [], |row| row.get(0))
}

fn current_epoch(conn: &Connection) -> rusqlite::Result<Epoch> {
    let text: String =
        conn.query_row("SELECT value FROM store_meta WHERE key = 'epoch'", [], |row| row.get(0))?;
    text.parse().map_err(|error: gitops_protocol::Error| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("the stored epoch is unreadable: {error}")),
        )
    })
}

/// A `messages` row (seq, time, kind, bytes) as a [`StoredMessage`].
fn stored_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredMessage>> {
    let seq: u64 = row.get(0)?;
    let time: i64 = row.get(1)?;
    let kind: String = row.get(2)?;
    let bytes: Vec<u8> = row.get(3)?;
    Ok(MessageKind::from_stored(&kind, seq).map(|kind| StoredMessage {
        seq,
        time: from_unix_ms(time),
        kind,
        bytes: Bytes::from(bytes),
    }))
}
