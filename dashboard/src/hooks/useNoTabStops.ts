// Keeps elements a library adds out of the tab order. Recharts 3 draws its layers into <g>
// elements it renders React portals into, and React listens for focus events on every portal
// container; Chromium makes an SVG element with focus listeners a tab stop, so each chart added
// unnamed, invisible stops before the controls below it. `tabindex=-1` takes them out.
import { useEffect, type RefObject } from 'react';

/** Gives every element under `ref` that matches `selector` `tabindex=-1`, now and as they come. */
export function useNoTabStops(ref: RefObject<HTMLElement | null>, selector: string): void {
  useEffect(() => {
    const root = ref.current;
    if (!root) return;
    const apply = () => {
      for (const element of root.querySelectorAll(selector)) {
        if (element.getAttribute('tabindex') !== '-1') element.setAttribute('tabindex', '-1');
      }
    };
    apply();
    const observer = new MutationObserver(apply);
    observer.observe(root, { subtree: true, childList: true });
    return () => observer.disconnect();
  }, [ref, selector]);
}
