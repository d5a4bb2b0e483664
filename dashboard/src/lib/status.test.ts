import { describe, expect, it } from 'vitest';
import { computeHealth, countByStatus, effectiveHealth, statusLabel, statusTone, summaryDisagreements } from './status';
import type { Repo } from '../types/protocol';

const repos = (...statuses: string[]): Repo[] => statuses.map((status, i) => ({ name: `r${i}`, status }));

describe('countByStatus', () => {
  it('lists every known status, then unknown ones alphabetically', () => {
    expect(countByStatus(repos('clean', 'zany', 'missing', 'clean', 'archived'))).toEqual([
      { status: 'missing', count: 1 },
      { status: 'dirty', count: 0 },
      { status: 'mismatched', count: 0 },
      { status: 'extra', count: 0 },
      { status: 'clean', count: 2 },
      { status: 'archived', count: 1 },
      { status: 'zany', count: 1 },
    ]);
  });
});

describe('computeHealth', () => {
  it('follows the rule: missing → red, dirty/extra/mismatched → yellow, else green', () => {
    expect(computeHealth(countByStatus(repos('clean', 'missing', 'dirty')))).toBe('red');
    expect(computeHealth(countByStatus(repos('clean', 'mismatched')))).toBe('yellow');
    expect(computeHealth(countByStatus(repos('clean', 'extra')))).toBe('yellow');
    expect(computeHealth(countByStatus(repos('clean', 'unheard-of')))).toBe('green');
    expect(computeHealth(countByStatus([]))).toBe('green');
  });

  it('prefers the producer health and falls back to the computed one', () => {
    expect(effectiveHealth({ health_status: 'green', repos: repos('missing') })).toEqual({ health: 'green', computed: 'red' });
    expect(effectiveHealth({ repos: repos('dirty') })).toEqual({ health: 'yellow', computed: 'yellow' });
  });
});

describe('summaryDisagreements', () => {
  it('names each count the producer got wrong', () => {
    expect(summaryDisagreements({ total: 3, missing: 1, dirty: 0, clean: 1 }, repos('missing', 'dirty'))).toEqual([
      { field: 'total', producer: 3, computed: 2 },
      { field: 'dirty', producer: 0, computed: 1 },
      { field: 'clean', producer: 1, computed: 0 },
    ]);
  });

  it('is empty when the summary agrees or is absent', () => {
    expect(summaryDisagreements({ total: 1, missing: 1 }, repos('missing'))).toEqual([]);
    expect(summaryDisagreements(undefined, repos('missing'))).toEqual([]);
  });
});

describe('labels', () => {
  it('names known statuses and shows unknown ones as written', () => {
    expect(statusLabel('mismatched')).toBe('Mismatched');
    expect(statusLabel('archived')).toBe('archived');
    expect(statusTone('archived')).toBe('unknown');
    expect(statusTone('dirty')).toBe('dirty');
  });
});
