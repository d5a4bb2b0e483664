//! What one notification says: the [`Digest`] the rules produce and every destination renders.

use std::time::SystemTime;

use gitops_report::{Health, Status};

/// One notification: what changed since the last one, grouped by status.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// When the notifier produced it (the `now` it was given).
    pub at: SystemTime,
    /// The cursor of the point the previous notification described (or the first report seen).
    pub from_cursor: Option<String>,
    /// The cursor of the latest report observed.
    pub to_cursor: Option<String>,
    /// The dashboard's diff of those two points, when a `dashboard_url` is configured.
    pub link: Option<String>,
    /// Repository changes, problems first (missing, mismatched, dirty, extra, others), then
    /// recoveries; each group's entries sorted by name.
    pub groups: Vec<DigestGroup>,
    /// The health light's change, when it changed. The light is the one the notified statuses
    /// give, so a change held back by a delay does not show in the light before it is notified.
    pub health: Option<HealthChange>,
    /// Changes of the report source itself (failing to parse, stale, and their recoveries).
    pub source: Vec<SourceChange>,
    /// How loud this digest is.
    pub level: Level,
    /// How many repositories are, as far as recipients now know, in a status that notifies.
    pub attention: usize,
    /// The health light recipients now know.
    pub current_health: Health,
}

/// The repositories that entered one status.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestGroup {
    /// The status they entered; `None` for repositories that left the report.
    pub status: Option<Status>,
    /// Whether entering it is a recovery (the status does not notify by itself).
    pub recovery: bool,
    /// The repositories, sorted by name.
    pub entries: Vec<DigestEntry>,
}

/// One repository's notified change.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestEntry {
    /// The repository's name.
    pub name: String,
    /// Which repository of that name (earlier ones of the same name in the report), from 0.
    pub dup: u32,
    /// The status recipients knew before; `None` for a repository new to the report.
    pub from: Option<Status>,
    /// The status now; `None` for a repository that left the report.
    pub to: Option<Status>,
    /// Since when it has held the new status.
    pub since: SystemTime,
}

/// The health light's change.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthChange {
    /// The light recipients knew.
    pub from: Health,
    /// The light now.
    pub to: Health,
}

/// A change of the report source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceChange {
    /// The report has failed to parse (or to be read) since `since`, for longer than the rule allows.
    ReportFailing {
        /// When it started failing.
        since: SystemTime,
    },
    /// A report that had been notified as failing is read again.
    ReportRecovered,
    /// The report has been stale since `since`, for longer than the rule allows.
    ReportStale {
        /// When it went stale.
        since: SystemTime,
    },
    /// A report that had been notified as stale is fresh again.
    ReportFresh,
    /// A test message an operator asked for ("send test"): it changes nothing.
    Test,
}

/// How loud a digest is; destinations map it to their own priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Only recoveries.
    Info,
    /// Something needs attention.
    Warning,
    /// Something is missing, the light is red, or the report cannot be read.
    Failure,
}

impl Level {
    /// `info`, `warning` or `failure`: the Apprise API's `type` values.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Failure => "failure",
        }
    }
}

impl DigestEntry {
    /// The name as shown: `name`, or `name (#2)` for the second repository of that name.
    pub fn label(&self) -> String {
        if self.dup == 0 { self.name.clone() } else { format!("{} (#{})", self.name, self.dup + 1) }
    }
}

impl DigestGroup {
    /// The group's heading word: the status, or `removed`.
    pub fn title(&self) -> &str {
        self.status.as_ref().map_or("removed", Status::as_str)
    }
}

impl Digest {
    /// A test message ("send test"): no changes, the current health, a link to the dashboard.
    pub fn test(at: SystemTime, current_health: Health, link: Option<String>) -> Self {
        Self {
            at,
            from_cursor: None,
            to_cursor: None,
            link,
            groups: Vec::new(),
            health: None,
            source: vec![SourceChange::Test],
            level: Level::Info,
            attention: 0,
            current_health,
        }
    }

    /// How many repository changes the digest lists.
    pub fn n_changes(&self) -> usize {
        self.groups.iter().map(|group| group.entries.len()).sum()
    }

    /// A one-line summary, used as title and email subject, e.g.
    /// `gitops: 3 repositories need attention (red)`.
    pub fn title(&self) -> String {
        let light = self.current_health.as_str();
        let source = self.source.iter().find_map(|change| match change {
            SourceChange::ReportFailing { .. } => Some("the report cannot be read"),
            SourceChange::ReportStale { .. } => Some("the report is stale"),
            SourceChange::Test => Some("a test message from gitops-live"),
            SourceChange::ReportRecovered | SourceChange::ReportFresh => None,
        });
        if let Some(source) = source {
            return format!("gitops: {source} ({light})");
        }
        match self.attention {
            0 => format!("gitops: all repositories fine ({light})"),
            1 => format!("gitops: 1 repository needs attention ({light})"),
            n => format!("gitops: {n} repositories need attention ({light})"),
        }
    }
}
