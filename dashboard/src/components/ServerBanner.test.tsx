import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { errorText, formatEvery, ServerBanner } from './ServerBanner';
import { liveSnapshot, manualStore, renderWithStore, serverStatus } from '../test/store';

const PARSE_ERROR = 'repos[0]: invalid JSON: control character found while parsing a string at line 2 column 0';
const failing = { message: `${PARSE_ERROR}; serving the last good report`, since: '2026-01-01T00:00:00Z' };

/** Occurrences of `needle` in `text`. */
const times = (text: string, needle: string) => text.split(needle).length - 1;

describe('ServerBanner', () => {
  it('shows nothing while the source is healthy', () => {
    const { container } = renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: serverStatus() })));
    expect(container.textContent).toBe('');
  });

  it('a failing report with a good one served: the error, the file, since when, and the last good report, each once', () => {
    const status = serverStatus({ state: 'error', last_error: failing });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: status })));
    const alert = screen.getByRole('alert');
    const text = alert.textContent ?? '';
    expect(alert.querySelector('.banner__title')?.textContent).toBe('The report file could not be read.');
    expect(alert.querySelector('.banner__error')?.textContent).toBe(PARSE_ERROR);
    expect(text).toContain('Report file /srv/audit/GitRepoReport.json.');
    expect(text).toMatch(/Failing since .+\(.+\)\./);
    expect(text).toMatch(/Showing the last good report, loaded .+\./);
    expect(times(text, 'last good report')).toBe(1);
    // One sentence each, separated: no "….Failing" run together.
    const meta = alert.querySelector('.banner__meta')?.textContent ?? '';
    expect(meta).toMatch(
      /^Report file \/srv\/audit\/GitRepoReport\.json\. Failing since [^.]+\. Showing the last good report, loaded [^.]+\.$/,
    );
  });

  it('an invalid report at startup: "no good report yet", with the parse error, the file and since when', () => {
    const status = serverStatus({ state: 'waiting', last_loaded: null, last_error: failing });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ report: null, source: 'none', serverStatus: status })));
    const alert = screen.getByRole('alert');
    const text = alert.textContent ?? '';
    expect(alert.querySelector('.banner__title')?.textContent).toBe('No good report yet.');
    expect(alert.querySelector('.banner__error')?.textContent).toBe(PARSE_ERROR);
    expect(text).toContain('/srv/audit/GitRepoReport.json');
    expect(text).toContain('Failing since');
    expect(text).not.toContain('last good');
    expect(text).toContain('Nothing to show until a valid report is written there');
    expect(screen.queryByText(/Waiting for the first report/)).toBeNull();
  });

  it('in audit mode it speaks of the audit and its root folder, not of a report file', () => {
    const status = serverStatus({
      state: 'waiting',
      path: '/srv/git',
      watch: 'auditing',
      last_loaded: null,
      last_error: { message: 'cannot list GitHub repositories: 401', since: '2026-01-01T00:00:00Z' },
    });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ report: null, serverStatus: status })));
    const text = screen.getByRole('alert').textContent ?? '';
    expect(text).toContain('No good audit yet.');
    expect(text).toContain('Audit root /srv/git.');
    expect(text).toContain('until an audit succeeds');
    expect(text).not.toMatch(/report/i);
  });

  it('waiting without an error: says what it waits for', () => {
    renderWithStore(
      <ServerBanner />,
      manualStore(liveSnapshot({ report: null, serverStatus: serverStatus({ state: 'waiting', last_loaded: null }) })),
    );
    expect(screen.getByRole('status').textContent).toBe(
      'Waiting for the first report.Report file /srv/audit/GitRepoReport.json. The server has not loaded it yet.',
    );
  });

  it('the first audit: says it is running', () => {
    const status = serverStatus({ state: 'waiting', watch: 'auditing', path: '/srv/git', last_loaded: null });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ report: null, serverStatus: status })));
    expect(screen.getByRole('status').textContent).toContain('The first audit is running.');
  });

  it('says the watcher fell back to polling, and why', () => {
    const status = serverStatus({ watch: 'polling', watch_note: 'inotify watch limit reached' });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: status })));
    expect(screen.getByRole('status').textContent).toContain('inotify watch limit reached');
  });

  it('a stale source: says since when and how often a report is expected', () => {
    const status = serverStatus({ stale: { since: '2026-12-03T02:00:00Z', expected_every_s: 86_400 } });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: status })));
    const banner = screen.getByRole('status');
    expect(banner.querySelector('.banner__title')?.textContent).toBe('No new report has arrived for a while.');
    expect(banner.textContent).toContain('one is expected every 24 h');
    expect(banner.textContent).toContain('Is the audit job still running?');
    expect(banner.getAttribute('data-stale-since')).toBe('2026-12-03T02:00:00Z');
    expect([formatEvery(86_400), formatEvery(300), formatEvery(45)]).toEqual(['24 h', '5 min', '45 s']);
  });

  it("drops the server's own note on what it serves from the error message", () => {
    expect(errorText('bad; serving the last good report')).toBe('bad');
    expect(errorText('the report /x is missing; serving the last good report')).toBe('the report /x is missing');
    expect(errorText('plain error')).toBe('plain error');
    expect(errorText('')).toBe('the last attempt failed');
  });
});
