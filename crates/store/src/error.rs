//! The store's one error type: each variant says what the caller should do about it.

use std::io;
use std::path::PathBuf;

use gitops_protocol::Epoch;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory's path names something that is not a directory (a file, say). Pass
    /// a directory, or a path that does not exist yet (it is created).
    #[error("the state directory {path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The state directory cannot be written: a read-only filesystem, or no permission. Make it
    /// writable for this user, or choose another state directory.
    #[error("the state directory cannot be written: {path}: {source}")]
    NotWritable {
        /// The directory or file that could not be written.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another store holds the state directory: another process, or another [`crate::Store`] in
    /// this one. Stop the holder, or give this one another state directory; never share one.
    #[error("the state directory {path} is in use by {holder}")]
    Locked {
        /// The state directory.
        path: PathBuf,
        /// Who holds it, as the holder wrote it: process id and start time.
        holder: String,
    },
    /// The database was written by a newer gitops-live, with a schema this one does not know.
    /// Nothing was changed. Run the newer version, or give this one another state directory.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this version \
         supports: run a newer gitops-live or use another state directory"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The newest schema version this crate knows.
        supported: u32,
    },
    /// The disk is full. Nothing of the failed call was written and the log is intact: free some
    /// space (or prune) and retry the same call; live serving can go on meanwhile.
    #[error("the disk holding {path} is full")]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// The database file is damaged. Stop using this store and open it again: opening moves a
    /// damaged file aside and starts a fresh one.
    #[error("the database {path} is damaged: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the check said.
        detail: String,
    },
    /// A batch's first sequence number does not follow the log's last one (a gap or a repeat).
    /// Nothing was written. The caller and the log disagree on where they are: append a
    /// [`crate::Batch::snapshot`] at the caller's sequence number to start over from its state.
    #[error("expected sequence number {expected}, the batch has {found}")]
    OutOfSequence {
        /// The sequence number the log expects next.
        expected: u64,
        /// The sequence number the batch has.
        found: u64,
    },
    /// A message was encoded with another epoch than the store's. Nothing was written. Encode
    /// with [`crate::Store::epoch`].
    #[error("a message has epoch {found}, the store's epoch is {expected}")]
    WrongEpoch {
        /// The store's epoch.
        expected: Epoch,
        /// The message's epoch.
        found: Epoch,
    },
    /// A message is not a `repo-status-change` or `health-metrics-update` encoded by
    /// `gitops_protocol`. Nothing was written. Only state-bearing changes go in the log.
    #[error("message {index} of the batch is not a change message: {detail}")]
    InvalidMessage {
        /// Its position in the batch, from 0.
        index: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// The batch holds no message. Nothing was written. Append only publishes that changed
    /// something, or a [`crate::Batch::snapshot`].
    #[error("the batch holds no message")]
    EmptyBatch,
    /// The log is empty and a batch of changes has no state to apply to. Append a
    /// [`crate::Batch::snapshot`] first.
    #[error("the log is empty: its first entry must be a snapshot")]
    NeedsSnapshot,
    /// The state at this sequence number cannot be rebuilt from the log: it is older than what
    /// retention kept, newer than the last entry, or inside a snapshot's gap. Answer the client
    /// that asked for it with a snapshot.
    #[error("the log cannot rebuild the state at {seq} (it holds {oldest}..={last})")]
    NotRetained {
        /// The sequence number asked for.
        seq: u64,
        /// The oldest sequence number whose state can be rebuilt (0 when the log is empty).
        oldest: u64,
        /// The last sequence number in the log (0 when the log is empty).
        last: u64,
    },
    /// A stored message or checkpoint could not be decoded or applied: the log disagrees with
    /// itself, which only a bug or an edited file can cause. Answer with a snapshot; report it.
    #[error("the log cannot be replayed at {seq}: {detail}")]
    Replay {
        /// Where replaying failed.
        seq: u64,
        /// Why.
        detail: String,
    },
    /// The action log has no action with this id: it was not returned by `begin_action` on this
    /// log (or the state directory was replaced since). Nothing was written. Log the end as a
    /// one-shot record with `record_action` instead.
    #[error("the action log has no action {id}")]
    NoSuchAction {
        /// The id given.
        id: u64,
    },
    /// The action has ended already: finished before, or marked interrupted when the store was
    /// opened after the process that began it stopped. Nothing was written; finish an action
    /// once.
    #[error("action {id} has ended already")]
    ActionFinished {
        /// The id given.
        id: u64,
    },
    /// A value is larger than the store keeps: an outbox payload above
    /// [`crate::MAX_OUTBOX_PAYLOAD_BYTES`], a key-value entry above [`crate::MAX_KV_VALUE_BYTES`]
    /// (or a key above [`crate::MAX_KV_KEY_BYTES`]). Nothing was written; retrying the same call
    /// fails again. Keep something smaller (a digest cut to its destination's limit is far
    /// below this).
    #[error("{what} is {size} bytes, more than the {max} the store keeps")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The most bytes kept.
        max: usize,
    },
    /// The outbox has no item with this id: it was never enqueued in this store, or retention
    /// removed it after it was delivered or given up on. Nothing was written; there is nothing
    /// left to do with it.
    #[error("the outbox has no item {id}")]
    NoSuchOutboxItem {
        /// The id given.
        id: u64,
    },
    /// The outbox item is not in the state the call needs: `delivered` or `failed` on an item
    /// already delivered or dead (another task finished it), or `requeue` on one that is not a
    /// dead letter. Nothing was written; there is nothing left to do with it.
    #[error("outbox item {id} is {found}, not {expected}")]
    OutboxItemState {
        /// The id given.
        id: u64,
        /// The state it is in.
        found: String,
        /// The state the call needs.
        expected: &'static str,
    },
    /// A file operation in the state directory failed. Check the directory and retry.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another SQLite failure (busy past the timeout, an I/O error). Retry; if it persists, check
    /// the disk and the state directory.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which kind of SQLite failure an error is, for the cases the store treats apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    DiskFull,
    Corrupt,
    ReadOnly,
    Other,
}

/// Classifies a SQLite error.
pub(crate) fn failure(error: &rusqlite::Error) -> Failure {
    use rusqlite::ErrorCode;
    let rusqlite::Error::SqliteFailure(inner, _) = error else {
        return Failure::Other;
    };
    // Extended codes that mean the same as a primary one here: a short read is a truncated
    // file; SQLITE_IOERR_WRITE / FSYNC with ENOSPC are reported by SQLite as SQLITE_FULL already.
    const SQLITE_IOERR_SHORT_READ: i32 = 522;
    match inner.code {
        ErrorCode::DiskFull => Failure::DiskFull,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Failure::Corrupt,
        ErrorCode::SystemIoFailure if inner.extended_code == SQLITE_IOERR_SHORT_READ => {
            Failure::Corrupt
        }
        ErrorCode::ReadOnly | ErrorCode::PermissionDenied => Failure::ReadOnly,
        _ => Failure::Other,
    }
}

/// Turns a SQLite error on the database at `path` into the store's error.
pub(crate) fn from_sqlite(path: &std::path::Path, error: rusqlite::Error) -> Error {
    match failure(&error) {
        Failure::DiskFull => Error::DiskFull { path: path.to_owned() },
        Failure::Corrupt => Error::Corrupt { path: path.to_owned(), detail: error.to_string() },
        Failure::ReadOnly => Error::NotWritable {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, error.to_string()),
        },
        Failure::Other => Error::Sqlite(error),
    }
}
