// The repository list's view state from the URL, and a setter that writes it back through the
// History API: a new history entry for a choice (view, sort, filter), the same entry while typing
// a search, so back/forward steps through choices and not through keystrokes.
import { useCallback, useMemo } from 'react';
import { navigate, useLocation } from './useLocation';
import { readViewState, writeViewState, type ViewState } from '../lib/viewState';

/** The view state and its setter. */
export function useViewState(): [ViewState, (patch: Partial<ViewState>, options?: { replace?: boolean }) => void] {
  const { href } = useLocation();
  const search = useMemo(() => new URL(href, 'http://local').searchParams, [href]);
  const state = useMemo(() => readViewState(search), [search]);
  const update = useCallback((patch: Partial<ViewState>, options: { replace?: boolean } = {}) => {
    // Read the live URL, not the rendered one: two updates in one event must not undo each other.
    const current = new URLSearchParams(window.location.search);
    const query = writeViewState(current, patch);
    if (query === (window.location.search === '?' ? '' : window.location.search)) return;
    navigate(`${window.location.pathname}${query}${window.location.hash}`, options);
  }, []);
  return [state, update];
}
