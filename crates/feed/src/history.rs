//! Reading the past: the points the log keeps, the state at any of them, the changes between any
//! two, one repository's timeline. The log behind it is a [`History`] the binary supplies (the
//! store in the state directory); a feed without one has no history.

use std::collections::VecDeque;
use std::sync::Arc;

use gitops_protocol::{Cursor, HistoryDiff, HistoryPage, RepoTimeline};
use gitops_report::Report;

use crate::{Feed, lock};

/// The most points [`Feed::history_page`] returns at once.
pub const POINTS_MAX: usize = 500;
/// The most events [`Feed::repo_timeline`] returns at once.
pub const TIMELINE_MAX: usize = 1_000;
/// The most names [`Feed::snapshot_names`] returns.
pub const NAMES_MAX: usize = 10_000;

/// How many recently asked-for states the feed keeps, so a diff against a point just viewed,
/// or a page of points followed by a look at one of them, reads the log once.
const STATES_KEPT: usize = 4;

/// The read side of a durable log: what the history endpoints ask. Implemented by the binary
/// over the store (a connection of its own, so readers never wait on the publishing thread).
///
/// Every method may block on disk; callers on an async runtime call them from a blocking task.
pub trait History: Send + Sync {
    /// Up to `limit` points older than `before` (all when `None`), newest first, one per publish.
    fn points(&self, before: Option<Cursor>, limit: usize) -> Result<HistoryPage, HistoryError>;

    /// The whole state at `cursor`, if the log names and keeps that point.
    fn state_at(&self, cursor: Cursor) -> Result<Report, HistoryError>;

    /// The states at `a` and at `b`. The default rebuilds each; a log that can should rebuild
    /// the older one and carry it forward to the newer when they are close.
    fn states_at(&self, a: Cursor, b: Cursor) -> Result<(Report, Report), HistoryError> {
        Ok((self.state_at(a)?, self.state_at(b)?))
    }

    /// Up to `limit` changes of the repositories named `name` older than `before`, newest first.
    fn repo_timeline(
        &self,
        name: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<RepoTimeline, HistoryError>;

    /// Names of the newest `limit` points, newest first, for the old `GET /audit/history`.
    fn snapshot_names(&self, limit: usize) -> Result<Vec<String>, HistoryError>;

    /// When the publish that wrote `cursor` happened, RFC 3339 in UTC with milliseconds; `None`
    /// when the log does not know.
    fn time_of(&self, cursor: Cursor) -> Result<Option<String>, HistoryError>;
}

/// Why a history question has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// This server keeps no history (it runs without a state directory). Tell the user how to
    /// turn it on; asking again will not help.
    #[error(
        "this server keeps no history: it runs with --state-dir none (give it a state directory)"
    )]
    Off,
    /// The log does not hold this point: older than what retention kept, newer than the last
    /// one, of an epoch the log never had, or a state that was served while the log could not
    /// keep up. Answer 404; the point will not come back.
    #[error("{reason}")]
    NotRetained {
        /// The cursor asked for.
        cursor: Cursor,
        /// Why, for people.
        reason: String,
    },
    /// The log could not be read (a damaged or unreadable file). Answer 503; it may work later.
    #[error("the history cannot be read: {0}")]
    Unavailable(String),
}

/// The history part of the feed's state.
#[derive(Default)]
pub(crate) struct HistoryState {
    source: std::sync::OnceLock<Arc<dyn History>>,
    /// Recently rebuilt states, newest last.
    states: std::sync::Mutex<VecDeque<(Cursor, Arc<Report>)>>,
}

impl Feed {
    /// Gives the feed the read side of its log. Set once, by whoever built the log; a second
    /// call is ignored.
    pub fn set_history(&self, history: Arc<dyn History>) {
        let _ = self.history.source.set(history);
    }

    /// Whether this feed can answer history questions.
    pub fn has_history(&self) -> bool {
        self.history.source.get().is_some()
    }

    fn history(&self) -> Result<&Arc<dyn History>, HistoryError> {
        self.history.source.get().ok_or(HistoryError::Off)
    }

    /// Up to `limit` (at most [`POINTS_MAX`]) points older than `before`, newest first.
    pub fn history_page(
        &self,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<HistoryPage, HistoryError> {
        self.history()?.points(before, limit.clamp(1, POINTS_MAX))
    }

    /// The whole state at `cursor`: the current one from the hub, a recent one from memory, any
    /// other rebuilt by the log.
    pub fn state_at(&self, cursor: Cursor) -> Result<Arc<Report>, HistoryError> {
        let history = self.history()?;
        if let Some(report) = self.known_state(cursor) {
            return Ok(report);
        }
        Ok(self.remember(cursor, history.state_at(cursor)?))
    }

    /// The state at `cursor` without reading the log: the current one, or a recent one.
    fn known_state(&self, cursor: Cursor) -> Option<Arc<Report>> {
        if let Some((current, report)) = self.hub.current()
            && current == cursor
        {
            return Some(report);
        }
        self.recent_state(cursor)
    }

    fn remember(&self, cursor: Cursor, report: Report) -> Arc<Report> {
        let report = Arc::new(report);
        let mut states = lock(&self.history.states);
        states.push_back((cursor, report.clone()));
        while states.len() > STATES_KEPT {
            states.pop_front();
        }
        report
    }

    fn recent_state(&self, cursor: Cursor) -> Option<Arc<Report>> {
        let mut states = lock(&self.history.states);
        let index = states.iter().position(|(kept, _)| *kept == cursor)?;
        // Most recently used last.
        let entry = states.remove(index)?;
        let report = entry.1.clone();
        states.push_back(entry);
        Some(report)
    }

    /// The changes that take the state at `from` to the state at `to` (either may be the older),
    /// as the live stream would send them: `apply(diff, state_at(from)) == state_at(to)`.
    pub fn history_diff(&self, from: Cursor, to: Cursor) -> Result<HistoryDiff, HistoryError> {
        let history = self.history()?;
        let (old, new) = match (self.known_state(from), self.known_state(to)) {
            (Some(old), Some(new)) => (old, new),
            (Some(old), None) => (old, self.state_at(to)?),
            (None, Some(new)) => (self.state_at(from)?, new),
            (None, None) => {
                let (old, new) = history.states_at(from, to)?;
                (self.remember(from, old), self.remember(to, new))
            }
        };
        let changes = gitops_diff::diff(&old, &new);
        Ok(HistoryDiff { from, to, repos: changes.repos, meta: changes.meta })
    }

    /// Up to `limit` (at most [`TIMELINE_MAX`]) changes of the repository `name` older than
    /// `before`, newest first.
    pub fn repo_timeline(
        &self,
        name: &str,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<RepoTimeline, HistoryError> {
        self.history()?.repo_timeline(name, before, limit.clamp(1, TIMELINE_MAX))
    }

    /// When the publish that wrote `cursor` happened (RFC 3339, UTC, milliseconds), if known.
    pub fn time_of(&self, cursor: Cursor) -> Result<Option<String>, HistoryError> {
        self.history()?.time_of(cursor)
    }

    /// Names of the newest `limit` (at most [`NAMES_MAX`]) points, newest first.
    pub fn snapshot_names(&self, limit: usize) -> Result<Vec<String>, HistoryError> {
        self.history()?.snapshot_names(limit.clamp(1, NAMES_MAX))
    }
}
