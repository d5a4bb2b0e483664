// The toast list as pure functions: status changes that arrive in a burst (within `mergeWindowMs`
// of the newest toast's last change) join that toast instead of stacking a new one; a repository
// that changes twice in a burst is listed once, from its first to its last status (and dropped
// when it ends where it began); at most `max` toasts are kept; each expires `lifetimeMs` after its
// last change.
import type { StatusChange } from '../../lib/report';
import type { ActionStatus } from '../../types/protocol';

/** One toast: the changes it lists, and when it was last changed and expires (ms). */
export interface Toast {
  id: number;
  changes: StatusChange[];
  /** An operator's action that ended (then `changes` is empty); it never merges with others. */
  action?: ActionStatus;
  updatedAt: number;
  expiresAt: number;
}

/** The queue's limits. */
export interface ToastPolicy {
  /** Changes this soon after the newest toast's last change join it, ms. */
  mergeWindowMs: number;
  /** Toasts kept at most (the oldest go first). */
  max: number;
  /** How long a toast stays after its last change, ms. */
  lifetimeMs: number;
}

export const TOAST_POLICY: ToastPolicy = { mergeWindowMs: 3_000, max: 3, lifetimeMs: 8_000 };

/** `earlier` then `later` for the same repositories: one change per repository, net. */
export function mergeChanges(earlier: readonly StatusChange[], later: readonly StatusChange[]): StatusChange[] {
  const byKey = new Map<string, StatusChange>(earlier.map((c) => [c.key, c]));
  for (const change of later) {
    const first = byKey.get(change.key);
    // Delete and re-insert so the list is in order of each repository's latest change.
    byKey.delete(change.key);
    byKey.set(change.key, first ? { ...change, from: first.from } : change);
  }
  return [...byKey.values()].filter((c) => c.from !== c.to);
}

/** The toasts after `changes` arrived at `now`; `id` names a new toast if one is made. */
export function addChanges(
  toasts: readonly Toast[],
  changes: readonly StatusChange[],
  now: number,
  id: number,
  policy: ToastPolicy = TOAST_POLICY,
): Toast[] {
  if (changes.length === 0) return [...toasts];
  const newest = toasts.at(-1);
  if (newest && !newest.action && now - newest.updatedAt <= policy.mergeWindowMs) {
    const merged = mergeChanges(newest.changes, changes);
    const rest = toasts.slice(0, -1);
    if (merged.length === 0) return rest;
    return [...rest, { ...newest, changes: merged, updatedAt: now, expiresAt: now + policy.lifetimeMs }];
  }
  const fresh = mergeChanges([], changes);
  if (fresh.length === 0) return [...toasts];
  return [...toasts, { id, changes: fresh, updatedAt: now, expiresAt: now + policy.lifetimeMs }].slice(-policy.max);
}

/** The toasts after an action ended at `now` (a toast of its own; `running` makes none). */
export function addAction(
  toasts: readonly Toast[],
  status: ActionStatus,
  now: number,
  id: number,
  policy: ToastPolicy = TOAST_POLICY,
): Toast[] {
  if (status.state === 'running') return [...toasts];
  const others = toasts.filter((t) => t.action?.id !== status.id);
  return [...others, { id, changes: [], action: status, updatedAt: now, expiresAt: now + policy.lifetimeMs }].slice(-policy.max);
}

/** The toasts still alive at `now`. */
export function expire(toasts: readonly Toast[], now: number): Toast[] {
  return toasts.filter((t) => t.expiresAt > now);
}

/** "commit on halo: done", "audit: failed". */
export function actionTitle(status: ActionStatus): string {
  return `${status.action}${status.repo ? ` on ${status.repo}` : ''}: ${status.state}`;
}

/** The toast's headline: "halo changed", "4 repositories changed", "commit on halo: done". */
export function toastTitle(toast: Pick<Toast, 'changes' | 'action'>): string {
  if (toast.action) return actionTitle(toast.action);
  const n = toast.changes.length;
  return n === 1 ? `${toast.changes[0]!.name} changed` : `${n} repositories changed`;
}

/**
 * The toasts after a pause of `pausedMs` ended at `now` (a toast was focused or under the
 * pointer): each expires that much later, and none in less than `minRemainingMs`, so a toast the
 * reader just left does not vanish under their eyes.
 */
export function resume(toasts: readonly Toast[], pausedMs: number, now: number, minRemainingMs = 2_000): Toast[] {
  return toasts.map((t) => ({ ...t, expiresAt: Math.max(t.expiresAt + Math.max(0, pausedMs), now + minRemainingMs) }));
}
