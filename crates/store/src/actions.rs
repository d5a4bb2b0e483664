//! The action log: every remediation action an operator ran or tried on a repository (a preview,
//! a refusal, a failure, a success), as plain strings chosen by the caller.
//!
//! An action that takes time is written twice: [`crate::Store::begin_action`] inserts it as `running`
//! before anything is done, [`crate::Store::finish_action`] records how it ended. A row still `running`
//! when the store is next opened belonged to a process that stopped mid-action (a crash, a
//! kill -9): opening marks it [`ACTION_INTERRUPTED`] and says so ([`crate::Notice`]). One-shot
//! records (a preview, a refusal) are a single insert, [`crate::Store::record_action`].
//!
//! Every text is capped at [`MAX_ACTION_TEXT_BYTES`], so a caller's bug (a runaway `git` output,
//! a huge preview) cannot bloat the file; retention bounds the number of rows
//! ([`crate::RetentionPolicy::max_actions`]).

use std::borrow::Cow;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, params};

use crate::Db;
use crate::error::{Error, Result};
use crate::time::{from_unix_ms, unix_ms};

/// The result of an action that has begun and not ended yet.
pub const ACTION_RUNNING: &str = "running";
/// The result given on open to an action that was still running when the previous process
/// stopped.
pub const ACTION_INTERRUPTED: &str = "interrupted";
/// The summary given on open to an interrupted action.
pub const INTERRUPTED_SUMMARY: &str = "the server stopped while this action ran";
/// The most bytes any text of an action keeps (output and detail above all); longer texts are
/// cut at a character boundary and end with [`TRUNCATED_MARKER`], within this size.
pub const MAX_ACTION_TEXT_BYTES: usize = 64 << 10;
/// What ends a text the store cut.
pub const TRUNCATED_MARKER: &str = "\n[truncated]";

/// An action as it starts, or a one-shot record (a preview, a refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    /// Who asked for it (the operator's name as the server knows it).
    pub who: String,
    /// What it is: `clone`, `commit`, `discard`, … in the caller's words.
    pub action: String,
    /// The repository it acts on; listing by repository matches this exactly.
    pub repo: String,
    /// Whether it only previews and changes nothing.
    pub dry_run: bool,
    /// When it started.
    pub time: SystemTime,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEnd {
    /// The outcome in the caller's words: `previewed`, `done`, `refused`, `failed`, …
    /// ([`ACTION_RUNNING`] and [`ACTION_INTERRUPTED`] are the store's own).
    pub result: String,
    /// The kind of failure or refusal, a short word the caller chooses (`busy`, `timeout`, …).
    pub error_class: Option<String>,
    /// One line for people.
    pub summary: String,
    /// What the action printed (git's output, say).
    pub output: String,
    /// Structured detail as JSON text (the preview, the outcome). A detail the store had to cut
    /// is no longer valid JSON: it ends with [`TRUNCATED_MARKER`].
    pub detail: Option<String>,
    /// When it ended.
    pub time: SystemTime,
}

/// Which actions [`crate::Store::actions`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionFilter<'a> {
    /// Only those on this repository (an exact match).
    pub repo: Option<&'a str>,
    /// Only actions that ran, not previews (`dry_run`).
    pub runs_only: bool,
}

impl<'a> ActionFilter<'a> {
    /// Every action.
    pub fn any() -> Self {
        Self::default()
    }

    /// The actions on `repo`.
    pub fn repo(repo: &'a str) -> Self {
        Self { repo: Some(repo), runs_only: false }
    }
}

/// One row of the action log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAction {
    /// Its id: increasing, never reused, even after retention removed the newest rows.
    pub id: u64,
    /// When it started.
    pub started: SystemTime,
    /// When it ended; `None` while it runs.
    pub ended: Option<SystemTime>,
    /// Who asked for it.
    pub who: String,
    /// What it is.
    pub action: String,
    /// The repository.
    pub repo: String,
    /// Whether it only previewed.
    pub dry_run: bool,
    /// [`ACTION_RUNNING`], [`ACTION_INTERRUPTED`], or the caller's [`ActionEnd::result`].
    pub result: String,
    /// The caller's class of failure.
    pub error_class: Option<String>,
    /// One line for people (empty while it runs).
    pub summary: String,
    /// What the action printed, capped.
    pub output: String,
    /// Structured detail (JSON text), capped.
    pub detail: Option<String>,
}

const COLUMNS: &str = "id, started_ms, ended_ms, who, action, repo, dry_run, result, error_class, \
                       summary, output, detail";

/// `text` cut to [`MAX_ACTION_TEXT_BYTES`] at a character boundary, marked when cut.
pub(crate) fn capped(text: &str) -> Cow<'_, str> {
    cut_to(text, MAX_ACTION_TEXT_BYTES)
}

/// `text` cut to `max` bytes (at least the marker's length) at a character boundary, ending
/// with [`TRUNCATED_MARKER`] when cut.
pub(crate) fn cut_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(TRUNCATED_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATED_MARKER}", &text[..end]))
}

fn stored_action(row: &Row<'_>) -> rusqlite::Result<StoredAction> {
    Ok(StoredAction {
        id: row.get(0)?,
        started: from_unix_ms(row.get(1)?),
        ended: row.get::<_, Option<i64>>(2)?.map(from_unix_ms),
        who: row.get(3)?,
        action: row.get(4)?,
        repo: row.get(5)?,
        dry_run: row.get(6)?,
        result: row.get(7)?,
        error_class: row.get(8)?,
        summary: row.get(9)?,
        output: row.get(10)?,
        detail: row.get(11)?,
    })
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl Db {
    /// Runs `f` in one write transaction on a shared connection: the same discipline as
    /// [`Db::write`] (this process's write gate, then the database's write lock at once).
    pub(crate) fn write_shared<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let _gate = self.gate();
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    fn insert_action(&self, action: &NewAction, end: Option<&ActionEnd>) -> Result<u64> {
        let values = (
            unix_ms(action.time),
            end.map(|end| unix_ms(end.time)),
            capped(&action.who),
            capped(&action.action),
            capped(&action.repo),
            action.dry_run,
            capped(end.map_or(ACTION_RUNNING, |end| &end.result)),
            end.and_then(|end| end.error_class.as_deref()).map(capped),
            capped(end.map_or("", |end| &end.summary)),
            capped(end.map_or("", |end| &end.output)),
            end.and_then(|end| end.detail.as_deref()).map(capped),
        );
        self.write_shared(|tx| {
            tx.prepare_cached(
                "INSERT INTO actions (started_ms, ended_ms, who, action, repo, dry_run, result,
                                      error_class, summary, output, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                values.0, values.1, values.2, values.3, values.4, values.5, values.6, values.7,
                values.8, values.9, values.10
            ])?;
            Ok(tx.last_insert_rowid() as u64)
        })
        .map_err(|e| self.sqlite(e))
    }

    pub(crate) fn begin_action(&self, action: &NewAction) -> Result<u64> {
        self.insert_action(action, None)
    }

    pub(crate) fn record_action(&self, action: &NewAction, end: &ActionEnd) -> Result<u64> {
        self.insert_action(action, Some(end))
    }

    pub(crate) fn finish_action(&self, id: u64, end: &ActionEnd) -> Result<()> {
        let Ok(sql_id) = i64::try_from(id) else { return Err(Error::NoSuchAction { id }) };
        let (ended, result, error_class, summary, output, detail) = (
            unix_ms(end.time),
            capped(&end.result),
            end.error_class.as_deref().map(capped),
            capped(&end.summary),
            capped(&end.output),
            end.detail.as_deref().map(capped),
        );
        // `Some(exists)` when nothing was updated.
        let missed = self
            .write_shared(|tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE actions SET ended_ms = ?2, result = ?3, error_class = ?4,
                                            summary = ?5, output = ?6, detail = ?7
                         WHERE id = ?1 AND ended_ms IS NULL",
                    )?
                    .execute(params![
                        sql_id,
                        ended,
                        result,
                        error_class,
                        summary,
                        output,
                        detail
                    ])?;
                if changed == 1 {
                    return Ok(None);
                }
                let exists = tx
                    .prepare_cached("SELECT 1 FROM actions WHERE id = ?1")?
                    .query_row(params![sql_id], |_| Ok(()))
                    .optional()?
                    .is_some();
                Ok(Some(exists))
            })
            .map_err(|e| self.sqlite(e))?;
        match missed {
            None => Ok(()),
            Some(true) => Err(Error::ActionFinished { id }),
            Some(false) => Err(Error::NoSuchAction { id }),
        }
    }

    pub(crate) fn actions(
        &self,
        before_id: Option<u64>,
        limit: usize,
        filter: ActionFilter<'_>,
    ) -> Result<Vec<StoredAction>> {
        let before = before_id.map_or(i64::MAX, sql_id);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sqlite = |e| self.sqlite(e);
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM actions
                 WHERE id < ?1 AND (?2 IS NULL OR repo = ?2) AND (?3 = 0 OR dry_run = 0)
                 ORDER BY id DESC LIMIT ?4"
            ))
            .map_err(sqlite)?;
        let rows = statement
            .query_map(params![before, filter.repo, filter.runs_only, limit], stored_action)
            .map_err(sqlite)?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(sqlite)
    }

    pub(crate) fn action(&self, id: u64) -> Result<Option<StoredAction>> {
        let Ok(id) = i64::try_from(id) else { return Ok(None) };
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM actions WHERE id = ?1"))
            .and_then(|mut statement| statement.query_row(params![id], stored_action).optional())
            .map_err(|e| self.sqlite(e))
    }
}

/// Marks every action still running as interrupted, ended at `now`; returns how many. Run on open,
/// with the directory locked: a running row can only be a previous process's.
pub(crate) fn interrupt_running(
    conn: &rusqlite::Connection,
    now: SystemTime,
) -> rusqlite::Result<u64> {
    let changed = conn.execute(
        "UPDATE actions SET result = ?1, summary = ?2, ended_ms = ?3 WHERE ended_ms IS NULL",
        params![ACTION_INTERRUPTED, INTERRUPTED_SUMMARY, unix_ms(now)],
    )?;
    Ok(changed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_kept_as_they_are() {
        assert!(matches!(capped("héllo"), Cow::Borrowed("héllo")));
        let exact = "x".repeat(MAX_ACTION_TEXT_BYTES);
        assert_eq!(capped(&exact), exact.as_str());
    }

    #[test]
    fn long_texts_are_cut_at_a_char_boundary_and_marked() {
        // Four-byte characters: the cut point falls inside one for some offsets.
        for pad in 0..4 {
            let text = format!("{}{}", "a".repeat(pad), "🦀".repeat(MAX_ACTION_TEXT_BYTES));
            let cut = capped(&text);
            assert!(cut.len() <= MAX_ACTION_TEXT_BYTES, "{}", cut.len());
            assert!(cut.len() > MAX_ACTION_TEXT_BYTES - TRUNCATED_MARKER.len() - 4);
            assert!(cut.ends_with(TRUNCATED_MARKER));
            let kept = &cut[..cut.len() - TRUNCATED_MARKER.len()];
            assert!(text.starts_with(kept));
        }
    }
}
