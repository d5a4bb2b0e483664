// The operator's side of the HTTP API (docs/protocol.md, "Actions"): the changes of a working
// tree, previews and runs of actions, batches, a fresh audit, the action log and the trash, and the
// operator's sign-in (the same `POST /api/session` the viewer uses; the server picks the role from
// the token). Every request carries the session cookie (`credentials: 'same-origin'`); every POST
// is JSON, which is also what the server checks so a form on another site cannot act. A refusal
// becomes an `ActionError` with the server's `{"error", "message"}`.
//
// The preview and diff shapes come from the Rust crate `gitops-actions` (`Changes`, `Preview`,
// `TrashEntry`); they are not in the generated protocol types, so they are written out here.
import { mergeActionLog, type ActionStatuses } from './actionStatus';
import { signIn, type SignInResult } from './session';
import type { FetchLike } from './transports';
import type { ActionAccepted, ActionLogEntry, ActionLogPage, Repo, Session } from '../types/protocol';

/** An action that changes a repository, by its API name. */
export type ActionName = 'clone' | 'commit' | 'discard' | 'fix-remote' | 'delete' | 'restore' | 'push' | 'pull';

/** What a card offers: the actions, and `changes` (a look at the diff). */
export type RepoAction = ActionName | 'changes';

/** `git status --porcelain`: a path and its two letters (index, working tree). */
export interface StatusEntry {
  path: string;
  code: string;
}

/** How a file changed (`ChangeKind`). */
export type ChangeKind = 'added' | 'modified' | 'deleted' | 'renamed' | 'typechange' | 'conflicted';

/** One changed file (`FileDiff`). */
export interface FileDiff {
  path: string;
  /** The path before, for a rename. */
  old_path: string | null;
  kind: ChangeKind;
  additions: number;
  deletions: number;
  /** Named, never dumped. */
  binary: boolean;
  /** Over the server's size cap: not read. */
  too_large: boolean;
  /** The file's unified diff (text files within the caps only). */
  patch: string | null;
}

/** `GET /api/repos/<name>/changes` (`Changes`). */
export interface Changes {
  branch: string | null;
  head: string | null;
  status: StatusEntry[];
  files: FileDiff[];
  /** Changed files past the server's file cap. */
  files_not_listed: number;
  /** Some patch text was left out. */
  truncated: boolean;
  /** Bytes of patch text returned. */
  patch_bytes: number;
}

export interface ClonePreview {
  url: string;
  folder: string;
  path: string;
  timeout_seconds: number;
}

export interface CommitPreview {
  branch: string | null;
  files: StatusEntry[];
  /** The message offered. */
  message: string;
  /** `Name <email>`. */
  author: string;
}

/** How a discard loses a path. */
export type Loss = 'modified' | 'deleted' | 'typechange' | 'added' | 'untracked';

export interface DiscardPreview {
  head: string;
  lost: Array<{ path: string; loss: Loss }>;
  /** Untracked paths kept (nested repositories). */
  kept: string[];
  /** Sent back to run exactly this discard. */
  fingerprint: string;
}

export interface FixRemotePreview {
  remote: string;
  old: string | null;
  new: string;
  push_url: string | null;
}

export interface DeletePreview {
  from: string;
  to: string;
  files: number;
  bytes: number;
  counted_all: boolean;
  /** `null`: not a repository libgit2 can read. */
  changed_paths: number | null;
}

export interface RestorePreview {
  entry: string;
  from: string;
  to: string;
  deleted_at: string;
}

export interface SyncPreview {
  branch: string;
  upstream: string;
  url: string;
  ahead: number;
  behind: number;
  commits: Array<{ id: string; summary: string }>;
}

/** gitops-actions' `Preview`, tagged by `action`. */
export type Preview =
  | ({ action: 'clone' } & ClonePreview)
  | ({ action: 'commit' } & CommitPreview)
  | ({ action: 'discard' } & DiscardPreview)
  | ({ action: 'fix-remote' } & FixRemotePreview)
  | ({ action: 'delete' } & DeletePreview)
  | ({ action: 'restore' } & RestorePreview)
  | ({ action: 'push' } & SyncPreview)
  | ({ action: 'pull' } & SyncPreview);

/** 200 to a dry run. */
export interface PreviewAnswer {
  action: ActionName;
  repo: string;
  preview: Preview;
}

/** What an action request carries besides `dry_run`. */
export interface ActionFields {
  message?: string;
  confirm?: string;
  fingerprint?: string;
  entry?: string;
}

/** One item of a batch. */
export interface BatchItem {
  repo: string;
  action: 'clone' | 'fix-remote' | 'push' | 'pull';
}

/** One result of a batch, in the order asked. */
export interface BatchResult {
  repo: string;
  action: string;
  status: number;
  id?: number;
  error?: string;
  message?: string;
  preview?: Preview;
}

/** One folder in the trash. */
export interface TrashEntry {
  entry: string;
  folder: string;
  deleted_at: string;
  path: string;
}

/** `GET /api/trash`, oldest first. */
export interface TrashList {
  entries: TrashEntry[];
  purge_after_days: number;
}

/** `POST /api/audit/run`. */
export interface AuditStarted {
  audit: 'started' | 'queued' | (string & {});
}

/** A request the server refused, or one that never got an answer (`status` 0). */
export class ActionError extends Error {
  constructor(
    /** The HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** The server's `error` code (`busy`, `operator-required`, ...), `unreachable`, or `http-<status>`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ActionError';
  }

  /** Whether the operator's session is gone (expired, signed out elsewhere): read the session again. */
  get operatorLost(): boolean {
    return this.status === 401 || (this.status === 403 && this.code === 'operator-required');
  }
}

/** Where requests go. */
export interface ActionsOptions {
  fetch: FetchLike;
  baseUrl: string;
}

/** The API, bound to a server. */
export interface ActionsClient {
  changes(repo: string, signal?: AbortSignal): Promise<Changes>;
  preview(repo: string, action: ActionName, fields?: ActionFields): Promise<PreviewAnswer>;
  run(repo: string, action: ActionName, fields?: ActionFields): Promise<ActionAccepted>;
  batch(items: readonly BatchItem[], dryRun: boolean): Promise<BatchResult[]>;
  auditRun(): Promise<AuditStarted>;
  actionLog(
    query?: { limit?: number; before?: number | null; repo?: string | null; previews?: boolean },
    signal?: AbortSignal,
  ): Promise<ActionLogPage>;
  actionEntry(id: number, signal?: AbortSignal): Promise<ActionLogEntry>;
  trash(signal?: AbortSignal): Promise<TrashList>;
  /** Signs in with a token; `operator` is false when the token signed in a viewer only. */
  signInOperator(token: string): Promise<SignInResult & { operator?: boolean }>;
}

/** `/api/repos/<name>/...`: the name is one percent-encoded segment (`alice%2Fhalo`). */
export function repoPath(repo: string, rest: string): string {
  return `/api/repos/${encodeURIComponent(repo)}/${rest}`;
}

/** Reads a refusal's `{"error", "message"}` (or says what the status was). */
async function refusal(response: Response): Promise<ActionError> {
  let code = `http-${response.status}`;
  let message = `the server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string' && body.error) code = body.error;
    if (typeof body.message === 'string' && body.message) message = body.message;
  } catch {
    // Not JSON (a proxy's page): the status says what there is to say.
  }
  return new ActionError(response.status, code, message);
}

/**
 * One request to the operator's API: JSON in and out, the session cookie, no cache. A refusal
 * becomes an `ActionError` with the server's code; no answer at all is status 0, `unreachable`.
 */
export async function operatorRequest<T>(
  options: ActionsOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const init: RequestInit = {
    method,
    headers: method === 'POST' ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-store',
    ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    ...(signal ? { signal } : {}),
  };
  let response: Response;
  try {
    response = await options.fetch(new URL(path, options.baseUrl).href, init);
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ActionError(0, 'unreachable', `the server could not be reached (${(error as Error).message})`);
  }
  if (!response.ok) throw await refusal(response);
  try {
    return (await response.json()) as T;
  } catch {
    throw new ActionError(response.status, 'bad-answer', 'the server answered something that is not JSON');
  }
}

/** Makes the client. */
export function actionsClient(options: ActionsOptions): ActionsClient {
  const request = <T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal) =>
    operatorRequest<T>(options, method, path, body, signal);

  const actionBody = (fields: ActionFields | undefined, dryRun: boolean) => ({ ...fields, dry_run: dryRun });

  return {
    changes: (repo, signal) => request<Changes>('GET', repoPath(repo, 'changes'), undefined, signal),
    preview: (repo, action, fields) => request<PreviewAnswer>('POST', repoPath(repo, `actions/${action}`), actionBody(fields, true)),
    run: (repo, action, fields) => request<ActionAccepted>('POST', repoPath(repo, `actions/${action}`), actionBody(fields, false)),
    async batch(items, dryRun) {
      const answer = await request<{ results: BatchResult[] }>('POST', '/api/actions/batch', { actions: items, dry_run: dryRun });
      return answer.results;
    },
    auditRun: () => request<AuditStarted>('POST', '/api/audit/run', {}),
    actionLog(query = {}, signal) {
      const params = new URLSearchParams();
      if (query.limit !== undefined) params.set('limit', String(query.limit));
      if (query.before !== undefined && query.before !== null) params.set('before', String(query.before));
      if (query.repo) params.set('repo', query.repo);
      if (query.previews === false) params.set('previews', 'false');
      const text = params.toString();
      return request<ActionLogPage>('GET', `/api/actions${text ? `?${text}` : ''}`, undefined, signal);
    },
    actionEntry: (id, signal) => request<ActionLogEntry>('GET', `/api/actions/${id}`, undefined, signal),
    trash: (signal) => request<TrashList>('GET', '/api/trash', undefined, signal),
    async signInOperator(token) {
      const result = await signIn(options, token);
      return result.ok ? { ...result, operator: result.session.operator.signed_in } : result;
    },
  };
}

/** The client for this page's server. */
export function browserActionsClient(): ActionsClient {
  return actionsClient({ fetch: (input, init) => window.fetch(input, init), baseUrl: window.location.href });
}

/** The status the report gives a repository, as text. */
function statusOf(repo: Repo): string {
  return typeof repo.status === 'string' ? repo.status : String(repo.status);
}

function positive(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/**
 * What can be done to a repository in its status: dirty → look at the changes, commit, discard;
 * missing → clone; mismatched → fix the remote; extra → delete (into the trash); and, where the
 * report counts them, push for commits ahead and pull for commits behind.
 */
export function actionsFor(repo: Repo): RepoAction[] {
  const status = statusOf(repo);
  const actions: RepoAction[] = [];
  switch (status) {
    case 'dirty':
      actions.push('changes', 'commit', 'discard');
      break;
    case 'missing':
      return ['clone'];
    case 'mismatched':
      actions.push('fix-remote');
      break;
    case 'extra':
      actions.push('delete');
      break;
    default:
      break;
  }
  // A push needs an upstream: commits "unpushed" on a branch without one are not offered.
  const hasUpstream = typeof repo.upstream === 'string' && repo.upstream !== '';
  if (positive(repo.ahead) || (hasUpstream && positive(repo.unpushed_commits))) actions.push('push');
  if (positive(repo.behind) && status !== 'dirty') actions.push('pull');
  return actions;
}

/** Button words. */
export const ACTION_LABELS: Record<RepoAction, string> = {
  changes: 'View changes',
  clone: 'Clone',
  commit: 'Commit',
  discard: 'Discard',
  'fix-remote': 'Fix remote',
  delete: 'Delete',
  restore: 'Restore',
  push: 'Push',
  pull: 'Pull',
};

/** What an action is doing, for "committing…". */
export const ACTION_PROGRESS: Record<string, string> = {
  clone: 'cloning',
  commit: 'committing',
  discard: 'discarding',
  'fix-remote': 'fixing the remote',
  delete: 'moving to the trash',
  restore: 'restoring',
  push: 'pushing',
  pull: 'pulling',
  audit: 'auditing',
};

/** Actions that need the repository's name typed before they run. */
export function needsTypedName(action: ActionName): boolean {
  return action === 'discard' || action === 'delete';
}

/** Whether what was typed confirms `repo` (exactly its name, surrounding spaces aside). */
export function confirms(typed: string, repo: string): boolean {
  return typed.trim() === repo;
}

/** A byte count in words: `512 B`, `3.4 KB`, `1.2 GB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * The action statuses with the newest entries of the action log merged in (signed-in operators
 * only; `null` otherwise, when nothing changed or when the log cannot be read): `action-status` is
 * not replayed on resume, so what ended while disconnected is learned here. Not where actions are
 * off (an operator signed in for notifications).
 */
export async function missedActions(
  options: ActionsOptions,
  session: Session | null,
  current: () => ActionStatuses,
): Promise<ActionStatuses | null> {
  const operator = session?.operator;
  if (!operator?.signed_in || !operator.available) return null;
  try {
    const page = await actionsClient(options).actionLog({ limit: 50 });
    if (!Array.isArray(page?.actions)) return null;
    const merged = mergeActionLog(current(), page.actions);
    return merged.statuses !== current() ? merged.statuses : null;
  } catch {
    // The next reconnect asks again.
    return null;
  }
}
