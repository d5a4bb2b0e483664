import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { Dashboard } from './Dashboard';
import { chartRows } from './StatusCharts';
import { liveSnapshot, manualStore, renderWithStore, serverStatus } from '../../test/store';
import { sampleReport } from '../../test/fakes';
import { countByStatus } from '../../lib/status';
import type { Report } from '../../types/protocol';

function reportWith(repos: Report['repos'], patch: Partial<Report> = {}): Report {
  return { ...sampleReport(), repos, ...patch };
}

const names = () =>
  screen.queryAllByRole('article').map((a) => a.getAttribute('aria-labelledby') && within(a).getByRole('heading').textContent);

describe('Dashboard', () => {
  it('shows health, report time and counts computed from the repositories', () => {
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    expect(screen.getByRole('img', { name: /Health: red/ })).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'GitOps audit' })).toBeTruthy();
    expect(document.querySelector('time')?.getAttribute('dateTime')).toBe('2025-06-20T03:00:00.000Z');
    // The visible text is the name ("3 Total"), so speech and voice control agree with the screen.
    for (const name of ['3 Total', '1 Missing', '1 Dirty', '0 Mismatched', '0 Extra', '1 Clean']) {
      expect(screen.getByRole('button', { name })).toBeTruthy();
    }
    expect(screen.queryByRole('note')).toBeNull();
  });

  it('notes where the producer summary disagrees with the list', () => {
    const report = reportWith(sampleReport().repos, { summary: { total: 5, missing: 1, dirty: 3, clean: 1 } });
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ report })));
    const note = screen.getByRole('note');
    expect(note.textContent).toContain('total 5 in the summary, 3 in the list');
    expect(note.textContent).toContain('dirty 3 in the summary, 1 in the list');
    expect(note.textContent).not.toContain('missing');
  });

  it('notes when the producer health disagrees with the health rule', () => {
    const report = reportWith(sampleReport().repos, { health_status: 'green' });
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ report })));
    expect(screen.getByText(/the repository list makes it/).textContent).toContain('red');
  });

  it('counts and charts unknown statuses too', () => {
    const repos = [...sampleReport().repos, { name: 'old', status: 'archived' }];
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ report: reportWith(repos) })));
    expect(screen.getByRole('button', { name: '1 archived' })).toBeTruthy();
    const rows = chartRows(countByStatus(repos));
    expect(rows.map((r) => [r.label, r.count, r.tone])).toContainEqual(['archived', 1, 'unknown']);
    expect(rows.map((r) => r.status)).toEqual(['missing', 'dirty', 'mismatched', 'extra', 'clean', 'archived']);
  });

  it('searches by name and filters by status', () => {
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    expect(names()).toEqual(['halo', 'esphome', 'kitshn']);
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search repositories by name' }), { target: { value: 'HOM' } });
    expect(names()).toEqual(['esphome']);
    expect(screen.getByText('1 of 3 shown')).toBeTruthy();
    fireEvent.change(screen.getByRole('searchbox'), { target: { value: '' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Status' }), { target: { value: 'clean' } });
    expect(names()).toEqual(['kitshn']);
    fireEvent.click(screen.getByRole('button', { name: '1 Missing' }));
    expect(names()).toEqual(['halo']);
    fireEvent.change(screen.getByRole('searchbox'), { target: { value: 'nothing-like-this' } });
    expect(screen.getByText(/No repository matches/)).toBeTruthy();
  });

  it('highlights and scrolls to the repository of a /audit/:repo link', () => {
    const scrolled = vi.spyOn(Element.prototype, 'scrollIntoView');
    renderWithStore(<Dashboard focus={{ name: 'esphome', action: 'commit' }} />, manualStore(liveSnapshot()));
    const card = screen.getByRole('article', { name: 'esphome' });
    expect(card.className).toContain('card--selected');
    expect(within(card).getByRole('note').textContent).toBe('Suggested action: commit');
    expect(scrolled).toHaveBeenCalled();
    expect(scrolled.mock.contexts[0]).toBe(card);
    expect(screen.getByRole('navigation', { name: 'Repository' }).textContent).toContain('Showing esphome');
  });

  it('says so when the linked repository is not in the report', () => {
    renderWithStore(<Dashboard focus={{ name: 'ghost', action: null }} />, manualStore(liveSnapshot()));
    expect(screen.getByRole('alert').textContent).toBe('ghost is not in the current report.');
  });

  it('follows live changes and passes the highlight to the changed card', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Dashboard focus={null} />, store);
    const report = sampleReport();
    report.repos[0] = { ...report.repos[0]!, status: 'clean' };
    act(() => store.set({ report, changedAt: { 'halo\u00000': Date.now() } }));
    const card = screen.getByRole('article', { name: 'halo' });
    expect(card.getAttribute('data-status')).toBe('clean');
    expect(card.className).toContain('card--changed');
    expect(screen.getByRole('button', { name: '0 Missing' })).toBeTruthy();
  });

  it('keeps the search and status filter in the URL; back and forward restore them', async () => {
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    fireEvent.change(screen.getByRole('combobox', { name: 'Status' }), { target: { value: 'clean' } });
    expect(window.location.search).toBe('?status=clean');
    fireEvent.change(screen.getByRole('searchbox'), { target: { value: 'k' } });
    fireEvent.change(screen.getByRole('searchbox'), { target: { value: 'ki' } });
    expect(window.location.search).toBe('?status=clean&q=ki');
    expect(names()).toEqual(['kitshn']);
    // Typing replaced its own entry: one step back is before the search, two before the filter.
    const search = () => (screen.getByRole('searchbox') as HTMLInputElement).value;
    const status = () => (screen.getByRole('combobox', { name: 'Status' }) as HTMLSelectElement).value;
    act(() => window.history.back());
    await waitFor(() => expect(window.location.search).toBe('?status=clean'));
    await waitFor(() => expect(search()).toBe(''));
    expect(status()).toBe('clean');
    act(() => window.history.back());
    await waitFor(() => expect(window.location.search).toBe(''));
    await waitFor(() => expect(names()).toEqual(['halo', 'esphome', 'kitshn']));
    expect(status()).toBe('');
    act(() => window.history.forward());
    await waitFor(() => expect(status()).toBe('clean'));
    expect(names()).toEqual(['kitshn']);
  });

  it('restores the view, sort, filters and search from the URL on load', () => {
    window.history.replaceState(null, '', '/?view=cards&status=missing&q=HAL');
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    expect(names()).toEqual(['halo']);
    expect((screen.getByRole('searchbox') as HTMLInputElement).value).toBe('HAL');
    expect((screen.getByRole('combobox', { name: 'Status' }) as HTMLSelectElement).value).toBe('missing');
    expect(screen.getByRole('button', { name: /Cards/ }).getAttribute('aria-pressed')).toBe('true');
  });

  it('counts the git states that need attention in the header, and filters by them', () => {
    const repos: Report['repos'] = [
      {
        name: 'pushed',
        status: 'clean',
        upstream: 'origin/main',
        ahead: 0,
        behind: 0,
        unpushed_commits: 0,
        stash_count: 0,
        detached: false,
      },
      {
        name: 'unpushed',
        status: 'clean',
        upstream: 'origin/main',
        ahead: 1,
        behind: 0,
        unpushed_commits: 1,
        stash_count: 0,
        detached: false,
      },
      { name: 'lonely', status: 'dirty', upstream: null, ahead: null, behind: null, unpushed_commits: 3, stash_count: 2, detached: false },
    ];
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ report: reportWith(repos) })));
    const header = screen.getByRole('list', { name: 'Needs attention besides the status' });
    expect(
      within(header)
        .getAllByRole('button')
        .map((b) => b.textContent),
    ).toEqual(['2 unpushed', '0 behind', '0 detached head', '1 no upstream', '1 stash']);
    // Five statuses still: the clean one with an unpushed commit counts as clean.
    expect(screen.getByRole('button', { name: '2 Clean' })).toBeTruthy();
    fireEvent.click(within(header).getByRole('button', { name: '2 unpushed' }));
    expect(window.location.search).toBe('?flag=unpushed');
    expect(names()).toEqual(['lonely', 'unpushed']);
    fireEvent.change(screen.getByRole('combobox', { name: 'Attention' }), { target: { value: 'stash' } });
    expect(names()).toEqual(['lonely']);
  });

  it('shows no attention counts for producers that write no git facts', () => {
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    expect(screen.queryByRole('list', { name: 'Needs attention besides the status' })).toBeNull();
    expect(screen.queryByRole('combobox', { name: 'Attention' })).toBeNull();
  });

  it('switches to the table, sorts by a column header, and keeps both in the URL', () => {
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot()));
    fireEvent.click(screen.getByRole('button', { name: /Table/ }));
    expect(window.location.search).toBe('?view=table');
    const table = screen.getByRole('table');
    const rowNames = () =>
      within(table)
        .getAllByRole('row')
        .slice(1)
        .map((row) => within(row).getByRole('link').textContent);
    expect(rowNames()).toEqual(['halo', 'esphome', 'kitshn']);
    const nameHeader = within(table).getByRole('columnheader', { name: /Name/ });
    fireEvent.click(within(nameHeader).getByRole('button'));
    expect(window.location.search).toBe('?view=table&sort=name');
    expect(nameHeader.getAttribute('aria-sort')).toBe('ascending');
    expect(rowNames()).toEqual(['esphome', 'halo', 'kitshn']);
    fireEvent.click(within(nameHeader).getByRole('button'));
    expect(window.location.search).toBe('?view=table&sort=-name');
    expect(rowNames()).toEqual(['kitshn', 'halo', 'esphome']);
    expect(table.getAttribute('aria-rowcount')).toBe('4');
  });

  it('starts as a table for a large report when the URL does not choose', () => {
    const repos = Array.from({ length: 250 }, (_, i) => ({ name: `repo-${i}`, status: 'clean' }));
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ report: reportWith(repos) })));
    expect(screen.getByRole('table')).toBeTruthy();
    // Virtualised: far fewer rows in the DOM than repositories.
    expect(screen.getAllByRole('row').length).toBeLessThan(80);
  });

  it('in live-audit mode says when the last audit ran, not how old the report timestamp is', () => {
    const lastAudit = new Date(Date.now() - 5_000).toISOString();
    const status = serverStatus({ watch: 'auditing', path: '/srv/git', last_loaded: lastAudit });
    renderWithStore(<Dashboard focus={null} />, manualStore(liveSnapshot({ serverStatus: status })));
    const overview = screen.getByRole('region', { name: 'GitOps audit' });
    expect(overview.textContent).toContain('Last audit');
    expect(overview.textContent).toMatch(/\d+ s ago/);
    expect(overview.textContent).not.toContain('Report of');
  });

  it('a link to one repository from the table shows its card above the table and marks its row', () => {
    window.history.replaceState(null, '', '/audit/esphome?action=commit&view=table');
    renderWithStore(<Dashboard focus={{ name: 'esphome', action: 'commit' }} />, manualStore(liveSnapshot()));
    const card = screen.getByRole('article', { name: 'esphome' });
    expect(card.className).toContain('card--selected');
    expect(screen.getAllByRole('article')).toHaveLength(1);
    const row = within(screen.getByRole('table'))
      .getAllByRole('row')
      .find((r) => r.getAttribute('aria-current') === 'true');
    expect(row?.id).toBe('row-esphome-0');
    expect(within(row!).getByRole('link').getAttribute('href')).toBe('/audit/esphome?view=table');
  });
});
