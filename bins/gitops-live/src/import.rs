//! Importing the old producers' `audit-history/*.json` snapshots into a new log, oldest first,
//! so the timeline starts with the user's past.
//!
//! The import runs once, into an empty log only, before the hub is restored from the log and
//! before any client is served: the imported points take the first sequence numbers of the log's
//! first epoch, and live changes continue after them in the same epoch. A log that already holds
//! points is never imported into again (its seqs could not be put before the live ones), which
//! also makes the import idempotent across restarts. What was imported is recorded as a source
//! event, so the history endpoints can say so after every restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gitops_hub::{Hub, HubConfig, Published};
use gitops_protocol::{HistoryImport, SkippedSnapshot};
use gitops_report::{ParseOptions, Report};
use gitops_store::{Batch, Store};

use crate::history::IMPORTED;

/// Where old snapshots are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportFrom {
    /// The folder.
    pub(crate) dir: PathBuf,
    /// Whether the operator named it (`--history-import`): then a missing folder or a log that
    /// already holds history is worth a warning; a folder found beside the report is not.
    pub(crate) explicit: bool,
}

impl ImportFrom {
    /// `--history-import DIR` when given, else the old producers' `audit-history` folder: beside
    /// the report (`/srv/audit/GitRepoReport.json` and `/srv/audit/audit-history/`), or the
    /// report's own folder when it is one (`audit-history/latest.json`, as `gitops-live audit
    /// --history` writes it).
    pub(crate) fn choose(explicit: Option<&Path>, report: &Path) -> Option<Self> {
        if let Some(dir) = explicit {
            return Some(Self { dir: dir.to_owned(), explicit: true });
        }
        let parent = report.parent()?;
        let beside = parent.join("audit-history");
        if beside.is_dir() {
            return Some(Self { dir: beside, explicit: false });
        }
        (parent.file_name()? == "audit-history" && parent.is_dir())
            .then(|| Self { dir: parent.to_owned(), explicit: false })
    }
}

/// A snapshot read from the folder.
struct Snapshot {
    file: String,
    time: SystemTime,
    report: Report,
}

/// Imports the snapshots of `from` into `store` if the log is empty; returns what it did, or
/// `None` when it did not run. Snapshots older than `max_age` are not imported (retention would
/// drop them at its next run).
pub(crate) fn import(
    store: &mut Store,
    from: &ImportFrom,
    parse: &ParseOptions,
    max_age: Option<Duration>,
    now: SystemTime,
) -> Option<HistoryImport> {
    if store.cursor().is_some() {
        let already = store
            .source_events(None, 10_000)
            .ok()
            .is_some_and(|events| events.iter().any(|event| event.kind == IMPORTED));
        if already {
            tracing::debug!(dir = %from.dir.display(), "old snapshots were imported when the log was new");
        } else if from.explicit {
            tracing::warn!(
                dir = %from.dir.display(),
                "not importing old snapshots: the log already holds history, and imported points must come before it (import into a new state directory)"
            );
        }
        return None;
    }
    let entries = match std::fs::read_dir(&from.dir) {
        Ok(entries) => entries,
        Err(error) => {
            if from.explicit {
                tracing::warn!(dir = %from.dir.display(), %error, "cannot read the snapshots to import");
            }
            return None;
        }
    };
    let mut summary = HistoryImport {
        from: from.dir.display().to_string(),
        time: crate::history::time_text(now),
        imported: 0,
        unchanged: 0,
        too_old: 0,
        skipped: Vec::new(),
        error: None,
    };
    let mut snapshots = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let file = entry.file_name().to_string_lossy().into_owned();
        // Symlinks (`latest.json`) point at a snapshot that is read under its own name.
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file || path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        match read_snapshot(&path, parse) {
            Ok((report, modified)) => {
                let time = report
                    .timestamp
                    .as_ref()
                    .and_then(|t| t.instant)
                    .and_then(|instant| u64::try_from(instant.as_millisecond()).ok())
                    .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
                    .unwrap_or(modified)
                    .min(now);
                snapshots.push(Snapshot { file, time, report });
            }
            Err(error) => summary.skipped.push(SkippedSnapshot { file, error }),
        }
    }
    summary.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    snapshots.sort_by(|a, b| (a.time, &a.file).cmp(&(b.time, &b.file)));
    if let Some(max_age) = max_age {
        let cutoff = now.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH);
        let before = snapshots.len();
        snapshots.retain(|snapshot| snapshot.time >= cutoff);
        summary.too_old = (before - snapshots.len()) as u64;
    }

    // Each snapshot goes through a hub of the log's epoch, as a live publish would: the same
    // diff, the same messages, the same sequence numbers; the log keeps them with the
    // snapshot's own time.
    let hub = Hub::new(HubConfig { epoch: Some(store.epoch()), ..HubConfig::default() });
    for snapshot in snapshots {
        let mut failure = None;
        let published = hub.publish_with(snapshot.report, |commit| {
            let result = if commit.messages.is_empty() {
                store.append(&Batch::snapshot(snapshot.time, commit.first_seq, commit.state))
            } else {
                store.append(&Batch::changes(snapshot.time, commit.messages, commit.state))
            };
            result.map_err(|error| failure = Some(error.to_string())).is_ok()
        });
        if let Some(error) = failure {
            summary.error = Some(format!("{}: {error}", snapshot.file));
            break;
        }
        match published {
            Published::Unchanged => summary.unchanged += 1,
            Published::First { .. } | Published::Changed { .. } => summary.imported += 1,
        }
    }

    let message = serde_json::to_string(&summary).unwrap_or_default();
    if let Err(error) = store.record_source_event(now, IMPORTED, &message) {
        tracing::warn!(%error, "cannot record the import in the log");
    }
    if summary.skipped.is_empty() && summary.error.is_none() {
        tracing::info!(
            dir = %summary.from,
            imported = summary.imported,
            unchanged = summary.unchanged,
            too_old = summary.too_old,
            "imported old snapshots into the log"
        );
    } else {
        let skipped: Vec<String> =
            summary.skipped.iter().map(|s| format!("{} ({})", s.file, s.error)).collect();
        tracing::warn!(
            dir = %summary.from,
            imported = summary.imported,
            skipped = %skipped.join("; "),
            stopped = summary.error.as_deref(),
            "imported old snapshots into the log, with problems"
        );
    }
    Some(summary)
}

/// Reads and parses one snapshot, with its modification time.
fn read_snapshot(path: &Path, parse: &ParseOptions) -> Result<(Report, SystemTime), String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if metadata.len() > parse.max_bytes as u64 {
        return Err(format!("larger than the {} bytes a report may have", parse.max_bytes));
    }
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let parsed = gitops_report::parse_with(&bytes, parse).map_err(|error| error.to_string())?;
    Ok((parsed.report, metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_looked_for_beside_the_report_or_in_its_own_audit_history_folder() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path();
        let report = root.join("GitRepoReport.json");
        assert_eq!(ImportFrom::choose(None, &report), None, "no folder, no import");
        std::fs::create_dir(root.join("audit-history")).expect("mkdir");
        let beside = ImportFrom { dir: root.join("audit-history"), explicit: false };
        assert_eq!(ImportFrom::choose(None, &report), Some(beside.clone()));
        let inside = root.join("audit-history").join("latest.json");
        assert_eq!(ImportFrom::choose(None, &inside), Some(beside));
        let named = Path::new("/srv/old");
        assert_eq!(
            ImportFrom::choose(Some(named), &report),
            Some(ImportFrom { dir: named.to_owned(), explicit: true })
        );
    }
}
