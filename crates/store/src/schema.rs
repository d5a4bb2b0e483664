//! The database schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Version 0 is an empty file. Each entry of [`MIGRATIONS`] takes the schema one version up and
//! runs in its own transaction together with the `user_version` bump, so a crash in the middle
//! leaves the previous version intact. A file with a version above [`CURRENT`] is refused
//! untouched: it was written by a newer gitops-live.
//!
//! The tables, as of version 1:
//! - `store_meta`: the current epoch and when the file was created.
//! - `epochs`: every epoch the log has had and the first sequence number written in it.
//! - `publishes`: one row per append, covering sequence numbers `first_seq..=last_seq` without
//!   gaps from one row to the next; `kind` is `changes` (one message per seq) or `snapshot` (a
//!   checkpoint at `last_seq` and no messages: the points before it in the row are lost).
//! - `messages`: every change message exactly as clients were sent it, with the repository it
//!   touched (for per-repository history).
//! - `checkpoints`: the whole state (report JSON) at some sequence numbers; the state at any
//!   point is the nearest checkpoint at or before it plus the messages after it.
//! - `source_events`: the report source's health over time.
//!
//! Version 2 adds:
//! - `actions`: the action log, one row per remediation action (a preview, a refusal, a run),
//!   newest first by `id`, and by repository through `actions_by_repo`. A row with `ended_ms`
//!   NULL is running (`actions_unfinished` finds those on open, to mark them interrupted). `id`
//!   is `AUTOINCREMENT` so that an id is never given twice, even after retention removed the
//!   newest rows: a link to an action never comes to name another one.
//!
//! Version 3 adds:
//! - `outbox`: the notification outbox, one row per payload to deliver to one destination.
//!   `state` is `pending` (waiting, due at `next_attempt_ms`), `delivered` or `dead` (given up
//!   on, with `last_error`); a finished row has `ended_ms` and no `next_attempt_ms`.
//!   `outbox_due` finds a destination's due rows among the pending ones only; `outbox_by_state`
//!   lists newest first within a state (the dead letters) and finds the finished rows for
//!   retention. `id` is `AUTOINCREMENT` for the same reason as the action log's.
//! - `kv`: small values callers keep across restarts (the notifier's state as JSON text). It is
//!   apart from `store_meta`, which holds the store's own keys (the epoch), so that no caller
//!   can overwrite those.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this crate writes.
pub(crate) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

const V1: &str = "
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE epochs (
    first_seq INTEGER PRIMARY KEY,
    epoch TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE publishes (
    first_seq INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    bytes INTEGER NOT NULL
);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    repo TEXT,
    dup INTEGER,
    change TEXT,
    old_status TEXT,
    new_status TEXT,
    bytes BLOB NOT NULL
);
CREATE INDEX messages_by_repo ON messages (repo, seq) WHERE repo IS NOT NULL;

CREATE TABLE checkpoints (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    bytes_since_previous INTEGER NOT NULL,
    state BLOB NOT NULL
);

CREATE TABLE source_events (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX source_events_by_time ON source_events (time_ms);
";

const V2: &str = "
CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    repo TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    result TEXT NOT NULL,
    error_class TEXT,
    summary TEXT NOT NULL,
    output TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX actions_by_repo ON actions (repo, id);
CREATE INDEX actions_unfinished ON actions (id) WHERE ended_ms IS NULL;
";

const V3: &str = "
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    last_error TEXT,
    ended_ms INTEGER
);
CREATE INDEX outbox_due ON outbox (destination, next_attempt_ms) WHERE state = 'pending';
CREATE INDEX outbox_by_state ON outbox (state, id);

CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Makes a new, empty database give freed pages back to the filesystem when asked
/// (`PRAGMA incremental_vacuum`, after pruning). This only takes effect before the first table
/// exists and before the file is switched to WAL; on any other file it changes nothing.
pub(crate) fn prepare_new(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
}

/// The schema version of the open database.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Runs the migrations from `from` up to [`CURRENT`]; `from` must not be above it.
pub(crate) fn migrate(conn: &mut Connection, from: u32) -> rusqlite::Result<()> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
