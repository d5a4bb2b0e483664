//! Retention: dropping old history by age and by total size, at checkpoint boundaries, in short
//! transactions; and keeping the source events, the action log and the outbox's finished items
//! bounded.
//!
//! History is cut at a checkpoint, the new oldest point: everything before it goes, it and
//! everything after it stay, so every point kept can still be rebuilt. The cut never passes the
//! latest checkpoint. Deletion runs oldest checkpoints first and messages last: if a prune is
//! interrupted (a crash, a full disk) the oldest remaining checkpoint still has every message
//! after it, and the leftover older messages are merely unreachable until the next prune.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};

use crate::Db;
use crate::error::Result;
use crate::time::unix_ms;

/// What history to keep. The latest checkpoint and everything after it are always kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Drop history older than this. Default 30 days.
    pub max_age: Option<Duration>,
    /// Keep at most this many bytes of messages and checkpoints (the database file is somewhat
    /// larger: indexes and free pages). Default 256 MiB.
    pub max_bytes: Option<u64>,
    /// Keep at most this many source events (they are also dropped after `max_age`).
    /// Default 10,000.
    pub max_source_events: Option<u64>,
    /// Keep at most this many rows of the action log, the newest (they are also dropped after
    /// `max_age`, by their start). A running action is never dropped, so the log can hold more
    /// while old ones still run. Default 10,000.
    pub max_actions: Option<u64>,
    /// Keep at most this many finished outbox items (delivered and dead letters), the newest
    /// (they are also dropped after `max_age`, by when they ended). A pending item is never
    /// dropped. Default 10,000.
    pub max_outbox: Option<u64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            max_bytes: Some(256 << 20),
            max_source_events: Some(10_000),
            max_actions: Some(10_000),
            max_outbox: Some(10_000),
        }
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    /// The oldest point that can be rebuilt now, if the log holds any.
    pub oldest_seq: Option<u64>,
    /// Messages removed.
    pub messages: u64,
    /// Checkpoints removed.
    pub checkpoints: u64,
    /// Bytes of messages and checkpoints removed.
    pub bytes: u64,
    /// Source events removed.
    pub source_events: u64,
    /// Actions removed from the action log.
    pub actions: u64,
    /// Finished items removed from the outbox.
    pub outbox: u64,
}

/// Rows deleted per transaction: small enough that an append waits a few milliseconds at most.
const CHUNK: u64 = 500;

/// One checkpoint's place in the retention arithmetic.
struct Point {
    seq: u64,
    time_ms: i64,
    size: u64,
    bytes_since_previous: u64,
}

impl Db {
    pub(crate) fn prune(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<PruneReport> {
        let sqlite = |e| self.sqlite(e);
        let points: Vec<Point> = {
            let mut statement = self
                .conn
                .prepare_cached(
                    "SELECT seq, time_ms, size, bytes_since_previous FROM checkpoints ORDER BY seq",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(Point {
                        seq: row.get(0)?,
                        time_ms: row.get(1)?,
                        size: row.get(2)?,
                        bytes_since_previous: row.get(3)?,
                    })
                })
                .map_err(sqlite)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sqlite)?
        };
        let mut report = PruneReport::default();
        if let Some(cut) = cut_index(&points, policy, now, |latest| self.bytes_after(latest))? {
            let floor = points[cut].seq;
            for point in &points[..cut] {
                let _gate = self.gate();
                self.conn
                    .execute("DELETE FROM checkpoints WHERE seq = ?1", params![point.seq])
                    .map_err(sqlite)?;
                report.checkpoints += 1;
                report.bytes += point.size;
            }
            report.bytes += points[1..=cut].iter().map(|p| p.bytes_since_previous).sum::<u64>();
            report.messages = self.delete_below(floor)?;
        }
        report.source_events = self.prune_source_events(policy, now)?;
        report.actions = self.prune_actions(policy, now)?;
        report.outbox = self.prune_outbox(policy, now)?;
        // Give the freed pages back to the filesystem, a chunk at a time.
        loop {
            let freed: i64 = self
                .conn
                .query_row("PRAGMA freelist_count", [], |row| row.get(0))
                .map_err(sqlite)?;
            if freed == 0 {
                break;
            }
            {
                let _gate = self.gate();
                // The pragma frees one page per step: step it to the end.
                let mut statement =
                    self.conn.prepare_cached("PRAGMA incremental_vacuum(64)").map_err(sqlite)?;
                let mut rows = statement.query([]).map_err(sqlite)?;
                while rows.next().map_err(sqlite)?.is_some() {}
            }
            let after: i64 = self
                .conn
                .query_row("PRAGMA freelist_count", [], |row| row.get(0))
                .map_err(sqlite)?;
            if after >= freed {
                // auto_vacuum is off in this file (made before it was set): nothing to give back.
                break;
            }
        }
        // Fold what this connection wrote into the database without waiting for readers or
        // blocking the store's appends (handles never checkpoint on commit).
        self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").map_err(sqlite)?;
        report.oldest_seq = self
            .conn
            .query_row("SELECT MIN(seq) FROM checkpoints", [], |row| row.get(0))
            .map_err(sqlite)?;
        Ok(report)
    }

    /// Bytes of messages after the checkpoint at `seq`.
    fn bytes_after(&self, seq: u64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM publishes WHERE first_seq > ?1",
                params![seq],
                |row| row.get(0),
            )
            .map_err(|e| self.sqlite(e))
    }

    /// Deletes messages and publishes at or below `floor`, a chunk per transaction; returns the
    /// number of messages deleted.
    fn delete_below(&self, floor: u64) -> Result<u64> {
        let sqlite = |e| self.sqlite(e);
        let lowest: Option<u64> = self
            .conn
            .query_row("SELECT MIN(first_seq) FROM publishes", [], |row| row.get(0))
            .map_err(sqlite)?;
        let Some(mut low) = lowest else { return Ok(0) };
        let mut deleted = 0u64;
        while low <= floor {
            let high = floor.min(low.saturating_add(CHUNK - 1));
            // One short transaction per chunk; the store's appends get in between.
            let _gate = self.gate();
            let tx = self.conn.unchecked_transaction().map_err(sqlite)?;
            deleted += tx
                .execute("DELETE FROM messages WHERE seq >= ?1 AND seq <= ?2", params![low, high])
                .map_err(sqlite)? as u64;
            tx.execute(
                "DELETE FROM publishes WHERE first_seq >= ?1 AND first_seq <= ?2",
                params![low, high],
            )
            .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
            low = high + 1;
        }
        Ok(deleted)
    }

    fn prune_source_events(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<u64> {
        let sqlite = |e| self.sqlite(e);
        let _gate = self.gate();
        let mut deleted = 0u64;
        if let Some(max_age) = policy.max_age {
            let cutoff = unix_ms(now.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH));
            deleted += self
                .conn
                .execute("DELETE FROM source_events WHERE time_ms < ?1", params![cutoff])
                .map_err(sqlite)? as u64;
        }
        if let Some(max) = policy.max_source_events {
            deleted += self
                .conn
                .execute(
                    "DELETE FROM source_events WHERE id <=
                     (SELECT id FROM source_events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                    params![i64::try_from(max).unwrap_or(i64::MAX)],
                )
                .map_err(sqlite)? as u64;
        }
        Ok(deleted)
    }

    /// Drops finished actions older than the age limit or beyond the newest `max_actions`, a
    /// chunk per transaction (a row can hold a few hundred KiB of output and detail).
    fn prune_actions(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<u64> {
        let sqlite = |e| self.sqlite(e);
        if policy.max_age.is_none() && policy.max_actions.is_none() {
            return Ok(0);
        }
        let cutoff = policy.max_age.map_or(i64::MIN, |max_age| {
            unix_ms(now.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH))
        });
        // Rows at or below this id are beyond the count; rows added meanwhile are above it.
        let floor: i64 = match policy.max_actions {
            Some(max) => self
                .conn
                .query_row(
                    "SELECT id FROM actions ORDER BY id DESC LIMIT 1 OFFSET ?1",
                    params![i64::try_from(max).unwrap_or(i64::MAX)],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sqlite)?
                .unwrap_or(0),
            None => 0,
        };
        let mut deleted = 0u64;
        loop {
            let _gate = self.gate();
            let n = self
                .conn
                .prepare_cached(
                    "DELETE FROM actions WHERE id IN (
                         SELECT id FROM actions
                         WHERE ended_ms IS NOT NULL AND (id <= ?1 OR started_ms < ?2)
                         ORDER BY id LIMIT ?3)",
                )
                .and_then(|mut statement| statement.execute(params![floor, cutoff, CHUNK]))
                .map_err(sqlite)? as u64;
            deleted += n;
            if n < CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Drops delivered and dead outbox items that ended before the age limit or are beyond the
    /// newest `max_outbox` finished ones, a chunk per transaction (a payload can be 1 MiB).
    fn prune_outbox(&self, policy: &RetentionPolicy, now: SystemTime) -> Result<u64> {
        let sqlite = |e| self.sqlite(e);
        if policy.max_age.is_none() && policy.max_outbox.is_none() {
            return Ok(0);
        }
        let cutoff = policy.max_age.map_or(i64::MIN, |max_age| {
            unix_ms(now.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH))
        });
        // Finished rows at or below this id are beyond the count. A row that finishes meanwhile
        // below it may go too (the count is a bound, not a promise to keep that many).
        let floor: i64 = match policy.max_outbox {
            Some(max) => self
                .conn
                .query_row(
                    "SELECT id FROM outbox WHERE state <> 'pending'
                     ORDER BY id DESC LIMIT 1 OFFSET ?1",
                    params![i64::try_from(max).unwrap_or(i64::MAX)],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sqlite)?
                .unwrap_or(0),
            None => 0,
        };
        let mut deleted = 0u64;
        loop {
            let _gate = self.gate();
            // The state is tested in the deleting statement itself: a pending row never goes.
            let n = self
                .conn
                .prepare_cached(
                    "DELETE FROM outbox WHERE id IN (
                         SELECT id FROM outbox
                         WHERE state <> 'pending' AND (id <= ?1 OR ended_ms < ?2)
                         ORDER BY id LIMIT ?3)",
                )
                .and_then(|mut statement| statement.execute(params![floor, cutoff, CHUNK]))
                .map_err(sqlite)? as u64;
            deleted += n;
            if n < CHUNK {
                return Ok(deleted);
            }
        }
    }
}

/// The index of the checkpoint to cut history at (everything before it goes), or `None` to keep
/// everything. `tail` gives the bytes of messages after the latest checkpoint.
fn cut_index(
    points: &[Point],
    policy: &RetentionPolicy,
    now: SystemTime,
    tail: impl FnOnce(u64) -> Result<u64>,
) -> Result<Option<usize>> {
    let Some(latest) = points.len().checked_sub(1) else { return Ok(None) };
    let mut cut = 0;
    if let Some(max_age) = policy.max_age {
        let cutoff = unix_ms(now.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH));
        // The newest checkpoint at or before the cutoff: all that precedes it is older still.
        if let Some(index) = points.iter().rposition(|p| p.time_ms <= cutoff) {
            cut = cut.max(index);
        }
    }
    if let Some(max_bytes) = policy.max_bytes {
        // Kept bytes if cut at i: checkpoints i.. and the messages after checkpoint i.
        let mut kept = tail(points[latest].seq)? + points[latest].size;
        let mut index = latest;
        while index > 0 {
            let more = points[index].bytes_since_previous + points[index - 1].size;
            if kept + more > max_bytes {
                break;
            }
            kept += more;
            index -= 1;
        }
        cut = cut.max(index);
    }
    Ok((cut > 0).then_some(cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_unix_ms;

    fn point(seq: u64, time_ms: i64, size: u64, bytes_since_previous: u64) -> Point {
        Point { seq, time_ms, size, bytes_since_previous }
    }

    fn cut(points: &[Point], policy: &RetentionPolicy, now_ms: i64, tail: u64) -> Option<usize> {
        cut_index(points, policy, from_unix_ms(now_ms), |_| Ok(tail)).unwrap()
    }

    #[test]
    fn age_cuts_at_the_newest_checkpoint_older_than_the_limit() {
        let points = [point(1, 0, 10, 0), point(5, 1000, 10, 40), point(9, 2000, 10, 40)];
        let policy = RetentionPolicy {
            max_age: Some(Duration::from_millis(1500)),
            max_bytes: None,
            max_source_events: None,
            max_actions: None,
            max_outbox: None,
        };
        assert_eq!(cut(&points, &policy, 2600, 0), Some(1));
        assert_eq!(cut(&points, &policy, 1000, 0), None);
        assert_eq!(cut(&points, &policy, 1_000_000, 0), Some(2), "never past the latest");
    }

    #[test]
    fn size_keeps_the_most_recent_checkpoints_that_fit() {
        let points = [point(1, 0, 10, 0), point(5, 0, 10, 40), point(9, 0, 10, 40)];
        let policy = RetentionPolicy {
            max_age: None,
            max_bytes: Some(65),
            max_source_events: None,
            max_actions: None,
            max_outbox: None,
        };
        // Cut at 2 keeps 10 + tail 5 = 15; at 1 keeps 15 + 40 + 10 = 65; at 0 would keep 115.
        assert_eq!(cut(&points, &policy, 0, 5), Some(1));
        let tight = RetentionPolicy { max_bytes: Some(1), ..policy };
        assert_eq!(cut(&points, &tight, 0, 5), Some(2), "the latest checkpoint always stays");
        let loose = RetentionPolicy { max_bytes: Some(1000), ..policy };
        assert_eq!(cut(&points, &loose, 0, 5), None);
    }
}
