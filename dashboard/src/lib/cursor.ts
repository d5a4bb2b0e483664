// The resume cursor "<epoch>:<seq>" (docs/protocol.md, Cursor): parsing, formatting and the client rules' comparisons.
import type { CursorText } from '../types/protocol';

/** A parsed cursor. */
export interface Cursor {
  epoch: string;
  seq: number;
}

const EPOCH = /^[0-9a-f]{16}$/;

/** Reads a cursor; surrounding quotes and a weak `W/` prefix (as in an ETag) are accepted. */
export function parseCursor(text: string | null | undefined): Cursor | null {
  if (text == null) return null;
  let trimmed = text.trim();
  if (trimmed.startsWith('W/')) trimmed = trimmed.slice(2);
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) trimmed = trimmed.slice(1, -1);
  const colon = trimmed.indexOf(':');
  if (colon < 0) return null;
  const epoch = trimmed.slice(0, colon);
  const seqText = trimmed.slice(colon + 1);
  if (!EPOCH.test(epoch) || !/^[0-9]+$/.test(seqText)) return null;
  return { epoch, seq: Number(seqText) };
}

/** Writes a cursor as the protocol does. */
export function formatCursor(cursor: Cursor): CursorText {
  return `${cursor.epoch}:${cursor.seq}`;
}

/** What a client does with a state-bearing message that is not an `audit-update` (client rule 2). */
export type Ordering = 'apply' | 'already-applied' | 'gap';

/**
 * Classifies a message at `incoming` against the client's `current` cursor.
 *
 * `base` is the cursor the message applies on top of: `seq - 1` for single messages,
 * `data.since` for a `catch-up`.
 */
export function orderingOf(current: Cursor | null, incoming: Cursor, base: Cursor | null): Ordering {
  if (current === null || base === null) return 'gap';
  if (incoming.epoch !== current.epoch) return 'gap';
  if (incoming.seq <= current.seq) return 'already-applied';
  if (base.epoch === current.epoch && base.seq === current.seq) return 'apply';
  return 'gap';
}
