import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { Dashboard } from './Dashboard';
import { chartRows } from './StatusCharts';
import { liveSnapshot, manualStore, renderWithStore } from '../../test/store';
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
    for (const name of ['Total: 3', 'Missing: 1', 'Dirty: 1', 'Mismatched: 0', 'Extra: 0', 'Clean: 1']) {
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
    expect(screen.getByRole('button', { name: 'archived: 1' })).toBeTruthy();
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
    fireEvent.click(screen.getByRole('button', { name: 'Missing: 1' }));
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
    expect(screen.getByRole('button', { name: 'Missing: 0' })).toBeTruthy();
  });
});
