//! The notification outbox, durable: payloads waiting for delivery to a destination, their
//! attempts, and the delivery log and dead letters they become; and a small key-value table for
//! callers' state kept across restarts.
//!
//! The store keeps plain values and knows nothing of notifications: the server adapts it to
//! `gitops_notify::Outbox`. An item is enqueued `pending` and due at once; each attempt ends in
//! [`crate::Store::delivered`] or [`crate::Store::failed`], which either schedules the next attempt or
//! makes the item a dead letter ([`OUTBOX_DEAD`]). [`crate::Store::requeue`] gives a dead letter
//! another life (a "retry" button). Every change is one short write transaction, so a process
//! killed at any moment leaves every row in one of the three states, as its last committed call
//! left it.
//!
//! Payloads are refused above [`MAX_OUTBOX_PAYLOAD_BYTES`] ([`crate::Error::TooLarge`]); error
//! texts are cut to [`MAX_OUTBOX_ERROR_BYTES`]. Retention drops finished rows by age and count
//! ([`crate::RetentionPolicy::max_outbox`]) and never a pending one.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, params};

use crate::Db;
use crate::actions::cut_to;
use crate::error::{Error, Result};
use crate::time::{from_unix_ms, unix_ms};

/// The state of an item waiting for its next attempt.
pub const OUTBOX_PENDING: &str = "pending";
/// The state of an item delivered.
pub const OUTBOX_DELIVERED: &str = "delivered";
/// The state of an item given up on: a dead letter.
pub const OUTBOX_DEAD: &str = "dead";
/// The largest payload the outbox keeps; a larger one is refused with [`Error::TooLarge`].
pub const MAX_OUTBOX_PAYLOAD_BYTES: usize = 1 << 20;
/// The most bytes of an attempt's error the outbox keeps; a longer one is cut at a character
/// boundary and ends with [`crate::TRUNCATED_MARKER`].
pub const MAX_OUTBOX_ERROR_BYTES: usize = 4 << 10;
/// The longest key of the key-value table; a longer one is refused with [`Error::TooLarge`].
pub const MAX_KV_KEY_BYTES: usize = 1 << 10;
/// The largest value of the key-value table; a larger one is refused with [`Error::TooLarge`].
pub const MAX_KV_VALUE_BYTES: usize = 1 << 20;

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Its id: increasing, never reused, even after retention removed the newest rows.
    pub id: u64,
    /// The destination it is for, as the caller named it.
    pub destination: String,
    /// The payload, as enqueued.
    pub payload: Vec<u8>,
    /// When it was enqueued.
    pub created: SystemTime,
    /// When it is due (again); `None` once it is delivered or dead.
    pub next_attempt: Option<SystemTime>,
    /// How many attempts failed (since it was last requeued).
    pub attempts: u32,
    /// [`OUTBOX_PENDING`], [`OUTBOX_DELIVERED`] or [`OUTBOX_DEAD`].
    pub state: String,
    /// The last failed attempt's error, capped; kept when it is delivered or requeued later.
    pub last_error: Option<String>,
    /// When it was delivered or given up on; `None` while pending.
    pub ended: Option<SystemTime>,
}

/// Which items [`crate::Store::outbox`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxFilter<'a> {
    /// Only those for this destination (an exact match).
    pub destination: Option<&'a str>,
    /// Only those in this state ([`OUTBOX_PENDING`], [`OUTBOX_DELIVERED`], [`OUTBOX_DEAD`]).
    pub state: Option<&'a str>,
}

impl<'a> OutboxFilter<'a> {
    /// Every item.
    pub fn any() -> Self {
        Self::default()
    }

    /// The dead letters, of every destination.
    pub fn dead() -> Self {
        Self { destination: None, state: Some(OUTBOX_DEAD) }
    }

    /// The items for `destination`.
    pub fn destination(destination: &'a str) -> Self {
        Self { destination: Some(destination), state: None }
    }
}

const COLUMNS: &str = "id, destination, payload, created_ms, next_attempt_ms, attempts, state, \
                       last_error, ended_ms";

fn outbox_item(row: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        id: row.get(0)?,
        destination: row.get(1)?,
        payload: row.get(2)?,
        created: from_unix_ms(row.get(3)?),
        next_attempt: row.get::<_, Option<i64>>(4)?.map(from_unix_ms),
        attempts: row.get(5)?,
        state: row.get(6)?,
        last_error: row.get(7)?,
        ended: row.get::<_, Option<i64>>(8)?.map(from_unix_ms),
    })
}

fn too_large(what: &'static str, size: usize, max: usize) -> Result<()> {
    if size > max { Err(Error::TooLarge { what, size, max }) } else { Ok(()) }
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl Db {
    pub(crate) fn enqueue(
        &self,
        destination: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<u64> {
        too_large("the outbox payload", payload.len(), MAX_OUTBOX_PAYLOAD_BYTES)?;
        let now = unix_ms(now);
        self.write_shared(|tx| {
            tx.prepare_cached(
                "INSERT INTO outbox (destination, payload, created_ms, next_attempt_ms, attempts,
                                     state)
                 VALUES (?1, ?2, ?3, ?3, 0, 'pending')",
            )?
            .execute(params![destination, payload, now])?;
            Ok(tx.last_insert_rowid() as u64)
        })
        .map_err(|e| self.sqlite(e))
    }

    pub(crate) fn due(
        &self,
        destination: &str,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let sqlite = |e| self.sqlite(e);
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE state = 'pending' AND destination = ?1 AND next_attempt_ms <= ?2
                 ORDER BY id LIMIT ?3"
            ))
            .map_err(sqlite)?;
        let rows = statement
            .query_map(params![destination, unix_ms(now), sql_limit(limit)], outbox_item)
            .map_err(sqlite)?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(sqlite)
    }

    pub(crate) fn next_due(&self, destination: &str) -> Result<Option<SystemTime>> {
        let next: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MIN(next_attempt_ms) FROM outbox
                 WHERE state = 'pending' AND destination = ?1",
            )
            .and_then(|mut statement| statement.query_row(params![destination], |row| row.get(0)))
            .map_err(|e| self.sqlite(e))?;
        Ok(next.map(from_unix_ms))
    }

    /// Runs `update` (with `?1` the item's id) on item `id` if it is in state `expected`, in one
    /// write transaction; says why not otherwise, having written nothing.
    fn move_item(
        &self,
        id: u64,
        expected: &'static str,
        update: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        let Ok(sql_id) = i64::try_from(id) else { return Err(Error::NoSuchOutboxItem { id }) };
        // `Some(state)` when nothing was updated, `Some(None)` when there is no such row.
        let missed = self
            .write_shared(|tx| {
                let mut all: Vec<&dyn rusqlite::ToSql> = vec![&sql_id, &expected];
                all.extend_from_slice(values);
                let changed = tx.prepare_cached(update)?.execute(all.as_slice())?;
                if changed == 1 {
                    return Ok(None);
                }
                let state: Option<String> = tx
                    .prepare_cached("SELECT state FROM outbox WHERE id = ?1")?
                    .query_row(params![sql_id], |row| row.get(0))
                    .optional()?;
                Ok(Some(state))
            })
            .map_err(|e| self.sqlite(e))?;
        match missed {
            None => Ok(()),
            Some(Some(found)) => Err(Error::OutboxItemState { id, found, expected }),
            Some(None) => Err(Error::NoSuchOutboxItem { id }),
        }
    }

    pub(crate) fn delivered(&self, id: u64, now: SystemTime) -> Result<()> {
        self.move_item(
            id,
            OUTBOX_PENDING,
            "UPDATE outbox SET state = 'delivered', next_attempt_ms = NULL, ended_ms = ?3
             WHERE id = ?1 AND state = ?2",
            &[&unix_ms(now)],
        )
    }

    pub(crate) fn failed(
        &self,
        id: u64,
        error: &str,
        retry: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<()> {
        let error = cut_to(error, MAX_OUTBOX_ERROR_BYTES);
        match retry {
            Some(at) => self.move_item(
                id,
                OUTBOX_PENDING,
                "UPDATE outbox SET attempts = MIN(attempts + 1, 4294967295), last_error = ?3,
                                   next_attempt_ms = ?4
                 WHERE id = ?1 AND state = ?2",
                &[&error, &unix_ms(at)],
            ),
            None => self.move_item(
                id,
                OUTBOX_PENDING,
                "UPDATE outbox SET attempts = MIN(attempts + 1, 4294967295), last_error = ?3,
                                   state = 'dead', next_attempt_ms = NULL, ended_ms = ?4
                 WHERE id = ?1 AND state = ?2",
                &[&error, &unix_ms(now)],
            ),
        }
    }

    pub(crate) fn requeue(&self, id: u64, now: SystemTime) -> Result<()> {
        self.move_item(
            id,
            OUTBOX_DEAD,
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?3,
                               ended_ms = NULL
             WHERE id = ?1 AND state = ?2",
            &[&unix_ms(now)],
        )
    }

    pub(crate) fn outbox(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: OutboxFilter<'_>,
    ) -> Result<Vec<OutboxItem>> {
        let before = before_id.map_or(i64::MAX, |id| i64::try_from(id).unwrap_or(i64::MAX));
        let sqlite = |e| self.sqlite(e);
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE id < ?1 AND (?2 IS NULL OR destination = ?2) AND (?3 IS NULL OR state = ?3)
                 ORDER BY id DESC LIMIT ?4"
            ))
            .map_err(sqlite)?;
        let rows = statement
            .query_map(
                params![before, filter.destination, filter.state, sql_limit(limit)],
                outbox_item,
            )
            .map_err(sqlite)?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(sqlite)
    }

    pub(crate) fn outbox_counts(&self) -> Result<BTreeMap<(String, String), u64>> {
        let sqlite = |e| self.sqlite(e);
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT destination, state, COUNT(*) FROM outbox GROUP BY destination, state",
            )
            .map_err(sqlite)?;
        let rows = statement
            .query_map([], |row| Ok(((row.get(0)?, row.get(1)?), row.get(2)?)))
            .map_err(sqlite)?
            .collect::<rusqlite::Result<BTreeMap<_, _>>>();
        rows.map_err(sqlite)
    }

    pub(crate) fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT value FROM kv WHERE key = ?1")
            .and_then(|mut statement| {
                statement.query_row(params![key], |row| row.get(0)).optional()
            })
            .map_err(|e| self.sqlite(e))
    }

    pub(crate) fn kv_set(&self, key: &str, value: &str, now: SystemTime) -> Result<()> {
        too_large("the key", key.len(), MAX_KV_KEY_BYTES)?;
        too_large("the value", value.len(), MAX_KV_VALUE_BYTES)?;
        let now = unix_ms(now);
        self.write_shared(|tx| {
            tx.prepare_cached(
                "INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                                 updated_ms = excluded.updated_ms",
            )?
            .execute(params![key, value, now])?;
            Ok(())
        })
        .map_err(|e| self.sqlite(e))
    }
}
