//! The one error type of this crate: why a watch could not be started.
//!
//! Once a watch runs it never fails: read errors and a broken OS watcher become events
//! ([`crate::WatchEvent::Unreadable`], [`crate::WatchEvent::Mode`],
//! [`crate::TreeEvent::Unavailable`]), not errors.

use std::path::PathBuf;

/// Why [`crate::watch`] or [`crate::watch_tree`] refused to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configured path does not end in a file name (it is empty, `/`, or ends in `..`).
    ///
    /// Pass the path of the file to watch, such as `/srv/audit/GitRepoReport.json`.
    #[error("path {path:?} does not name a file")]
    NotAFilePath {
        /// The path as configured.
        path: PathBuf,
    },

    /// A relative path (or tree root) was given and the current directory could not be read to
    /// anchor it.
    ///
    /// Pass an absolute path, or fix the process's current directory.
    #[error("cannot resolve relative path {path:?}: current directory is unreadable")]
    CurrentDir {
        /// The relative path as configured.
        path: PathBuf,
        /// Why the current directory could not be read.
        #[source]
        source: std::io::Error,
    },

    /// `poll_interval` or `watcher_retry_interval` was zero, which would spin.
    ///
    /// Use a positive interval; the defaults are 1 s and 30 s.
    #[error("{field} must be greater than zero")]
    ZeroInterval {
        /// The name of the offending [`crate::WatchConfig`] or [`crate::TreeConfig`] field.
        field: &'static str,
    },

    /// [`crate::watch`] or [`crate::watch_tree`] was called outside a tokio runtime, so there is nowhere to run the watch.
    ///
    /// Call it from within a tokio runtime (for example inside `#[tokio::main]`).
    #[error("no tokio runtime to run the watch on")]
    NoRuntime,
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
