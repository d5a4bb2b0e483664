//! The gitops audit report model: one normalised [`Report`] for every report shape producers write.
//!
//! Producers of `GitRepoReport.json` have written several shapes over time (see `docs/protocol.md`
//! and the design notes): the current object with `summary` and `repos`, an older one without
//! `mismatched`, a legacy bare array of repositories, and a mock without `status`. [`parse`] reads
//! them all into one [`Report`]; [`validate`] reports what looks wrong without failing.
//!
//! Fields the model does not know are kept in `extra` maps and written back out unchanged, so a
//! producer's new field reaches the browser.
#![warn(missing_docs)]

mod model;

pub use model::{FileStatus, Health, Repo, Report, Shape, Status, Summary, Timestamp};
