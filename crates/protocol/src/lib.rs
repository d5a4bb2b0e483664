//! The gitops-live wire protocol, version 1, as defined in `docs/protocol.md`.
//!
//! Server messages are encoded once, with the `encode_*` functions, into [`Bytes`] that every
//! connection shares; clients decode them with [`ServerMessage::decode`]. The [`Cursor`]
//! (`"<epoch>:<seq>"`) names a state; a client brings it back to resume.
#![warn(missing_docs)]

mod cursor;
mod history;
mod message;
mod typescript;

pub use cursor::{Cursor, Epoch};
pub use history::{
    HistoryDiff, HistoryImport, HistoryPage, HistoryPoint, PointKind, RepoEvent, RepoTimeline,
    RepoTransition, SkippedSnapshot, TRANSITIONS_PER_POINT, TransitionKind,
};
pub use message::{
    CatchUp, ClientMessage, ClientsByTransport, ConnectionStatus, ErrorBody, ErrorCode, LastError,
    LogState, LogStatus, Pong, ReportSource, ReportState, ServerMessage, Session, SignInMethod,
    WatchState, encode_audit_update, encode_catch_up, encode_connection_status, encode_error,
    encode_meta, encode_pong, encode_repo_change,
};

pub use bytes::Bytes;
pub use typescript::typescript;

/// The protocol version this crate implements; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// Errors from decoding messages and cursors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a cursor of the form `<epoch>:<seq>`; the caller should treat the client as
    /// having no cursor (send a snapshot) and may tell it with an `error` message.
    #[error("invalid cursor {0:?}: expected <16 hex digits>:<seq>")]
    InvalidCursor(String),
    /// The bytes are not a message of this protocol; the caller should answer `bad-message`.
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] serde_json::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
