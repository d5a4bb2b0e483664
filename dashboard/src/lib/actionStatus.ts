// What the dashboard knows about operators' actions: the last `action-status` of each action id,
// as pure functions over an immutable record, bounded so a long-open page does not grow. The
// action log (`GET /api/actions`, read again after a reconnect) fills in what was missed while
// disconnected: `action-status` is not replayed on resume.
import type { ActionLogEntry, ActionState, ActionStatus } from '../types/protocol';

/** Action id → its last status. */
export type ActionStatuses = Readonly<Record<number, ActionStatus>>;

/** Statuses kept at most; the oldest ids go first. */
export const MAX_ACTION_STATUSES = 200;

const STATES: ReadonlySet<string> = new Set<ActionState>(['running', 'done', 'refused', 'failed', 'interrupted']);

/** Whether an action has ended. */
export function isFinal(state: ActionState): boolean {
  return state !== 'running';
}

/**
 * `statuses` with `status` recorded. An ended action stays ended: a `running` that arrives after
 * its end (the log read overtaking the socket) is ignored. Returns `statuses` itself when nothing
 * changes.
 */
export function recordActionStatus(statuses: ActionStatuses, status: ActionStatus, max: number = MAX_ACTION_STATUSES): ActionStatuses {
  if (!Number.isFinite(status.id) || !STATES.has(status.state)) return statuses;
  const known = statuses[status.id];
  if (known && isFinal(known.state) && !isFinal(status.state)) return statuses;
  if (known && known.state === status.state && known.summary === status.summary && known.at === status.at) return statuses;
  const next: Record<number, ActionStatus> = { ...statuses, [status.id]: status };
  const ids = Object.keys(next).map(Number);
  if (ids.length > max) {
    ids.sort((a, b) => a - b);
    for (const id of ids.slice(0, ids.length - max)) delete next[id];
  }
  return next;
}

/** The status an action log entry stands for; null for previews and looks at the changes. */
export function statusFromLog(entry: ActionLogEntry): ActionStatus | null {
  if (entry.dry_run || entry.action === 'changes' || !STATES.has(entry.result)) return null;
  const state = entry.result as ActionState;
  return {
    id: entry.id,
    action: entry.action,
    repo: entry.repo,
    who: entry.who,
    state,
    summary: entry.summary,
    at: (isFinal(state) ? entry.ended_at : null) ?? entry.started_at,
  };
}

/** `statuses` with a page of the action log merged in; only what is new or changed is reported. */
export function mergeActionLog(
  statuses: ActionStatuses,
  entries: readonly ActionLogEntry[],
  max: number = MAX_ACTION_STATUSES,
): { statuses: ActionStatuses; changed: ActionStatus[] } {
  let next = statuses;
  const changed: ActionStatus[] = [];
  // Oldest first, so the bound drops the oldest.
  for (const entry of [...entries].sort((a, b) => a.id - b.id)) {
    const status = statusFromLog(entry);
    if (!status) continue;
    const after = recordActionStatus(next, status, max);
    if (after !== next && after[status.id] === status) changed.push(status);
    next = after;
  }
  return { statuses: next, changed };
}

/** The newest action on `repo` (highest id), if any is known. */
export function latestForRepo(statuses: ActionStatuses, repo: string): ActionStatus | null {
  let latest: ActionStatus | null = null;
  for (const status of Object.values(statuses)) {
    if (status.repo === repo && (!latest || status.id > latest.id)) latest = status;
  }
  return latest;
}
