import { act, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { OfflineBanner } from './OfflineBanner';
import { liveSnapshot, manualStore, renderWithStore } from '../test/store';

describe('OfflineBanner', () => {
  it('marks a saved state shown while the server cannot be reached with its age, and goes when the server answers', () => {
    const savedAt = Date.now() - 3 * 60_000;
    const store = manualStore(liveSnapshot({ source: 'saved', phase: 'reconnecting', transport: null, lastUpdateAt: savedAt }));
    const { container } = renderWithStore(<OfflineBanner />, store);
    expect(screen.getByRole('status').textContent).toContain('Offline — showing the state saved 3 min ago.');
    expect(container.querySelector('[data-offline-saved-at]')?.getAttribute('data-offline-saved-at')).toBe(String(savedAt));
    act(() => store.set({ phase: 'offline' }));
    expect(container.textContent).toContain('Offline');
    // Fresh data: the state is the server's.
    act(() => store.set({ source: 'server', phase: 'live', lastUpdateAt: Date.now() }));
    expect(container.textContent).toBe('');
  });

  it('says nothing while connecting, nor for a live state', () => {
    const store = manualStore(liveSnapshot({ source: 'saved', phase: 'connecting', lastUpdateAt: Date.now() - 60_000 }));
    const { container } = renderWithStore(<OfflineBanner />, store);
    expect(container.textContent).toBe('');
    act(() => store.set({ source: 'server', phase: 'reconnecting' }));
    expect(container.textContent).toBe('');
  });
});
