//! Integration tests of the auditor: real repositories, a local GitHub API, atomic writing.
#![allow(clippy::unwrap_used)]

mod github;
mod statuses;
mod support;
mod writing;
