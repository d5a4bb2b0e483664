//! The answers of the history endpoints (`/api/history`, `/api/history/<cursor>`,
//! `/api/history/diff`, `/api/repos/<name>/history`, `/audit/history`), as defined in
//! `docs/protocol.md`, and their TypeScript declarations.
//!
//! A point of history is a cursor of the log: the state after the message with that sequence
//! number. The page of points lists one point per publish (the cursor after it); any cursor a
//! client was sent is a point too.

use std::collections::BTreeMap;

use gitops_diff::{Changes, Meta, RepoChange};
use gitops_report::{Health, Status, Summary};
use serde::{Deserialize, Serialize};

use crate::Cursor;
use crate::typescript::{Decl, f, opt};

/// `GET /api/history`: a page of points, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The points, newest first.
    pub points: Vec<HistoryPoint>,
    /// Pass as `before` to get the next, older page; `None` when this page reaches the oldest
    /// point kept.
    pub next: Option<Cursor>,
    /// How the log's first points were imported from old snapshots, if they were.
    pub import: Option<HistoryImport>,
}

/// One point of history: a publish, and the state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// The state after this publish.
    pub cursor: Cursor,
    /// When it was published (for imported points, the snapshot's own time), RFC 3339 in UTC
    /// with milliseconds.
    pub time: String,
    /// `changes`, or `snapshot`: a whole state with no changes listed (the log's first point, a
    /// new epoch, or a new start after the log could not keep up).
    pub kind: PointKind,
    /// The report's own `timestamp` at this point.
    pub timestamp: Option<String>,
    /// The report's `health_status` at this point, as the producer wrote it.
    pub health_status: Option<Health>,
    /// The report's `summary` at this point, as the producer wrote it.
    pub summary: Option<Summary>,
    /// Repositories by status at this point, counted from the list (statuses with none left out).
    pub counts: BTreeMap<String, u64>,
    /// The repositories this publish changed (at most [`TRANSITIONS_PER_POINT`]), in order.
    pub repos: Vec<RepoTransition>,
    /// How many repositories it changed, including any left out of `repos`.
    pub repos_changed: u64,
    /// Whether it changed top-level fields (health, summary, timestamp, ...).
    pub meta_changed: bool,
}

/// The most repository transitions a [`HistoryPoint`] lists.
pub const TRANSITIONS_PER_POINT: usize = 100;

/// What a point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointKind {
    /// Change messages: `repos` lists what they did.
    Changes,
    /// A whole state.
    Snapshot,
}

/// What happened to one repository at one point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoTransition {
    /// Its name.
    pub name: String,
    /// Which repository of that name, from 0; left out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dup: u32,
    /// `added`, `removed` or `changed`.
    pub change: TransitionKind,
    /// Its status before, unless it was added.
    pub old_status: Option<Status>,
    /// Its status after, unless it was removed.
    pub new_status: Option<Status>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What happened to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransitionKind {
    /// It appeared.
    Added,
    /// It went.
    Removed,
    /// It changed (its status, or any other field).
    Changed,
}

/// How old snapshots were imported into the log when it was new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryImport {
    /// The folder read.
    pub from: String,
    /// When the import ran, RFC 3339.
    pub time: String,
    /// Snapshots that became points.
    pub imported: u64,
    /// Snapshots equal to the one before them (no point of their own).
    pub unchanged: u64,
    /// Snapshots older than what the log keeps (its retention), not imported.
    pub too_old: u64,
    /// Files that could not be read or parsed, skipped.
    pub skipped: Vec<SkippedSnapshot>,
    /// Why the import stopped early, if it did (the log could not be written).
    pub error: Option<String>,
}

/// A snapshot file the import skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSnapshot {
    /// The file's name in the folder.
    pub file: String,
    /// Why.
    pub error: String,
}

/// `GET /api/history/diff`: the changes from one point to another, in either direction, in the
/// shape of `catch-up` data: apply `repos` one after the other to the state at `from`, then
/// merge `meta`, and the result is the state at `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryDiff {
    /// The point the changes start from.
    pub from: Cursor,
    /// The point they lead to.
    pub to: Cursor,
    /// Repository changes, with old and new status and RFC 6902 operations.
    pub repos: Vec<RepoChange>,
    /// The top-level fields that differ (a shallow merge patch), or `None`.
    pub meta: Option<Meta>,
}

impl HistoryDiff {
    /// The changes as a [`Changes`] value, ready for `gitops_diff::apply`.
    pub fn into_changes(self) -> Changes {
        Changes { repos: self.repos, meta: self.meta }
    }
}

/// `GET /api/repos/<name>/history`: one repository's changes, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoTimeline {
    /// The repository's name.
    pub name: String,
    /// Its changes, newest first.
    pub events: Vec<RepoEvent>,
    /// Pass as `before` for older events; `None` at the oldest kept.
    pub next: Option<Cursor>,
}

/// One change of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoEvent {
    /// The state right after the change.
    pub cursor: Cursor,
    /// When it was published, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// What happened (with `dup` when the report repeats the name).
    #[serde(flatten)]
    pub transition: RepoTransition,
}

/// The TypeScript declarations of the types above, after the protocol's own.
pub(crate) const DECLS: &[Decl] = &[
    Decl::Alias {
        name: "PointKind",
        doc: "`changes`, or `snapshot`: a whole state with no changes listed.",
        ts: "'changes' | 'snapshot'",
    },
    Decl::Interface {
        name: "RepoTransition",
        doc: "What happened to one repository at one point of history.",
        extends: None,
        open: false,
        fields: &[
            f("name", "string", ""),
            opt("dup", "number", "Which repository of that name, from 0; absent when 0."),
            f("change", "'added' | 'removed' | 'changed'", ""),
            f("old_status", "RepoStatus | null", "Absent (null) when added."),
            f("new_status", "RepoStatus | null", "Absent (null) when removed."),
        ],
    },
    Decl::Interface {
        name: "HistoryPoint",
        doc: "One point of history (`GET /api/history`): a publish and the state after it.",
        extends: None,
        open: false,
        fields: &[
            f("cursor", "CursorText", "The state after this publish."),
            f(
                "time",
                "string",
                "When it was published (imported: the snapshot's time), RFC 3339 UTC with ms.",
            ),
            f("kind", "PointKind", ""),
            f("timestamp", "string | null", "The report's own `timestamp`."),
            f("health_status", "HealthStatus | null", "As the producer wrote it."),
            f("summary", "Summary | null", "As the producer wrote it."),
            f("counts", "Record<string, number>", "Repositories by status, counted from the list."),
            f("repos", "RepoTransition[]", "What this publish did, at most 100."),
            f("repos_changed", "number", "How many repositories it changed in all."),
            f("meta_changed", "boolean", "Whether top-level fields changed."),
        ],
    },
    Decl::Interface {
        name: "SkippedSnapshot",
        doc: "A snapshot file the import skipped.",
        extends: None,
        open: false,
        fields: &[f("file", "string", ""), f("error", "string", "")],
    },
    Decl::Interface {
        name: "HistoryImport",
        doc: "How old `audit-history/*.json` snapshots were imported when the log was new.",
        extends: None,
        open: false,
        fields: &[
            f("from", "string", "The folder read."),
            f("time", "string", "When the import ran, RFC 3339."),
            f("imported", "number", "Snapshots that became points."),
            f("unchanged", "number", "Snapshots equal to the one before them."),
            f("too_old", "number", "Snapshots older than the log's retention."),
            f("skipped", "SkippedSnapshot[]", "Files that could not be read or parsed."),
            f("error", "string | null", "Why the import stopped early, if it did."),
        ],
    },
    Decl::Interface {
        name: "HistoryPage",
        doc: "`GET /api/history`: points newest first.",
        extends: None,
        open: false,
        fields: &[
            f("points", "HistoryPoint[]", ""),
            f("next", "CursorText | null", "Pass as `before` for the next, older page."),
            f("import", "HistoryImport | null", ""),
        ],
    },
    Decl::Interface {
        name: "HistoryDiff",
        doc: "`GET /api/history/diff`: apply `repos` in order to the state at `from`, then merge `meta`, to get the state at `to`.",
        extends: None,
        open: false,
        fields: &[
            f("from", "CursorText", ""),
            f("to", "CursorText", ""),
            f("repos", "RepoChange[]", ""),
            f("meta", "ReportMeta | null", ""),
        ],
    },
    Decl::Interface {
        name: "RepoEvent",
        doc: "One change of one repository (`GET /api/repos/<name>/history`).",
        extends: Some("RepoTransition"),
        open: false,
        fields: &[
            f("cursor", "CursorText", "The state right after the change."),
            f("time", "string", "RFC 3339 UTC with ms."),
        ],
    },
    Decl::Interface {
        name: "RepoTimeline",
        doc: "`GET /api/repos/<name>/history`: one repository's changes, newest first.",
        extends: None,
        open: false,
        fields: &[
            f("name", "string", ""),
            f("events", "RepoEvent[]", ""),
            f("next", "CursorText | null", "Pass as `before` for older events."),
        ],
    },
];

#[cfg(test)]
mod tests {
    use gitops_report::{Repo, Status, Summary};
    use serde_json::{Value, json};

    use super::*;
    use crate::Epoch;
    use crate::typescript::tests::assert_conforms;

    fn transition() -> RepoTransition {
        RepoTransition {
            name: "halo".into(),
            dup: 1,
            change: TransitionKind::Changed,
            old_status: Some(Status::Dirty),
            new_status: Some(Status::Clean),
        }
    }

    #[test]
    fn history_answers_match_their_typescript_declarations() {
        let cursor = Cursor::new(Epoch(0xab), 7);
        let point = HistoryPoint {
            cursor,
            time: "2026-12-01T10:00:00.000Z".into(),
            kind: PointKind::Changes,
            timestamp: Some("2026-12-01T10:00:00Z".into()),
            health_status: Some(Health::Yellow),
            summary: Some(Summary { total: 2, clean: 1, dirty: 1, ..Summary::default() }),
            counts: [("clean".to_owned(), 1), ("dirty".to_owned(), 1)].into(),
            repos: vec![transition()],
            repos_changed: 1,
            meta_changed: true,
        };
        let import = HistoryImport {
            from: "/srv/audit/audit-history".into(),
            time: "2026-12-01T10:00:00Z".into(),
            imported: 3,
            unchanged: 1,
            too_old: 0,
            skipped: vec![SkippedSnapshot { file: "x.json".into(), error: "line 1".into() }],
            error: None,
        };
        let page = HistoryPage { points: vec![point], next: Some(cursor), import: Some(import) };
        let page = serde_json::to_value(&page).expect("serialises");
        assert_conforms("HistoryPage", &page);
        assert_conforms("HistoryPoint", &page["points"][0]);
        assert_conforms("RepoTransition", &page["points"][0]["repos"][0]);
        assert_conforms("HistoryImport", &page["import"]);
        assert_conforms("SkippedSnapshot", &page["import"]["skipped"][0]);
        assert_eq!(page["points"][0]["cursor"], json!("00000000000000ab:7"));
        assert_eq!(page["points"][0]["kind"], json!("changes"));

        let added = RepoTransition {
            dup: 0,
            change: TransitionKind::Added,
            old_status: None,
            ..transition()
        };
        let added = serde_json::to_value(&added).expect("serialises");
        assert_eq!(
            added,
            json!({"name": "halo", "change": "added", "old_status": null, "new_status": "clean"})
        );

        let timeline = RepoTimeline {
            name: "halo".into(),
            events: vec![RepoEvent { cursor, time: "t".into(), transition: transition() }],
            next: None,
        };
        let timeline = serde_json::to_value(&timeline).expect("serialises");
        assert_conforms("RepoTimeline", &timeline);
        assert_conforms("RepoEvent", &timeline["events"][0]);

        let repo = Repo { name: "halo".into(), status: Status::Clean, ..Repo::default() };
        let diff = HistoryDiff {
            from: cursor,
            to: Cursor::new(Epoch(0xab), 3),
            repos: vec![RepoChange {
                name: "halo".into(),
                dup: 0,
                kind: gitops_diff::RepoChangeKind::Added { repo },
            }],
            meta: Some(serde_json::Map::from_iter([("github_user".to_owned(), Value::Null)])),
        };
        let diff = serde_json::to_value(&diff).expect("serialises");
        assert_conforms("HistoryDiff", &diff);
        let back: HistoryDiff = serde_json::from_value(diff).expect("serialises");
        assert_eq!(back.into_changes().repos.len(), 1);
    }
}
