//! The gitops audit report model: one normalised [`Report`] for every report shape producers write.
//!
//! Producers of `GitRepoReport.json` have written several shapes over time (see `docs/protocol.md`
//! and the design notes): the current object with `summary` and `repos`, an older one without
//! `mismatched`, a legacy bare array of repositories, and a mock without `status`. [`parse`] reads
//! them all into one [`Report`]; [`validate`] reports what looks wrong without failing.
//!
//! Fields the model does not know are kept in `extra` maps and written back out unchanged, so a
//! producer's new field reaches the browser. Known fields of the wrong type are kept there too, as
//! written, and [`validate`] names them.
//!
//! ```
//! let parsed = gitops_report::parse(gitops_report::SAMPLE_REPORT.as_bytes())?;
//! assert_eq!(parsed.shape, gitops_report::Shape::Current);
//! assert_eq!(parsed.report.repos.len(), 50);
//! let findings = gitops_report::validate(&parsed.report);
//! assert!(findings.iter().all(|finding| finding.severity == gitops_report::Severity::Info));
//! # Ok::<(), gitops_report::Error>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod de;
mod error;
mod generate;
mod model;
mod ser;
mod sync;
mod validate;

pub use de::{DEFAULT_MAX_BYTES, ParseOptions, Parsed, parse, parse_with};
pub use error::{Error, Position, RepoRef, Result};
pub use generate::generate_report;
pub use model::{FileStatus, Health, Repo, Report, Shape, Status, Summary, Timestamp};
pub use sync::SyncIssue;
pub use validate::{Finding, FindingCode, Severity, validate};

/// A realistic current-shape report: 50 repositories with every status (and the unknown
/// `archived`), every `file_status`, a mismatched remote, names with non-ASCII letters, `/` and `~`,
/// unknown fields at both levels, and counts that agree with the list.
pub const SAMPLE_REPORT: &str = include_str!("../samples/GitRepoReport.json");

/// A report in the legacy bare-array shape: `path`, `remote`, `branch`, `lastCommit`, ... with
/// some repositories lacking `name` or `status`.
pub const SAMPLE_LEGACY_ARRAY: &str = include_str!("../samples/legacy-array.json");

/// A small report with the hyphenated timestamp (`2026-02-11T03-00-00Z`), no `mismatched` count,
/// and a summary and health light that disagree with its repositories.
pub const SAMPLE_HYPHEN_TIMESTAMP: &str = include_str!("../samples/hyphen-timestamp.json");
