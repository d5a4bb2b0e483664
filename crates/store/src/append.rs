//! Appending a publish: one transaction with its messages, and a checkpoint when one is due.

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;
use gitops_protocol::{Cursor, Epoch};
use gitops_report::Report;
use rusqlite::{TransactionBehavior, params};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::read::MessageKind;
use crate::time::unix_ms;
use crate::{Db, SinceCheckpoint, Store};

/// One publish, as the log records it: what clients were sent, and the state after it.
///
/// Build it with [`Batch::changes`] or [`Batch::snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    time: SystemTime,
    content: Content<'a>,
    state: &'a Report,
}

#[derive(Debug, Clone, Copy)]
enum Content<'a> {
    Changes(&'a [Bytes]),
    Snapshot(u64),
}

impl<'a> Batch<'a> {
    /// A publish of change messages: `repo-status-change` and `health-metrics-update` messages
    /// exactly as encoded by `gitops_protocol`, with the store's epoch and sequence numbers that
    /// follow the log's last one without a gap. `state` is the report after them; it is
    /// serialised only when a checkpoint is due.
    pub fn changes(time: SystemTime, messages: &'a [Bytes], state: &'a Report) -> Self {
        Self { time, content: Content::Changes(messages), state }
    }

    /// A whole state at sequence number `seq`, with no messages: the log's first entry, or a new
    /// start after the caller and the log disagreed (after [`Error::OutOfSequence`], or appends
    /// that failed while serving went on). `seq` must be above the log's last one; the points in
    /// between cannot be rebuilt, so a client holding one of them gets a snapshot.
    pub fn snapshot(time: SystemTime, seq: u64, state: &'a Report) -> Self {
        Self { time, content: Content::Snapshot(seq), state }
    }
}

/// What [`Store::append`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The log's cursor now.
    pub cursor: Cursor,
    /// Whether a checkpoint was written with it.
    pub checkpoint: bool,
}

/// One message's parts that the log indexes, read from its own bytes.
struct Parsed {
    seq: u64,
    kind: MessageKind,
    repo: Option<RepoData>,
}

/// The head of an encoded state-bearing message, `data` skipped.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    epoch: Epoch,
    seq: u64,
}

/// A `repo-status-change` with the fields of its data the log indexes.
#[derive(Deserialize)]
struct RepoHead {
    epoch: Epoch,
    seq: u64,
    data: RepoData,
}

/// How `gitops_protocol` begins a `repo-status-change`: such messages are read in one pass.
const REPO_PREFIX: &[u8] = br#"{"type":"repo-status-change","#;

#[derive(Deserialize)]
struct RepoData {
    name: String,
    #[serde(default)]
    dup: u32,
    change: String,
    old_status: Option<String>,
    new_status: Option<String>,
}

impl Store {
    /// Appends one publish in one transaction. Write-ahead: call it before sending the messages
    /// to any client, so no client ever holds a cursor the log lacks.
    ///
    /// Every message is checked against its own bytes (kind, epoch, sequence number) before
    /// anything is written; on any error nothing is written and the log is as it was, so the
    /// same batch can be retried ([`Error::DiskFull`]).
    pub fn append(&mut self, batch: &Batch<'_>) -> Result<Appended> {
        let time_ms = unix_ms(batch.time);
        let (first_seq, last_seq, parsed) = match batch.content {
            Content::Changes(messages) => {
                let expected = self.last_seq.ok_or(Error::NeedsSnapshot)? + 1;
                let parsed = parse_batch(messages, self.epoch, expected)?;
                (expected, expected + messages.len() as u64 - 1, parsed)
            }
            Content::Snapshot(seq) => {
                let expected = self.last_seq.map_or(1, |last| last + 1);
                if seq < expected || seq == 0 {
                    return Err(Error::OutOfSequence { expected, found: seq });
                }
                (expected, seq, Vec::new())
            }
        };
        let messages: &[Bytes] = match batch.content {
            Content::Changes(messages) => messages,
            Content::Snapshot(_) => &[],
        };
        let n_messages = messages.len() as u64;
        let n_bytes: u64 = messages.iter().map(|m| m.len() as u64).sum();
        let config = &self.db.shared.config;
        let checkpoint_due = match (batch.content, self.since_checkpoint) {
            (Content::Snapshot(_), _) | (_, None) => true,
            (_, Some(since)) => {
                since.messages + n_messages >= config.checkpoint_every_messages
                    || since.bytes + n_bytes
                        >= config.checkpoint_every_bytes.max(since.checkpoint_size)
            }
        };
        let bytes_since_previous = self.since_checkpoint.map_or(0, |since| since.bytes) + n_bytes;
        let state = checkpoint_due.then(|| {
            serde_json::to_vec(batch.state)
                .expect("a report's fields are strings, numbers and JSON values: it serialises")
        });

        let kind = match batch.content {
            Content::Changes(_) => "changes",
            Content::Snapshot(_) => "snapshot",
        };
        self.db
            .write(|tx| {
                tx.prepare_cached(
                    "INSERT INTO publishes (first_seq, last_seq, time_ms, kind, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![first_seq, last_seq, time_ms, kind, n_bytes])?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages
                     (seq, time_ms, kind, repo, dup, change, old_status, new_status, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for (message, bytes) in parsed.iter().zip(messages) {
                    let repo = message.repo.as_ref();
                    insert.execute(params![
                        message.seq,
                        time_ms,
                        message.kind.as_str(),
                        repo.map(|r| r.name.as_str()),
                        repo.map(|r| r.dup),
                        repo.map(|r| r.change.as_str()),
                        repo.and_then(|r| r.old_status.as_deref()),
                        repo.and_then(|r| r.new_status.as_deref()),
                        bytes.as_ref(),
                    ])?;
                }
                if let Some(state) = &state {
                    tx.prepare_cached(
                        "INSERT INTO checkpoints (seq, time_ms, size, bytes_since_previous, state)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        last_seq,
                        time_ms,
                        state.len() as u64,
                        bytes_since_previous,
                        state
                    ])?;
                }
                Ok(())
            })
            .map_err(|error| self.db.sqlite(error))?;

        self.last_seq = Some(last_seq);
        self.since_checkpoint = match (&state, self.since_checkpoint) {
            (Some(state), _) => {
                Some(SinceCheckpoint { checkpoint_size: state.len() as u64, ..Default::default() })
            }
            (None, None) => None,
            (None, Some(since)) => Some(SinceCheckpoint {
                messages: since.messages + n_messages,
                bytes: since.bytes + n_bytes,
                ..since
            }),
        };
        let cursor = Cursor::new(self.epoch, last_seq);
        self.db.shared.lock.write_head(cursor);
        self.wal_unchecked += n_bytes + state.as_ref().map_or(0, |s| s.len() as u64);
        if self.wal_unchecked >= WAL_CHECK_BYTES {
            self.wal_unchecked = 0;
            self.db.fold_wal_if_large();
        }
        Ok(Appended { cursor, checkpoint: state.is_some() })
    }
}

/// How many bytes are appended between two looks at the WAL file's size.
const WAL_CHECK_BYTES: u64 = 4 << 20;

/// The WAL size past which `append` folds it into the database itself, because no background
/// `prune` has done so.
const WAL_FOLD_BYTES: u64 = 64 << 20;

impl Db {
    /// Folds the WAL into the database when it has grown past [`WAL_FOLD_BYTES`].
    ///
    /// Best effort, after a commit that succeeded: a failure here must not turn a successful
    /// append into an error, and the next look tries again.
    fn fold_wal_if_large(&self) {
        let mut wal = self.path().as_os_str().to_owned();
        wal.push("-wal");
        let size = std::fs::metadata(wal).map_or(0, |metadata| metadata.len());
        if size > WAL_FOLD_BYTES {
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        }
    }

    /// Runs `f` in one write transaction, committing when `f` succeeds. The transaction takes
    /// the write lock at once (so it waits for the busy timeout rather than failing half-way),
    /// under this process's write gate.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let _gate = self.shared.write_gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    pub(crate) fn record_source_event(
        &mut self,
        time: SystemTime,
        kind: &str,
        message: &str,
    ) -> Result<u64> {
        let time_ms = unix_ms(time);
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO source_events (time_ms, kind, message) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![time_ms, kind, message])?;
            Ok(tx.last_insert_rowid() as u64)
        })
        .map_err(|error| self.sqlite(error))
    }
}

/// Checks every message of a batch and reads what the log indexes from it.
fn parse_batch(messages: &[Bytes], expected_epoch: Epoch, first_seq: u64) -> Result<Vec<Parsed>> {
    if messages.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let mut parsed = Vec::with_capacity(messages.len());
    for (index, bytes) in messages.iter().enumerate() {
        let invalid = |detail: String| Error::InvalidMessage { index, detail };
        let (kind, epoch, seq, repo) = if bytes.starts_with(REPO_PREFIX) {
            // The common case, in one pass (the prefix fixes the type).
            let RepoHead { epoch, seq, data } =
                serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
            (MessageKind::RepoStatusChange, epoch, seq, Some(data))
        } else {
            let head: Head<'_> =
                serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
            match head.kind.as_ref() {
                "repo-status-change" => {
                    let RepoHead { data, .. } = serde_json::from_slice(bytes)
                        .map_err(|error| invalid(error.to_string()))?;
                    (MessageKind::RepoStatusChange, head.epoch, head.seq, Some(data))
                }
                "health-metrics-update" => {
                    (MessageKind::HealthMetricsUpdate, head.epoch, head.seq, None)
                }
                other => return Err(invalid(format!("a {other:?} message is not a change"))),
            }
        };
        if epoch != expected_epoch {
            return Err(Error::WrongEpoch { expected: expected_epoch, found: epoch });
        }
        let expected = first_seq + index as u64;
        if seq != expected {
            return Err(Error::OutOfSequence { expected, found: seq });
        }
        parsed.push(Parsed { seq, kind, repo });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_whatever_the_order_of_their_fields() {
        let epoch = Epoch(0xabc);
        let encoded = gitops_protocol::encode_repo_change(
            Cursor::new(epoch, 7),
            &gitops_diff::RepoChange {
                name: "halo".to_owned(),
                dup: 1,
                kind: gitops_diff::RepoChangeKind::Removed {
                    old_status: gitops_report::Status::Dirty,
                },
            },
        );
        assert!(encoded.starts_with(REPO_PREFIX), "the encoder's order, read in one pass");
        let reordered = Bytes::from(format!(
            r#"{{"seq":8,"data":{{"change":"removed","old_status":"dirty","dup":1,"name":"halo"}},"epoch":"{epoch}","type":"repo-status-change"}}"#
        ));
        let parsed = parse_batch(&[encoded, reordered], epoch, 7).unwrap();
        for (message, seq) in parsed.iter().zip([7, 8]) {
            assert_eq!(message.seq, seq);
            assert_eq!(message.kind, MessageKind::RepoStatusChange);
            let repo = message.repo.as_ref().unwrap();
            assert_eq!(
                (repo.name.as_str(), repo.dup, repo.change.as_str()),
                ("halo", 1, "removed")
            );
            assert_eq!(repo.old_status.as_deref(), Some("dirty"));
            assert_eq!(repo.new_status, None);
        }
    }
}
