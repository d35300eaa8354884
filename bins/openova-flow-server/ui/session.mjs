// Where the API is and which read token to use.
//
// A token given as `?access_token=` in the page address is kept in this tab's sessionStorage and
// removed from the address bar, so it ends up in neither the history nor a shared link.

const TOKEN_KEY = 'openova-flow-token';

/** The path prefix the server is mounted under (everything before `/ui/`). */
export function apiBase() {
  const path = location.pathname;
  const at = path.lastIndexOf('/ui/');
  return at < 0 ? '' : path.slice(0, at);
}

/** The read token, if any. */
export function readToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get('access_token');
  if (given !== null) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete('access_token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Creates an element with a class and text (never parsed as HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** `ms` ago as short text: `45s`, `3m12s`, `2h5m`, `3d4h`. */
export function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor(s / 60) % 60}m`;
  return `${Math.floor(s / 86400)}d${Math.floor(s / 3600) % 24}h`;
}
