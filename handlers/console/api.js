// The native API of the server that served this page, with the token the
// admin signed in with. The token is kept for this tab only
// (sessionStorage), sent only in the Authorization header, never in a URL.

const KEY = 'rolegate.console.token';
let token = sessionStorage.getItem(KEY) || '';

export function signedIn() { return token !== ''; }

export function signIn(t) {
  token = t.trim();
  sessionStorage.setItem(KEY, token);
}

export function signOut() {
  token = '';
  sessionStorage.removeItem(KEY);
}

// ApiError is an answer other than 2xx: its status and the API's error body.
export class ApiError extends Error {
  constructor(status, code, message, details, violations) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
    // violations: a 409 separation_of_duties names who would hold what.
    this.violations = violations || [];
  }
}

// path builds /v1/... from parts, each escaped ("/" as %2F). A part "." or
// ".." is refused: the browser would resolve it away, %2E%2E included
// (".../users/.." is ".../entities/e/"), and the call would go to another
// object. The server refuses such ids; one made before it did is managed
// with the CLI.
export function path(...parts) {
  return '/v1/' + parts.map((p) => {
    const s = String(p);
    if (s === '.' || s === '..') {
      throw new ApiError(0, 'dot_segment', 'the id "' + s + '" cannot be used in the console; use the CLI');
    }
    return encodeURIComponent(s);
  }).join('/');
}

// call sends one request; query is an object of query parameters (never a
// token), body is JSON. It resolves to {status, data, etag, revision} or
// rejects with an ApiError.
export async function call(method, p, { query, body, headers } = {}) {
  const url = new URL(p, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const h = { Accept: 'application/json', Authorization: 'Bearer ' + token, ...(headers || {}) };
  // redirect: 'error': a redirect is never followed with the token.
  const init = { method, headers: h, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', redirect: 'error' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', 'the server did not answer: ' + e.message);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText || 'request failed', e.details, e.violations);
  }
  return { status: res.status, data, etag: res.headers.get('ETag'), revision: res.headers.get('X-Rolegate-Revision') };
}
