import { act, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RepositoryCard } from './RepositoryCard';
import type { Repo } from '../types/protocol';

const mismatched: Repo = {
  name: 'ha-notify',
  status: 'mismatched',
  local_path: '/srv/git/ha-notify',
  remote_url: 'https://github.com/alice/ha_person_notify.git',
  expected_url: 'https://github.com/alice/ha-notify.git',
  dashboard_link: '/audit/ha-notify?action=fix_remote',
  mitigation: 'fix_remote_or_rename',
  branch: 'main',
  lastCommitAgeDays: 3,
};

/** The value beside a label among the card's key facts (not the details). */
function factText(card: HTMLElement, label: string): string | null {
  const list = card.querySelector(':scope > dl.card__fields');
  const term = Array.from(list?.querySelectorAll('dt') ?? []).find((dt) => dt.textContent === label);
  return term?.nextElementSibling?.textContent ?? null;
}

/** A clean clone as the auditor writes it, with one commit it never pushed. */
const unpushed: Repo = {
  name: 'kitshn',
  status: 'clean',
  local_path: '/srv/git/kitshn',
  clone_url: 'https://github.com/alice/kitshn.git',
  remote_url: 'https://github.com/alice/kitshn.git',
  file_status: 'missing_files',
  missing_files: ['.gitignore'],
  dashboard_link: '/audit/kitshn?action=view',
  branch: 'main',
  detached: false,
  upstream: 'origin/main',
  ahead: 2,
  behind: 0,
  unpushed_commits: 2,
  stash_count: 1,
  last_commit: '2026-12-01T10:00:00Z',
  last_commit_age_days: 3,
  last_commit_message: 'Add the living-room sensors',
  staged: 0,
  unstaged: 0,
  untracked: 0,
  conflicted: 0,
};

describe('RepositoryCard', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows status, path, URLs, the mitigation text and the facts in words', () => {
    render(<RepositoryCard repo={mismatched} dup={0} mitigationText="Point origin at the expected repository" changedAt={undefined} />);
    const card = screen.getByRole('article', { name: 'ha-notify' });
    expect(card.textContent).toContain('Mismatched');
    expect(card.textContent).toContain('/srv/git/ha-notify');
    expect(card.textContent).toContain('Point origin at the expected repository');
    expect(factText(card, 'Branch')).toBe('main');
    expect(factText(card, 'Last commit')).toBe('3 days ago');
    // No raw report keys.
    expect(card.textContent).not.toContain('lastCommitAgeDays');
    const expected = screen.getByRole('link', { name: /ha-notify\.git/ });
    expect(expected.getAttribute('href')).toBe('https://github.com/alice/ha-notify.git');
    expect(expected.getAttribute('rel')).toContain('noopener');
    expect(screen.getByRole('link', { name: 'ha-notify' }).getAttribute('href')).toBe('/audit/ha-notify?action=fix_remote');
  });

  it('a clean repository with unpushed commits shows it as a badge beside "Clean", not buried', () => {
    render(<RepositoryCard repo={unpushed} dup={0} mitigationText={undefined} changedAt={undefined} />);
    const card = screen.getByRole('article', { name: 'kitshn' });
    expect(card.getAttribute('data-status')).toBe('clean');
    const badges = within(card).getByRole('list', { name: 'Needs attention' });
    expect(
      within(badges)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['2 unpushed', '1 stash']);
    expect(factText(card, 'Remote sync')).toBe('2 ahead · 0 behind');
    expect(factText(card, 'Files')).toBe('no .gitignore');
    expect(factText(card, 'Last commit')).toBe('3 days ago');
    expect(factText(card, 'Stash')).toBe('1 entry');
  });

  it('shows a few facts; the rest is behind a closed "details" disclosure, labelled', () => {
    render(<RepositoryCard repo={unpushed} dup={0} mitigationText={undefined} changedAt={undefined} />);
    const card = screen.getByRole('article', { name: 'kitshn' });
    const keyFacts = card.querySelectorAll(':scope > dl.card__fields dt');
    expect(keyFacts.length).toBeLessThanOrEqual(7);
    const details = card.querySelector('details');
    expect(details?.open).toBe(false);
    expect(details?.querySelector('summary')?.textContent).toMatch(/^Details/);
    const labels = Array.from(details?.querySelectorAll('dt') ?? []).map((dt) => dt.textContent);
    expect(labels).toEqual(expect.arrayContaining(['Clone URL', 'Remote', 'Commit message', 'Last commit']));
    expect(labels.join(' ')).not.toMatch(/_/);
  });

  it('falls back to the mitigation key when the report has no text for it', () => {
    render(<RepositoryCard repo={mismatched} dup={0} mitigationText={undefined} changedAt={undefined} />);
    expect(screen.getByRole('article').textContent).toContain('fix_remote_or_rename');
  });

  it('highlights briefly after a live change', () => {
    const { rerender } = render(<RepositoryCard repo={mismatched} dup={0} mitigationText={undefined} changedAt={undefined} />);
    const card = () => screen.getByRole('article');
    expect(card().className).not.toContain('card--changed');
    rerender(<RepositoryCard repo={{ ...mismatched, status: 'clean' }} dup={0} mitigationText={undefined} changedAt={Date.now()} />);
    expect(card().className).toContain('card--changed');
    act(() => {
      vi.advanceTimersByTime(2_600);
    });
    expect(card().className).not.toContain('card--changed');
  });

  it('marks the repository a link points at, with the suggested action', () => {
    render(<RepositoryCard repo={mismatched} dup={0} mitigationText={undefined} changedAt={undefined} selected action="fix_remote" />);
    expect(screen.getByRole('article').getAttribute('aria-current')).toBe('true');
    expect(screen.getByRole('note').textContent).toBe('Suggested action: fix remote');
  });

  it('numbers a repeated name', () => {
    render(<RepositoryCard repo={{ name: 'twin', status: 'clean' }} dup={1} mitigationText={undefined} changedAt={undefined} />);
    expect(screen.getByRole('article').id).toBe('repo-twin-1');
    expect(screen.getByRole('article').textContent).toContain('#2');
  });
});
