//! Server and client messages, and the encoders that turn a server message into shared bytes once.

use bytes::Bytes;
use gitops_diff::{Changes, Meta, RepoChange};
use gitops_report::Report;
use serde::{Deserialize, Serialize};

use crate::{ActionStatus, Cursor, Epoch, OperatorInfo, Result};

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
    /// An operator's action on a repository started or ended.
    ActionStatus {
        /// The action and where it is.
        data: ActionStatus,
    },
}

impl ServerMessage {
    /// The message's `type`.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::AuditUpdate { .. } => MessageKind::AuditUpdate,
            Self::RepoStatusChange { .. } => MessageKind::RepoStatusChange,
            Self::HealthMetricsUpdate { .. } => MessageKind::HealthMetricsUpdate,
            Self::CatchUp { .. } => MessageKind::CatchUp,
            Self::ConnectionStatus { .. } => MessageKind::ConnectionStatus,
            Self::Pong { .. } => MessageKind::Pong,
            Self::Error { .. } => MessageKind::Error,
            Self::ActionStatus { .. } => MessageKind::ActionStatus,
        }
    }

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
            Self::ConnectionStatus { .. }
            | Self::Pong { .. }
            | Self::Error { .. }
            | Self::ActionStatus { .. } => None,
        }
    }
}

/// The `type` of a server message: also its SSE `event:` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `audit-update`: the whole report.
    AuditUpdate,
    /// `repo-status-change`: one repository added, removed or changed.
    RepoStatusChange,
    /// `health-metrics-update`: the top-level fields that changed.
    HealthMetricsUpdate,
    /// `catch-up`: several changes merged.
    CatchUp,
    /// `connection-status`: the server's view of itself and of the report source.
    ConnectionStatus,
    /// `pong`: the answer to a `ping`.
    Pong,
    /// `error`: a problem with something the client sent.
    Error,
    /// `action-status`: an operator's action on a repository started or ended.
    ActionStatus,
}

impl MessageKind {
    /// Every kind: the state-bearing ones first, in the order of [`ServerMessage`].
    pub const ALL: [MessageKind; 8] = [
        Self::AuditUpdate,
        Self::RepoStatusChange,
        Self::HealthMetricsUpdate,
        Self::CatchUp,
        Self::ConnectionStatus,
        Self::Pong,
        Self::Error,
        Self::ActionStatus,
    ];

    /// The name on the wire (the JSON `type`, the SSE `event:`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuditUpdate => "audit-update",
            Self::RepoStatusChange => "repo-status-change",
            Self::HealthMetricsUpdate => "health-metrics-update",
            Self::CatchUp => "catch-up",
            Self::ConnectionStatus => "connection-status",
            Self::Pong => "pong",
            Self::Error => "error",
            Self::ActionStatus => "action-status",
        }
    }

    /// Whether messages of this kind carry a cursor and change the state.
    pub const fn is_state(self) -> bool {
        matches!(
            self,
            Self::AuditUpdate | Self::RepoStatusChange | Self::HealthMetricsUpdate | Self::CatchUp
        )
    }

    /// The kind of a message made by this crate's `encode_*` functions, read from the first
    /// bytes, which every encoder writes as `{"type":"<kind>"`: no JSON is parsed, so this is
    /// cheap enough for every message sent. `None` for bytes that do not start that way.
    pub fn of_encoded(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(TYPE_PREFIX)?;
        // The first letter picks one kind or, for `c`, two; the full name and its closing quote
        // are then checked, so any other text is refused.
        let candidates: &[Self] = match rest.first()? {
            b'a' => &[Self::AuditUpdate, Self::ActionStatus],
            b'r' => &[Self::RepoStatusChange],
            b'h' => &[Self::HealthMetricsUpdate],
            b'c' => &[Self::CatchUp, Self::ConnectionStatus],
            b'p' => &[Self::Pong],
            b'e' => &[Self::Error],
            _ => return None,
        };
        candidates.iter().copied().find(|kind| {
            rest.strip_prefix(kind.as_str().as_bytes())
                .is_some_and(|after| after.first() == Some(&b'"'))
        })
    }

    /// The key of this kind in the TypeScript `MESSAGE_TYPES` object.
    pub(crate) const fn ts_name(self) -> &'static str {
        match self {
            Self::AuditUpdate => "auditUpdate",
            Self::RepoStatusChange => "repoStatusChange",
            Self::HealthMetricsUpdate => "healthMetricsUpdate",
            Self::CatchUp => "catchUp",
            Self::ConnectionStatus => "connectionStatus",
            Self::Pong => "pong",
            Self::Error => "error",
            Self::ActionStatus => "actionStatus",
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How every encoded message starts: the `type` field comes first (see the envelopes below).
const TYPE_PREFIX: &[u8] = b"{\"type\":\"";

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
    /// Whether this server can act on repositories and whether this request is the operator.
    #[serde(default)]
    pub operator: OperatorInfo,
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
    /// Set while no new report has arrived for longer than expected (`--expect-report-every`):
    /// the audit job may have stopped. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<Staleness>,
}

/// The report source has produced nothing new for longer than expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staleness {
    /// When the last report arrived (or the server started, if none has), RFC 3339.
    pub since: String,
    /// How often a report is expected, in seconds.
    pub expected_every_s: u64,
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
///
/// `kind` is the first field, so the encoded bytes start with [`TYPE_PREFIX`] and
/// [`MessageKind::of_encoded`] can name them without parsing.
#[derive(Serialize)]
struct StateEnvelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    epoch: Epoch,
    seq: u64,
    data: &'a T,
}

/// A message without a cursor, built from borrowed data; `kind` first, as in [`StateEnvelope`].
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

fn state_message<T: Serialize>(kind: MessageKind, cursor: Cursor, data: &T) -> Bytes {
    let kind = kind.as_str();
    Bytes::from(to_vec(&StateEnvelope { kind, epoch: cursor.epoch, seq: cursor.seq, data }))
}

fn plain_message<T: Serialize>(kind: MessageKind, data: &T) -> Bytes {
    Bytes::from(to_vec(&PlainEnvelope { kind: kind.as_str(), data }))
}

/// Encodes an `audit-update` (the whole report at `cursor`).
pub fn encode_audit_update(cursor: Cursor, report: &Report) -> Bytes {
    state_message(MessageKind::AuditUpdate, cursor, report)
}

/// Encodes a `repo-status-change`.
pub fn encode_repo_change(cursor: Cursor, change: &RepoChange) -> Bytes {
    state_message(MessageKind::RepoStatusChange, cursor, change)
}

/// Encodes a `health-metrics-update` with the top-level fields that changed.
pub fn encode_meta(cursor: Cursor, meta: &Meta) -> Bytes {
    state_message(MessageKind::HealthMetricsUpdate, cursor, meta)
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
    state_message(MessageKind::CatchUp, cursor, &data)
}

/// Encodes a `connection-status`.
pub fn encode_connection_status(status: &ConnectionStatus) -> Bytes {
    plain_message(MessageKind::ConnectionStatus, status)
}

/// Encodes a `pong`.
pub fn encode_pong(pong: &Pong) -> Bytes {
    plain_message(MessageKind::Pong, pong)
}

/// Encodes an `action-status`.
pub fn encode_action_status(status: &ActionStatus) -> Bytes {
    plain_message(MessageKind::ActionStatus, status)
}

/// Encodes an `error`.
pub fn encode_error(code: ErrorCode, message: &str) -> Bytes {
    let body = ErrorBody { code, message: message.to_owned() };
    plain_message(MessageKind::Error, &body)
}

#[cfg(test)]
mod tests {
    use gitops_diff::RepoChangeKind;
    use gitops_report::Status;
    use proptest::prelude::*;

    use super::*;

    /// One encoded message of every kind, from the encoders the server uses.
    fn one_of_each() -> Vec<Bytes> {
        let cursor = Cursor::new(Epoch(7), 3);
        let change = RepoChange {
            name: "halo".into(),
            dup: 0,
            kind: RepoChangeKind::Removed { old_status: Status::Dirty },
        };
        let mut meta = Meta::new();
        meta.insert("health_status".into(), "red".into());
        let status = ConnectionStatus {
            server_time: "t".into(),
            uptime_s: 1,
            realtime: true,
            clients: ClientsByTransport::default(),
            cursor: Some(cursor),
            report: ReportSource {
                path: "/x".into(),
                state: ReportState::Ok,
                last_loaded: None,
                last_error: None,
                watch: WatchState::Watching,
                watch_note: None,
                stale: None,
            },
            log: None,
        };
        vec![
            encode_audit_update(cursor, &Report::default()),
            encode_repo_change(cursor, &change),
            encode_meta(cursor, &meta),
            encode_catch_up(cursor, Cursor::new(Epoch(7), 1), &Changes::default()),
            encode_connection_status(&status),
            encode_pong(&Pong { ts: None, server_time: "t".into() }),
            encode_error(ErrorCode::NotReady, "wait"),
            encode_action_status(&ActionStatus {
                id: 1,
                action: "commit".into(),
                repo: "halo".into(),
                who: "operator token".into(),
                state: crate::ActionState::Running,
                summary: String::new(),
                at: "t".into(),
            }),
        ]
    }

    #[test]
    fn every_encoded_message_is_named_by_its_first_bytes() {
        let encoded = one_of_each();
        let kinds: Vec<MessageKind> = encoded
            .iter()
            .map(|bytes| MessageKind::of_encoded(bytes).expect("an encoder's output is named"))
            .collect();
        assert_eq!(kinds, MessageKind::ALL, "one of each, in order");
        for (bytes, kind) in encoded.iter().zip(kinds) {
            let message = ServerMessage::decode(bytes).expect("decodes");
            assert_eq!(message.kind(), kind);
            assert_eq!(message.cursor().is_some(), kind.is_state());
            let json: serde_json::Value = serde_json::from_slice(bytes).expect("json");
            assert_eq!(json["type"], kind.as_str(), "serde's tag and the kind's name agree");
        }
    }

    #[test]
    fn bytes_that_are_not_an_encoded_message_have_no_kind() {
        for bytes in [
            &b""[..],
            b"garbage",
            b"{\"type\":\"",
            b"{\"type\":\"c\"}",
            b"{\"type\":\"catch-upx\"}",
            b"{\"type\":\"pongs\"}",
            b"{\"type\":\"pong",
            b"{ \"type\":\"pong\"}",
            b"{\"type\":\"resume\"}",
            b"{\"data\":{},\"type\":\"pong\"}",
        ] {
            assert_eq!(MessageKind::of_encoded(bytes), None, "{}", String::from_utf8_lossy(bytes));
        }
    }

    proptest! {
        #[test]
        fn any_bytes_have_a_kind_only_when_they_start_with_its_type(
            bytes in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            if let Some(kind) = MessageKind::of_encoded(&bytes) {
                let prefix = format!("{{\"type\":\"{kind}\"");
                prop_assert!(bytes.starts_with(prefix.as_bytes()));
            }
        }

        #[test]
        fn a_known_prefix_is_named_whatever_follows(
            index in 0..MessageKind::ALL.len(),
            tail in prop::collection::vec(any::<u8>(), 0..20),
        ) {
            let kind = MessageKind::ALL[index];
            let mut bytes = format!("{{\"type\":\"{kind}\"").into_bytes();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(MessageKind::of_encoded(&bytes), Some(kind));
        }
    }
}
