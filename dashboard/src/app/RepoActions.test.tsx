import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ActionsClientContext } from '../features/actions/client';
import { ActionDialogs } from '../features/actions/dialogs';
import { RepoActions } from '../features/actions/RepoActions';
import { Dashboard } from '../features/dashboard/Dashboard';
import { actionsClient } from '../lib/actions';
import { json, sampleReport, scriptedFetch } from '../test/fakes';
import { liveSnapshot, manualStore, operatorSession, renderWithStore, signedInSession, type ManualStore } from '../test/store';
import type { Repo } from '../types/protocol';
import { EPOCH } from '../test/fakes';

const repoActions = (repo: Repo) => <RepoActions repo={repo} />;

const DISCARD_PREVIEW = {
  action: 'discard',
  head: '0123456789abcdef',
  lost: [
    { path: 'src/main.rs', loss: 'modified' },
    { path: 'notes.txt', loss: 'untracked' },
  ],
  kept: [],
  fingerprint: 'fp-1',
};

function server() {
  return scriptedFetch((url, init) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as { dry_run?: boolean };
    if (url.pathname.endsWith('/actions/discard')) {
      return body.dry_run
        ? json({ action: 'discard', repo: 'esphome', preview: DISCARD_PREVIEW })
        : json({ id: 9, action: 'discard', repo: 'esphome', state: 'running' }, { status: 202 });
    }
    if (url.pathname.endsWith('/actions/commit')) {
      return json({ error: 'busy', message: 'another action runs on esphome' }, { status: 409 });
    }
    return json({ actions: [], next: null });
  });
}

function renderDashboard(store: ManualStore, fetch = server()) {
  const client = actionsClient({ fetch: fetch.fetch, baseUrl: 'http://dash.test/' });
  renderWithStore(
    <ActionsClientContext.Provider value={client}>
      <Dashboard focus={null} repoActions={repoActions} tools={null} />
    </ActionsClientContext.Provider>,
    store,
  );
  return fetch;
}

const card = (name: string) => screen.getByRole('article', { name });
const buttonsOf = (name: string) =>
  within(card(name))
    .queryAllByRole('button')
    .map((b) => b.textContent)
    .filter((t) => t !== 'Details');

describe('actions on repositories', () => {
  it('offers the operator the actions that fit each status, and nothing on a clean repository', () => {
    renderDashboard(manualStore(liveSnapshot({ session: operatorSession() })));
    expect(buttonsOf('esphome')).toEqual(['View changes', 'Commit…', 'Discard…']);
    expect(buttonsOf('halo')).toEqual(['Clone…']);
    expect(buttonsOf('kitshn')).toEqual([]);
  });

  it('shows no action to a viewer, or where the server cannot act', () => {
    renderDashboard(manualStore(liveSnapshot({ session: signedInSession() })));
    expect(buttonsOf('esphome')).toEqual([]);
    expect(screen.queryByRole('group', { name: /Actions on/ })).toBeNull();
  });

  it('hides every action over a past point', () => {
    const store = manualStore(liveSnapshot({ session: operatorSession() }));
    const client = actionsClient({ fetch: server().fetch, baseUrl: 'http://dash.test/' });
    renderWithStore(
      <ActionsClientContext.Provider value={client}>
        <Dashboard
          focus={null}
          past={{ report: sampleReport(), cursor: `${EPOCH}:1` }}
          repoActions={repoActions}
          tools={<button>Audit now</button>}
        />
      </ActionsClientContext.Provider>,
      store,
    );
    expect(buttonsOf('esphome')).toEqual([]);
    expect(buttonsOf('halo')).toEqual([]);
    expect(screen.queryByRole('button', { name: 'Audit now' })).toBeNull();
    expect(screen.queryByRole('link', { name: 'Export CSV' })).toBeNull();
  });

  it('keeps Discard disabled until the name is typed, then sends the confirmation and the fingerprint', async () => {
    const store = manualStore(liveSnapshot({ session: operatorSession() }));
    const fetch = renderDashboard(store);
    fireEvent.click(within(card('esphome')).getByRole('button', { name: 'Discard…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Discard esphome' });
    await within(dialog).findByRole('list', { name: 'What will be lost' });
    expect(within(dialog).getByText('src/main.rs')).toBeTruthy();
    expect(within(dialog).getByText('notes.txt')).toBeTruthy();
    const run = within(dialog).getByRole('button', { name: 'Discard' }) as HTMLButtonElement;
    const field = within(dialog).getByLabelText(/to confirm/);
    expect(run.disabled).toBe(true);
    fireEvent.change(field, { target: { value: 'esphom' } });
    expect(run.disabled).toBe(true);
    fireEvent.click(run);
    expect(fetch.calls.filter((c) => !String(c.init?.body).includes('"dry_run":true'))).toEqual([]);
    fireEvent.change(field, { target: { value: 'esphome' } });
    expect(run.disabled).toBe(false);
    fireEvent.click(run);
    await within(dialog).findByText(/Discarding/);
    const sent = fetch.calls.map((c) => JSON.parse(String(c.init?.body)) as Record<string, unknown>);
    expect(sent.at(-1)).toEqual({ confirm: 'esphome', fingerprint: 'fp-1', dry_run: false });
    // The end arrives as an action-status with the id of the 202.
    act(() =>
      store.actionStatus({ id: 9, action: 'discard', repo: 'esphome', who: 'op', state: 'done', summary: 'discarded 2 paths', at: 'x' }),
    );
    expect(within(dialog).getByRole('status').textContent).toContain('discarded 2 paths');
    // The repository turns clean: the dialog stays, with the end, until closed.
    const report = sampleReport();
    report.repos = report.repos.map((r) => (r.name === 'esphome' ? { ...r, status: 'clean' } : r));
    act(() => store.set({ report }));
    expect(screen.getByRole('dialog', { name: 'Discard esphome' }).textContent).toContain('discarded 2 paths');
  });

  it("shows the server's refusal, and Escape closes the dialog", async () => {
    renderDashboard(manualStore(liveSnapshot({ session: operatorSession() })));
    const open = within(card('esphome')).getByRole('button', { name: 'Commit…' });
    open.focus();
    fireEvent.click(open);
    const dialog = await screen.findByRole('dialog', { name: 'Commit esphome' });
    await waitFor(() => expect(within(dialog).getByRole('alert').textContent).toContain('another action runs on esphome'));
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(open);
  });

  it("keeps a dialog open in the app's host when its repository's card goes away", async () => {
    const store = manualStore(liveSnapshot({ session: operatorSession() }));
    const fetch = scriptedFetch(() =>
      json({
        action: 'clone',
        repo: 'halo',
        preview: { action: 'clone', url: 'u', folder: 'halo', path: '/srv/git/halo', timeout_seconds: 600 },
      }),
    );
    const client = actionsClient({ fetch: fetch.fetch, baseUrl: 'http://dash.test/' });
    renderWithStore(
      <ActionsClientContext.Provider value={client}>
        <ActionDialogs>
          <Dashboard focus={null} repoActions={repoActions} />
        </ActionDialogs>
      </ActionsClientContext.Provider>,
      store,
    );
    fireEvent.click(within(card('halo')).getByRole('button', { name: 'Clone…' }));
    await screen.findByText('/srv/git/halo');
    const report = sampleReport();
    report.repos = report.repos.filter((r) => r.name !== 'halo');
    act(() => store.set({ report }));
    expect(screen.queryByRole('article', { name: 'halo' })).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Clone halo' })).toBeTruthy();
  });
});
