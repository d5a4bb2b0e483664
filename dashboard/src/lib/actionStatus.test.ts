import { describe, expect, it } from 'vitest';
import { latestForRepo, mergeActionLog, recordActionStatus, statusFromLog, type ActionStatuses } from './actionStatus';
import type { ActionLogEntry, ActionStatus } from '../types/protocol';

const status = (id: number, state: ActionStatus['state'], repo = 'halo', summary = ''): ActionStatus => ({
  id,
  action: 'commit',
  repo,
  who: 'operator',
  state,
  summary,
  at: `2026-01-01T00:00:${String(id % 60).padStart(2, '0')}Z`,
});

const logEntry = (id: number, result: string, extra: Partial<ActionLogEntry> = {}): ActionLogEntry => ({
  id,
  who: 'operator',
  action: 'commit',
  repo: 'halo',
  dry_run: false,
  result,
  error_class: null,
  summary: `entry ${id}`,
  output: '',
  started_at: '2026-01-01T00:00:00Z',
  ended_at: result === 'running' ? null : '2026-01-01T00:00:05Z',
  ...extra,
});

describe('recordActionStatus', () => {
  it('keeps the last status per id, and an ended action stays ended', () => {
    let statuses: ActionStatuses = {};
    statuses = recordActionStatus(statuses, status(1, 'running'));
    statuses = recordActionStatus(statuses, status(1, 'done', 'halo', 'committed 2 files'));
    expect(statuses[1]?.state).toBe('done');
    // A late `running` (the log read overtaking the socket) does not undo the end.
    const after = recordActionStatus(statuses, status(1, 'running'));
    expect(after).toBe(statuses);
  });

  it('returns the same record when nothing changes, and ignores what is not a status', () => {
    const statuses = recordActionStatus({}, status(3, 'failed', 'x', 'no'));
    expect(recordActionStatus(statuses, status(3, 'failed', 'x', 'no'))).toBe(statuses);
    expect(recordActionStatus(statuses, { ...status(4, 'done'), state: 'exploded' as never })).toBe(statuses);
  });

  it('keeps at most `max` statuses, dropping the oldest ids', () => {
    let statuses: ActionStatuses = {};
    for (let id = 1; id <= 250; id++) statuses = recordActionStatus(statuses, status(id, 'done'));
    const ids = Object.keys(statuses).map(Number);
    expect(ids.length).toBe(200);
    expect(Math.min(...ids)).toBe(51);
    expect(Math.max(...ids)).toBe(250);
    expect(Object.keys(recordActionStatus({}, status(1, 'done'), 0)).length).toBe(0);
  });
});

describe('the action log', () => {
  it('stands for statuses, leaving out previews and looks at the changes', () => {
    expect(statusFromLog(logEntry(1, 'done'))).toMatchObject({ id: 1, state: 'done', summary: 'entry 1', at: '2026-01-01T00:00:05Z' });
    expect(statusFromLog(logEntry(2, 'running'))).toMatchObject({ state: 'running', at: '2026-01-01T00:00:00Z' });
    expect(statusFromLog(logEntry(3, 'previewed', { dry_run: true }))).toBeNull();
    expect(statusFromLog(logEntry(4, 'done', { action: 'changes' }))).toBeNull();
  });

  it('merges a page (newest first) and reports what it changed', () => {
    const before = recordActionStatus({}, status(5, 'running'));
    const { statuses, changed } = mergeActionLog(before, [
      logEntry(6, 'failed'),
      logEntry(5, 'done'),
      logEntry(4, 'previewed', { dry_run: true }),
    ]);
    expect(statuses[5]?.state).toBe('done');
    expect(statuses[6]?.state).toBe('failed');
    expect(statuses[4]).toBeUndefined();
    expect(changed.map((c) => c.id)).toEqual([5, 6]);
    expect(mergeActionLog(statuses, [logEntry(5, 'done')]).changed).toEqual([]);
  });

  it('finds the newest action on a repository', () => {
    let statuses: ActionStatuses = {};
    statuses = recordActionStatus(statuses, status(8, 'done', 'halo'));
    statuses = recordActionStatus(statuses, status(9, 'running', 'kitshn'));
    statuses = recordActionStatus(statuses, status(10, 'failed', 'halo'));
    expect(latestForRepo(statuses, 'halo')?.id).toBe(10);
    expect(latestForRepo(statuses, 'kitshn')?.state).toBe('running');
    expect(latestForRepo(statuses, 'nobody')).toBeNull();
  });
});
