//! The report's data types and their JSON form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One audit report, normalised from whichever shape the producer wrote.
///
/// Serialises to the current report shape (an object with `repos`), whatever shape it was read from.
/// Its serde impls are written by hand (see `de.rs` and `ser.rs`): reading is lenient (a known field
/// of the wrong type is kept in `extra` as written) and avoids serde's buffering `flatten`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// When the audit ran, as the producer wrote it.
    pub timestamp: Option<Timestamp>,
    /// The producer's health light, if it wrote one. [`Report::computed_health`] gives the rule's value.
    pub health_status: Option<Health>,
    /// The producer's counts, if it wrote them. They may disagree with `repos`; see `validate`.
    pub summary: Option<Summary>,
    /// Every repository, in the producer's order.
    pub repos: Vec<Repo>,
    /// Human-readable text for each `mitigation` key.
    pub mitigation_actions: BTreeMap<String, String>,
    /// The folder the local scan looked in.
    pub local_git_root: Option<String>,
    /// Whether the producer scanned local folders at all.
    pub local_scan_active: Option<bool>,
    /// The GitHub account the remote listing came from.
    pub github_user: Option<String>,
    /// Top-level fields the model does not know, kept as written.
    pub extra: Map<String, Value>,
}

/// Which shape a report was read from (not serialised; the model always writes the current shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Shape {
    /// An object with `repos` (and usually `summary` and `health_status`).
    #[default]
    Current,
    /// A bare JSON array of repositories, as older producers wrote.
    LegacyArray,
}

/// One repository's audit result.
///
/// Reading requires a `name` (or a legacy `path` to take it from) and a string `status` (or none, in
/// which case it is derived from the legacy `uncommittedChanges`). Other known fields of the wrong
/// type are kept in `extra` as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Repo {
    /// The repository's name: the key every diff and message uses.
    pub name: String,
    /// What the audit found.
    pub status: Status,
    /// Where to clone it from.
    pub clone_url: Option<String>,
    /// Where it lives on disk.
    pub local_path: Option<String>,
    /// The local clone's `origin` URL.
    pub remote_url: Option<String>,
    /// The URL `origin` should have, for `mismatched` repositories.
    pub expected_url: Option<String>,
    /// The dashboard route for this repository, e.g. `/audit/halo?action=clone`.
    pub dashboard_link: Option<String>,
    /// A key into [`Report::mitigation_actions`].
    pub mitigation: Option<String>,
    /// Whether the expected files (README, .gitignore) are present.
    pub file_status: Option<FileStatus>,
    /// Fields the model does not know (including the legacy shape's `path`, `branch`, ...).
    pub extra: Map<String, Value>,
}

/// A repository's audit status. Unknown strings are kept, never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Status {
    /// Expected remotely, no local folder.
    Missing,
    /// Present locally, not expected.
    Extra,
    /// Has uncommitted or untracked changes.
    Dirty,
    /// `origin` names another repository than expected.
    Mismatched,
    /// Present and clean.
    #[default]
    Clean,
    /// A status this version does not know, kept as written.
    Other(String),
}

/// The report's health light.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    /// Nothing to do.
    Green,
    /// Something dirty, extra or mismatched.
    Yellow,
    /// Something missing.
    Red,
    /// A value this version does not know, kept as written.
    Other(String),
}

/// Whether a repository has its expected files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// README and .gitignore present.
    Complete,
    /// Some expected files absent.
    MissingFiles,
    /// No README.
    MissingReadme,
    /// Not checked.
    Unknown,
    /// A value this version does not know, kept as written.
    Other(String),
}

/// The producer's counts by status.
///
/// A count that is not a non-negative integer is kept in `extra_counts` as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Number of repositories.
    pub total: u64,
    /// Number `missing`.
    pub missing: u64,
    /// Number `extra`.
    pub extra: u64,
    /// Number `dirty`.
    pub dirty: u64,
    /// Number `mismatched`; older producers omit it.
    pub mismatched: Option<u64>,
    /// Number `clean`.
    pub clean: u64,
    /// Counts the model does not know, kept as written.
    pub extra_counts: Map<String, Value>,
}

/// An audit time as the producer wrote it, with its parsed instant when it could be read.
///
/// Accepts RFC 3339 (`2025-06-20T03:00:00Z`) and the hyphenated form `2026-02-11T03-00-00Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The text as written; this is what is serialised.
    pub raw: String,
    /// The instant, when `raw` could be read.
    pub instant: Option<jiff::Timestamp>,
}

/// Implements `as_str`, `from_text`, `Display` and string serde for an enum with an `Other(String)` arm.
macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The value as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(other) => other,
                }
            }

            /// Reads a value; unknown text becomes `Other`.
            pub fn from_text(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::from_text(&text))
            }
        }
    };
}

string_enum!(Status {
    Missing => "missing",
    Extra => "extra",
    Dirty => "dirty",
    Mismatched => "mismatched",
    Clean => "clean",
});

string_enum!(Health { Green => "green", Yellow => "yellow", Red => "red" });

string_enum!(FileStatus {
    Complete => "complete",
    MissingFiles => "missing_files",
    MissingReadme => "missing_readme",
    Unknown => "unknown",
});

impl Timestamp {
    /// Reads a producer's timestamp; text that is not a known time form is kept with no instant.
    pub fn from_text(raw: &str) -> Self {
        Self { raw: raw.to_owned(), instant: parse_instant(raw) }
    }

    /// `seconds` since the Unix epoch, written as RFC 3339 in UTC (`2026-11-25T23:59:01Z`); the
    /// epoch itself when out of range.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        let instant = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Self { raw: instant.to_string(), instant: Some(instant) }
    }

    /// Now, in whole seconds rounded down, so a fresh report is never stamped later than the
    /// reader's clock (rounding to the nearest second could put it half a second ahead).
    pub fn now() -> Self {
        Self::from_unix_seconds(jiff::Timestamp::now().as_second())
    }
}

/// Parses RFC 3339, or the hyphenated `YYYY-MM-DDTHH-MM-SSZ` form some producers use in file names.
fn parse_instant(raw: &str) -> Option<jiff::Timestamp> {
    if let Ok(instant) = raw.parse::<jiff::Timestamp>() {
        return Some(instant);
    }
    let (date, time) = raw.split_once('T')?;
    let time = time.strip_suffix('Z').unwrap_or(time);
    let mut parts = time.splitn(3, '-');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    format!("{date}T{h}:{m}:{s}Z").parse().ok()
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::from_text(&text))
    }
}

impl Timestamp {
    /// Seconds from this timestamp to `now` (negative when it lies in the future), or `None` when
    /// the text could not be read as a time.
    pub fn seconds_before(&self, now: std::time::SystemTime) -> Option<i64> {
        let instant = self.instant?;
        let now = jiff::Timestamp::try_from(now).ok()?;
        Some(now.as_second().saturating_sub(instant.as_second()))
    }
}

impl Shape {
    /// The shape's name as `check` prints it: `current` or `legacy-array`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::LegacyArray => "legacy-array",
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Status {
    /// Whether this is one of the five statuses this version knows (not [`Status::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl Report {
    /// The health light the rule gives for `repos`: red if any repository is missing, else yellow if
    /// any is dirty, extra or mismatched, else green. Unknown statuses do not change the light.
    pub fn computed_health(&self) -> Health {
        let mut health = Health::Green;
        for repo in &self.repos {
            match repo.status {
                Status::Missing => return Health::Red,
                Status::Dirty | Status::Extra | Status::Mismatched => health = Health::Yellow,
                Status::Clean | Status::Other(_) => {}
            }
        }
        health
    }

    /// The counts `repos` gives, with `mismatched` always present and each unknown status counted
    /// under its own name in `extra_counts` (e.g. `{"archived": 2}`).
    pub fn computed_summary(&self) -> Summary {
        let mut summary =
            Summary { total: self.repos.len() as u64, mismatched: Some(0), ..Summary::default() };
        let mut other_counts: BTreeMap<&str, u64> = BTreeMap::new();
        for repo in &self.repos {
            match &repo.status {
                Status::Missing => summary.missing += 1,
                Status::Extra => summary.extra += 1,
                Status::Dirty => summary.dirty += 1,
                Status::Mismatched => *summary.mismatched.get_or_insert(0) += 1,
                Status::Clean => summary.clean += 1,
                Status::Other(other) => *other_counts.entry(other).or_insert(0) += 1,
            }
        }
        summary.extra_counts = other_counts
            .into_iter()
            .map(|(status, n)| (status.to_owned(), Value::from(n)))
            .collect();
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with(statuses: &[&str]) -> Report {
        let repos = statuses
            .iter()
            .enumerate()
            .map(|(i, status)| Repo {
                name: format!("repo-{i}"),
                status: Status::from_text(status),
                ..Repo::default()
            })
            .collect();
        Report { repos, ..Report::default() }
    }

    #[test]
    fn timestamps_made_here_are_whole_utc_seconds_never_ahead_of_the_clock() {
        let stamp = Timestamp::from_unix_seconds(1_795_646_764);
        assert_eq!(serde_json::to_value(&stamp).expect("json"), "2026-11-25T22:46:04Z");
        assert_eq!(stamp, Timestamp::from_text("2026-11-25T22:46:04Z"));
        let now = Timestamp::now();
        let age = now.seconds_before(std::time::SystemTime::now()).expect("readable");
        assert!((0..=1).contains(&age), "rounded down, so never in the future: {age}");
    }

    #[test]
    fn health_rule_red_beats_yellow_beats_green() {
        assert_eq!(report_with(&[]).computed_health(), Health::Green);
        assert_eq!(report_with(&["clean", "archived"]).computed_health(), Health::Green);
        assert_eq!(report_with(&["clean", "dirty"]).computed_health(), Health::Yellow);
        assert_eq!(report_with(&["extra"]).computed_health(), Health::Yellow);
        assert_eq!(report_with(&["mismatched", "clean"]).computed_health(), Health::Yellow);
        assert_eq!(report_with(&["dirty", "missing", "extra"]).computed_health(), Health::Red);
    }

    #[test]
    fn computed_summary_counts_every_status_and_unknown_ones_by_name() {
        let report = report_with(&[
            "missing",
            "extra",
            "dirty",
            "dirty",
            "mismatched",
            "clean",
            "archived",
            "archived",
            "wip",
        ]);
        let summary = report.computed_summary();
        assert_eq!(summary.total, 9);
        assert_eq!(
            (summary.missing, summary.extra, summary.dirty, summary.mismatched, summary.clean),
            (1, 1, 2, Some(1), 1)
        );
        assert_eq!(summary.extra_counts.get("archived"), Some(&Value::from(2)));
        assert_eq!(summary.extra_counts.get("wip"), Some(&Value::from(1)));
        assert_eq!(summary.extra_counts.len(), 2);
    }

    #[test]
    fn timestamps_read_both_forms_and_keep_the_raw_text() {
        let iso = Timestamp::from_text("2025-06-20T03:00:00Z");
        let hyphen = Timestamp::from_text("2025-06-20T03-00-00Z");
        assert!(iso.instant.is_some());
        assert_eq!(iso.instant, hyphen.instant);
        assert_eq!(hyphen.raw, "2025-06-20T03-00-00Z");
        assert_eq!(Timestamp::from_text("yesterday").instant, None);
        assert_eq!(Timestamp::from_text("2025-06-20T03-00-xx").instant, None);
    }

    #[test]
    fn seconds_before_counts_from_the_instant() {
        let stamp = Timestamp::from_text("1970-01-01T00:01:40Z");
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(160);
        assert_eq!(stamp.seconds_before(now), Some(60));
        assert_eq!(Timestamp::from_text("soon").seconds_before(now), None);
    }
}
