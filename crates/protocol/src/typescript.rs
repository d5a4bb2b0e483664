//! The TypeScript declarations of the protocol, for the dashboard.
//!
//! The declarations are data ([`DECLS`]); [`typescript`] renders them, and the tests serialise
//! a value of every Rust type and check its JSON against the declaration's fields, so a field
//! added, renamed or made optional in Rust fails the build until the declarations follow.
//! `cargo xtask types` writes the file; `cargo xtask ci` fails when the checked-in copy is stale.

use std::fmt::Write as _;

use crate::{CloseCode, MAX_RETRY_MS, MessageKind, RETRY_MS_KEY};

/// One field of an interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ts: &'static str,
    pub(crate) optional: bool,
    pub(crate) doc: &'static str,
}

/// One TypeScript declaration.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decl {
    /// `export type name = ts;`
    Alias { name: &'static str, doc: &'static str, ts: &'static str },
    /// `export interface name { fields }`, open to unknown fields when `open`.
    Interface {
        name: &'static str,
        doc: &'static str,
        extends: Option<&'static str>,
        fields: &'static [Field],
        open: bool,
    },
    /// `export const name = value;`
    Const { name: &'static str, doc: &'static str, value: &'static str },
    /// `export type name = ts();`, the type built from Rust values (the message kinds).
    BuiltAlias { name: &'static str, doc: &'static str, ts: fn() -> String },
    /// `export const name = value();`, the value built from Rust values (codes, names).
    BuiltConst { name: &'static str, doc: &'static str, value: fn() -> String },
    /// `export function name(...) {...}`: `ts` is the function after its name, the TypeScript
    /// twin of a Rust function of this crate.
    Function { name: &'static str, doc: &'static str, ts: &'static str },
}

pub(crate) const fn f(name: &'static str, ts: &'static str, doc: &'static str) -> Field {
    Field { name, ts, optional: false, doc }
}

pub(crate) const fn opt(name: &'static str, ts: &'static str, doc: &'static str) -> Field {
    Field { name, ts, optional: true, doc }
}

/// Every declaration, in output order.
pub(crate) const DECLS: &[Decl] = &[
    Decl::Alias {
        name: "CursorText",
        doc: "`\"<epoch>:<seq>\"`: 16 lowercase hex digits, a colon, a decimal sequence number.",
        ts: "string",
    },
    Decl::Alias {
        name: "RepoStatus",
        doc: "Repository status. Known values are listed; any other string is a known-unknown status.",
        ts: "'missing' | 'extra' | 'dirty' | 'mismatched' | 'clean' | (string & {})",
    },
    Decl::Alias {
        name: "HealthStatus",
        doc: "Report health.",
        ts: "'green' | 'yellow' | 'red' | (string & {})",
    },
    Decl::Alias {
        name: "FileStatus",
        doc: "File completeness of a local clone.",
        ts: "'complete' | 'missing_files' | 'missing_readme' | 'unknown' | (string & {})",
    },
    Decl::Interface {
        name: "Repo",
        doc: "One repository of the report. Unknown fields are passed through unchanged.",
        extends: None,
        open: true,
        fields: &[
            f("name", "string", "The key of every change, with `dup`."),
            f("status", "RepoStatus", ""),
            opt("clone_url", "string", ""),
            opt("local_path", "string", ""),
            opt("remote_url", "string", ""),
            opt("expected_url", "string", ""),
            opt("dashboard_link", "string", ""),
            opt("mitigation", "string", "A key into the report's `mitigation_actions`."),
            opt("file_status", "FileStatus", ""),
        ],
    },
    Decl::Interface {
        name: "Summary",
        doc: "The producer's own counts; they may disagree with the repository list.",
        extends: None,
        open: true,
        fields: &[
            opt("total", "number", ""),
            opt("missing", "number", ""),
            opt("extra", "number", ""),
            opt("dirty", "number", ""),
            opt("mismatched", "number", ""),
            opt("clean", "number", ""),
        ],
    },
    Decl::Interface {
        name: "ReportMeta",
        doc: "Top-level fields of the report (never `repos`). In `health-metrics-update` and `catch-up` only the changed ones: apply as a shallow merge patch, `null` removing a field.",
        extends: None,
        open: true,
        fields: &[
            opt("timestamp", "string", ""),
            opt("health_status", "HealthStatus", ""),
            opt("summary", "Summary", ""),
            opt("mitigation_actions", "Record<string, string>", ""),
            opt("local_git_root", "string", ""),
            opt("local_scan_active", "boolean", ""),
            opt("github_user", "string", ""),
        ],
    },
    Decl::Interface {
        name: "Report",
        doc: "The report in its normalised current shape (`audit-update` data, `GET /audit`).",
        extends: Some("ReportMeta"),
        open: false,
        fields: &[f("repos", "Repo[]", "")],
    },
    Decl::Interface {
        name: "RepoChange",
        doc: "One repository added, removed or changed (`repo-status-change` data).",
        extends: None,
        open: false,
        fields: &[
            f("name", "string", ""),
            opt(
                "dup",
                "number",
                "The n-th occurrence of `name` in the report, counting from 0; absent when 0.",
            ),
            f("change", "'added' | 'removed' | 'changed'", ""),
            opt("old_status", "RepoStatus", ""),
            opt("new_status", "RepoStatus", ""),
            opt(
                "ops",
                "JsonPatchOp[]",
                "RFC 6902 operations, paths relative to the repository object (`changed`).",
            ),
            opt("repo", "Repo", "The whole repository (`added`)."),
        ],
    },
    Decl::Alias {
        name: "JsonPatchOp",
        doc: "One RFC 6902 operation.",
        ts: "\n  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }\n  | { op: 'remove'; path: string }\n  | { op: 'move' | 'copy'; from: string; path: string }",
    },
    Decl::Interface {
        name: "CatchUp",
        doc: "`catch-up` data: merged changes taking a client from `since` to the message's cursor.",
        extends: None,
        open: false,
        fields: &[
            f("since", "CursorText", ""),
            f("repos", "RepoChange[]", ""),
            f("meta", "ReportMeta | null", ""),
        ],
    },
    Decl::Alias {
        name: "ReportState",
        doc: "Whether a good report is being served.",
        ts: "'waiting' | 'ok' | 'error'",
    },
    Decl::Alias {
        name: "WatchState",
        doc: "How changes to the report are detected.",
        ts: "'watching' | 'polling' | 'auditing'",
    },
    Decl::Interface {
        name: "LastError",
        doc: "A failure of the report source.",
        extends: None,
        open: false,
        fields: &[f("message", "string", ""), f("since", "string", "RFC 3339.")],
    },
    Decl::Interface {
        name: "ReportSource",
        doc: "Where the report comes from and whether it is healthy.",
        extends: None,
        open: false,
        fields: &[
            f("path", "string", ""),
            f("state", "ReportState", ""),
            f("last_loaded", "string | null", ""),
            f("last_error", "LastError | null", ""),
            f("watch", "WatchState", ""),
            f("watch_note", "string | null", ""),
        ],
    },
    Decl::Interface {
        name: "ClientsByTransport",
        doc: "Connected real-time clients by transport.",
        extends: None,
        open: false,
        fields: &[f("ws", "number", ""), f("sse", "number", ""), f("long_poll", "number", "")],
    },
    Decl::Interface {
        name: "ConnectionStatus",
        doc: "`connection-status` data; also the body of `GET /api/ws/status`.",
        extends: None,
        open: false,
        fields: &[
            f("server_time", "string", ""),
            f("uptime_s", "number", ""),
            f(
                "realtime",
                "boolean",
                "False when real-time transports are switched off on the server; clients should poll.",
            ),
            f("clients", "ClientsByTransport", ""),
            f("cursor", "CursorText | null", ""),
            f("report", "ReportSource", ""),
            opt("log", "LogStatus", "Absent when changes are kept in memory only."),
        ],
    },
    Decl::Alias {
        name: "LogState",
        doc: "Whether the durable log keeps what is published.",
        ts: "'ok' | 'failing'",
    },
    Decl::Interface {
        name: "LogStatus",
        doc: "The durable log behind the served state.",
        extends: None,
        open: false,
        fields: &[
            f("location", "string", ""),
            f("state", "LogState", ""),
            f("last_error", "LastError | null", ""),
            f("notice", "string | null", ""),
        ],
    },
    Decl::Alias {
        name: "SignInMethod",
        doc: "How a viewer signs in: `token` (POST /api/session) or `proxy` (a trusted reverse proxy's header).",
        ts: "'token' | 'proxy' | (string & {})",
    },
    Decl::Interface {
        name: "Session",
        doc: "The body of GET, POST and DELETE `/api/session`.",
        extends: None,
        open: false,
        fields: &[
            f("required", "boolean", "Whether data endpoints need a signed-in viewer."),
            f("methods", "SignInMethod[]", "The ways this server accepts."),
            f(
                "authenticated",
                "boolean",
                "Whether this request was signed in (true when not required).",
            ),
            f("user", "string | null", "The user a trusted reverse proxy named."),
            f("expires_at", "string | null", "When the session cookie expires, RFC 3339."),
            f(
                "operator",
                "OperatorInfo",
                "Whether this server can act, and whether this request is the operator.",
            ),
        ],
    },
    Decl::Interface {
        name: "Pong",
        doc: "`pong` data.",
        extends: None,
        open: false,
        fields: &[
            opt("ts", "unknown", "The `ts` the client sent, echoed back."),
            f("server_time", "string", ""),
        ],
    },
    Decl::Interface {
        name: "ErrorBody",
        doc: "`error` data.",
        extends: None,
        open: false,
        fields: &[
            f(
                "code",
                "'bad-message' | 'unknown-type' | 'bad-cursor' | 'not-ready' | (string & {})",
                "",
            ),
            f("message", "string", ""),
        ],
    },
    Decl::BuiltAlias {
        name: "StateMessage",
        doc: "A state-bearing message: it has a cursor.",
        ts: state_message_union,
    },
    Decl::BuiltAlias {
        name: "ServerMessage",
        doc: "Every message the server sends.",
        ts: server_message_union,
    },
    Decl::Alias {
        name: "ClientMessage",
        doc: "Every message a client may send over the WebSocket.",
        ts: "\n  | { type: 'resume'; since: CursorText }\n  | { type: 'ping'; ts?: number }\n  | { type: 'request-update' }\n  | { type: 'get-status' }",
    },
    Decl::BuiltConst {
        name: "MESSAGE_TYPES",
        doc: "Every server message type name, by a name for code (also the SSE `event:` names).",
        value: message_types,
    },
    Decl::BuiltConst {
        name: "STATE_MESSAGE_TYPES",
        doc: "The type names of state-bearing messages.",
        value: state_message_types,
    },
    Decl::BuiltConst {
        name: "SERVER_MESSAGE_TYPES",
        doc: "Every server message type name (also the SSE `event:` names).",
        value: server_message_types,
    },
    Decl::BuiltConst {
        name: "CLOSE_CODES",
        doc: "WebSocket close codes of the protocol (docs/protocol.md says what a client does on each).",
        value: close_codes,
    },
    Decl::BuiltConst {
        name: "RETRY_MS_KEY",
        doc: "The key that names the reconnect delay, in milliseconds, in a close reason (`retry-ms=N`).",
        value: retry_ms_key,
    },
    Decl::BuiltConst {
        name: "MAX_RETRY_MS",
        doc: "The largest delay `parseRetryMs` accepts (Number.MAX_SAFE_INTEGER, as in Rust).",
        value: max_retry_ms,
    },
    Decl::Function {
        name: "formatRetryReason",
        doc: "The reason of the 1001 close the server sends on shutdown. Twin of Rust `gitops_protocol::format_retry_reason`.",
        ts: RETRY_REASON_TS,
    },
    Decl::Function {
        name: "parseRetryMs",
        doc: "The reconnect delay a close reason asks for: the digits right after the first `retry-ms=`, wherever it sits; null when there are none or the number is over MAX_RETRY_MS. Twin of Rust `gitops_protocol::parse_retry_ms`, with the same answers.",
        ts: PARSE_RETRY_MS_TS,
    },
    Decl::Const {
        name: "PROTOCOL_VERSION",
        doc: "The protocol version these types describe.",
        value: "1",
    },
];

/// The TypeScript data type of each message kind.
fn data_type(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::AuditUpdate => "Report",
        MessageKind::RepoStatusChange => "RepoChange",
        MessageKind::HealthMetricsUpdate => "ReportMeta",
        MessageKind::CatchUp => "CatchUp",
        MessageKind::ConnectionStatus => "ConnectionStatus",
        MessageKind::Pong => "Pong",
        MessageKind::Error => "ErrorBody",
        MessageKind::ActionStatus => "ActionStatus",
    }
}

fn state_kinds() -> impl Iterator<Item = MessageKind> {
    MessageKind::ALL.into_iter().filter(|kind| kind.is_state())
}

fn other_kinds() -> impl Iterator<Item = MessageKind> {
    MessageKind::ALL.into_iter().filter(|kind| !kind.is_state())
}

fn state_message_union() -> String {
    state_kinds()
        .map(|kind| {
            format!(
                "\n  | {{ type: '{kind}'; epoch: string; seq: number; data: {} }}",
                data_type(kind)
            )
        })
        .collect()
}

fn server_message_union() -> String {
    let mut out = String::from("\n  | StateMessage");
    for kind in other_kinds() {
        let _ = write!(out, "\n  | {{ type: '{kind}'; data: {} }}", data_type(kind));
    }
    out
}

fn quoted_list(kinds: impl Iterator<Item = MessageKind>) -> String {
    kinds.map(|kind| format!("'{kind}'")).collect::<Vec<_>>().join(", ")
}

fn message_types() -> String {
    let mut out = String::from("{\n");
    for kind in MessageKind::ALL {
        let _ = writeln!(out, "  {}: '{kind}',", kind.ts_name());
    }
    out.push_str("} as const");
    out
}

fn state_message_types() -> String {
    format!("[{}] as const", quoted_list(state_kinds()))
}

fn server_message_types() -> String {
    format!("[...STATE_MESSAGE_TYPES, {}] as const", quoted_list(other_kinds()))
}

fn close_codes() -> String {
    let mut out = String::from("{\n");
    for close in CloseCode::ALL {
        let _ = writeln!(out, "  {}: {},", close.ts_name(), close.code());
    }
    out.push_str("} as const");
    out
}

fn retry_ms_key() -> String {
    format!("'{RETRY_MS_KEY}'")
}

fn max_retry_ms() -> String {
    MAX_RETRY_MS.to_string()
}

/// `formatRetryReason`; the test below checks that its text is [`crate::close::RESTARTING`].
const RETRY_REASON_TS: &str = "(ms: number): string {
  return `server restarting; ${RETRY_MS_KEY}${ms}`;
}";

/// `parseRetryMs`, read as [`crate::parse_retry_ms`] reads: the first key, then digits only.
const PARSE_RETRY_MS_TS: &str = "(reason: string | null | undefined): number | null {
  if (!reason) return null;
  const at = reason.indexOf(RETRY_MS_KEY);
  if (at < 0) return null;
  const digits = /^[0-9]+/.exec(reason.slice(at + RETRY_MS_KEY.length));
  if (!digits) return null;
  const ms = Number(digits[0]);
  return ms <= MAX_RETRY_MS ? ms : null;
}";

/// The TypeScript declarations of every protocol type, as the dashboard imports them.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from the Rust crate gitops-protocol by `cargo xtask types`. Do not edit:\n\
         // `cargo xtask ci` fails when this file differs from what the Rust types generate.\n",
    );
    for decl in DECLS.iter().chain(crate::history::DECLS).chain(crate::actions::DECLS) {
        out.push('\n');
        match decl {
            Decl::Alias { name, doc, ts } => {
                // A union written one member per line starts with a newline: no space before it.
                let separator = if ts.starts_with('\n') { "" } else { " " };
                let _ = writeln!(out, "/** {doc} */\nexport type {name} ={separator}{ts};");
            }
            Decl::BuiltAlias { name, doc, ts } => {
                let ts = ts();
                let separator = if ts.starts_with('\n') { "" } else { " " };
                let _ = writeln!(out, "/** {doc} */\nexport type {name} ={separator}{ts};");
            }
            Decl::Const { name, doc, value } => {
                let _ = writeln!(out, "/** {doc} */\nexport const {name} = {value};");
            }
            Decl::BuiltConst { name, doc, value } => {
                let _ = writeln!(out, "/** {doc} */\nexport const {name} = {};", value());
            }
            Decl::Function { name, doc, ts } => {
                let _ = writeln!(out, "/** {doc} */\nexport function {name}{ts}");
            }
            Decl::Interface { name, doc, extends, fields, open } => {
                let _ = write!(out, "/** {doc} */\nexport interface {name}");
                if let Some(parent) = extends {
                    let _ = write!(out, " extends {parent}");
                }
                out.push_str(" {\n");
                for field in *fields {
                    if !field.doc.is_empty() {
                        let _ = writeln!(out, "  /** {} */", field.doc);
                    }
                    let _ = writeln!(
                        out,
                        "  {}{}: {};",
                        field.name,
                        if field.optional { "?" } else { "" },
                        field.ts
                    );
                }
                if *open {
                    out.push_str("  [extra: string]: unknown;\n");
                }
                out.push_str("}\n");
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use gitops_diff::{Changes, RepoChange, RepoChangeKind};
    use gitops_report::{FileStatus, Health, Repo, Report, Status, Summary, Timestamp};
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        ClientsByTransport, ConnectionStatus, Cursor, Epoch, ErrorBody, ErrorCode, LastError,
        LogState, LogStatus, Pong, ReportSource, ReportState, Session, SignInMethod, WatchState,
        encode_catch_up,
    };

    fn interface(name: &str) -> (&'static [Field], bool, Option<&'static str>) {
        DECLS
            .iter()
            .chain(crate::history::DECLS)
            .chain(crate::actions::DECLS)
            .find_map(|decl| match decl {
                Decl::Interface { name: n, fields, open, extends, .. } if *n == name => {
                    Some((*fields, *open, *extends))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no interface {name}"))
    }

    /// Every key of `value` is declared (unless the interface is open), and every required field is present.
    pub(crate) fn assert_conforms(name: &str, value: &Value) {
        let (mut fields, open, extends) = interface(name);
        let mut all: Vec<Field> = fields.to_vec();
        if let Some(parent) = extends {
            (fields, _, _) = interface(parent);
            all.extend_from_slice(fields);
        }
        let object =
            value.as_object().unwrap_or_else(|| panic!("{name} serialises to an object: {value}"));
        let declared: BTreeSet<&str> = all.iter().map(|f| f.name).collect();
        if !open {
            for key in object.keys() {
                assert!(
                    declared.contains(key.as_str()),
                    "{name}.{key} is sent but not declared in TypeScript"
                );
            }
        }
        for field in all.iter().filter(|f| !f.optional) {
            assert!(
                object.contains_key(field.name),
                "{name}.{} is declared required but not sent: {value}",
                field.name
            );
        }
    }

    fn full_repo() -> Repo {
        Repo {
            name: "halo".into(),
            status: Status::Mismatched,
            clone_url: Some("https://github.com/alice/halo.git".into()),
            local_path: Some("/srv/git/halo".into()),
            remote_url: Some("https://github.com/alice/other.git".into()),
            expected_url: Some("https://github.com/alice/halo.git".into()),
            dashboard_link: Some("/audit/halo?action=fix_remote".into()),
            mitigation: Some("fix_remote_or_rename".into()),
            file_status: Some(FileStatus::Complete),
            ..Repo::default()
        }
    }

    fn full_report() -> Report {
        Report {
            timestamp: Some(Timestamp::from_text("2025-06-20T03:00:00Z")),
            health_status: Some(Health::Yellow),
            summary: Some(Summary { total: 1, mismatched: Some(1), ..Summary::default() }),
            repos: vec![full_repo()],
            mitigation_actions: [("fix_remote_or_rename".to_owned(), "Fix the remote".to_owned())]
                .into(),
            local_git_root: Some("/srv/git".into()),
            local_scan_active: Some(true),
            github_user: Some("alice".into()),
            ..Report::default()
        }
    }

    fn to_value<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("serialises")
    }

    #[test]
    fn every_declared_interface_matches_what_rust_sends() {
        let report = full_report();
        assert_conforms("Report", &to_value(&report));
        assert_conforms("ReportMeta", &Value::Object(gitops_diff::meta_of(&report)));
        assert_conforms("Repo", &to_value(&full_repo()));
        assert_conforms("Summary", &to_value(report.summary.as_ref().expect("summary")));
        let changed = gitops_diff::change_between(
            "halo",
            2,
            Some(&full_repo()),
            Some(&Repo { status: Status::Clean, ..full_repo() }),
        );
        let added = RepoChange {
            name: "x".into(),
            dup: 0,
            kind: RepoChangeKind::Added { repo: full_repo() },
        };
        let removed = RepoChange {
            name: "y".into(),
            dup: 1,
            kind: RepoChangeKind::Removed { old_status: Status::Dirty },
        };
        for change in [changed.expect("a change"), added.clone(), removed] {
            assert_conforms("RepoChange", &to_value(&change));
        }
        let cursor = Cursor::new(Epoch(1), 5);
        let catch_up = encode_catch_up(
            cursor,
            Cursor::new(Epoch(1), 2),
            &Changes { repos: vec![added], meta: None },
        );
        let catch_up: Value = serde_json::from_slice(&catch_up).expect("json");
        assert_conforms("CatchUp", &catch_up["data"]);
        let source = ReportSource {
            path: "/x".into(),
            state: ReportState::Error,
            last_loaded: Some("t".into()),
            last_error: Some(LastError { message: "m".into(), since: "t".into() }),
            watch: WatchState::Polling,
            watch_note: None,
        };
        assert_conforms("ReportSource", &to_value(&source));
        assert_conforms("LastError", &to_value(source.last_error.as_ref().expect("error")));
        let status = ConnectionStatus {
            server_time: "t".into(),
            uptime_s: 1,
            realtime: true,
            clients: ClientsByTransport::default(),
            cursor: Some(cursor),
            report: source,
            log: Some(LogStatus {
                location: "/var/lib/gitops-live/gitops-live.db".into(),
                state: LogState::Failing,
                last_error: Some(LastError { message: "disk full".into(), since: "t".into() }),
                notice: None,
            }),
        };
        assert_conforms("ConnectionStatus", &to_value(&status));
        assert_conforms("LogStatus", &to_value(status.log.as_ref().expect("a log")));
        assert_conforms("ClientsByTransport", &to_value(&status.clients));
        let session = Session {
            required: true,
            methods: vec![SignInMethod::Token, SignInMethod::Proxy],
            authenticated: true,
            user: Some("alice".into()),
            expires_at: Some("2026-11-26T10:00:00Z".into()),
            operator: crate::OperatorInfo::default(),
        };
        assert_conforms("Session", &to_value(&session));
        assert_eq!(to_value(&session.methods), json!(["token", "proxy"]));
        assert_conforms("Pong", &to_value(&Pong { ts: Some(json!(1)), server_time: "t".into() }));
        assert_conforms(
            "ErrorBody",
            &to_value(&ErrorBody { code: ErrorCode::BadCursor, message: "m".into() }),
        );
    }

    #[test]
    fn the_wire_constants_are_rendered_from_the_rust_values() {
        let text = typescript();
        for close in CloseCode::ALL {
            let entry = format!("\n  {}: {},\n", close.ts_name(), close.code());
            assert!(text.contains(&entry), "{close:?} missing from CLOSE_CODES");
        }
        for kind in MessageKind::ALL {
            let entry = format!("\n  {}: '{kind}',\n", kind.ts_name());
            assert!(text.contains(&entry), "{kind} missing from MESSAGE_TYPES");
        }
        assert!(text.contains(&format!("export const RETRY_MS_KEY = '{RETRY_MS_KEY}';")));
        assert!(text.contains(&format!("export const MAX_RETRY_MS = {MAX_RETRY_MS};")));
        assert_eq!(MAX_RETRY_MS, 9_007_199_254_740_991, "JavaScript's Number.MAX_SAFE_INTEGER");
        // The TypeScript reason is the Rust one: the same text before the key.
        let template = format!("`{}${{RETRY_MS_KEY}}${{ms}}`", crate::close::RESTARTING);
        assert!(RETRY_REASON_TS.contains(&template), "{RETRY_REASON_TS}");
        assert!(text.contains("export function formatRetryReason(ms: number): string {"));
        assert!(text.contains("export function parseRetryMs(reason: string | null | undefined)"));
    }

    #[test]
    fn every_message_type_and_enum_value_is_in_the_declarations() {
        let text = typescript();
        for kind in [
            "audit-update",
            "repo-status-change",
            "health-metrics-update",
            "catch-up",
            "connection-status",
            "pong",
            "error",
            "action-status",
        ] {
            assert!(text.contains(&format!("type: '{kind}'")), "{kind} missing");
        }
        for kind in ["resume", "ping", "request-update", "get-status"] {
            assert!(text.contains(&format!("type: '{kind}'")), "{kind} missing");
        }
        for state in [ReportState::Waiting, ReportState::Ok, ReportState::Error] {
            assert!(text.contains(&format!("'{}'", to_value(&state).as_str().expect("string"))));
        }
        for watch in [WatchState::Watching, WatchState::Polling, WatchState::Auditing] {
            assert!(text.contains(&format!("'{}'", to_value(&watch).as_str().expect("string"))));
        }
        for code in [
            ErrorCode::BadMessage,
            ErrorCode::UnknownType,
            ErrorCode::BadCursor,
            ErrorCode::NotReady,
        ] {
            assert!(text.contains(&format!("'{}'", to_value(&code).as_str().expect("string"))));
        }
        for status in
            [Status::Missing, Status::Extra, Status::Dirty, Status::Mismatched, Status::Clean]
        {
            assert!(text.contains(&format!("'{status}'")));
        }
        assert!(text.contains(&format!("PROTOCOL_VERSION = {}", crate::PROTOCOL_VERSION)));
    }
}
