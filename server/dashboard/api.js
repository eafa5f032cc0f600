// The one way the dashboard talks to the server: same-origin fetches carrying the session cookie,
// the CSRF token on every request that changes something, errors as ApiError, and a 401 anywhere
// sending the user back to the sign-in screen.

/** An answer with an error status: the server's `{"error":{"code","message"}}` when it sent one. */
class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// The CSRF token of the current session. Kept in memory only (never in storage, which other
// scripts of the origin could read); after a reload GET /v1/auth/session gives it again.
let csrfToken = null;
let onUnauthenticated = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

/** What to do when a call finds no usable session (expired, signed out elsewhere, an agent now). */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

async function failure(response) {
  let code = null;
  let message = null;
  try {
    const body = await response.json();
    code = body?.error?.code ?? null;
    message = body?.error?.message ?? null;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const retry = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
  return new ApiError(response.status, code, message, Number.isFinite(retry) ? retry : null);
}

/**
 * Calls the API. `body` is sent as JSON, `file` (a File) as CSV. Resolves to the parsed JSON (null for 204).
 * `quiet401` leaves a 401 to the caller instead of returning to the sign-in screen (the session
 * check at start-up and the sign-in itself).
 */
export async function call(method, path, {body, file, quiet401 = false} = {}) {
  const headers = {accept: 'application/json'};
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (file !== undefined) headers['content-type'] = 'text/csv';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: file !== undefined ? file : body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await failure(response);
    // 401: the session ended. `use_the_app`: the user has been made an agent since signing in.
    if ((response.status === 401 || error.code === 'use_the_app') && !quiet401) onUnauthenticated(error);
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, options) => call('GET', path, options);
export const post = (path, body, options) => call('POST', path, {...options, body});
export const patch = (path, body) => call('PATCH', path, {body});
export const put = (path, body) => call('PUT', path, {body});
/** Sends a CSV file as the request's body (an import). */
export const upload = (path, file) => call('POST', path, {file});
export const del = (path, options) => call('DELETE', path, options);

/** Every page of a listing that pages with `next`/`after` (records, alerts, duplicates). */
export async function all(path, key = 'records') {
  const out = [];
  let after = null;
  do {
    const url = new URL(path, location.origin);
    url.searchParams.set('limit', '500');
    if (after) url.searchParams.set('after', after);
    const page = await get(url.pathname + url.search);
    out.push(...page[key]);
    after = page.next;
  } while (after);
  return out;
}

/** A path segment, escaped. */
export const seg = encodeURIComponent;
