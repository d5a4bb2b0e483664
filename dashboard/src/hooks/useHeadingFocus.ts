// Moves focus to the page's heading when the view changes (not on the first load): a client-side
// navigation otherwise leaves focus on a link that is gone, that is, on the page's body.
import { useEffect, useRef } from 'react';

/** The heading focus goes to: the main content's first h1. */
function heading(): HTMLElement | null {
  return document.querySelector<HTMLElement>('main h1');
}

/**
 * When `view` changes, focuses the view's h1 (made focusable by script, `tabindex=-1`) once it is
 * in the page: it may come later, with the data. Not when `enabled` is false, and not if the
 * reader moved focus somewhere else meanwhile.
 */
export function useHeadingFocus(view: string, enabled = true): void {
  const previous = useRef(view);
  const pending = useRef<{ from: Element | null } | null>(null);
  if (previous.current !== view) {
    previous.current = view;
    pending.current = enabled ? { from: typeof document === 'undefined' ? null : document.activeElement } : null;
  }
  // After every render: the heading may have arrived.
  useEffect(() => {
    const want = pending.current;
    if (!want) return;
    const active = document.activeElement;
    const untouched = !active || active === document.body || active === want.from || !active.isConnected;
    if (!untouched) {
      pending.current = null;
      return;
    }
    const target = heading();
    if (!target) return;
    pending.current = null;
    if (!target.hasAttribute('tabindex')) target.tabIndex = -1;
    target.focus();
  });
}
