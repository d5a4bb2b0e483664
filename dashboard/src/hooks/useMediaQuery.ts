// Whether a CSS media query matches, kept current with the window.
import { useCallback, useSyncExternalStore } from 'react';

/** Whether `query` (e.g. `(max-width: 720px)`) matches now. */
export function useMediaQuery(query: string): boolean {
  const subscribe = useCallback(
    (listener: () => void) => {
      const list = window.matchMedia(query);
      list.addEventListener('change', listener);
      return () => list.removeEventListener('change', listener);
    },
    [query],
  );
  return useSyncExternalStore(
    subscribe,
    () => window.matchMedia(query).matches,
    () => false,
  );
}
