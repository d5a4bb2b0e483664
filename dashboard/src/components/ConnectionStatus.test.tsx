import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionStatus } from './ConnectionStatus';
import { liveSnapshot, manualStore, renderWithStore } from '../test/store';

describe('ConnectionStatus', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  const label = () => document.querySelector('.conn__label')?.textContent;

  it('says live, with the round trip and the age of the last update', () => {
    const store = manualStore(liveSnapshot({ rttMs: 23, lastUpdateAt: Date.now() - 42_000 }));
    renderWithStore(<ConnectionStatus />, store);
    expect(label()).toBe('Live');
    const section = screen.getByRole('region', { name: 'Connection' });
    expect(section.textContent).toContain('23 ms');
    expect(section.textContent).toContain('updated 42 s ago');
  });

  it('counts down to the next reconnect', () => {
    const store = manualStore(liveSnapshot({ phase: 'reconnecting', transport: null, retryAt: Date.now() + 3_000, failures: 1 }));
    renderWithStore(<ConnectionStatus />, store);
    expect(label()).toBe('Reconnecting in 3 s');
    // The live region says only the phase.
    expect(screen.getByRole('status').textContent).toBe('Reconnecting');
    act(() => {
      vi.advanceTimersByTime(1_000);
    });
    expect(label()).toBe('Reconnecting in 2 s');
  });

  it('names the fallback transport and the socket retry', () => {
    const store = manualStore(liveSnapshot({ phase: 'fallback', transport: 'long-poll', retryAt: Date.now() + 10_000 }));
    renderWithStore(<ConnectionStatus />, store);
    expect(label()).toBe('Fallback: long-poll');
    expect(screen.getByRole('region', { name: 'Connection' }).textContent).toContain('WebSocket retry in 10 s');
  });

  it('says offline and polling', () => {
    const store = manualStore(liveSnapshot({ phase: 'offline', transport: null }));
    renderWithStore(<ConnectionStatus />, store);
    expect(label()).toBe('Offline');
    act(() => store.set({ phase: 'polling', transport: 'polling', mode: { kind: 'polling', intervalS: 30 } }));
    expect(label()).toBe('Polling every 30 s');
  });

  it('says when the data shown is saved from an earlier visit', () => {
    renderWithStore(<ConnectionStatus />, manualStore(liveSnapshot({ phase: 'connecting', source: 'saved' })));
    expect(screen.getByRole('region', { name: 'Connection' }).textContent).toContain('showing saved data');
  });

  it('reconnects on request', () => {
    const store = manualStore(liveSnapshot({ phase: 'reconnecting' }));
    renderWithStore(<ConnectionStatus />, store);
    fireEvent.click(screen.getByRole('button', { name: /Reconnect/ }));
    expect(store.reconnectNow).toHaveBeenCalledOnce();
  });
});
