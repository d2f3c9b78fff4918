// api.js: calls to the management API with HTTP basic auth. The credentials live in
// sessionStorage (this tab only, gone when it closes), as RabbitMQ's UI keeps them.

const KEY = 'warren.auth';

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason ? `${error}: ${reason}` : error);
    this.status = status; // HTTP status, 0 when the request did not reach the server
    this.error = error;
    this.reason = reason;
  }
}

// basic encodes user:pass for an Authorization header; UTF-8, unlike btoa alone.
function basic(user, pass) {
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return 'Basic ' + btoa(bin);
}

export function login(user, pass) {
  sessionStorage.setItem(KEY, JSON.stringify({ user, auth: basic(user, pass) }));
}

export function logout() {
  sessionStorage.removeItem(KEY);
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

// enc escapes one path segment: the default vhost "/" travels as "%2F".
export const enc = encodeURIComponent;

// call sends one request and returns the decoded JSON body (null for an empty one).
// An error answer throws an ApiError with RabbitMQ's {"error", "reason"}; a 401 also
// fires "warren:unauthorized" on window so that the app can ask for a login again.
export async function call(method, path, body) {
  const s = session();
  const headers = { Accept: 'application/json' };
  if (s) headers.Authorization = s.auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network error', `${e.message || e} (is warren running?)`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!resp.ok) {
    const reason = data && data.reason !== undefined
      ? (typeof data.reason === 'string' ? data.reason : JSON.stringify(data.reason))
      : '';
    const err = new ApiError(resp.status, (data && data.error) || `HTTP ${resp.status}`, reason);
    // A failed login has no body or RabbitMQ's "not_authorized" (American spelling);
    // a refused operation is "not_authorised" and keeps the session.
    if (resp.status === 401 && (!data || data.error === 'not_authorized')) {
      window.dispatchEvent(new CustomEvent('warren:unauthorized', { detail: err }));
    }
    throw err;
  }
  return data;
}

export const get = (path) => call('GET', path);
