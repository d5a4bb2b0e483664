//! The action log kept in the store (the `actions` table of the state directory's database),
//! as the server's [`ActionLog`]: every action survives a restart, and one that was running when
//! the server stopped is found marked `interrupted`.

use std::sync::Mutex;
use std::time::SystemTime;

use gitops_protocol::{ActionLogEntry, ActionLogPage};
use gitops_store::{ActionEnd as StoreEnd, ActionFilter, Handle, NewAction, StoredAction};
use gitops_transport::{ActionEnd, ActionLog, ActionStart};

/// The store's action table over one connection, one question at a time (SQLite connections
/// are not `Sync`; an action's log lines take well under a millisecond).
#[derive(Debug)]
pub(crate) struct StoreActionLog {
    handle: Mutex<Handle>,
}

impl StoreActionLog {
    pub(crate) fn new(handle: Handle) -> Self {
        Self { handle: Mutex::new(handle) }
    }

    fn with<T>(&self, f: impl FnOnce(&Handle) -> gitops_store::Result<T>) -> Result<T, String> {
        let handle = self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&handle).map_err(|e| e.to_string())
    }
}

fn system_time(time: jiff::Timestamp) -> SystemTime {
    SystemTime::try_from(time).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC with milliseconds, as the rest of the API writes times.
fn timestamp(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|time| time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn new_action(start: &ActionStart) -> NewAction {
    NewAction {
        who: start.who.clone(),
        action: start.action.clone(),
        repo: start.repo.clone(),
        dry_run: start.dry_run,
        time: system_time(start.at),
    }
}

fn store_end(end: &ActionEnd) -> StoreEnd {
    StoreEnd {
        result: end.result.clone(),
        error_class: end.error_class.clone(),
        summary: end.summary.clone(),
        output: end.output.clone(),
        detail: end.detail.clone(),
        time: system_time(end.at),
    }
}

fn entry(stored: StoredAction) -> ActionLogEntry {
    ActionLogEntry {
        id: stored.id,
        who: stored.who,
        action: stored.action,
        repo: stored.repo,
        dry_run: stored.dry_run,
        result: stored.result,
        error_class: stored.error_class,
        summary: stored.summary,
        output: stored.output,
        started_at: timestamp(stored.started),
        ended_at: stored.ended.map(timestamp),
    }
}

impl ActionLog for StoreActionLog {
    fn begin(&self, start: &ActionStart) -> Result<u64, String> {
        self.with(|h| h.begin_action(&new_action(start)))
    }

    fn finish(&self, id: u64, end: &ActionEnd) -> Result<(), String> {
        self.with(|h| h.finish_action(id, &store_end(end)))
    }

    fn record(&self, start: &ActionStart, end: &ActionEnd) -> Result<u64, String> {
        self.with(|h| h.record_action(&new_action(start), &store_end(end)))
    }

    fn page(
        &self,
        before: Option<u64>,
        limit: usize,
        repo: Option<&str>,
        runs_only: bool,
    ) -> Result<ActionLogPage, String> {
        let filter = ActionFilter { repo, runs_only };
        // One more than asked says whether an older page exists.
        let mut rows = self.with(|h| h.actions(before, limit + 1, filter))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let actions: Vec<ActionLogEntry> = rows.into_iter().map(entry).collect();
        let next = if more { actions.last().map(|e| e.id) } else { None };
        Ok(ActionLogPage { actions, next })
    }

    fn entry(&self, id: u64) -> Result<Option<ActionLogEntry>, String> {
        Ok(self.with(|h| h.action(id))?.map(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_kept_in_the_store_across_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let opened = gitops_store::Store::open(dir.path(), gitops_store::StoreConfig::default())
            .expect("store");
        let log = StoreActionLog::new(opened.store.handle().expect("handle"));
        let start = |repo: &str| ActionStart {
            who: "operator session 0a1b2c3d from 127.0.0.1".into(),
            action: "commit".into(),
            repo: repo.into(),
            dry_run: false,
            at: jiff::Timestamp::now(),
        };
        let done = ActionEnd {
            result: "done".into(),
            error_class: None,
            summary: "committed 1 paths".into(),
            output: "[main 1a2b3c4] fix".into(),
            detail: None,
            at: jiff::Timestamp::now(),
        };
        let first = log.begin(&start("halo")).expect("begin");
        log.finish(first, &done).expect("finish");
        let running = log.begin(&start("nova")).expect("begin");
        for _ in 0..3 {
            log.record(&start("halo"), &done).expect("record");
        }
        let page = log.page(None, 2, None, false).expect("page");
        assert_eq!(page.actions.len(), 2);
        assert!(page.next.is_some(), "there is an older page");
        let halo = log.page(None, 10, Some("halo"), false).expect("page");
        assert_eq!(halo.actions.len(), 4);
        assert_eq!(halo.next, None);
        let entry = log.entry(first).expect("read").expect("kept");
        assert_eq!((entry.result.as_str(), entry.output.as_str()), ("done", "[main 1a2b3c4] fix"));
        assert!(entry.started_at.ends_with('Z') && entry.ended_at.is_some());
        drop((log, opened));
        // A restart finds the running one interrupted.
        let reopened = gitops_store::Store::open(dir.path(), gitops_store::StoreConfig::default())
            .expect("store");
        let log = StoreActionLog::new(reopened.store.handle().expect("handle"));
        let interrupted = log.entry(running).expect("read").expect("kept");
        assert_eq!(interrupted.result, "interrupted");
        assert!(interrupted.ended_at.is_some());
    }
}
