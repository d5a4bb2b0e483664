// Publishes an element's height as a CSS custom property on the document (e.g. the sticky top
// bar's, so sticky table headers sit just below it). Set through the CSSOM, which the strict CSP
// allows.
import { useLayoutEffect, type RefObject } from 'react';

/** Keeps `--name` on `<html>` equal to the element's border-box height in px; `mountKey` changes when the element is replaced. */
export function useCssHeight(ref: RefObject<HTMLElement | null>, name: `--${string}`, mountKey?: unknown): void {
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    const root = document.documentElement;
    const publish = () => root.style.setProperty(name, `${Math.round(element.getBoundingClientRect().height)}px`);
    publish();
    const observer = new ResizeObserver(publish);
    observer.observe(element);
    return () => {
      observer.disconnect();
      root.style.removeProperty(name);
      if (!root.getAttribute('style')) root.removeAttribute('style');
    };
  }, [ref, name, mountKey]);
}
