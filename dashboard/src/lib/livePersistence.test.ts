import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPersister, memorySavedState, STORAGE_KEYS } from './livePersistence';
import { memoryStorage } from '../test/fakes';
import type { Report } from '../types/protocol';

const report = { repos: [{ name: 'halo', status: 'clean' }] } as unknown as Report;

function persister(options: { idle?: (callback: () => void) => void } = {}) {
  const store = memorySavedState();
  const storage = memoryStorage();
  let cursor = 'abc:1';
  const persist = createPersister({
    store,
    storage,
    delayMs: 10_000,
    current: () => ({ cursor, report }),
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    whenIdle: options.idle,
  });
  return { persist, store, storage, setCursor: (next: string) => (cursor = next) };
}

describe('the persister', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes once per period, after the period, with what is current then', async () => {
    const p = persister();
    p.persist.schedule();
    p.persist.schedule();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(p.store.value).toBeNull();
    p.setCursor('abc:5');
    await vi.advanceTimersByTimeAsync(1);
    expect((p.store.value as { cursor: string }).cursor).toBe('abc:5');
    expect(p.storage.getItem(STORAGE_KEYS.saved)).not.toBeNull();
  });

  it('waits for an idle moment after the period, and a flush or forget in between wins', async () => {
    const idle: (() => void)[] = [];
    const p = persister({ idle: (callback) => idle.push(callback) });
    p.persist.schedule();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(p.store.value).toBeNull();
    expect(idle).toHaveLength(1);
    p.persist.schedule(); // already waiting: no second timer, no second idle callback
    await vi.advanceTimersByTimeAsync(10_000);
    expect(idle).toHaveLength(1);
    idle[0]!();
    expect((p.store.value as { cursor: string }).cursor).toBe('abc:1');

    p.persist.schedule();
    await vi.advanceTimersByTimeAsync(10_000);
    p.persist.forget();
    idle[1]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(p.store.value).toBeNull();
    expect(p.storage.getItem(STORAGE_KEYS.saved)).toBeNull();
  });

  it('a flush writes only what changed since the last write', async () => {
    const p = persister();
    const writes: unknown[] = [];
    const save = p.store.save;
    p.store.save = async (state) => (writes.push(state), save(state));
    p.persist.flush();
    expect(writes).toHaveLength(0);
    p.persist.schedule();
    p.persist.flush();
    expect(writes).toHaveLength(1);
    p.persist.flush();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(writes).toHaveLength(1);
  });
});
