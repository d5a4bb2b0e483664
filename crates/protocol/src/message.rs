//! Server and client messages, and the encoders that turn a server message into shared bytes once.

use bytes::Bytes;
use gitops_diff::{Changes, Meta, RepoChange};
use gitops_report::Report;
use serde::{Deserialize, Serialize};

use crate::{Cursor, Epoch, Result};

/// Every message the server sends, as a client decodes it.
///
/// The server itself never builds this enum: it encodes from borrowed parts with the `encode_*`
/// functions so that nothing is cloned on the broadcast path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The whole report; replaces the client's state.
    AuditUpdate {
        /// The server run.
        epoch: Epoch,
        /// The state's sequence number.
        seq: u64,
        /// The report.
        data: Report,
    },
    /// One repository added, removed or changed.
    RepoStatusChange {
        /// The server run.
        epoch: Epoch,
        /// This message's sequence number.
        seq: u64,
        /// The change.
        data: RepoChange,
    },
    /// The top-level fields that changed (a shallow merge patch; `null` removes a field).
    HealthMetricsUpdate {
        /// The server run.
        epoch: Epoch,
        /// This message's sequence number.
        seq: u64,
        /// The changed top-level fields.
        data: Meta,
    },
    /// Several changes merged, taking a client from `data.since` to `seq`.
    CatchUp {
        /// The server run.
        epoch: Epoch,
        /// The sequence number the client is at once it has applied this.
        seq: u64,
        /// The merged changes.
        data: CatchUp,
    },
    /// The server's view of itself and of the report source.
    ConnectionStatus {
        /// The status.
        data: ConnectionStatus,
    },
    /// The answer to a `ping`.
    Pong {
        /// The echo and the server's time.
        data: Pong,
    },
    /// A problem with something the client sent.
    Error {
        /// What went wrong.
        data: ErrorBody,
    },
}

impl ServerMessage {
    /// Decodes one server message.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The cursor of a state-bearing message; `None` for the others.
    pub fn cursor(&self) -> Option<Cursor> {
        match self {
            Self::AuditUpdate { epoch, seq, .. }
            | Self::RepoStatusChange { epoch, seq, .. }
            | Self::HealthMetricsUpdate { epoch, seq, .. }
            | Self::CatchUp { epoch, seq, .. } => Some(Cursor::new(*epoch, *seq)),
            Self::ConnectionStatus { .. } | Self::Pong { .. } | Self::Error { .. } => None,
        }
    }
}

/// The data of a `catch-up` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatchUp {
    /// The cursor the changes start from.
    pub since: Cursor,
    /// Repository changes, merged per repository.
    pub repos: Vec<RepoChange>,
    /// The top-level fields changed since `since` (a shallow merge patch), or `None`.
    pub meta: Option<Meta>,
}

impl CatchUp {
    /// The merged changes as a [`Changes`] value, ready for `gitops_diff::apply`.
    pub fn into_changes(self) -> Changes {
        Changes { repos: self.repos, meta: self.meta }
    }
}

/// The data of a `connection-status` message (also the body of `GET /api/ws/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// The server's clock, RFC 3339.
    pub server_time: String,
    /// Seconds since the server started.
    pub uptime_s: u64,
    /// False when real-time transports are switched off (`--realtime off`); clients should poll.
    pub realtime: bool,
    /// Connected clients by transport.
    pub clients: ClientsByTransport,
    /// The cursor of the current state, or `None` before any report has loaded.
    pub cursor: Option<Cursor>,
    /// Where the report comes from and whether the last read worked.
    pub report: ReportSource,
    /// Where published changes are kept across restarts, and whether that works; absent when
    /// they are kept in memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogStatus>,
}

/// The durable log behind the served state (the store in the state directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStatus {
    /// Where it is, e.g. the database file.
    pub location: String,
    /// Whether the last publish was kept.
    pub state: LogState,
    /// The failure, while failing: since when, and why.
    pub last_error: Option<LastError>,
    /// What opening it found that the operator should know (a damaged file moved aside, a new
    /// epoch), if anything.
    pub notice: Option<String>,
}

/// Whether the durable log keeps what is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogState {
    /// Every publish is kept before clients see it.
    Ok,
    /// Publishes are not being kept (a full disk, a broken file); serving goes on, and clients
    /// resync with one snapshot after a restart.
    Failing,
}

/// How a viewer signs in, when the server asks it to (`GET /api/session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignInMethod {
    /// Exchange the viewer token for a session cookie with `POST /api/session`.
    Token,
    /// A trusted reverse proxy names the signed-in user in a request header.
    Proxy,
}

/// The body of `GET`, `POST` and `DELETE /api/session`: whether this server asks viewers to sign
/// in and whether this request is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Whether data endpoints (`/ws`, `/api/events`, `/api/updates`, `/api/audit`, `/audit`,
    /// `/api/ws/status`) need a signed-in viewer.
    pub required: bool,
    /// The ways this server accepts, in the order it checks them.
    pub methods: Vec<SignInMethod>,
    /// Whether this request was signed in (always true when `required` is false).
    pub authenticated: bool,
    /// The user the reverse proxy named, when signed in that way.
    pub user: Option<String>,
    /// When the session cookie expires (RFC 3339), when signed in with one.
    pub expires_at: Option<String>,
}

/// Connected clients by transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientsByTransport {
    /// WebSocket connections.
    pub ws: u64,
    /// Server-Sent Events streams.
    pub sse: u64,
    /// Long-poll requests being held.
    pub long_poll: u64,
}

/// Where the report comes from and whether it is healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSource {
    /// The watched path (or the audited folder).
    pub path: String,
    /// Whether a good report is being served.
    pub state: ReportState,
    /// When the current report was loaded, RFC 3339.
    pub last_loaded: Option<String>,
    /// The last failure, while the source is failing.
    pub last_error: Option<LastError>,
    /// How changes are detected.
    pub watch: WatchState,
    /// Why the watch is in its mode, when it is not the normal one.
    pub watch_note: Option<String>,
}

/// Whether a good report is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportState {
    /// No report has loaded yet.
    Waiting,
    /// The last read produced the report being served.
    Ok,
    /// The last read failed; the report being served is the last good one.
    Error,
}

/// A failure of the report source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// What failed, with its location when known.
    pub message: String,
    /// When the source started failing, RFC 3339.
    pub since: String,
}

/// How changes to the report are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatchState {
    /// Operating-system file events.
    Watching,
    /// Periodic polling, the fallback when OS events are unavailable.
    Polling,
    /// The report is produced by the built-in auditor.
    Auditing,
}

/// The data of a `pong`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// The `ts` the client sent, echoed back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<serde_json::Value>,
    /// The server's clock, RFC 3339.
    pub server_time: String,
}

/// The data of an `error` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
}

/// Stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The message was not JSON or not an object with a string `type`.
    BadMessage,
    /// The message's `type` is not one this server knows.
    UnknownType,
    /// The cursor could not be read; a snapshot follows instead.
    BadCursor,
    /// No report has been loaded yet; data follows when one is.
    NotReady,
}

/// Every message a client may send over the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// Bring me from this cursor to now.
    Resume {
        /// The client's last applied cursor.
        since: Cursor,
    },
    /// Are you there? Any `ts` is echoed back in the `pong`.
    Ping {
        /// An opaque value echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<serde_json::Value>,
    },
    /// Send me the whole current state.
    RequestUpdate,
    /// Send me a `connection-status`.
    GetStatus,
}

impl ClientMessage {
    /// Decodes one client message; the error says which `error` code to answer with.
    ///
    /// Unknown fields are ignored, so old dashboards' extra fields never cause a rejection.
    pub fn decode(bytes: &[u8]) -> Result<Self, (ErrorCode, String)> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| (ErrorCode::BadMessage, format!("not JSON: {e}")))?;
        let Some(kind) = value.get("type").and_then(serde_json::Value::as_str) else {
            return Err((
                ErrorCode::BadMessage,
                "expected an object with a string \"type\"".to_owned(),
            ));
        };
        let kind = kind.to_owned();
        let known = matches!(kind.as_str(), "resume" | "ping" | "request-update" | "get-status");
        if !known {
            return Err((ErrorCode::UnknownType, format!("unknown message type {kind:?}")));
        }
        serde_json::from_value(value).map_err(|e| {
            let code = if kind == "resume" { ErrorCode::BadCursor } else { ErrorCode::BadMessage };
            (code, format!("invalid {kind}: {e}"))
        })
    }

    /// Encodes the message (for clients written in Rust).
    pub fn encode(&self) -> Bytes {
        Bytes::from(to_vec(self))
    }
}

/// A state-bearing message built from borrowed data, so encoding clones nothing.
#[derive(Serialize)]
struct StateEnvelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    epoch: Epoch,
    seq: u64,
    data: &'a T,
}

/// A message without a cursor, built from borrowed data.
#[derive(Serialize)]
struct PlainEnvelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a T,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these types cannot fail: every map key is a string and no Serialize impl
    // here returns an error.
    serde_json::to_vec(value).expect("protocol messages always serialise")
}

fn state_message<T: Serialize>(kind: &'static str, cursor: Cursor, data: &T) -> Bytes {
    Bytes::from(to_vec(&StateEnvelope { kind, epoch: cursor.epoch, seq: cursor.seq, data }))
}

/// Encodes an `audit-update` (the whole report at `cursor`).
pub fn encode_audit_update(cursor: Cursor, report: &Report) -> Bytes {
    state_message("audit-update", cursor, report)
}

/// Encodes a `repo-status-change`.
pub fn encode_repo_change(cursor: Cursor, change: &RepoChange) -> Bytes {
    state_message("repo-status-change", cursor, change)
}

/// Encodes a `health-metrics-update` with the top-level fields that changed.
pub fn encode_meta(cursor: Cursor, meta: &Meta) -> Bytes {
    state_message("health-metrics-update", cursor, meta)
}

/// Encodes a `catch-up` taking a client from `since` to `cursor`.
pub fn encode_catch_up(cursor: Cursor, since: Cursor, changes: &Changes) -> Bytes {
    #[derive(Serialize)]
    struct CatchUpRef<'a> {
        since: Cursor,
        repos: &'a [RepoChange],
        meta: Option<&'a Meta>,
    }
    let data = CatchUpRef { since, repos: &changes.repos, meta: changes.meta.as_ref() };
    state_message("catch-up", cursor, &data)
}

/// Encodes a `connection-status`.
pub fn encode_connection_status(status: &ConnectionStatus) -> Bytes {
    Bytes::from(to_vec(&PlainEnvelope { kind: "connection-status", data: status }))
}

/// Encodes a `pong`.
pub fn encode_pong(pong: &Pong) -> Bytes {
    Bytes::from(to_vec(&PlainEnvelope { kind: "pong", data: pong }))
}

/// Encodes an `error`.
pub fn encode_error(code: ErrorCode, message: &str) -> Bytes {
    let body = ErrorBody { code, message: message.to_owned() };
    Bytes::from(to_vec(&PlainEnvelope { kind: "error", data: &body }))
}
