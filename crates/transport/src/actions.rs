//! Acting on repositories over HTTP: the operator's endpoints (`docs/protocol.md`, "Actions").
//!
//! The binary hands the server a [`Remediation`]: the [`Actions`] on the audit root (which do
//! the git work, safely), an [`ActionLog`] that keeps every request, and an [`Auditor`] that
//! re-audits a repository after an action so every dashboard sees the result. Without one, or
//! without an operator token, every action endpoint answers `403 actions-off` with the reason.
//!
//! A run is answered `202` at once and goes on in the background on a blocking thread; its start
//! and end are broadcast to every subscriber as `action-status` (a control message, not part of
//! the replayed state). One action per repository at a time: a second gets `409 busy`.

// A refusal is built once per request and returned straight to the client; boxing every
// `Response` on the way would only add an allocation.
#![allow(clippy::result_large_err)]

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gitops_actions::{Action, ActionKind, ActionRecord, Actions, Error as ActionError, ErrorClass};
use gitops_actions::{Fingerprint, Outcome, Preview};
use gitops_protocol::{
    ActionAccepted, ActionLogEntry, ActionLogPage, ActionState, ActionStatus, OperatorInfo,
};
use gitops_report::Repo;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use jiff::Timestamp;
use serde::Deserialize;

use crate::auth::Operator;
use crate::http_util::{Body, error, json};
use crate::{Live, lock};

/// Where actions keep their log: the store in the state directory, or [`MemoryActionLog`].
/// Called from blocking threads; an error is logged and never stops an action.
pub trait ActionLog: Send + Sync + std::fmt::Debug + 'static {
    /// Notes an action starting; returns its id (increasing).
    fn begin(&self, start: &ActionStart) -> Result<u64, String>;
    /// Notes how action `id` ended.
    fn finish(&self, id: u64, end: &ActionEnd) -> Result<(), String>;
    /// Notes an action that started and ended at once (a preview, a refusal); returns its id.
    fn record(&self, start: &ActionStart, end: &ActionEnd) -> Result<u64, String>;
    /// A page of the log, newest first: entries with an id below `before`, of `repo` if given,
    /// and without previews when `runs_only`.
    fn page(
        &self,
        before: Option<u64>,
        limit: usize,
        repo: Option<&str>,
        runs_only: bool,
    ) -> Result<ActionLogPage, String>;
    /// One entry.
    fn entry(&self, id: u64) -> Result<Option<ActionLogEntry>, String>;
}

/// What is known when an action starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionStart {
    /// Who: `operator token from 10.0.0.2`, `operator session 0a1b2c3d from ::1`.
    pub who: String,
    /// The action's API name (`commit`, `changes`, `audit`, ...).
    pub action: String,
    /// The repository (empty for `audit`).
    pub repo: String,
    /// Whether it is only a preview.
    pub dry_run: bool,
    /// When it started.
    pub at: Timestamp,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEnd {
    /// `previewed`, `done`, `refused` or `failed`.
    pub result: String,
    /// For a refusal or failure, its class (`busy`, `bad-request`, `conflict`, `failed`, ...).
    pub error_class: Option<String>,
    /// One line: what it did or why not.
    pub summary: String,
    /// git's output, credentials redacted.
    pub output: String,
    /// The preview or outcome as JSON, when there is one.
    pub detail: Option<String>,
    /// When it ended.
    pub at: Timestamp,
}

/// Runs audits for the server: one repository after an action, or all of them on request.
pub trait Auditor: Send + Sync + std::fmt::Debug + 'static {
    /// Re-audits the repository `name` (a report name or clone folder) soon, and publishes it.
    fn reaudit(&self, name: &str);
    /// Runs the whole audit as soon as possible. When one is running, this one is queued behind
    /// it (at most one waits, however many ask). The receiver gets its summary or error.
    fn audit_all(&self) -> AuditTicket;
}

/// The answer to [`Auditor::audit_all`].
#[derive(Debug)]
pub struct AuditTicket {
    /// Whether it waits for a run already going.
    pub queued: bool,
    /// The run's one-line summary, or why it failed; dropped if the auditor stops.
    pub done: tokio::sync::oneshot::Receiver<Result<String, String>>,
}

/// What the server needs to act on repositories.
#[derive(Debug, Clone)]
pub struct Remediation {
    /// The actions on the audit root.
    pub actions: Arc<Actions>,
    /// Where every action is logged.
    pub log: Arc<dyn ActionLog>,
    /// Re-audits after actions.
    pub auditor: Arc<dyn Auditor>,
    /// After how many days the trash is purged (shown to users).
    pub purge_after_days: u64,
}

/// The action log kept in memory (the newest 1,000 entries), for a server without a state
/// directory.
#[derive(Debug, Default)]
pub struct MemoryActionLog {
    entries: Mutex<(u64, VecDeque<ActionLogEntry>)>,
}

/// Entries [`MemoryActionLog`] keeps.
const MEMORY_LOG_ENTRIES: usize = 1_000;

impl MemoryActionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, start: &ActionStart, end: Option<&ActionEnd>) -> u64 {
        let mut guard = lock(&self.entries);
        let (next, entries) = &mut *guard;
        *next += 1;
        if entries.len() >= MEMORY_LOG_ENTRIES {
            entries.pop_front();
        }
        let mut entry = ActionLogEntry {
            id: *next,
            who: start.who.clone(),
            action: start.action.clone(),
            repo: start.repo.clone(),
            dry_run: start.dry_run,
            result: "running".to_owned(),
            error_class: None,
            summary: String::new(),
            output: String::new(),
            started_at: millis(start.at),
            ended_at: None,
        };
        if let Some(end) = end {
            apply_end(&mut entry, end);
        }
        entries.push_back(entry);
        *next
    }
}

fn apply_end(entry: &mut ActionLogEntry, end: &ActionEnd) {
    entry.result = end.result.clone();
    entry.error_class = end.error_class.clone();
    entry.summary = end.summary.clone();
    entry.output = end.output.clone();
    entry.ended_at = Some(millis(end.at));
}

/// RFC 3339 in UTC with milliseconds.
pub(crate) fn millis(time: Timestamp) -> String {
    time.round(jiff::Unit::Millisecond)
        .unwrap_or(time)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl ActionLog for MemoryActionLog {
    fn begin(&self, start: &ActionStart) -> Result<u64, String> {
        Ok(self.push(start, None))
    }

    fn finish(&self, id: u64, end: &ActionEnd) -> Result<(), String> {
        let mut guard = lock(&self.entries);
        let entry = guard.1.iter_mut().find(|e| e.id == id).ok_or("no such action")?;
        apply_end(entry, end);
        Ok(())
    }

    fn record(&self, start: &ActionStart, end: &ActionEnd) -> Result<u64, String> {
        Ok(self.push(start, Some(end)))
    }

    fn page(
        &self,
        before: Option<u64>,
        limit: usize,
        repo: Option<&str>,
        runs_only: bool,
    ) -> Result<ActionLogPage, String> {
        let guard = lock(&self.entries);
        let mut matching = guard
            .1
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|before| e.id < before))
            .filter(|e| repo.is_none_or(|repo| e.repo == repo))
            .filter(|e| !(runs_only && e.dry_run));
        let actions: Vec<ActionLogEntry> = matching.by_ref().take(limit).cloned().collect();
        let next = if matching.next().is_some() { actions.last().map(|e| e.id) } else { None };
        Ok(ActionLogPage { actions, next })
    }

    fn entry(&self, id: u64) -> Result<Option<ActionLogEntry>, String> {
        Ok(lock(&self.entries).1.iter().find(|e| e.id == id).cloned())
    }
}

/// The server's side of actions: the remediation once the binary enables it, and the
/// repositories being acted on.
#[derive(Debug, Default)]
pub(crate) struct ActionsState {
    pub(crate) remediation: std::sync::OnceLock<Remediation>,
    busy: Mutex<HashSet<String>>,
}

/// Marks a repository busy until dropped.
struct Busy {
    live: Arc<Live>,
    name: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        lock(&self.live.actions.busy).remove(&self.name);
    }
}

fn mark_busy(live: &Arc<Live>, name: &str) -> Option<Busy> {
    lock(&live.actions.busy)
        .insert(name.to_owned())
        .then(|| Busy { live: live.clone(), name: name.to_owned() })
}

/// What `GET /api/session` says about actions, for a request made by `operator` (if any).
pub(crate) fn operator_info(live: &Live, operator: Option<&Operator>) -> OperatorInfo {
    let reason = off_reason(live);
    OperatorInfo {
        available: reason.is_none(),
        reason,
        sign_in: live.gate.has_operator(),
        signed_in: operator.is_some(),
        expires_at: operator.and_then(|o| o.expires).and_then(|seconds| {
            Timestamp::from_second(i64::try_from(seconds).ok()?).ok().map(|t| t.to_string())
        }),
    }
}

/// Why this server cannot act, if it cannot.
fn off_reason(live: &Live) -> Option<String> {
    if !live.gate.has_operator() {
        Some(
            "actions are off: no operator token is configured (start the server with \
             --operator-token-file)"
                .to_owned(),
        )
    } else if live.actions.remediation.get().is_none() {
        Some(
            "actions are off: this server does not audit the clones itself (start it with \
             serve --audit-root DIR to act on them)"
                .to_owned(),
        )
    } else {
        None
    }
}

/// Whether `path` is one of the operator's endpoints.
pub(crate) fn is_action_path(path: &str) -> bool {
    path == "/api/actions"
        || path.starts_with("/api/actions/")
        || path == "/api/audit/run"
        || path == "/api/trash"
        || repo_path(path).is_some()
}

/// `/api/repos/<name>/changes` or `/api/repos/<name>/actions/<action>`: the (encoded) name and
/// what follows it.
fn repo_path(path: &str) -> Option<(&str, RepoEndpoint<'_>)> {
    let rest = path.strip_prefix("/api/repos/")?;
    if let Some(name) = rest.strip_suffix("/changes") {
        return Some((name, RepoEndpoint::Changes));
    }
    let (name, action) = rest.rsplit_once("/actions/")?;
    (!action.contains('/')).then_some((name, RepoEndpoint::Action(action)))
}

enum RepoEndpoint<'a> {
    Changes,
    Action(&'a str),
}

/// Answers a request on a path [`is_action_path`] accepted.
pub(crate) async fn answer(
    live: Arc<Live>,
    request: Request<Incoming>,
    peer: SocketAddr,
    remote: SocketAddr,
) -> Response<Body> {
    let (remediation, who) = match authorise(&live, &request, peer, remote) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if method == Method::POST && !is_json(&request) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json-required",
            "send the body as Content-Type: application/json",
        );
    }
    let ctx = Ctx { live, remediation, who };
    match (method, path.as_str()) {
        (Method::GET, "/api/actions") => ctx.log_page(&request).await,
        (Method::GET, "/api/trash") => ctx.trash().await,
        (Method::POST, "/api/audit/run") => ctx.audit_run(),
        (Method::POST, "/api/actions/batch") => match read_body::<BatchBody>(request).await {
            Ok(body) => ctx.batch(body).await,
            Err(response) => response,
        },
        (Method::GET, p) if p.starts_with("/api/actions/") => {
            ctx.log_entry(p.trim_start_matches("/api/actions/")).await
        }
        (method, _) => match repo_path(&path) {
            Some((encoded, endpoint)) => {
                let Some(name) = crate::history::percent_decode(encoded).filter(|n| !n.is_empty())
                else {
                    return error(StatusCode::BAD_REQUEST, "bad-name", "the name is not readable");
                };
                match (method, endpoint) {
                    (Method::GET, RepoEndpoint::Changes) => ctx.changes(&name).await,
                    (Method::POST, RepoEndpoint::Action(action)) => {
                        match read_body::<ActionBody>(request).await {
                            Ok(body) => ctx.action(&name, action, body).await,
                            Err(response) => response,
                        }
                    }
                    _ => error(StatusCode::METHOD_NOT_ALLOWED, "method", "method not allowed here"),
                }
            }
            None => error(StatusCode::METHOD_NOT_ALLOWED, "method", "method not allowed here"),
        },
    }
}

/// The remediation and who is acting, or the refusal: `403 actions-off` when this server cannot
/// act, `401` when not signed in at all, `403 operator-required` for a viewer.
fn authorise(
    live: &Live,
    request: &Request<Incoming>,
    peer: SocketAddr,
    remote: SocketAddr,
) -> Result<(Remediation, String), Response<Body>> {
    let who = operator_only(live, request, peer, remote, "actions-off", || {
        off_reason(live).unwrap_or_default()
    })?;
    let Some(remediation) = live.actions.remediation.get() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "actions-off",
            &off_reason(live).unwrap_or_default(),
        ));
    };
    Ok((remediation.clone(), who))
}

/// Who the operator is (`operator token from 10.0.0.2`), or the refusal: `403 <off_code>` with
/// `off_reason()` when no operator token is configured, `401` when not signed in at all, `403
/// operator-required` for a viewer.
pub(crate) fn operator_only(
    live: &Live,
    request: &Request<Incoming>,
    peer: SocketAddr,
    remote: SocketAddr,
    off_code: &str,
    off_reason: impl FnOnce() -> String,
) -> Result<String, Response<Body>> {
    if !live.gate.has_operator() {
        return Err(error(StatusCode::FORBIDDEN, off_code, &off_reason()));
    }
    let Some(operator) = live.gate.operator(request.headers()) else {
        let viewer = live.gate.viewer(request.headers(), peer);
        if live.gate.required() && viewer.is_none() {
            return Err(crate::auth::unauthenticated(live));
        }
        live.metrics.operator_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(error(
            StatusCode::FORBIDDEN,
            "operator-required",
            "this needs the operator: sign in with the operator token",
        ));
    };
    Ok(format!("{} from {}", operator.who, remote.ip()))
}

pub(crate) fn is_json(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The largest action body read.
const MAX_BODY_BYTES: usize = 64 << 10;

pub(crate) async fn read_body<T: for<'de> Deserialize<'de>>(
    request: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let body = http_body_util::Limited::new(request.into_body(), MAX_BODY_BYTES);
    let bytes: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad-body",
                "the body is over 64 KiB or cut off",
            ));
        }
    };
    let bytes =
        if bytes.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { bytes };
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad-body",
            &format!("the body is not what this endpoint takes: {e}"),
        )
    })
}

/// The body of `POST /api/repos/<name>/actions/<action>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    dry_run: bool,
    message: Option<String>,
    confirm: Option<String>,
    fingerprint: Option<String>,
    entry: Option<String>,
}

/// The body of `POST /api/actions/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    actions: Vec<BatchItem>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    repo: String,
    action: String,
}

/// The commit message a preview offers when none is given.
const DEFAULT_COMMIT_MESSAGE: &str = "Commit local changes (from the gitops-live dashboard)";

/// The most items of one batch.
const MAX_BATCH: usize = 100;

/// One request's context.
struct Ctx {
    live: Arc<Live>,
    remediation: Remediation,
    who: String,
}

/// What to do, once the request is read.
#[derive(Debug, Clone)]
enum Plan {
    /// An action on a repository of the report.
    Repo { repo: Box<Repo>, action: Action },
    /// Bringing back a trash entry (`None`: the newest of the folder).
    Restore { folder: String, entry: Option<String> },
}

impl Plan {
    fn kind(&self) -> ActionKind {
        match self {
            Self::Repo { action, .. } => action.kind(),
            Self::Restore { .. } => ActionKind::Restore,
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Repo { repo, .. } => &repo.name,
            Self::Restore { folder, .. } => folder,
        }
    }
}

impl Ctx {
    fn start(&self, action: &str, repo: &str, dry_run: bool) -> ActionStart {
        ActionStart {
            who: self.who.clone(),
            action: action.to_owned(),
            repo: repo.to_owned(),
            dry_run,
            at: Timestamp::now(),
        }
    }

    /// The repository called `name` in the current report.
    fn find(&self, name: &str) -> Result<Repo, Response<Body>> {
        let found = self
            .live
            .hub
            .current()
            .and_then(|(_, report)| report.repos.iter().find(|r| r.name == name).cloned());
        found.ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "unknown-repo",
                &format!("{name:?} is not in the current report; only repositories it lists can be acted on"),
            )
        })
    }

    /// Turns a request into a plan, or the 400/404 that refuses it before anything runs.
    fn plan(&self, name: &str, action: &str, body: ActionBody) -> Result<Plan, Response<Body>> {
        let Some(kind) = ActionKind::parse(action).filter(|k| *k != ActionKind::Changes) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad-action",
                &format!(
                    "{action:?} is not an action: use clone, commit, discard, fix-remote, delete, \
                     restore, push or pull"
                ),
            ));
        };
        if kind == ActionKind::Restore {
            return Ok(Plan::Restore { folder: name.to_owned(), entry: body.entry });
        }
        let repo = self.find(name)?;
        let bad = |message: &str| error(StatusCode::BAD_REQUEST, "bad-body", message);
        let confirm = body.confirm.unwrap_or_default();
        let action = match kind {
            ActionKind::Clone => Action::Clone,
            ActionKind::FixRemote => Action::FixRemote,
            ActionKind::Push => Action::Push,
            ActionKind::Pull => Action::Pull,
            ActionKind::Commit => {
                let mut message = body.message.unwrap_or_default();
                if body.dry_run && message.trim().is_empty() {
                    // The preview offers a message the user can keep or edit.
                    message = DEFAULT_COMMIT_MESSAGE.to_owned();
                }
                if !body.dry_run {
                    gitops_actions::check_commit_message(&message)
                        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-body", &e.to_string()))?;
                }
                Action::Commit { message }
            }
            ActionKind::Discard => {
                if !body.dry_run {
                    if confirm != repo.name {
                        return Err(bad(&format!(
                            "a discard needs \"confirm\": the repository's name, typed ({:?})",
                            repo.name
                        )));
                    }
                    if body.fingerprint.is_none() {
                        return Err(bad(
                            "a discard needs the \"fingerprint\" of the preview the user saw \
                             (run it with \"dry_run\": true first)",
                        ));
                    }
                }
                Action::Discard { confirm, fingerprint: body.fingerprint.map(Fingerprint) }
            }
            ActionKind::Delete => {
                if !body.dry_run && confirm != repo.name {
                    return Err(bad(&format!(
                        "a delete needs \"confirm\": the repository's name, typed ({:?})",
                        repo.name
                    )));
                }
                Action::Delete { confirm }
            }
            ActionKind::Changes | ActionKind::Restore => unreachable_kind(),
        };
        Ok(Plan::Repo { repo: Box::new(repo), action })
    }

    /// `POST /api/repos/<name>/actions/<action>`.
    async fn action(&self, name: &str, action: &str, body: ActionBody) -> Response<Body> {
        let dry_run = body.dry_run;
        let plan = match self.plan(name, action, body) {
            Ok(plan) => plan,
            Err(response) => return response,
        };
        if dry_run {
            return self.preview(plan).await;
        }
        match self.launch(vec![plan]) {
            Ok(mut accepted) => json(
                StatusCode::ACCEPTED,
                serde_json::to_vec(&accepted.remove(0)).unwrap_or_default(),
            ),
            Err(response) => response,
        }
    }

    /// A preview: computed, logged, answered; nothing changes and nothing is broadcast.
    async fn preview(&self, plan: Plan) -> Response<Body> {
        let actions = self.remediation.actions.clone();
        let log = self.remediation.log.clone();
        let start = self.start(plan.kind().as_str(), plan.name(), true);
        let result = blocking(move || {
            let preview = match &plan {
                Plan::Repo { repo, action } => actions.preview(repo, action),
                Plan::Restore { folder, entry } => {
                    resolve_entry(&actions, folder, entry.as_deref())
                        .and_then(|entry| actions.preview_restore(&entry))
                }
            };
            let record = ActionRecord::previewed(
                &start.who,
                plan.kind(),
                &start.repo,
                Timestamp::now(),
                &preview,
            );
            let detail = preview.as_ref().ok().and_then(|p| serde_json::to_string(p).ok());
            log_record(&*log, &start, &record, detail);
            preview.map(|preview| (plan.kind(), start.repo.clone(), preview))
        })
        .await;
        match result {
            Ok(Ok((kind, repo, preview))) => {
                let body = serde_json::json!({ "action": kind, "repo": repo, "preview": preview });
                json(StatusCode::OK, body.to_string())
            }
            Ok(Err(action_error)) => refusal(&action_error),
            Err(response) => response,
        }
    }

    /// Marks each plan's repository busy, logs its start and answers; runs them one after
    /// another in the background. Refuses everything (409) if the first is busy; later busy ones
    /// come back as their own refusals.
    fn launch(&self, plans: Vec<Plan>) -> Result<Vec<ActionAccepted>, Response<Body>> {
        let mut accepted = Vec::with_capacity(plans.len());
        let mut jobs = Vec::with_capacity(plans.len());
        for plan in plans {
            let name = plan.name().to_owned();
            let Some(busy) = mark_busy(&self.live, &name) else {
                let start = self.start(plan.kind().as_str(), &name, false);
                let end = ActionEnd {
                    result: "refused".into(),
                    error_class: Some("busy".into()),
                    summary: format!("another action is running on {name}"),
                    output: String::new(),
                    detail: None,
                    at: Timestamp::now(),
                };
                let log = self.remediation.log.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = log.record(&start, &end) {
                        tracing::warn!(error = %e, "cannot log an action");
                    }
                });
                if accepted.is_empty() && jobs.is_empty() {
                    return Err(busy_response(&name));
                }
                continue;
            };
            let start = self.start(plan.kind().as_str(), &name, false);
            let id = match self.remediation.log.begin(&start) {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "cannot log an action; refusing it");
                    return Err(error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "log-unavailable",
                        "the action log cannot be written, so nothing is done",
                    ));
                }
            };
            accepted.push(ActionAccepted {
                id,
                action: plan.kind().as_str().to_owned(),
                repo: name.clone(),
                state: ActionState::Running,
            });
            self.broadcast(id, plan.kind().as_str(), &name, ActionState::Running, "");
            jobs.push((id, plan, start, busy));
        }
        let (live, remediation) = (self.live.clone(), self.remediation.clone());
        tokio::spawn(async move {
            for (id, plan, start, busy) in jobs {
                run_one(&live, &remediation, id, plan, start).await;
                drop(busy);
            }
        });
        Ok(accepted)
    }

    fn broadcast(&self, id: u64, action: &str, repo: &str, state: ActionState, summary: &str) {
        broadcast(&self.live, id, action, repo, &self.who, state, summary);
    }

    /// `GET /api/repos/<name>/changes`.
    async fn changes(&self, name: &str) -> Response<Body> {
        let repo = match self.find(name) {
            Ok(repo) => repo,
            Err(response) => return response,
        };
        let (actions, log) = (self.remediation.actions.clone(), self.remediation.log.clone());
        let start = self.start("changes", name, true);
        let result = blocking(move || {
            let preview = actions.changes(&repo).map(Preview::Changes);
            let record = ActionRecord::previewed(
                &start.who,
                ActionKind::Changes,
                &start.repo,
                Timestamp::now(),
                &preview,
            );
            log_record(&*log, &start, &record, None);
            preview
        })
        .await;
        match result {
            Ok(Ok(Preview::Changes(changes))) => {
                json(StatusCode::OK, serde_json::to_vec(&changes).unwrap_or_default())
            }
            Ok(Ok(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not a diff"),
            Ok(Err(action_error)) => refusal(&action_error),
            Err(response) => response,
        }
    }

    /// `POST /api/actions/batch`.
    async fn batch(&self, body: BatchBody) -> Response<Body> {
        if body.actions.is_empty() || body.actions.len() > MAX_BATCH {
            return error(
                StatusCode::BAD_REQUEST,
                "bad-body",
                &format!("a batch has 1 to {MAX_BATCH} actions"),
            );
        }
        let mut results: Vec<Option<serde_json::Value>> = Vec::with_capacity(body.actions.len());
        let mut plans = Vec::new();
        for item in &body.actions {
            let allowed = matches!(
                ActionKind::parse(&item.action),
                Some(
                    ActionKind::Clone | ActionKind::FixRemote | ActionKind::Push | ActionKind::Pull
                )
            );
            let planned = if allowed {
                self.plan(
                    &item.repo,
                    &item.action,
                    ActionBody { dry_run: body.dry_run, ..ActionBody::default() },
                )
            } else {
                Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad-action",
                    "a batch takes clone, fix-remote, push and pull (the others need a confirmation each)",
                ))
            };
            match planned {
                Ok(plan) => {
                    results.push(None);
                    plans.push((results.len() - 1, plan));
                }
                Err(response) => results.push(Some(item_result(item, response).await)),
            }
        }
        if body.dry_run {
            for (index, plan) in plans {
                let response = self.preview(plan).await;
                let item = &body.actions[index];
                results[index] = Some(item_result(item, response).await);
            }
        } else {
            // Busy repositories are refused one by one; the rest run one after another.
            let mut runnable = Vec::new();
            for (index, plan) in plans {
                if lock(&self.live.actions.busy).contains(plan.name()) {
                    let item = &body.actions[index];
                    results[index] = Some(item_result(item, busy_response(plan.name())).await);
                } else {
                    runnable.push((index, plan));
                }
            }
            let (indices, plans): (Vec<usize>, Vec<Plan>) = runnable.into_iter().unzip();
            match self.launch(plans) {
                Ok(accepted) => {
                    for (index, accepted) in indices.into_iter().zip(accepted) {
                        results[index] = Some(serde_json::json!({
                            "repo": accepted.repo, "action": accepted.action,
                            "status": 202, "id": accepted.id,
                        }));
                    }
                }
                Err(response) => {
                    let value = response_json(response).await;
                    for index in indices {
                        let item = &body.actions[index];
                        results[index] = Some(merge_item(item, value.0, &value.1));
                    }
                }
            }
        }
        let results: Vec<serde_json::Value> = results.into_iter().flatten().collect();
        json(StatusCode::OK, serde_json::json!({ "results": results }).to_string())
    }

    /// `POST /api/audit/run`.
    fn audit_run(&self) -> Response<Body> {
        let ticket = self.remediation.auditor.audit_all();
        let start = self.start("audit", "", false);
        let log = self.remediation.log.clone();
        let id = log.begin(&start).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot log an audit run");
            0
        });
        self.broadcast(id, "audit", "", ActionState::Running, "");
        let (live, who) = (self.live.clone(), self.who.clone());
        tokio::spawn(async move {
            let result =
                ticket.done.await.unwrap_or_else(|_| Err("the auditor stopped".to_owned()));
            let (state, end) = match result {
                Ok(summary) => (ActionState::Done, end_of("done", None, summary)),
                Err(message) => (ActionState::Failed, end_of("failed", Some("failed"), message)),
            };
            if id != 0 {
                let summary = end.summary.clone();
                let written = tokio::task::spawn_blocking(move || log.finish(id, &end)).await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(error = %e, "cannot log an audit run's end");
                }
                broadcast(&live, id, "audit", "", &who, state, &summary);
            }
        });
        let body = serde_json::json!({
            "audit": if ticket.queued { "queued" } else { "started" },
            "id": id,
        });
        json(StatusCode::ACCEPTED, body.to_string())
    }

    /// `GET /api/actions`.
    async fn log_page(&self, request: &Request<Incoming>) -> Response<Body> {
        let query = crate::history::Query::parse(request.uri().query());
        let limit = match query.limit(50) {
            Ok(limit) => limit.min(500),
            Err(refusal) => return refusal.into(),
        };
        let before = match query.get("before").map(str::parse::<u64>) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return error(StatusCode::BAD_REQUEST, "bad-before", "before=<id> is a number");
            }
        };
        let repo = query.get("repo").map(str::to_owned);
        let runs_only = matches!(query.get("previews"), Some("false" | "0" | "no"));
        let log = self.remediation.log.clone();
        match blocking(move || log.page(before, limit, repo.as_deref(), runs_only)).await {
            Ok(Ok(page)) => json(StatusCode::OK, serde_json::to_vec(&page).unwrap_or_default()),
            Ok(Err(message)) => log_unavailable(&message),
            Err(response) => response,
        }
    }

    /// `GET /api/actions/<id>`.
    async fn log_entry(&self, id: &str) -> Response<Body> {
        let Ok(id) = id.parse::<u64>() else {
            return error(StatusCode::NOT_FOUND, "not-found", "an action id is a number");
        };
        let log = self.remediation.log.clone();
        match blocking(move || log.entry(id)).await {
            Ok(Ok(Some(entry))) => {
                json(StatusCode::OK, serde_json::to_vec(&entry).unwrap_or_default())
            }
            Ok(Ok(None)) => {
                error(StatusCode::NOT_FOUND, "not-found", "no action with that id is kept")
            }
            Ok(Err(message)) => log_unavailable(&message),
            Err(response) => response,
        }
    }

    /// `GET /api/trash`.
    async fn trash(&self) -> Response<Body> {
        let actions = self.remediation.actions.clone();
        let days = self.remediation.purge_after_days;
        match blocking(move || actions.trash_entries()).await {
            Ok(Ok(entries)) => {
                let body = serde_json::json!({ "entries": entries, "purge_after_days": days });
                json(StatusCode::OK, body.to_string())
            }
            Ok(Err(action_error)) => refusal(&action_error),
            Err(response) => response,
        }
    }
}

fn unreachable_kind() -> Action {
    // `plan` answers `changes` and `restore` before it gets here; keep a harmless value.
    Action::FixRemote
}

/// Runs one accepted action on a blocking thread, logs and broadcasts its end, and re-audits
/// the repository.
async fn run_one(
    live: &Arc<Live>,
    remediation: &Remediation,
    id: u64,
    plan: Plan,
    start: ActionStart,
) {
    let (actions, log) = (remediation.actions.clone(), remediation.log.clone());
    let kind = plan.kind();
    let name = plan.name().to_owned();
    let folder = match &plan {
        Plan::Repo { repo, .. } => repo
            .local_path
            .as_deref()
            .and_then(|p| std::path::Path::new(p).file_name())
            .and_then(|n| n.to_str())
            .map(str::to_owned),
        Plan::Restore { folder, .. } => Some(folder.clone()),
    };
    let who = start.who.clone();
    let ended = blocking(move || {
        let outcome: Result<Outcome, ActionError> = match &plan {
            Plan::Repo { repo, action } => actions.run(repo, action),
            Plan::Restore { folder, entry } => resolve_entry(&actions, folder, entry.as_deref())
                .and_then(|entry| actions.restore(&entry)),
        };
        let record = ActionRecord::ran(&start.who, kind, &start.repo, Timestamp::now(), &outcome);
        let detail = outcome.as_ref().ok().and_then(|o| serde_json::to_string(o).ok());
        let end = end_from(&record, detail);
        if let Err(e) = log.finish(id, &end) {
            tracing::warn!(error = %e, "cannot log an action's end");
        }
        let state = match record.result {
            gitops_actions::RecordResult::Done => ActionState::Done,
            gitops_actions::RecordResult::Refused => ActionState::Refused,
            _ => ActionState::Failed,
        };
        (state, record.summary)
    })
    .await;
    let (state, summary) =
        ended.unwrap_or_else(|_| (ActionState::Failed, "the action's task failed".to_owned()));
    tracing::info!(action = %kind, repo = %name, %who, ?state, %summary, "an action ended");
    if state == ActionState::Done {
        live.metrics.actions_done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    } else {
        live.metrics.actions_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // Re-audit before saying it ended, so the card's change and the status arrive together.
    remediation.auditor.reaudit(&name);
    if let Some(folder) = folder.filter(|f| *f != name) {
        remediation.auditor.reaudit(&folder);
    }
    broadcast(live, id, kind.as_str(), &name, &who, state, &summary);
}

fn broadcast(
    live: &Live,
    id: u64,
    action: &str,
    repo: &str,
    who: &str,
    state: ActionState,
    summary: &str,
) {
    let status = ActionStatus {
        id,
        action: action.to_owned(),
        repo: repo.to_owned(),
        who: who.to_owned(),
        state,
        summary: summary.to_owned(),
        at: crate::now_rfc3339(),
    };
    live.hub.broadcast_control(&gitops_protocol::encode_action_status(&status));
}

/// The trash entry to restore: the one named, or the newest of `folder`.
fn resolve_entry(
    actions: &Actions,
    folder: &str,
    entry: Option<&str>,
) -> Result<String, ActionError> {
    if let Some(entry) = entry {
        return Ok(entry.to_owned());
    }
    actions
        .trash_entries()?
        .into_iter()
        .filter(|e| e.folder == folder)
        .max_by_key(|e| e.deleted_at)
        .map(|e| e.entry)
        .ok_or_else(|| ActionError::NoTrashEntry { entry: folder.to_owned() })
}

fn end_of(result: &str, class: Option<&str>, summary: String) -> ActionEnd {
    ActionEnd {
        result: result.to_owned(),
        error_class: class.map(str::to_owned),
        summary,
        output: String::new(),
        detail: None,
        at: Timestamp::now(),
    }
}

fn end_from(record: &ActionRecord, detail: Option<String>) -> ActionEnd {
    let text = |value: serde_json::Value| value.as_str().map(str::to_owned);
    ActionEnd {
        result: serde_json::to_value(record.result).ok().and_then(text).unwrap_or_default(),
        error_class: record.error_class.and_then(|c| serde_json::to_value(c).ok()).and_then(text),
        summary: record.summary.clone(),
        output: record.output.clone(),
        detail,
        at: record.at,
    }
}

fn log_record(
    log: &dyn ActionLog,
    start: &ActionStart,
    record: &ActionRecord,
    detail: Option<String>,
) {
    if let Err(e) = log.record(start, &end_from(record, detail)) {
        tracing::warn!(error = %e, "cannot log an action");
    }
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response<Body>> {
    tokio::task::spawn_blocking(work).await.map_err(|join_error| {
        tracing::error!(%join_error, "an action task failed");
        error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the action's task failed")
    })
}

/// The answer to a refusal or failure of the actions library.
fn refusal(action_error: &ActionError) -> Response<Body> {
    let (status, code) = match (action_error, action_error.class()) {
        (ActionError::Busy { .. }, _) => (StatusCode::CONFLICT, "busy"),
        (ActionError::PreviewStale { .. }, _) => (StatusCode::CONFLICT, "stale-preview"),
        (_, ErrorClass::BadRequest) => (StatusCode::BAD_REQUEST, "bad-request"),
        (_, ErrorClass::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
        (_, ErrorClass::NotFound) => (StatusCode::NOT_FOUND, "not-found"),
        (_, ErrorClass::Conflict) => (StatusCode::CONFLICT, "conflict"),
        (_, ErrorClass::Failed) => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
    };
    error(status, code, &action_error.to_string())
}

fn busy_response(name: &str) -> Response<Body> {
    let mut response = error(
        StatusCode::CONFLICT,
        "busy",
        &format!("another action is running on {name}; try again when it ends"),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn log_unavailable(message: &str) -> Response<Body> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "log-unavailable",
        &format!("the action log cannot be read: {message}"),
    )
}

/// A response's status and JSON body.
async fn response_json(response: Response<Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// One batch item's result: the item, the status, and the response's fields.
async fn item_result(item: &BatchItem, response: Response<Body>) -> serde_json::Value {
    let (status, body) = response_json(response).await;
    merge_item(item, status, &body)
}

fn merge_item(item: &BatchItem, status: u16, body: &serde_json::Value) -> serde_json::Value {
    let mut result =
        serde_json::json!({ "repo": item.repo, "action": item.action, "status": status });
    if let (Some(result), Some(fields)) = (result.as_object_mut(), body.as_object()) {
        for (key, value) in fields {
            if key != "repo" && key != "action" {
                result.insert(key.clone(), value.clone());
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(repo: &str) -> ActionStart {
        ActionStart {
            who: "operator token from 127.0.0.1".into(),
            action: "commit".into(),
            repo: repo.into(),
            dry_run: false,
            at: Timestamp::now(),
        }
    }

    #[test]
    fn the_memory_log_pages_newest_first_and_filters_by_repository() {
        let log = MemoryActionLog::new();
        for i in 0..7 {
            let id = log.begin(&start(if i % 2 == 0 { "a" } else { "b" })).expect("begin");
            assert_eq!(id, i + 1);
        }
        log.finish(3, &end_of("done", None, "committed".into())).expect("finish");
        assert!(log.finish(99, &end_of("done", None, String::new())).is_err());
        let page = log.page(None, 3, None, false).expect("page");
        assert_eq!(page.actions.iter().map(|e| e.id).collect::<Vec<_>>(), [7, 6, 5]);
        assert_eq!(page.next, Some(5));
        let older = log.page(page.next, 10, None, false).expect("page");
        assert_eq!(older.actions.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2, 1]);
        assert_eq!(older.next, None);
        let only_a = log.page(None, 10, Some("a"), false).expect("page");
        assert_eq!(only_a.actions.iter().map(|e| e.id).collect::<Vec<_>>(), [7, 5, 3, 1]);
        let third = log.entry(3).expect("entry").expect("kept");
        assert_eq!((third.result.as_str(), third.summary.as_str()), ("done", "committed"));
        assert!(third.ended_at.is_some());
        assert_eq!(log.entry(2).expect("entry").expect("kept").result, "running");
    }

    #[test]
    fn the_memory_log_keeps_the_newest_entries() {
        let log = MemoryActionLog::new();
        for _ in 0..MEMORY_LOG_ENTRIES + 5 {
            log.record(&start("a"), &end_of("previewed", None, String::new())).expect("record");
        }
        assert!(log.entry(5).expect("entry").is_none(), "the oldest went");
        assert!(log.entry(6).expect("entry").is_some());
    }

    #[test]
    fn action_paths_are_told_from_history_paths() {
        assert!(is_action_path("/api/repos/halo/changes"));
        assert!(is_action_path("/api/repos/halo/actions/commit"));
        assert!(is_action_path("/api/repos/a%2Fb/actions/fix-remote"));
        assert!(is_action_path("/api/actions"));
        assert!(is_action_path("/api/actions/batch"));
        assert!(is_action_path("/api/actions/12"));
        assert!(is_action_path("/api/audit/run"));
        assert!(is_action_path("/api/trash"));
        assert!(!is_action_path("/api/repos/halo/history"));
        assert!(!is_action_path("/api/repos/halo/actions/commit/extra"));
        assert!(!is_action_path("/api/audit"));
    }
}
