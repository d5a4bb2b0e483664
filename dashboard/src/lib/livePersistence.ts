// What the dashboard remembers between visits. The last state (report and cursor, ~500 KB for a
// thousand repositories: over some browsers' localStorage quota) lives in IndexedDB, one record
// in one object store, written at most once per quiet period and when the page goes away; the
// mode (live or polling) is a few bytes and stays in localStorage, read synchronously at start.
import { parseCursor } from './cursor';
import { isReport } from './report';
import type { CursorText, Report } from '../types/protocol';

/** Polling intervals offered to people, in seconds. */
export const POLL_INTERVALS = [5, 10, 30, 60] as const;

/** A polling interval. */
export type PollInterval = (typeof POLL_INTERVALS)[number];

/** Live (WebSocket first, with fallbacks) or plain polling at a chosen interval. */
export type Mode = { kind: 'live' } | { kind: 'polling'; intervalS: PollInterval };

/**
 * localStorage keys: the mode; `saved`, a mark that IndexedDB holds a state (read synchronously at
 * start: without it the first snapshot is asked for at once, with it the store reads the state
 * first and resumes from its cursor); and `state`, where the state was kept before IndexedDB,
 * removed when found.
 */
export const STORAGE_KEYS = { state: 'gitops-live:state', mode: 'gitops-live:mode', saved: 'gitops-live:saved' } as const;

/** The IndexedDB database, its one object store and the one record's key. */
export const SAVED_STATE_DB = { name: 'gitops-live', store: 'state', key: 'last' } as const;

/** The remembered state. */
export interface SavedState {
  v: 1;
  cursor: CursorText;
  report: Report;
  /** When it was written (client clock, ms): the age shown while offline. */
  savedAt: number;
}

/** Where the state is kept. Every method swallows its failures: remembering is best effort. */
export interface SavedStateStore {
  load(): Promise<SavedState | null>;
  save(state: SavedState): Promise<void>;
  clear(): Promise<void>;
}

/** The part of localStorage the store uses. */
export type ModeStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Reads the mode remembered in storage (live when none). */
export function loadMode(storage: ModeStorage | null): Mode {
  try {
    const raw = storage?.getItem(STORAGE_KEYS.mode);
    if (!raw) return { kind: 'live' };
    const value = JSON.parse(raw) as Partial<{ kind: string; intervalS: number }>;
    if (value.kind === 'polling' && (POLL_INTERVALS as readonly number[]).includes(value.intervalS ?? -1)) {
      return { kind: 'polling', intervalS: value.intervalS as PollInterval };
    }
  } catch {
    // A damaged entry means the default.
  }
  return { kind: 'live' };
}

/** Remembers the mode. */
export function saveMode(storage: ModeStorage | null, mode: Mode): void {
  try {
    storage?.setItem(STORAGE_KEYS.mode, JSON.stringify(mode));
  } catch {
    // Not remembered; still applied.
  }
}

/** Removes the state an older dashboard kept in localStorage (it moved to IndexedDB): frees the quota. */
export function dropOldState(storage: ModeStorage | null): void {
  try {
    storage?.removeItem(STORAGE_KEYS.state);
  } catch {
    // Nothing to free.
  }
}

/** Whether the mark says a state was saved (a state may still turn out to be missing or damaged). */
export function savedMark(storage: ModeStorage | null): boolean {
  try {
    return storage?.getItem(STORAGE_KEYS.saved) != null;
  } catch {
    return false;
  }
}

/** Sets or clears the mark. */
function setMark(storage: ModeStorage | null, saved: boolean): void {
  try {
    if (saved) storage?.setItem(STORAGE_KEYS.saved, '1');
    else storage?.removeItem(STORAGE_KEYS.saved);
  } catch {
    // Without the mark the next visit asks for a snapshot at once: slower, never wrong.
  }
}

/** A saved state as read back, or `null` when it is not one (damaged, or an older shape). */
export function asSavedState(value: unknown): SavedState | null {
  if (value === null || typeof value !== 'object') return null;
  const saved = value as Partial<SavedState>;
  if (saved.v !== 1 || !parseCursor(saved.cursor) || !isReport(saved.report) || typeof saved.savedAt !== 'number') return null;
  return saved as SavedState;
}

/** A store in memory (tests). */
export function memorySavedState(initial: unknown = null): SavedStateStore & { value: unknown } {
  const store = {
    value: initial,
    load: async () => asSavedState(store.value),
    async save(state: SavedState) {
      store.value = state;
    },
    async clear() {
      store.value = null;
    },
  };
  return store;
}

/** Waits for an IndexedDB request; `null` on failure. */
function settle<T>(request: IDBRequest<T>): Promise<T | null> {
  return new Promise((resolve) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
}

/** The state in IndexedDB: one record, replaced on every write. */
export function indexedDbSavedState(factory: IDBFactory): SavedStateStore {
  let opened: Promise<IDBDatabase | null> | null = null;
  const open = () =>
    (opened ??= new Promise<IDBDatabase | null>((resolve) => {
      try {
        const request = factory.open(SAVED_STATE_DB.name, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(SAVED_STATE_DB.store);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => resolve(null);
        request.onblocked = () => resolve(null);
      } catch {
        resolve(null);
      }
    }));
  const run = async <T>(mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest<T>): Promise<T | null> => {
    const db = await open();
    if (!db) return null;
    try {
      return await settle(act(db.transaction(SAVED_STATE_DB.store, mode).objectStore(SAVED_STATE_DB.store)));
    } catch {
      return null;
    }
  };
  return {
    load: async () => asSavedState(await run('readonly', (store) => store.get(SAVED_STATE_DB.key))),
    async save(state) {
      await run('readwrite', (store) => store.put(state, SAVED_STATE_DB.key));
    },
    async clear() {
      await run('readwrite', (store) => store.delete(SAVED_STATE_DB.key));
    },
  };
}

/**
 * Writes the state at most once per `delayMs`, in an idle moment after it (writing is a structured
 * clone of the whole report on the page's thread: tens of ms at 1,000 repositories, so it must not
 * land in front of a change), and at once on `flush` when something changed since the last write.
 */
export interface Persister {
  /** A write within `delayMs` (one timer at a time), then when the page is idle. */
  schedule(): void;
  /** Writes now if something changed since the last write (the page is going away, or the store stops). */
  flush(): void;
  /** Forgets the pending write and the saved state (the viewer signed out). */
  forget(): void;
}

/** Makes a persister; `current` gives what to write (nothing while there is no state). */
export function createPersister(options: {
  store: SavedStateStore | null;
  /** Where the mark goes (localStorage). */
  storage: ModeStorage | null;
  delayMs: number;
  /** What to write; `savedAt` when the state was last known current (now when absent). */
  current: () => (Omit<SavedState, 'v' | 'savedAt'> & { savedAt?: number }) | null;
  now: () => number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs a callback when the page is idle; absent: at once. */
  whenIdle?: ((callback: () => void) => void) | undefined;
}): Persister {
  let timer: unknown = null;
  // The timer has fired and the write waits for an idle moment.
  let waiting = false;
  // Something changed since the last write: a flush with nothing new writes nothing (a page
  // going away would otherwise clone the whole report again on its way out, delaying the next).
  let dirty = false;
  const cancel = () => {
    if (timer !== null) options.clearTimeout(timer);
    timer = null;
    waiting = false;
  };
  const write = () => {
    const state = options.current();
    if (!options.store || !state) return;
    dirty = false;
    void options.store.save({ v: 1, ...state, savedAt: state.savedAt ?? options.now() });
    setMark(options.storage, true);
  };
  const idle = options.whenIdle ?? ((callback: () => void) => callback());
  return {
    schedule() {
      dirty = true;
      if (!options.store || timer !== null || waiting) return;
      timer = options.setTimeout(() => {
        timer = null;
        waiting = true;
        idle(() => {
          if (!waiting) return;
          waiting = false;
          write();
        });
      }, options.delayMs);
    },
    flush() {
      cancel();
      if (dirty) write();
    },
    forget() {
      cancel();
      setMark(options.storage, false);
      void options.store?.clear();
    },
  };
}
