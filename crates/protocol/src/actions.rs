//! The wire types of remediation (`docs/protocol.md`, "Actions"): the `action-status` message
//! every dashboard is sent while an operator acts on a repository, the entries of the action log
//! (`GET /api/actions`), the answer to an accepted action, and what `GET /api/session` says about
//! the operator role. The previews and the diff view are the `gitops-actions` crate's own types,
//! passed through as JSON.

use serde::{Deserialize, Serialize};

use crate::typescript::{Decl, f};

/// The data of an `action-status` message: an action started or ended. Every open dashboard is
/// sent one when an operator's action starts (`running`) and one when it ends; previews are not
/// broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStatus {
    /// The action's id in the action log (`GET /api/actions/<id>`).
    pub id: u64,
    /// Which action: `clone`, `commit`, `discard`, `fix-remote`, `delete`, `restore`, `push`,
    /// `pull`, or `audit` (a whole re-audit).
    pub action: String,
    /// The repository (for a restore, the folder the trash entry goes back to; empty for `audit`).
    pub repo: String,
    /// Who acted: `operator token`, or `operator session <id>`.
    pub who: String,
    /// Where it is.
    pub state: ActionState,
    /// One line for people: what it did or why not; empty while running.
    pub summary: String,
    /// When this state was entered, RFC 3339 in UTC.
    pub at: String,
}

/// Where an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionState {
    /// Accepted and running.
    Running,
    /// Done; the repository is being re-audited.
    Done,
    /// Refused before anything changed (busy, stale preview, a bad URL, ...).
    Refused,
    /// Failed while acting (git failed or timed out, the disk refused).
    Failed,
    /// The server stopped while it ran (found in the log after a restart).
    Interrupted,
}

impl ActionState {
    /// Whether the action has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// `202 Accepted` to `POST /api/repos/<name>/actions/<action>` and each accepted item of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionAccepted {
    /// The action's id; its end comes as an `action-status` with this id.
    pub id: u64,
    /// Which action.
    pub action: String,
    /// Which repository.
    pub repo: String,
    /// `running`.
    pub state: ActionState,
}

/// One entry of the action log (`GET /api/actions`, `GET /api/actions/<id>`): every action,
/// previewed, done, refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLogEntry {
    /// Its id, increasing.
    pub id: u64,
    /// Who acted.
    pub who: String,
    /// Which action (`changes` for a look at the diff).
    pub action: String,
    /// Which repository.
    pub repo: String,
    /// Whether it was only a preview (`"dry_run": true`).
    pub dry_run: bool,
    /// `running`, `previewed`, `done`, `refused`, `failed` or `interrupted`.
    pub result: String,
    /// For a refusal or failure, its class (`busy`, `not-found`, `bad-request`, `failed`, ...).
    pub error_class: Option<String>,
    /// One line: what it did or why not.
    pub summary: String,
    /// git's output, credentials redacted (capped).
    pub output: String,
    /// When it started, RFC 3339 in UTC with milliseconds.
    pub started_at: String,
    /// When it ended; `None` while running.
    pub ended_at: Option<String>,
}

/// `GET /api/actions`: a page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLogPage {
    /// The entries, newest first.
    pub actions: Vec<ActionLogEntry>,
    /// Pass as `before` for the next, older page; `None` at the oldest entry kept.
    pub next: Option<u64>,
}

/// What `GET /api/session` says about acting on repositories.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OperatorInfo {
    /// Whether this server can act at all (an operator token is configured and it audits the
    /// clones itself with `serve --audit-root`).
    pub available: bool,
    /// Why not, when not: for people.
    pub reason: Option<String>,
    /// Whether an operator can sign in at all (an operator token is configured): the operator
    /// also sees and tests notifications where actions are off.
    #[serde(default)]
    pub sign_in: bool,
    /// Whether this request is signed in as the operator (session cookie or bearer token).
    pub signed_in: bool,
    /// When the operator session cookie expires (RFC 3339), when signed in with one.
    pub expires_at: Option<String>,
}

/// The TypeScript declarations of this module (rendered after the core ones).
pub(crate) const DECLS: &[Decl] = &[
    Decl::Alias {
        name: "ActionState",
        doc: "Where an action is.",
        ts: "'running' | 'done' | 'refused' | 'failed' | 'interrupted'",
    },
    Decl::Interface {
        name: "ActionStatus",
        doc: "`action-status` data: an operator's action started or ended. Previews are not broadcast.",
        extends: None,
        open: false,
        fields: &[
            f("id", "number", "The action's id in the action log."),
            f(
                "action",
                "string",
                "`clone`, `commit`, `discard`, `fix-remote`, `delete`, `restore`, `push`, `pull` or `audit`.",
            ),
            f("repo", "string", "The repository; empty for `audit`."),
            f("who", "string", "Who acted."),
            f("state", "ActionState", ""),
            f("summary", "string", "What it did or why not; empty while running."),
            f("at", "string", "When this state was entered, RFC 3339."),
        ],
    },
    Decl::Interface {
        name: "ActionAccepted",
        doc: "202 to an action request: its end comes as an `action-status` with this id.",
        extends: None,
        open: false,
        fields: &[
            f("id", "number", ""),
            f("action", "string", ""),
            f("repo", "string", ""),
            f("state", "ActionState", ""),
        ],
    },
    Decl::Interface {
        name: "ActionLogEntry",
        doc: "One entry of the action log (`GET /api/actions`).",
        extends: None,
        open: false,
        fields: &[
            f("id", "number", ""),
            f("who", "string", ""),
            f("action", "string", "`changes` for a look at the diff."),
            f("repo", "string", ""),
            f("dry_run", "boolean", "Only a preview."),
            f(
                "result",
                "'running' | 'previewed' | 'done' | 'refused' | 'failed' | 'interrupted' | (string & {})",
                "",
            ),
            f("error_class", "string | null", "For a refusal or failure: `busy`, `not-found`, ..."),
            f("summary", "string", ""),
            f("output", "string", "git's output, credentials redacted."),
            f("started_at", "string", ""),
            f("ended_at", "string | null", "Null while running."),
        ],
    },
    Decl::Interface {
        name: "ActionLogPage",
        doc: "`GET /api/actions`: newest first.",
        extends: None,
        open: false,
        fields: &[
            f("actions", "ActionLogEntry[]", ""),
            f("next", "number | null", "Pass as `before` for the next, older page."),
        ],
    },
    Decl::Interface {
        name: "OperatorInfo",
        doc: "What `GET /api/session` says about acting on repositories.",
        extends: None,
        open: false,
        fields: &[
            f("available", "boolean", "Whether this server can act at all."),
            f("reason", "string | null", "Why not, when not."),
            f(
                "sign_in",
                "boolean",
                "Whether an operator can sign in (an operator token is configured).",
            ),
            f("signed_in", "boolean", "Whether this request is signed in as the operator."),
            f("expires_at", "string | null", "When the operator session cookie expires."),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typescript::tests::assert_conforms;

    fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).expect("serialises")
    }

    #[test]
    fn every_declared_interface_matches_what_rust_sends() {
        let status = ActionStatus {
            id: 7,
            action: "commit".into(),
            repo: "halo".into(),
            who: "operator session 3f2a".into(),
            state: ActionState::Done,
            summary: "committed 2 files as 1a2b3c4".into(),
            at: "2026-12-04T19:00:00Z".into(),
        };
        assert_conforms("ActionStatus", &to_value(&status));
        assert_eq!(to_value(&status)["state"], "done");
        let accepted = ActionAccepted {
            id: 7,
            action: "clone".into(),
            repo: "halo".into(),
            state: ActionState::Running,
        };
        assert_conforms("ActionAccepted", &to_value(&accepted));
        let entry = ActionLogEntry {
            id: 7,
            who: "operator token".into(),
            action: "fix-remote".into(),
            repo: "halo".into(),
            dry_run: false,
            result: "refused".into(),
            error_class: Some("busy".into()),
            summary: "another action is running on halo".into(),
            output: String::new(),
            started_at: "2026-12-04T19:00:00.000Z".into(),
            ended_at: None,
        };
        assert_conforms("ActionLogEntry", &to_value(&entry));
        let page = ActionLogPage { actions: vec![entry], next: Some(6) };
        assert_conforms("ActionLogPage", &to_value(&page));
        let info = OperatorInfo {
            available: true,
            reason: None,
            sign_in: true,
            signed_in: true,
            expires_at: Some("t".into()),
        };
        assert_conforms("OperatorInfo", &to_value(&info));
    }

    #[test]
    fn only_running_is_not_final() {
        for state in
            [ActionState::Done, ActionState::Refused, ActionState::Failed, ActionState::Interrupted]
        {
            assert!(state.is_final(), "{state:?}");
        }
        assert!(!ActionState::Running.is_final());
    }
}
