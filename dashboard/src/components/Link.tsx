// An in-app link: a real <a href> that navigates through the History API on a plain click.
import type { AnchorHTMLAttributes, MouseEvent } from 'react';
import { navigate } from '../hooks/useLocation';

/** A link to a path of this app. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
