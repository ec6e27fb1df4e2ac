// Client-side routing with real URLs: every view has its own path under
// /ui/ (the server answers index.html for each), so deep links, the back
// button and reload keep the place. Links inside /ui/ are followed without
// a page load; filters and pages live in the query string.

import { clear, errorBox, h } from './dom.js';

const routes = [];
let renderCount = 0;

// pattern: '/ui/buckets/:bucket/versions/:version'
export function route(pattern, view) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:(\w+)/g, (_, n) => {
    names.push(n);
    return '([^/]+)';
  }) + '/?$');
  routes.push({ re, names, view });
}

export function go(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  render();
}

// The current URL with some query parameters changed (empty ones dropped).
export function withQuery(changes) {
  const u = new URL(location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') u.searchParams.delete(k);
    else u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

let guard = null; // (path) -> a node to show instead (signing in), or null
export function setGuard(fn) {
  guard = fn;
}

let afterRender = () => {};
export function setAfterRender(fn) {
  afterRender = fn;
}

// Renders the view of the current URL into <main>. A slower earlier render
// never overwrites a later one.
export async function render() {
  const n = ++renderCount;
  const main = document.getElementById('main');
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  let node;
  try {
    node = (guard && (await guard(path))) || (await viewFor(path, query));
  } catch (e) {
    node = h('div', {}, h('h1', { tabindex: '-1' }, 'Something went wrong'), errorBox(e));
  }
  if (n !== renderCount) return;
  clear(main).append(node);
  const h1 = main.querySelector('h1');
  document.title = h1 ? `${h1.textContent} · imagegate` : 'imagegate';
  afterRender(path);
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
}

async function viewFor(path, query) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = {};
    r.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
    return r.view(params, query);
  }
  return h('div', {}, h('h1', {}, 'Not found'),
    h('p', {}, 'The console has no page at ', h('code', {}, path), '. ',
      h('a', { href: '/ui/buckets' }, 'Go to the buckets'), '.'));
}

export function startRouter() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target || a.hasAttribute('download') || a.getAttribute('href').startsWith('#')) return;
    const u = new URL(a.href, location.href);
    if (u.origin !== location.origin || !u.pathname.startsWith('/ui/')) return;
    e.preventDefault();
    if (u.pathname + u.search !== location.pathname + location.search) go(u.pathname + u.search);
  });
  window.addEventListener('popstate', render);
}
