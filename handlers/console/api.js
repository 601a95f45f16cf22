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
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

// path builds /v1/... from parts, each escaped.
export function path(...parts) {
  return '/v1/' + parts.map((p) => encodeURIComponent(p)).join('/');
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
  const init = { method, headers: h, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
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
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText || 'request failed', e.details);
  }
  return { status: res.status, data, etag: res.headers.get('ETag'), revision: res.headers.get('X-Rolegate-Revision') };
}
