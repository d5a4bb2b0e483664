import { describe, expect, it } from 'vitest';
import {
  changesSince,
  chartRows,
  chartStatuses,
  countKinds,
  diffEntries,
  fetchHistoryPage,
  fetchStateAt,
  filterByStatus,
  pointAtOrBefore,
} from './history';
import type { HistoryPoint, RepoChange } from '../types/protocol';

const E = '00000000000000ab';

function point(seq: number, time: string, counts: Record<string, number>): HistoryPoint {
  return {
    cursor: `${E}:${seq}`,
    time,
    kind: 'changes',
    timestamp: null,
    health_status: null,
    summary: null,
    counts,
    repos: [],
    repos_changed: 0,
    meta_changed: false,
  };
}

// Newest first, as the server sends them.
const points = [
  point(9, '2026-12-03T10:00:00.000Z', { clean: 3, archived: 1 }),
  point(5, '2026-12-02T10:00:00.000Z', { clean: 2, dirty: 1 }),
  point(1, '2026-12-01T10:00:00.000Z', { dirty: 2, missing: 1 }),
];

describe('chart rows', () => {
  it('run oldest first with every status counted, unknown ones after the known', () => {
    const statuses = chartStatuses(points);
    expect(statuses).toEqual(['missing', 'dirty', 'mismatched', 'extra', 'clean', 'archived']);
    const rows = chartRows(points, statuses);
    expect(rows.map((r) => r.cursor)).toEqual([`${E}:1`, `${E}:5`, `${E}:9`]);
    expect(rows[0]).toMatchObject({ missing: 1, dirty: 2, clean: 0, archived: 0 });
    expect(rows[2]).toMatchObject({ clean: 3, archived: 1, dirty: 0 });
    expect(rows[1]!.t).toBe(Date.parse('2026-12-02T10:00:00.000Z'));
  });

  it('leave out points whose time cannot be read', () => {
    expect(chartRows([point(2, 'soon', { clean: 1 })], ['clean'])).toEqual([]);
  });
});

describe('the point at a time', () => {
  it('is the newest at or before it, or none before the oldest', () => {
    expect(pointAtOrBefore(points, Date.parse('2026-12-02T12:00:00Z'))?.cursor).toBe(`${E}:5`);
    expect(pointAtOrBefore(points, Date.parse('2026-12-02T10:00:00Z'))?.cursor).toBe(`${E}:5`);
    expect(pointAtOrBefore(points, Date.parse('2027-01-01T00:00:00Z'))?.cursor).toBe(`${E}:9`);
    expect(pointAtOrBefore(points, Date.parse('2026-11-30T00:00:00Z'))).toBeNull();
  });
});

describe('a diff', () => {
  const repos: RepoChange[] = [
    {
      name: 'halo',
      change: 'changed',
      old_status: 'dirty',
      new_status: 'clean',
      ops: [{ op: 'replace', path: '/status', value: 'clean' }],
    },
    {
      name: 'kitshn',
      change: 'changed',
      old_status: 'clean',
      new_status: 'clean',
      ops: [{ op: 'replace', path: '/local_path', value: '/x' }],
    },
    { name: 'new', change: 'added', repo: { name: 'new', status: 'missing' } },
    { name: 'gone', change: 'removed', old_status: 'extra' },
  ];

  it('is sorted into status changes, additions, removals and other fields', () => {
    const entries = diffEntries({ repos });
    expect(entries.map((e) => e.kind)).toEqual(['status', 'fields', 'added', 'removed']);
    expect(countKinds(entries)).toEqual({ status: 1, added: 1, removed: 1, fields: 1 });
  });

  it('filters by a status held at either end', () => {
    const entries = diffEntries({ repos });
    expect(filterByStatus(entries, 'clean').map((e) => e.change.name)).toEqual(['halo', 'kitshn']);
    expect(filterByStatus(entries, 'dirty').map((e) => e.change.name)).toEqual(['halo']);
    expect(filterByStatus(entries, 'extra').map((e) => e.change.name)).toEqual(['gone']);
    expect(filterByStatus(entries, null)).toHaveLength(4);
  });
});

describe('live changes since a point was opened', () => {
  it('count sequence numbers within an epoch and say when the epoch changed', () => {
    expect(changesSince(`${E}:5`, `${E}:9`)).toBe(4);
    expect(changesSince(`${E}:5`, `${E}:5`)).toBe(0);
    expect(changesSince(`${E}:5`, `00000000000000cd:1`)).toBeNull();
    expect(changesSince(null, `${E}:5`)).toBe(0);
  });
});

describe('requests', () => {
  const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } }));

  it('ask for a page with its cursor and limit, and say why there is none', async () => {
    const asked: string[] = [];
    const page = await fetchHistoryPage({ before: `${E}:9`, limit: 20 }, (url) => {
      asked.push(url);
      return respond(200, { points: [], next: null, import: null });
    });
    expect(asked).toEqual([`/api/history?before=${E}%3A9&limit=20`]);
    expect(page).toEqual({ ok: true, value: { points: [], next: null, import: null } });
    const off = await fetchHistoryPage({}, () => respond(404, { error: 'history-off', message: 'no history: --state-dir none' }));
    expect(off).toEqual({ ok: false, failure: { kind: 'off', message: 'no history: --state-dir none' } });
    const gone = await fetchHistoryPage({}, () => respond(404, { error: 'not-retained', message: 'older than kept' }));
    expect(gone.ok ? null : gone.failure.kind).toBe('not-retained');
    const down = await fetchHistoryPage({}, () => Promise.reject(new Error('offline')));
    expect(down.ok ? null : down.failure).toEqual({ kind: 'failed', message: 'offline' });
    const signedOut = await fetchHistoryPage({}, () => respond(401, { error: 'unauthenticated', message: 'sign in' }));
    expect(signedOut.ok ? null : signedOut.failure.kind).toBe('signed-out');
  });

  it('read a past state and its time from Last-Modified', async () => {
    const report = { repos: [{ name: 'halo', status: 'clean' }] };
    const state = await fetchStateAt(`${E}:5`, undefined, (url) => {
      expect(url).toBe(`/api/history/${E}:5`);
      return respond(200, { type: 'audit-update', epoch: E, seq: 5, data: report }, { 'Last-Modified': 'Fri, 04 Dec 2026 10:00:00 GMT' });
    });
    expect(state).toEqual({ ok: true, value: { cursor: `${E}:5`, report, time: new Date('2026-12-04T10:00:00Z') } });
  });
});
