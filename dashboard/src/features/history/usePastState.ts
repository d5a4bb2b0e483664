// The report at a past point, loaded once per point and kept for a few, so going back and
// forth between the past and the present does not ask the server again.
import { useEffect, useState } from 'react';
import { fetchStateAt, type HistoryFailure, type PastState } from '../../lib/history';
import type { CursorText } from '../../types/protocol';

/** Where loading a past point stands. */
export type PastLoad = { status: 'loading' } | { status: 'ok'; past: PastState } | { status: 'error'; failure: HistoryFailure };

const KEPT = 6;
const kept = new Map<CursorText, PastState>();

function keep(past: PastState) {
  kept.delete(past.cursor);
  kept.set(past.cursor, past);
  while (kept.size > KEPT) {
    const oldest = kept.keys().next().value;
    if (oldest === undefined) break;
    kept.delete(oldest);
  }
}

/** The state at `cursor` (null: no past point asked for). */
export function usePastState(cursor: CursorText | null): PastLoad | null {
  const [load, setLoad] = useState<{ cursor: CursorText; load: PastLoad } | null>(null);
  useEffect(() => {
    if (cursor === null || kept.has(cursor)) return;
    const abort = new AbortController();
    setLoad({ cursor, load: { status: 'loading' } });
    void fetchStateAt(cursor, abort.signal).then((result) => {
      if (abort.signal.aborted) return;
      if (result.ok) keep(result.value);
      setLoad({ cursor, load: result.ok ? { status: 'ok', past: result.value } : { status: 'error', failure: result.failure } });
    });
    return () => abort.abort();
  }, [cursor]);
  if (cursor === null) return null;
  const cached = kept.get(cursor);
  if (cached) return { status: 'ok', past: cached };
  return load?.cursor === cursor ? load.load : { status: 'loading' };
}
