// What the screen reader is told about live changes, as pure functions: the changes (and ended
// actions) gathered over a short window become one sentence, said once in one polite region. The
// toasts are for the eyes; they are not a live region, so a new toast does not re-read the stack
// and its buttons.
import type { StatusChange } from '../../lib/report';
import { statusLabel } from '../../lib/status';
import { mergeChanges } from './toastQueue';

/** Changes arriving within this long of the first one are said together, ms. */
export const ANNOUNCE_WINDOW_MS = 2_000;

/** Changes named one by one in an announcement; past this, names only, then "and N more". */
const MAX_DESCRIBED = 3;
const MAX_NAMED = 5;

/** "halo from Missing to Clean", "halo appeared, Extra", "halo was removed". */
export function spokenChange(change: StatusChange): string {
  if (change.from === null) return `${change.name} appeared, ${statusLabel(change.to ?? '')}`;
  if (change.to === null) return `${change.name} was removed`;
  return `${change.name} from ${statusLabel(change.from)} to ${statusLabel(change.to)}`;
}

/** What to say for `changes` (already merged) and the ended actions' titles; '' for nothing. */
export function announcementText(changes: readonly StatusChange[], actions: readonly string[] = []): string {
  const parts = actions.map((title) => `${title}.`);
  const n = changes.length;
  if (n === 1) parts.push(`${spokenChange(changes[0]!)}.`);
  else if (n > 1 && n <= MAX_DESCRIBED) parts.push(`${n} repositories changed: ${changes.map(spokenChange).join('; ')}.`);
  else if (n > MAX_DESCRIBED) {
    const named = changes.slice(0, MAX_NAMED).map((c) => c.name);
    parts.push(`${n} repositories changed: ${named.join(', ')}${n > MAX_NAMED ? ` and ${n - MAX_NAMED} more` : ''}.`);
  }
  return parts.join(' ');
}

/** The pending announcement after more `changes` (and an ended action's title) arrived. */
export interface PendingAnnouncement {
  changes: StatusChange[];
  actions: string[];
}

export function gather(pending: PendingAnnouncement | null, changes: readonly StatusChange[], action?: string): PendingAnnouncement {
  return {
    changes: mergeChanges(pending?.changes ?? [], changes),
    actions: action ? [...(pending?.actions ?? []), action] : [...(pending?.actions ?? [])],
  };
}
