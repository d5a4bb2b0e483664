import { act, render, screen } from '@testing-library/react';
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

describe('RepositoryCard', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows status, path, URLs, the mitigation text and other fields', () => {
    render(<RepositoryCard repo={mismatched} dup={0} mitigationText="Point origin at the expected repository" changedAt={undefined} />);
    const card = screen.getByRole('article', { name: 'ha-notify' });
    expect(card.textContent).toContain('Mismatched');
    expect(card.textContent).toContain('/srv/git/ha-notify');
    expect(card.textContent).toContain('Point origin at the expected repository');
    expect(card.textContent).toContain('branch');
    expect(card.textContent).toContain('lastCommitAgeDays');
    const expected = screen.getByRole('link', { name: /ha-notify\.git/ });
    expect(expected.getAttribute('href')).toBe('https://github.com/alice/ha-notify.git');
    expect(expected.getAttribute('rel')).toContain('noopener');
    expect(screen.getByRole('link', { name: 'ha-notify' }).getAttribute('href')).toBe('/audit/ha-notify?action=fix_remote');
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
