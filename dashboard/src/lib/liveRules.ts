// The protocol's client rules as pure functions: the twin of the Rust `LiveState`
// (crates/protocol/src/live_state.rs). `apply` takes the state and one server message and returns
// the next state, what happened (the Rust `Applied`) and what the caller should do about it; it
// opens no socket, reads no clock and keeps nothing. Both sides run the cases of
// crates/protocol/tests/fixtures/live_state_cases.json, so they cannot drift apart unnoticed.
// Beside it, the pure parts of what the dashboard shows next to the report (recent changes).
import { formatCursor, orderingOf, parseCursor } from './cursor';
import { applyCatchUp, applyMeta, applyRepoChanges, diffReports, isReport, PatchError, type StatusChange } from './report';
import { MESSAGE_TYPES, STATE_MESSAGE_TYPES } from '../types/protocol';
import type { CursorText, Report, ServerMessage, StateMessage } from '../types/protocol';

/** The report as this client holds it. */
export interface LiveState {
  report: Report | null;
  /** The cursor of the last applied state-bearing message. */
  cursor: CursorText | null;
  /** `saved`: restored from the last visit and not yet confirmed by the server. */
  source: 'none' | 'saved' | 'server';
}

/** No state yet. */
export const EMPTY_STATE: LiveState = { report: null, cursor: null, source: 'none' };

/** What applying one message did (the Rust `Applied`, and its error). */
export type Outcome =
  /** The state advanced to this cursor. */
  | { kind: 'advanced'; cursor: CursorText }
  /** Older than the state, or a repeat: ignored. */
  | { kind: 'stale' }
  /** It does not follow the cursor (a gap, another epoch, no snapshot yet): nothing applied. */
  | { kind: 'gap' }
  /** Not a state-bearing message (or not a well-formed one). */
  | { kind: 'not-state' }
  /** A change that does not fit the state: nothing applied. */
  | { kind: 'error'; message: string };

/** What the caller should do after a message. */
export type Effect =
  /** Close the gap: `resume` from this cursor (or its transport's way of resuming). */
  | { kind: 'resume'; since: CursorText }
  /** The state cannot be resumed or trusted: ask for a whole snapshot. */
  | { kind: 'request-update' }
  /**
   * The report changed: which repositories (keys) and which changed status; `highlight` is false
   * when a snapshot replaced a state that was not the server's (nothing changed live).
   */
  | { kind: 'changed'; touched: string[]; statusChanges: StatusChange[]; highlight: boolean };

/** The result of {@link apply}. The state is the same object when nothing changed. */
export interface Step {
  state: LiveState;
  outcome: Outcome;
  effects: Effect[];
}

const STATE_TYPES: ReadonlySet<string> = new Set(STATE_MESSAGE_TYPES);

/** Whether a message carries state (has a cursor). */
export function isStateMessage(message: ServerMessage): message is StateMessage {
  return STATE_TYPES.has(message.type);
}

/** What closes a gap: `resume` from the cursor when there is a state to resume, else a snapshot. */
function resync(state: LiveState): Effect {
  return state.report && state.cursor ? { kind: 'resume', since: state.cursor } : { kind: 'request-update' };
}

/**
 * Applies one server message by the client rules of docs/protocol.md.
 *
 * A snapshot (`audit-update`) replaces the state, unless it is an older one of the same epoch
 * while the state came from the server (a slow answer overtaken by a newer message: stale). A
 * delta applies only as the next seq of the same epoch, a `catch-up` only from the cursor it
 * starts at; a repeat is stale; anything else is a gap (effect: resume, or request-update without
 * a state). A change that does not fit the state is an error and asks for a snapshot; the state
 * is then unchanged.
 */
export function apply(state: LiveState, message: ServerMessage): Step {
  if (!isStateMessage(message)) return { state, outcome: { kind: 'not-state' }, effects: [] };
  const incoming = parseCursor(`${message.epoch}:${message.seq}`);
  if (!incoming) return { state, outcome: { kind: 'not-state' }, effects: [] };
  const cursor = formatCursor(incoming);
  if (message.type === MESSAGE_TYPES.auditUpdate) {
    if (!isReport(message.data)) return { state, outcome: { kind: 'not-state' }, effects: [] };
    const current = parseCursor(state.cursor);
    if (current && current.epoch === incoming.epoch && incoming.seq < current.seq && state.source === 'server') {
      return { state, outcome: { kind: 'stale' }, effects: [] };
    }
    const diff = state.report ? diffReports(state.report, message.data) : null;
    const next: LiveState = { report: message.data, cursor, source: 'server' };
    const effects: Effect[] = diff ? [{ kind: 'changed', ...diff, highlight: state.source === 'server' }] : [];
    return { state: next, outcome: { kind: 'advanced', cursor }, effects };
  }
  const base = message.type === MESSAGE_TYPES.catchUp ? parseCursor(message.data?.since) : { epoch: incoming.epoch, seq: incoming.seq - 1 };
  const ordering = state.report ? orderingOf(parseCursor(state.cursor), incoming, base) : 'gap';
  if (ordering === 'already-applied') return { state, outcome: { kind: 'stale' }, effects: [] };
  if (ordering === 'gap' || !state.report) return { state, outcome: { kind: 'gap' }, effects: [resync(state)] };
  try {
    const applied =
      message.type === MESSAGE_TYPES.repoStatusChange
        ? applyRepoChanges(state.report, [message.data])
        : message.type === MESSAGE_TYPES.healthMetricsUpdate
          ? { report: applyMeta(state.report, message.data), statusChanges: [], touched: [] }
          : applyCatchUp(state.report, message.data);
    const next: LiveState = { report: applied.report, cursor, source: 'server' };
    const effects: Effect[] = [{ kind: 'changed', touched: applied.touched, statusChanges: applied.statusChanges, highlight: true }];
    return { state: next, outcome: { kind: 'advanced', cursor }, effects };
  } catch (error) {
    if (!(error instanceof PatchError)) throw error;
    return { state, outcome: { kind: 'error', message: error.message }, effects: [{ kind: 'request-update' }] };
  }
}

/** The state restored from the last visit: shown, but not yet confirmed by the server. */
export function restore(state: LiveState, saved: { report: Report; cursor: CursorText }): LiveState {
  if (state.report) return state;
  return { report: saved.report, cursor: saved.cursor, source: 'saved' };
}

/** The server says it is at `serverCursor`: a saved state at that very cursor is confirmed. */
export function confirm(state: LiveState, serverCursor: CursorText | null): LiveState {
  if (state.source !== 'saved' || serverCursor === null || serverCursor !== state.cursor) return state;
  return { ...state, source: 'server' };
}

/**
 * The recent-change highlights after a change: entries older than `highlightMs` dropped, the
 * touched keys stamped `now`. The same object when there is nothing to add or drop.
 */
export function highlight(
  changedAt: Readonly<Record<string, number>>,
  touched: readonly string[],
  now: number,
  highlightMs: number,
): Readonly<Record<string, number>> {
  if (touched.length === 0) return changedAt;
  const next: Record<string, number> = {};
  for (const [key, at] of Object.entries(changedAt)) {
    if (now - at < highlightMs) next[key] = at;
  }
  for (const key of touched) next[key] = now;
  return next;
}
