// A tiny client-side router: the History API plus one hook. The Go server
// answers index.html for every path it does not know, so /tickets/123 can be
// loaded, reloaded and bookmarked.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const NAVIGATE = 'helpdesk:navigate';

export interface Location {
  pathname: string;
  search: string;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE, onChange);
  };
}

// useSyncExternalStore compares snapshots with Object.is, so return a string.
function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** The current path and query; re-renders on every navigation. */
export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, snapshot);
  const q = href.indexOf('?');
  return q < 0 ? { pathname: href, search: '' } : { pathname: href.slice(0, q), search: href.slice(q) };
}

export interface NavigateOptions {
  /** Replace the current history entry instead of adding one. */
  replace?: boolean;
  /** A short message for the next screen to announce (see takeFlash). */
  flash?: string;
}

/** Goes to an in-app path (e.g. "/tickets/12") without reloading the page. */
export function navigate(to: string, options: NavigateOptions = {}): void {
  const state = options.flash ? { flash: options.flash } : null;
  if (options.replace) {
    window.history.replaceState(state, '', to);
  } else {
    window.history.pushState(state, '', to);
    window.scrollTo(0, 0); // a new page starts at its top
  }
  window.dispatchEvent(new Event(NAVIGATE));
}

/**
 * The message handed over by navigate(…, {flash}), once: it is removed from
 * the history entry so a reload or a trip back does not show it again.
 */
export function takeFlash(): string | null {
  const state: unknown = window.history.state;
  if (!state || typeof state !== 'object' || !('flash' in state)) return null;
  const flash = (state as { flash: unknown }).flash;
  window.history.replaceState(null, '', window.location.href);
  return typeof flash === 'string' ? flash : null;
}

/** The ticket number of a /tickets/{id} path, or null. */
export function ticketIdOf(pathname: string): number | null {
  const m = /^\/tickets\/(\d{1,15})\/?$/.exec(pathname);
  return m ? Number(m[1]) : null;
}

export function ticketPath(id: number): string {
  return `/tickets/${id}`;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** An <a> that navigates in the app on a plain click (new tab etc. still work). */
export function Link({ to, onClick, children, ...rest }: LinkProps) {
  function handleClick(e: MouseEvent<HTMLAnchorElement>) {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(to);
  }
  return (
    <a href={to} onClick={handleClick} {...rest}>
      {children}
    </a>
  );
}
