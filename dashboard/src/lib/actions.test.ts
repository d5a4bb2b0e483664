import { describe, expect, it } from 'vitest';
import { ActionError, actionsClient, actionsFor, confirms, formatBytes, repoPath } from './actions';
import { json, scriptedFetch } from '../test/fakes';
import { operatorSession, signedInSession } from '../test/store';
import type { Repo } from '../types/protocol';

const BASE = 'http://dash.test/';

describe('actionsClient', () => {
  it('posts JSON with the cookie, dry runs with dry_run true, and reads 202', async () => {
    const { fetch, calls } = scriptedFetch((_url, init) => {
      const body = JSON.parse(String(init?.body)) as { dry_run: boolean };
      return body.dry_run
        ? json({
            action: 'commit',
            repo: 'alice/halo',
            preview: { action: 'commit', branch: 'main', files: [], message: 'm', author: 'a <b>' },
          })
        : json({ id: 7, action: 'commit', repo: 'alice/halo', state: 'running' }, { status: 202 });
    });
    const client = actionsClient({ fetch, baseUrl: BASE });
    const preview = await client.preview('alice/halo', 'commit');
    expect(preview.preview.action).toBe('commit');
    const accepted = await client.run('alice/halo', 'commit', { message: 'fix it' });
    expect(accepted).toEqual({ id: 7, action: 'commit', repo: 'alice/halo', state: 'running' });
    for (const call of calls) {
      expect(call.url.pathname).toBe('/api/repos/alice%2Fhalo/actions/commit');
      expect(call.init?.method).toBe('POST');
      expect(call.init?.credentials).toBe('same-origin');
      expect(new Headers(call.init?.headers).get('Content-Type')).toBe('application/json');
    }
    expect(JSON.parse(String(calls[0]?.init?.body))).toEqual({ dry_run: true });
    expect(JSON.parse(String(calls[1]?.init?.body))).toEqual({ message: 'fix it', dry_run: false });
  });

  it("turns a refusal into an ActionError with the server's code and message", async () => {
    const client = actionsClient({
      fetch: scriptedFetch(() => json({ error: 'busy', message: 'another action runs on halo' }, { status: 409 })).fetch,
      baseUrl: BASE,
    });
    const error = await client.run('halo', 'clone').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionError);
    expect(error).toMatchObject({ status: 409, code: 'busy', message: 'another action runs on halo', operatorLost: false });
  });

  it('names an answer that is not JSON by its status, and an unreachable server by status 0', async () => {
    const html = actionsClient({ fetch: scriptedFetch(() => new Response('<html>bad gateway', { status: 502 })).fetch, baseUrl: BASE });
    await expect(html.trash()).rejects.toMatchObject({ status: 502, code: 'http-502', message: 'the server answered 502' });
    const offline = actionsClient({ fetch: scriptedFetch(() => Promise.reject(new TypeError('Failed to fetch'))).fetch, baseUrl: BASE });
    await expect(offline.auditRun()).rejects.toMatchObject({ status: 0, code: 'unreachable' });
  });

  it('tells a lost operator session (401, 403 operator-required) from other refusals', async () => {
    const answers: Array<[number, string]> = [
      [401, 'unauthenticated'],
      [403, 'operator-required'],
      [403, 'origin'],
      [403, 'actions-off'],
      [415, 'json-required'],
    ];
    const lost = [];
    for (const [status, code] of answers) {
      const client = actionsClient({ fetch: scriptedFetch(() => json({ error: code, message: code }, { status })).fetch, baseUrl: BASE });
      lost.push(((await client.changes('x').catch((e: unknown) => e)) as ActionError).operatorLost);
    }
    expect(lost).toEqual([true, true, false, false, false]);
  });

  it('asks the action log with its query, and batches with the items in order', async () => {
    const { fetch, calls } = scriptedFetch((url) =>
      url.pathname === '/api/actions/batch'
        ? json({ results: [{ repo: 'a', action: 'clone', status: 202, id: 1 }] })
        : json({ actions: [], next: null }),
    );
    const client = actionsClient({ fetch, baseUrl: BASE });
    await client.actionLog({ limit: 50, before: 12, repo: 'a/b' });
    expect(calls[0]?.url.search).toBe('?limit=50&before=12&repo=a%2Fb');
    await client.actionLog({ limit: 50, previews: false });
    expect(calls[1]?.url.search).toBe('?limit=50&previews=false');
    expect(await client.batch([{ repo: 'a', action: 'clone' }], false)).toEqual([{ repo: 'a', action: 'clone', status: 202, id: 1 }]);
    expect(JSON.parse(String(calls[2]?.init?.body))).toEqual({ actions: [{ repo: 'a', action: 'clone' }], dry_run: false });
  });

  it('signs the operator in through /api/session and says whether the token made an operator', async () => {
    const operator = actionsClient({ fetch: scriptedFetch(() => json(operatorSession())).fetch, baseUrl: BASE });
    expect(await operator.signInOperator('op')).toMatchObject({ ok: true, operator: true });
    const viewer = actionsClient({ fetch: scriptedFetch(() => json(signedInSession())).fetch, baseUrl: BASE });
    expect(await viewer.signInOperator('viewer')).toMatchObject({ ok: true, operator: false });
  });
});

describe('actionsFor', () => {
  const repo = (status: string, extra: Partial<Repo> = {}): Repo => ({ name: 'r', status, ...extra }) as Repo;
  it('offers the actions that fit each status', () => {
    expect(actionsFor(repo('dirty'))).toEqual(['changes', 'commit', 'discard']);
    expect(actionsFor(repo('missing'))).toEqual(['clone']);
    expect(actionsFor(repo('mismatched'))).toEqual(['fix-remote']);
    expect(actionsFor(repo('extra'))).toEqual(['delete']);
    expect(actionsFor(repo('clean'))).toEqual([]);
    expect(actionsFor(repo('something-new'))).toEqual([]);
  });
  it('adds push and pull where the report counts commits ahead and behind', () => {
    expect(actionsFor(repo('clean', { ahead: 2, behind: 0 }))).toEqual(['push']);
    expect(actionsFor(repo('clean', { ahead: 0, behind: 3 }))).toEqual(['pull']);
    expect(actionsFor(repo('dirty', { ahead: 1, behind: 1 }))).toEqual(['changes', 'commit', 'discard', 'push']);
    expect(actionsFor(repo('missing', { ahead: 1 }))).toEqual(['clone']);
    // Commits on a branch without an upstream have nowhere to be pushed to.
    expect(actionsFor(repo('dirty', { ahead: null, unpushed_commits: 1, upstream: null }))).toEqual(['changes', 'commit', 'discard']);
    expect(actionsFor(repo('clean', { ahead: null, unpushed_commits: 2, upstream: 'origin/main' }))).toEqual(['push']);
  });
});

describe('small helpers', () => {
  it('confirms only the exact name', () => {
    expect(confirms('alice/halo', 'alice/halo')).toBe(true);
    expect(confirms(' alice/halo ', 'alice/halo')).toBe(true);
    expect(confirms('Alice/halo', 'alice/halo')).toBe(false);
    expect(confirms('alice/hal', 'alice/halo')).toBe(false);
    expect(confirms('', 'alice/halo')).toBe(false);
  });
  it('encodes the repository as one path segment and writes sizes in words', () => {
    expect(repoPath('a/b c', 'changes')).toBe('/api/repos/a%2Fb%20c/changes');
    expect([formatBytes(512), formatBytes(3482), formatBytes(5 * 1024 ** 3)]).toEqual(['512 B', '3.4 KB', '5.0 GB']);
  });
});
