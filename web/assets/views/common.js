// Pieces several views share: pages, filter forms, links to versions.

import { get } from '../api.js';
import { h } from '../dom.js';
import { go, withQuery } from '../router.js';

// The API pages forward with a token: "Next page" carries it in the URL
// (?page=…), "First page" drops it; the back button goes back a page.
export function pager(pagination, query) {
  const next = pagination && pagination.next_page_token;
  const here = query.get('page');
  if (!next && !here) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    here ? h('a', { href: withQuery({ page: null }) }, '« First page') : null,
    next ? h('a', { href: withQuery({ page: next }), rel: 'next' }, 'Next page »') : null);
}

// A GET form whose fields become the URL's query (so a filtered view is a
// link, and back/reload keep it). fields: [{name, label, type, list,
// placeholder, options}]. Enter submits.
export function filterForm(fields, query, { submit = 'Filter' } = {}) {
  const inputs = fields.map((f) => {
    const id = `f-${f.name}`;
    const control = f.options
      ? h('select', { id, name: f.name }, f.options.map(([v, t]) => h('option', { value: v, selected: query.get(f.name) === v }, t)))
      : h('input', {
        id, name: f.name, type: f.type || 'text', value: query.get(f.name) || '',
        placeholder: f.placeholder || null, autocomplete: 'off', spellcheck: 'false',
      });
    return [f, h('span', { class: 'field' }, h('label', { for: id }, f.label), control)];
  });
  return h('form', {
    class: 'filters',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const changes = { page: null };
      for (const [f] of inputs) changes[f.name] = e.target.elements[f.name].value.trim();
      go(withQuery(changes));
    },
  }, inputs.map(([, node]) => node), h('button', { type: 'submit', class: 'secondary' }, submit));
}

export function versionHref(bucket, version) {
  return `/ui/buckets/${encodeURIComponent(bucket)}/versions/${encodeURIComponent(version)}`;
}

export function bucketHref(bucket) {
  return `/ui/buckets/${encodeURIComponent(bucket)}`;
}

// A version's display name: its number, or its fingerprint while it has
// none (v0: incomplete).
export function versionName(v) {
  return v.name && v.name !== 'v0' ? v.name : v.fingerprint;
}

// GET that answers null instead of failing when the server does not have
// the endpoint (an older imagegate: 404 "no such endpoint", 501).
export async function optional(path, query) {
  try {
    return await get(path, query);
  } catch (e) {
    if (e.status === 404 && /no such endpoint/.test(e.message)) return null;
    if (e.status === 501) return null;
    throw e;
  }
}

// Runs fn, shows its error next to the button that started it.
export async function act(button, out, fn) {
  button.disabled = true;
  out.className = 'muted';
  out.textContent = 'Working…';
  try {
    await fn();
    out.textContent = '';
  } catch (e) {
    out.className = 'error';
    out.setAttribute('role', 'alert');
    out.textContent = e.status ? `${e.status} (code ${e.code}): ${e.message}` : String(e.message || e);
  } finally {
    button.disabled = false;
  }
}
