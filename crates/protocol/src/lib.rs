//! The gitops-live wire protocol, version 1, as defined in `docs/protocol.md`.
//!
//! Server messages are encoded once, with the `encode_*` functions, into [`Bytes`] that every
//! connection shares; clients decode them with [`ServerMessage::decode`]. The [`Cursor`]
//! (`"<epoch>:<seq>"`) names a state; a client brings it back to resume.
//!
//! Every wire constant lives here: the message kinds ([`MessageKind`]), the close codes
//! ([`CloseCode`]) and the `retry-ms=` reason ([`format_retry_reason`], [`parse_retry_ms`]).
//! [`LiveState`] is the client rules (which message applies, which is a gap or stale) for
//! clients written in Rust; [`typescript`] renders all of it for the dashboard. No IO, no
//! runtime: the crate is data and functions over data.
#![warn(missing_docs)]

mod actions;
mod close;
mod cursor;
mod history;
mod live_state;
mod message;
mod typescript;

pub use actions::{
    ActionAccepted, ActionLogEntry, ActionLogPage, ActionState, ActionStatus, OperatorInfo,
};
pub use close::{CloseCode, MAX_RETRY_MS, RETRY_MS_KEY, format_retry_reason, parse_retry_ms};
pub use cursor::{Cursor, Epoch};
pub use history::{
    HistoryDiff, HistoryImport, HistoryPage, HistoryPoint, PointKind, RepoEvent, RepoTimeline,
    RepoTransition, SkippedSnapshot, TRANSITIONS_PER_POINT, TransitionKind,
};
pub use live_state::{Applied, LiveState};
pub use message::{
    CatchUp, ClientMessage, ClientsByTransport, ConnectionStatus, ErrorBody, ErrorCode, LastError,
    LogState, LogStatus, MessageKind, Pong, ReportSource, ReportState, ServerMessage, Session,
    SignInMethod, WatchState, encode_action_status, encode_audit_update, encode_catch_up,
    encode_connection_status, encode_error, encode_meta, encode_pong, encode_repo_change,
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
    /// A change does not fit the client's state ([`LiveState::apply`]); the client should ask
    /// for a snapshot (`request-update`, or reconnect without a cursor).
    #[error("cannot apply a change: {0}")]
    Apply(#[from] gitops_diff::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
