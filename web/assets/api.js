// The console's one door to the server: the same JSON API as every other
// client (docs/api.md), with the pasted API token as a bearer token.
//
// The token lives in sessionStorage (this tab only, gone when it closes),
// travels only in the Authorization header -- never in a URL, so never in a
// log or a Referer -- and "Sign out" forgets it. The API takes no cookies,
// so there is nothing another site could make the browser send.

const KEY = 'imagegate.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export const session = {
  who: null, // {name, role, organization_id, project_id, features}
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set(token) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    this.who = null;
  },
};

const RANK = { read: 1, write: 2, admin: 3 };

// Whether the signed-in token's role reaches role: what it may not do is
// not offered (the server refuses it anyway).
export function can(role) {
  return !!session.who && (RANK[session.who.role] || 0) >= RANK[role];
}

export function hasFeature(name) {
  return !!session.who && (session.who.features || []).includes(name);
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

// One call: method, path (absolute, e.g. /v1/audit), query (object; empty
// values left out), body (JSON). Resolves to the answer's JSON; rejects
// with ApiError (a 401 also signs out, unless signingIn).
export async function call(method, path, { query, body, signingIn = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  const headers = { Accept: 'application/json', Authorization: `Bearer ${session.token || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !signingIn) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path, query) => call('GET', path, { query });

// The Packer paths of this registry (its organization and project).
export function packer(rest) {
  const w = session.who || {};
  const org = encodeURIComponent(w.organization_id || '-');
  const project = encodeURIComponent(w.project_id || '-');
  return `/packer/2023-01-01/organizations/${org}/projects/${project}${rest}`;
}

export const seg = encodeURIComponent;

export function bucketPath(bucket) {
  return packer(`/buckets/${seg(bucket)}`);
}

export function versionPath(bucket, ref) {
  return packer(`/buckets/${seg(bucket)}/versions/${seg(ref)}`);
}

// Signs in: keeps the token, asks the server who it is. Rejects (and
// forgets the token) when the server refuses it.
export async function signIn(token) {
  session.set(token);
  try {
    session.who = await call('GET', '/v1/whoami', { signingIn: true });
  } catch (e) {
    session.clear();
    throw e;
  }
  return session.who;
}
