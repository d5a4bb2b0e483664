// The client rules' shared cases: the same file the Rust `LiveState` runs
// (crates/protocol/tests/it/live_state_cases.rs), driven through `apply`.
/// <reference types="node" />
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apply, confirm, EMPTY_STATE, highlight, restore, type LiveState } from './liveRules';
import type { CursorText, Report, ServerMessage } from '../types/protocol';

interface Step {
  message: ServerMessage;
  outcome: 'advanced' | 'stale' | 'gap' | 'not-state' | 'error';
  cursor: CursorText | null;
  repos: Array<[string, string]> | null;
  effect: 'resume' | 'request-update' | null;
  health_status?: string | null;
}

interface Case {
  name: string;
  origin: string;
  initial?: { cursor: CursorText; report: Report };
  steps: Step[];
}

// Read from disk (vitest runs in dashboard/): the file lives with the Rust crate, outside what Vite serves.
const casesText = readFileSync(`${process.cwd()}/../crates/protocol/tests/fixtures/live_state_cases.json`, 'utf8');
const { cases } = JSON.parse(casesText) as { cases: Case[] };

const sorted = (repos: Array<[string, string]>) => [...repos].sort((a, b) => (a.join('\0') < b.join('\0') ? -1 : 1));

describe('the shared client-rule cases', () => {
  it('holds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const testCase of cases) {
    it(testCase.name, () => {
      let state: LiveState = testCase.initial
        ? { report: testCase.initial.report, cursor: testCase.initial.cursor, source: 'server' }
        : EMPTY_STATE;
      testCase.steps.forEach((step, index) => {
        const at = `step ${index + 1}`;
        const before = state;
        const result = apply(state, step.message);
        state = result.state;
        expect(result.outcome.kind, at).toBe(step.outcome);
        const resync = result.effects.find((e) => e.kind === 'resume' || e.kind === 'request-update');
        expect(resync?.kind ?? null, at).toBe(step.effect);
        if (resync?.kind === 'resume') expect(resync.since, at).toBe(before.cursor);
        if (step.outcome !== 'advanced') expect(state, `${at}: unchanged`).toBe(before);
        expect(state.cursor, at).toBe(step.cursor);
        const repos = state.report ? state.report.repos.map((r): [string, string] => [r.name, String(r.status)]) : null;
        expect(repos && sorted(repos), at).toEqual(step.repos && sorted(step.repos));
        if (step.health_status !== undefined) expect(state.report?.health_status ?? null, at).toBe(step.health_status);
      });
    });
  }
});

describe('beside the rules', () => {
  const report: Report = { repos: [{ name: 'a', status: 'clean' }] };

  it('a restored state is shown as saved until the server confirms its cursor', () => {
    const saved = restore(EMPTY_STATE, { report, cursor: '9f2c4a1b77d0e3aa:4' });
    expect(saved.source).toBe('saved');
    expect(confirm(saved, '9f2c4a1b77d0e3aa:3')).toBe(saved);
    expect(confirm(saved, '9f2c4a1b77d0e3aa:4').source).toBe('server');
    // A state already there is not replaced by a saved one.
    const live: LiveState = { report, cursor: '9f2c4a1b77d0e3aa:9', source: 'server' };
    expect(restore(live, { report, cursor: '9f2c4a1b77d0e3aa:4' })).toBe(live);
  });

  it('an older saved state takes the older snapshot; a server state does not', () => {
    const saved = restore(EMPTY_STATE, { report, cursor: '9f2c4a1b77d0e3aa:4' });
    const older: ServerMessage = { type: 'audit-update', epoch: '9f2c4a1b77d0e3aa', seq: 2, data: report };
    expect(apply(saved, older).outcome.kind).toBe('advanced');
    expect(apply({ ...saved, source: 'server' }, older).outcome.kind).toBe('stale');
  });

  it('highlights drop expired entries and stamp the touched keys', () => {
    const before = { old: 0, recent: 9_000 };
    expect(highlight(before, [], 10_000, 2_500)).toBe(before);
    expect(highlight(before, ['new'], 10_000, 2_500)).toEqual({ recent: 9_000, new: 10_000 });
  });
});
