//! The report's data types and their JSON form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One audit report, normalised from whichever shape the producer wrote.
///
/// Serialises to the current report shape (an object with `repos`), whatever shape it was read from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Report {
    /// When the audit ran, as the producer wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The producer's health light, if it wrote one. [`Report::computed_health`] gives the rule's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<Health>,
    /// The producer's counts, if it wrote them. They may disagree with `repos`; see `validate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Every repository, in the producer's order.
    #[serde(default)]
    pub repos: Vec<Repo>,
    /// Human-readable text for each `mitigation` key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mitigation_actions: BTreeMap<String, String>,
    /// The folder the local scan looked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_git_root: Option<String>,
    /// Whether the producer scanned local folders at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_scan_active: Option<bool>,
    /// The GitHub account the remote listing came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_user: Option<String>,
    /// Top-level fields the model does not know, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which shape a report was read from (not serialised; the model always writes the current shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// An object with `repos` (and usually `summary` and `health_status`).
    #[default]
    Current,
    /// A bare JSON array of repositories, as older producers wrote.
    LegacyArray,
}

/// One repository's audit result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Repo {
    /// The repository's name: the key every diff and message uses.
    pub name: String,
    /// What the audit found.
    pub status: Status,
    /// Where to clone it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_url: Option<String>,
    /// Where it lives on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// The local clone's `origin` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_url: Option<String>,
    /// The URL `origin` should have, for `mismatched` repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_url: Option<String>,
    /// The dashboard route for this repository, e.g. `/audit/halo?action=clone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_link: Option<String>,
    /// A key into [`Report::mitigation_actions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation: Option<String>,
    /// Whether the expected files (README, .gitignore) are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_status: Option<FileStatus>,
    /// Fields the model does not know (including the legacy shape's `path`, `branch`, ...).
    #[serde(flatten)]
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Number of repositories.
    #[serde(default)]
    pub total: u64,
    /// Number `missing`.
    #[serde(default)]
    pub missing: u64,
    /// Number `extra`.
    #[serde(default)]
    pub extra: u64,
    /// Number `dirty`.
    #[serde(default)]
    pub dirty: u64,
    /// Number `mismatched`; older producers omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatched: Option<u64>,
    /// Number `clean`.
    #[serde(default)]
    pub clean: u64,
    /// Counts the model does not know, kept as written.
    #[serde(flatten)]
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
