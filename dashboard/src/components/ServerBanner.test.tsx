import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ServerBanner } from './ServerBanner';
import { liveSnapshot, manualStore, renderWithStore, serverStatus } from '../test/store';

describe('ServerBanner', () => {
  it('shows nothing while the source is healthy', () => {
    const { container } = renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: serverStatus() })));
    expect(container.textContent).toBe('');
  });

  it('says the report failed, since when, and that the data is the last good report', () => {
    const status = serverStatus({
      state: 'error',
      last_error: { message: 'expected value at line 3 column 7', since: '2026-01-01T00:00:00Z' },
    });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: status })));
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('The report could not be read.');
    expect(alert.textContent).toContain('expected value at line 3 column 7');
    expect(alert.textContent).toContain('Failing since');
    expect(alert.textContent).toContain('/srv/audit/GitRepoReport.json');
    expect(alert.textContent).toContain('Showing the last good report');
  });

  it('says the watcher fell back to polling, and why', () => {
    const status = serverStatus({ watch: 'polling', watch_note: 'inotify watch limit reached' });
    renderWithStore(<ServerBanner />, manualStore(liveSnapshot({ serverStatus: status })));
    expect(screen.getByRole('status').textContent).toContain('inotify watch limit reached');
  });
});
