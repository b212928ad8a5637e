/**
 * A few lines of client-side routing (no router dependency): the app has two views,
 * home (`/`) and one task (`/tasks/{id}`). nginx serves index.html for such deep links.
 */
import { useSyncExternalStore } from 'react';

const NAVIGATE_EVENT = 'mbh:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

function currentPath(): string {
  return window.location.pathname;
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, currentPath, () => '/');
}

export function navigate(path: string): void {
  if (path === window.location.pathname) return;
  window.history.pushState(null, '', path);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

export function taskPath(id: string): string {
  return `/tasks/${encodeURIComponent(id)}`;
}

/** The task id in `/tasks/{id}`, or null for any other path. */
export function matchTaskPath(pathname: string): string | null {
  const match = /^\/tasks\/([^/]+)\/?$/.exec(pathname);
  const raw = match?.[1];
  if (!raw) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
