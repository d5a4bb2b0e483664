// What the dashboard keeps beside the report, as pure functions: the server's status, the ping's
// round trip, the last error, recent-change highlights, operators' actions. `receive` is the
// store's whole reaction to one server message (the client rules through `apply`, then these);
// the store only carries out the effects it returns.
import { recordActionStatus, type ActionStatuses } from './actionStatus';
import { apply, confirm, highlight, isStateMessage, type Effect, type LiveState, type Outcome } from './liveRules';
import { MESSAGE_TYPES } from '../types/protocol';
import type { ActionStatus, ConnectionStatus, CursorText, Report, ServerMessage } from '../types/protocol';

/** The data the UI reads, apart from the connection and the session. */
export interface LiveData extends LiveState {
  /** When the state last changed or was confirmed current (client clock, ms). */
  lastUpdateAt: number | null;
  /** Repository key → when it last changed live (client clock), for a brief highlight. */
  changedAt: Readonly<Record<string, number>>;
  /** The server's own status (report source, watcher), when known. */
  serverStatus: ConnectionStatus | null;
  /** False while the server has real-time transports switched off; the store polls then. */
  serverRealtime: boolean;
  /** Round-trip time of the last ping, ms. */
  rttMs: number | null;
  /** The last problem worth showing (an `error` message, a failed request). */
  lastError: string | null;
  /** Operators' actions: the last status of each (bounded), from `action-status` and the action log. */
  actions: ActionStatuses;
}

/** Nothing known yet. */
export const EMPTY_DATA: LiveData = {
  report: null,
  cursor: null,
  source: 'none',
  lastUpdateAt: null,
  changedAt: {},
  serverStatus: null,
  serverRealtime: true,
  rttMs: null,
  lastError: null,
  actions: {},
};

/** What the store does after a message, beyond the client rules' own effects. */
export type Notice =
  | Effect
  /** The server switched real-time on or off: connect again for the effective mode. */
  | { kind: 'realtime-changed' }
  /** An operator's action started or ended (for toasts). */
  | { kind: 'action-status'; status: ActionStatus };

/** The result of {@link receive}: the same `data` object when nothing changed. */
export interface Received {
  data: LiveData;
  outcome: Outcome;
  notices: Notice[];
}

/** The store's reaction to one server message, at `now`. */
export function receive(data: LiveData, message: ServerMessage, now: number, highlightMs: number): Received {
  const none = (next: LiveData = data): Received => ({ data: next, outcome: { kind: 'not-state' }, notices: [] });
  if (isStateMessage(message)) {
    const step = apply(data, message);
    if (step.outcome.kind === 'error') {
      return { data: { ...data, lastError: step.outcome.message }, outcome: step.outcome, notices: step.effects };
    }
    if (step.outcome.kind !== 'advanced') return { data, outcome: step.outcome, notices: step.effects };
    let changedAt = data.changedAt;
    for (const effect of step.effects) {
      if (effect.kind === 'changed' && effect.highlight) changedAt = highlight(changedAt, effect.touched, now, highlightMs);
    }
    return { data: { ...data, ...step.state, lastUpdateAt: now, changedAt }, outcome: step.outcome, notices: step.effects };
  }
  switch (message.type) {
    case MESSAGE_TYPES.connectionStatus:
      return takeStatus(data, message.data, now);
    case MESSAGE_TYPES.pong: {
      const ts = message.data?.ts;
      return typeof ts === 'number' ? none({ ...data, rttMs: Math.max(0, now - ts) }) : none();
    }
    case MESSAGE_TYPES.error:
      return none({ ...data, lastError: `${message.data?.code ?? 'error'}: ${message.data?.message ?? ''}` });
    case MESSAGE_TYPES.actionStatus: {
      const status = message.data;
      if (!status || typeof status !== 'object') return none();
      const actions = recordActionStatus(data.actions, status);
      if (actions === data.actions) return none();
      return { data: { ...data, actions }, outcome: { kind: 'not-state' }, notices: [{ kind: 'action-status', status }] };
    }
    default:
      return none();
  }
}

/**
 * Takes the server's status (from the stream or read over HTTP): a saved state at the server's
 * cursor is confirmed current, and a change of real-time asks the store to connect again.
 */
export function takeStatus(data: LiveData, status: ConnectionStatus, now: number): Received {
  const confirmed = confirm(data, status.cursor ?? null);
  const realtime = status.realtime !== false;
  const next: LiveData = {
    ...data,
    ...confirmed,
    ...(confirmed !== data ? { lastUpdateAt: now } : {}),
    serverStatus: status,
    serverRealtime: realtime,
  };
  const notices: Notice[] = realtime !== data.serverRealtime ? [{ kind: 'realtime-changed' }] : [];
  return { data: next, outcome: { kind: 'not-state' }, notices };
}

/**
 * What to remember of `data` (nothing without a state). Its time is when the state was last known
 * current, the age shown offline: now while a transport carries data, else its last update.
 */
export function toSave(data: LiveData, carried: boolean, now: number): { report: Report; cursor: CursorText; savedAt: number } | null {
  if (!data.report || !data.cursor) return null;
  return { report: data.report, cursor: data.cursor, savedAt: carried ? now : (data.lastUpdateAt ?? now) };
}
