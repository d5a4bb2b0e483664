// Generated from the Rust crate gitops-protocol by `cargo xtask types`. Do not edit:
// `cargo xtask ci` fails when this file differs from what the Rust types generate.

/** `"<epoch>:<seq>"`: 16 lowercase hex digits, a colon, a decimal sequence number. */
export type CursorText = string;

/** Repository status. Known values are listed; any other string is a known-unknown status. */
export type RepoStatus = 'missing' | 'extra' | 'dirty' | 'mismatched' | 'clean' | (string & {});

/** Report health. */
export type HealthStatus = 'green' | 'yellow' | 'red' | (string & {});

/** File completeness of a local clone. */
export type FileStatus = 'complete' | 'missing_files' | 'missing_readme' | 'unknown' | (string & {});

/** One repository of the report. Unknown fields are passed through unchanged. */
export interface Repo {
  /** The key of every change, with `dup`. */
  name: string;
  status: RepoStatus;
  clone_url?: string;
  local_path?: string;
  remote_url?: string;
  expected_url?: string;
  dashboard_link?: string;
  /** A key into the report's `mitigation_actions`. */
  mitigation?: string;
  file_status?: FileStatus;
  [extra: string]: unknown;
}

/** The producer's own counts; they may disagree with the repository list. */
export interface Summary {
  total?: number;
  missing?: number;
  extra?: number;
  dirty?: number;
  mismatched?: number;
  clean?: number;
  [extra: string]: unknown;
}

/** Top-level fields of the report (never `repos`). In `health-metrics-update` and `catch-up` only the changed ones: apply as a shallow merge patch, `null` removing a field. */
export interface ReportMeta {
  timestamp?: string;
  health_status?: HealthStatus;
  summary?: Summary;
  mitigation_actions?: Record<string, string>;
  local_git_root?: string;
  local_scan_active?: boolean;
  github_user?: string;
  [extra: string]: unknown;
}

/** The report in its normalised current shape (`audit-update` data, `GET /audit`). */
export interface Report extends ReportMeta {
  repos: Repo[];
}

/** One repository added, removed or changed (`repo-status-change` data). */
export interface RepoChange {
  name: string;
  /** The n-th occurrence of `name` in the report, counting from 0; absent when 0. */
  dup?: number;
  change: 'added' | 'removed' | 'changed';
  old_status?: RepoStatus;
  new_status?: RepoStatus;
  /** RFC 6902 operations, paths relative to the repository object (`changed`). */
  ops?: JsonPatchOp[];
  /** The whole repository (`added`). */
  repo?: Repo;
}

/** One RFC 6902 operation. */
export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** `catch-up` data: merged changes taking a client from `since` to the message's cursor. */
export interface CatchUp {
  since: CursorText;
  repos: RepoChange[];
  meta: ReportMeta | null;
}

/** Whether a good report is being served. */
export type ReportState = 'waiting' | 'ok' | 'error';

/** How changes to the report are detected. */
export type WatchState = 'watching' | 'polling' | 'auditing';

/** A failure of the report source. */
export interface LastError {
  message: string;
  /** RFC 3339. */
  since: string;
}

/** Where the report comes from and whether it is healthy. */
export interface ReportSource {
  path: string;
  state: ReportState;
  last_loaded: string | null;
  last_error: LastError | null;
  watch: WatchState;
  watch_note: string | null;
  /** Set while no new report has arrived for longer than expected (the audit job may have stopped). */
  stale?: Staleness;
}

/** The report source has produced nothing new for longer than expected. */
export interface Staleness {
  /** When the last report arrived (or the server started), RFC 3339. */
  since: string;
  /** How often a report is expected, in seconds. */
  expected_every_s: number;
}

/** Connected real-time clients by transport. */
export interface ClientsByTransport {
  ws: number;
  sse: number;
  long_poll: number;
}

/** `connection-status` data; also the body of `GET /api/ws/status`. */
export interface ConnectionStatus {
  server_time: string;
  uptime_s: number;
  /** False when real-time transports are switched off on the server; clients should poll. */
  realtime: boolean;
  clients: ClientsByTransport;
  cursor: CursorText | null;
  report: ReportSource;
  /** Absent when changes are kept in memory only. */
  log?: LogStatus;
}

/** Whether the durable log keeps what is published. */
export type LogState = 'ok' | 'failing';

/** The durable log behind the served state. */
export interface LogStatus {
  location: string;
  state: LogState;
  last_error: LastError | null;
  notice: string | null;
}

/** How a viewer signs in: `token` (POST /api/session) or `proxy` (a trusted reverse proxy's header). */
export type SignInMethod = 'token' | 'proxy' | (string & {});

/** The body of GET, POST and DELETE `/api/session`. */
export interface Session {
  /** Whether data endpoints need a signed-in viewer. */
  required: boolean;
  /** The ways this server accepts. */
  methods: SignInMethod[];
  /** Whether this request was signed in (true when not required). */
  authenticated: boolean;
  /** The user a trusted reverse proxy named. */
  user: string | null;
  /** When the session cookie expires, RFC 3339. */
  expires_at: string | null;
  /** Whether this server can act, and whether this request is the operator. */
  operator: OperatorInfo;
}

/** `pong` data. */
export interface Pong {
  /** The `ts` the client sent, echoed back. */
  ts?: unknown;
  server_time: string;
}

/** `error` data. */
export interface ErrorBody {
  code: 'bad-message' | 'unknown-type' | 'bad-cursor' | 'not-ready' | (string & {});
  message: string;
}

/** A state-bearing message: it has a cursor. */
export type StateMessage =
  | { type: 'audit-update'; epoch: string; seq: number; data: Report }
  | { type: 'repo-status-change'; epoch: string; seq: number; data: RepoChange }
  | { type: 'health-metrics-update'; epoch: string; seq: number; data: ReportMeta }
  | { type: 'catch-up'; epoch: string; seq: number; data: CatchUp };

/** Every message the server sends. */
export type ServerMessage =
  | StateMessage
  | { type: 'connection-status'; data: ConnectionStatus }
  | { type: 'pong'; data: Pong }
  | { type: 'error'; data: ErrorBody }
  | { type: 'action-status'; data: ActionStatus };

/** Every message a client may send over the WebSocket. */
export type ClientMessage =
  | { type: 'resume'; since: CursorText }
  | { type: 'ping'; ts?: number }
  | { type: 'request-update' }
  | { type: 'get-status' };

/** Every server message type name, by a name for code (also the SSE `event:` names). */
export const MESSAGE_TYPES = {
  auditUpdate: 'audit-update',
  repoStatusChange: 'repo-status-change',
  healthMetricsUpdate: 'health-metrics-update',
  catchUp: 'catch-up',
  connectionStatus: 'connection-status',
  pong: 'pong',
  error: 'error',
  actionStatus: 'action-status',
} as const;

/** The type names of state-bearing messages. */
export const STATE_MESSAGE_TYPES = ['audit-update', 'repo-status-change', 'health-metrics-update', 'catch-up'] as const;

/** Every server message type name (also the SSE `event:` names). */
export const SERVER_MESSAGE_TYPES = [...STATE_MESSAGE_TYPES, 'connection-status', 'pong', 'error', 'action-status'] as const;

/** WebSocket close codes of the protocol (docs/protocol.md says what a client does on each). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  internalError: 1011,
  stalled: 4000,
  sessionExpired: 4001,
} as const;

/** The key that names the reconnect delay, in milliseconds, in a close reason (`retry-ms=N`). */
export const RETRY_MS_KEY = 'retry-ms=';

/** The largest delay `parseRetryMs` accepts (Number.MAX_SAFE_INTEGER, as in Rust). */
export const MAX_RETRY_MS = 9007199254740991;

/** The reason of the 1001 close the server sends on shutdown. Twin of Rust `gitops_protocol::format_retry_reason`. */
export function formatRetryReason(ms: number): string {
  return `server restarting; ${RETRY_MS_KEY}${ms}`;
}

/** The reconnect delay a close reason asks for: the digits right after the first `retry-ms=`, wherever it sits; null when there are none or the number is over MAX_RETRY_MS. Twin of Rust `gitops_protocol::parse_retry_ms`, with the same answers. */
export function parseRetryMs(reason: string | null | undefined): number | null {
  if (!reason) return null;
  const at = reason.indexOf(RETRY_MS_KEY);
  if (at < 0) return null;
  const digits = /^[0-9]+/.exec(reason.slice(at + RETRY_MS_KEY.length));
  if (!digits) return null;
  const ms = Number(digits[0]);
  return ms <= MAX_RETRY_MS ? ms : null;
}

/** The protocol version these types describe. */
export const PROTOCOL_VERSION = 1;

/** `changes`, or `snapshot`: a whole state with no changes listed. */
export type PointKind = 'changes' | 'snapshot';

/** What happened to one repository at one point of history. */
export interface RepoTransition {
  name: string;
  /** Which repository of that name, from 0; absent when 0. */
  dup?: number;
  change: 'added' | 'removed' | 'changed';
  /** Absent (null) when added. */
  old_status: RepoStatus | null;
  /** Absent (null) when removed. */
  new_status: RepoStatus | null;
}

/** One point of history (`GET /api/history`): a publish and the state after it. */
export interface HistoryPoint {
  /** The state after this publish. */
  cursor: CursorText;
  /** When it was published (imported: the snapshot's time), RFC 3339 UTC with ms. */
  time: string;
  kind: PointKind;
  /** The report's own `timestamp`. */
  timestamp: string | null;
  /** As the producer wrote it. */
  health_status: HealthStatus | null;
  /** As the producer wrote it. */
  summary: Summary | null;
  /** Repositories by status, counted from the list. */
  counts: Record<string, number>;
  /** What this publish did, at most 100. */
  repos: RepoTransition[];
  /** How many repositories it changed in all. */
  repos_changed: number;
  /** Whether top-level fields changed. */
  meta_changed: boolean;
}

/** A snapshot file the import skipped. */
export interface SkippedSnapshot {
  file: string;
  error: string;
}

/** How old `audit-history/*.json` snapshots were imported when the log was new. */
export interface HistoryImport {
  /** The folder read. */
  from: string;
  /** When the import ran, RFC 3339. */
  time: string;
  /** Snapshots that became points. */
  imported: number;
  /** Snapshots equal to the one before them. */
  unchanged: number;
  /** Snapshots older than the log's retention. */
  too_old: number;
  /** Files that could not be read or parsed. */
  skipped: SkippedSnapshot[];
  /** Why the import stopped early, if it did. */
  error: string | null;
}

/** `GET /api/history`: points newest first. */
export interface HistoryPage {
  points: HistoryPoint[];
  /** Pass as `before` for the next, older page. */
  next: CursorText | null;
  import: HistoryImport | null;
}

/** `GET /api/history/diff`: apply `repos` in order to the state at `from`, then merge `meta`, to get the state at `to`. */
export interface HistoryDiff {
  from: CursorText;
  to: CursorText;
  repos: RepoChange[];
  meta: ReportMeta | null;
}

/** One change of one repository (`GET /api/repos/<name>/history`). */
export interface RepoEvent extends RepoTransition {
  /** The state right after the change. */
  cursor: CursorText;
  /** RFC 3339 UTC with ms. */
  time: string;
}

/** `GET /api/repos/<name>/history`: one repository's changes, newest first. */
export interface RepoTimeline {
  name: string;
  events: RepoEvent[];
  /** Pass as `before` for older events. */
  next: CursorText | null;
}

/** Where an action is. */
export type ActionState = 'running' | 'done' | 'refused' | 'failed' | 'interrupted';

/** `action-status` data: an operator's action started or ended. Previews are not broadcast. */
export interface ActionStatus {
  /** The action's id in the action log. */
  id: number;
  /** `clone`, `commit`, `discard`, `fix-remote`, `delete`, `restore`, `push`, `pull` or `audit`. */
  action: string;
  /** The repository; empty for `audit`. */
  repo: string;
  /** Who acted. */
  who: string;
  state: ActionState;
  /** What it did or why not; empty while running. */
  summary: string;
  /** When this state was entered, RFC 3339. */
  at: string;
}

/** 202 to an action request: its end comes as an `action-status` with this id. */
export interface ActionAccepted {
  id: number;
  action: string;
  repo: string;
  state: ActionState;
}

/** One entry of the action log (`GET /api/actions`). */
export interface ActionLogEntry {
  id: number;
  who: string;
  /** `changes` for a look at the diff. */
  action: string;
  repo: string;
  /** Only a preview. */
  dry_run: boolean;
  result: 'running' | 'previewed' | 'done' | 'refused' | 'failed' | 'interrupted' | (string & {});
  /** For a refusal or failure: `busy`, `not-found`, ... */
  error_class: string | null;
  summary: string;
  /** git's output, credentials redacted. */
  output: string;
  started_at: string;
  /** Null while running. */
  ended_at: string | null;
}

/** `GET /api/actions`: newest first. */
export interface ActionLogPage {
  actions: ActionLogEntry[];
  /** Pass as `before` for the next, older page. */
  next: number | null;
}

/** What `GET /api/session` says about acting on repositories. */
export interface OperatorInfo {
  /** Whether this server can act at all. */
  available: boolean;
  /** Why not, when not. */
  reason: string | null;
  /** Whether an operator can sign in (an operator token is configured). */
  sign_in: boolean;
  /** Whether this request is signed in as the operator. */
  signed_in: boolean;
  /** When the operator session cookie expires. */
  expires_at: string | null;
}
