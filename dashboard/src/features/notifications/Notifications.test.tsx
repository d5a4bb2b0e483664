import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveAnnouncer, NotificationToggle, Toasts, useStatusNotifications, type NotificationApi } from './Notifications';
import { liveSnapshot, manualStore, renderWithStore } from '../../test/store';
import type { StatusChange } from '../../lib/report';

function Harness({ api }: { api: NotificationApi | null }) {
  const n = useStatusNotifications(api);
  return (
    <>
      <NotificationToggle
        on={n.browserOn}
        available={n.browserAvailable}
        permission={n.permission}
        onToggle={() => void n.toggleBrowser()}
      />
      <button type="button">Elsewhere</button>
      <Toasts toasts={n.toasts} onDismiss={n.dismiss} onHold={n.hold} />
      <LiveAnnouncer text={n.announcement} />
    </>
  );
}

const change = (name: string, from: string | null, to: string | null): StatusChange => ({ key: `${name}\u00000`, name, dup: 0, from, to });

function fakeApi(permission: NotificationPermission = 'default') {
  const shown: Array<[string, string]> = [];
  const api: NotificationApi & { permission: NotificationPermission } = {
    permission,
    requestPermission: vi.fn(async () => {
      api.permission = 'granted';
      return 'granted' as const;
    }),
    show: (title, body) => void shown.push([title, body]),
  };
  return { api, shown };
}

describe('notifications', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows a toast for a status change, dismissable and timed out', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    act(() => store.announce([change('halo', 'missing', 'clean')]));
    const region = screen.getByRole('region', { name: 'Notifications' });
    expect(region.textContent).toContain('halo');
    expect(region.textContent).toContain('Missing');
    expect(region.textContent).toContain('Clean');
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss notification: halo changed' }));
    expect(region.textContent).toBe('');
    act(() => store.announce([change('new', null, 'extra'), change('gone', 'clean', null)]));
    expect(region.textContent).toContain('appeared');
    expect(region.textContent).toContain('removed');
    act(() => {
      vi.advanceTimersByTime(8_000);
    });
    expect(region.textContent).toBe('');
  });

  it('summarises a burst in one toast', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    act(() => store.announce(Array.from({ length: 10 }, (_, i) => change(`r${i}`, 'clean', 'dirty'))));
    const region = screen.getByRole('region', { name: 'Notifications' });
    expect(region.textContent).toContain('10 repositories changed');
    expect(region.textContent).toContain('and 7 more');
  });

  it('merges changes arriving one by one in a burst into one toast, and starts a new one after a pause', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    for (const name of ['a', 'b', 'c', 'd']) {
      act(() => store.announce([change(name, 'clean', 'dirty')]));
      act(() => {
        vi.advanceTimersByTime(500);
      });
    }
    expect(screen.getAllByRole('button', { name: /^Dismiss notification: / })).toHaveLength(1);
    const region = screen.getByRole('region', { name: 'Notifications' });
    expect(region.querySelector('.toast__title')?.textContent).toBe('4 repositories changed');
    act(() => {
      vi.advanceTimersByTime(5_000);
    });
    act(() => store.announce([change('e', 'dirty', 'clean')]));
    expect(screen.getAllByRole('button', { name: /^Dismiss notification: / })).toHaveLength(2);
    // The burst's toast lives 8 s from its last change (at 1.5 s); the new one (at 7 s) stays.
    act(() => {
      vi.advanceTimersByTime(2_600);
    });
    expect(screen.getAllByRole('button', { name: /^Dismiss notification: / })).toHaveLength(1);
    expect(region.textContent).toContain('e');
  });

  it('keeps at most three toasts on screen', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    for (let i = 0; i < 6; i += 1) {
      act(() => store.announce([change(`r${i}`, 'clean', 'dirty')]));
      act(() => {
        vi.advanceTimersByTime(3_500);
      });
    }
    const toasts = document.querySelectorAll('.toast');
    expect(toasts.length).toBeLessThanOrEqual(3);
    expect(toasts[toasts.length - 1]?.textContent).toContain('r5');
  });

  it('asks permission on opt-in and notifies only while the tab is hidden', async () => {
    const store = manualStore(liveSnapshot());
    const { api, shown } = fakeApi();
    renderWithStore(<Harness api={api} />, store);
    const toggle = screen.getByRole('button', { name: 'Desktop notifications' });
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    await act(async () => {
      fireEvent.click(toggle);
    });
    expect(api.requestPermission).toHaveBeenCalledOnce();
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    expect(window.localStorage.getItem('gitops-live:notify')).toBe('on');

    act(() => store.announce([change('halo', 'missing', 'clean')]));
    expect(shown).toEqual([]);
    const hidden = vi.spyOn(document, 'hidden', 'get').mockReturnValue(true);
    act(() => store.announce([change('halo', 'clean', 'dirty')]));
    expect(shown).toEqual([['Repository status changed', 'halo: Clean → Dirty']]);
    hidden.mockRestore();
  });

  it('reads the browser permission once, not on every render (a synchronous call into the browser)', () => {
    const store = manualStore(liveSnapshot());
    let reads = 0;
    const api: NotificationApi = {
      get permission(): NotificationPermission {
        reads += 1;
        return 'denied';
      },
      requestPermission: vi.fn(async () => 'denied' as const),
      show: () => undefined,
    };
    renderWithStore(<Harness api={api} />, store);
    for (let i = 0; i < 5; i += 1) act(() => store.announce([change(`r${i}`, 'missing', 'clean')]));
    expect(screen.getByRole('region', { name: 'Notifications' }).textContent).toContain('5 repositories changed');
    expect(reads).toBe(1);
    // Denied in the browser: the switch says so and cannot be turned on.
    expect(screen.getByRole('button', { name: 'Desktop notifications' }).hasAttribute('disabled')).toBe(true);
  });

  it('offers no switch where the browser has no notifications', () => {
    renderWithStore(<Harness api={null} />, manualStore(liveSnapshot()));
    expect(screen.queryByRole('button', { name: 'Desktop notifications' })).toBeNull();
  });
});

describe('what screen readers hear, and keyboard use of the toasts', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Every text the live regions took, in order (one entry per update). */
  function recordLiveRegions(): string[] {
    const said: string[] = [];
    const last = new Map<Element, string>();
    const observer = new MutationObserver(() => {
      for (const region of document.querySelectorAll('[aria-live], [role=status], [role=alert]')) {
        const text = region.textContent?.trim() ?? '';
        if (text && text !== last.get(region)) said.push(text);
        last.set(region, text);
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    return said;
  }
  /** Lets the MutationObserver's callbacks run. */
  const flush = () => act(async () => {});

  it('a burst of changes is said once, in one polite region, without the toasts or their buttons', async () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    const said = recordLiveRegions();
    // Ten changes, one every 300 ms: the toasts follow each, the announcer waits for the burst.
    for (let i = 0; i < 10; i += 1) {
      act(() => store.announce([change(`r${i}`, 'clean', 'dirty')]));
      await flush();
      act(() => {
        vi.advanceTimersByTime(300);
      });
      await flush();
    }
    act(() => {
      vi.advanceTimersByTime(5_000);
    });
    await flush();
    expect(said.length).toBeLessThanOrEqual(2);
    expect(said.join(' ')).not.toMatch(/dismiss/i);
    expect(said[0]).toMatch(/^7 repositories changed: r0, r1, r2, r3, r4 and 2 more\.$/);
    expect(screen.getByRole('region', { name: 'Notifications' }).getAttribute('aria-live')).toBeNull();
    expect(screen.getByRole('region', { name: 'Notifications' }).querySelector('[aria-live], [role=status]')).toBeNull();
  });

  it('one change is said in words, once', async () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    const said = recordLiveRegions();
    act(() => store.announce([change('halo', 'missing', 'clean')]));
    act(() => {
      vi.advanceTimersByTime(2_500);
    });
    await flush();
    expect(said).toEqual(['halo from Missing to Clean.']);
  });

  it('names each Dismiss button after its toast, and gives focus back when a focused toast is dismissed', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    const elsewhere = screen.getByRole('button', { name: 'Elsewhere' });
    elsewhere.focus();
    act(() => store.announce([change('halo', 'missing', 'clean')]));
    const dismiss = screen.getByRole('button', { name: 'Dismiss notification: halo changed' });
    act(() => dismiss.focus());
    fireEvent.click(dismiss);
    expect(document.querySelectorAll('.toast')).toHaveLength(0);
    expect(document.activeElement).toBe(elsewhere);
  });

  it('keeps a toast while it has focus, and lets it go after focus leaves', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    const elsewhere = screen.getByRole('button', { name: 'Elsewhere' });
    act(() => store.announce([change('halo', 'missing', 'clean')]));
    act(() => screen.getByRole('button', { name: 'Dismiss notification: halo changed' }).focus());
    act(() => {
      vi.advanceTimersByTime(30_000);
    });
    expect(document.querySelectorAll('.toast')).toHaveLength(1);
    act(() => elsewhere.focus());
    act(() => {
      vi.advanceTimersByTime(1_000);
    });
    expect(document.querySelectorAll('.toast')).toHaveLength(1);
    act(() => {
      vi.advanceTimersByTime(8_000);
    });
    expect(document.querySelectorAll('.toast')).toHaveLength(0);
    expect(document.activeElement).toBe(elsewhere);
  });

  it('keeps the toasts while the pointer is over them', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<Harness api={null} />, store);
    act(() => store.announce([change('halo', 'missing', 'clean')]));
    const region = screen.getByRole('region', { name: 'Notifications' });
    fireEvent.mouseEnter(region);
    act(() => {
      vi.advanceTimersByTime(20_000);
    });
    expect(document.querySelectorAll('.toast')).toHaveLength(1);
    fireEvent.mouseLeave(region);
    act(() => {
      vi.advanceTimersByTime(10_000);
    });
    expect(document.querySelectorAll('.toast')).toHaveLength(0);
  });
});
