// The history's state in the URL, so a link shares what is shown: `at` (a past point shown
// read-only, on the dashboard's own routes), and on /history `from` and `to` (two points being
// compared) and `status` (the comparison filtered by a status).
import { isCursor } from './history';
import type { CursorText } from '../types/protocol';

/** What the URL says about history. */
export interface HistoryParams {
  at: CursorText | null;
  from: CursorText | null;
  to: CursorText | null;
  status: string | null;
}

/** Reads the history parameters; anything that is not a cursor is ignored. */
export function readHistoryParams(search: URLSearchParams): HistoryParams {
  const cursor = (name: string) => {
    const value = search.get(name);
    return isCursor(value) ? value : null;
  };
  const status = search.get('status');
  return { at: cursor('at'), from: cursor('from'), to: cursor('to'), status: status ? status : null };
}

/** The query string (with `?`, or empty) for `search` changed by `patch`; nulls are removed. */
export function writeHistoryParams(search: URLSearchParams, patch: Partial<HistoryParams>): string {
  const next = new URLSearchParams(search);
  for (const [name, value] of Object.entries(patch)) {
    if (value === null || value === undefined || value === '') next.delete(name);
    else next.set(name, value);
  }
  const text = next.toString();
  return text ? `?${text}` : '';
}

/** The dashboard as of `cursor` (the overview, or a repository's page). */
export function pastHref(cursor: CursorText, repo: string | null = null): string {
  const path = repo === null ? '/' : `/audit/${encodeURIComponent(repo)}`;
  return `${path}?at=${cursor}`;
}

/** The History view comparing two points. */
export function compareHref(from: CursorText, to: CursorText, status: string | null = null): string {
  return `/history${writeHistoryParams(new URLSearchParams(), { from, to, status })}`;
}
